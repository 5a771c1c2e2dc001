/* map_build - create and modify Berkeley DB tables (postmap, postalias).
 *
 * map_build() turns a source file PATH into PATH.db (types hash and btree)
 * atomically: records go to a temporary file in the same directory, which
 * is fsynced, given the owner and mode it should have, renamed over
 * PATH.db, and the directory is fsynced. Readers see the old table or the
 * new one, never half of one. Owner and mode: those of the existing PATH.db
 * when there is one; otherwise, when run as root, the source file's owner
 * and group, and mode 0600 plus the source's group/other read bits (or 0644
 * with MAP_BUILD_DEFAULT_MODE).
 *
 * Keys are folded to lower case unless MAP_BUILD_NOFOLD; keys and values
 * are stored with their trailing NUL (Postfix's default, -n) unless
 * MAP_BUILD_NONUL (-N). Duplicate keys: first wins with a warning
 * "file, line N: duplicate entry: "key"" (default), last wins silently
 * (MAP_BUILD_REPLACE, -r), first wins silently (MAP_BUILD_IGNORE_DUPS, -w).
 * Alias tables get the sendmail "@" -> "@" entry.
 *
 * Every function returns -1 with a one-line *err naming the file (and line)
 * on failure; nothing half-written is left behind.
 */
#ifndef MTA_MAP_BUILD_H
#define MTA_MAP_BUILD_H
#include <stdbool.h>
#include <stdio.h>

#include "map_source.h"
#include "strbuf.h"

#define MAP_BUILD_NOFOLD 0x01
#define MAP_BUILD_NONUL 0x02
#define MAP_BUILD_REPLACE 0x04
#define MAP_BUILD_IGNORE_DUPS 0x08
#define MAP_BUILD_DEFAULT_MODE 0x10

/* True for the types map_build can write (hash, btree). */
bool map_build_type_ok(const char *type);

int map_build(const char *type, const char *path, enum map_source_format fmt, unsigned flags,
              strbuf *err);
/* Add the records read from `in` to PATH.db (created if missing), under an
 * exclusive lock, in place (postmap -i). */
int map_build_update(const char *type, const char *path, FILE *in, const char *origin,
                     enum map_source_format fmt, unsigned flags, strbuf *err);
/* Remove `key` (folded unless MAP_BUILD_NOFOLD): 1 removed, 0 not there. */
int map_build_delete(const char *type, const char *path, const char *key, unsigned flags,
                     strbuf *err);
/* Write every entry as "key<TAB>value\n" (alias format: "key:<TAB>value"). */
int map_build_dump(const char *type, const char *path, enum map_source_format fmt, FILE *out,
                   strbuf *err);

#endif
