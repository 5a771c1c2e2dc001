/* Unit tests: rbl_filter, the "=d.d.d.d" reply filters of reject_rbl_client
 * and friends, with well-formed, malformed and hostile filters and answers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "rbl_filter.h"

static int match(const char *filter, const char *answer)
{
    const char *why = NULL;
    int r = rbl_filter_match(filter, answer, &why);
    if (r < 0)
        assert_non_null(why);
    return r;
}

static void plain_address(void **state)
{
    (void)state;
    assert_int_equal(match("127.0.0.2", "127.0.0.2"), 1);
    assert_int_equal(match("127.0.0.2", "127.0.0.3"), 0);
    assert_int_equal(match("127.0.0.2", "127.0.0.20"), 0);
    assert_int_equal(match("127.0.0.2", "127.0.0.2.1"), 0);
    assert_int_equal(match("127.0.0.2", "127.0.0."), 0);
    assert_int_equal(match("127.0.0.2", ""), 0);
    assert_int_equal(match("127.0.0.2", NULL), 0);
    assert_int_equal(match("127.0.0.2", "::ffff:127.0.0.2"), 0);
    assert_int_equal(match("127.0.0.2", "127.0.0.0002"), 0);
}

static void ranges_and_lists(void **state)
{
    (void)state;
    const char *f = "127.0.0.[2..11]";
    assert_int_equal(match(f, "127.0.0.1"), 0);
    assert_int_equal(match(f, "127.0.0.2"), 1);
    assert_int_equal(match(f, "127.0.0.7"), 1);
    assert_int_equal(match(f, "127.0.0.11"), 1);
    assert_int_equal(match(f, "127.0.0.12"), 0);
    f = "127.0.0.[2;3]";
    assert_int_equal(match(f, "127.0.0.3"), 1);
    assert_int_equal(match(f, "127.0.0.4"), 0);
    f = "127.[0..255].[0;1].[2;4..5;10..11]";
    assert_int_equal(match(f, "127.200.1.5"), 1);
    assert_int_equal(match(f, "127.200.1.6"), 0);
    assert_int_equal(match(f, "127.200.2.5"), 0);
    assert_int_equal(match(f, "128.200.1.5"), 0);
    assert_int_equal(match("[0..255].[0..255].[0..255].[0..255]", "255.255.255.255"), 1);
    assert_int_equal(match("127.0.0.[7..7]", "127.0.0.7"), 1);
}

static void malformed_filters(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "127.0.0",
        "127.0.0.2.",
        "127.0.0.2.5",
        "127.0.0.256",
        "127.0.0.2;127.0.0.3", /* postconf(5): ";" only inside [] */
        "127.0.0.[2..]",
        "127.0.0.[..2]",
        "127.0.0.[11..2]",
        "127.0.0.[2;]",
        "127.0.0.[]",
        "127.0.0.[2",
        "127.0.0.[2,3]",
        "127.0.0.[2..3..4]",
        "127.0.0.[[2]]",
        "127.0.0.x",
        "127.0.0.-1",
        "127..0.2",
        " 127.0.0.2",
        "127.0.0.2 ",
        "1270.0.0.2",
        "127.0.0.[0002]",
        "127.0.0.[99999999999999999999]",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const char *why = NULL;
        if (rbl_filter_check(bad[i], &why) != -1)
            fail_msg("accepted \"%s\"", bad[i]);
        assert_non_null(why);
        assert_int_equal(rbl_filter_match(bad[i], "127.0.0.2", &why), -1);
    }
    const char *why = NULL;
    assert_int_equal(rbl_filter_check(NULL, &why), -1);
    assert_int_equal(rbl_filter_check("127.0.0.2;127.0.0.3", &why), -1);
    assert_non_null(strstr(why, "[2;3]"));
    assert_int_equal(rbl_filter_check("127.0.0.[2..11]", &why), 0);
}

static void long_hostile_filter(void **state)
{
    (void)state;
    /* A bracket list of thousands of items stays linear and bounded. */
    char f[40000];
    size_t n = 0;
    n += (size_t)snprintf(f + n, sizeof(f) - n, "127.0.0.[");
    for (int i = 0; i < 5000; i++)
        n += (size_t)snprintf(f + n, sizeof(f) - n, "%d;", i % 256);
    snprintf(f + n - 1, sizeof(f) - n + 1, "]");
    assert_int_equal(match(f, "127.0.0.200"), 1);
    memset(f, '9', sizeof(f) - 1);
    f[sizeof(f) - 1] = 0;
    assert_int_equal(match(f, "127.0.0.2"), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(plain_address),
        cmocka_unit_test(ranges_and_lists),
        cmocka_unit_test(malformed_filters),
        cmocka_unit_test(long_hostile_filter),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
