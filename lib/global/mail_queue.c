/* mail_queue - queue names, hash depth, ID paths, queue scans (see .h). */
#include "mail_queue.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "msg.h"
#include "strlist.h"
#include "mem.h"
#include "queue_file.h"

static const char *const hashable[] = {"incoming", "active", "deferred", "bounce",
                                       "defer",    "trace",  "flush",    "hold"};
#define N_HASHABLE (sizeof(hashable) / sizeof(hashable[0]))

static int hashable_index(const char *queue)
{
    for (size_t i = 0; i < N_HASHABLE; i++)
        if (strcmp(queue, hashable[i]) == 0)
            return (int)i;
    return -1;
}

bool mail_queue_hashable(const char *queue)
{
    return queue && hashable_index(queue) >= 0;
}

int mail_queue_parse(struct mail_queue_hash *out, const char *names, long long depth,
                     strbuf *ignored, strbuf *err)
{
    if (depth < 0 || depth > QUEUE_ID_MAX_DEPTH) {
        strbuf_printf(err, "hash_queue_depth = %lld: must be between 0 and %d", depth,
                      QUEUE_ID_MAX_DEPTH);
        return -1;
    }
    out->depth = (int)depth;
    out->mask = 0;
    strlist l = STRLIST_INIT;
    strlist_split(&l, names ? names : "", ", \t\r\n", NULL);
    for (size_t i = 0; i < l.n; i++) {
        int k = hashable_index(l.v[i]);
        if (k >= 0) {
            out->mask |= 1u << k;
        } else if (ignored) {
            if (ignored->len)
                strbuf_puts(ignored, ", ");
            strbuf_puts(ignored, l.v[i]);
        }
    }
    strlist_release(&l);
    return 0;
}

int mail_queue_hash_depth(const struct mail_queue_hash *h, const char *queue)
{
    int k = queue ? hashable_index(queue) : -1;
    return k >= 0 && (h->mask & (1u << k)) ? h->depth : 0;
}

static const struct mail_queue_hash *configured(void)
{
    static struct mail_queue_hash h;
    static bool done;
    if (!done) {
        strbuf ignored = STRBUF_INIT, err = STRBUF_INIT;
        if (mail_queue_parse(&h, config_get("hash_queue_names"), config_get_int("hash_queue_depth"),
                             &ignored, &err) < 0)
            msg_fatal("%s", strbuf_str(&err));
        if (ignored.len)
            msg_warn("hash_queue_names: %s: not a queue that can be hashed; ignored",
                     strbuf_str(&ignored));
        strbuf_release(&ignored);
        strbuf_release(&err);
        done = true;
    }
    return &h;
}

int mail_queue_depth(const char *queue)
{
    return mail_queue_hash_depth(configured(), queue);
}

int mail_queue_path(strbuf *out, const char *queue, const char *id)
{
    strbuf_reset(out);
    if (!queue || !queue_name_valid(queue) || !id || !queue_id_valid(id))
        return -1;
    strbuf_printf(out, "%s/", queue);
    if (mail_queue_hash_dirs(out, id, mail_queue_depth(queue)) < 0) {
        strbuf_reset(out);
        return -1;
    }
    strbuf_puts(out, id);
    return 0;
}

int mail_queue_hash_dirs(strbuf *out, const char *id, int depth)
{
    return queue_id_hash_dir(out, id, depth);
}

int mail_queue_make_hash_dirs(int dirfd, const char *hash, int *created)
{
    strbuf prefix = STRBUF_INIT;
    int ret = 0;
    for (const char *p = hash; *p; p++) {
        if (*p == '/') {
            if (mkdirat(dirfd, strbuf_str(&prefix), 0700) == 0)
                (*created)++;
            else if (errno != EEXIST) {
                ret = -1;
                break;
            }
        }
        strbuf_putc(&prefix, *p);
    }
    strbuf_release(&prefix);
    return ret;
}

size_t mail_queue_record_limit_for(long long lll)
{
    if (lll < MAIL_QUEUE_WRITE_MIN)
        return MAIL_QUEUE_WRITE_MIN;
    /* Beyond the format's 32-bit record length queue_file_create refuses. */
    return (unsigned long long)lll > UINT32_MAX ? (size_t)UINT32_MAX : (size_t)lll;
}

size_t mail_queue_record_limit(void)
{
    return mail_queue_record_limit_for(config_get_int("line_length_limit"));
}

size_t mail_queue_read_limit(void)
{
    size_t w = mail_queue_record_limit();
    return w > MAIL_QUEUE_READ_MIN ? w : MAIL_QUEUE_READ_MIN;
}

/* ---- scan -------------------------------------------------------------- */

struct level {
    int fd;
    char *name; /* this directory's name in its parent (the queue's at top) */
    strlist names;
    size_t next;
};

struct mail_queue_scan {
    int depth;
    bool all_levels, any_name;
    int top; /* index of the current level, -1 when done */
    struct level lv[QUEUE_ID_MAX_DEPTH + 1];
};

/* Push the names of the directory open on `fd` (not "." names) to
 * `out`. 0, or -1 with errno after a read error (what was read stays). */
static int list_names(int fd, strlist *out)
{
#ifdef __linux__
    /* getdents64 on the descriptor itself: fdopendir wants a descriptor of
     * its own (dup), checks it (fstat, fcntl twice) and closes it again --
     * five system calls per directory that qmgr pays per wake-up. */
    union {
        char bytes[32768];
        struct dirent64 align;
    } buf;
    ssize_t n;
    while ((n = getdents64(fd, buf.bytes, sizeof(buf.bytes))) > 0) {
        for (ssize_t off = 0; off < n;) {
            const struct dirent64 *de = (const struct dirent64 *)(buf.bytes + off);
            off += de->d_reclen;
            if (de->d_name[0] != '.')
                strlist_push(out, de->d_name);
        }
    }
    return n < 0 ? -1 : 0;
#else
    int dup_fd = dup(fd);
    DIR *d = dup_fd < 0 ? NULL : fdopendir(dup_fd);
    if (!d) {
        if (dup_fd >= 0)
            close(dup_fd);
        return -1;
    }
    struct dirent *de;
    int ret = 0;
    errno = 0;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] != '.')
            strlist_push(out, de->d_name);
        errno = 0;
    }
    if (errno != 0)
        ret = -1;
    int saved = errno;
    closedir(d);
    errno = saved;
    return ret;
#endif
}

/* Open `name` under `dirfd` and list it. -1 when it cannot be opened. A
 * hash directory (`nofollow`) that is a symlink is skipped: nothing a
 * scan yields may lie outside the queue. */
static int push(mail_queue_scan *s, int dirfd, const char *name, bool nofollow)
{
    int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | (nofollow ? O_NOFOLLOW : 0));
    if (fd < 0) {
        int saved = errno;
        if (errno != ENOENT && !(nofollow && (errno == ELOOP || errno == ENOTDIR)))
            msg_warn("open directory %s: %m", name);
        errno = saved;
        return -1;
    }
    struct level *l = &s->lv[++s->top];
    l->fd = fd;
    l->name = xstrdup(name);
    l->names = (strlist)STRLIST_INIT;
    l->next = 0;
    if (list_names(fd, &l->names) < 0)
        msg_warn("read directory %s: %m", name);
    return 0;
}

static void pop(mail_queue_scan *s)
{
    struct level *l = &s->lv[s->top--];
    close(l->fd);
    free(l->name);
    strlist_release(&l->names);
}

static mail_queue_scan *scan_open(int dirfd, const char *queue, int depth, bool all_levels,
                                  bool any_name)
{
    if (depth < 0 || depth > QUEUE_ID_MAX_DEPTH)
        msg_panic("mail_queue_scan_open: depth %d", depth);
    mail_queue_scan *s = xcalloc(1, sizeof(*s));
    s->depth = depth;
    s->all_levels = all_levels;
    s->any_name = any_name;
    s->top = -1;
    (void)push(s, dirfd, queue, false);
    return s;
}

mail_queue_scan *mail_queue_scan_open(int dirfd, const char *queue, int depth)
{
    return scan_open(dirfd, queue, depth, false, false);
}

mail_queue_scan *mail_queue_scan_open_all(int dirfd, const char *queue)
{
    return scan_open(dirfd, queue, QUEUE_ID_MAX_DEPTH, true, false);
}

mail_queue_scan *mail_queue_scan_open_names(int dirfd, const char *queue, int depth)
{
    return scan_open(dirfd, queue, depth, true, true);
}

const char *mail_queue_scan_next(mail_queue_scan *s)
{
    while (s->top >= 0) {
        struct level *l = &s->lv[s->top];
        if (l->next >= l->names.n) {
            pop(s);
            continue;
        }
        const char *name = l->names.v[l->next++];
        /* One-character names are hash directories (no ID is that short). */
        if (s->top < s->depth && strlen(name) == 1) {
            if (push(s, l->fd, name, true) == 0)
                continue;
            /* Not a directory: only a names scan reports it. */
            if (s->any_name && (errno == ENOTDIR || errno == ELOOP))
                return name;
            continue;
        }
        if ((s->all_levels || s->top == s->depth) && (s->any_name || queue_id_valid(name)))
            return name;
    }
    return NULL;
}

void mail_queue_scan_path(const mail_queue_scan *s, const char *name, strbuf *out)
{
    strbuf_reset(out);
    for (int i = 0; i <= s->top; i++)
        strbuf_printf(out, "%s/", s->lv[i].name);
    strbuf_puts(out, name);
}

int mail_queue_scan_dirfd(const mail_queue_scan *s)
{
    return s->top >= 0 ? s->lv[s->top].fd : -1;
}

void mail_queue_scan_close(mail_queue_scan **sp)
{
    mail_queue_scan *s = *sp;
    if (!s)
        return;
    while (s->top >= 0)
        pop(s);
    free(s);
    *sp = NULL;
}
