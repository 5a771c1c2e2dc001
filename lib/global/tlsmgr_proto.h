/* tlsmgr_proto - the TLS session cache service (tlsmgr/tlsmgr.c) and its
 * clients (the smtp and lmtp delivery agents).
 *
 * A UNIX stream connection to $queue_directory/private/tlsmgr (so a
 * chrooted client reaches it as ./private/tlsmgr), one attribute list
 * (attr.h) each way, bounded by tlsmgr_attr_limits:
 *
 *   C: request=lookup cache_type=smtp|lmtp cache_id=<id>
 *   S: status=0 session=<DER>  |  status=1 (no such session)
 *   C: request=update cache_type= cache_id= session=<DER>
 *   S: status=0  |  status=1 (that cache is not enabled)
 *   C: request=delete cache_type= cache_id=
 *   S: status=0
 *
 * cache_type smtp is $smtp_tls_session_cache_database, lmtp
 * $lmtp_tls_session_cache_database (each off when empty or when its
 * *_tls_session_cache_timeout is 0). A cache id is the client's choice;
 * it must name everything that makes a session unfit for another
 * connection (server address, SNI name, protocols, ciphers, trust anchors).
 */
#ifndef MTA_TLSMGR_PROTO_H
#define MTA_TLSMGR_PROTO_H
#include "attr.h"
#include "tls.h"
#include "tls_scache.h"

#define TLSMGR_SERVICE "private/tlsmgr"

static const attr_limits tlsmgr_attr_limits = {
    .max_count = 8, .max_name = 32, .max_value = TLS_SESSION_MAX, .max_total = 2 * TLS_SESSION_MAX};

#endif
