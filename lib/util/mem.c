#include "mem.h"

#include <stdint.h>
#include <string.h>

#include "msg.h"

static void out_of_memory(size_t size)
{
    msg_fatal("out of memory allocating %zu bytes", size);
}

void *xmalloc(size_t size)
{
    void *p = calloc(1, size ? size : 1);
    if (p == NULL)
        out_of_memory(size);
    return p;
}

void *xcalloc(size_t count, size_t size)
{
    if (size != 0 && count > SIZE_MAX / size)
        msg_panic("xcalloc: %zu * %zu overflows", count, size);
    return xmalloc(count * size);
}

void *xrealloc(void *ptr, size_t size)
{
    void *p = realloc(ptr, size ? size : 1);
    if (p == NULL)
        out_of_memory(size);
    return p;
}

void *xreallocarray(void *ptr, size_t count, size_t size)
{
    if (size != 0 && count > SIZE_MAX / size)
        msg_panic("xreallocarray: %zu * %zu overflows", count, size);
    return xrealloc(ptr, count * size);
}

char *xstrdup(const char *s)
{
    return xmemdup(s, strlen(s) + 1);
}

char *xstrndup(const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *p = xmalloc(len + 1);
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

void *xmemdup(const void *src, size_t n)
{
    void *p = xmalloc(n);
    if (n)
        memcpy(p, src, n);
    return p;
}
