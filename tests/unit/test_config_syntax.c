/* Unit tests: config_syntax (main.cf syntax and $name expansion with a
 * lookup callback; no parameter table involved). Hostile inputs: deep
 * recursion, loops, unterminated constructs, huge values, 8-bit bytes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config_syntax.h"
#include "mem.h"
#include "msg.h"
#include "strbuf.h"
#include "strlist.h"

/* A name -> value table; "lazy" is computed from "base" when looked up
 * (the shape of mynetworks), through the expansion handle. */
struct table {
    strlist names, values;
    int lookups;
};

static int lookup(void *ctx, struct config_expansion *x, const char *name, const char **raw,
                  bool *verbatim)
{
    struct table *t = ctx;
    t->lookups++;
    if (strcmp(name, "lazy") == 0) {
        static strbuf computed = STRBUF_INIT;
        strbuf_reset(&computed);
        strbuf_puts(&computed, "net:");
        if (config_expansion_name(x, "base", &computed) < 0)
            return -1;
        *raw = strbuf_str(&computed);
        *verbatim = true;
        return 0;
    }
    if (strcmp(name, "broken") == 0)
        return config_expansion_fail(x, "cannot compute %s", name);
    for (size_t i = 0; i < t->names.n; i++)
        if (strcmp(t->names.v[i], name) == 0) {
            *raw = t->values.v[i];
            return 0;
        }
    return 0;
}

static void set(struct table *t, const char *name, const char *value)
{
    strlist_push(&t->names, name);
    strlist_push(&t->values, value);
}

static void release(struct table *t)
{
    strlist_release(&t->names);
    strlist_release(&t->values);
}

/* Expand text with table t; returns rc, out and err filled. */
static int expand(struct table *t, const char *text, strbuf *out, strbuf *err)
{
    struct config_expand_ops ops = {.ctx = t, .lookup = lookup};
    strbuf_reset(out);
    strbuf_reset(err);
    return config_expand_text(&ops, text, strlen(text), out, err);
}

static void expands_forms(void **state)
{
    (void)state;
    struct table t = {0};
    set(&t, "a", "A");
    set(&t, "b", "$a-$a");
    set(&t, "empty", "");
    strbuf out = STRBUF_INIT, err = STRBUF_INIT;
    assert_int_equal(expand(&t, "$b ${a} $(a) $$a", &out, &err), 0);
    assert_string_equal(strbuf_str(&out), "A-A A A $a");
    assert_int_equal(expand(&t, "${a?yes}${empty?no}${nothing?no}", &out, &err), 0);
    assert_string_equal(strbuf_str(&out), "yes");
    assert_int_equal(expand(&t, "${a:no}${empty:e}${nothing:n}", &out, &err), 0);
    assert_string_equal(strbuf_str(&out), "en");
    assert_int_equal(expand(&t, "${a?{x $b}:{y}}|${empty?{x}:{y $a}}", &out, &err), 0);
    assert_string_equal(strbuf_str(&out), "x A-A|y A");
    assert_int_equal(expand(&t, "${{10} > {9} ? {num}}${{10} > {9x} ? {str}}", &out, &err), 0);
    assert_string_equal(strbuf_str(&out), "num");
    assert_int_equal(expand(&t, "${{3.10} >level {3.9} ? {new} : {old}}", &out, &err), 0);
    assert_string_equal(strbuf_str(&out), "new");
    strbuf_release(&out);
    strbuf_release(&err);
    release(&t);
}

static void lazy_value_expands_others_through_callback(void **state)
{
    (void)state;
    struct table t = {0};
    set(&t, "base", "10.0.0.0/8");
    set(&t, "user", "[$lazy]");
    strbuf out = STRBUF_INIT, err = STRBUF_INIT;
    assert_int_equal(expand(&t, "$user", &out, &err), 0);
    assert_string_equal(strbuf_str(&out), "[net:10.0.0.0/8]");
    /* A loop through the computed value is still found. */
    release(&t);
    memset(&t, 0, sizeof(t));
    set(&t, "base", "$lazy");
    assert_int_equal(expand(&t, "$lazy", &out, &err), -1);
    assert_non_null(strstr(strbuf_str(&err), "expansion loop: $lazy -> $base -> $lazy"));
    /* A callback's own error is reported, naming the parameter. */
    assert_int_equal(expand(&t, "x$broken", &out, &err), -1);
    assert_string_equal(strbuf_str(&err), "parameter broken: cannot compute broken");
    strbuf_release(&out);
    strbuf_release(&err);
    release(&t);
}

static void loops_and_deep_recursion_fail(void **state)
{
    (void)state;
    struct table t = {0};
    set(&t, "self", "x$self");
    char name[32], value[40];
    for (int i = 0; i < 500; i++) { /* p0 -> p1 -> ... -> p499 */
        snprintf(name, sizeof(name), "p%d", i);
        snprintf(value, sizeof(value), "$p%d", i + 1);
        set(&t, name, value);
    }
    strbuf out = STRBUF_INIT, err = STRBUF_INIT;
    assert_int_equal(expand(&t, "$self", &out, &err), -1);
    assert_non_null(strstr(strbuf_str(&err), "expansion loop: $self -> $self"));
    assert_int_equal(expand(&t, "$p0", &out, &err), -1);
    assert_non_null(strstr(strbuf_str(&err), "nested more than 100 deep"));
    /* Braces nested far deeper than the limit, without recursion blowing
     * the C stack. */
    strbuf deep = STRBUF_INIT;
    for (int i = 0; i < 100000; i++)
        strbuf_puts(&deep, "${self?{");
    assert_int_equal(expand(&t, strbuf_str(&deep), &out, &err), -1);
    strbuf_release(&deep);
    strbuf_release(&out);
    strbuf_release(&err);
    release(&t);
}

static void malformed_text_fails(void **state)
{
    (void)state;
    struct table t = {0};
    set(&t, "a", "A");
    strbuf out = STRBUF_INIT, err = STRBUF_INIT;
    static const char *bad[] = {
        "${a",       "$(a",          "${a?{x}",     "$",         "x $ y",     "${}",
        "${ }",      "${a b}",       "${a?{x}y}",   "${a:{x}y}", "${{a} ~ {b}}", "${{a}}",
        "${{a} == }", "${{1} ==lvl {2}}", "${{x} >=level {3}}", "${{3} ==level {3.x}}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc = expand(&t, bad[i], &out, &err);
        if (rc != -1 || err.len == 0)
            fail_msg("accepted \"%s\" -> \"%s\"", bad[i], strbuf_str(&out));
    }
    strbuf_release(&out);
    strbuf_release(&err);
    release(&t);
}

static void huge_values_are_bounded(void **state)
{
    (void)state;
    struct table t = {0};
    /* Each level doubles: 2^30 bytes if unbounded. */
    char name[16], value[32];
    set(&t, "d0", "0123456789abcdef");
    for (int i = 1; i <= 30; i++) {
        snprintf(name, sizeof(name), "d%d", i);
        snprintf(value, sizeof(value), "$d%d$d%d", i - 1, i - 1);
        set(&t, name, value);
    }
    strbuf out = STRBUF_INIT, err = STRBUF_INIT;
    assert_int_equal(expand(&t, "$d30", &out, &err), -1);
    assert_non_null(strstr(strbuf_str(&err), "longer than"));
    assert_true(out.len <= 2 * CONFIG_SYNTAX_MAX_EXPANSION + 64);
    /* A big literal under the limit is kept whole. */
    char *big = xmalloc(1u << 20);
    memset(big, 'v', (1u << 20) - 1);
    big[(1u << 20) - 1] = '\0';
    assert_int_equal(expand(&t, big, &out, &err), 0);
    assert_int_equal(out.len, (1u << 20) - 1);
    free(big);
    strbuf_release(&out);
    strbuf_release(&err);
    release(&t);
}

static void eight_bit_bytes_are_data(void **state)
{
    (void)state;
    struct table t = {0};
    set(&t, "u", "caf\xc3\xa9 \xff\x80");
    strbuf out = STRBUF_INIT, err = STRBUF_INIT;
    assert_int_equal(expand(&t, "\xfe$u\xfe", &out, &err), 0);
    assert_string_equal(strbuf_str(&out), "\xfe" "caf\xc3\xa9 \xff\x80\xfe");
    /* An 8-bit byte ends a name ($u then literal). */
    assert_int_equal(expand(&t, "$u\xe9x", &out, &err), 0);
    assert_string_equal(strbuf_str(&out), "caf\xc3\xa9 \xff\x80\xe9x");
    assert_int_equal(expand(&t, "${u\xe9}", &out, &err), -1);
    assert_false(config_syntax_valid_name("caf\xc3\xa9"));
    assert_true(config_syntax_valid_name("a_B9"));
    assert_false(config_syntax_valid_name(""));
    strbuf_release(&out);
    strbuf_release(&err);
    release(&t);
}

struct entries {
    strlist seen; /* "line:name=value" */
};

static int entry(void *ctx, const char *name, const char *value, int line, strbuf *err)
{
    struct entries *e = ctx;
    (void)err;
    strbuf sb = STRBUF_INIT;
    strbuf_printf(&sb, "%d:%s=%s", line, name, value);
    strlist_push_owned(&e->seen, strbuf_detach(&sb));
    return 0;
}

static void parses_lines_continuations_comments(void **state)
{
    (void)state;
    static const char text[] = "# comment\n"
                               "a = 1\n"
                               "b=two\n"
                               "  words\n"
                               "# a comment inside does not end b\n"
                               "\n"
                               "\tmore  \n"
                               "c =\n"
                               "d = x # not a comment\n"
                               "e = \xe9\xff"; /* no final newline */
    struct entries e = {0};
    strbuf err = STRBUF_INIT;
    assert_int_equal(config_syntax_parse("t", text, sizeof(text) - 1, entry, &e, &err), 0);
    assert_int_equal(e.seen.n, 5);
    assert_string_equal(e.seen.v[0], "2:a=1");
    assert_string_equal(e.seen.v[1], "3:b=two  words\tmore");
    assert_string_equal(e.seen.v[2], "8:c=");
    assert_string_equal(e.seen.v[3], "9:d=x # not a comment");
    assert_string_equal(e.seen.v[4], "10:e=\xe9\xff");
    strlist_release(&e.seen);
    strbuf_release(&err);
}

static void parse_errors_name_origin_and_line(void **state)
{
    (void)state;
    struct entries e = {0};
    strbuf err = STRBUF_INIT;
    static const char nul[] = "a = 1\nb = x\0y\n";
    assert_int_equal(config_syntax_parse("f", nul, sizeof(nul) - 1, entry, &e, &err), -1);
    assert_string_equal(strbuf_str(&err), "f, line 2: NUL character in configuration file");
    strbuf_reset(&err);
    assert_int_equal(config_syntax_parse("f", "a = 1\n\nnovalue\n", 15, entry, &e, &err), -1);
    assert_string_equal(strbuf_str(&err), "f, line 3: missing '=' after attribute name: \"novalue\"");
    strbuf_reset(&err);
    assert_int_equal(config_syntax_parse("f", "= 1\n", 4, entry, &e, &err), -1);
    assert_non_null(strstr(strbuf_str(&err), "missing attribute name"));
    strlist_release(&e.seen);
    /* Leading whitespace with nothing to continue: skipped (warned). */
    strbuf_reset(&err);
    assert_int_equal(config_syntax_parse("f", "  x = 1\ny = 2\n", 14, entry, &e, &err), 0);
    assert_int_equal(e.seen.n, 1);
    assert_string_equal(e.seen.v[0], "2:y=2");
    strlist_release(&e.seen);
    /* A huge single line is parsed whole. */
    size_t n = 8u << 20;
    char *huge = xmalloc(n + 1);
    memcpy(huge, "h = ", 4);
    memset(huge + 4, 'z', n - 4);
    assert_int_equal(config_syntax_parse("f", huge, n, entry, &e, &err), 0);
    assert_int_equal(strlen(e.seen.v[0]), n - 4 + strlen("1:h="));
    free(huge);
    strlist_release(&e.seen);
    strbuf_release(&err);
}

static void ref(void *ctx, const char *name)
{
    strlist_push(ctx, name);
}

static void finds_references(void **state)
{
    (void)state;
    strlist names = STRLIST_INIT;
    config_syntax_references("$a $$b ${ c?{$d}} $(e:x) $ ${", ref, &names);
    assert_int_equal(names.n, 4);
    assert_string_equal(names.v[0], "a");
    assert_string_equal(names.v[1], "c");
    assert_string_equal(names.v[2], "d");
    assert_string_equal(names.v[3], "e");
    strlist_release(&names);
}

int main(void)
{
    msg_init("test_config_syntax", false);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(expands_forms),
        cmocka_unit_test(lazy_value_expands_others_through_callback),
        cmocka_unit_test(loops_and_deep_recursion_fail),
        cmocka_unit_test(malformed_text_fails),
        cmocka_unit_test(huge_values_are_bounded),
        cmocka_unit_test(eight_bit_bytes_are_data),
        cmocka_unit_test(parses_lines_continuations_comments),
        cmocka_unit_test(parse_errors_name_origin_and_line),
        cmocka_unit_test(finds_references),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
