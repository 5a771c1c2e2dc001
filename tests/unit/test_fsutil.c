/* Unit tests: fsutil (path checks, the mountinfo parser behind
 * fsync_covers_new_entry; the durable operations are covered by
 * test_queue_file, test_mailbox and the e2e crash test). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

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

static const char mountinfo[] =
    "22 1 252:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw,discard\n"
    "23 22 0:21 / /proc rw,nosuid - proc proc rw\n"
    "24 22 0:5 / /dev rw shared:2 master:7 - devtmpfs udev rw,size=4k\n"
    "25 22 8:16 / /mnt/with\\040space rw - xfs /dev/sdb rw\n"
    "26 22 0:40 / /var/lib/docker/x rw - overlay overlay rw,lowerdir=/a\n"
    "27 22 8:17 / /old rw - ext2 /dev/sdb1 rw\n"
    "28 22 8:18 / /nofs rw shared:9 -\n"
    "29 22 8:19 / /short rw";

static char *type_of(unsigned major, unsigned minor, strbuf *type)
{
    return mountinfo_fs_type(mountinfo, strlen(mountinfo), major, minor, type) == 0 ? type->s
                                                                                    : NULL;
}

static void mountinfo_types(void **state)
{
    (void)state;
    strbuf type = STRBUF_INIT;
    assert_string_equal(type_of(252, 1, &type), "ext4");
    assert_string_equal(type_of(0, 21, &type), "proc");
    /* Optional fields before the separator, however many. */
    assert_string_equal(type_of(0, 5, &type), "devtmpfs");
    assert_string_equal(type_of(8, 16, &type), "xfs");
    assert_string_equal(type_of(0, 40, &type), "overlay");
    assert_string_equal(type_of(8, 17, &type), "ext2");
    /* The device must match whole numbers, not a prefix or suffix. */
    assert_null(type_of(252, 11, &type));
    assert_null(type_of(52, 1, &type));
    assert_null(type_of(2, 1, &type));
    /* A line cut short (no separator, or nothing after it) is no answer. */
    assert_null(type_of(8, 18, &type));
    assert_null(type_of(8, 19, &type));
    assert_int_equal(mountinfo_fs_type("", 0, 0, 0, &type), -1);
    assert_int_equal(mountinfo_fs_type("1 2 0:0", 7, 0, 0, &type), -1);
    /* Text without a final newline, and bytes after the length, ignored. */
    assert_int_equal(mountinfo_fs_type("1 2 0:0 / / rw - tmpfsXX", 22, 0, 0, &type), 0);
    assert_string_equal(type.s, "tmpfs");
    strbuf_release(&type);
}

/* The answer for the file system this test runs on agrees with its own
 * mountinfo line (whatever that file system is). */
static void covers_this_file_system(void **state)
{
    (void)state;
    struct stat st;
    assert_int_equal(stat(".", &st), 0);
    bool covers = fsync_covers_new_entry(st.st_dev);
    assert_int_equal(fsync_covers_new_entry(st.st_dev), covers);
    FILE *fp = fopen("/proc/self/mountinfo", "r");
    assert_non_null(fp);
    strbuf text = STRBUF_INIT, type = STRBUF_INIT;
    char buf[4096];
    size_t got;
    while ((got = fread(buf, 1, sizeof(buf), fp)) > 0)
        strbuf_append(&text, buf, got);
    fclose(fp);
    assert_int_equal(mountinfo_fs_type(text.s, text.len, major(st.st_dev), minor(st.st_dev), &type),
                     0);
    bool journaled =
        strcmp(type.s, "ext4") == 0 || strcmp(type.s, "ext3") == 0 || strcmp(type.s, "xfs") == 0;
    assert_int_equal(covers, journaled);
    strbuf_release(&text);
    strbuf_release(&type);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(plain_absolute_paths),
        cmocka_unit_test(mountinfo_types),
        cmocka_unit_test(covers_this_file_system),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
