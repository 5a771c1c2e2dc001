/* resolve - address classes (Postfix's trivial-rewrite "resolve" and
 * "rewrite" as an in-process library).
 *
 * Contract:
 * - resolve_open() compiles, from the loaded configuration, the domain lists
 *   that decide an address's class: mydestination (and our own interface
 *   addresses as [literals]) → LOCAL, virtual_alias_domains →
 *   VIRTUAL_ALIAS, virtual_mailbox_domains → VIRTUAL_MAILBOX, relay_domains →
 *   RELAY, anything else → DEFAULT. The first list that matches wins, in
 *   that order, as in Postfix. Lists that use tables defer (MATCH_LIST_
 *   SURROGATE) instead of failing when a table is unusable.
 * - resolve_address() classifies an internal-form address. A domainless
 *   address is local (it gets $myorigin, which is normally local). An
 *   address whose local part still contains a routing operator ('@', '%',
 *   '!') is flagged `routed`: it is never an authorised destination, so
 *   "user%elsewhere@ourdomain" cannot be used to relay.
 * - A table lookup failure is a temporary error: -1 with err set; callers
 *   defer (4xx), never reject.
 * - resolve_canonical() is the "rewrite" half: append @$myorigin to a bare
 *   local part. $myorigin may name a file (Debian: /etc/mailname) whose first
 *   line is used.
 * - resolve_route() adds Postfix's transport:nexthop (qmgr): LOCAL →
 *   $local_transport (nexthop default $myhostname), VIRTUAL_ALIAS →
 *   "error:5.1.1 User unknown in virtual alias table" (cleanup rewrites every
 *   real virtual alias, so what is left is unknown), VIRTUAL_MAILBOX →
 *   $virtual_transport, RELAY → $relay_transport, DEFAULT →
 *   $default_transport; for RELAY and DEFAULT the nexthop is $relayhost when
 *   set, else the recipient domain (as Postfix's trivial-rewrite does for all
 *   off-host delivery). A "transport:nexthop" value names its own nexthop.
 *   Then $transport_maps override: the full address, then the domain, then
 *   each parent ".domain", then "*". An empty transport or nexthop in a
 *   table value keeps the one computed so far. "[host]" and "[host]:port"
 *   nexthops are passed through unchanged.
 */
#ifndef MTA_RESOLVE_H
#define MTA_RESOLVE_H
#include <stdbool.h>

#include "strbuf.h"

enum resolve_class {
    RESOLVE_LOCAL,
    RESOLVE_VIRTUAL_ALIAS,
    RESOLVE_VIRTUAL_MAILBOX,
    RESOLVE_RELAY,
    RESOLVE_DEFAULT,
};

typedef struct resolve_result {
    enum resolve_class cls;
    bool routed; /* local part holds '@', '%' or '!' */
} resolve_result;

/* Where a recipient goes: transport (a master.cf service under private/)
 * and nexthop (what that transport delivers to). */
typedef struct resolve_route {
    enum resolve_class cls;
    bool routed;
    strbuf transport;
    strbuf nexthop;
} resolve_route_t;

typedef struct resolve resolve;

/* NULL with err set when a list cannot be compiled (bad syntax). */
resolve *resolve_open(strbuf *err);
void resolve_free(resolve **rp);

/* 0 with *res filled, or -1 (temporary: a table failed) with err set. */
int resolve_address(resolve *r, const char *addr, resolve_result *res, strbuf *err);

/* Route an internal-form recipient: 0 with *out filled (its strbufs are
 * reset first; the caller releases them), or -1 (temporary: a table failed)
 * with err set. */
int resolve_route(resolve *r, const char *addr, resolve_route_t *out, strbuf *err);

/* Is the domain (no brackets: "example.com" or an address literal with
 * them) one of ours (class LOCAL)? 1 yes, 0 no, -1 temporary error. */
int resolve_domain_is_local(resolve *r, const char *domain, strbuf *err);

/* True when `addr` (numeric text, IPv4 or IPv6) is an address of one of our
 * interfaces ($inet_interfaces, or every configured interface for "all")
 * or listed in $proxy_interfaces. Used for permit_inet_interfaces. */
bool resolve_is_interface_addr(resolve *r, const char *addr);

/* "local", "virtual alias", ... for logs. */
const char *resolve_class_name(enum resolve_class cls);

/* $myorigin, with a leading '/' meaning "first line of that file". */
const char *resolve_myorigin(void);

/* Append "@$myorigin" when addr has no '@' (and is not the null address). */
void resolve_canonical(strbuf *addr);

#endif
