/* addr_map - the lookup order of canonical(5), virtual(5) and generic(5).
 *
 * "user+ext@domain", "user@domain", then "user+ext" and "user" (fixed-string
 * tables only, and only when domain is $myorigin or a local domain), then
 * "@domain". A match made without the extension gets it back in a
 * single-address result when `propagate` (propagate_unmatched_extensions).
 * A result "@other" becomes "user@other" (the full local part). The result
 * is trimmed; it is table text, the caller validates it.
 */
#ifndef MTA_ADDR_MAP_H
#define MTA_ADDR_MAP_H
#include <stdbool.h>

#include "maps.h"
#include "resolve.h"
#include "strbuf.h"

struct addr_map_ctx {
    const char *delims;   /* recipient_delimiter, "" or NULL for none */
    const char *myorigin; /* a local domain for the "user" form */
    resolve *res;         /* other local domains; NULL = $myorigin only */
};

enum map_result addr_map_lookup(const struct addr_map_ctx *ctx, maps *ms, const char *addr,
                                bool propagate, strbuf *out, strbuf *err);

#endif
