/* Unit tests: strbuf, strlist, lineread (the generic string layer). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lineread.h"
#include "strbuf.h"
#include "strlist.h"

static void strbuf_grows_and_terminates(void **state)
{
    strbuf sb = STRBUF_INIT;
    assert_string_equal(strbuf_str(&sb), "");
    for (int i = 0; i < 10000; i++)
        strbuf_putc(&sb, 'x');
    assert_int_equal(sb.len, 10000);
    assert_int_equal(sb.s[10000], '\0');
    strbuf_printf(&sb, "%d-%s", 42, "end");
    assert_int_equal(sb.len, 10006);
    assert_string_equal(sb.s + 10000, "42-end");
    strbuf_release(&sb);
    assert_null(sb.s);
}

static void strbuf_keeps_nul_bytes(void **state)
{
    strbuf sb = STRBUF_INIT;
    strbuf_append(&sb, "a\0b", 3);
    assert_int_equal(sb.len, 3);
    assert_memory_equal(sb.s, "a\0b", 4);
    strbuf_release(&sb);
}

static void strbuf_printf_large(void **state)
{
    strbuf sb = STRBUF_INIT;
    char big[5000];
    memset(big, 'q', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    strbuf_printf(&sb, "<%s>", big);
    assert_int_equal(sb.len, sizeof(big) + 1);
    assert_int_equal(sb.s[0], '<');
    assert_int_equal(sb.s[sb.len - 1], '>');
    strbuf_release(&sb);
}

static void strbuf_trim_and_detach(void **state)
{
    strbuf sb = STRBUF_INIT;
    strbuf_set(&sb, " \t value \r\n");
    strbuf_trim(&sb);
    assert_true(strbuf_eq(&sb, "value"));
    strbuf_set(&sb, "   ");
    strbuf_trim(&sb);
    assert_int_equal(sb.len, 0);
    char *s = strbuf_detach(&sb);
    assert_string_equal(s, "");
    free(s);
    assert_null(sb.s);
}

static void strlist_split_lists(void **state)
{
    strlist sl = STRLIST_INIT;
    const char *err = NULL;
    assert_int_equal(strlist_split(&sl, " a, b,,c\t{ d e } ,", ", \t", &err), 0);
    assert_int_equal(sl.n, 4);
    assert_string_equal(sl.v[0], "a");
    assert_string_equal(sl.v[3], "d e");
    assert_null(sl.v[4]);
    assert_true(strlist_contains(&sl, "c"));
    strlist_release(&sl);
    assert_int_equal(strlist_split(&sl, "a {b", ", ", &err), -1);
    assert_non_null(err);
    strlist_release(&sl);
    assert_int_equal(strlist_split(&sl, "a }b", ", ", &err), -1);
    strlist_release(&sl);
}

static void lineread_limits(void **state)
{
    char data[] = "short\r\nthis line is too long\nlast";
    FILE *fp = fmemopen(data, sizeof(data) - 1, "r");
    strbuf line = STRBUF_INIT;
    assert_int_equal(line_read(fp, &line, 10, true), LINE_OK);
    assert_string_equal(line.s, "short");
    assert_int_equal(line_read(fp, &line, 10, true), LINE_TOO_LONG);
    assert_int_equal(line.len, 10);
    assert_int_equal(line_read(fp, &line, 10, true), LINE_OK);
    assert_string_equal(line.s, "last");
    assert_int_equal(line_read(fp, &line, 10, true), LINE_EOF);
    fclose(fp);
    strbuf_release(&line);
}

static void lineread_megabyte_line_bounded(void **state)
{
    size_t n = 1 << 20;
    char *data = malloc(n + 2);
    memset(data, 'z', n);
    data[n] = '\n';
    data[n + 1] = 'x';
    FILE *fp = fmemopen(data, n + 2, "r");
    strbuf line = STRBUF_INIT;
    assert_int_equal(line_read(fp, &line, 4096, false), LINE_TOO_LONG);
    assert_true(line.cap < 3 * 4096);
    assert_int_equal(line_read(fp, &line, 4096, false), LINE_OK);
    assert_string_equal(line.s, "x");
    fclose(fp);
    free(data);
    strbuf_release(&line);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(strbuf_grows_and_terminates),
        cmocka_unit_test(strbuf_keeps_nul_bytes),
        cmocka_unit_test(strbuf_printf_large),
        cmocka_unit_test(strbuf_trim_and_detach),
        cmocka_unit_test(strlist_split_lists),
        cmocka_unit_test(lineread_limits),
        cmocka_unit_test(lineread_megabyte_line_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
