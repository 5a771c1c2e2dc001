/* Unit tests: RFC 3464 notices from lib/global/dsn. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dsn.h"

static void failure_notice_structure(void **state)
{
    setenv("TZ", "UTC", 1);
    struct dsn_recipient rc[] = {
        {"nobody@lt01.am", "rfc822;nobody@lt01.am", "failed", "5.1.1", "x-unix",
         "unknown user: \"nobody\"", NULL, NULL},
        {"x@remote.am", NULL, "failed", "5.7.1", "smtp", "550 5.7.1 denied", "mx.remote.am", NULL},
    };
    struct dsn_report r = {
        .kind = DSN_FAILURE,
        .queue_id = "ABC123",
        .sender = "tester@lt01.am",
        .recipient = "tester@lt01.am",
        .myhostname = "lt01.am",
        .arrival = 1583402400,
        .now = 1583402460,
        .rcpts = rc,
        .nrcpt = 2,
    };
    struct dsn_writer w;
    strbuf out = STRBUF_INIT;
    dsn_begin(&w, &r, &out);
    dsn_original_line(&w, &out, "Subject: hi", 11);
    dsn_original_line(&w, &out, "--ABC123.1583402460/lt01.am--", 29);
    dsn_end(&w, &out);
    const char *s = out.s;
    assert_non_null(strstr(s, "From: MAILER-DAEMON@lt01.am (Mail Delivery System)\n"));
    assert_non_null(strstr(s, "Subject: Undelivered Mail Returned to Sender\n"));
    assert_non_null(
        strstr(s, "report-type=delivery-status;\n\tboundary=\"ABC123.1583402460/lt01.am\""));
    assert_non_null(strstr(s, "Reporting-MTA: dns; lt01.am\n"));
    assert_non_null(strstr(s, "Arrival-Date: Thu,  5 Mar 2020 10:00:00 +0000 (UTC)\n"));
    assert_non_null(strstr(s, "\nFinal-Recipient: rfc822; nobody@lt01.am\n"
                              "Original-Recipient: rfc822;nobody@lt01.am\n"
                              "Action: failed\nStatus: 5.1.1\n"));
    assert_non_null(strstr(s, "Remote-MTA: dns; mx.remote.am\n"
                              "Diagnostic-Code: smtp; 550 5.7.1 denied\n"));
    assert_non_null(strstr(s, "Content-Type: text/rfc822-headers\n\nSubject: hi\n"));
    /* The forged boundary line is defused; only our own closes the report. */
    assert_non_null(strstr(s, "\n --ABC123.1583402460/lt01.am--\n"));
    const char *end = strstr(s, "\n\n--ABC123.1583402460/lt01.am--\n");
    assert_non_null(end);
    assert_int_equal(strlen(end), strlen("\n\n--ABC123.1583402460/lt01.am--\n"));
    strbuf_release(&out);
}

static void hostile_envelope_values_are_sanitised(void **state)
{
    struct dsn_recipient rc[] = {
        {"evil\r\nBcc: victim@x", NULL, "failed", "5.0.0", NULL, "bad\nline", NULL, NULL},
    };
    struct dsn_report r = {
        .kind = DSN_DELAY,
        .queue_id = "Q",
        .sender = "s\x01@x",
        .recipient = "a\r\nX-Injected: 1",
        .myhostname = "h",
        .arrival = 0,
        .now = 0,
        .retry_until = 86400,
        .rcpts = rc,
        .nrcpt = 1,
    };
    struct dsn_writer w;
    strbuf out = STRBUF_INIT;
    dsn_begin(&w, &r, &out);
    dsn_end(&w, &out);
    assert_null(strstr(out.s, "\nBcc:"));
    assert_null(strstr(out.s, "\nX-Injected"));
    assert_null(strstr(out.s, "\x01"));
    assert_non_null(strstr(out.s, "Subject: Delayed Mail (still being retried)\n"));
    assert_non_null(strstr(out.s, "Will-Retry-Until: "));
    for (size_t i = 0; i < out.len; i++)
        assert_true((unsigned char)out.s[i] < 0x80);
    strbuf_release(&out);
}

static void verify_report(void **state)
{
    (void)state;
    setenv("TZ", "UTC", 1);
    struct dsn_recipient rc[] = {
        {.address = "alice@lt01.am",
         .action = "deliverable",
         .status = "2.0.0",
         .diagnostic = "delivers to maildir",
         .expanded_from = "team@lt01.am"},
        {.address = "nobody@lt01.am",
         .action = "undeliverable",
         .status = "5.1.1",
         .diagnostic = "unknown user: \"nobody\""},
    };
    struct dsn_report r = {.kind = DSN_VERIFY,
                           .queue_id = "Q1",
                           .sender = "t@lt01.am",
                           .recipient = "t@lt01.am",
                           .myhostname = "lt01.am",
                           .mail_name = "Postfix",
                           .now = 1583402460,
                           .rcpts = rc,
                           .nrcpt = 2};
    strbuf out = STRBUF_INIT;
    struct dsn_writer w;
    dsn_begin(&w, &r, &out);
    dsn_end(&w, &out);
    const char *s = out.s;
    assert_non_null(strstr(s, "Subject: Mail Delivery Status Report\n"));
    assert_non_null(strstr(s, "Enclosed is the mail delivery report that you requested.\n"));
    assert_non_null(
        strstr(s, "<alice@lt01.am> (expanded from <team@lt01.am>): delivers to maildir\n"));
    assert_non_null(strstr(s, "Action: deliverable\nStatus: 2.0.0\n"));
    assert_non_null(strstr(s, "Action: undeliverable\nStatus: 5.1.1\n"));
    assert_non_null(strstr(s, "Content-Description: Message Headers\n"));
    assert_null(strstr(s, "Will-Retry-Until"));
    strbuf_release(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(failure_notice_structure),
        cmocka_unit_test(hostile_envelope_values_are_sanitised),
        cmocka_unit_test(verify_report),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
