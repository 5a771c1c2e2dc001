/* postconf_edit - rewrite main.cf in place for postconf -e, -X and -#.
 *
 * A parameter's logical line (its first line plus the whitespace-led
 * continuation lines) is replaced by "name = value", removed, or commented
 * out line by line; comments, blank lines and everything else are kept
 * byte for byte and in order. Names that -e sets but main.cf lacks are
 * appended. The new text goes to main.cf.tmp, which doubles as the lock
 * (flock) that serializes concurrent editors; it is fsynced, given the old
 * file's mode and owner, and renamed over main.cf, and the directory is
 * fsynced, so a crash leaves either the old or the new file.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include "mem.h"
#include "msg.h"
#include "postconf.h"
#include "strbuf.h"
#include "strlist.h"

#define PC_WHITESPACE " \t\n\v\f\r"

static bool is_space(char c)
{
    return c != '\0' && strchr(PC_WHITESPACE, c) != NULL;
}

const char *postconf_split_nameval(const char *text, char **name, char **value)
{
    const char *p = text;
    while (is_space(*p))
        p++;
    if (!*p || *p == '=')
        return "missing attribute name";
    const char *ns = p;
    while (*p && !is_space(*p) && *p != '=')
        p++;
    const char *ne = p;
    while (is_space(*p))
        p++;
    if (*p != '=')
        return "missing '=' after attribute name";
    p++;
    while (is_space(*p))
        p++;
    const char *ve = p + strlen(p);
    while (ve > p && is_space(ve[-1]))
        ve--;
    *name = xstrndup(ns, (size_t)(ne - ns));
    *value = xstrndup(p, (size_t)(ve - p));
    return NULL;
}

struct edit_item {
    char *name;
    char *value; /* -e only */
    int found;
};

static char *tmp_path_for_cleanup;

static void remove_tmp(void)
{
    if (tmp_path_for_cleanup)
        (void)unlink(tmp_path_for_cleanup);
}

/* Open and lock path.tmp. Another editor may rename the file we opened
 * while we wait for the lock; then the lock protects nothing and we retry. */
static int lock_tmp(const char *tmp)
{
    for (int attempt = 0; attempt < 100; attempt++) {
        int fd = open(tmp, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0)
            msg_fatal("open %s: %m", tmp);
        if (flock(fd, LOCK_EX) < 0)
            msg_fatal("lock %s: %m", tmp);
        struct stat fsb, psb;
        if (fstat(fd, &fsb) < 0)
            msg_fatal("fstat %s: %m", tmp);
        if (stat(tmp, &psb) == 0 && psb.st_dev == fsb.st_dev && psb.st_ino == fsb.st_ino) {
            if (ftruncate(fd, 0) < 0)
                msg_fatal("truncate %s: %m", tmp);
            return fd;
        }
        close(fd);
    }
    msg_fatal("%s: cannot get a stable lock", tmp);
}

static void write_all(int fd, const char *path, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            msg_fatal("write %s: %m", path);
        }
        data += n;
        len -= (size_t)n;
    }
}

static bool read_whole(const char *path, strbuf *text, struct stat *sb)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        msg_fatal("open %s for reading: %m", path);
    if (fstat(fd, sb) < 0)
        msg_fatal("fstat %s: %m", path);
    if (!S_ISREG(sb->st_mode))
        msg_fatal("%s: not a regular file", path);
    for (;;) {
        strbuf_reserve(text, 65536);
        ssize_t n = read(fd, text->s + text->len, text->cap - text->len - 1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            msg_fatal("read %s: %m", path);
        }
        if (n == 0)
            break;
        text->len += (size_t)n;
        text->s[text->len] = '\0';
    }
    close(fd);
    return true;
}

static struct edit_item *find_item(struct edit_item *items, int n, const char *name, size_t len)
{
    for (int i = n - 1; i >= 0; i--) /* the last -e for a name wins */
        if (strlen(items[i].name) == len && memcmp(items[i].name, name, len) == 0)
            return &items[i];
    return NULL;
}

void postconf_edit_main(const char *dir, enum postconf_edit_mode mode, char **args, int nargs)
{
    struct edit_item *items = xcalloc((size_t)nargs, sizeof(*items));
    for (int i = 0; i < nargs; i++) {
        if (mode == POSTCONF_EDIT_SET) {
            if (strchr(args[i], '\n'))
                msg_fatal_status(EX_USAGE, "-e accepts no multi-line input: \"%s\"", args[i]);
            const char *why = postconf_split_nameval(args[i], &items[i].name, &items[i].value);
            if (why)
                msg_fatal_status(EX_USAGE, "%s: \"%s\"", why, args[i]);
            if (items[i].name[0] == '#')
                msg_fatal_status(EX_USAGE, "-e accepts no comment input: \"%s\"", args[i]);
        } else {
            const char *a = args[i];
            if (!*a || a[strcspn(a, PC_WHITESPACE "=#")] != '\0')
                msg_fatal_status(EX_USAGE, "bad parameter name: \"%s\"", a);
            items[i].name = xstrdup(a);
        }
    }

    strbuf path = STRBUF_INIT, tmp = STRBUF_INIT, text = STRBUF_INIT, out = STRBUF_INIT;
    strbuf_printf(&path, "%s/main.cf", dir);
    strbuf_printf(&tmp, "%s/main.cf.tmp", dir);
    int fd = lock_tmp(strbuf_str(&tmp));
    tmp_path_for_cleanup = xstrdup(strbuf_str(&tmp));
    msg_set_cleanup(remove_tmp);

    /* Read only after locking, so that concurrent edits are serialized. */
    struct stat sb;
    read_whole(strbuf_str(&path), &text, &sb);

    bool interesting = false;
    size_t pos = 0;
    while (pos < text.len) {
        const char *line = text.s + pos;
        const char *nl = memchr(line, '\n', text.len - pos);
        size_t len = nl ? (size_t)(nl - line) + 1 : text.len - pos;
        pos += len;
        size_t k = 0;
        while (k < len && is_space(line[k]))
            k++;
        if (k == len || line[k] == '#') {
            strbuf_append(&out, line, len); /* comment, blank */
        } else if (k > 0) {                 /* continuation */
            if (!interesting) {
                strbuf_append(&out, line, len);
            } else if (mode == POSTCONF_EDIT_COMMENT_OUT) {
                strbuf_putc(&out, '#');
                strbuf_append(&out, line, len);
            }
        } else {
            size_t nlen = 0;
            while (nlen < len && !is_space(line[nlen]) && line[nlen] != '=')
                nlen++;
            struct edit_item *it = find_item(items, nargs, line, nlen);
            interesting = it != NULL;
            if (!it) {
                strbuf_append(&out, line, len);
                continue;
            }
            if (it->found++ == 1)
                msg_warn("%s: multiple entries for \"%s\"", strbuf_str(&path), it->name);
            if (mode == POSTCONF_EDIT_SET) {
                strbuf_printf(&out, "%s = %s\n", it->name, it->value);
            } else if (mode == POSTCONF_EDIT_COMMENT_OUT) {
                strbuf_putc(&out, '#');
                strbuf_append(&out, line, len);
            }
        }
    }
    if (mode == POSTCONF_EDIT_SET) {
        for (int i = 0; i < nargs; i++) {
            if (items[i].found ||
                find_item(items, nargs, items[i].name, strlen(items[i].name)) != &items[i])
                continue;
            if (out.len > 0 && out.s[out.len - 1] != '\n')
                strbuf_putc(&out, '\n');
            strbuf_printf(&out, "%s = %s\n", items[i].name, items[i].value);
            items[i].found = 1;
        }
    }

    write_all(fd, strbuf_str(&tmp), strbuf_str(&out), out.len);
    if (fchmod(fd, sb.st_mode & 07777) < 0)
        msg_fatal("chmod %s: %m", strbuf_str(&tmp));
    if (geteuid() == 0 && fchown(fd, sb.st_uid, sb.st_gid) < 0)
        msg_fatal("chown %s: %m", strbuf_str(&tmp));
    if (fsync(fd) < 0)
        msg_fatal("fsync %s: %m", strbuf_str(&tmp));
    if (rename(strbuf_str(&tmp), strbuf_str(&path)) < 0)
        msg_fatal("rename %s to %s: %m", strbuf_str(&tmp), strbuf_str(&path));
    msg_set_cleanup(NULL);
    XFREE(tmp_path_for_cleanup);
    if (close(fd) < 0)
        msg_fatal("close %s: %m", strbuf_str(&tmp));
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        if (fsync(dfd) < 0 && errno != EINVAL)
            msg_fatal("fsync %s: %m", dir);
        close(dfd);
    }

    for (int i = 0; i < nargs; i++) {
        free(items[i].name);
        free(items[i].value);
    }
    free(items);
    strbuf_release(&path);
    strbuf_release(&tmp);
    strbuf_release(&text);
    strbuf_release(&out);
}
