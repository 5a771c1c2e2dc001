/* Unit tests: delivery log line format (pinned byte for byte). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "delivery_log.h"

static void check_time(double v, const char *expect)
{
    strbuf sb = STRBUF_INIT;
    delivery_log_format_time(&sb, v);
    assert_string_equal(sb.s, expect);
    strbuf_release(&sb);
}

static void time_rounding(void **state)
{
    check_time(0, "0");
    check_time(-3, "0");
    check_time(0.0004, "0");
    check_time(0.006, "0.01");
    check_time(0.05, "0.05");
    check_time(0.5, "0.5");
    check_time(0.123, "0.12");
    check_time(1.23, "1.2");
    check_time(1.0, "1");
    check_time(9.4, "9.4");
    check_time(12.4, "12");
    check_time(4000.6, "4001");
}

static void full_line(void **state)
{
    struct delivery_record rec = {
        .queue_id = "4F5A21C0A2D",
        .recipient = "tester@lt01.am",
        .orig_recipient = "root@lt01.am",
        .relay = "local",
        .times = {100.0, 100.02, 100.03, 100.03, 100.05},
        .dsn = "2.0.0",
        .status = "sent",
        .text = "delivered to maildir",
    };
    strbuf sb = STRBUF_INIT;
    delivery_log_format(&sb, &rec);
    assert_string_equal(sb.s, "4F5A21C0A2D: to=<tester@lt01.am>, orig_to=<root@lt01.am>, "
                              "relay=local, delay=0.05, delays=0.02/0.01/0/0.02, dsn=2.0.0, "
                              "status=sent (delivered to maildir)");
    strbuf_reset(&sb);
    rec.orig_recipient = "tester@lt01.am";
    rec.conn_use = 2;
    rec.relay = "mx.lt02.am[10.0.0.2]:25";
    delivery_log_format(&sb, &rec);
    assert_non_null(strstr(sb.s, "to=<tester@lt01.am>, relay=mx.lt02.am[10.0.0.2]:25, "
                                 "conn_use=2, delay="));
    strbuf_release(&sb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(time_rounding),
        cmocka_unit_test(full_line),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
