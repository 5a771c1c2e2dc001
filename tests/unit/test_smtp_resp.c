/* Unit tests: SMTP reply parsing for the client (smtp/smtp_resp). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "smtp_resp.h"

static int feed_all(smtp_resp *r, const char *const *lines, strbuf *err)
{
    int ret = SMTP_RESP_BAD;
    smtp_resp_reset(r);
    for (size_t i = 0; lines[i]; i++) {
        ret = smtp_resp_feed(r, lines[i], strlen(lines[i]), err);
        if (ret != SMTP_RESP_MORE)
            return ret;
    }
    return ret;
}

static void single_line(void **state)
{
    (void)state;
    smtp_resp r = SMTP_RESP_INIT;
    strbuf err = STRBUF_INIT;
    const char *l[] = {"250 2.0.0 Ok: queued as ABC", NULL};
    assert_int_equal(feed_all(&r, l, &err), SMTP_RESP_DONE);
    assert_int_equal(r.code, 250);
    assert_string_equal(r.dsn, "2.0.0");
    assert_string_equal(r.text.s, "250 2.0.0 Ok: queued as ABC");
    assert_int_equal(smtp_resp_class(&r), 2);
    const char *bare[] = {"354", NULL};
    assert_int_equal(feed_all(&r, bare, &err), SMTP_RESP_DONE);
    assert_int_equal(r.code, 354);
    assert_string_equal(r.dsn, "3.0.0");
    smtp_resp_release(&r);
    strbuf_release(&err);
}

static void multi_line_and_dsn(void **state)
{
    (void)state;
    smtp_resp r = SMTP_RESP_INIT;
    strbuf err = STRBUF_INIT;
    const char *l[] = {"550-5.1.1 The email account", "550 5.1.1 does not exist", NULL};
    assert_int_equal(feed_all(&r, l, &err), SMTP_RESP_DONE);
    assert_string_equal(r.dsn, "5.1.1");
    assert_string_equal(r.text.s, "550-5.1.1 The email account 550 5.1.1 does not exist");
    assert_int_equal(r.lines.n, 2);
    assert_string_equal(r.lines.v[1], "5.1.1 does not exist");
    /* A DSN whose class disagrees with the code is ignored. */
    const char *bad[] = {"450 5.1.1 mixed up", NULL};
    assert_int_equal(feed_all(&r, bad, &err), SMTP_RESP_DONE);
    assert_string_equal(r.dsn, "4.0.0");
    const char *none[] = {"421 closing", NULL};
    assert_int_equal(feed_all(&r, none, &err), SMTP_RESP_DONE);
    assert_string_equal(r.dsn, "4.0.0");
    const char *longdsn[] = {"550 5.7.1234 too long a detail", NULL};
    assert_int_equal(feed_all(&r, longdsn, &err), SMTP_RESP_DONE);
    assert_string_equal(r.dsn, "5.0.0");
    smtp_resp_release(&r);
    strbuf_release(&err);
}

static void malformed(void **state)
{
    (void)state;
    smtp_resp r = SMTP_RESP_INIT;
    strbuf err = STRBUF_INIT;
    const char *a[] = {"hello", NULL};
    assert_int_equal(feed_all(&r, a, &err), SMTP_RESP_BAD);
    const char *b[] = {"25", NULL};
    assert_int_equal(feed_all(&r, b, &err), SMTP_RESP_BAD);
    const char *c[] = {"250x ok", NULL};
    assert_int_equal(feed_all(&r, c, &err), SMTP_RESP_BAD);
    const char *d[] = {"250-first", "550 changed", NULL};
    assert_int_equal(feed_all(&r, d, &err), SMTP_RESP_BAD);
    const char *e[] = {"650 no such class", NULL};
    assert_int_equal(feed_all(&r, e, &err), SMTP_RESP_BAD);
    /* Too many continuation lines. */
    smtp_resp_reset(&r);
    int ret = SMTP_RESP_MORE;
    for (int i = 0; i < SMTP_RESP_MAX_LINES + 5 && ret == SMTP_RESP_MORE; i++)
        ret = smtp_resp_feed(&r, "250-x", 5, &err);
    assert_int_equal(ret, SMTP_RESP_BAD);
    smtp_resp_release(&r);
    strbuf_release(&err);
}

static void sanitised_and_bounded(void **state)
{
    (void)state;
    smtp_resp r = SMTP_RESP_INIT;
    strbuf err = STRBUF_INIT;
    const char line[] = "550 bad\0nul\r\x1b[31m\xff";
    assert_int_equal(smtp_resp_feed(&r, line, sizeof(line) - 1, &err), SMTP_RESP_DONE);
    assert_string_equal(r.text.s, "550 bad?nul??[31m?");
    smtp_resp_reset(&r);
    char big[3000];
    memset(big, 'a', sizeof(big));
    memcpy(big, "250-", 4);
    for (int i = 0; i < 10; i++)
        assert_int_equal(smtp_resp_feed(&r, big, sizeof(big), &err), SMTP_RESP_MORE);
    assert_true(r.text.len <= SMTP_RESP_MAX_TEXT + 1);
    smtp_resp_release(&r);
    strbuf_release(&err);
}

static void ehlo_keywords(void **state)
{
    (void)state;
    smtp_resp r = SMTP_RESP_INIT;
    strbuf err = STRBUF_INIT;
    const char *l[] = {"250-peer.test",
                       "250-PIPELINING",
                       "250-SIZE 10240000",
                       "250-STARTTLS",
                       "250-8bitmime",
                       "250-DSN",
                       "250-SMTPUTF8",
                       "250-SIZEX",
                       "250 ENHANCEDSTATUSCODES",
                       NULL};
    assert_int_equal(feed_all(&r, l, &err), SMTP_RESP_DONE);
    unsigned long long size = 1;
    unsigned f = smtp_ehlo_features(&r, &size);
    assert_int_equal(f, SMTP_EXT_PIPELINING | SMTP_EXT_SIZE | SMTP_EXT_STARTTLS |
                            SMTP_EXT_8BITMIME | SMTP_EXT_DSN | SMTP_EXT_SMTPUTF8 |
                            SMTP_EXT_ENHANCEDSTATUSCODES);
    assert_int_equal(size, 10240000);
    /* The greeting line is not a keyword; an absurd SIZE means none. */
    const char *m[] = {"250-PIPELINING", "250 SIZE 99999999999999999999999", NULL};
    assert_int_equal(feed_all(&r, m, &err), SMTP_RESP_DONE);
    f = smtp_ehlo_features(&r, &size);
    assert_int_equal(f, SMTP_EXT_SIZE);
    assert_int_equal(size, 0);
    smtp_resp_release(&r);
    strbuf_release(&err);
}

static void read_from_stream(void **state)
{
    (void)state;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    const char in[] = "220-hello\r\n220 there\r\n250 ok\n550 toolongtoolong\r\n";
    assert_int_equal(write(sv[1], in, sizeof(in) - 1), (ssize_t)sizeof(in) - 1);
    close(sv[1]);
    stream *st = stream_open(sv[0]);
    stream_set_timeout(st, 2000);
    smtp_resp r = SMTP_RESP_INIT;
    strbuf err = STRBUF_INIT;
    assert_int_equal(smtp_resp_read(st, &r, 100, &err), 0);
    assert_string_equal(r.text.s, "220-hello 220 there");
    assert_int_equal(smtp_resp_read(st, &r, 100, &err), 0);
    assert_string_equal(r.text.s, "250 ok");
    assert_int_equal(smtp_resp_read(st, &r, 8, &err), 0); /* truncated, rest skipped */
    assert_string_equal(r.text.s, "550 tool");
    assert_int_equal(smtp_resp_read(st, &r, 100, &err), STREAM_EOF);
    stream_close(&st);
    smtp_resp_release(&r);
    strbuf_release(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(single_line),   cmocka_unit_test(multi_line_and_dsn),
        cmocka_unit_test(malformed),     cmocka_unit_test(sanitised_and_bounded),
        cmocka_unit_test(ehlo_keywords), cmocka_unit_test(read_from_stream),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
