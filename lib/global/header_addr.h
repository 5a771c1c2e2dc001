/* header_addr - rewrite the addresses of one address header.
 *
 * Shared by cleanup (canonical_maps, masquerading) and the SMTP client
 * (smtp_generic_maps), which change header addresses the same way: every
 * address of the value (addr_list) is internalized and handed to `map`;
 * each one it changes is replaced where it stands as an address token
 * (outside quoted strings and comments, between address delimiters), and
 * everything else -- display names, comments, folding -- stays byte for
 * byte. A value that does not parse is left alone.
 */
#ifndef MTA_HEADER_ADDR_H
#define MTA_HEADER_ADDR_H
#include <stddef.h>

#include "header.h"
#include "strbuf.h"

/* Which address headers there are (Postfix's HDR_OPT_SENDER/HDR_OPT_RECIP):
 * From, Sender, Reply-To, Return-Path, Resent-From, Resent-Sender,
 * Errors-To, Return-Receipt-To are sender headers; To, Cc, Bcc,
 * Resent-To/Cc/Bcc, Apparently-To recipient headers; others 0. */
#define HEADER_ADDR_SENDER 1
#define HEADER_ADDR_RCPT 2
unsigned header_addr_class(enum header_id id);

/* One address (internal form) in, its replacement in *out: 1 changed, 0
 * kept, -1 failure (reason in err). */
typedef int (*header_addr_map_fn)(void *ctx, const char *addr, strbuf *out, strbuf *err);

/* 1: *out holds the new value; 0: nothing changed; -1: `map` failed. At
 * most 1000 addresses of one header are looked at. */
int header_addr_rewrite(const char *value, size_t len, header_addr_map_fn map, void *ctx,
                        strbuf *out, strbuf *err);

#endif
