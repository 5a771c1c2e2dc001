/* virtual_mailbox - table results to mailbox path and ids (virtual_mailbox.h). */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "virtual_mailbox.h"

/* True when s contains ".." as a whole path component. */
static bool has_dotdot(const char *s)
{
    for (const char *p = s; *p;) {
        const char *e = strchr(p, '/');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n == 2 && p[0] == '.' && p[1] == '.')
            return true;
        p += n;
        while (*p == '/')
            p++;
    }
    return false;
}

static bool has_control(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return true;
    return false;
}

int virtual_mailbox_path(const char *base, const char *result, strbuf *path, bool *maildir,
                         strbuf *err)
{
    strbuf_reset(path);
    if (!base || base[0] != '/') {
        strbuf_set(err, "virtual_mailbox_base must be an absolute pathname");
        return -1;
    }
    if (!result || !result[0]) {
        strbuf_set(err, "empty virtual_mailbox_maps result");
        return -1;
    }
    if (result[0] == '/') {
        strbuf_set(err, "virtual_mailbox_maps result is an absolute pathname");
        return -1;
    }
    if (has_control(result) || has_control(base)) {
        strbuf_set(err, "virtual_mailbox_maps result contains control characters");
        return -1;
    }
    if (has_dotdot(result) || has_dotdot(base)) {
        strbuf_set(err, "virtual_mailbox_maps result contains a \"..\" component");
        return -1;
    }
    if (strspn(result, "/") == strlen(result)) {
        strbuf_set(err, "virtual_mailbox_maps result names no file");
        return -1;
    }
    size_t rl = strlen(result);
    *maildir = result[rl - 1] == '/';
    size_t bl = strlen(base);
    while (bl > 1 && base[bl - 1] == '/')
        bl--;
    strbuf_append(path, base, bl);
    if (bl > 1 || base[0] != '/')
        strbuf_putc(path, '/');
    /* Trailing slashes off: callers get the directory or file name. */
    while (rl > 0 && result[rl - 1] == '/')
        rl--;
    strbuf_append(path, result, rl);
    return 0;
}

int virtual_mailbox_id(const char *value, unsigned long minimum, unsigned long *id, strbuf *err)
{
    strbuf_reset(err);
    if (!value || !value[0] || strspn(value, "0123456789") != strlen(value)) {
        strbuf_printf(err, "bad numerical id \"%.100s\"", value ? value : "");
        return -1;
    }
    errno = 0;
    unsigned long long v = strtoull(value, NULL, 10);
    if (errno == ERANGE || v > (unsigned long long)(uid_t)-1 - 1) {
        strbuf_printf(err, "numerical id out of range: \"%.100s\"", value);
        return -1;
    }
    *id = (unsigned long)v;
    if (*id < minimum) {
        strbuf_printf(err, "unacceptable numerical id %lu (minimum %lu)", *id, minimum);
        return -2;
    }
    return 0;
}
