/* map_cache - lookup tables opened once per process, reopened when changed.
 *
 * A daemon that consults a table per request (smtpd's check_*_access) asks
 * the cache for it by spec and open flags. The first request opens it; a
 * later request gets the same table unless its file was replaced or
 * modified (inode, size or mtime differ: map_changed), in which case the
 * old table is closed and the file opened afresh, so `postmap` of a new
 * table takes effect without a restart and without reopening per lookup.
 *
 * A failed open is not cached: the next request tries again (the caller
 * answers a temporary error meanwhile). The returned table belongs to the
 * cache and stays valid until the next map_cache_get of the same spec and
 * flags, or map_cache_flush. One process, one thread, as maps.
 */
#ifndef MTA_MAP_CACHE_H
#define MTA_MAP_CACHE_H
#include "maps.h"
#include "strbuf.h"

map *map_cache_get(const char *spec, unsigned flags, strbuf *err);
/* How many times the cache opened a table (tests and diagnostics). */
unsigned long map_cache_opens(void);
/* Close every cached table. */
void map_cache_flush(void);

#endif
