/* Unit tests: dup_filter (been_here semantics: limit, case folding). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "dup_filter.h"

static bool seen(dup_filter *f, const char *s)
{
    return dup_filter_seen(f, s, strlen(s));
}

static void second_time_is_seen(void **state)
{
    dup_filter *f = dup_filter_create(1000, false);
    assert_false(seen(f, "user@example.com"));
    assert_true(seen(f, "user@example.com"));
    assert_false(seen(f, "User@example.com")); /* no folding asked for */
    assert_false(seen(f, "user@example.co"));
    assert_false(seen(f, ""));
    assert_true(seen(f, ""));
    assert_int_equal(dup_filter_count(f), 4);
    dup_filter_free(&f);
    assert_null(f);
}

static void fold_case_ascii_only(void **state)
{
    dup_filter *f = dup_filter_create(0, true);
    assert_false(seen(f, "User@Example.COM"));
    assert_true(seen(f, "user@example.com"));
    assert_true(seen(f, "USER@EXAMPLE.COM"));
    /* 8-bit bytes are not letters in the C locale. */
    assert_false(seen(f, "\xc4@x"));
    assert_false(seen(f, "\xe4@x"));
    dup_filter_free(&f);
}

static void keys_are_binary(void **state)
{
    dup_filter *f = dup_filter_create(0, true);
    assert_false(dup_filter_seen(f, "a\0b", 3));
    assert_false(dup_filter_seen(f, "a\0c", 3));
    assert_true(dup_filter_seen(f, "A\0B", 3));
    assert_false(dup_filter_seen(f, "a", 1));
    dup_filter_free(&f);
}

/* Past the limit nothing new is remembered: repeats of those keys pass,
 * repeats of remembered keys are still caught. */
static void limit_bounds_memory(void **state)
{
    dup_filter *f = dup_filter_create(3, true);
    assert_false(seen(f, "a"));
    assert_false(seen(f, "b"));
    assert_false(seen(f, "c"));
    assert_false(seen(f, "d"));
    assert_false(seen(f, "d"));
    assert_true(seen(f, "A"));
    assert_true(seen(f, "c"));
    assert_int_equal(dup_filter_count(f), 3);
    dup_filter_free(&f);
}

static void many_keys_grow_the_table(void **state)
{
    dup_filter *f = dup_filter_create(0, true);
    char buf[64];
    for (int i = 0; i < 50000; i++) {
        snprintf(buf, sizeof(buf), "User%d@Example.com", i);
        assert_false(seen(f, buf));
    }
    for (int i = 0; i < 50000; i++) {
        snprintf(buf, sizeof(buf), "user%d@example.COM", i);
        assert_true(seen(f, buf));
    }
    assert_int_equal(dup_filter_count(f), 50000);
    dup_filter_free(&f);
    dup_filter_free(&f); /* NULL is fine */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(second_time_is_seen),      cmocka_unit_test(fold_case_ascii_only),
        cmocka_unit_test(keys_are_binary),          cmocka_unit_test(limit_bounds_memory),
        cmocka_unit_test(many_keys_grow_the_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
