#include "strbuf.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "mem.h"
#include "msg.h"

void strbuf_reserve(strbuf *sb, size_t extra)
{
    if (extra > SIZE_MAX - sb->len - 1)
        msg_panic("strbuf_reserve: length overflow");
    size_t need = sb->len + extra + 1;
    if (need <= sb->cap)
        return;
    size_t cap = sb->cap ? sb->cap : 64;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    bool fresh = !sb->s;
    sb->s = xrealloc(sb->s, cap);
    sb->cap = cap;
    if (fresh) /* strbuf_str() of a reserved but still empty buffer is "" */
        sb->s[0] = '\0';
}

void strbuf_append(strbuf *sb, const void *data, size_t n)
{
    strbuf_reserve(sb, n);
    if (n)
        memcpy(sb->s + sb->len, data, n);
    sb->len += n;
    sb->s[sb->len] = '\0';
}

void strbuf_puts(strbuf *sb, const char *s)
{
    strbuf_append(sb, s, strlen(s));
}

void strbuf_putc(strbuf *sb, char c)
{
    strbuf_append(sb, &c, 1);
}

void strbuf_vprintf(strbuf *sb, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    strbuf_reserve(sb, 64);
    int n = vsnprintf(sb->s + sb->len, sb->cap - sb->len, fmt, ap);
    if (n < 0)
        msg_panic("strbuf_vprintf: bad format \"%s\"", fmt);
    if ((size_t)n >= sb->cap - sb->len) {
        strbuf_reserve(sb, (size_t)n);
        vsnprintf(sb->s + sb->len, sb->cap - sb->len, fmt, ap2);
    }
    va_end(ap2);
    sb->len += (size_t)n;
}

void strbuf_printf(strbuf *sb, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    strbuf_vprintf(sb, fmt, ap);
    va_end(ap);
}

void strbuf_set(strbuf *sb, const char *s)
{
    strbuf_reset(sb);
    strbuf_puts(sb, s);
}

void strbuf_reset(strbuf *sb)
{
    sb->len = 0;
    if (sb->s)
        sb->s[0] = '\0';
}

void strbuf_truncate(strbuf *sb, size_t len)
{
    if (len < sb->len) {
        sb->len = len;
        sb->s[len] = '\0';
    }
}

void strbuf_release(strbuf *sb)
{
    free(sb->s);
    sb->s = NULL;
    sb->len = sb->cap = 0;
}

char *strbuf_detach(strbuf *sb)
{
    char *s = sb->s ? sb->s : xstrdup("");
    sb->s = NULL;
    sb->len = sb->cap = 0;
    return s;
}

const char *strbuf_str(const strbuf *sb)
{
    return sb->s ? sb->s : "";
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

void strbuf_trim(strbuf *sb)
{
    if (sb->len == 0)
        return;
    size_t start = 0, end = sb->len;
    while (start < end && is_space(sb->s[start]))
        start++;
    while (end > start && is_space(sb->s[end - 1]))
        end--;
    memmove(sb->s, sb->s + start, end - start);
    sb->len = end - start;
    sb->s[sb->len] = '\0';
}

bool strbuf_eq(const strbuf *sb, const char *s)
{
    size_t n = strlen(s);
    return sb->len == n && memcmp(strbuf_str(sb), s, n) == 0;
}
