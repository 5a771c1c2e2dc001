/* Unit tests: addr_list (RFC 5322 address lists; hostile lists). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "addr_list.h"
#include "strbuf.h"
#include "strlist.h"

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


static void addr_list_more_hostile(void **state)
{
    (void)state;
    /* Deeply nested comments, unbalanced either way. */
    strbuf deep = STRBUF_INIT;
    strbuf_puts(&deep, "a@b, ");
    for (int i = 0; i < 100000; i++)
        strbuf_putc(&deep, '(');
    parse_list(strbuf_str(&deep), -1, (const char *[]){"a@b", NULL});
    for (int i = 0; i < 100000; i++)
        strbuf_putc(&deep, ')');
    strbuf_puts(&deep, ", c@d");
    parse_list(strbuf_str(&deep), 0, (const char *[]){"a@b", "c@d", NULL});
    strbuf_release(&deep);
    /* A quoted-pair at the very end, a lone backslash, stray closers. */
    parse_list("\"a\\", -1, (const char *[]){NULL});
    /* A stray ')' is a word byte (nothing lost). */
    parse_list("a@b)", 0, (const char *[]){"a@b)", NULL});
    parse_list("a@b>", -1, (const char *[]){NULL}); /* a '>' without '<' */
    /* Only separators and empty groups: nothing, no error. */
    parse_list(",,,;;: ;", 0, (const char *[]){NULL});
    parse_list("", 0, (const char *[]){NULL});
    /* 8-bit bytes are address bytes. */
    parse_list("j\xc3\xb6rg@ex.org", 0, (const char *[]){"j\xc3\xb6rg@ex.org", NULL});
    /* max_addresses 0: any address is too many. */
    strlist out = STRLIST_INIT;
    strbuf err = STRBUF_INIT;
    assert_int_equal(addr_list_parse("a@b", 3, &out, 0, &err), -1);
    assert_int_equal(out.n, 0);
    assert_true(err.len > 0);
    strlist_release(&out);
    strbuf_release(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(addr_list_forms),
        cmocka_unit_test(addr_list_hostile),
        cmocka_unit_test(addr_list_more_hostile),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
