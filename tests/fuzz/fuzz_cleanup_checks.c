/* Fuzz header/body checks with the sender's text: any bytes (NUL, CR,
 * 8-bit, huge folded headers) as a header and as a body line against a
 * regexp table with every local action and $n substitution. No crash, no
 * leak; a REJECT reply is "550 5.7.1 " plus the table's text only; a
 * message action stores only a value that passes cleanup_action_value_ok
 * (the sender's text reaches REDIRECT/FILTER/BCC through $1). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "config.h"

static void setup_once(void)
{
    static int done;
    if (done)
        return;
    done = 1;
    char path[] = "/tmp/fuzz_cleanup_checks.XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        abort();
    static const char rules[] = "if /^Subject:/\n"
                                "/reject/ REJECT no\n"
                                "/(a|b)*c(.*)/ REPLACE Subject: $2\n"
                                "endif\n"
                                "/^X-I:/ IGNORE\n"
                                "/^X-P:(.*)/ PREPEND X-Q:$1\n"
                                "/^X-W/ WARN w\n"
                                "/^X-H/ HOLD h\n"
                                "/^X-D/ DISCARD\n"
                                "/^X-R:(.*)/ REDIRECT $1\n"
                                "/^X-F:(.*)/ FILTER $1\n"
                                "/^X-B:(.*)/ BCC $1\n"
                                "!/x/ DUNNO\n";
    if (write(fd, rules, sizeof(rules) - 1) != (ssize_t)(sizeof(rules) - 1))
        abort();
    close(fd);
    char main_cf[256];
    snprintf(main_cf, sizeof(main_cf), "header_checks = regexp:%s\nbody_checks = regexp:%s\n", path,
             path);
    strbuf err = STRBUF_INIT;
    if (config_load_text("/etc/postfix/main.cf", main_cf, strlen(main_cf), &err) < 0)
        abort();
    strbuf_release(&err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    setup_once();
    struct cleanup_state s;
    memset(&s, 0, sizeof(s));
    strbuf_set(&s.queue_id, "FUZZ");
    for (int cls = CHECK_HEADER; cls < CHECK_CLASSES; cls++) {
        s.error = CLEANUP_OK;
        (void)cleanup_check(&s, (enum cleanup_check_class)cls, (const char *)data, size, &s.prepend,
                            &s.replace);
        if (s.error == CLEANUP_CONTENT && strcmp(strbuf_str(&s.reject_reply), "550 5.7.1 no") != 0)
            abort();
    }
    if (s.act_redirect.len &&
        !cleanup_action_value_ok(CLEANUP_ACT_REDIRECT, strbuf_str(&s.act_redirect)))
        abort();
    if (s.act_filter.len && !cleanup_action_value_ok(CLEANUP_ACT_FILTER, strbuf_str(&s.act_filter)))
        abort();
    for (size_t i = 0; i < s.act_bcc.n; i++)
        if (!cleanup_action_value_ok(CLEANUP_ACT_BCC, s.act_bcc.v[i]))
            abort();
    strbuf_release(&s.act_redirect);
    strbuf_release(&s.act_filter);
    strlist_release(&s.act_bcc);
    strbuf_release(&s.queue_id);
    strbuf_release(&s.prepend);
    strbuf_release(&s.replace);
    strbuf_release(&s.reject_reply);
    return 0;
}
