#include "strlist.h"

#include <string.h>
#include <strings.h>

#include "mem.h"

void strlist_push_owned(strlist *sl, char *s)
{
    if (sl->n + 2 > sl->cap) {
        sl->cap = sl->cap ? sl->cap * 2 : 8;
        sl->v = xreallocarray(sl->v, sl->cap, sizeof(*sl->v));
    }
    sl->v[sl->n++] = s;
    sl->v[sl->n] = NULL;
}

void strlist_push(strlist *sl, const char *s)
{
    strlist_push_owned(sl, xstrdup(s));
}

void strlist_pushn(strlist *sl, const char *s, size_t len)
{
    strlist_push_owned(sl, xstrndup(s, len));
}

void strlist_release(strlist *sl)
{
    for (size_t i = 0; i < sl->n; i++)
        free(sl->v[i]);
    free(sl->v);
    sl->v = NULL;
    sl->n = sl->cap = 0;
}

bool strlist_contains(const strlist *sl, const char *s)
{
    for (size_t i = 0; i < sl->n; i++)
        if (strcmp(sl->v[i], s) == 0)
            return true;
    return false;
}

bool strlist_contains_nocase(const strlist *sl, const char *s)
{
    for (size_t i = 0; i < sl->n; i++)
        if (strcasecmp(sl->v[i], s) == 0)
            return true;
    return false;
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

int strlist_split(strlist *sl, const char *text, const char *delims, const char **error)
{
    const char *p = text;
    while (*p) {
        if (strchr(delims, *p)) {
            p++;
            continue;
        }
        if (*p == '{') {
            /* Braced item: everything up to the matching '}', trimmed. */
            int depth = 1;
            const char *start = ++p;
            while (*p && depth > 0) {
                if (*p == '{')
                    depth++;
                else if (*p == '}')
                    depth--;
                if (depth > 0)
                    p++;
            }
            if (depth != 0) {
                if (error)
                    *error = "missing '}'";
                return -1;
            }
            const char *end = p++;
            while (start < end && is_blank(*start))
                start++;
            while (end > start && is_blank(end[-1]))
                end--;
            strlist_pushn(sl, start, (size_t)(end - start));
            continue;
        }
        if (*p == '}') {
            if (error)
                *error = "unexpected '}'";
            return -1;
        }
        const char *start = p;
        while (*p && !strchr(delims, *p))
            p++;
        strlist_pushn(sl, start, (size_t)(p - start));
    }
    return 0;
}
