/* Unit tests: header (collection/classification). addr_list and mail_date
 * have their own files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "header.h"
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(header_groups_continuations),
        cmocka_unit_test(header_non_header_line_starts_body),
        cmocka_unit_test(header_size_limit_truncates),
        cmocka_unit_test(header_name_rules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
