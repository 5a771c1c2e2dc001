/* Unit tests: mailbox_maildir (durable Maildir delivery, batches, names). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "fsutil.h"
#include "mailbox_maildir.h"

#include "mailbox_test_files.h"

static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

static void maildir_delivers_into_new(void **state)
{
    char maildir[128], sub[160];
    snprintf(maildir, sizeof(maildir), "%s/Maildir/", tmpdir);
    struct maildir_delivery md;
    strbuf err = STRBUF_INIT;
    assert_int_equal(maildir_begin(&md, maildir, "host", &err), 0);
    const char msg[] = "Subject: x\n\nbody\0with nul\n";
    assert_int_equal(maildir_write(&md, msg, sizeof(msg) - 1, &err), 0);
    assert_int_equal(maildir_commit(&md, &err), 0);
    size_t len;
    char *got = read_file(md.final_path.s, &len);
    assert_int_equal(len, sizeof(msg) - 1);
    assert_memory_equal(got, msg, len);
    free(got);
    assert_non_null(strstr(md.final_path.s, "/new/"));
    maildir_end(&md);
    snprintf(sub, sizeof(sub), "%s/Maildir/tmp", tmpdir);
    assert_int_equal(count_entries(sub), 0);
    snprintf(sub, sizeof(sub), "%s/Maildir/new", tmpdir);
    assert_int_equal(count_entries(sub), 1);
    snprintf(sub, sizeof(sub), "%s/Maildir/cur", tmpdir);
    assert_int_equal(count_entries(sub), 0);

    /* A second delivery never replaces the first. */
    assert_int_equal(maildir_begin(&md, maildir, "host", &err), 0);
    assert_int_equal(maildir_write(&md, "x\n", 2, &err), 0);
    assert_int_equal(maildir_commit(&md, &err), 0);
    maildir_end(&md);
    snprintf(sub, sizeof(sub), "%s/Maildir/new", tmpdir);
    assert_int_equal(count_entries(sub), 2);
    strbuf_release(&err);
}

/* local(8)'s batches (the steps of mailbox_maildir.h) in `maildir`: three
 * files written, their data made durable together, then each moved into
 * new/; nothing is in new/ before. */
static void batch_steps(const char *maildir, bool sync_after_rename)
{
    char sub[256];
    struct maildir_delivery md[3];
    int fds[4], errs[4];
    strbuf err = STRBUF_INIT;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(maildir_begin(&md[i], maildir, "host", &err), 0);
        assert_int_equal(md[i].sync_after_rename, sync_after_rename);
        assert_int_equal(maildir_write(&md[i], "m\n", 2, &err), 0);
        assert_int_equal(maildir_finish_write(&md[i], &err), 0);
        fds[i] = md[i].fd;
    }
    snprintf(sub, sizeof(sub), "%s/new", maildir);
    assert_int_equal(count_entries(sub), 0);
    snprintf(sub, sizeof(sub), "%s/tmp", maildir);
    assert_int_equal(count_entries(sub), 3);
    for (int i = 0; i < 3 && sync_after_rename; i++)
        assert_int_equal(maildir_write_out(&md[i], &err), 0);
    if (!sync_after_rename) {
        assert_int_equal(fsync_all(fds, 3, errs), 0);
        for (int i = 0; i < 3; i++)
            assert_int_equal(errs[i], 0);
    }
    for (int i = 0; i < 3; i++) {
        assert_int_equal(maildir_publish(&md[i], &err), 0);
        /* Open still where it is fsynced after the rename. */
        assert_int_equal(md[i].fd >= 0, sync_after_rename);
    }
    if (sync_after_rename) {
        assert_int_equal(fsync_all(fds, 3, errs), 0);
        /* One bad descriptor fails alone; the others are still synced. */
        fds[3] = fds[2];
        fds[2] = 9999;
        assert_int_equal(fsync_all(fds, 4, errs), -1);
        assert_int_equal(errs[0], 0);
        assert_int_equal(errs[2], EBADF);
        assert_int_equal(errs[3], 0);
        assert_int_equal(fsync_all(fds, 0, errs), 0);
    } else {
        snprintf(sub, sizeof(sub), "%s/new", maildir);
        assert_int_equal(fsync_dir(sub), 0);
    }
    for (int i = 0; i < 3; i++)
        maildir_end(&md[i]);
    snprintf(sub, sizeof(sub), "%s/tmp", maildir);
    assert_int_equal(count_entries(sub), 0);
    snprintf(sub, sizeof(sub), "%s/new", maildir);
    assert_int_equal(count_entries(sub), 3);
    strbuf_release(&err);
}

/* Where the tests run (sync_after_rename as fsync_covers_new_entry says),
 * and on a tmpfs, whose fsync does not cover a rename: fsync first, then
 * new/ fsynced after the renames. */
static void maildir_batch_steps(void **state)
{
    (void)state;
    char maildir[256];
    snprintf(maildir, sizeof(maildir), "%s/MB", tmpdir);
    struct stat st;
    assert_int_equal(stat(tmpdir, &st), 0);
    batch_steps(maildir, fsync_covers_new_entry(st.st_dev));
    if (geteuid() != 0)
        return;
    char mnt[128];
    snprintf(mnt, sizeof(mnt), "%s/batch-tmpfs", tmpdir);
    assert_int_equal(mkdir(mnt, 0700), 0);
    if (mount("tmpfs", mnt, "tmpfs", 0, "size=1m") < 0)
        return;
    snprintf(maildir, sizeof(maildir), "%s/MB", mnt);
    batch_steps(maildir, false);
    /* And one message alone, maildir_commit's own order. */
    struct maildir_delivery md;
    strbuf err = STRBUF_INIT;
    assert_int_equal(maildir_begin(&md, maildir, "host", &err), 0);
    assert_int_equal(maildir_write(&md, "x\n", 2, &err), 0);
    assert_int_equal(maildir_commit(&md, &err), 0);
    maildir_end(&md);
    strbuf_release(&err);
    assert_int_equal(umount(mnt), 0);
}

/* local(8) names files after the machine, as Postfix's get_hostname(). */
static void maildir_local_hostname_is_the_machine(void **state)
{
    (void)state;
    char name[256] = "";
    assert_int_equal(gethostname(name, sizeof(name) - 1), 0);
    assert_string_equal(maildir_local_hostname(), name);
}

static void maildir_names_carry_the_whole_host_name(void **state)
{
    char maildir[128];
    snprintf(maildir, sizeof(maildir), "%s/M3", tmpdir);
    struct maildir_delivery md;
    strbuf err = STRBUF_INIT;
    assert_int_equal(maildir_begin(&md, maildir, "mx.lt01.am:2/x", &err), 0);
    assert_int_equal(maildir_write(&md, "x\n", 2, &err), 0);
    assert_int_equal(maildir_commit(&md, &err), 0);
    const char *name = strrchr(md.final_path.s, '/') + 1;
    const char *suffix = ".mx.lt01.am\\0722\\057x";
    assert_true(strlen(name) > strlen(suffix));
    assert_string_equal(name + strlen(name) - strlen(suffix), suffix);
    maildir_end(&md);
    strbuf_release(&err);
}

static void maildir_abandoned_leaves_nothing(void **state)
{
    char maildir[128], sub[160];
    snprintf(maildir, sizeof(maildir), "%s/M2", tmpdir);
    struct maildir_delivery md;
    strbuf err = STRBUF_INIT;
    assert_int_equal(maildir_begin(&md, maildir, "host", &err), 0);
    assert_int_equal(maildir_write(&md, "partial", 7, &err), 0);
    maildir_end(&md);
    maildir_end(&md);
    snprintf(sub, sizeof(sub), "%s/tmp", maildir);
    assert_int_equal(count_entries(sub), 0);
    snprintf(sub, sizeof(sub), "%s/new", maildir);
    assert_int_equal(count_entries(sub), 0);
    strbuf_release(&err);
}

static void maildir_unwritable_fails(void **state)
{
    char maildir[128];
    snprintf(maildir, sizeof(maildir), "%s/file-not-dir", tmpdir);
    FILE *fp = fopen(maildir, "w");
    fclose(fp);
    struct maildir_delivery md;
    strbuf err = STRBUF_INIT;
    assert_int_equal(maildir_begin(&md, maildir, "host", &err), -1);
    assert_non_null(strstr(err.s, maildir));
    maildir_end(&md);
    strbuf_release(&err);
}

static void maildir_disk_full_fails_cleanly(void **state)
{
    if (geteuid() != 0) {
        skip();
        return;
    }
    char mnt[128], maildir[160], sub[192];
    snprintf(mnt, sizeof(mnt), "%s/small", tmpdir);
    assert_int_equal(mkdir(mnt, 0700), 0);
    if (mount("tmpfs", mnt, "tmpfs", 0, "size=64k") < 0) {
        skip();
        return;
    }
    snprintf(maildir, sizeof(maildir), "%s/Maildir", mnt);
    struct maildir_delivery md;
    strbuf err = STRBUF_INIT;
    char block[8192];
    memset(block, 'x', sizeof(block));
    assert_int_equal(maildir_begin(&md, maildir, "host", &err), 0);
    int ret = 0;
    for (int i = 0; i < 100 && ret == 0; i++)
        ret = maildir_write(&md, block, sizeof(block), &err);
    if (ret == 0)
        ret = maildir_commit(&md, &err);
    int saved = errno;
    assert_int_equal(ret, -1);
    assert_int_equal(saved, ENOSPC);
    maildir_end(&md);
    snprintf(sub, sizeof(sub), "%s/tmp", maildir);
    assert_int_equal(count_entries(sub), 0);
    snprintf(sub, sizeof(sub), "%s/new", maildir);
    assert_int_equal(count_entries(sub), 0);
    umount(mnt);
    strbuf_release(&err);
}

/* maildir_set_size_limit: exactly `limit` bytes fit, one more fails with
 * EFBIG (what RLIMIT_FSIZE did) and leaves no file behind. */
static void maildir_size_limit(void **state)
{
    char maildir[128], sub[160];
    snprintf(maildir, sizeof(maildir), "%s/Limited", tmpdir);
    snprintf(sub, sizeof(sub), "%s/Limited/tmp", tmpdir);
    struct maildir_delivery md;
    strbuf err = STRBUF_INIT;
    assert_int_equal(maildir_begin(&md, maildir, "host", &err), 0);
    maildir_set_size_limit(&md, 10);
    assert_int_equal(maildir_write(&md, "12345", 5, &err), 0);
    assert_int_equal(maildir_write(&md, "67890", 5, &err), 0);
    assert_int_equal(maildir_commit(&md, &err), 0);
    maildir_end(&md);

    strbuf_reset(&err);
    assert_int_equal(maildir_begin(&md, maildir, "host", &err), 0);
    maildir_set_size_limit(&md, 10);
    assert_int_equal(maildir_write(&md, "12345", 5, &err), 0);
    errno = 0;
    assert_int_equal(maildir_write(&md, "678901", 6, &err), -1);
    assert_int_equal(errno, EFBIG);
    assert_non_null(strstr(err.s, "File too large"));
    maildir_end(&md);
    assert_int_equal(count_entries(sub), 0);
    snprintf(sub, sizeof(sub), "%s/Limited/new", tmpdir);
    assert_int_equal(count_entries(sub), 1);
    strbuf_release(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(maildir_delivers_into_new),
        cmocka_unit_test(maildir_batch_steps),
        cmocka_unit_test(maildir_local_hostname_is_the_machine),
        cmocka_unit_test(maildir_names_carry_the_whole_host_name),
        cmocka_unit_test(maildir_abandoned_leaves_nothing),
        cmocka_unit_test(maildir_unwritable_fails),
        cmocka_unit_test(maildir_disk_full_fails_cleanly),
        cmocka_unit_test(maildir_size_limit),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
