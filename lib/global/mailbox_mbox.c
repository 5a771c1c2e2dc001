/* mailbox_mbox - locked mbox appends (see the header). */
#include "mailbox_mbox.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "strlist.h"

#define MBOX_FLUSH_SIZE 65536
#define LOCK_WAIT_SECONDS 30   /* give up (temporary failure) after this */
#define STALE_LOCK_SECONDS 500 /* a dotlock older than this is abandoned */

int mbox_lock_methods_parse(const char *value, int *methods, strbuf *err)
{
    strlist names = STRLIST_INIT;
    strlist_split(&names, value, ", \t\r\n", NULL);
    *methods = 0;
    int ret = 0;
    for (size_t i = 0; i < names.n && ret == 0; i++) {
        if (strcmp(names.v[i], "fcntl") == 0)
            *methods |= MBOX_LOCK_FCNTL;
        else if (strcmp(names.v[i], "flock") == 0)
            *methods |= MBOX_LOCK_FLOCK;
        else if (strcmp(names.v[i], "dotlock") == 0)
            *methods |= MBOX_LOCK_DOTLOCK;
        else {
            strbuf_printf(err, "unknown mailbox lock method: %s", names.v[i]);
            ret = -1;
        }
    }
    strlist_release(&names);
    return ret;
}

static int fail(strbuf *err, const char *what, const char *path)
{
    int saved = errno;
    strbuf_printf(err, "%s %s: %s", what, path, strerror(saved));
    errno = saved;
    return -1;
}

static int take_dotlock(struct mbox_delivery *mb, strbuf *err)
{
    strbuf_printf(&mb->lock_path, "%s.lock", mb->path.s);
    for (int waited = 0;; waited++) {
        int fd = open(mb->lock_path.s, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd >= 0) {
            close(fd);
            mb->dotlocked = true;
            return 0;
        }
        if (errno != EEXIST)
            return fail(err, "create lock file", mb->lock_path.s);
        struct stat st;
        if (stat(mb->lock_path.s, &st) == 0 && time(NULL) - st.st_mtime > STALE_LOCK_SECONDS) {
            /* A crashed writer's lock: remove it and try again at once. */
            unlink(mb->lock_path.s);
            continue;
        }
        if (waited >= LOCK_WAIT_SECONDS) {
            errno = EAGAIN;
            return fail(err, "lock file busy:", mb->lock_path.s);
        }
        sleep(1);
    }
}

static int take_kernel_locks(struct mbox_delivery *mb, int methods, strbuf *err)
{
    for (int waited = 0;; waited++) {
        int busy = 0;
        if (methods & MBOX_LOCK_FCNTL) {
            struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
            if (fcntl(mb->fd, F_SETLK, &fl) < 0) {
                if (errno != EACCES && errno != EAGAIN)
                    return fail(err, "fcntl lock", mb->path.s);
                busy = 1;
            }
        }
        if (!busy && (methods & MBOX_LOCK_FLOCK) && flock(mb->fd, LOCK_EX | LOCK_NB) < 0) {
            if (errno != EWOULDBLOCK)
                return fail(err, "flock", mb->path.s);
            busy = 1;
        }
        if (!busy)
            return 0;
        if (waited >= LOCK_WAIT_SECONDS) {
            errno = EAGAIN;
            return fail(err, "mailbox locked:", mb->path.s);
        }
        sleep(1);
    }
}

/* Open the mailbox for appending without being led elsewhere: what
 * lstat saw before the open must be what fstat sees after it (same
 * device and inode: no symlink or rename swapped in between), a regular
 * file with one link (a hard link to another file would append there)
 * and, when `owner` is not -1, owned by it. A new file is created with
 * O_EXCL, so nothing can be in its place. */
static int open_checked(struct mbox_delivery *mb, const char *path, uid_t owner, strbuf *err)
{
    struct stat before, after;
    bool existed = lstat(path, &before) == 0;
    if (!existed && errno != ENOENT)
        return fail(err, "lstat mailbox", path);
    if (existed && !S_ISREG(before.st_mode)) {
        errno = EPERM;
        return fail(err, "not a regular file:", path);
    }
    int flags = O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK;
    mb->fd = open(path, existed ? flags : flags | O_CREAT | O_EXCL, 0600);
    if (mb->fd < 0)
        return fail(err, "open mailbox", path);
    if (fstat(mb->fd, &after) < 0)
        return fail(err, "fstat mailbox", path);
    if (existed && (after.st_dev != before.st_dev || after.st_ino != before.st_ino)) {
        errno = EPERM;
        return fail(err, "mailbox was replaced while opening:", path);
    }
    if (!S_ISREG(after.st_mode)) {
        errno = EPERM;
        return fail(err, "not a regular file:", path);
    }
    if (after.st_nlink != 1) {
        errno = EPERM;
        strbuf_printf(err, "mailbox %s has %ju hard links", path, (uintmax_t)after.st_nlink);
        return -1;
    }
    if (owner != (uid_t)-1 && after.st_uid != owner) {
        errno = EPERM;
        strbuf_printf(err, "mailbox %s is owned by uid %ld, not %ld", path, (long)after.st_uid,
                      (long)owner);
        return -1;
    }
    return 0;
}

int mbox_begin(struct mbox_delivery *mb, const char *path, int lock_methods, uid_t owner,
               strbuf *err)
{
    memset(mb, 0, sizeof(*mb));
    mb->fd = -1;
    mb->committed = true; /* nothing to undo until the file is open */
    strbuf_puts(&mb->path, path);
    if ((lock_methods & MBOX_LOCK_DOTLOCK) && take_dotlock(mb, err) < 0)
        return -1;
    if (open_checked(mb, path, owner, err) < 0)
        return -1;
    if (take_kernel_locks(mb, lock_methods, err) < 0)
        return -1;
    /* Size after locking: another writer may have appended meanwhile. */
    struct stat st;
    if (fstat(mb->fd, &st) < 0)
        return fail(err, "fstat mailbox", path);
    mb->orig_size = st.st_size;
    mb->committed = false;
    return 0;
}

static int flush_buffer(struct mbox_delivery *mb, strbuf *err)
{
    if (mb->buffer.len && write_all(mb->fd, mb->buffer.s, mb->buffer.len) < 0)
        return fail(err, "write mailbox", mb->path.s);
    strbuf_reset(&mb->buffer);
    return 0;
}

int mbox_write(struct mbox_delivery *mb, const void *data, size_t len, strbuf *err)
{
    strbuf_append(&mb->buffer, data, len);
    return mb->buffer.len >= MBOX_FLUSH_SIZE ? flush_buffer(mb, err) : 0;
}

int mbox_write_line(struct mbox_delivery *mb, const char *line, size_t len, strbuf *err)
{
    if (len >= 5 && memcmp(line, "From ", 5) == 0)
        strbuf_putc(&mb->buffer, '>');
    strbuf_append(&mb->buffer, line, len);
    strbuf_putc(&mb->buffer, '\n');
    return mb->buffer.len >= MBOX_FLUSH_SIZE ? flush_buffer(mb, err) : 0;
}

int mbox_commit(struct mbox_delivery *mb, strbuf *err)
{
    strbuf_putc(&mb->buffer, '\n');
    if (flush_buffer(mb, err) < 0)
        return -1;
    if (fsync(mb->fd) < 0)
        return fail(err, "fsync mailbox", mb->path.s);
    mb->committed = true;
    return 0;
}

void mbox_end(struct mbox_delivery *mb)
{
    if (mb->fd >= 0) {
        if (!mb->committed && ftruncate(mb->fd, mb->orig_size) == 0)
            fsync(mb->fd);
        close(mb->fd); /* releases fcntl and flock locks */
        mb->fd = -1;
    }
    if (mb->dotlocked) {
        unlink(mb->lock_path.s);
        mb->dotlocked = false;
    }
    strbuf_release(&mb->path);
    strbuf_release(&mb->lock_path);
    strbuf_release(&mb->buffer);
}
