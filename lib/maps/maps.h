/* maps - Postfix lookup tables ("type:name") and lists of them.
 *
 * A table is opened from its spec: hash:/path and btree:/path (Berkeley DB
 * file /path.db, keys and values stored with a trailing NUL like Postfix's
 * postmap; lookups also accept entries stored without it), texthash:/path
 * (postmap source read into memory), inline:{ k1=v1, { k2 = v 2 } },
 * static:value and static:{ value with spaces }, cidr:/path, regexp:/path
 * (POSIX), pcre:/path (PCRE2), unix:passwd.byname, unix:group.byname and
 * fail:name (every lookup is a temporary error). A "proxy:" prefix is
 * accepted and ignored: we have no proxymap, the table is opened directly.
 *
 * A lookup has three distinct outcomes: MAP_FOUND (value stored),
 * MAP_NOTFOUND, MAP_TEMPFAIL (the table could not answer now; *err says
 * why; callers defer rather than reject). Fixed-string tables (hash, btree,
 * texthash, inline, unix) fold the query key to lower case unless opened
 * with MAP_NOFOLD; pattern tables (cidr, regexp, pcre, static) get the key
 * as is (regexp and pcre match case-insensitively unless a rule says not).
 *
 * Opening fails (NULL, *err = "hash:/etc/aliases: open /etc/aliases.db: No
 * such file or directory", or "..., line N: ..." for a bad table line)
 * unless MAP_SURROGATE is given: then an unusable table is replaced by one
 * that logs the reason once and answers MAP_TEMPFAIL, as Postfix does so a
 * daemon defers mail instead of dying.
 *
 * A "maps" is a list of tables from a parameter value ("hash:/a, pcre:/b",
 * comma/space separated, {braces} allowed): the first table that finds the
 * key wins; a temporary error stops the search and is returned.
 *
 * Tables are not thread-safe; one process, one caller at a time.
 */
#ifndef MTA_MAPS_H
#define MTA_MAPS_H
#include <stdbool.h>

#include "strbuf.h"
#include "strlist.h"

enum map_result { MAP_TEMPFAIL = -1, MAP_NOTFOUND = 0, MAP_FOUND = 1 };

/* Open flags. */
#define MAP_NOFOLD 0x01    /* do not lower-case keys for fixed-string tables */
#define MAP_SURROGATE 0x02 /* unusable table → tempfail table, not an error */
/* regexp/pcre rules whose result uses $1..$9 are skipped (warned once, at
 * open, naming file and line), as Postfix's local(8) does for alias_maps:
 * the recipient's own text must never reach a |command or /file. */
#define MAP_NO_REGSUB 0x04

/* Lookup filter for maps_find: which kinds of table to ask (0 = all). */
#define MAP_KIND_FIXED 0x01   /* exact-string tables: hash, btree, texthash, ... */
#define MAP_KIND_PATTERN 0x02 /* cidr, regexp, pcre, static */

typedef struct map map;
typedef struct maps maps;

/* Open one table; NULL with *err set (see above). */
map *map_open(const char *spec, unsigned flags, strbuf *err);
/* Look up `key` (a C string). On MAP_FOUND `value` holds the result. */
enum map_result map_lookup(map *m, const char *key, strbuf *value, strbuf *err);
/* The spec as given ("hash:/etc/aliases"), the type ("hash") and the kind. */
const char *map_spec(const map *m);
const char *map_type(const map *m);
unsigned map_kind(const map *m);
/* True when the table's file was replaced or modified since it was opened
 * (daemons restart to pick up a new table, like Postfix). */
bool map_changed(const map *m);
void map_free(map **m);

/* True when `type` names a table type we implement. */
bool map_type_known(const char *type);
/* Split "type:name" (after an optional "proxy:"); false if there is no ':'
 * or the type is empty. *type is allocated; *name points into spec. */
bool map_spec_split(const char *spec, char **type, const char **name);

/* Split a parameter value into items like Postfix: separators are commas
 * and whitespace outside {braces}; braces may appear inside an item
 * ("inline:{ a=b, c=d }" and "static:{two words}" stay whole); an item
 * that is entirely "{ ... }" loses the outer braces and the blanks inside
 * them. -1 with *err ("missing '}'", ...) when braces do not balance. */
int maps_split(strlist *out, const char *text, strbuf *err);

/* A list of tables from the value of parameter `param` (names it in
 * errors). An empty list is valid and never finds anything. */
maps *maps_open(const char *param, const char *list, unsigned flags, strbuf *err);
/* Open the tables of `list` with `flags` and add them at the end of ms
 * (tables of one parameter that need different flags). 0, or -1 with
 * *err; ms keeps what it had. */
int maps_append(maps *ms, const char *list, unsigned flags, strbuf *err);
/* First table (of the kinds in `kinds`, 0 = any) that has the key. */
enum map_result maps_find(maps *ms, const char *key, unsigned kinds, strbuf *value, strbuf *err);
size_t maps_count(const maps *ms);
map *maps_get(maps *ms, size_t i);
bool maps_changed(const maps *ms);
void maps_free(maps **ms);

#endif
