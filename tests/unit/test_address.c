/* Unit tests: address (path parsing, quoting, splitting, host name checks,
 * sanitizing), with an emphasis on hostile input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "address.h"
#include "mem.h"

/* A literal with its exact length (literals below may contain NUL). */
#define L(x) x, sizeof(x) - 1

struct path_case {
    const char *in;
    size_t len;
    unsigned flags;
    int rc;
    const char *addr; /* expected internal form on success */
    long consumed;    /* -1: whole input */
    bool null, route, has8;
};

static const struct path_case path_cases[] = {
    {L("<a@b.c>"), 0, 0, "a@b.c", -1, false, false, false},
    {L("<>"), 0, 0, "", -1, true, false, false},
    {L("<>"), ADDR_F_NO_EMPTY, -1, NULL, 0, false, false, false},
    {L("<@a,@b:user@c>"), 0, 0, "user@c", -1, false, true, false},
    {L("<@a.example:user@c>"), ADDR_F_STRICT, 0, "user@c", -1, false, true, false},
    {L("<@[1.2.3.4]:user@c>"), 0, 0, "user@c", -1, false, true, false},
    {L("<@a,:user@c>"), 0, -1, NULL, 0, false, false, false},
    {L("<@:user@c>"), 0, -1, NULL, 0, false, false, false},
    {L("<@a:>"), 0, -1, NULL, 0, false, false, false},
    {L("<@a,b:user@c>"), 0, -1, NULL, 0, false, false, false},
    {L("<\"a b\"@x>"), 0, 0, "a b@x", -1, false, false, false},
    {L("<\"a\\\"b\"@x>"), 0, 0, "a\"b@x", -1, false, false, false},
    {L("<\"a@b\"@x>"), 0, 0, "a@b@x", -1, false, false, false},
    {L("<\"a>b\"@x>"), 0, 0, "a>b@x", -1, false, false, false},
    {L("<a\\ b@x>"), 0, 0, "a b@x", -1, false, false, false},
    {L("<a@[1.2.3.4]>"), 0, 0, "a@[1.2.3.4]", -1, false, false, false},
    {L("<a@[IPv6:::1]>"), 0, 0, "a@[IPv6:::1]", -1, false, false, false},
    {L("<a@[IPv6:2001:db8::1]>"), 0, 0, "a@[IPv6:2001:db8::1]", -1, false, false, false},
    {L("<a@[1.2.3.999]>"), 0, -1, NULL, 0, false, false, false},
    {L("<a@[foo]>"), 0, -1, NULL, 0, false, false, false},
    {L("<a@[IPv6:1.2.3.4]>"), 0, -1, NULL, 0, false, false, false},
    {L("<a@[1.2.3.4>"), 0, -1, NULL, 0, false, false, false},
    {L("<postmaster>"), 0, 0, "postmaster", -1, false, false, false},
    {L("<\"a@b\">"), 0, -1, NULL, 0, false, false, false},
    {L("<\"@[IPv6:::1Pv\">"), ADDR_F_UTF8, -1, NULL, 0, false, false, false},
    {L("<Postmaster>"), ADDR_F_NO_EMPTY, 0, "Postmaster", -1, false, false, false},
    {L("<a@>"), 0, -1, NULL, 0, false, false, false},
    {L("<@>"), 0, -1, NULL, 0, false, false, false},
    {L("<@b.c>"), 0, -1, NULL, 0, false, false, false},
    {L("<\"\"@b.c>"), 0, -1, NULL, 0, false, false, false},
    /* CVE-2020-7247: shell metacharacters and an empty domain. */
    {L("<;sleep 66;>"), 0, -1, NULL, 0, false, false, false},
    {L("<;sleep@>"), 0, -1, NULL, 0, false, false, false},
    {L("<a@b"), 0, -1, NULL, 0, false, false, false},
    {L("<a@b>x"), 0, -1, NULL, 0, false, false, false},
    {L("<a@b><c@d>"), 0, -1, NULL, 0, false, false, false},
    {L("<a@b> SIZE=1"), 0, 0, "a@b", 5, false, false, false},
    {L("<a@b>\tSIZE=1"), 0, 0, "a@b", 5, false, false, false},
    {L("a@b.c"), 0, 0, "a@b.c", -1, false, false, false},
    {L("user@yahoo.com SIZE=1"), 0, 0, "user@yahoo.com", 14, false, false, false},
    {L("\"a b\"@c.d BODY=7BIT"), 0, 0, "a b@c.d", 9, false, false, false},
    {L("a@b.c"), ADDR_F_STRICT, -1, NULL, 0, false, false, false},
    {L("a@b>"), 0, -1, NULL, 0, false, false, false},
    {L("a<b@c"), 0, -1, NULL, 0, false, false, false},
    {L(""), 0, -1, NULL, 0, false, false, false},
    {L(" <a@b>"), 0, -1, NULL, 0, false, false, false},
    /* Control characters can never enter an address, quoted or not. */
    {L("<a\r@b>"), 0, -1, NULL, 0, false, false, false},
    {L("<a\n@b>"), 0, -1, NULL, 0, false, false, false},
    {L("<a\0@b>"), 0, -1, NULL, 0, false, false, false},
    {L("<\"a\r\nX-Evil: 1\"@b>"), 0, -1, NULL, 0, false, false, false},
    {L("<\"a\\\r\"@b>"), 0, -1, NULL, 0, false, false, false},
    {L("<\"a\\\0\"@b>"), 0, -1, NULL, 0, false, false, false},
    {L("<a\\\n@b>"), 0, -1, NULL, 0, false, false, false},
    {L("<a@b\x7f>"), 0, -1, NULL, 0, false, false, false},
    {L("<a@b\tc>"), 0, -1, NULL, 0, false, false, false},
    {L("a\x01@b"), 0, -1, NULL, 0, false, false, false},
    /* Unbalanced quotes and brackets. */
    {L("<\"unbalanced@b>"), 0, -1, NULL, 0, false, false, false},
    {L("\"unbalanced@b"), 0, -1, NULL, 0, false, false, false},
    {L("<a\\>"), 0, -1, NULL, 0, false, false, false},
    {L("<<a@b>>"), 0, -1, NULL, 0, false, false, false},
    {L("<a@b@c>"), 0, -1, NULL, 0, false, false, false},
    {L("<a(comment)@b>"), 0, -1, NULL, 0, false, false, false},
    {L("<a,b@c>"), 0, -1, NULL, 0, false, false, false},
    {L("<a b@c>"), 0, -1, NULL, 0, false, false, false},
    /* Lenient like Postfix: odd dots in the local part are accepted. */
    {L("<a..b@c>"), 0, 0, "a..b@c", -1, false, false, false},
    {L("<.a.@c>"), 0, 0, ".a.@c", -1, false, false, false},
    {L("<a@b..c>"), 0, -1, NULL, 0, false, false, false},
    {L("<a@.b>"), 0, -1, NULL, 0, false, false, false},
    {L("<a@b.>"), 0, -1, NULL, 0, false, false, false},
    {L("<a@b_c.d>"), 0, 0, "a@b_c.d", -1, false, false, false},
    {L("<a@b!c>"), 0, -1, NULL, 0, false, false, false},
    /* 8-bit. */
    {L("<j\xc3\xb6rg@example.de>"), 0, -1, NULL, 0, false, false, false},
    {L("<j\xc3\xb6rg@example.de>"), ADDR_F_UTF8, 0, "j\xc3\xb6rg@example.de", -1, false, false,
     true},
    {L("<a@b\xc3\xbc.de>"), ADDR_F_UTF8, 0, "a@b\xc3\xbc.de", -1, false, false, true},
    {L("<\xff@x>"), ADDR_F_UTF8, -1, NULL, 0, false, false, false},
    {L("<\xc0\xaf@x>"), ADDR_F_UTF8, -1, NULL, 0, false, false, false},
    {L("<\xed\xa0\x80@x>"), ADDR_F_UTF8, -1, NULL, 0, false, false, false},
    {L("<\xc3@x>"), ADDR_F_UTF8, -1, NULL, 0, false, false, false},
};

static void path_table(void **state)
{
    addr_path p = ADDR_PATH_INIT;
    strbuf err = STRBUF_INIT;
    for (size_t i = 0; i < sizeof(path_cases) / sizeof(path_cases[0]); i++) {
        const struct path_case *c = &path_cases[i];
        size_t used = 99;
        int rc = addr_parse_path(&p, c->in, c->len, &used, c->flags, NULL, &err);
        if (rc != c->rc)
            fail_msg("case %zu (%s): rc %d, want %d (%s)", i, c->in, rc, c->rc, strbuf_str(&err));
        if (rc == 0) {
            assert_string_equal(strbuf_str(&p.addr), c->addr);
            assert_int_equal(used, c->consumed < 0 ? c->len : (size_t)c->consumed);
            assert_int_equal(p.null, c->null);
            assert_int_equal(p.source_route, c->route);
            assert_int_equal(p.has_8bit, c->has8);
            assert_true(p.bracketed == (c->in[0] == '<'));
        } else {
            assert_int_equal(p.addr.len, 0);
            assert_true(err.len > 0);
        }
    }
    addr_path_release(&p);
    strbuf_release(&err);
}

static char *repeat(char ch, size_t n)
{
    char *s = xmalloc(n + 1);
    memset(s, ch, n);
    s[n] = '\0';
    return s;
}

static void path_limits(void **state)
{
    addr_path p = ADDR_PATH_INIT;
    strbuf in = STRBUF_INIT;
    size_t used;
    char *l64 = repeat('a', 64), *l65 = repeat('a', 65), *lab64 = repeat('b', 64);

    strbuf_printf(&in, "<%s@x.y>", l64);
    assert_int_equal(addr_parse_path(&p, in.s, in.len, &used, 0, &addr_limits_rfc, NULL), 0);
    strbuf_set(&in, "");
    strbuf_printf(&in, "<%s@x.y>", l65);
    assert_int_equal(addr_parse_path(&p, in.s, in.len, &used, 0, &addr_limits_rfc, NULL), -1);
    /* Lenient default: long SRS-style local parts pass. */
    assert_int_equal(addr_parse_path(&p, in.s, in.len, &used, 0, NULL, NULL), 0);
    strbuf_set(&in, "");
    strbuf_printf(&in, "<a@%s.y>", lab64);
    assert_int_equal(addr_parse_path(&p, in.s, in.len, &used, 0, NULL, NULL), -1);

    /* A domain of 5 x 63-byte labels is over 255 bytes. */
    strbuf_set(&in, "<a@");
    for (int i = 0; i < 5; i++)
        strbuf_printf(&in, "%.63s.", lab64);
    strbuf_puts(&in, "z>");
    assert_int_equal(addr_parse_path(&p, in.s, in.len, &used, 0, NULL, NULL), -1);

    /* 1 MB of local part: refused, linear time, no huge allocation. */
    char *big = repeat('a', 1 << 20);
    strbuf_set(&in, "<");
    strbuf_puts(&in, big);
    strbuf_puts(&in, "@b>");
    assert_int_equal(addr_parse_path(&p, in.s, in.len, &used, 0, NULL, NULL), -1);
    assert_true(p.addr.cap < 4096);
    /* Unbracketed, unterminated quote over 1 MB. */
    big[0] = '"';
    assert_int_equal(addr_parse_path(&p, big, 1 << 20, &used, 0, NULL, NULL), -1);
    /* 1 MB of '<'. */
    memset(big, '<', 1 << 20);
    assert_int_equal(addr_parse_path(&p, big, 1 << 20, &used, 0, NULL, NULL), -1);
    free(big);
    free(l64);
    free(l65);
    free(lab64);
    strbuf_release(&in);
    addr_path_release(&p);
}

static void quoting(void **state)
{
    static const struct {
        const char *internal, *external;
    } t[] = {
        {"a@b", "a@b"},
        {"a.b@x", "a.b@x"},
        {"a b@x", "\"a b\"@x"},
        {"a\"b@x", "\"a\\\"b\"@x"},
        {"a\\b@x", "\"a\\\\b\"@x"},
        {"a@b@x", "\"a@b\"@x"},
        {".a@x", "\".a\"@x"},
        {"a.@x", "\"a.\"@x"},
        {"a..b@x", "\"a..b\"@x"},
        {"", ""},
        {"postmaster", "postmaster"},
        {"a(b)", "\"a(b)\""},
        {"j\xc3\xb6rg@x", "j\xc3\xb6rg@x"},
    };
    strbuf out = STRBUF_INIT, back = STRBUF_INIT;
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        strbuf_set(&out, "");
        addr_externalize(&out, t[i].internal, strlen(t[i].internal));
        assert_string_equal(strbuf_str(&out), t[i].external);
        assert_int_equal(addr_internalize(&back, out.s, out.len, ADDR_F_UTF8, NULL, NULL), 0);
        assert_string_equal(strbuf_str(&back), t[i].internal);
    }
    assert_int_equal(addr_internalize(&back, L("\"a\nb\"@x"), 0, NULL, NULL), -1);
    assert_string_equal(strbuf_str(&back), "");
    strbuf_release(&out);
    strbuf_release(&back);
}

static void split_and_case(void **state)
{
    size_t at;
    assert_true(addr_split(L("a@b@c"), &at));
    assert_int_equal(at, 3);
    assert_false(addr_split(L("abc"), &at));

    strbuf a = STRBUF_INIT;
    strbuf_set(&a, "User@ExAmple.COM");
    addr_lowercase_domain(&a);
    assert_string_equal(a.s, "User@example.com");
    strbuf_set(&a, "A@B@X.Org");
    addr_lowercase_domain(&a);
    assert_string_equal(a.s, "A@B@x.org");
    strbuf_set(&a, "NoDomain");
    addr_lowercase_domain(&a);
    assert_string_equal(a.s, "NoDomain");
    strbuf_release(&a);
}

static void extensions(void **state)
{
    size_t base;
    assert_true(addr_split_extension(L("user+ext"), "+", &base));
    assert_int_equal(base, 4);
    assert_true(addr_split_extension(L("user+"), "+", &base));
    assert_int_equal(base, 4);
    assert_true(addr_split_extension(L("a-b+c"), "+-", &base));
    assert_int_equal(base, 1);
    assert_false(addr_split_extension(L("+ext"), "+", &base));
    assert_false(addr_split_extension(L("user"), "+", &base));
    assert_false(addr_split_extension(L("user+ext"), "", &base));
    assert_false(addr_split_extension(L("user+ext"), NULL, &base));
    assert_false(addr_split_extension(L("owner-list"), "-", &base));
    assert_false(addr_split_extension(L("list-request"), "-", &base));
    assert_true(addr_split_extension(L("owner+x"), "+", &base));
    assert_false(addr_split_extension(L("postmaster"), "t", &base));
    assert_false(addr_split_extension(L("MAILER-DAEMON"), "-", &base));
    /* A NUL byte is never a delimiter. */
    assert_false(addr_split_extension(L("ab\0cd"), "+", &base));
}

static void sanitize(void **state)
{
    strbuf out = STRBUF_INIT;
    addr_sanitize(&out, L("ab\r\ncd\0e\x7f"), 100, false);
    assert_string_equal(out.s, "ab??cd?e?");
    addr_sanitize(&out, L("h\xc3\xa9llo"), 100, false);
    assert_string_equal(out.s, "h??llo");
    addr_sanitize(&out, L("h\xc3\xa9llo"), 100, true);
    assert_string_equal(out.s, "h\xc3\xa9llo");
    addr_sanitize(&out, L("h\xc3llo"), 100, true);
    assert_string_equal(out.s, "h?llo");
    addr_sanitize(&out, L("abcdef"), 3, false);
    assert_string_equal(out.s, "abc");
    /* Never cut a UTF-8 sequence. */
    addr_sanitize(&out, L("ab\xc3\xa9"), 3, true);
    assert_string_equal(out.s, "ab");
    addr_sanitize(&out, L(""), 10, true);
    assert_string_equal(out.s, "");
    char *big = repeat('\n', 1 << 20);
    addr_sanitize(&out, big, 1 << 20, 255, true);
    assert_int_equal(out.len, 255);
    assert_null(memchr(out.s, '\n', out.len));
    free(big);
    strbuf_release(&out);
}

static void hostnames(void **state)
{
    static const char *good[] = {"mail.example.com", "a",          "a-b.c",      "x_y.example",
                                 "xn--bcher-kva.de", "1a.example", "example.c0m"};
    static const char *bad[] = {"",    "-a.com",    "a-.com",  "a..b",
                                "a.",  ".a",        "1.2.3.4", "a b",
                                "a/b", "[1.2.3.4]", "a.123",   "h\xc3\xa9.de"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        if (!addr_valid_hostname(good[i], strlen(good[i])))
            fail_msg("%s should be valid", good[i]);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (addr_valid_hostname(bad[i], strlen(bad[i])))
            fail_msg("%s should be invalid", bad[i]);
    assert_false(addr_valid_hostname(L("a\0b")));
    char *lab = repeat('a', 64);
    assert_false(addr_valid_hostname(lab, 64));
    assert_true(addr_valid_hostname(lab, 63));
    free(lab);
    strbuf longname = STRBUF_INIT;
    for (int i = 0; i < 64; i++)
        strbuf_puts(&longname, "abc.");
    strbuf_puts(&longname, "de"); /* 258 bytes */
    assert_false(addr_valid_hostname(longname.s, longname.len));
    strbuf_release(&longname);

    assert_true(addr_valid_literal(L("[1.2.3.4]")));
    assert_true(addr_valid_literal(L("[IPv6:2001:db8::1]")));
    assert_true(addr_valid_literal(L("[ipv6:::ffff:1.2.3.4]")));
    assert_false(addr_valid_literal(L("[1.2.3]")));
    assert_false(addr_valid_literal(L("[01.2.3.4]")));
    assert_false(addr_valid_literal(L("[]")));
    assert_false(addr_valid_literal(L("[IPv6:]")));
    assert_false(addr_valid_literal(L("1.2.3.4")));
    assert_false(addr_valid_literal(L("[1.2.3.4\0]")));
    assert_false(addr_valid_literal(L("[IPv6:1111:2222:3333:4444:5555:6666:7777:8888:9999:0000]")));

    assert_false(addr_helo_is_fqdn(L("foo")));
    assert_true(addr_helo_is_fqdn(L("foo.bar")));
    assert_true(addr_helo_is_fqdn(L("[1.2.3.4]")));
    assert_false(addr_helo_is_fqdn(L("[1.2.3.4")));
    assert_false(addr_helo_is_fqdn(L("1.2.3.4")));

    assert_true(addr_domain_is_fqdn(L("a@b.c")));
    assert_true(addr_domain_is_fqdn(L("a@b\xc3\xbc.de")));
    assert_false(addr_domain_is_fqdn(L("a@b")));
    assert_false(addr_domain_is_fqdn(L("a")));
    assert_false(addr_domain_is_fqdn(L("a@")));
    assert_true(addr_domain_is_fqdn(L("a@[1.2.3.4]")));
}

static void utf8(void **state)
{
    assert_true(addr_utf8_valid((const unsigned char *)L("plain")));
    assert_true(addr_utf8_valid((const unsigned char *)L("\xf0\x9f\x98\x80")));
    assert_false(addr_utf8_valid((const unsigned char *)L("\xf4\x90\x80\x80")));
    assert_false(addr_utf8_valid((const unsigned char *)L("\xe0\x80\x80")));
    assert_false(addr_utf8_valid((const unsigned char *)L("\xed\xbf\xbf")));
    assert_false(addr_utf8_valid((const unsigned char *)L("\xf0\x9f\x98")));
    assert_false(addr_utf8_valid((const unsigned char *)L("\x80")));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(path_table),     cmocka_unit_test(path_limits), cmocka_unit_test(quoting),
        cmocka_unit_test(split_and_case), cmocka_unit_test(extensions),  cmocka_unit_test(sanitize),
        cmocka_unit_test(hostnames),      cmocka_unit_test(utf8),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
