/* addr_list - addresses from an RFC 5322 address-list header value.
 *
 * For To/Cc/Bcc/From/Resent-* values (as sendmail -t and cleanup need them).
 * Comments (nested, with quoted-pairs) and display names are dropped; a group
 * "name: a, b;" yields its members; an angle address yields what is inside
 * the brackets minus an obsolete source route (@a,@b:); a bare word yields
 * itself. Results are in external form (quoted strings kept as written,
 * whitespace outside quotes removed); empty addresses ("<>") are skipped.
 * Control characters (CR, LF, NUL, ...) never reach a result: folding
 * newlines count as whitespace, others are dropped. At most max_addresses
 * results; more is an error. An unterminated quote, comment, domain literal
 * or angle address is an error (-1, reason in *err); addresses completed
 * before the error stay in `out`.
 */
#ifndef MTA_ADDR_LIST_H
#define MTA_ADDR_LIST_H
#include <stddef.h>

#include "strbuf.h"
#include "strlist.h"

int addr_list_parse(const char *value, size_t len, strlist *out, size_t max_addresses,
                    strbuf *err);

#endif
