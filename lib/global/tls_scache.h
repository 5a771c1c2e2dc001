/* tls_scache - a TLS session cache in a Berkeley DB table (tlsmgr's).
 *
 * One table per cache, named as Postfix names it: "btree:/path" or
 * "hash:/path" is the file /path.db. Only one process uses it (tlsmgr,
 * master.cf maxproc 1), so there is no locking; the handle is opened once,
 * before any chroot, and kept. Opening starts the table afresh (sessions
 * from before a restart are dropped, as Postfix's tlsmgr does): the old
 * file is removed and a new one created exclusively, mode 0600 (it holds
 * session master keys), owned by uid/gid.
 *
 * An entry is a session (DER, at most TLS_SESSION_MAX bytes) under an id
 * chosen by the client (at most TLS_SCACHE_MAX_ID bytes), stamped with its
 * expiry time (now + timeout). Expired entries are never returned and are
 * removed by tls_scache_purge() and by lookups that find them.
 */
#ifndef MTA_TLS_SCACHE_H
#define MTA_TLS_SCACHE_H
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include "strbuf.h"

#define TLS_SCACHE_MAX_ID 2048

typedef struct tls_scache tls_scache;

/* NULL with *err set: an unsupported table type, or the file cannot be
 * (re)created. */
tls_scache *tls_scache_open(const char *spec, long timeout_s, uid_t uid, gid_t gid, strbuf *err);
/* 1 and the DER in *session, 0 when there is none (or it expired), -1 on
 * a database error (err). */
int tls_scache_lookup(tls_scache *c, const char *id, time_t now, strbuf *session, strbuf *err);
/* Store (or replace) a session: 0, or -1 with err. */
int tls_scache_update(tls_scache *c, const char *id, const void *der, size_t len, time_t now,
                      strbuf *err);
/* 0 (also when there was none), or -1 with err. */
int tls_scache_delete(tls_scache *c, const char *id, strbuf *err);
/* Remove expired entries; returns how many. */
size_t tls_scache_purge(tls_scache *c, time_t now);
const char *tls_scache_spec(const tls_scache *c);
void tls_scache_close(tls_scache **c);

#endif
