/* Unit tests: map_source (table source reader) with hostile input: NUL,
 * overlong physical and logical lines, no final newline, CRs, records
 * without values. The basic forms are also exercised by test_maps.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "map_source.h"
#include "strbuf.h"

struct warnings {
    int n;
    strbuf last;
};

static void warn(void *ctx, const char *text)
{
    struct warnings *w = ctx;
    w->n++;
    strbuf_set(&w->last, text);
}

/* Read all records of data; returns the last map_source_next result. */
static int read_all(const char *data, size_t len, enum map_source_format fmt, strbuf *keys,
                    strbuf *err, struct warnings *w)
{
    FILE *fp = fmemopen((void *)data, len, "r");
    assert_non_null(fp);
    map_source *src = map_source_stream(fp, "src", fmt);
    map_source_set_warn(src, warn, w);
    strbuf k = STRBUF_INIT, v = STRBUF_INIT;
    int rc;
    strbuf_reset(keys);
    while ((rc = map_source_next(src, &k, &v, err)) == 1)
        strbuf_printf(keys, "[%s=%s]", strbuf_str(&k), strbuf_str(&v));
    map_source_close(&src);
    fclose(fp);
    strbuf_release(&k);
    strbuf_release(&v);
    return rc;
}

static void forms_and_no_final_newline(void **state)
{
    (void)state;
    static const char data[] = "# c\r\n"
                               "a 1\r\n"
                               "b   two\n"
                               "  words\n"
                               "\n"
                               "lonely\n"
                               "z \xe9\xff";
    strbuf keys = STRBUF_INIT, err = STRBUF_INIT;
    struct warnings w = {0};
    assert_int_equal(read_all(data, sizeof(data) - 1, MAP_SOURCE_POSTMAP, &keys, &err, &w), 0);
    assert_string_equal(strbuf_str(&keys), "[a=1][b=two  words][z=\xe9\xff]");
    assert_int_equal(w.n, 1); /* "lonely" has no value */
    assert_non_null(strstr(strbuf_str(&w.last), "src, line 6"));
    strbuf_release(&w.last);
    strbuf_release(&keys);
    strbuf_release(&err);
}

static void nul_is_an_error(void **state)
{
    (void)state;
    static const char data[] = "a 1\nb x\0y\nc 3\n";
    strbuf keys = STRBUF_INIT, err = STRBUF_INIT;
    struct warnings w = {0};
    assert_int_equal(read_all(data, sizeof(data) - 1, MAP_SOURCE_POSTMAP, &keys, &err, &w), -1);
    assert_non_null(strstr(strbuf_str(&err), "src, line 2"));
    /* "a 1" may or may not come first (the reader looks ahead for a
     * continuation); nothing after the NUL does. */
    assert_null(strstr(strbuf_str(&keys), "c="));
    strbuf_release(&w.last);
    strbuf_release(&keys);
    strbuf_release(&err);
}

static void overlong_lines_are_errors(void **state)
{
    (void)state;
    strbuf keys = STRBUF_INIT, err = STRBUF_INIT;
    struct warnings w = {0};
    /* One physical line over the limit. */
    size_t n = MAP_SOURCE_LINE_MAX + 10;
    char *big = malloc(n + 1);
    memcpy(big, "k ", 2);
    memset(big + 2, 'v', n - 2);
    big[n] = '\n';
    assert_int_equal(read_all(big, n + 1, MAP_SOURCE_POSTMAP, &keys, &err, &w), -1);
    assert_non_null(strstr(strbuf_str(&err), "line 1"));
    free(big);
    /* A logical line over the limit made of short continuation lines. */
    strbuf cont = STRBUF_INIT;
    strbuf_puts(&cont, "k v\n");
    while (cont.len <= MAP_SOURCE_LINE_MAX + MAP_SOURCE_LINE_MAX / 10) /* newlines dropped */
        strbuf_puts(&cont, " continuation continuation continuation\n");
    strbuf_reset(&err);
    assert_int_equal(read_all(cont.s, cont.len, MAP_SOURCE_ALIAS, &keys, &err, &w), -1);
    assert_true(err.len > 0);
    strbuf_release(&cont);
    strbuf_release(&w.last);
    strbuf_release(&keys);
    strbuf_release(&err);
}

static void alias_format(void **state)
{
    (void)state;
    static const char data[] = "root: admin, ops\n"
                               "\"odd name\": x\n"
                               "nocolon value\n"
                               "postmaster:root";
    strbuf keys = STRBUF_INIT, err = STRBUF_INIT;
    struct warnings w = {0};
    assert_int_equal(read_all(data, sizeof(data) - 1, MAP_SOURCE_ALIAS, &keys, &err, &w), 0);
    assert_non_null(strstr(strbuf_str(&keys), "[root=admin, ops]"));
    assert_non_null(strstr(strbuf_str(&keys), "[postmaster=root]"));
    assert_null(strstr(strbuf_str(&keys), "nocolon"));
    assert_true(w.n >= 1);
    strbuf_release(&w.last);
    strbuf_release(&keys);
    strbuf_release(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(forms_and_no_final_newline),
        cmocka_unit_test(nul_is_an_error),
        cmocka_unit_test(overlong_lines_are_errors),
        cmocka_unit_test(alias_format),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
