/* Unit tests: lookup tables (maps) and the source-file reader; building
 * hash/btree tables is test_map_build.c. */
#include <pwd.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "map_source.h"
#include "maps.h"
#include "mem.h"
#include "msg.h"

#include "map_test_files.h"

/* Open must fail; returns the error text (caller frees). */
static char *open_err(const char *spec)
{
    strbuf err = STRBUF_INIT;
    map *m = map_open(spec, 0, &err);
    if (m)
        fail_msg("open %s unexpectedly succeeded", spec);
    assert_true(err.len > 0);
    return strbuf_detach(&err);
}

static char *open_err_type(const char *type, const char *path)
{
    strbuf spec = STRBUF_INIT;
    strbuf_printf(&spec, "%s:%s", type, path);
    char *e = open_err(spec.s);
    strbuf_release(&spec);
    return e;
}

/* Open must succeed with warnings (Postfix skips bad rules): returns the
 * open map and puts what was written to stderr meanwhile in *warnings. */
static map *open_warned(const char *type, const char *path, strbuf *warnings)
{
    char tmpl[] = "/tmp/test_maps_stderr.XXXXXX";
    int fd = mkstemp(tmpl);
    assert_true(fd >= 0);
    unlink(tmpl);
    fflush(stderr);
    int saved = dup(2);
    dup2(fd, 2);
    strbuf spec = STRBUF_INIT, err = STRBUF_INIT;
    strbuf_printf(&spec, "%s:%s", type, path);
    map *m = map_open(spec.s, 0, &err);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    if (!m)
        fail_msg("open %s failed: %s", spec.s, err.s);
    char buf[4096];
    ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
    close(fd);
    strbuf_reset(warnings);
    strbuf_append(warnings, buf, n > 0 ? (size_t)n : 0);
    strbuf_release(&spec);
    strbuf_release(&err);
    return m;
}

/* A table with one bad line: it opens, the warning names the file and the
 * line, and `query` answers `want` (NULL: not found). */
struct bad_line_case {
    const char *text;
    const char *warning;
    const char *query;
    const char *want;
};

static void check_bad_lines(const char *type, const struct bad_line_case *cases, size_t n)
{
    strbuf warnings = STRBUF_INIT;
    for (size_t i = 0; i < n; i++) {
        char *src = write_text("badrules", cases[i].text);
        map *m = open_warned(type, src, &warnings);
        if (!strstr(warnings.s, cases[i].warning) || !strstr(warnings.s, src))
            fail_msg("%s case %zu: warnings \"%s\" lack \"%s\"", type, i, warnings.s,
                     cases[i].warning);
        expect(m, cases[i].query, cases[i].want);
        map_free(&m);
        free(src);
    }
    strbuf_release(&warnings);
}

static void texthash_lookup(void **state)
{
    char *src = write_text("text", source_text);
    map *m = open_ok("texthash", src);
    expect(m, "foo", "bar");
    expect(m, "Foo", "bar");
    expect(m, "baz", "qux quux    continued here");
    expect(m, "dup", "first");
    expect(m, "novalue", NULL);
    map_free(&m);
    /* Without folding, keys keep their case. */
    strbuf spec = STRBUF_INIT, err = STRBUF_INIT;
    strbuf_printf(&spec, "texthash:%s", src);
    m = map_open(spec.s, MAP_NOFOLD, &err);
    assert_non_null(m);
    expect(m, "Foo", "bar");
    expect(m, "foo", NULL);
    map_free(&m);
    strbuf_release(&spec);
    strbuf_release(&err);
    free(src);
}

static void inline_and_static(void **state)
{
    strbuf err = STRBUF_INIT;
    map *m = map_open("inline:{ key1=value1, { key2 = value with spaces }, K3=v3 }", 0, &err);
    assert_non_null(m);
    expect(m, "key1", "value1");
    expect(m, "key2", "value with spaces");
    expect(m, "k3", "v3");
    expect(m, "key4", NULL);
    map_free(&m);
    m = map_open("static:relay.example.com", 0, &err);
    assert_non_null(m);
    expect(m, "anything", "relay.example.com");
    map_free(&m);
    m = map_open("static:{ value with spaces }", 0, &err);
    assert_non_null(m);
    expect(m, "x", "value with spaces");
    map_free(&m);
    free(open_err("inline:{ novalue }"));
    free(open_err("inline:key=value"));
    free(open_err("inline:{ a=b"));
    free(open_err("static:{ unterminated"));
    strbuf_release(&err);
}

static void cidr_lookup(void **state)
{
    char *src = write_text("cidr", "# networks\n"
                                   "10.0.0.1        exact\n"
                                   "10.0.0.0/8      ten\n"
                                   "192.168.0.0/16  private costs $5\n"
                                   "[2001:db8::]/32 doc6\n"
                                   "::1             loop6\n"
                                   "0.0.0.0/0       any4\n");
    map *m = open_ok("cidr", src);
    expect(m, "10.0.0.1", "exact");
    expect(m, "10.200.1.1", "ten");
    expect(m, "192.168.3.4", "private costs $5");
    expect(m, "8.8.8.8", "any4");
    expect(m, "2001:db8:1::5", "doc6");
    expect(m, "::1", "loop6");
    expect(m, "2001:db9::1", NULL);
    expect(m, "not-an-address", NULL);
    assert_int_equal(map_kind(m), MAP_KIND_PATTERN);
    map_free(&m);
    free(src);
}

static void cidr_bad_lines(void **state)
{
    static const struct bad_line_case cases[] = {
        {"1.2.3.0/24 ok\n10.0.0.0/33 bad\n", ", line 2: prefix length out of range", "10.0.0.1",
         NULL},
        {"10.1.1.1/24 x\n", ", line 1: non-zero host bits", "10.1.1.1", NULL},
        {"# c\n\n1.2.3.4.5 x\n", ", line 3: bad address", "1.2.3.4", NULL},
        {"1.2.3.4/ x\n", ", line 1: missing prefix", "1.2.3.4", NULL},
        {"1.2.3.4/2x x\n", ", line 1: bad prefix", "1.2.3.4", NULL},
        {"1.2.3.4\n1.2.3.4 y\n", ", line 1: no lookup result", "1.2.3.4", "y"},
        {"if 1.2.3.0/24\n1.2.3.4 x\n", ", line 1: IF has no matching ENDIF", "1.2.3.4", "x"},
        {"endif\n1.2.3.4 x\n", ", line 1: ignoring ENDIF without matching IF", "1.2.3.4", "x"},
    };
    check_bad_lines("cidr", cases, sizeof(cases) / sizeof(cases[0]));
}

static void pattern_table(const char *type)
{
    char *src = write_text(type, "# rules\n"
                                 "/^(.*)@example\\.com$/   local:$1\n"
                                 "/^CASE$/i                  sensitive\n"
                                 "/^(a)(b)?c$/               [$1][$2]\n"
                                 "!/\\./                     no dot $$\n"
                                 "if /^admin/\n"
                                 "/^admin-(.+)$/             admin group ${1}\n"
                                 "endif\n"
                                 "/(.*)/                     any $1\n");
    map *m = open_ok(type, src);
    expect(m, "joe@EXAMPLE.com", "local:joe");
    expect(m, "CASE.x", "any CASE.x");
    expect(m, "case", "no dot $");
    expect(m, "CASE", "sensitive");
    expect(m, "admin-ops.x", "admin group ops.x");
    expect(m, "ac", "[a][]");
    expect(m, "abc", "[a][b]");
    map_free(&m);
    free(src);
}

/* MAP_NO_REGSUB (alias_maps in local and smtpd): rules with $n are
 * skipped, the others still answer; $$ is no substitution. */
static void no_regsub_skips_substituting_rules(void **state)
{
    const char *types[] = {"regexp", "pcre"};
    for (int t = 0; t < 2; t++) {
        char *src = write_text("noregsub", "/^(.*)-run$/ |/bin/sh -c $1\n"
                                           "/^(.*)-braced$/ ${1}\n"
                                           "/^dollar$/ cost$$5\n"
                                           "/^fixed$/ root\n");
        strbuf spec = STRBUF_INIT, err = STRBUF_INIT, v = STRBUF_INIT;
        strbuf_printf(&spec, "%s:%s", types[t], src);
        map *m = map_open(spec.s, MAP_NO_REGSUB, &err);
        assert_non_null(m);
        expect(m, "x-run", NULL);
        expect(m, "x-braced", NULL);
        expect(m, "dollar", "cost$5");
        expect(m, "fixed", "root");
        map_free(&m);
        /* Without the flag the same table substitutes. */
        m = map_open(spec.s, 0, &err);
        expect(m, "x-run", "|/bin/sh -c x");
        map_free(&m);
        strbuf_release(&spec);
        strbuf_release(&err);
        strbuf_release(&v);
        free(src);
    }
}

/* maps_append: one parameter, tables with different flags, in order. */
static void maps_append_keeps_order_and_flags(void **state)
{
    char *a = write_text("app-a", "/^(x)$/ $1-a\n");
    char *b = write_text("app-b", "/^(.*)$/ $1-b\n");
    strbuf spec = STRBUF_INIT, err = STRBUF_INIT, v = STRBUF_INIT;
    maps *ms = maps_open("local_recipient_maps", "", 0, &err);
    assert_non_null(ms);
    strbuf_printf(&spec, "regexp:%s", a);
    assert_int_equal(maps_append(ms, spec.s, MAP_NO_REGSUB, &err), 0);
    strbuf_reset(&spec);
    strbuf_printf(&spec, "regexp:%s", b);
    assert_int_equal(maps_append(ms, spec.s, 0, &err), 0);
    assert_int_equal(maps_count(ms), 2);
    assert_int_equal(maps_find(ms, "x", 0, &v, &err), MAP_FOUND);
    assert_string_equal(v.s, "x-b"); /* the first table skipped its rule */
    assert_int_equal(maps_append(ms, "nosuchtype:/x", 0, &err), -1);
    assert_int_equal(maps_count(ms), 2);
    maps_free(&ms);
    strbuf_release(&spec);
    strbuf_release(&err);
    strbuf_release(&v);
    free(a);
    free(b);
}

static void regexp_lookup(void **state)
{
    pattern_table("regexp");
}

static void pcre_lookup(void **state)
{
    pattern_table("pcre");
    char *src = write_text("pcre2", "/^(a)(b)?c$/ [$1][$2]\n"
                                    "/^(?<user>[^@]+)@x$/ user=$1\n"
                                    "/^Cs$/ case-insensitive\n"
                                    "/^cs2$/i toggled-sensitive\n"
                                    "/^(x) \n"
                                    "  (y)$/x  extended $1$2\n");
    map *m = open_ok("pcre", src);
    expect(m, "ac", "[a][]");
    expect(m, "abc", "[a][b]");
    expect(m, "bob@x", "user=bob");
    expect(m, "CS", "case-insensitive");
    expect(m, "cs2", "toggled-sensitive");
    expect(m, "CS2", NULL);
    expect(m, "xy", "extended xy");
    map_free(&m);
    free(src);
}

static void regexp_bad_lines(const char *type)
{
    static const struct bad_line_case cases[] = {
        {"/ok/ x\n/(unclosed/ y\n", ", line 2: bad regular expression", "(unclosed", NULL},
        {"/abc x\n", ", line 1: missing closing delimiter", "abc x", NULL},
        {"abc x\n", ", line 1: pattern must be enclosed", "abc", NULL},
        {"/abc/q x\n", ", line 1: unknown", "abc", NULL},
        {"/a(b)c/ $2\n/abc/ fallback\n", ", line 1: $2 in result is out of range", "abc",
         "fallback"},
        {"!/a(b)c/ $1\n/x/ X\n", ", line 1: $number in the result of a negated pattern", "x",
         "X"},
        {"/abc/\n", ", line 1: no replacement text: using empty string", "abc", ""},
        {"/a/ x $y\n", ", line 1: bad '$'", "a", NULL},
        {"if /a/ x\n/b/ B\nendif\n", ", line 1: ignoring extra text after IF", "ab", "B"},
        {"/a/ x\nendif\n", ", line 2: ignoring ENDIF without matching IF", "a", "x"},
        {"if /a/\n/c/ C\n", ", line 1: IF has no matching ENDIF", "ac", "C"},
    };
    check_bad_lines(type, cases, sizeof(cases) / sizeof(cases[0]));
}

static void regexp_bad(void **state)
{
    regexp_bad_lines("regexp");
    regexp_bad_lines("pcre");
}

static void unix_tables(void **state)
{
    strbuf err = STRBUF_INIT;
    map *m = map_open("unix:passwd.byname", 0, &err);
    assert_non_null(m);
    strbuf v = STRBUF_INIT;
    assert_int_equal(map_lookup(m, "ROOT", &v, &err), MAP_FOUND);
    assert_true(strncmp(v.s, "root:", 5) == 0);
    assert_non_null(strstr(v.s, ":0:0:"));
    assert_int_equal(map_lookup(m, "no-such-user-xyzzy", &v, &err), MAP_NOTFOUND);
    /* A full address (smtpd's first local_recipient_maps key) is no account. */
    assert_int_equal(map_lookup(m, "root@localhost", &v, &err), MAP_NOTFOUND);
    /* Every account answers the passwd(5) line getpwnam gives, the first
     * time (file read) and again (from the cache). */
    strbuf want = STRBUF_INIT;
    setpwent();
    struct passwd *pw;
    int n = 0;
    while ((pw = getpwent()) != NULL && n < 50) {
        strbuf_reset(&want);
        strbuf_printf(&want, "%s:%s:%ld:%ld:%s:%s:%s", pw->pw_name, pw->pw_passwd, (long)pw->pw_uid,
                      (long)pw->pw_gid, pw->pw_gecos, pw->pw_dir, pw->pw_shell);
        for (int round = 0; round < 2; round++) {
            assert_int_equal(map_lookup(m, pw->pw_name, &v, &err), MAP_FOUND);
            assert_string_equal(v.s, want.s);
        }
        n++;
    }
    endpwent();
    assert_true(n > 0);
    strbuf_release(&want);
    map_free(&m);
    m = map_open("proxy:unix:group.byname", 0, &err);
    assert_non_null(m);
    assert_string_equal(map_spec(m), "unix:group.byname");
    assert_int_equal(map_lookup(m, "root", &v, &err), MAP_FOUND);
    assert_true(strncmp(v.s, "root:", 5) == 0);
    map_free(&m);
    free(open_err("unix:shadow.byname"));
    strbuf_release(&v);
    strbuf_release(&err);
}

static void open_errors_name_the_spec(void **state)
{
    char *e = open_err("hash:/nonexistent/aliases");
    assert_non_null(strstr(e, "hash:/nonexistent/aliases"));
    assert_non_null(strstr(e, "/nonexistent/aliases.db"));
    free(e);
    e = open_err("ldap:/etc/postfix/ldap.cf");
    assert_non_null(strstr(e, "unsupported table type \"ldap\""));
    free(e);
    free(open_err("noColon"));
    free(open_err(":name"));
    free(open_err("texthash:/nonexistent/file"));
    free(open_err("regexp:/nonexistent/file"));

    /* A surrogate defers instead. */
    strbuf err = STRBUF_INIT, v = STRBUF_INIT;
    map *m = map_open("hash:/nonexistent/aliases", MAP_SURROGATE, &err);
    assert_non_null(m);
    assert_int_equal(map_lookup(m, "x", &v, &err), MAP_TEMPFAIL);
    assert_non_null(strstr(err.s, "hash:/nonexistent/aliases"));
    map_free(&m);
    strbuf_release(&err);
    strbuf_release(&v);
}

static void maps_list(void **state)
{
    strbuf err = STRBUF_INIT, v = STRBUF_INIT;
    char *src = write_text("list", "a from-texthash\n");
    strbuf list = STRBUF_INIT;
    strbuf_printf(&list, "inline:{b=from-inline}, texthash:%s\tstatic:{fallback value}", src);
    maps *ms = maps_open("virtual_alias_maps", list.s, 0, &err);
    assert_non_null(ms);
    assert_int_equal(maps_count(ms), 3);
    assert_int_equal(maps_find(ms, "A", 0, &v, &err), MAP_FOUND);
    assert_string_equal(v.s, "from-texthash");
    assert_int_equal(maps_find(ms, "b", 0, &v, &err), MAP_FOUND);
    assert_string_equal(v.s, "from-inline");
    assert_int_equal(maps_find(ms, "zzz", 0, &v, &err), MAP_FOUND);
    assert_string_equal(v.s, "fallback value");
    assert_int_equal(maps_find(ms, "zzz", MAP_KIND_FIXED, &v, &err), MAP_NOTFOUND);
    maps_free(&ms);

    /* A temporary error stops the search. */
    ms = maps_open("x_maps", "inline:{a=1}, fail:down, static:s", 0, &err);
    if (!ms)
        fail_msg("%s", err.s);
    assert_int_equal(maps_find(ms, "a", 0, &v, &err), MAP_FOUND);
    assert_int_equal(maps_find(ms, "b", 0, &v, &err), MAP_TEMPFAIL);
    maps_free(&ms);

    ms = maps_open("empty_maps", "", 0, &err);
    assert_non_null(ms);
    assert_int_equal(maps_find(ms, "a", 0, &v, &err), MAP_NOTFOUND);
    maps_free(&ms);

    strbuf_reset(&err);
    ms = maps_open("alias_maps", "hash:/nonexistent/x", 0, &err);
    assert_null(ms);
    assert_non_null(strstr(err.s, "alias_maps: hash:/nonexistent/x"));
    strbuf_release(&err);
    strbuf_release(&v);
    strbuf_release(&list);
    free(src);
}

/* Hostile source files. */

static void count_warn(void *ctx, const char *text)
{
    (*(int *)ctx)++;
}

static void huge_lines(void **state)
{
    char *big;
    char *src = write_huge_source(&big);
    char *e = open_err_type("texthash", src);
    assert_non_null(strstr(e, ", line 2: line too long"));
    free(e);
    free(src);

    /* Many continuation lines that add up to more than the limit. */
    size_t lines = MAP_SOURCE_LINE_MAX / 1000 + 2;
    strbuf text = STRBUF_INIT;
    strbuf_puts(&text, "key start\n");
    for (size_t i = 0; i < lines; i++) {
        strbuf_putc(&text, ' ');
        for (int j = 0; j < 999; j++)
            strbuf_putc(&text, 'y');
        strbuf_putc(&text, '\n');
    }
    src = write_file("longlogical", text.s, text.len);
    e = open_err_type("texthash", src);
    assert_non_null(strstr(e, ", line 1: logical line too long"));
    free(e);
    free(src);

    /* Just under the limit is fine. */
    memset(big, 'k', 1000);
    big[1000] = ' ';
    memset(big + 1001, 'v', 500000);
    big[501001] = '\n';
    src = write_file("bigok", big, 501002);
    map *m = open_ok("texthash", src);
    map_free(&m);
    free(src);
    free(big);
    strbuf_release(&text);
}

static void nul_bytes(void **state)
{
    static const char data[] = "a b\nkey val\0ue\n";
    char *src = write_file("nul", data, sizeof(data) - 1);
    char *e = open_err_type("texthash", src);
    assert_non_null(strstr(e, ", line 2: NUL byte"));
    free(e);
    e = open_err_type("regexp", src);
    assert_non_null(strstr(e, ", line 2: NUL byte"));
    free(e);
    free(src);
}

static void missing_values_warn(void **state)
{
    static const char text[] = "a\nb  \n  \nc d\n\"e\": f\nnocolon\n";
    FILE *fp = fmemopen((void *)text, sizeof(text) - 1, "r");
    assert_non_null(fp);
    map_source *src = map_source_stream(fp, "src", MAP_SOURCE_POSTMAP);
    int warnings = 0;
    map_source_set_warn(src, count_warn, &warnings);
    strbuf k = STRBUF_INIT, v = STRBUF_INIT, err = STRBUF_INIT;
    assert_int_equal(map_source_next(src, &k, &v, &err), 1);
    assert_string_equal(k.s, "c");
    assert_string_equal(v.s, "d");
    assert_int_equal(map_source_lineno(src), 4);
    assert_int_equal(map_source_next(src, &k, &v, &err), 1);
    assert_string_equal(k.s, "\"e\":");
    assert_int_equal(map_source_next(src, &k, &v, &err), 0);
    assert_int_equal(warnings, 3);
    map_source_close(&src);
    fclose(fp);

    fp = fmemopen((void *)text, sizeof(text) - 1, "r");
    src = map_source_stream(fp, "src", MAP_SOURCE_ALIAS);
    warnings = 0;
    map_source_set_warn(src, count_warn, &warnings);
    assert_int_equal(map_source_next(src, &k, &v, &err), 1);
    assert_string_equal(k.s, "e");
    assert_string_equal(v.s, "f");
    assert_int_equal(map_source_next(src, &k, &v, &err), 0);
    assert_int_equal(warnings, 4);
    map_source_close(&src);
    fclose(fp);
    strbuf_release(&k);
    strbuf_release(&v);
    strbuf_release(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(texthash_lookup),
        cmocka_unit_test(inline_and_static),
        cmocka_unit_test(cidr_lookup),
        cmocka_unit_test(cidr_bad_lines),
        cmocka_unit_test(regexp_lookup),
        cmocka_unit_test(no_regsub_skips_substituting_rules),
        cmocka_unit_test(maps_append_keeps_order_and_flags),
        cmocka_unit_test(pcre_lookup),
        cmocka_unit_test(regexp_bad),
        cmocka_unit_test(unix_tables),
        cmocka_unit_test(open_errors_name_the_spec),
        cmocka_unit_test(maps_list),
        cmocka_unit_test(huge_lines),
        cmocka_unit_test(nul_bytes),
        cmocka_unit_test(missing_values_warn),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
