/* Unit tests: strbuf (strlist and lineread have their own files). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "strbuf.h"

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(strbuf_grows_and_terminates),
        cmocka_unit_test(strbuf_keeps_nul_bytes),
        cmocka_unit_test(strbuf_printf_large),
        cmocka_unit_test(strbuf_trim_and_detach),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
