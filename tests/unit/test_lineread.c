/* Unit tests: lineread (limits, overlong lines, NUL, no final newline). */
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

static void lineread_nul_and_no_final_newline(void **state)
{
    (void)state;
    static const char data[] = "a\0b\r\n\r\n\nend\r";
    FILE *fp = fmemopen((void *)data, sizeof(data) - 1, "r");
    strbuf line = STRBUF_INIT;
    assert_int_equal(line_read(fp, &line, 100, true), LINE_OK);
    assert_int_equal(line.len, 3); /* NUL kept and counted */
    assert_memory_equal(line.s, "a\0b", 3);
    assert_int_equal(line_read(fp, &line, 100, true), LINE_OK); /* CRLF only */
    assert_int_equal(line.len, 0);
    assert_int_equal(line_read(fp, &line, 100, true), LINE_OK); /* LF only */
    assert_int_equal(line.len, 0);
    /* Last line without newline: returned, its CR kept (not stripping). */
    assert_int_equal(line_read(fp, &line, 100, false), LINE_OK);
    assert_int_equal(line.len, 4);
    assert_memory_equal(line.s, "end\r", 4);
    assert_int_equal(line_read(fp, &line, 100, true), LINE_EOF);
    fclose(fp);
    strbuf_release(&line);
}

static void lineread_exact_limit_and_overlong_last(void **state)
{
    (void)state;
    static const char data[] = "0123456789\n01234567890\n0123456789abc";
    FILE *fp = fmemopen((void *)data, sizeof(data) - 1, "r");
    strbuf line = STRBUF_INIT;
    assert_int_equal(line_read(fp, &line, 10, false), LINE_OK); /* exactly the limit */
    assert_int_equal(line.len, 10);
    assert_int_equal(line_read(fp, &line, 10, false), LINE_TOO_LONG);
    assert_int_equal(line.len, 10);
    assert_int_equal(line_read(fp, &line, 10, false), LINE_TOO_LONG); /* no newline, too long */
    assert_memory_equal(line.s, "0123456789", 10);
    assert_int_equal(line_read(fp, &line, 10, false), LINE_EOF);
    fclose(fp);
    strbuf_release(&line);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(lineread_limits),
        cmocka_unit_test(lineread_megabyte_line_bounded),
        cmocka_unit_test(lineread_nul_and_no_final_newline),
        cmocka_unit_test(lineread_exact_limit_and_overlong_last),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
