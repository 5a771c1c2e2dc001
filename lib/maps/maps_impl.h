/* maps_impl - internal interface between maps.c and the per-type table
 * implementations (maps_<type>.c). Not for use outside lib/maps/maps*.c.
 *
 * maps.c allocates the struct map, fills spec/type/name/flags and calls the
 * type's open function, which sets kind, lookup, close and priv, or returns
 * -1 with *err set (maps.c prefixes nothing: the opener names the spec or
 * file itself). The key given to lookup is already case-folded when the
 * table is fixed-string and folding is on. map_watch_file() records a file
 * whose change map_changed() reports.
 */
#ifndef MTA_MAPS_IMPL_H
#define MTA_MAPS_IMPL_H
#include <sys/stat.h>

#include "maps.h"

/* Longest physical or logical line accepted in any table source file. */
#define MAP_LINE_MAX (1024 * 1024)

struct map {
    char *spec;       /* as given, minus a "proxy:" prefix */
    char *type;       /* "hash" */
    const char *name; /* points into spec, after "type:" */
    unsigned flags;   /* MAP_NOFOLD, ... */
    unsigned kind;    /* MAP_KIND_FIXED or MAP_KIND_PATTERN */
    enum map_result (*lookup)(map *m, const char *key, strbuf *value, strbuf *err);
    void (*close)(map *m);
    void *priv;
    /* change detection */
    char *watch_path;
    struct stat watch_st;
};

int map_open_db(map *m, strbuf *err);       /* hash, btree */
int map_open_texthash(map *m, strbuf *err); /* texthash */
int map_open_inline(map *m, strbuf *err);   /* inline */
int map_open_static(map *m, strbuf *err);   /* static */
int map_open_fail(map *m, strbuf *err);     /* fail */
int map_open_cidr(map *m, strbuf *err);     /* cidr */
int map_open_regexp(map *m, strbuf *err);   /* regexp */
int map_open_pcre(map *m, strbuf *err);     /* pcre */
int map_open_unix(map *m, strbuf *err);     /* unix */

void map_watch_file(map *m, const char *path, const struct stat *st);

#endif
