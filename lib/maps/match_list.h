/* match_list - Postfix pattern lists (mydestination, relay_domains,
 * virtual_alias_domains, mynetworks, *_client lists, ...).
 *
 * A list is compiled from a parameter value: items separated by commas or
 * whitespace ({braces} group), each optionally preceded by '!' (negation):
 *   /file/name     the file's contents (whitespace/comma separated items,
 *                  # comments) are read as more items, in place
 *   type:table     a lookup table (see maps.h); an item starting with '['
 *                  is an address, never a table
 *   anything else  a domain/host name (".example.com" matches subdomains),
 *                  or for address matching an IP address or network:
 *                  127.0.0.0/8, [::1]/128, [::ffff:127.0.0.0]/104
 * Items are tried in order; the first that matches decides: a plain item
 * means "match", a negated one "no match". No item matching is no match.
 *
 * Domain matching (match_list_domain): case-insensitive; "example.com"
 * matches exactly; ".example.com" matches any subdomain; with
 * MATCH_LIST_PARENT (parameter listed in parent_domain_matches_subdomains)
 * "example.com" also matches its subdomains. A fixed-string table is asked
 * for the name and then for each parent ("sub.example.com", then
 * "example.com" with MATCH_LIST_PARENT, or ".example.com" without); a
 * pattern table only for the name itself.
 *
 * Client matching (match_list_client, for hosts and networks): an item
 * matches when it matches the client name as a domain (as above) or the
 * client address as an address or network (IPv4 and its IPv4-mapped IPv6
 * form are the same host, see cidr_match.h). A table is asked for the name
 * (with parents) and then for the address.
 *
 * Compile errors name the parameter: "mynetworks: bad address: \"10.0.0.0/33\"".
 * A table lookup that fails temporarily makes the match return -1.
 */
#ifndef MTA_MATCH_LIST_H
#define MTA_MATCH_LIST_H
#include <stdbool.h>

#include "strbuf.h"

#define MATCH_LIST_PARENT 0x01    /* parent_domain_matches_subdomains */
#define MATCH_LIST_SURROGATE 0x02 /* unusable tables defer instead of failing compile */

typedef struct match_list match_list;

/* NULL with *err set on any error (bad item, unreadable file, table that
 * cannot be opened). */
match_list *match_list_compile(const char *param, const char *text, unsigned flags, strbuf *err);
/* 1 match, 0 no match, -1 temporary error (*err set). */
int match_list_domain(match_list *ml, const char *domain, strbuf *err);
/* name may be NULL or "unknown"; addr may be NULL. */
int match_list_client(match_list *ml, const char *name, const char *addr, strbuf *err);
void match_list_free(match_list **ml);

#endif
