/* test_config_mail_log - one call sets a program's logging from main.cf. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "mail_log.h"
#include "msg.h"

static void load(const char *text)
{
    strbuf err = STRBUF_INIT;
    if (config_load_text("main.cf", text, strlen(text), &err) < 0)
        fail_msg("%s", strbuf_str(&err));
    strbuf_release(&err);
}

static void setup_follows_main_cf(void **state)
{
    (void)state;
    char dir[] = "/tmp/test_mail_log.XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256], text[512];
    snprintf(path, sizeof(path), "%s/maillog", dir);
    snprintf(text, sizeof(text), "maillog_file = %s\nsyslog_name = postfix-test\n", path);
    load(text);
    assert_int_equal(mail_log_setup(MAIL_LOG_SILENT), 0);
    msg_info("hello from the test");
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    char line[512] = "";
    assert_non_null(fgets(line, sizeof(line), fp));
    fclose(fp);
    /* syslog_name comes from main.cf, not the program. */
    assert_non_null(strstr(line, "postfix-test/"));
    assert_non_null(strstr(line, "hello from the test"));
    /* An unopenable file: -1, errno kept, logging back on syslog. */
    snprintf(text, sizeof(text), "maillog_file = %s/no/such/dir/maillog\n", dir);
    load(text);
    errno = 0;
    assert_int_equal(mail_log_setup(MAIL_LOG_SILENT), -1);
    assert_int_equal(errno, ENOENT);
    load("maillog_file =\n");
    assert_int_equal(mail_log_setup(MAIL_LOG_WARN), 0);
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    msg_init("test_config_mail_log", false);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(setup_follows_main_cf),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
