/* mailbox_maildir - Maildir delivery (see the header). */
#include "mailbox_maildir.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "fsutil.h"
#include "msg.h"

/* Large enough that a typical message is one write(2), small enough that a
 * huge one never sits in memory. */
#define MAILDIR_FLUSH_SIZE 65536

static int fail(struct maildir_delivery *md, strbuf *err, const char *what, const char *path)
{
    int saved = errno;
    strbuf_printf(err, "%s %s: %s", what, path, strerror(saved));
    maildir_end(md);
    errno = saved;
    return -1;
}

static int ensure_subdirs(struct maildir_delivery *md, strbuf *err)
{
    static const char *const subdirs[] = {"tmp", "new", "cur"};
    strbuf path = STRBUF_INIT;
    for (size_t i = 0; i < 3; i++) {
        strbuf_reset(&path);
        strbuf_printf(&path, "%s/%s", md->dir.s, subdirs[i]);
        if (mkdir_p(path.s, 0700) < 0) {
            int saved = errno;
            strbuf_printf(err, "create maildir directory %s: %s", path.s, strerror(saved));
            strbuf_release(&path);
            errno = saved;
            return -1;
        }
    }
    strbuf_release(&path);
    return 0;
}

/* rename(2) that never replaces; 0 or -1 with errno (EEXIST: name taken).
 * Without RENAME_NOREPLACE support: link + unlink, which fails the same way. */
static int move_noreplace(const char *from, const char *to)
{
    if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0)
        return 0;
    if (errno != EINVAL && errno != ENOSYS)
        return -1;
    if (link(from, to) < 0)
        return -1;
    if (unlink(from) < 0 && errno != ENOENT) {
        /* Delivered twice under two names is better than not at all, but
         * report it: the tmp name would be left behind. */
        return -1;
    }
    return 0;
}

int maildir_begin(struct maildir_delivery *md, const char *maildir, const char *hostname,
                  strbuf *err)
{
    memset(md, 0, sizeof(*md));
    md->fd = -1;
    strbuf_puts(&md->dir, maildir);
    /* Maildir names may not contain '/' or ':' (the info separator);
     * Dovecot and Courier escape them as \057 and \072. */
    for (const char *h = hostname; *h; h++) {
        if (*h == '/')
            strbuf_puts(&md->host, "\\057");
        else if (*h == ':')
            strbuf_puts(&md->host, "\\072");
        else
            strbuf_putc(&md->host, *h);
    }
    while (md->dir.len > 1 && md->dir.s[md->dir.len - 1] == '/')
        strbuf_truncate(&md->dir, md->dir.len - 1);
    /* The directories are made only when the file cannot be created (as
     * Postfix does): checking them on every delivery cost 12 failing
     * mkdir(2) calls per message. */
    bool made_dirs = false;
    static unsigned counter;
    for (int attempt = 0; attempt < 100; attempt++) {
        struct timeval tv;
        gettimeofday(&tv, NULL);
        strbuf_reset(&md->tmp_path);
        strbuf_printf(&md->tmp_path, "%s/tmp/%lld.P%ldQ%u.%s", md->dir.s, (long long)tv.tv_sec,
                      msg_pid(), counter++, md->host.s);
        md->fd = open(md->tmp_path.s, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (md->fd >= 0) {
            /* The device and inode name the file in new/; the device's
             * file system decides the order of rename and fsync. */
            struct stat st;
            if (fstat(md->fd, &st) < 0)
                return fail(md, err, "fstat maildir file", md->tmp_path.s);
            md->dev = st.st_dev;
            md->ino = st.st_ino;
            md->sync_after_rename = fsync_covers_new_entry(st.st_dev);
            return 0;
        }
        if (errno == ENOENT && !made_dirs) {
            made_dirs = true;
            if (ensure_subdirs(md, err) < 0) {
                int saved = errno;
                strbuf_reset(&md->tmp_path);
                maildir_end(md);
                errno = saved;
                return -1;
            }
            continue;
        }
        if (errno != EEXIST)
            break;
    }
    strbuf_reset(&md->tmp_path);
    return fail(md, err, "create maildir file in", md->dir.s);
}

static int flush_buffer(struct maildir_delivery *md)
{
    if (md->buffer.len == 0)
        return 0;
    if (write_all(md->fd, md->buffer.s, md->buffer.len) < 0)
        return -1;
    strbuf_reset(&md->buffer);
    return 0;
}

void maildir_set_size_limit(struct maildir_delivery *md, long long limit)
{
    md->size_limit = limit;
}

int maildir_write(struct maildir_delivery *md, const void *data, size_t len, strbuf *err)
{
    if (md->size_limit > 0 && (long long)len > md->size_limit - md->size) {
        errno = EFBIG;
        return fail(md, err, "write maildir file", md->tmp_path.s);
    }
    md->size += (long long)len;
    strbuf_append(&md->buffer, data, len);
    if (md->buffer.len >= MAILDIR_FLUSH_SIZE && flush_buffer(md) < 0)
        return fail(md, err, "write maildir file", md->tmp_path.s);
    return 0;
}

int maildir_finish_write(struct maildir_delivery *md, strbuf *err)
{
    if (flush_buffer(md) < 0)
        return fail(md, err, "write maildir file", md->tmp_path.s);
    return 0;
}

void maildir_start_write_out(struct maildir_delivery *md)
{
    /* Errors show again in maildir_write_out's wait. */
    if (md->sync_after_rename && md->fd >= 0)
        (void)sync_file_range(md->fd, 0, 0, SYNC_FILE_RANGE_WRITE);
}

int maildir_write_out(struct maildir_delivery *md, strbuf *err)
{
    /* Data to the disk and its blocks allocated, but no journal commit:
     * the fsync after the rename makes one commit of all of it. */
    if (sync_file_range(md->fd, 0, 0,
                        SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
                            SYNC_FILE_RANGE_WAIT_AFTER) < 0)
        return fail(md, err, "write out maildir file", md->tmp_path.s);
    return 0;
}

int maildir_publish(struct maildir_delivery *md, strbuf *err)
{
    if (!md->sync_after_rename) {
        /* Fsynced already; NFS reports deferred write errors only at the
         * close, which must come before the file counts as delivered. */
        int fd = md->fd;
        md->fd = -1;
        if (close(fd) < 0)
            return fail(md, err, "close maildir file", md->tmp_path.s);
    }

    bool made_dirs = false;
    for (int attempt = 0; attempt < 100; attempt++) {
        struct timeval tv;
        gettimeofday(&tv, NULL);
        strbuf_reset(&md->final_path);
        strbuf_printf(&md->final_path, "%s/new/%lld.V%llxI%llxM%ld.%s", md->dir.s,
                      (long long)tv.tv_sec, (unsigned long long)md->dev,
                      (unsigned long long)md->ino, (long)tv.tv_usec, md->host.s);
        /* Never replace an existing message that happened to have the same
         * name: rename with RENAME_NOREPLACE (one directory operation less
         * than link + unlink), or link + unlink where the file system
         * lacks it. new/ or cur/ missing: make them once, as Postfix. */
        int rc = move_noreplace(md->tmp_path.s, md->final_path.s);
        if (rc < 0 && errno == ENOENT && !made_dirs) {
            made_dirs = true;
            if (ensure_subdirs(md, err) < 0)
                return fail(md, err, "create maildir directories in", md->dir.s);
            rc = move_noreplace(md->tmp_path.s, md->final_path.s);
        }
        if (rc == 0)
            break;
        if (errno != EEXIST || attempt == 99)
            return fail(md, err, "move maildir file to", md->final_path.s);
    }
    strbuf_reset(&md->tmp_path);
    strbuf_release(&md->buffer);
    return 0;
}

int maildir_commit(struct maildir_delivery *md, strbuf *err)
{
    if (maildir_finish_write(md, err) < 0)
        return -1;
    if (md->sync_after_rename) {
        if (maildir_write_out(md, err) < 0 || maildir_publish(md, err) < 0)
            return -1;
        if (fsync(md->fd) < 0) {
            /* In new/ but not provably durable: report failure (a retry
             * may duplicate, never lose). */
            return fail(md, err, "fsync maildir file", md->final_path.s);
        }
        return 0;
    }
    if (fsync(md->fd) < 0)
        return fail(md, err, "fsync maildir file", md->tmp_path.s);
    if (maildir_publish(md, err) < 0)
        return -1;
    strbuf new_dir = STRBUF_INIT;
    strbuf_printf(&new_dir, "%s/new", md->dir.s);
    int ret = fsync_dir(new_dir.s);
    strbuf_release(&new_dir);
    if (ret < 0) {
        /* As above. */
        return fail(md, err, "fsync maildir directory", md->dir.s);
    }
    return 0;
}

void maildir_end(struct maildir_delivery *md)
{
    if (md->fd >= 0) {
        close(md->fd);
        md->fd = -1;
    }
    if (md->tmp_path.len > 0)
        unlink(md->tmp_path.s);
    strbuf_release(&md->tmp_path);
    strbuf_release(&md->buffer);
    strbuf_release(&md->dir);
    strbuf_release(&md->final_path);
    strbuf_release(&md->host);
}

const char *maildir_local_hostname(void)
{
    static char name[256];
    if (name[0] == 0) {
        /* Truncation leaves a usable (unique enough) name; an error falls
         * back to a fixed word rather than an empty component. */
        if (gethostname(name, sizeof(name) - 1) < 0 || name[0] == 0)
            snprintf(name, sizeof(name), "localhost");
        name[sizeof(name) - 1] = 0;
    }
    return name;
}
