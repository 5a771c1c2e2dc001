#include "trace_log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void trace_path(strbuf *out, const char *queue_dir, const char *queue_id)
{
    strbuf_printf(out, "%s/trace/%s", queue_dir, queue_id);
}

static void put_field(strbuf *out, const char *name, const char *value)
{
    strbuf_puts(out, name);
    strbuf_putc(out, '=');
    for (const char *p = value ? value : ""; *p; p++)
        strbuf_putc(out, (*p == '\n' || *p == '\r') ? ' ' : *p);
    strbuf_putc(out, '\n');
}

/* trace/ must belong to mail_owner even when root creates it first. */
static int ensure_dir(const char *queue_dir, const struct stat *owner, strbuf *err)
{
    strbuf dir = STRBUF_INIT;
    strbuf_printf(&dir, "%s/trace", queue_dir);
    int rc = 0;
    if (mkdir(dir.s, 0700) == 0) {
        if (geteuid() == 0 && chown(dir.s, owner->st_uid, owner->st_gid) < 0) {
            strbuf_printf(err, "chown %s: %s", dir.s, strerror(errno));
            rc = -1;
        }
    } else if (errno != EEXIST) {
        strbuf_printf(err, "mkdir %s: %s", dir.s, strerror(errno));
        rc = -1;
    }
    strbuf_release(&dir);
    return rc;
}

int trace_log_append(const char *queue_dir, const char *queue_id, const struct trace_entry *e,
                     strbuf *err)
{
    strbuf path = STRBUF_INIT, rec = STRBUF_INIT, active = STRBUF_INIT;
    struct stat owner;
    int fd = -1, rc = -1;
    strbuf_printf(&active, "%s/active", queue_dir);
    if (stat(active.s, &owner) < 0) {
        strbuf_printf(err, "stat %s: %s", active.s, strerror(errno));
        goto out;
    }
    trace_path(&path, queue_dir, queue_id);
    fd = open(path.s, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0 && errno == ENOENT) {
        if (ensure_dir(queue_dir, &owner, err) < 0)
            goto out;
        fd = open(path.s, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    }
    if (fd < 0) {
        strbuf_printf(err, "open %s: %s", path.s, strerror(errno));
        goto out;
    }
    struct stat st;
    if (fstat(fd, &st) < 0) {
        strbuf_printf(err, "fstat %s: %s", path.s, strerror(errno));
        goto out;
    }
    if (st.st_uid != owner.st_uid && geteuid() == 0 && fchown(fd, owner.st_uid, owner.st_gid) < 0) {
        strbuf_printf(err, "chown %s: %s", path.s, strerror(errno));
        goto out;
    }
    put_field(&rec, "recipient", e->recipient);
    if (e->orig_recipient && *e->orig_recipient)
        put_field(&rec, "original_recipient", e->orig_recipient);
    put_field(&rec, "status", e->status);
    put_field(&rec, "action", e->action);
    put_field(&rec, "reason", e->reason);
    strbuf_putc(&rec, '\n');
    /* One write: O_APPEND keeps concurrent records whole. */
    ssize_t n = write(fd, rec.s, rec.len);
    if (n < 0 || (size_t)n != rec.len) {
        strbuf_printf(err, "write %s: %s", path.s, n < 0 ? strerror(errno) : "short write");
        goto out;
    }
    rc = 0;
out:
    if (fd >= 0 && close(fd) < 0 && rc == 0) {
        strbuf_printf(err, "close %s: %s", path.s, strerror(errno));
        rc = -1;
    }
    strbuf_release(&path);
    strbuf_release(&rec);
    strbuf_release(&active);
    return rc;
}

int trace_log_read(const char *queue_dir, const char *queue_id, trace_log_fn fn, void *ctx,
                   strbuf *err)
{
    strbuf path = STRBUF_INIT, data = STRBUF_INIT;
    int rc = -1;
    trace_path(&path, queue_dir, queue_id);
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
        if (data.len + (size_t)n > TRACE_LOG_MAX) {
            strbuf_printf(err, "%s: longer than %d bytes", path.s, TRACE_LOG_MAX);
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

    struct trace_entry e = {0};
    bool any = false;
    char *p = data.s ? data.s : (char *)"";
    char *end = p + data.len;
    while (p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl)
            break; /* a torn last line (crashed writer): ignore it */
        *nl = 0;
        if (*p == 0) {
            if (any && e.recipient && e.action)
                fn(ctx, &e);
            e = (struct trace_entry){0};
            any = false;
        } else {
            char *eq = strchr(p, '=');
            if (eq) {
                *eq = 0;
                const char *v = eq + 1;
                if (strcmp(p, "recipient") == 0)
                    e.recipient = v;
                else if (strcmp(p, "original_recipient") == 0)
                    e.orig_recipient = v;
                else if (strcmp(p, "status") == 0)
                    e.status = v;
                else if (strcmp(p, "action") == 0)
                    e.action = v;
                else if (strcmp(p, "reason") == 0)
                    e.reason = v;
                any = true;
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

int trace_log_remove(const char *queue_dir, const char *queue_id)
{
    strbuf path = STRBUF_INIT;
    trace_path(&path, queue_dir, queue_id);
    int rc = unlink(path.s) < 0 && errno != ENOENT ? -1 : 0;
    strbuf_release(&path);
    return rc;
}
