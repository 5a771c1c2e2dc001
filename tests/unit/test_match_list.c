/* Unit tests: match lists (domain lists and client/network lists). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "match_list.h"
#include "msg.h"

static char tmpdir[] = "/tmp/test_match_list.XXXXXX";

static match_list *compile_ok(const char *text, unsigned flags)
{
    strbuf err = STRBUF_INIT;
    match_list *ml = match_list_compile("test_param", text, flags, &err);
    if (!ml)
        fail_msg("compile \"%s\": %s", text, strbuf_str(&err));
    strbuf_release(&err);
    return ml;
}

static void compile_fails(const char *param, const char *text, const char *want)
{
    strbuf err = STRBUF_INIT;
    match_list *ml = match_list_compile(param, text, 0, &err);
    if (ml)
        fail_msg("compile \"%s\" unexpectedly succeeded", text);
    if (strncmp(err.s, param, strlen(param)) != 0 || !strstr(err.s, want))
        fail_msg("compile \"%s\": error \"%s\" lacks \"%s\"", text, err.s, want);
    strbuf_release(&err);
}

static int dom(match_list *ml, const char *d)
{
    strbuf err = STRBUF_INIT;
    int r = match_list_domain(ml, d, &err);
    strbuf_release(&err);
    return r;
}

static int client(match_list *ml, const char *name, const char *addr)
{
    strbuf err = STRBUF_INIT;
    int r = match_list_client(ml, name, addr, &err);
    strbuf_release(&err);
    return r;
}

static void domains_exact_and_dot(void **state)
{
    match_list *ml = compile_ok("Example.COM, .sub.example.org localhost", 0);
    assert_int_equal(dom(ml, "example.com"), 1);
    assert_int_equal(dom(ml, "EXAMPLE.com"), 1);
    assert_int_equal(dom(ml, "mail.example.com"), 0); /* no parent matching */
    assert_int_equal(dom(ml, "a.sub.example.org"), 1);
    assert_int_equal(dom(ml, "x.a.sub.example.org"), 1);
    assert_int_equal(dom(ml, "sub.example.org"), 0);
    assert_int_equal(dom(ml, "xsub.example.org"), 0);
    assert_int_equal(dom(ml, "localhost"), 1);
    assert_int_equal(dom(ml, "notexample.com"), 0);
    match_list_free(&ml);
    assert_null(ml);
}

static void domains_parent_matching(void **state)
{
    match_list *ml = compile_ok("example.com", MATCH_LIST_PARENT);
    assert_int_equal(dom(ml, "example.com"), 1);
    assert_int_equal(dom(ml, "mail.example.com"), 1);
    assert_int_equal(dom(ml, "a.b.example.com"), 1);
    assert_int_equal(dom(ml, "notexample.com"), 0);
    assert_int_equal(dom(ml, "com"), 0);
    match_list_free(&ml);
}

static void domains_negation(void **state)
{
    match_list *ml = compile_ok("!secret.example.com, .example.com, !example.com", 0);
    assert_int_equal(dom(ml, "secret.example.com"), 0);
    assert_int_equal(dom(ml, "public.example.com"), 1);
    assert_int_equal(dom(ml, "example.com"), 0);
    match_list_free(&ml);
    /* Order matters: the first match decides. */
    ml = compile_ok(".example.com, !secret.example.com", 0);
    assert_int_equal(dom(ml, "secret.example.com"), 1);
    match_list_free(&ml);
}

static void domains_tables(void **state)
{
    /* Fixed tables are asked for parents: ".example.com" without the parent
     * flag, "example.com" with it. */
    match_list *ml = compile_ok("inline:{ .example.com=ok, exact.org=ok }", 0);
    assert_int_equal(dom(ml, "exact.org"), 1);
    assert_int_equal(dom(ml, "EXACT.org"), 1);
    assert_int_equal(dom(ml, "a.exact.org"), 0);
    assert_int_equal(dom(ml, "mail.example.com"), 1);
    assert_int_equal(dom(ml, "example.com"), 0);
    match_list_free(&ml);
    ml = compile_ok("inline:{ exact.org=ok }", MATCH_LIST_PARENT);
    assert_int_equal(dom(ml, "a.b.exact.org"), 1);
    assert_int_equal(dom(ml, "xexact.org"), 0);
    match_list_free(&ml);
    ml = compile_ok("!inline:{ bad.example.com=1 } .example.com", 0);
    assert_int_equal(dom(ml, "bad.example.com"), 0);
    assert_int_equal(dom(ml, "good.example.com"), 1);
    match_list_free(&ml);
    /* Temporary failure propagates. */
    ml = compile_ok("fail:down, example.com", 0);
    assert_int_equal(dom(ml, "example.com"), -1);
    match_list_free(&ml);
}

static char *write_text(const char *name, const char *text)
{
    char *path = NULL;
    assert_true(asprintf(&path, "%s/%s", tmpdir, name) > 0);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    assert_int_equal(fclose(fp), 0);
    return path;
}

static void domains_from_file(void **state)
{
    char *inner = write_text("inner", "deep.example\n");
    char *text = NULL;
    assert_true(
        asprintf(&text, "# domains\none.example, two.example\n  three.example\n%s\n", inner) > 0);
    char *file = write_text("domains", text);
    match_list *ml = compile_ok(file, 0);
    assert_int_equal(dom(ml, "one.example"), 1);
    assert_int_equal(dom(ml, "two.example"), 1);
    assert_int_equal(dom(ml, "three.example"), 1);
    assert_int_equal(dom(ml, "deep.example"), 1);
    assert_int_equal(dom(ml, "four.example"), 0);
    match_list_free(&ml);
    /* "!/file": every item of the file negated, as in Postfix. */
    char *list = NULL;
    assert_true(asprintf(&list, "!%s, .example", file) > 0);
    ml = compile_ok(list, 0);
    assert_int_equal(dom(ml, "one.example"), 0);
    assert_int_equal(dom(ml, "five.example"), 1);
    match_list_free(&ml);
    /* A file that includes itself stops at the depth limit. */
    char *loop = NULL;
    assert_true(asprintf(&loop, "%s/loop", tmpdir) > 0);
    free(write_text("loop", loop));
    compile_fails("relay_domains", loop, "nested too deeply");
    compile_fails("relay_domains", "/nonexistent/file", "/nonexistent/file");
    free(loop);
    free(list);
    free(file);
    free(text);
    free(inner);
}

static void compile_errors(void **state)
{
    compile_fails("mynetworks", "127.0.0.0/8, 10.0.0.0/33", "\"10.0.0.0/33\"");
    compile_fails("mynetworks", "10.1.1.1/24", "non-zero host bits");
    compile_fails("mynetworks", "[::1/128", "bad address");
    compile_fails("mynetworks", "[zz::1]/128", "bad address");
    compile_fails("mydestination", "hash:/nonexistent/x", "hash:/nonexistent/x");
    compile_fails("mydestination", "ldap:foo", "unsupported table type");
    compile_fails("mydestination", "a, {b", "missing '}'");
    compile_fails("mydestination", "!", "empty pattern");
    strbuf err = STRBUF_INIT;
    match_list *ml =
        match_list_compile("mydestination", "hash:/nonexistent/x", MATCH_LIST_SURROGATE, &err);
    assert_non_null(ml);
    assert_int_equal(dom(ml, "x"), -1);
    match_list_free(&ml);
    strbuf_release(&err);
}

static void networks_ipv4_ipv6(void **state)
{
    /* Debian's default mynetworks. */
    match_list *ml = compile_ok("127.0.0.0/8 [::ffff:127.0.0.0]/104 [::1]/128", 0);
    assert_int_equal(client(ml, NULL, "127.0.0.1"), 1);
    assert_int_equal(client(ml, NULL, "127.255.0.9"), 1);
    assert_int_equal(client(ml, NULL, "128.0.0.1"), 0);
    assert_int_equal(client(ml, NULL, "::1"), 1);
    assert_int_equal(client(ml, NULL, "::2"), 0);
    assert_int_equal(client(ml, NULL, "::ffff:127.0.0.1"), 1);
    assert_int_equal(client(ml, NULL, "::ffff:10.0.0.1"), 0);
    assert_int_equal(client(ml, "unknown", "garbage"), 0);
    match_list_free(&ml);

    /* IPv4-mapped clients match IPv4 networks, IPv4 clients mapped ones. */
    ml = compile_ok("192.168.0.0/16", 0);
    assert_int_equal(client(ml, NULL, "::ffff:192.168.1.2"), 1);
    assert_int_equal(client(ml, NULL, "[::ffff:192.168.1.2]"), 1);
    assert_int_equal(client(ml, NULL, "::ffff:192.169.1.2"), 0);
    match_list_free(&ml);
    ml = compile_ok("[::ffff:10.0.0.0]/104", 0);
    assert_int_equal(client(ml, NULL, "10.1.2.3"), 1);
    assert_int_equal(client(ml, NULL, "11.1.2.3"), 0);
    match_list_free(&ml);

    ml = compile_ok("[2001:db8::]/32, 10.0.0.5, 0.0.0.0/0", 0);
    assert_int_equal(client(ml, NULL, "2001:DB8:ffff::1"), 1);
    assert_int_equal(client(ml, NULL, "2001:db9::1"), 0);
    assert_int_equal(client(ml, NULL, "10.0.0.5"), 1);
    assert_int_equal(client(ml, NULL, "1.2.3.4"), 1);
    match_list_free(&ml);
}

static void networks_negation_and_names(void **state)
{
    match_list *ml =
        compile_ok("!10.0.0.7, 10.0.0.0/24, .trusted.example, !bad.example, example", 0);
    assert_int_equal(client(ml, "host.example", "10.0.0.7"), 0);
    assert_int_equal(client(ml, "unknown", "10.0.0.8"), 1);
    assert_int_equal(client(ml, "Mail.Trusted.Example", "192.0.2.1"), 1);
    assert_int_equal(client(ml, "bad.example", "192.0.2.1"), 0);
    assert_int_equal(client(ml, "example", "192.0.2.1"), 1);
    assert_int_equal(client(ml, NULL, "192.0.2.1"), 0);
    match_list_free(&ml);
    /* Tables are asked for the name (with parents) and the address. */
    ml = compile_ok("inline:{ 192.0.2.9=ok, .clients.example=ok }", 0);
    assert_int_equal(client(ml, "x.clients.example", "192.0.2.1"), 1);
    assert_int_equal(client(ml, "unknown", "192.0.2.9"), 1);
    assert_int_equal(client(ml, "unknown", "192.0.2.10"), 0);
    match_list_free(&ml);
}

static void networks_cidr_table(void **state)
{
    char *tbl = write_text("nets.cidr", "10.0.0.0/8 ok\n[::1]/128 ok\n");
    char *spec = NULL;
    assert_true(asprintf(&spec, "cidr:%s", tbl) > 0);
    match_list *ml = compile_ok(spec, 0);
    assert_int_equal(client(ml, "unknown", "10.9.9.9"), 1);
    assert_int_equal(client(ml, "unknown", "::1"), 1);
    assert_int_equal(client(ml, "unknown", "11.0.0.1"), 0);
    match_list_free(&ml);
    free(spec);
    free(tbl);
}

static int setup(void **state)
{
    msg_init("test_match_list", true);
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    char *cmd = NULL;
    if (asprintf(&cmd, "rm -rf '%s'", tmpdir) < 0)
        return -1;
    int r = system(cmd);
    free(cmd);
    return r == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(domains_exact_and_dot), cmocka_unit_test(domains_parent_matching),
        cmocka_unit_test(domains_negation),      cmocka_unit_test(domains_tables),
        cmocka_unit_test(domains_from_file),     cmocka_unit_test(compile_errors),
        cmocka_unit_test(networks_ipv4_ipv6),    cmocka_unit_test(networks_negation_and_names),
        cmocka_unit_test(networks_cidr_table),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
