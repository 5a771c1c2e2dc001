/* Unit tests: mail_date (Postfix's RFC 5322 date format, space-padded day). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "mail_date.h"
#include "strbuf.h"

static void formats(void **state)
{
    (void)state;
    setenv("TZ", "UTC", 1);
    tzset();
    strbuf out = STRBUF_INIT;
    strbuf_puts(&out, "Date: ");
    mail_date_append(&out, 0);
    assert_string_equal(strbuf_str(&out), "Date: Thu,  1 Jan 1970 00:00:00 +0000 (UTC)");
    strbuf_reset(&out);
    mail_date_append(&out, 1795903390); /* 2026-11-28 */
    assert_string_equal(strbuf_str(&out), "Sat, 28 Nov 2026 22:03:10 +0000 (UTC)");
    /* A zone west of UTC, with its name. */
    setenv("TZ", "EST5", 1);
    tzset();
    strbuf_reset(&out);
    mail_date_append(&out, 0);
    assert_string_equal(strbuf_str(&out), "Wed, 31 Dec 1969 19:00:00 -0500 (EST)");
    /* Half-hour offsets. */
    setenv("TZ", "IST-5:30", 1);
    tzset();
    strbuf_reset(&out);
    mail_date_append(&out, 0);
    assert_string_equal(strbuf_str(&out), "Thu,  1 Jan 1970 05:30:00 +0530 (IST)");
    strbuf_release(&out);
}

static void mail_date_format(void **state)
{
    setenv("TZ", "UTC", 1);
    tzset();
    strbuf sb = STRBUF_INIT;
    mail_date_append(&sb, 1583402400); /* 2020-03-05 10:00:00 UTC */
    assert_string_equal(sb.s, "Thu,  5 Mar 2020 10:00:00 +0000 (UTC)");
    strbuf_reset(&sb);
    setenv("TZ", "Asia/Yerevan", 1);
    tzset();
    mail_date_append(&sb, 1583402400);
    assert_string_equal(sb.s, "Thu,  5 Mar 2020 14:00:00 +0400 (+04)");
    strbuf_release(&sb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(formats),
        cmocka_unit_test(mail_date_format),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
