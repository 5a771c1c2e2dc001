/* Unit tests: fsutil (path checks; the durable operations are covered by
 * test_queue_file and test_mailbox). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "fsutil.h"

static void plain_absolute_paths(void **state)
{
    (void)state;
    assert_true(path_is_plain_absolute("/home/bob/.forward"));
    assert_true(path_is_plain_absolute("/home/bob/.forward+a,b"));
    assert_true(path_is_plain_absolute("/home//bob/"));
    assert_true(path_is_plain_absolute("/home/bob/.forward+.."));
    assert_true(path_is_plain_absolute("/home/bob/..forward"));
    assert_true(path_is_plain_absolute("/home/bob/.../x"));
    assert_false(path_is_plain_absolute("home/bob/.forward"));
    assert_false(path_is_plain_absolute(""));
    assert_false(path_is_plain_absolute("/home/bob/../alice/.forward"));
    assert_false(path_is_plain_absolute("/home/bob/.."));
    assert_false(path_is_plain_absolute("/home/bob/./.forward"));
    assert_false(path_is_plain_absolute("/."));
    assert_false(path_is_plain_absolute("/..//etc"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(plain_absolute_paths),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
