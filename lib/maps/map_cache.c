/* map_cache - see map_cache.h. A short array searched linearly: a restriction
 * list names a handful of tables, so a hash would buy nothing. */
#include <stdlib.h>
#include <string.h>

#include "map_cache.h"
#include "mem.h"

struct entry {
    char *spec;
    unsigned flags;
    map *m;
};

static struct entry *entries;
static size_t n_entries, cap_entries;
static unsigned long opens;

map *map_cache_get(const char *spec, unsigned flags, strbuf *err)
{
    struct entry *e = NULL;
    for (size_t i = 0; i < n_entries; i++)
        if (entries[i].flags == flags && strcmp(entries[i].spec, spec) == 0) {
            e = &entries[i];
            break;
        }
    if (e && e->m && !map_changed(e->m))
        return e->m;
    if (e)
        map_free(&e->m); /* changed on disk, or an earlier open failed */
    map *m = map_open(spec, flags, err);
    opens++;
    if (!m)
        return NULL;
    if (!e) {
        if (n_entries == cap_entries) {
            cap_entries = cap_entries ? cap_entries * 2 : 8;
            entries = xreallocarray(entries, cap_entries, sizeof(*entries));
        }
        e = &entries[n_entries++];
        e->spec = xstrdup(spec);
        e->flags = flags;
    }
    e->m = m;
    return m;
}

unsigned long map_cache_opens(void)
{
    return opens;
}

void map_cache_flush(void)
{
    for (size_t i = 0; i < n_entries; i++) {
        map_free(&entries[i].m);
        free(entries[i].spec);
    }
    free(entries);
    entries = NULL;
    n_entries = cap_entries = 0;
}
