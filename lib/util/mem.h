/* mem - allocation that never returns NULL.
 *
 * Every allocation in the tree goes through these wrappers. Running out of
 * memory logs one fatal line and exits; master respawns the daemon. Memory
 * from xmalloc/xcalloc is zero-filled so no structure starts with garbage.
 * XFREE(p) frees and clears the caller's pointer.
 */
#ifndef MTA_MEM_H
#define MTA_MEM_H
#include <stddef.h>
#include <stdlib.h>

void *xmalloc(size_t size);
void *xcalloc(size_t count, size_t size); /* overflow-checked */
void *xrealloc(void *ptr, size_t size);
void *xreallocarray(void *ptr, size_t count, size_t size); /* overflow-checked */
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
void *xmemdup(const void *p, size_t n);

#define XFREE(p)                                                                                   \
    do {                                                                                           \
        free(p);                                                                                   \
        (p) = NULL;                                                                                \
    } while (0)

#endif
