/* Unit tests: header (collection/classification), addr_list, mail_date. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "addr_list.h"
#include "header.h"
#include "mail_date.h"
#include "strlist.h"

struct collected {
    strlist headers;
    enum header_id ids[64];
    bool truncated[64];
};

static void collect(void *ctx, const char *hdr, size_t len, enum header_id id, bool truncated)
{
    struct collected *c = ctx;
    if (c->headers.n < 64) {
        c->ids[c->headers.n] = id;
        c->truncated[c->headers.n] = truncated;
    }
    strlist_pushn(&c->headers, hdr, len);
}

static enum header_feed_result feed(struct header_collector *hc, const char *line)
{
    return header_collector_feed(hc, line, strlen(line));
}

static void header_groups_continuations(void **state)
{
    struct collected c = {0};
    struct header_collector hc;
    header_collector_init(&hc, 1000, collect, &c);
    assert_int_equal(feed(&hc, "Subject: hello"), HEADER_CONSUMED);
    assert_int_equal(feed(&hc, "\tworld"), HEADER_CONSUMED);
    assert_int_equal(feed(&hc, "message-id: <a@b>"), HEADER_CONSUMED);
    assert_int_equal(feed(&hc, ""), HEADER_END_BLANK);
    assert_int_equal(feed(&hc, "From: body text"), HEADER_NOT_HEADERS);
    header_collector_finish(&hc);
    assert_int_equal(c.headers.n, 2);
    assert_string_equal(c.headers.v[0], "Subject: hello\n\tworld");
    assert_int_equal(c.ids[0], HDR_SUBJECT);
    assert_int_equal(c.ids[1], HDR_MESSAGE_ID);
    header_collector_release(&hc);
    strlist_release(&c.headers);
}

static void header_non_header_line_starts_body(void **state)
{
    struct collected c = {0};
    struct header_collector hc;
    header_collector_init(&hc, 1000, collect, &c);
    assert_int_equal(feed(&hc, "To: a@b"), HEADER_CONSUMED);
    assert_int_equal(feed(&hc, "this is not a header"), HEADER_END_BODY);
    assert_int_equal(c.headers.n, 1);
    header_collector_release(&hc);
    strlist_release(&c.headers);

    struct collected d = {0};
    header_collector_init(&hc, 1000, collect, &d);
    /* A leading continuation line cannot continue anything. */
    assert_int_equal(feed(&hc, " indented first line"), HEADER_END_BODY);
    assert_int_equal(d.headers.n, 0);
    header_collector_release(&hc);
}

static void header_size_limit_truncates(void **state)
{
    struct collected c = {0};
    struct header_collector hc;
    header_collector_init(&hc, 100, collect, &c);
    feed(&hc, "X-Long: start");
    char line[1000];
    memset(line, 'a', sizeof(line) - 1);
    line[0] = ' ';
    line[sizeof(line) - 1] = '\0';
    for (int i = 0; i < 1000; i++)
        assert_int_equal(feed(&hc, line), HEADER_CONSUMED);
    header_collector_finish(&hc);
    assert_int_equal(c.headers.n, 1);
    assert_int_equal(strlen(c.headers.v[0]), 100);
    assert_true(c.truncated[0]);
    assert_true(hc.current.cap <= 256);
    header_collector_release(&hc);
    strlist_release(&c.headers);
}

static void header_name_rules(void **state)
{
    assert_int_equal(header_name_length("X-A: b", 6), 3);
    assert_int_equal(header_name_length("Name : v", 8), 4);
    assert_int_equal(header_name_length(": v", 3), 0);
    assert_int_equal(header_name_length("no colon", 8), 0);
    assert_int_equal(header_name_length("a\0b: c", 6), 0);
    assert_int_equal(header_name_length("\xc3\xa9: v", 5), 0);
    assert_int_equal(header_classify("DATE", 4), HDR_DATE);
    assert_int_equal(header_classify("Dates", 5), HDR_OTHER);
    size_t vlen;
    const char *v = header_value("To:   x@y", 9, &vlen);
    assert_int_equal(vlen, 3);
    assert_memory_equal(v, "x@y", 3);
}

static void parse_list(const char *value, int expect_ret, const char **expect)
{
    strlist out = STRLIST_INIT;
    strbuf err = STRBUF_INIT;
    int ret = addr_list_parse(value, strlen(value), &out, 100, &err);
    assert_int_equal(ret, expect_ret);
    size_t n = 0;
    while (expect[n])
        n++;
    if (out.n != n) {
        for (size_t i = 0; i < out.n; i++)
            fprintf(stderr, "got [%s]\n", out.v[i]);
    }
    assert_int_equal(out.n, n);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(out.v[i], expect[i]);
    strlist_release(&out);
    strbuf_release(&err);
}

static void addr_list_forms(void **state)
{
    parse_list("a@b", 0, (const char *[]){"a@b", NULL});
    parse_list("John Doe <jd@ex.org>, x@y (comment (nested))", 0,
               (const char *[]){"jd@ex.org", "x@y", NULL});
    parse_list("\"Doe, John\" <jd@ex.org>", 0, (const char *[]){"jd@ex.org", NULL});
    parse_list("\"odd user\"@ex.org", 0, (const char *[]){"\"odd user\"@ex.org", NULL});
    parse_list("team: a@b, c@d;, e@f", 0, (const char *[]){"a@b", "c@d", "e@f", NULL});
    parse_list("<@relay1,@relay2:user@host>", 0, (const char *[]){"user@host", NULL});
    parse_list("user@[1.2.3.4]", 0, (const char *[]){"user@[1.2.3.4]", NULL});
    parse_list("localuser", 0, (const char *[]){"localuser", NULL});
    parse_list("<>, , ,a@b", 0, (const char *[]){"a@b", NULL});
    parse_list("a@b,\n\tc@d", 0, (const char *[]){"a@b", "c@d", NULL});
    parse_list("un\r\nsafe\x01@b", 0, (const char *[]){"unsafe@b", NULL});
}

static void addr_list_hostile(void **state)
{
    parse_list("\"unterminated@b", -1, (const char *[]){NULL});
    parse_list("a@b, (unterminated", -1, (const char *[]){"a@b", NULL});
    parse_list("<a@b", -1, (const char *[]){NULL});
    parse_list("<a<b>>", -1, (const char *[]){NULL});
    parse_list("x@[1.2", -1, (const char *[]){NULL});

    /* Too many addresses is an error, and the list stays bounded. */
    strbuf many = STRBUF_INIT;
    for (int i = 0; i < 500; i++)
        strbuf_printf(&many, "u%d@x,", i);
    strlist out = STRLIST_INIT;
    strbuf err = STRBUF_INIT;
    assert_int_equal(addr_list_parse(many.s, many.len, &out, 100, &err), -1);
    assert_int_equal(out.n, 100);
    strlist_release(&out);
    strbuf_release(&err);
    strbuf_release(&many);

    /* NUL bytes inside the value are dropped like other control chars. */
    strlist out2 = STRLIST_INIT;
    strbuf err2 = STRBUF_INIT;
    assert_int_equal(addr_list_parse("a\0b@c", 5, &out2, 10, &err2), 0);
    assert_string_equal(out2.v[0], "ab@c");
    strlist_release(&out2);
    strbuf_release(&err2);
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
        cmocka_unit_test(header_groups_continuations),
        cmocka_unit_test(header_non_header_line_starts_body),
        cmocka_unit_test(header_size_limit_truncates),
        cmocka_unit_test(header_name_rules),
        cmocka_unit_test(addr_list_forms),
        cmocka_unit_test(addr_list_hostile),
        cmocka_unit_test(mail_date_format),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
