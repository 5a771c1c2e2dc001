/* bounce_log - bounce/, defer/ and trace/ logs (see .h). */
#include "bounce_log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mail_queue.h"
#include "msg.h"

bool bounce_log_name_valid(const char *log)
{
    return log && (strcmp(log, BOUNCE_LOG_BOUNCE) == 0 || strcmp(log, BOUNCE_LOG_DEFER) == 0 ||
                   strcmp(log, BOUNCE_LOG_TRACE) == 0);
}

/* <queue_dir>/<log>/<hash>/<id>; -1 with a reason for a bad name or ID. */
static int log_path(strbuf *out, const char *queue_dir, const char *log, const char *id,
                    strbuf *err)
{
    strbuf rel = STRBUF_INIT;
    int rc = -1;
    if (!bounce_log_name_valid(log))
        strbuf_printf(err, "bad log name \"%s\"", log ? log : "(null)");
    else if (mail_queue_path(&rel, log, id) < 0)
        strbuf_printf(err, "%s: bad queue ID \"%s\"", log, id ? id : "(null)");
    else
        rc = 0;
    if (rc == 0) {
        strbuf_reset(out);
        strbuf_printf(out, "%s/%s", queue_dir, rel.s);
    }
    strbuf_release(&rel);
    return rc;
}

static void put_field(strbuf *out, const char *name, const char *value, bool optional)
{
    if (optional && (!value || !*value))
        return;
    strbuf_puts(out, name);
    strbuf_putc(out, '=');
    for (const char *p = value ? value : ""; *p; p++)
        strbuf_putc(out, (*p == '\n' || *p == '\r') ? ' ' : *p);
    strbuf_putc(out, '\n');
}

static void put_entry(strbuf *out, const struct bounce_log_entry *e)
{
    put_field(out, "recipient", e->recipient, false);
    put_field(out, "original_recipient", e->orig_recipient, true);
    put_field(out, "offset", e->offset, true);
    put_field(out, "dsn_orig_rcpt", e->dsn_orig_rcpt, true);
    put_field(out, "dsn_notify", e->dsn_notify, true);
    put_field(out, "status", e->status, false);
    put_field(out, "action", e->action, false);
    put_field(out, "reason", e->reason, false);
    strbuf_putc(out, '\n');
}

/* Make the directories of `path` below queue_dir (the log directory and
 * its hash directories), owned like active/ when we are root. */
static int make_dirs(const char *queue_dir, const char *path, const struct stat *owner, strbuf *err)
{
    strbuf dir = STRBUF_INIT;
    strbuf_puts(&dir, path);
    int rc = 0;
    for (size_t i = strlen(queue_dir) + 1; rc == 0 && i < dir.len; i++) {
        if (dir.s[i] != '/')
            continue;
        dir.s[i] = '\0';
        if (mkdir(dir.s, 0700) == 0) {
            if (geteuid() == 0 && chown(dir.s, owner->st_uid, owner->st_gid) < 0) {
                strbuf_printf(err, "chown %s: %s", dir.s, strerror(errno));
                rc = -1;
            }
        } else if (errno != EEXIST) {
            strbuf_printf(err, "mkdir %s: %s", dir.s, strerror(errno));
            rc = -1;
        }
        dir.s[i] = '/';
    }
    strbuf_release(&dir);
    return rc;
}

/* Open `path` for writing with `flags`, making directories on demand, and
 * give a file root created to the owner of active/. */
static int open_log(const char *queue_dir, const char *path, int flags, strbuf *err)
{
    strbuf active = STRBUF_INIT;
    struct stat owner, st;
    int fd = -1;
    strbuf_printf(&active, "%s/active", queue_dir);
    if (stat(active.s, &owner) < 0) {
        strbuf_printf(err, "stat %s: %s", active.s, strerror(errno));
        goto out;
    }
    flags |= O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC;
    fd = open(path, flags, 0600);
    if (fd < 0 && errno == ENOENT) {
        if (make_dirs(queue_dir, path, &owner, err) < 0)
            goto out;
        fd = open(path, flags, 0600);
    }
    if (fd < 0) {
        strbuf_printf(err, "open %s: %s", path, strerror(errno));
        goto out;
    }
    if (fstat(fd, &st) < 0 || (st.st_uid != owner.st_uid && geteuid() == 0 &&
                               fchown(fd, owner.st_uid, owner.st_gid) < 0)) {
        strbuf_printf(err, "chown %s: %s", path, strerror(errno));
        close(fd);
        fd = -1;
    }
out:
    strbuf_release(&active);
    return fd;
}

static int write_all(int fd, const char *path, const strbuf *data, strbuf *err)
{
    /* One write: with O_APPEND concurrent records stay whole. */
    ssize_t n = data->len ? write(fd, data->s, data->len) : 0;
    if (n < 0 || (size_t)n != data->len) {
        strbuf_printf(err, "write %s: %s", path, n < 0 ? strerror(errno) : "short write");
        return -1;
    }
    return 0;
}

int bounce_log_append(const char *queue_dir, const char *log, const char *queue_id,
                      const struct bounce_log_entry *e, strbuf *err)
{
    strbuf path = STRBUF_INIT, rec = STRBUF_INIT;
    int rc = -1, fd = -1;
    if (log_path(&path, queue_dir, log, queue_id, err) < 0)
        goto out;
    if ((fd = open_log(queue_dir, path.s, O_APPEND, err)) < 0)
        goto out;
    put_entry(&rec, e);
    rc = write_all(fd, path.s, &rec, err);
    if (close(fd) < 0 && rc == 0) {
        strbuf_printf(err, "close %s: %s", path.s, strerror(errno));
        rc = -1;
    }
out:
    strbuf_release(&path);
    strbuf_release(&rec);
    return rc;
}

int bounce_log_replace(const char *queue_dir, const char *log, const char *queue_id,
                       const struct bounce_log_entry *e, size_t n, strbuf *err)
{
    strbuf path = STRBUF_INIT, tmp = STRBUF_INIT, data = STRBUF_INIT;
    int rc = -1, fd = -1;
    if (log_path(&path, queue_dir, log, queue_id, err) < 0)
        goto out;
    /* A name no queue ID can have ('.'), unique per process. */
    strbuf_printf(&tmp, "%s.%ld.tmp", path.s, (long)msg_pid());
    if ((fd = open_log(queue_dir, tmp.s, O_TRUNC, err)) < 0)
        goto out;
    for (size_t i = 0; i < n; i++)
        put_entry(&data, &e[i]);
    rc = write_all(fd, tmp.s, &data, err);
    if (close(fd) < 0 && rc == 0) {
        strbuf_printf(err, "close %s: %s", tmp.s, strerror(errno));
        rc = -1;
    }
    if (rc == 0 && rename(tmp.s, path.s) < 0) {
        strbuf_printf(err, "rename %s: %s", tmp.s, strerror(errno));
        rc = -1;
    }
    if (rc < 0)
        (void)unlink(tmp.s);
out:
    strbuf_release(&path);
    strbuf_release(&tmp);
    strbuf_release(&data);
    return rc;
}

int bounce_log_read(const char *queue_dir, const char *log, const char *queue_id, bounce_log_fn fn,
                    void *ctx, strbuf *err)
{
    strbuf path = STRBUF_INIT, data = STRBUF_INIT;
    int rc = -1;
    if (log_path(&path, queue_dir, log, queue_id, err) < 0)
        goto out;
    int fd = open(path.s, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            rc = 0;
        else
            strbuf_printf(err, "open %s: %s", path.s, strerror(errno));
        goto out;
    }
    char buf[8192];
    ssize_t n;
    while ((n = read(fd, buf, sizeof(buf))) > 0) {
        if (data.len + (size_t)n > BOUNCE_LOG_MAX) {
            strbuf_printf(err, "%s: longer than %d bytes", path.s, BOUNCE_LOG_MAX);
            close(fd);
            goto out;
        }
        strbuf_append(&data, buf, (size_t)n);
    }
    if (n < 0) {
        strbuf_printf(err, "read %s: %s", path.s, strerror(errno));
        close(fd);
        goto out;
    }
    close(fd);

    struct bounce_log_entry e = {0};
    char *p = data.s ? data.s : (char *)"";
    char *end = p + data.len;
    while (p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl)
            break; /* a torn last line (crashed writer): ignore it */
        *nl = 0;
        if (*p == 0) {
            if (e.recipient && e.action)
                fn(ctx, &e);
            e = (struct bounce_log_entry){0};
        } else {
            char *eq = strchr(p, '=');
            if (eq) {
                *eq = 0;
                const char *v = eq + 1;
                static const struct {
                    const char *name;
                    size_t at;
                } fields[] = {
                    {"recipient", offsetof(struct bounce_log_entry, recipient)},
                    {"original_recipient", offsetof(struct bounce_log_entry, orig_recipient)},
                    {"offset", offsetof(struct bounce_log_entry, offset)},
                    {"dsn_orig_rcpt", offsetof(struct bounce_log_entry, dsn_orig_rcpt)},
                    {"dsn_notify", offsetof(struct bounce_log_entry, dsn_notify)},
                    {"status", offsetof(struct bounce_log_entry, status)},
                    {"action", offsetof(struct bounce_log_entry, action)},
                    {"reason", offsetof(struct bounce_log_entry, reason)},
                };
                for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
                    if (strcmp(p, fields[i].name) == 0)
                        *(const char **)((char *)&e + fields[i].at) = v;
            }
        }
        p = nl + 1;
    }
    rc = 0;
out:
    strbuf_release(&path);
    strbuf_release(&data);
    return rc;
}

int bounce_log_remove(const char *queue_dir, const char *log, const char *queue_id)
{
    strbuf path = STRBUF_INIT, err = STRBUF_INIT;
    int rc = 0;
    if (log_path(&path, queue_dir, log, queue_id, &err) < 0) {
        errno = EINVAL;
        rc = -1;
    } else if (unlink(path.s) < 0 && errno != ENOENT) {
        rc = -1;
    }
    strbuf_release(&path);
    strbuf_release(&err);
    return rc;
}
