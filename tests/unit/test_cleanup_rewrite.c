/* Unit tests: cleanup_rewrite (canonical lookup order, extensions,
 * masquerading, virtual alias expansion with hostile table values). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cleanup_rewrite.h"
#include "mem.h"
#include "strbuf.h"

static maps *tbl(const char *spec)
{
    strbuf err = STRBUF_INIT;
    maps *m = maps_open("test_maps", spec, 0, &err);
    if (!m)
        fail_msg("open %s: %s", spec, strbuf_str(&err));
    strbuf_release(&err);
    return m;
}

static void setup_rc(struct rewrite_config *rc)
{
    memset(rc, 0, sizeof(*rc));
    rc->delims = xstrdup("+");
    rc->prop_canonical = rc->prop_virtual = true;
    rc->myorigin = xstrdup("example.com");
    rc->expansion_limit = 1000;
    rc->recursion_limit = 1000;
    rc->canonical_classes = rc->sender_canonical_classes = rc->recipient_canonical_classes =
        RW_ENV_SENDER | RW_ENV_RCPT | RW_HDR_SENDER | RW_HDR_RCPT;
    rc->masq_classes = RW_ENV_SENDER | RW_HDR_SENDER | RW_HDR_RCPT;
}

static const char *canon(struct rewrite_config *rc, unsigned cls, const char *in)
{
    static strbuf out = STRBUF_INIT;
    strbuf err = STRBUF_INIT;
    strbuf_set(&out, in);
    assert_int_equal(rewrite_canonical(rc, cls, &out, &err), 0);
    strbuf_release(&err);
    return strbuf_str(&out);
}

static void canonical_lookup_order(void **state)
{
    struct rewrite_config rc;
    setup_rc(&rc);
    rc.canonical = tbl("inline:{ joe@example.com=Joe.Doe@example.com, "
                       "bob=robert@example.com, @old.example=@new.example, "
                       "ann+x@example.com=annx@example.com, ann@example.com=anne@example.com }");
    assert_string_equal(canon(&rc, RW_ENV_SENDER, "joe@example.com"), "Joe.Doe@example.com");
    assert_string_equal(canon(&rc, RW_ENV_SENDER, "JOE@example.com"), "Joe.Doe@example.com");
    /* "user" form: only for $myorigin/local domains. */
    assert_string_equal(canon(&rc, RW_ENV_SENDER, "bob@example.com"), "robert@example.com");
    assert_string_equal(canon(&rc, RW_ENV_SENDER, "bob@elsewhere.test"), "bob@elsewhere.test");
    /* @domain → @other keeps the user (and its extension). */
    assert_string_equal(canon(&rc, RW_ENV_RCPT, "x+y@old.example"), "x+y@new.example");
    /* Extension: exact first, then stripped with the extension propagated. */
    assert_string_equal(canon(&rc, RW_ENV_RCPT, "ann+x@example.com"), "annx@example.com");
    assert_string_equal(canon(&rc, RW_ENV_RCPT, "ann+y@example.com"), "anne+y@example.com");
    rc.prop_canonical = false;
    assert_string_equal(canon(&rc, RW_ENV_RCPT, "ann+y@example.com"), "anne@example.com");
    /* Classes: canonical_classes without envelope_recipient leaves it. */
    rc.canonical_classes = RW_ENV_SENDER;
    assert_string_equal(canon(&rc, RW_ENV_RCPT, "joe@example.com"), "joe@example.com");
    /* The null sender is never rewritten. */
    assert_string_equal(canon(&rc, RW_ENV_SENDER, ""), "");
    rewrite_config_release(&rc);
}

static void sender_before_generic(void **state)
{
    struct rewrite_config rc;
    setup_rc(&rc);
    rc.sender_canonical = tbl("inline:{ a@example.com=b@example.com }");
    rc.recipient_canonical = tbl("inline:{ a@example.com=r@example.com }");
    rc.canonical = tbl("inline:{ b@example.com=c@example.com }");
    assert_string_equal(canon(&rc, RW_ENV_SENDER, "a@example.com"), "c@example.com");
    assert_string_equal(canon(&rc, RW_ENV_RCPT, "a@example.com"), "r@example.com");
    rewrite_config_release(&rc);
}

static void hostile_canonical_values(void **state)
{
    struct rewrite_config rc;
    setup_rc(&rc);
    char *big = xmalloc(10000);
    memset(big, 'a', 9990);
    snprintf(big + 9990, 10000 - 9990, "@x.test");
    char spec[10100];
    snprintf(spec, sizeof(spec),
             "inline:{ long@example.com=%s, {empty@example.com=}, "
             "utf@example.com=j\xc3\xb6rg@example.com }",
             big);
    rc.canonical = tbl(spec);
    /* Too long a result and an empty one leave the address alone. */
    assert_string_equal(canon(&rc, RW_ENV_RCPT, "long@example.com"), "long@example.com");
    assert_string_equal(canon(&rc, RW_ENV_RCPT, "empty@example.com"), "empty@example.com");
    assert_string_equal(canon(&rc, RW_ENV_RCPT, "utf@example.com"), "j\xc3\xb6rg@example.com");
    free(big);
    rewrite_config_release(&rc);
}

static void masquerading(void **state)
{
    struct rewrite_config rc;
    setup_rc(&rc);
    const char *e = NULL;
    assert_int_equal(strlist_split(&rc.masq_domains, "!sub.example.com, example.com", ", ", &e), 0);
    /* masquerade_exceptions is a match list: names and tables. */
    char table[] = "/tmp/test_masq_exc.XXXXXX";
    int fd = mkstemp(table);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "postmaster x\n", 13), 13);
    close(fd);
    strbuf spec = STRBUF_INIT, err = STRBUF_INIT;
    strbuf_printf(&spec, "root, texthash:%s, !nobody", table);
    rc.masq_exceptions = match_list_compile("masquerade_exceptions", spec.s, 0, &err);
    assert_non_null(rc.masq_exceptions);
    strbuf a = STRBUF_INIT;
#define MASQ(cls, in, want)                                                                        \
    do {                                                                                           \
        strbuf_set(&a, in);                                                                        \
        rewrite_masquerade(&rc, cls, &a);                                                          \
        assert_string_equal(strbuf_str(&a), want);                                                 \
    } while (0)
    MASQ(RW_ENV_SENDER, "u@host.example.com", "u@example.com");
    MASQ(RW_ENV_SENDER, "u@a.b.EXAMPLE.com", "u@EXAMPLE.com");
    MASQ(RW_ENV_SENDER, "u@example.com", "u@example.com");
    MASQ(RW_ENV_SENDER, "u@sub.example.com", "u@sub.example.com");
    MASQ(RW_ENV_SENDER, "u@h.sub.example.com", "u@h.sub.example.com");
    MASQ(RW_ENV_SENDER, "u@notexample.com", "u@notexample.com");
    MASQ(RW_ENV_SENDER, "ROOT@host.example.com", "ROOT@host.example.com");
    MASQ(RW_ENV_SENDER, "postmaster@host.example.com", "postmaster@host.example.com");
    MASQ(RW_ENV_SENDER, "nobody@host.example.com", "nobody@example.com");
    unlink(table);
    strbuf_release(&spec);
    strbuf_release(&err);
    /* envelope_recipient is not in the default classes. */
    MASQ(RW_ENV_RCPT, "u@host.example.com", "u@host.example.com");
    MASQ(RW_ENV_SENDER, "nodomain", "nodomain");
    strbuf_release(&a);
    rewrite_config_release(&rc);
}

static enum rewrite_virtual_status virt(struct rewrite_config *rc, const char *in, strlist *out)
{
    strbuf err = STRBUF_INIT;
    strlist_release(out);
    enum rewrite_virtual_status st = rewrite_virtual(rc, in, out, &err);
    strbuf_release(&err);
    return st;
}

static void virtual_expansion(void **state)
{
    struct rewrite_config rc;
    setup_rc(&rc);
    rc.virtual_alias = tbl("inline:{ {list@v.test = a@l.test, b@l.test, c@v.test}, "
                           "c@v.test=d@l.test, {self@v.test = self@v.test, copy@l.test}, "
                           "loop1@v.test=loop2@v.test, loop2@v.test=loop1@v.test, "
                           "@catch.test=@l.test, {blank@v.test = ,, , } }");
    strlist out = STRLIST_INIT;
    assert_int_equal(virt(&rc, "list@v.test", &out), RW_VIRT_OK);
    assert_int_equal(out.n, 3);
    assert_string_equal(out.v[0], "a@l.test");
    assert_string_equal(out.v[1], "b@l.test");
    assert_string_equal(out.v[2], "d@l.test");
    /* Not in the table: itself. */
    assert_int_equal(virt(&rc, "x@nowhere.test", &out), RW_VIRT_OK);
    assert_int_equal(out.n, 1);
    assert_string_equal(out.v[0], "x@nowhere.test");
    /* A result that maps to itself is final. */
    assert_int_equal(virt(&rc, "self@v.test", &out), RW_VIRT_OK);
    assert_int_equal(out.n, 2);
    assert_true(strlist_contains(&out, "self@v.test"));
    assert_true(strlist_contains(&out, "copy@l.test"));
    /* A loop ends (each address is looked up once). */
    assert_int_equal(virt(&rc, "loop1@v.test", &out), RW_VIRT_OK);
    assert_int_equal(out.n, 1);
    assert_string_equal(out.v[0], "loop1@v.test");
    assert_int_equal(virt(&rc, "u+ext@catch.test", &out), RW_VIRT_OK);
    assert_string_equal(out.v[0], "u+ext@l.test");
    /* Only separators: the address stays. */
    assert_int_equal(virt(&rc, "blank@v.test", &out), RW_VIRT_OK);
    assert_int_equal(out.n, 1);
    assert_string_equal(out.v[0], "blank@v.test");
    /* Limits. */
    rc.recursion_limit = 1;
    assert_int_equal(virt(&rc, "list@v.test", &out), RW_VIRT_RECURSION);
    rc.recursion_limit = 1000;
    rc.expansion_limit = 2;
    assert_int_equal(virt(&rc, "list@v.test", &out), RW_VIRT_EXPANSION);
    strlist_release(&out);
    rewrite_config_release(&rc);
}

static void virtual_fanout_and_depth(void **state)
{
    struct rewrite_config rc;
    setup_rc(&rc);
    /* A chain 100 deep and a 2000-address fan-out. */
    strbuf spec = STRBUF_INIT;
    strbuf_puts(&spec, "inline:{ ");
    for (int i = 0; i < 100; i++)
        strbuf_printf(&spec, "c%d@v.test=c%d@v.test, ", i, i + 1);
    strbuf_puts(&spec, "{fan@v.test = ");
    for (int i = 0; i < 2000; i++)
        strbuf_printf(&spec, "%su%d@l.test", i ? "," : "", i);
    strbuf_puts(&spec, "} }");
    rc.virtual_alias = tbl(strbuf_str(&spec));
    strbuf_release(&spec);
    strlist out = STRLIST_INIT;
    assert_int_equal(virt(&rc, "c0@v.test", &out), RW_VIRT_OK);
    assert_string_equal(out.v[0], "c100@v.test");
    rc.recursion_limit = 50;
    assert_int_equal(virt(&rc, "c0@v.test", &out), RW_VIRT_RECURSION);
    assert_int_equal(virt(&rc, "fan@v.test", &out), RW_VIRT_EXPANSION);
    rc.expansion_limit = 5000;
    assert_int_equal(virt(&rc, "fan@v.test", &out), RW_VIRT_OK);
    assert_int_equal(out.n, 2000);
    strlist_release(&out);
    rewrite_config_release(&rc);
}

static void virtual_tempfail(void **state)
{
    struct rewrite_config rc;
    setup_rc(&rc);
    rc.virtual_alias = tbl("fail:broken");
    strlist out = STRLIST_INIT;
    assert_int_equal(virt(&rc, "a@v.test", &out), RW_VIRT_TEMPFAIL);
    strlist_release(&out);
    rewrite_config_release(&rc);
}

static const char *hdr(struct rewrite_config *rc, unsigned cls, const char *v)
{
    static strbuf out = STRBUF_INIT;
    strbuf err = STRBUF_INIT;
    int r = rewrite_header_value(rc, cls, v, strlen(v), &out, &err);
    assert_true(r >= 0);
    strbuf_release(&err);
    if (r == 0)
        strbuf_set(&out, v);
    return strbuf_str(&out);
}

static void header_addresses(void **state)
{
    struct rewrite_config rc;
    setup_rc(&rc);
    rc.canonical = tbl("inline:{ joe@example.com=Joe.Doe@example.com, "
                       "j\xc3\xb6rg@example.com=c@example.com }");
    /* Display name, comment and layout kept; only the address changes. */
    assert_string_equal(
        hdr(&rc, RW_HDR_SENDER, "\"joe@example.com\" <joe@example.com> (joe@example.com)"),
        "\"joe@example.com\" <Joe.Doe@example.com> (joe@example.com)");
    assert_string_equal(
        hdr(&rc, RW_HDR_RCPT, "x@y.test,\n\tjoe@example.com, joe@example.community"),
        "x@y.test,\n\tJoe.Doe@example.com, joe@example.community");
    assert_string_equal(hdr(&rc, RW_HDR_RCPT, "list: joe@example.com;"),
                        "list: Joe.Doe@example.com;");
    assert_string_equal(hdr(&rc, RW_HDR_RCPT, "J <j\xc3\xb6rg@example.com>"), "J <c@example.com>");
    /* Bare names are not given a domain by canonical rewriting alone. */
    assert_string_equal(hdr(&rc, RW_HDR_RCPT, "bob"), "bob");
    /* Unparsable and hostile values stay as they are. */
    assert_string_equal(hdr(&rc, RW_HDR_RCPT, "<joe@example.com"), "<joe@example.com");
    assert_string_equal(hdr(&rc, RW_HDR_RCPT, "\"unterminated joe@example.com"),
                        "\"unterminated joe@example.com");
    assert_string_equal(hdr(&rc, RW_HDR_RCPT, "(((((joe@example.com"), "(((((joe@example.com");
    assert_string_equal(hdr(&rc, RW_HDR_RCPT, ""), "");
    /* Masquerading applies to header classes. */
    const char *e = NULL;
    assert_int_equal(strlist_split(&rc.masq_domains, "example.org", ", ", &e), 0);
    assert_string_equal(hdr(&rc, RW_HDR_SENDER, "U <u@h.example.org>"), "U <u@example.org>");
    rewrite_config_release(&rc);
}

static void parse_lists(void **state)
{
    unsigned f = 0;
    strbuf bad = STRBUF_INIT;
    assert_int_equal(input_transp_parse("no_address_mappings, no_milters", &f, &bad), 0);
    assert_int_equal(f, RW_OVR_NO_ADDRESS_MAPPINGS | RW_OVR_NO_MILTERS);
    assert_int_equal(input_transp_parse("", &f, &bad), 0);
    assert_int_equal(f, 0);
    assert_int_equal(input_transp_parse("no_unknown_recipient_checks no_bogus", &f, &bad), -1);
    assert_string_equal(strbuf_str(&bad), "no_bogus");
    assert_int_equal(rewrite_parse_classes("envelope_sender,header_recipient", &f, &bad), 0);
    assert_int_equal(f, RW_ENV_SENDER | RW_HDR_RCPT);
    assert_int_equal(rewrite_parse_classes("envelope_senders", &f, &bad), -1);
    strbuf_release(&bad);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(canonical_lookup_order),   cmocka_unit_test(sender_before_generic),
        cmocka_unit_test(hostile_canonical_values), cmocka_unit_test(masquerading),
        cmocka_unit_test(virtual_expansion),        cmocka_unit_test(virtual_fanout_and_depth),
        cmocka_unit_test(virtual_tempfail),         cmocka_unit_test(parse_lists),
        cmocka_unit_test(header_addresses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
