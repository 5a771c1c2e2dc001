/* Unit tests: strlist (vector, Postfix list splitting). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "strlist.h"

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

static void strlist_push_contains(void **state)
{
    (void)state;
    strlist sl = STRLIST_INIT;
    for (int i = 0; i < 10000; i++) {
        char buf[16];
        snprintf(buf, sizeof(buf), "n%d", i);
        strlist_push(&sl, buf);
    }
    assert_int_equal(sl.n, 10000);
    assert_null(sl.v[10000]); /* argv-style terminator */
    assert_true(strlist_contains(&sl, "n9999"));
    assert_false(strlist_contains(&sl, "N9999"));
    assert_true(strlist_contains_nocase(&sl, "N9999"));
    strlist_pushn(&sl, "abcdef", 3);
    assert_string_equal(sl.v[sl.n - 1], "abc");
    strlist_release(&sl);
    assert_int_equal(sl.n, 0);
    assert_null(sl.v);
}

static void strlist_split_hostile(void **state)
{
    (void)state;
    strlist sl = STRLIST_INIT;
    const char *err = NULL;
    /* Deep braces, empty input, only delimiters, 8-bit bytes. */
    char *deep = malloc(200002);
    memset(deep, '{', 100000);
    memset(deep + 100000, '}', 100000);
    deep[200000] = '\0';
    (void)strlist_split(&sl, deep, ", ", &err); /* any result, no crash */
    strlist_release(&sl);
    free(deep);
    assert_int_equal(strlist_split(&sl, "", ", ", &err), 0);
    assert_int_equal(sl.n, 0);
    assert_int_equal(strlist_split(&sl, " ,, ,", ", ", &err), 0);
    assert_int_equal(sl.n, 0);
    assert_int_equal(strlist_split(&sl, "\xe9t\xe9, \xff", ", ", &err), 0);
    assert_int_equal(sl.n, 2);
    assert_string_equal(sl.v[0], "\xe9t\xe9");
    strlist_release(&sl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(strlist_split_lists),
        cmocka_unit_test(strlist_push_contains),
        cmocka_unit_test(strlist_split_hostile),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
