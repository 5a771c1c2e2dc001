#include "fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/aio_abi.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "mem.h"
#include "strbuf.h"

int write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (n == 0) {
            errno = EIO;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int ret = fsync(fd);
    int saved = errno;
    close(fd);
    errno = saved;
    return ret;
}

int fsync_parent_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (slash == NULL)
        return fsync_dir(".");
    if (slash == path)
        return fsync_dir("/");
    char *dir = xstrndup(path, (size_t)(slash - path));
    int ret = fsync_dir(dir);
    int saved = errno;
    free(dir);
    errno = saved;
    return ret;
}

bool path_is_plain_absolute(const char *path)
{
    if (path[0] != '/')
        return false;
    for (const char *p = path; *p;) {
        while (*p == '/')
            p++;
        size_t len = strcspn(p, "/");
        if ((len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.'))
            return false;
        p += len;
    }
    return true;
}

int mkdir_p(const char *path, mode_t mode)
{
    strbuf partial = STRBUF_INIT;
    int ret = 0;
    for (const char *p = path; ret == 0; p++) {
        if ((*p == '/' || *p == '\0') && partial.len > 0) {
            if (mkdir(partial.s, mode) < 0 && errno != EEXIST)
                ret = -1;
        }
        if (*p == '\0')
            break;
        strbuf_putc(&partial, *p);
    }
    int saved = errno;
    strbuf_release(&partial);
    errno = saved;
    return ret;
}

/* One AIO context per process, made on first use and kept: io_destroy
 * waits for an RCU grace period (milliseconds), far more than the fsyncs
 * it would follow. FSYNC_AIO_MAX requests go in per round. */
#define FSYNC_AIO_MAX 64
static aio_context_t aio_ctx;
static int aio_state; /* 0 untried, 1 ready, -1 unavailable */

/* The AIO part of fsync_all: submit the fsyncs, collect the results.
 * errs[i] stays -1 for one that was never submitted or never answered. */
static void fsync_aio(const int *fds, size_t n, int *errs)
{
    if (aio_state == 0)
        aio_state = syscall(SYS_io_setup, (long)FSYNC_AIO_MAX, &aio_ctx) == 0 ? 1 : -1;
    if (aio_state < 0)
        return;
    struct iocb cbs[FSYNC_AIO_MAX];
    struct iocb *list[FSYNC_AIO_MAX];
    struct io_event events[FSYNC_AIO_MAX];
    for (size_t base = 0; base < n; base += FSYNC_AIO_MAX) {
        size_t m = n - base < FSYNC_AIO_MAX ? n - base : FSYNC_AIO_MAX;
        memset(cbs, 0, sizeof(cbs));
        for (size_t i = 0; i < m; i++) {
            cbs[i].aio_fildes = (uint32_t)fds[base + i];
            cbs[i].aio_lio_opcode = IOCB_CMD_FSYNC;
            cbs[i].aio_data = base + i;
            list[i] = &cbs[i];
        }
        /* A short count or EINVAL (no AIO fsync here) leaves the rest to
         * the caller's one-by-one fallback. */
        long submitted = syscall(SYS_io_submit, aio_ctx, (long)m, list);
        long answered = 0;
        while (submitted > 0 && answered < submitted) {
            long got = syscall(SYS_io_getevents, aio_ctx, 1L, submitted - answered, events, NULL);
            if (got < 0) {
                if (errno == EINTR)
                    continue;
                /* Cannot happen with a valid context; the requests still in
                 * flight would complete into it unseen, so stop using it. */
                aio_state = -1;
                return;
            }
            for (long k = 0; k < got; k++) {
                size_t i = (size_t)events[k].data;
                if (i < n)
                    errs[i] = events[k].res < 0 ? (int)-events[k].res : 0;
            }
            answered += got;
        }
        if (submitted < (long)m)
            return;
    }
}

int fsync_all(const int *fds, size_t n, int *errs)
{
    for (size_t i = 0; i < n; i++)
        errs[i] = -1;
    if (n > 1)
        fsync_aio(fds, n, errs);
    int ret = 0;
    for (size_t i = 0; i < n; i++) {
        if (errs[i] == -1)
            errs[i] = fsync(fds[i]) < 0 ? errno : 0;
        if (errs[i] != 0)
            ret = -1;
    }
    return ret;
}

/* The n-th space-separated field of a mountinfo line (mount points and
 * sources escape their spaces as \040, so fields never hold one). */
static bool next_field(const char **p, const char *end, const char **field, size_t *len)
{
    while (*p < end && **p == ' ')
        (*p)++;
    if (*p >= end)
        return false;
    *field = *p;
    while (*p < end && **p != ' ')
        (*p)++;
    *len = (size_t)(*p - *field);
    return true;
}

/* "major:minor" exactly, both decimal. */
static bool field_is_device(const char *f, size_t len, unsigned dev_major, unsigned dev_minor)
{
    char want[32];
    int n = snprintf(want, sizeof(want), "%u:%u", dev_major, dev_minor);
    return n > 0 && (size_t)n == len && memcmp(f, want, len) == 0;
}

int mountinfo_fs_type(const char *text, size_t len, unsigned dev_major, unsigned dev_minor,
                      strbuf *type)
{
    const char *end = text + len;
    for (const char *line = text; line < end;) {
        const char *nl = memchr(line, '\n', (size_t)(end - line));
        const char *line_end = nl ? nl : end;
        const char *p = line, *f;
        size_t flen;
        /* mount ID, parent ID, major:minor, root, mount point, options,
         * optional fields ending with "-", then the file system type. */
        bool ok = next_field(&p, line_end, &f, &flen) && next_field(&p, line_end, &f, &flen) &&
                  next_field(&p, line_end, &f, &flen) &&
                  field_is_device(f, flen, dev_major, dev_minor);
        for (int i = 0; ok && i < 3; i++)
            ok = next_field(&p, line_end, &f, &flen);
        while (ok && !(flen == 1 && f[0] == '-'))
            ok = next_field(&p, line_end, &f, &flen);
        if (ok && next_field(&p, line_end, &f, &flen)) {
            strbuf_reset(type);
            strbuf_append(type, f, flen);
            return 0;
        }
        line = nl ? nl + 1 : end;
    }
    return -1;
}

/* mountinfo of a host with thousands of mounts stays far below this; a
 * bigger one is not worth reading for an optimisation. */
#define MOUNTINFO_MAX (4u << 20)

static bool fs_type_covers(unsigned dev_major, unsigned dev_minor)
{
    int fd = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    strbuf text = STRBUF_INIT, type = STRBUF_INIT;
    char chunk[8192];
    ssize_t got;
    bool complete = false;
    while (text.len < MOUNTINFO_MAX) {
        got = read(fd, chunk, sizeof(chunk));
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0) {
            complete = got == 0;
            break;
        }
        strbuf_append(&text, chunk, (size_t)got);
    }
    (void)close(fd);
    bool covers =
        complete && mountinfo_fs_type(text.s, text.len, dev_major, dev_minor, &type) == 0 &&
        (strcmp(type.s, "ext4") == 0 || strcmp(type.s, "ext3") == 0 || strcmp(type.s, "xfs") == 0);
    strbuf_release(&text);
    strbuf_release(&type);
    return covers;
}

bool fsync_covers_new_entry(dev_t dev)
{
    static struct {
        dev_t dev;
        bool covers;
    } known[8];
    static size_t n_known;
    for (size_t i = 0; i < n_known; i++)
        if (known[i].dev == dev)
            return known[i].covers;
    bool covers = fs_type_covers(major(dev), minor(dev));
    if (n_known < sizeof(known) / sizeof(known[0])) {
        known[n_known].dev = dev;
        known[n_known].covers = covers;
        n_known++;
    }
    return covers;
}
