/* Unit tests: mailbox_mbox (locked appends, From quoting, truncation on
 * failure, refusal of links, FIFOs and foreign owners). */
#include <setjmp.h>
#include <stdarg.h>
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

#include "mail_copy.h"
#include "mailbox_mbox.h"

#include "mailbox_test_files.h"

static void mbox_appends_escapes_and_separates(void **state)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/mbox", tmpdir);
    strbuf err = STRBUF_INIT, from = STRBUF_INIT;
    int methods;
    assert_int_equal(mbox_lock_methods_parse("fcntl, dotlock", &methods, &err), 0);
    assert_int_equal(methods, MBOX_LOCK_FCNTL | MBOX_LOCK_DOTLOCK);
    for (int round = 0; round < 2; round++) {
        struct mbox_delivery mb;
        assert_int_equal(mbox_begin(&mb, path, methods, (uid_t)-1, &err), 0);
        strbuf_reset(&from);
        mail_copy_from_line(&from, "", 0);
        assert_int_equal(mbox_write(&mb, from.s, from.len, &err), 0);
        assert_int_equal(mbox_write_line(&mb, "Subject: s", 10, &err), 0);
        assert_int_equal(mbox_write_line(&mb, "", 0, &err), 0);
        assert_int_equal(mbox_write_line(&mb, "From me", 7, &err), 0);
        assert_int_equal(mbox_commit(&mb, &err), 0);
        mbox_end(&mb);
    }
    size_t len;
    char *got = read_file(path, &len);
    assert_non_null(strstr(got, "From MAILER-DAEMON  "));
    assert_non_null(strstr(got, "\n>From me\n\nFrom MAILER-DAEMON"));
    assert_int_equal(got[len - 1], '\n');
    assert_int_equal(got[len - 2], '\n');
    free(got);
    char lock[160];
    snprintf(lock, sizeof(lock), "%s.lock", path);
    assert_int_equal(access(lock, F_OK), -1);
    assert_int_equal(mbox_lock_methods_parse("fcntl, bogus", &methods, &err), -1);
    strbuf_release(&err);
    strbuf_release(&from);
}

static void mbox_uncommitted_is_truncated(void **state)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/mbox2", tmpdir);
    FILE *fp = fopen(path, "w");
    fputs("From x  Thu Jan  1 00:00:00 1970\nold\n\n", fp);
    fclose(fp);
    struct stat before, after;
    stat(path, &before);
    strbuf err = STRBUF_INIT;
    struct mbox_delivery mb;
    assert_int_equal(mbox_begin(&mb, path, MBOX_LOCK_FCNTL, (uid_t)-1, &err), 0);
    for (int i = 0; i < 20000; i++)
        assert_int_equal(mbox_write_line(&mb, "some partial line", 17, &err), 0);
    mbox_end(&mb);
    stat(path, &after);
    assert_int_equal(before.st_size, after.st_size);
    strbuf_release(&err);
}

static void mbox_refuses_symlink(void **state)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/link", tmpdir);
    assert_int_equal(symlink("/etc/passwd", path), 0);
    strbuf err = STRBUF_INIT;
    struct mbox_delivery mb;
    assert_int_equal(mbox_begin(&mb, path, MBOX_LOCK_FCNTL, (uid_t)-1, &err), -1);
    mbox_end(&mb);
    strbuf_release(&err);
}

static void mbox_refuses_hard_link_and_wrong_owner(void **state)
{
    char target[128], path[128];
    snprintf(target, sizeof(target), "%s/secret", tmpdir);
    snprintf(path, sizeof(path), "%s/linked-mbox", tmpdir);
    FILE *fp = fopen(target, "w");
    fputs("secret\n", fp);
    fclose(fp);
    assert_int_equal(link(target, path), 0);
    strbuf err = STRBUF_INIT;
    struct mbox_delivery mb;
    assert_int_equal(mbox_begin(&mb, path, MBOX_LOCK_FCNTL, (uid_t)-1, &err), -1);
    assert_int_equal(errno, EPERM);
    assert_non_null(strstr(err.s, "hard links"));
    mbox_end(&mb);
    unlink(path);
    struct stat st;
    assert_int_equal(stat(target, &st), 0);
    assert_int_equal(st.st_size, 7); /* nothing appended */
    /* One link now, but the wrong owner. */
    strbuf_reset(&err);
    assert_int_equal(mbox_begin(&mb, target, MBOX_LOCK_FCNTL, st.st_uid + 1, &err), -1);
    assert_non_null(strstr(err.s, "owned by"));
    mbox_end(&mb);
    strbuf_reset(&err);
    assert_int_equal(mbox_begin(&mb, target, MBOX_LOCK_FCNTL, st.st_uid, &err), 0);
    mbox_end(&mb);
    /* A FIFO is refused without blocking. */
    char fifo[128];
    snprintf(fifo, sizeof(fifo), "%s/fifo-mbox", tmpdir);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    strbuf_reset(&err);
    assert_int_equal(mbox_begin(&mb, fifo, MBOX_LOCK_FCNTL, (uid_t)-1, &err), -1);
    mbox_end(&mb);
    strbuf_release(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(mbox_appends_escapes_and_separates),
        cmocka_unit_test(mbox_uncommitted_is_truncated),
        cmocka_unit_test(mbox_refuses_symlink),
        cmocka_unit_test(mbox_refuses_hard_link_and_wrong_owner),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
