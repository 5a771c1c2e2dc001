/* cleanup_mime - MIME structure for content checks; see cleanup_mime.h. */
#include "cleanup_mime.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define BOUNDARY_MAX 70 /* RFC 2046 5.1.1 */

/* Case-insensitive "type/subtype" at the start of v (after blanks). */
static bool type_is(const char *v, size_t len, const char *want)
{
    size_t n = strlen(want);
    if (len < n || strncasecmp(v, want, n) != 0)
        return false;
    return len == n || strchr(" \t\r\n;(", v[n]) != NULL;
}

/* The boundary parameter, quoted or not. Parameter names are matched at a
 * parameter start only (after ';' and blanks), so "xboundary=" does not
 * count. */
static bool find_boundary(const char *v, size_t len, strbuf *out)
{
    size_t i = 0;
    while (i < len) {
        while (i < len && v[i] != ';')
            i++;
        if (i >= len)
            return false;
        i++;
        while (i < len && strchr(" \t\r\n", v[i]))
            i++;
        if (len - i < 9 || strncasecmp(v + i, "boundary=", 9) != 0)
            continue;
        const char *b = v + i + 9, *end = v + len;
        size_t n = 0;
        if (b < end && *b == '"') {
            b++;
            while (b + n < end && b[n] != '"')
                n++;
            if (b + n >= end)
                return false; /* no closing quote */
        } else {
            /* A NUL ends the token as it ends a C string (Postfix): the
             * parts are followed rather than skipped unchecked. */
            while (b + n < end && b[n] && !strchr(" \t\r\n;", b[n]))
                n++;
        }
        if (n == 0 || n > BOUNDARY_MAX || memchr(b, '\0', n))
            return false;
        strbuf_set(out, "--");
        strbuf_append(out, b, n);
        return true;
    }
    return false;
}

enum mime_type mime_content_type(const char *value, size_t len, strbuf *boundary)
{
    strbuf_reset(boundary);
    while (len > 0 && strchr(" \t\r\n", *value)) {
        value++;
        len--;
    }
    if (type_is(value, len, "message/rfc822") || type_is(value, len, "message/global"))
        return MIME_MESSAGE;
    if (len < 10 || strncasecmp(value, "multipart/", 10) != 0)
        return MIME_OTHER;
    if (!find_boundary(value, len, boundary))
        return MIME_OTHER;
    return type_is(value, len, "multipart/digest") ? MIME_DIGEST : MIME_MULTIPART;
}

void mime_stack_init(mime_stack *st, size_t limit)
{
    st->levels = (strlist)STRLIST_INIT;
    st->limit = limit;
    st->overflowed = false;
}

void mime_stack_release(mime_stack *st)
{
    strlist_release(&st->levels);
}

size_t mime_stack_depth(const mime_stack *st)
{
    return st->levels.n;
}

bool mime_stack_push(mime_stack *st, const char *boundary, bool digest)
{
    if (st->levels.n >= st->limit) {
        st->overflowed = true;
        return false;
    }
    strbuf e = STRBUF_INIT;
    strbuf_putc(&e, digest ? 'd' : 'm');
    strbuf_puts(&e, boundary);
    strlist_push_owned(&st->levels, strbuf_detach(&e));
    return true;
}

/* "--boundary" or "--boundary--", then only blanks. */
static int matches(const char *b, const char *line, size_t len)
{
    size_t bl = strlen(b);
    if (len < bl || memcmp(line, b, bl) != 0)
        return 0;
    size_t i = bl;
    bool final = len >= bl + 2 && line[bl] == '-' && line[bl + 1] == '-';
    if (final)
        i += 2;
    while (i < len && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r'))
        i++;
    if (i != len)
        return 0;
    return final ? 2 : 1;
}

bool mime_stack_boundary(mime_stack *st, const char *line, size_t len, bool *digest, bool *closing)
{
    *closing = false;
    *digest = false;
    if (len < 3 || line[0] != '-' || line[1] != '-')
        return false;
    for (size_t k = st->levels.n; k-- > 0;) {
        int m = matches(st->levels.v[k] + 1, line, len);
        if (!m)
            continue;
        /* Levels inside the one matched ended without their final boundary. */
        while (st->levels.n > k + 1)
            free(st->levels.v[--st->levels.n]);
        if (m == 2) {
            free(st->levels.v[--st->levels.n]);
            *closing = true;
            return false;
        }
        *digest = st->levels.v[k][0] == 'd';
        return true;
    }
    return false;
}
