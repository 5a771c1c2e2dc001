#include "queue_file.h"

#include "mail_queue.h"

#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "fsutil.h"
#include "mem.h"
#include "msg.h"
#include "queue_id.h"

#define IO_BUF_SIZE 65536

/* Segments, in file order; the writer and the reader share them. */
enum seg { SEG_SIZE, SEG_ENVELOPE, SEG_CONTENT, SEG_EXTRACT, SEG_DONE, SEG_ERROR };

/* Payload of a recipient record without its three strings. */
#define RCPT_FIXED_LEN (2 + 3 * 4)

static void put_u32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static uint32_t get_u32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static void put_u64(unsigned char *p, uint64_t v)
{
    put_u32(p, (uint32_t)(v >> 32));
    put_u32(p + 4, (uint32_t)v);
}

static uint64_t get_u64(const unsigned char *p)
{
    return (uint64_t)get_u32(p) << 32 | get_u32(p + 4);
}

static void encode_size(unsigned char *p, uint64_t magic, const struct queue_file_size *sz)
{
    put_u64(p, magic);
    put_u64(p + 8, sz->content_size);
    put_u64(p + 16, sz->content_offset);
    put_u64(p + 24, sz->rcpt_count);
    put_u64(p + 32, sz->flags);
    put_u64(p + 40, sz->warn_time);
}

/* Write all of buf at offset; a short pwrite on a regular file means the
 * next one reports why (ENOSPC, EFBIG), so loop rather than guess. */
static int pwrite_all(int fd, const void *buf, size_t n, off_t off)
{
    const char *p = buf;
    while (n > 0) {
        ssize_t w = pwrite(fd, p, n, off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (w == 0) {
            errno = EIO;
            return -1;
        }
        p += w;
        n -= (size_t)w;
        off += w;
    }
    return 0;
}

/* Like rename(2) but never replaces a file: losing a queued message to a
 * name collision would be silent mail loss. File systems without
 * RENAME_NOREPLACE get link+unlink, which fails the same way on EEXIST. */
static int rename_noreplace(int olddir, const char *oldname, int newdir, const char *newname)
{
    if (renameat2(olddir, oldname, newdir, newname, RENAME_NOREPLACE) == 0)
        return 0;
    if (errno != EINVAL && errno != ENOSYS)
        return -1;
    if (linkat(olddir, oldname, newdir, newname, 0) < 0)
        return -1;
    if (unlinkat(olddir, oldname, 0) < 0) {
        int saved = errno;
        (void)unlinkat(newdir, newname, 0);
        errno = saved;
        return -1;
    }
    return 0;
}

/* A directory handle for the *at() calls only. O_PATH needs no read
 * permission: postdrop (setgid, not the owner) may write into maildrop/
 * (mode 0730) but not read it. */
static int open_dir_handle(const char *path)
{
    return open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
}

/* fsync the directory `rel` below dirfd ("." for dirfd itself). Whoever may
 * not open it for reading (postdrop in maildrop/) cannot fsync it; then
 * syncfs() on the file just written (`file_fd`, if >= 0) makes the whole
 * file system, directory entry included, durable instead: slower, but
 * local submissions are rare and the promise is the same. */
static int fsync_dir_at(int dirfd, const char *rel, int file_fd)
{
    /* dirfd itself, when it was opened for reading: no second descriptor.
     * An O_PATH handle answers EBADF. */
    if (strcmp(rel, ".") == 0) {
        if (fsync(dirfd) == 0)
            return 0;
        if (errno != EBADF)
            return -1;
    }
    int fd = openat(dirfd, rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == EACCES && file_fd >= 0)
            return syncfs(file_fd);
        return -1;
    }
    if (fsync(fd) < 0) {
        int saved = errno;
        (void)close(fd);
        errno = saved;
        return -1;
    }
    return close(fd);
}

/* fsync the hash levels of `rel` from the leaf up, then dirfd itself. */
static int fsync_hash_levels(int dirfd, const char *rel, int file_fd)
{
    strbuf prefix = STRBUF_INIT;
    strbuf_puts(&prefix, rel);
    int ret = 0;
    while (prefix.len > 0) {
        if (fsync_dir_at(dirfd, strbuf_str(&prefix), file_fd) < 0) {
            ret = -1;
            break;
        }
        /* Drop the last "c/". */
        strbuf_truncate(&prefix, prefix.len - 1);
        char *slash = strrchr(prefix.s, '/');
        strbuf_truncate(&prefix, slash ? (size_t)(slash - prefix.s) + 1 : 0);
    }
    strbuf_release(&prefix);
    if (ret == 0 && fsync_dir_at(dirfd, ".", file_fd) < 0)
        ret = -1;
    return ret;
}

bool queue_name_valid(const char *name)
{
    size_t n = 0;
    for (; name[n]; n++)
        if (!((name[n] >= 'a' && name[n] <= 'z') || (name[n] >= 'A' && name[n] <= 'Z') ||
              (name[n] >= '0' && name[n] <= '9')) ||
            n >= 100)
            return false;
    return n > 0;
}

/* ======================================================================
 * Writer
 * ====================================================================== */

struct queue_file {
    int dirfd; /* <queue_dir>/<queue> */
    int fd;
    strbuf id;
    strbuf rel;  /* hash directories + id, relative to dirfd */
    strbuf hash; /* "A/B/" or "" */
    strbuf path; /* full path, for logs */
    struct timeval ctime;
    size_t limit;
    unsigned char *buf;
    size_t buf_len;
    off_t offset; /* file offset of the next byte written */
    enum seg seg;
    bool have_time, have_sender, have_fullname;
    bool in_part; /* the last content record was a PART */
    struct queue_file_size size;
    int error; /* errno of the first failure; 0 = none */
    strbuf reason;
    mode_t extra_mode; /* read bits added at commit (maildrop files) */
    dev_t dev;         /* the file system the file is on */
};

static int qf_fail(queue_file *qf, int err, const char *what)
{
    if (qf->error == 0) {
        qf->error = err ? err : EIO;
        strbuf_reset(&qf->reason);
        strbuf_printf(&qf->reason, "%s %s: %s", what, strbuf_str(&qf->path), strerror(qf->error));
    }
    errno = qf->error;
    return -1;
}

static int qf_flush(queue_file *qf)
{
    if (qf->error)
        return -1;
    if (qf->buf_len > 0 && write_all(qf->fd, qf->buf, qf->buf_len) < 0)
        return qf_fail(qf, errno, "write queue file");
    qf->buf_len = 0;
    return 0;
}

static int qf_bytes(queue_file *qf, const void *data, size_t n)
{
    if (qf->error)
        return -1;
    if (n > IO_BUF_SIZE - qf->buf_len && qf_flush(qf) < 0)
        return -1;
    if (n >= IO_BUF_SIZE) {
        if (write_all(qf->fd, data, n) < 0)
            return qf_fail(qf, errno, "write queue file");
    } else if (n > 0) {
        memcpy(qf->buf + qf->buf_len, data, n);
        qf->buf_len += n;
    }
    qf->offset += (off_t)n;
    return 0;
}

/* A record whose payload is the concatenation of up to three parts. */
static int qf_record(queue_file *qf, int type, const void *p1, size_t n1, const void *p2, size_t n2,
                     const void *p3, size_t n3)
{
    if (qf->error)
        return -1;
    bool overflow = n1 > SIZE_MAX - n2 || n1 + n2 > SIZE_MAX - n3;
    size_t len = overflow ? SIZE_MAX : n1 + n2 + n3;
    if (len > qf->limit) {
        char what[128];
        snprintf(what, sizeof(what), "record '%c' of %zu bytes over limit %zu in", type, len,
                 qf->limit);
        return qf_fail(qf, EMSGSIZE, what);
    }
    unsigned char hdr[QF_HDR_LEN];
    hdr[0] = (unsigned char)type;
    put_u32(hdr + 1, (uint32_t)len);
    if (qf_bytes(qf, hdr, sizeof(hdr)) < 0 || qf_bytes(qf, p1, n1) < 0 ||
        qf_bytes(qf, p2, n2) < 0 || qf_bytes(qf, p3, n3) < 0)
        return -1;
    return 0;
}

static void qf_free(queue_file *qf)
{
    if (qf->fd >= 0 && close(qf->fd) < 0)
        msg_warn("close %s: %m", strbuf_str(&qf->path));
    if (qf->dirfd >= 0 && close(qf->dirfd) < 0)
        msg_warn("close queue directory: %m");
    strbuf_release(&qf->id);
    strbuf_release(&qf->rel);
    strbuf_release(&qf->hash);
    strbuf_release(&qf->path);
    strbuf_release(&qf->reason);
    XFREE(qf->buf);
    free(qf);
}

static void qf_remove(queue_file *qf)
{
    if (unlinkat(qf->dirfd, strbuf_str(&qf->rel), 0) < 0 && errno != ENOENT)
        msg_warn("remove incomplete queue file %s: %m", strbuf_str(&qf->path));
}

queue_file *queue_file_create(const char *queue_dir, const char *queue, bool long_id,
                              size_t record_limit, strbuf *err)
{
    if (!queue_name_valid(queue) || record_limit < QF_MIN_RECORD_LIMIT || record_limit > UINT32_MAX)
        msg_panic("queue_file_create: bad arguments queue=\"%s\" limit=%zu", queue, record_limit);
    /* postdrop (maildrop/) never needs the hash settings, nor a warning
     * about names in them it cannot use. */
    int hash_depth = mail_queue_hashable(queue) ? mail_queue_depth(queue) : 0;

    queue_file *qf = xcalloc(1, sizeof(*qf));
    qf->fd = -1;
    qf->limit = record_limit;
    qf->seg = SEG_SIZE;
    strbuf dir = STRBUF_INIT, tmp = STRBUF_INIT;
    strbuf_printf(&dir, "%s/%s", queue_dir, queue);
    strbuf_set(&qf->path, strbuf_str(&dir));

    /* Readable where we may read it (cleanup in incoming/): the commit then
     * fsyncs this very descriptor instead of opening the directory again.
     * postdrop may not read maildrop/ (mode 0730): a handle only. */
    qf->dirfd = open(strbuf_str(&dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (qf->dirfd < 0 && errno == EACCES)
        qf->dirfd = open_dir_handle(strbuf_str(&dir));
    if (qf->dirfd < 0) {
        qf_fail(qf, errno, "open queue directory");
        goto fail;
    }

    /* A temporary name that is never a valid queue ID (it has '.'), so a
     * crash leftover is recognisable (see temp_name_pid). */
    struct stat st;
    for (int attempt = 0;; attempt++) {
        if (gettimeofday(&qf->ctime, NULL) < 0) {
            qf_fail(qf, errno, "gettimeofday for");
            goto fail;
        }
        strbuf_reset(&tmp);
        strbuf_printf(&tmp, "%ld.%ld.%d", (long)qf->ctime.tv_usec, (long)msg_pid(), attempt);
        qf->fd = openat(qf->dirfd, strbuf_str(&tmp),
                        O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (qf->fd >= 0) {
            /* The writer's lock (CRASH LEFTOVERS in the header): taken
             * before the file gets its queue ID, held until the close.
             * A purge scan may hold it for a moment between our create
             * and this lock (it judges the file, sees a live creator and
             * lets go), so wait rather than fail; should the scan have
             * removed the name meanwhile, take another one. */
            int locked;
            while ((locked = flock(qf->fd, LOCK_EX)) < 0 && errno == EINTR)
                ;
            if (locked < 0) {
                qf_fail(qf, errno, "lock new file in");
                goto fail_unlink_tmp;
            }
            if (fstat(qf->fd, &st) < 0) {
                qf_fail(qf, errno, "fstat");
                goto fail_unlink_tmp;
            }
            if (st.st_nlink == 0 && attempt < 100) {
                (void)close(qf->fd);
                qf->fd = -1;
                continue;
            }
            qf->dev = st.st_dev;
            break;
        }
        if (errno != EEXIST || attempt >= 100) {
            qf_fail(qf, errno, "create file in");
            goto fail;
        }
    }
    strbuf_printf(&qf->path, "/%s", strbuf_str(&tmp));

    /* The inode makes the ID unique among live files on this file system;
     * a collision means a stale link or a foreign file, so step the clock
     * part and try the next name rather than replace anything. */
    for (int attempt = 0;; attempt++) {
        queue_id_make(&qf->id, long_id, &qf->ctime, st.st_ino);
        strbuf_reset(&qf->hash);
        if (mail_queue_hash_dirs(&qf->hash, strbuf_str(&qf->id), hash_depth) < 0)
            msg_panic("queue_file_create: made invalid ID %s", strbuf_str(&qf->id));
        strbuf_set(&qf->rel, strbuf_str(&qf->hash));
        strbuf_puts(&qf->rel, strbuf_str(&qf->id));
        int created = 0;
        if (hash_depth > 0 &&
            mail_queue_make_hash_dirs(qf->dirfd, strbuf_str(&qf->hash), &created) < 0) {
            qf_fail(qf, errno, "create hash directory in");
            goto fail_unlink_tmp;
        }
        if (rename_noreplace(qf->dirfd, strbuf_str(&tmp), qf->dirfd, strbuf_str(&qf->rel)) == 0)
            break;
        if (errno != EEXIST || attempt >= 100) {
            qf_fail(qf, errno, "rename queue file");
            goto fail_unlink_tmp;
        }
        if (++qf->ctime.tv_usec > 999999) {
            qf->ctime.tv_usec = 0;
            qf->ctime.tv_sec++;
        }
    }
    strbuf_reset(&qf->path);
    strbuf_printf(&qf->path, "%s/%s", strbuf_str(&dir), strbuf_str(&qf->rel));

    /* The size record starts all-zero (no magic): a file that never reached
     * commit can never be mistaken for a valid one. */
    qf->buf = xmalloc(IO_BUF_SIZE);
    unsigned char zero[QF_SIZE_LEN] = {0};
    qf_record(qf, QF_REC_SIZE, zero, sizeof(zero), NULL, 0, NULL, 0);
    qf->seg = SEG_ENVELOPE;
    strbuf_release(&dir);
    strbuf_release(&tmp);
    return qf;

fail_unlink_tmp:
    if (unlinkat(qf->dirfd, strbuf_str(&tmp), 0) < 0 && errno != ENOENT)
        msg_warn("remove temporary queue file %s: %m", strbuf_str(&qf->path));
fail:
    if (err)
        strbuf_set(err, strbuf_str(&qf->reason));
    int saved = qf->error;
    qf_free(qf);
    strbuf_release(&dir);
    strbuf_release(&tmp);
    errno = saved;
    return NULL;
}

const char *queue_file_id(const queue_file *qf)
{
    return strbuf_str(&qf->id);
}

const char *queue_file_path(const queue_file *qf)
{
    return strbuf_str(&qf->path);
}

const struct timeval *queue_file_ctime(const queue_file *qf)
{
    return &qf->ctime;
}

static void require_seg(const queue_file *qf, const char *fn, bool ok)
{
    if (!ok)
        msg_panic("%s: called in the wrong queue file segment (%d)", fn, (int)qf->seg);
}

int queue_file_put_time(queue_file *qf, const struct timeval *tv)
{
    require_seg(qf, "queue_file_put_time", qf->seg == SEG_ENVELOPE && !qf->have_time);
    if (tv->tv_sec < 0 || tv->tv_usec < 0 || tv->tv_usec > 999999)
        msg_panic("queue_file_put_time: bad time");
    unsigned char p[16];
    put_u64(p, (uint64_t)tv->tv_sec);
    put_u64(p + 8, (uint64_t)tv->tv_usec);
    qf->have_time = true;
    return qf_record(qf, QF_REC_TIME, p, sizeof(p), NULL, 0, NULL, 0);
}

int queue_file_put_sender(queue_file *qf, const char *sender)
{
    require_seg(qf, "queue_file_put_sender", qf->seg == SEG_ENVELOPE && !qf->have_sender);
    qf->have_sender = true;
    return qf_record(qf, QF_REC_SENDER, sender, strlen(sender), NULL, 0, NULL, 0);
}

int queue_file_put_fullname(queue_file *qf, const char *fullname)
{
    require_seg(qf, "queue_file_put_fullname", qf->seg == SEG_ENVELOPE && !qf->have_fullname);
    qf->have_fullname = true;
    return qf_record(qf, QF_REC_FULLNAME, fullname, strlen(fullname), NULL, 0, NULL, 0);
}

static bool attr_name_ok(const char *name, size_t len)
{
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++)
        if (name[i] <= ' ' || name[i] > '~' || name[i] == '=')
            return false;
    return true;
}

int queue_file_put_attr(queue_file *qf, const char *name, const void *value, size_t value_len)
{
    require_seg(qf, "queue_file_put_attr", qf->seg == SEG_ENVELOPE || qf->seg == SEG_EXTRACT);
    size_t name_len = strlen(name);
    if (!attr_name_ok(name, name_len))
        msg_panic("queue_file_put_attr: bad attribute name \"%s\"", name);
    return qf_record(qf, QF_REC_ATTR, name, name_len, "=", 1, value, value_len);
}

int queue_file_put_attr_str(queue_file *qf, const char *name, const char *value)
{
    return queue_file_put_attr(qf, name, value, strlen(value));
}

int queue_file_put_rcpt(queue_file *qf, const struct queue_file_rcpt_in *rcpt, off_t *offset)
{
    require_seg(qf, "queue_file_put_rcpt", qf->seg == SEG_ENVELOPE || qf->seg == SEG_EXTRACT);
    if (rcpt->notify & ~QF_NOTIFY_MASK)
        msg_panic("queue_file_put_rcpt: bad notify bits 0x%x", rcpt->notify);
    const char *field[3] = {rcpt->address, rcpt->orig_rcpt, rcpt->orcpt};
    size_t flen[3];
    size_t total = RCPT_FIXED_LEN;
    for (int i = 0; i < 3; i++) {
        flen[i] = field[i] ? strlen(field[i]) : 0;
        if (flen[i] > qf->limit) /* keeps the sum below from overflowing */
            return qf_record(qf, QF_REC_RCPT, NULL, qf->limit + 1, NULL, 0, NULL, 0);
        total += flen[i];
    }
    if (total > qf->limit)
        return qf_record(qf, QF_REC_RCPT, NULL, total, NULL, 0, NULL, 0);
    /* Bounded by the limit checked above. */
    strbuf payload = STRBUF_INIT;
    unsigned char fixed[4];
    strbuf_putc(&payload, (char)QF_RCPT_TODO);
    strbuf_putc(&payload, (char)rcpt->notify);
    for (int i = 0; i < 3; i++) {
        put_u32(fixed, (uint32_t)flen[i]);
        strbuf_append(&payload, fixed, 4);
        strbuf_append(&payload, field[i] ? field[i] : "", flen[i]);
    }
    off_t at = qf->offset;
    int ret = qf_record(qf, QF_REC_RCPT, payload.s, payload.len, NULL, 0, NULL, 0);
    strbuf_release(&payload);
    if (ret == 0) {
        qf->size.rcpt_count++;
        if (offset)
            *offset = at;
    }
    return ret;
}

int queue_file_begin_content(queue_file *qf)
{
    require_seg(qf, "queue_file_begin_content", qf->seg == SEG_ENVELOPE);
    qf->seg = SEG_CONTENT;
    int ret = qf_record(qf, QF_REC_CONTENT, NULL, 0, NULL, 0, NULL, 0);
    qf->size.content_offset = (uint64_t)qf->offset;
    return ret;
}

int queue_file_put_text(queue_file *qf, const void *data, size_t len, bool line_end)
{
    require_seg(qf, "queue_file_put_text", qf->seg == SEG_CONTENT);
    const char *p = data;
    /* Every piece but the last is a PART; so is the last unless the line
     * ends here. An empty line still needs its LINE record. */
    while (len > qf->limit || (len > 0 && !line_end)) {
        size_t n = len > qf->limit ? qf->limit : len;
        if (qf_record(qf, QF_REC_PART, p, n, NULL, 0, NULL, 0) < 0)
            return -1;
        qf->size.content_size += n;
        qf->in_part = true;
        p += n;
        len -= n;
    }
    if (!line_end)
        return qf->error ? -1 : 0;
    if (qf_record(qf, QF_REC_LINE, p, len, NULL, 0, NULL, 0) < 0)
        return -1;
    qf->size.content_size += len + 1;
    qf->in_part = false;
    return 0;
}

int queue_file_put_stream(queue_file *qf, FILE *in, bool strip_cr, strbuf *err)
{
    strbuf chunk = STRBUF_INIT;
    int ret = 0;
    int c;
    while ((c = getc(in)) != EOF) {
        if (c == '\n') {
            size_t n = chunk.len;
            if (strip_cr && n > 0 && chunk.s[n - 1] == '\r')
                n--;
            if (queue_file_put_text(qf, chunk.s, n, true) < 0) {
                ret = -1;
                break;
            }
            strbuf_reset(&chunk);
            continue;
        }
        strbuf_putc(&chunk, (char)c);
        if (chunk.len > qf->limit) {
            /* Hand over all but the last byte: if that is a CR, the LF that
             * may follow decides whether it is data. Memory stays bounded. */
            if (queue_file_put_text(qf, chunk.s, chunk.len - 1, false) < 0) {
                ret = -1;
                break;
            }
            char last = chunk.s[chunk.len - 1];
            strbuf_reset(&chunk);
            strbuf_putc(&chunk, last);
        }
    }
    if (ret == 0 && ferror(in)) {
        if (err)
            strbuf_printf(err, "read message content: %s", strerror(errno));
        ret = -1;
    } else if (ret == 0 && chunk.len > 0) {
        ret = queue_file_put_text(qf, chunk.s, chunk.len, true);
    }
    if (ret < 0 && qf->error && err)
        strbuf_set(err, strbuf_str(&qf->reason));
    strbuf_release(&chunk);
    return ret;
}

int queue_file_begin_extract(queue_file *qf)
{
    require_seg(qf, "queue_file_begin_extract", qf->seg == SEG_CONTENT);
    /* An unfinished long line still has to end before the segment does. */
    if (qf->in_part && queue_file_put_text(qf, NULL, 0, true) < 0)
        return -1;
    qf->seg = SEG_EXTRACT;
    return qf_record(qf, QF_REC_EXTRACT, NULL, 0, NULL, 0, NULL, 0);
}

void queue_file_set_flags(queue_file *qf, uint64_t flags)
{
    qf->size.flags = flags;
}

/* Close every open segment and write END: the file as commit and restart
 * leave it. The caller checks qf->error. */
static void qf_finish_records(queue_file *qf, const char *fn)
{
    if (!qf->have_time || !qf->have_sender)
        msg_panic("%s: %s has no %s record", fn, strbuf_str(&qf->id),
                  qf->have_time ? "sender" : "time");
    if (qf->seg == SEG_ENVELOPE)
        queue_file_begin_content(qf);
    if (qf->seg == SEG_CONTENT)
        queue_file_begin_extract(qf);
    qf_record(qf, QF_REC_END, NULL, 0, NULL, 0, NULL, 0);
    qf_flush(qf);
}

int queue_file_commit(queue_file **qfp, strbuf *err)
{
    queue_file *qf = *qfp;
    *qfp = NULL;
    qf_finish_records(qf, "queue_file_commit");

    /* Order matters: the size record (with the magic) last among the data,
     * then the complete marker, then fsync. fchmod before fsync is safe
     * because a reader also demands the END record and a consistent size
     * record, which only the fsync makes certain. */
    unsigned char size[QF_SIZE_LEN];
    encode_size(size, QUEUE_FILE_MAGIC, &qf->size);
    if (qf->error == 0 && pwrite_all(qf->fd, size, sizeof(size), QF_HDR_LEN) < 0)
        qf_fail(qf, errno, "update size record of");
    if (qf->error == 0 && fchmod(qf->fd, 0700 | qf->extra_mode) < 0)
        qf_fail(qf, errno, "fchmod");
    if (qf->error == 0 && fsync(qf->fd) < 0)
        qf_fail(qf, errno, "fsync");
    /* The directory entry (made by the rename at create time) must be on
     * disk too before anyone says "queued": the fsync above made it so
     * where the file system commits a file's entries with the file
     * (fsync_covers_new_entry); elsewhere its directories are fsynced. */
    if (qf->error == 0 && !fsync_covers_new_entry(qf->dev) &&
        fsync_hash_levels(qf->dirfd, strbuf_str(&qf->hash), qf->fd) < 0)
        qf_fail(qf, errno, "fsync directory of");
    if (qf->error == 0) {
        int fd = qf->fd;
        qf->fd = -1;
        /* NFS reports deferred write errors only here. */
        if (close(fd) < 0)
            qf_fail(qf, errno, "close");
    }
    int ret = 0;
    if (qf->error) {
        int saved = qf->error;
        if (err)
            strbuf_set(err, strbuf_str(&qf->reason));
        qf_remove(qf);
        qf_free(qf);
        errno = saved;
        ret = -1;
    } else {
        qf_free(qf);
    }
    return ret;
}

/* Copy [0, len) of `from` to `to` (both at their offset 0). */
static int copy_prefix(int from, int to, off_t len)
{
    unsigned char buf[IO_BUF_SIZE];
    off_t at = 0;
    while (at < len) {
        size_t want = (size_t)(len - at < (off_t)sizeof(buf) ? len - at : (off_t)sizeof(buf));
        ssize_t n = pread(from, buf, want, at);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n == 0)
                errno = EIO;
            return -1;
        }
        if (pwrite_all(to, buf, (size_t)n, at) < 0)
            return -1;
        at += n;
    }
    return 0;
}

int queue_file_restart(queue_file *qf, strbuf *err)
{
    qf_finish_records(qf, "queue_file_restart");
    /* The copy lives in the queue's file system, unnamed: a crash leaves
     * nothing behind, and the original stays incomplete (0600) and locked
     * until commit, so no reader ever sees either half. */
    int copy = -1;
    if (qf->error == 0) {
        copy = openat(qf->dirfd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
        if (copy < 0) {
            FILE *fp = tmpfile();
            copy = fp ? dup(fileno(fp)) : -1;
            if (fp)
                fclose(fp);
        }
        if (copy < 0)
            qf_fail(qf, errno, "create scratch copy of");
    }
    unsigned char size[QF_SIZE_LEN];
    encode_size(size, QUEUE_FILE_MAGIC, &qf->size);
    if (qf->error == 0 && (copy_prefix(qf->fd, copy, qf->offset) < 0 ||
                           pwrite_all(copy, size, sizeof(size), QF_HDR_LEN) < 0))
        qf_fail(qf, errno, "copy");
    /* The writer appends with write(2): its file position goes back too. */
    if (qf->error == 0 && (ftruncate(qf->fd, 0) < 0 || lseek(qf->fd, 0, SEEK_SET) < 0))
        qf_fail(qf, errno, "truncate");
    if (qf->error) {
        if (copy >= 0)
            (void)close(copy);
        if (err)
            strbuf_set(err, strbuf_str(&qf->reason));
        errno = qf->error;
        return -1;
    }
    qf->offset = 0;
    qf->buf_len = 0;
    qf->have_time = qf->have_sender = qf->have_fullname = qf->in_part = false;
    memset(&qf->size, 0, sizeof(qf->size));
    qf->seg = SEG_SIZE;
    unsigned char zero[QF_SIZE_LEN] = {0};
    qf_record(qf, QF_REC_SIZE, zero, sizeof(zero), NULL, 0, NULL, 0);
    qf->seg = SEG_ENVELOPE;
    return copy;
}

void queue_file_abort(queue_file **qfp)
{
    queue_file *qf = *qfp;
    if (qf == NULL)
        return;
    *qfp = NULL;
    qf_remove(qf);
    qf_free(qf);
}

/* ======================================================================
 * Reader
 * ====================================================================== */

struct queue_file_reader {
    int fd;
    off_t file_size;
    off_t pos; /* next byte to parse */
    unsigned char *buf;
    off_t buf_at; /* file offset of buf[0] */
    size_t buf_len;
    size_t limit;
    enum seg seg;
    bool have_time, have_sender, have_fullname, in_part;
    uint64_t rcpt_count, content_size;
    off_t content_offset;
    struct queue_file_size size;
    strbuf error;
};

queue_file_reader *queue_file_reader_open(int fd, size_t record_limit, strbuf *err)
{
    struct stat st;
    if (record_limit < QF_MIN_RECORD_LIMIT || record_limit > UINT32_MAX)
        msg_panic("queue_file_reader_open: bad record limit %zu", record_limit);
    if (fstat(fd, &st) < 0) {
        if (err)
            strbuf_printf(err, "fstat queue file: %s", strerror(errno));
        return NULL;
    }
    if (!S_ISREG(st.st_mode)) {
        if (err)
            strbuf_puts(err, "queue file is not a regular file");
        return NULL;
    }
    queue_file_reader *r = xcalloc(1, sizeof(*r));
    r->fd = fd;
    r->file_size = st.st_size;
    r->limit = record_limit;
    r->buf = xmalloc(IO_BUF_SIZE);
    r->seg = SEG_SIZE;
    return r;
}

int queue_file_head_load(struct queue_file_head *h, int fd, const struct stat *st, strbuf *err)
{
    *h = (struct queue_file_head){.fd = fd, .size = st->st_size};
    if (!S_ISREG(st->st_mode)) {
        if (err)
            strbuf_puts(err, "queue file is not a regular file");
        return -1;
    }
    size_t want = st->st_size < IO_BUF_SIZE ? (size_t)st->st_size : IO_BUF_SIZE;
    h->data = xmalloc(want ? want : 1);
    /* Short reads (a file shrinking meanwhile) keep what came: the readers
     * then pread the rest and report the truncation as they always do. */
    while (h->len < want) {
        ssize_t got = pread(fd, h->data + h->len, want - h->len, (off_t)h->len);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            if (err)
                strbuf_printf(err, "read queue file: %s", strerror(errno));
            queue_file_head_release(h);
            return -1;
        }
        if (got == 0)
            break;
        h->len += (size_t)got;
    }
    return 0;
}

void queue_file_head_release(struct queue_file_head *h)
{
    XFREE(h->data);
    h->len = 0;
}

queue_file_reader *queue_file_reader_open_head(const struct queue_file_head *h, size_t record_limit,
                                               strbuf *err)
{
    (void)err;
    if (record_limit < QF_MIN_RECORD_LIMIT || record_limit > UINT32_MAX)
        msg_panic("queue_file_reader_open_head: bad record limit %zu", record_limit);
    queue_file_reader *r = xcalloc(1, sizeof(*r));
    r->fd = h->fd;
    r->file_size = h->size;
    r->limit = record_limit;
    r->buf = xmalloc(IO_BUF_SIZE);
    memcpy(r->buf, h->data, h->len);
    r->buf_at = 0;
    r->buf_len = h->len;
    r->seg = SEG_SIZE;
    return r;
}

/* Write `status` into the recipient record at `offset` of fd, whose first
 * QF_HDR_LEN + 1 bytes are `hdr` (NULL: fewer could be read). Never
 * scribbles over something that is not a recipient status byte: a stale
 * offset must not corrupt the file. */
static int mark_checked(int fd, const unsigned char *hdr, off_t offset, int status, strbuf *err)
{
    if (status != QF_RCPT_TODO && status != QF_RCPT_DELIVERED && status != QF_RCPT_BOUNCED)
        msg_panic("mark recipient: bad status 0x%02x", status);
    if (!hdr || hdr[0] != QF_REC_RCPT || get_u32(hdr + 1) < RCPT_FIXED_LEN ||
        (hdr[5] != QF_RCPT_TODO && hdr[5] != QF_RCPT_DELIVERED && hdr[5] != QF_RCPT_BOUNCED)) {
        if (err)
            strbuf_printf(err, "no recipient record at offset %lld", (long long)offset);
        errno = EINVAL;
        return -1;
    }
    unsigned char b = (unsigned char)status;
    if (pwrite_all(fd, &b, 1, offset + QF_RCPT_STATUS_AT) < 0) {
        if (err)
            strbuf_printf(err, "mark recipient at offset %lld: %s", (long long)offset,
                          strerror(errno));
        return -1;
    }
    return 0;
}

int queue_file_head_mark_recipient(struct queue_file_head *h, off_t offset, int status, strbuf *err)
{
    if (offset < 0 || offset + QF_HDR_LEN + 1 > (off_t)h->len)
        return queue_file_mark_recipient(h->fd, offset, status, err);
    /* The record is in the copy: check it there (a record's type and length
     * never change in place, its status byte takes only the three values)
     * and save the pread queue_file_mark_recipient would make. */
    if (mark_checked(h->fd, h->data + offset, offset, status, err) < 0)
        return -1;
    h->data[offset + QF_RCPT_STATUS_AT] = (unsigned char)status;
    return 0;
}

void queue_file_reader_free(queue_file_reader **rp)
{
    queue_file_reader *r = *rp;
    if (r == NULL)
        return;
    XFREE(r->buf);
    strbuf_release(&r->error);
    free(r);
    *rp = NULL;
}

const struct queue_file_size *queue_file_reader_size(const queue_file_reader *r)
{
    return &r->size;
}

void queue_file_record_release(queue_file_record *rec)
{
    strbuf_release(&rec->data);
    strbuf_release(&rec->name);
    strbuf_release(&rec->value);
    strbuf_release(&rec->address);
    strbuf_release(&rec->orig_rcpt);
    strbuf_release(&rec->orcpt);
}

static int rd_fail(queue_file_reader *r, strbuf *err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int rd_fail(queue_file_reader *r, strbuf *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    strbuf_reset(&r->error);
    strbuf_vprintf(&r->error, fmt, ap);
    va_end(ap);
    r->seg = SEG_ERROR;
    if (err)
        strbuf_set(err, strbuf_str(&r->error));
    return -1;
}

/* Copy n bytes at r->pos into dst. The caller has checked that they lie
 * inside the file size seen at open; a file that shrank since is truncated. */
static int rd_bytes(queue_file_reader *r, void *dst, size_t n, strbuf *err)
{
    unsigned char *d = dst;
    while (n > 0) {
        if (r->pos >= r->buf_at && r->pos < r->buf_at + (off_t)r->buf_len) {
            size_t avail = (size_t)(r->buf_at + (off_t)r->buf_len - r->pos);
            size_t k = avail < n ? avail : n;
            memcpy(d, r->buf + (r->pos - r->buf_at), k);
            d += k;
            n -= k;
            r->pos += (off_t)k;
            continue;
        }
        ssize_t got;
        do
            got = pread(r->fd, r->buf, IO_BUF_SIZE, r->pos);
        while (got < 0 && errno == EINTR);
        if (got < 0)
            return rd_fail(r, err, "read queue file at offset %lld: %s", (long long)r->pos,
                           strerror(errno));
        if (got == 0)
            return rd_fail(r, err, "queue file truncated while reading at offset %lld",
                           (long long)r->pos);
        r->buf_at = r->pos;
        r->buf_len = (size_t)got;
    }
    return 0;
}

static bool seg_allows(enum seg seg, int type)
{
    switch (seg) {
    case SEG_SIZE:
        return type == QF_REC_SIZE;
    case SEG_ENVELOPE:
        return type != 0 && strchr("TSFARM", type) != NULL;
    case SEG_CONTENT:
        return type == QF_REC_LINE || type == QF_REC_PART || type == QF_REC_EXTRACT;
    case SEG_EXTRACT:
        return type == QF_REC_RCPT || type == QF_REC_ATTR || type == QF_REC_END;
    default:
        return false;
    }
}

static bool known_type(int type)
{
    return type != 0 && strchr("CTSFARMNLXE", type) != NULL;
}

/* Split a recipient payload; the three lengths must fill it exactly. */
static int decode_rcpt(queue_file_record *rec, const char **why)
{
    const unsigned char *p = (const unsigned char *)rec->data.s;
    size_t left = rec->data.len;
    if (left < RCPT_FIXED_LEN) {
        *why = "recipient record too short";
        return -1;
    }
    rec->status = p[0];
    rec->notify = p[1];
    if (rec->status != QF_RCPT_TODO && rec->status != QF_RCPT_DELIVERED &&
        rec->status != QF_RCPT_BOUNCED) {
        *why = "bad recipient status";
        return -1;
    }
    if (rec->notify & ~QF_NOTIFY_MASK) {
        *why = "bad recipient notify bits";
        return -1;
    }
    p += 2;
    left -= 2;
    strbuf *field[3] = {&rec->address, &rec->orig_rcpt, &rec->orcpt};
    for (int i = 0; i < 3; i++) {
        if (left < 4) {
            *why = "recipient record too short";
            return -1;
        }
        uint32_t n = get_u32(p);
        p += 4;
        left -= 4;
        if (n > left) {
            *why = "recipient field length exceeds record";
            return -1;
        }
        if (memchr(p, '\0', n) != NULL) {
            *why = "NUL byte in recipient";
            return -1;
        }
        strbuf_reset(field[i]);
        strbuf_append(field[i], p, n);
        p += n;
        left -= n;
    }
    if (left != 0) {
        *why = "garbage after recipient fields";
        return -1;
    }
    return 0;
}

static int decode_record(queue_file_reader *r, queue_file_record *rec, strbuf *err)
{
    const unsigned char *p = (const unsigned char *)rec->data.s;
    size_t len = rec->data.len;
    long long at = (long long)rec->offset;
    const char *why = NULL;

    switch (rec->type) {
    case QF_REC_SIZE:
        if (len != QF_SIZE_LEN || get_u64(p) != QUEUE_FILE_MAGIC)
            return rd_fail(r, err, "bad size record (not a queue file, or never committed)");
        r->size.content_size = get_u64(p + 8);
        r->size.content_offset = get_u64(p + 16);
        r->size.rcpt_count = get_u64(p + 24);
        r->size.flags = get_u64(p + 32);
        r->size.warn_time = get_u64(p + 40);
        rec->size = r->size;
        r->seg = SEG_ENVELOPE;
        return 0;
    case QF_REC_TIME: {
        if (r->have_time)
            return rd_fail(r, err, "duplicate time record at offset %lld", at);
        uint64_t sec = len == 16 ? get_u64(p) : 0, usec = len == 16 ? get_u64(p + 8) : 0;
        if (len != 16 || sec > (uint64_t)INT64_MAX || usec > 999999)
            return rd_fail(r, err, "bad time record at offset %lld", at);
        rec->time.tv_sec = (time_t)sec;
        rec->time.tv_usec = (suseconds_t)usec;
        r->have_time = true;
        return 0;
    }
    case QF_REC_SENDER:
    case QF_REC_FULLNAME: {
        bool *seen = rec->type == QF_REC_SENDER ? &r->have_sender : &r->have_fullname;
        if (*seen)
            return rd_fail(r, err, "duplicate '%c' record at offset %lld", rec->type, at);
        if (memchr(p, '\0', len) != NULL)
            return rd_fail(r, err, "NUL byte in '%c' record at offset %lld", rec->type, at);
        *seen = true;
        return 0;
    }
    case QF_REC_ATTR: {
        const unsigned char *eq = memchr(p, '=', len);
        if (eq == NULL || !attr_name_ok((const char *)p, (size_t)(eq - p)))
            return rd_fail(r, err, "bad attribute record at offset %lld", at);
        strbuf_reset(&rec->name);
        strbuf_append(&rec->name, p, (size_t)(eq - p));
        strbuf_reset(&rec->value);
        strbuf_append(&rec->value, eq + 1, len - (size_t)(eq - p) - 1);
        return 0;
    }
    case QF_REC_RCPT:
        if (decode_rcpt(rec, &why) < 0)
            return rd_fail(r, err, "%s at offset %lld", why, at);
        r->rcpt_count++;
        return 0;
    case QF_REC_CONTENT:
    case QF_REC_EXTRACT:
    case QF_REC_END:
        if (len != 0)
            return rd_fail(r, err, "non-empty '%c' record at offset %lld", rec->type, at);
        if (rec->type == QF_REC_CONTENT) {
            r->seg = SEG_CONTENT;
            r->content_offset = r->pos;
        } else if (rec->type == QF_REC_EXTRACT) {
            if (r->in_part)
                return rd_fail(r, err, "unfinished long line before offset %lld", at);
            r->seg = SEG_EXTRACT;
        } else {
            if (!r->have_time || !r->have_sender)
                return rd_fail(r, err, "missing %s record", r->have_time ? "sender" : "time");
            if (r->rcpt_count != r->size.rcpt_count || r->content_size != r->size.content_size ||
                (uint64_t)r->content_offset != r->size.content_offset)
                return rd_fail(r, err, "size record does not match the file contents");
            if (r->pos != r->file_size)
                return rd_fail(r, err, "data after END record at offset %lld", (long long)r->pos);
            r->seg = SEG_DONE;
        }
        return 0;
    case QF_REC_LINE:
    case QF_REC_PART:
        r->content_size += len + (rec->type == QF_REC_LINE);
        r->in_part = rec->type == QF_REC_PART;
        return 0;
    default:
        msg_panic("decode_record: unhandled type 0x%02x", rec->type);
    }
}

int queue_file_reader_next(queue_file_reader *r, queue_file_record *rec, strbuf *err)
{
    if (r->seg == SEG_DONE)
        return 0;
    if (r->seg == SEG_ERROR) {
        if (err)
            strbuf_set(err, strbuf_str(&r->error));
        return -1;
    }
    off_t at = r->pos;
    off_t left = r->file_size - r->pos;
    if (left == 0)
        return rd_fail(r, err, "missing END record");
    if (left < QF_HDR_LEN)
        return rd_fail(r, err, "truncated record header at offset %lld", (long long)at);
    unsigned char hdr[QF_HDR_LEN];
    if (rd_bytes(r, hdr, sizeof(hdr), err) < 0)
        return -1;
    int type = hdr[0];
    uint32_t len = get_u32(hdr + 1);
    if (!known_type(type))
        return rd_fail(r, err, "bad record type 0x%02x at offset %lld", type, (long long)at);
    if (!seg_allows(r->seg, type))
        return rd_fail(r, err, "record type '%c' out of segment order at offset %lld", type,
                       (long long)at);
    if (r->in_part && type != QF_REC_PART && type != QF_REC_LINE)
        return rd_fail(r, err, "unfinished long line before offset %lld", (long long)at);
    if (len > r->limit)
        return rd_fail(r, err, "record length %lu over limit %zu at offset %lld",
                       (unsigned long)len, r->limit, (long long)at);
    if ((off_t)len > left - QF_HDR_LEN)
        return rd_fail(r, err, "truncated record at offset %lld (length %lu, %lld bytes left)",
                       (long long)at, (unsigned long)len, (long long)(left - QF_HDR_LEN));
    /* Bounded by the limit and by the bytes really in the file. */
    strbuf_reset(&rec->data);
    strbuf_reserve(&rec->data, len);
    if (rd_bytes(r, rec->data.s, len, err) < 0)
        return -1;
    rec->data.len = len;
    rec->data.s[len] = '\0';
    rec->type = type;
    rec->offset = at;
    if (decode_record(r, rec, err) < 0)
        return -1;
    return r->seg == SEG_DONE ? 0 : 1;
}

int queue_file_validate(int fd, size_t record_limit, strbuf *err)
{
    queue_file_reader *r = queue_file_reader_open(fd, record_limit, err);
    if (r == NULL)
        return -1;
    queue_file_record rec = QUEUE_FILE_RECORD_INIT;
    int n;
    while ((n = queue_file_reader_next(r, &rec, err)) > 0)
        ;
    queue_file_record_release(&rec);
    queue_file_reader_free(&r);
    return n;
}

/* ======================================================================
 * Queue operations
 * ====================================================================== */

bool queue_file_mode_complete(const struct stat *st)
{
    return S_ISREG(st->st_mode) && (st->st_mode & S_IRWXU) == S_IRWXU;
}

/* "<queue_dir>/<queue>/<hash>" into dir and "<id>" relative to it, after
 * validating everything that could otherwise steer the path. */
static int queue_paths(strbuf *dir, strbuf *hash, const char *queue_dir, const char *queue,
                       int depth, const char *id, strbuf *err)
{
    if (!queue_name_valid(queue)) {
        if (err)
            strbuf_printf(err, "bad queue name \"%.100s\"", queue);
        errno = EINVAL;
        return -1;
    }
    if (!queue_id_valid(id)) {
        if (err)
            strbuf_printf(err, "bad queue ID \"%.100s\"", id);
        errno = EINVAL;
        return -1;
    }
    strbuf_reset(hash);
    if (mail_queue_hash_dirs(hash, id, depth) < 0)
        msg_panic("queue_paths: bad hash depth %d", depth);
    strbuf_reset(dir);
    strbuf_printf(dir, "%s/%s", queue_dir, queue);
    return 0;
}

int queue_file_open(const char *queue_dir, const char *queue, int hash_depth, const char *id,
                    bool writable, strbuf *err)
{
    struct stat st;
    return queue_file_open_stat(queue_dir, queue, hash_depth, id, writable, &st, err);
}

int queue_file_open_stat(const char *queue_dir, const char *queue, int hash_depth, const char *id,
                         bool writable, struct stat *stp, strbuf *err)
{
    strbuf dir = STRBUF_INIT, hash = STRBUF_INIT;
    int fd = -1;
    if (queue_paths(&dir, &hash, queue_dir, queue, hash_depth, id, err) < 0)
        goto done;
    strbuf_printf(&dir, "/%s%s", strbuf_str(&hash), id);
    fd = open(strbuf_str(&dir), (writable ? O_RDWR : O_RDONLY) | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        int saved = errno;
        if (err)
            strbuf_printf(err, "open %s: %s", strbuf_str(&dir), strerror(saved));
        errno = saved;
        goto done;
    }
    struct stat st;
    int bad = fstat(fd, &st) < 0 ? errno : S_ISREG(st.st_mode) ? 0 : EINVAL;
    *stp = st;
    if (bad) {
        int saved = bad;
        if (err)
            strbuf_printf(err, "%s: %s", strbuf_str(&dir),
                          saved == EINVAL ? "not a regular file" : strerror(saved));
        (void)close(fd);
        fd = -1;
        errno = saved;
        goto done;
    }
    if (!queue_file_mode_complete(&st)) {
        if (err)
            strbuf_printf(err, "%s: incomplete queue file (mode 0%o)", strbuf_str(&dir),
                          (unsigned)(st.st_mode & 07777));
        (void)close(fd);
        fd = QUEUE_FILE_INCOMPLETE;
        errno = EAGAIN;
    }
done:
    strbuf_release(&dir);
    strbuf_release(&hash);
    return fd;
}

int queue_file_mark_recipient(int fd, off_t offset, int status, strbuf *err)
{
    unsigned char hdr[QF_HDR_LEN + 1];
    ssize_t got;
    do
        got = pread(fd, hdr, sizeof(hdr), offset);
    while (got < 0 && errno == EINTR);
    if (got < 0) {
        if (err)
            strbuf_printf(err, "read recipient at offset %lld: %s", (long long)offset,
                          strerror(errno));
        return -1;
    }
    return mark_checked(fd, (size_t)got == sizeof(hdr) ? hdr : NULL, offset, status, err);
}

/* Rewrite one u64 field of the SIZE record in place (index as in the
 * format comment of queue_file.h), after checking the record is there. */
static int set_size_field(int fd, int index, uint64_t value, const char *what, strbuf *err)
{
    unsigned char hdr[QF_HDR_LEN + 8];
    ssize_t got;
    do
        got = pread(fd, hdr, sizeof(hdr), 0);
    while (got < 0 && errno == EINTR);
    if (got != (ssize_t)sizeof(hdr) || hdr[0] != QF_REC_SIZE || get_u32(hdr + 1) != QF_SIZE_LEN ||
        get_u64(hdr + QF_HDR_LEN) != QUEUE_FILE_MAGIC) {
        if (err)
            strbuf_printf(err, "no size record: %s", got < 0 ? strerror(errno) : "bad header");
        if (got >= 0)
            errno = EINVAL;
        return -1;
    }
    unsigned char v[8];
    put_u64(v, value);
    if (pwrite_all(fd, v, sizeof(v), QF_HDR_LEN + 8 * index) < 0) {
        if (err)
            strbuf_printf(err, "update %s: %s", what, strerror(errno));
        return -1;
    }
    return 0;
}

int queue_file_set_warn_time(int fd, uint64_t warn_time, strbuf *err)
{
    return set_size_field(fd, 5, warn_time, "warn time", err);
}

int queue_file_update_flags(int fd, uint64_t flags, strbuf *err)
{
    return set_size_field(fd, 4, flags, "flags", err);
}

int queue_file_move(const char *queue_dir, const char *id, const char *from, int from_depth,
                    const char *to, int to_depth, bool sync, strbuf *err)
{
    strbuf from_dir = STRBUF_INIT, from_hash = STRBUF_INIT;
    strbuf to_dir = STRBUF_INIT, to_hash = STRBUF_INIT;
    strbuf from_rel = STRBUF_INIT, to_rel = STRBUF_INIT;
    int from_fd = -1, to_fd = -1, ret = -1, saved = 0;
    const char *what = "";

    if (queue_paths(&from_dir, &from_hash, queue_dir, from, from_depth, id, err) < 0 ||
        queue_paths(&to_dir, &to_hash, queue_dir, to, to_depth, id, err) < 0)
        goto done;
    strbuf_printf(&from_rel, "%s%s", strbuf_str(&from_hash), id);
    strbuf_printf(&to_rel, "%s%s", strbuf_str(&to_hash), id);
    if (!sync) {
        /* The common case, qmgr's moves: one rename by path (the same
         * names the handles below would resolve), no handles to open and
         * close. Anything else (a hash directory to make, an fsync, an
         * error to tell apart) goes the long way. */
        strbuf from_path = STRBUF_INIT, to_path = STRBUF_INIT;
        strbuf_printf(&from_path, "%s/%s", strbuf_str(&from_dir), strbuf_str(&from_rel));
        strbuf_printf(&to_path, "%s/%s", strbuf_str(&to_dir), strbuf_str(&to_rel));
        int quick =
            rename_noreplace(AT_FDCWD, strbuf_str(&from_path), AT_FDCWD, strbuf_str(&to_path));
        strbuf_release(&from_path);
        strbuf_release(&to_path);
        if (quick == 0) {
            ret = 0;
            goto done;
        }
    }
    what = "open queue directory";
    if ((from_fd = open_dir_handle(strbuf_str(&from_dir))) < 0 ||
        (to_fd = open_dir_handle(strbuf_str(&to_dir))) < 0)
        goto fail;

    int created = 0;
    what = "rename";
    if (rename_noreplace(from_fd, strbuf_str(&from_rel), to_fd, strbuf_str(&to_rel)) < 0) {
        /* A missing hash directory on the destination side is made on
         * demand; a missing source stays an error. */
        if (errno != ENOENT || to_depth == 0 || faccessat(from_fd, strbuf_str(&from_rel), F_OK, 0))
            goto fail;
        what = "create hash directory";
        if (mail_queue_make_hash_dirs(to_fd, strbuf_str(&to_hash), &created) < 0)
            goto fail;
        what = "rename";
        if (rename_noreplace(from_fd, strbuf_str(&from_rel), to_fd, strbuf_str(&to_rel)) < 0)
            goto fail;
    }
    if (sync || created) {
        what = "fsync queue directory";
        /* New entry first, then the removal of the old one. */
        if (created ? fsync_hash_levels(to_fd, strbuf_str(&to_hash), -1) < 0
                    : fsync_dir_at(to_fd, to_hash.len ? strbuf_str(&to_hash) : ".", -1) < 0)
            goto fail;
        if (sync && fsync_dir_at(from_fd, from_hash.len ? strbuf_str(&from_hash) : ".", -1) < 0)
            goto fail;
    }
    ret = 0;
    goto done;

fail:
    saved = errno;
    if (err)
        strbuf_printf(err, "%s %s/%s to %s/%s: %s", what, from, strbuf_str(&from_rel), to,
                      strbuf_str(&to_rel), strerror(saved));
done:
    if (ret < 0 && saved == 0)
        saved = errno;
    if (from_fd >= 0)
        (void)close(from_fd);
    if (to_fd >= 0)
        (void)close(to_fd);
    strbuf_release(&from_dir);
    strbuf_release(&from_hash);
    strbuf_release(&to_dir);
    strbuf_release(&to_hash);
    strbuf_release(&from_rel);
    strbuf_release(&to_rel);
    if (ret < 0)
        errno = saved;
    return ret;
}

int queue_file_move_corrupt(const char *queue_dir, const char *queue, int hash_depth,
                            const char *id, const char *reason)
{
    strbuf err = STRBUF_INIT;
    msg_warn("%s: corrupt queue file in %s: %s", id, queue, reason);
    int ret = queue_file_move(queue_dir, id, queue, hash_depth, "corrupt", 0, false, &err);
    if (ret == 0)
        msg_warn("saving corrupt file \"%s\" from queue \"%s\" to queue \"corrupt\"", id, queue);
    else
        msg_warn("%s: could not save corrupt file to queue \"corrupt\": %s", id, strbuf_str(&err));
    strbuf_release(&err);
    return ret;
}

int queue_space_check(const char *queue_dir, uint64_t minfree, uint64_t msg_size, strbuf *err)
{
    struct statvfs fs;
    if (statvfs(queue_dir, &fs) < 0) {
        if (err)
            strbuf_printf(err, "statvfs %s: %s", queue_dir, strerror(errno));
        return -1;
    }
    uint64_t unit = fs.f_frsize ? fs.f_frsize : fs.f_bsize;
    /* f_bavail: what a non-root mail_owner may use. */
    uint64_t avail = unit && fs.f_bavail > UINT64_MAX / unit ? UINT64_MAX : fs.f_bavail * unit;
    /* A message may exist twice for a while (queue file and its bounce), so
     * it must fit in half of what is free, and leave queue_minfree. */
    if (avail <= minfree ||
        (msg_size > 0 && (msg_size > avail - minfree || msg_size > avail / 2))) {
        if (err)
            strbuf_printf(err,
                          "not enough free space in mail queue: %llu bytes free, "
                          "queue_minfree %llu, message size %llu",
                          (unsigned long long)avail, (unsigned long long)minfree,
                          (unsigned long long)msg_size);
        return -1;
    }
    return 0;
}

void queue_file_set_read_bits(queue_file *qf, mode_t bits)
{
    if (bits & ~(mode_t)(S_IRGRP | S_IROTH))
        msg_panic("queue_file_set_read_bits: only group/other read bits allowed");
    qf->extra_mode = bits;
}

/* ======================================================================
 * Crash leftovers
 * ====================================================================== */

/* The creator's pid from a temporary name "<usec>.<pid>.<attempt>"
 * (queue_file_create), or 0 when `name` is not one. */
static pid_t temp_name_pid(const char *name)
{
    const char *p = name;
    long parts[3];
    for (int i = 0; i < 3; i++) {
        if (*p < '0' || *p > '9')
            return 0;
        char *end;
        errno = 0;
        parts[i] = strtol(p, &end, 10);
        if (errno || *end != (i < 2 ? '.' : '\0'))
            return 0;
        p = end + (i < 2);
    }
    return parts[1] > 0 && parts[1] <= INT_MAX ? (pid_t)parts[1] : 0;
}

/* A temporary name's creator locks it a moment after creating it; an
 * unlocked temporary file whose creator's pid is alive (pid reuse, or that
 * moment) is left alone this long. */
#define QF_TEMP_GRACE 60

/* One directory entry; returns true when it was removed. */
static bool purge_entry(int dirfd, const char *shown, const char *name, long stale_age, time_t now)
{
    struct stat st, fst;
    if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
        return false;
    bool is_id = queue_id_valid(name);
    if (is_id && queue_file_mode_complete(&st))
        return false;
    time_t age = now - st.st_mtime;
    bool stale = stale_age > 0 && age >= stale_age;
    const char *what = is_id                 ? "incomplete queue file"
                       : temp_name_pid(name) ? "temporary file"
                                             : "stray file";
    const char *why = NULL;
    int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) {
        /* Not ours to open (a user's maildrop file): only age tells. */
        if (errno != ENOENT && stale)
            why = "too old";
    } else if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        /* EWOULDBLOCK: a live writer. Anything else: judge another time. */
    } else if (fstat(fd, &fst) < 0 || fst.st_ino != st.st_ino || fst.st_dev != st.st_dev) {
        /* Replaced since the fstatat: judge another time. */
    } else if (is_id) {
        /* Its writer locked it before it had this name; nobody holds the
         * lock now, so the writer is gone -- unless it just committed. */
        if (!queue_file_mode_complete(&fst))
            why = "its writer is gone";
    } else if (temp_name_pid(name)) {
        if (kill(temp_name_pid(name), 0) < 0 && errno == ESRCH)
            why = "its writer is gone";
        else if (age >= QF_TEMP_GRACE)
            why = "unlocked and old"; /* the pid is someone else's now */
    } else if (stale) {
        why = "too old";
    }
    bool removed = false;
    if (why) {
        /* Removed while we hold the lock: no writer can take it meanwhile. */
        if (unlinkat(dirfd, name, 0) == 0) {
            msg_warn("%s: removed %s (%s)", shown, what, why);
            removed = true;
        } else if (errno != ENOENT) {
            msg_warn("remove %s: %m", shown);
        }
    }
    if (fd >= 0)
        (void)close(fd);
    return removed;
}

unsigned long queue_file_purge_abandoned(const char *queue_dir, const char *queue, int hash_depth,
                                         long stale_age)
{
    if (!queue_name_valid(queue) || hash_depth < 0 || hash_depth > QUEUE_ID_MAX_DEPTH)
        msg_panic("queue_file_purge_abandoned: bad arguments queue=\"%s\" depth=%d", queue,
                  hash_depth);
    int top = open(queue_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (top < 0) {
        msg_warn("open queue directory %s: %m", queue_dir);
        return 0;
    }
    strbuf shown = STRBUF_INIT;
    unsigned long n = 0;
    time_t now = time(NULL);
    /* The scan lists each directory before we remove from it. */
    mail_queue_scan *sc = mail_queue_scan_open_names(top, queue, hash_depth);
    const char *name;
    while ((name = mail_queue_scan_next(sc)) != NULL) {
        mail_queue_scan_path(sc, name, &shown);
        if (purge_entry(mail_queue_scan_dirfd(sc), strbuf_str(&shown), name, stale_age, now))
            n++;
    }
    mail_queue_scan_close(&sc);
    strbuf_release(&shown);
    (void)close(top);
    return n;
}
