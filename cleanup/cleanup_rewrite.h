/* cleanup_rewrite - address rewriting inside cleanup (Postfix 3.7 order).
 *
 * canonical(5): canonical_maps, sender_canonical_maps,
 * recipient_canonical_maps, each applied to the address classes of its
 * *_classes parameter; masquerade_domains / masquerade_exceptions /
 * masquerade_classes; virtual(5): virtual_alias_maps with recursive
 * expansion bounded by virtual_alias_expansion_limit and
 * virtual_alias_recursion_limit; receive_override_options.
 *
 * Lookup order for a table (canonical(5), virtual(5)): "user+ext@domain",
 * "user@domain", "user+ext" and "user" (only when domain is $myorigin or a
 * local domain), "@domain". A match made without the extension gets the
 * extension back in its result when propagate_unmatched_extensions lists
 * the table's class. A result "@other" means "same user @other". A result
 * without '@' gets "@$myorigin".
 *
 * Tables are opened once per process (rewrite_config_load) and kept.
 * Table values are untrusted text: they are split, length-bounded and
 * copied, never executed or used as paths.
 */
#ifndef CLEANUP_CLEANUP_REWRITE_H
#define CLEANUP_CLEANUP_REWRITE_H
#include <stdbool.h>

#include "input_transp.h"
#include "maps.h"
#include "match_list.h"
#include "resolve.h"
#include "strbuf.h"
#include "strlist.h"

/* Address classes (canonical_classes, masquerade_classes). */
#define RW_ENV_SENDER 0x01
#define RW_ENV_RCPT 0x02
#define RW_HDR_SENDER 0x04
#define RW_HDR_RCPT 0x08

/* receive_override_options (lib/global/input_transp.h). */
#define RW_OVR_NO_UNKNOWN_RCPT INPUT_TRANSP_UNKNOWN_RCPT
#define RW_OVR_NO_ADDRESS_MAPPINGS INPUT_TRANSP_ADDRESS_MAPPING
#define RW_OVR_NO_HEADER_BODY_CHECKS INPUT_TRANSP_HEADER_BODY
#define RW_OVR_NO_MILTERS INPUT_TRANSP_MILTER

struct rewrite_config {
    maps *canonical, *sender_canonical, *recipient_canonical;
    unsigned canonical_classes, sender_canonical_classes, recipient_canonical_classes;
    maps *virtual_alias;
    long expansion_limit, recursion_limit;
    strlist masq_domains;
    /* masquerade_exceptions: a Postfix match list (names, /file/name,
     * type:table, !pattern) of user names; NULL = none. */
    match_list *masq_exceptions;
    unsigned masq_classes;
    maps *sender_bcc, *recipient_bcc;
    char *always_bcc; /* NULL when empty */
    char *delims;     /* recipient_delimiter, "" for none */
    bool prop_canonical, prop_virtual;
    char *myorigin;
    resolve *res; /* local-domain test; NULL = only $myorigin is local */
};

/* Parse a class list ("envelope_sender, header_recipient"); -1 on an
 * unknown word, *bad set to it. */
int rewrite_parse_classes(const char *text, unsigned *out, strbuf *bad);

/* Process-wide configuration, loaded on first use (fatal on bad config,
 * naming the parameter, like Postfix). */
struct rewrite_config *rewrite_config_get(void);

/* One table lookup with the order above. MAP_FOUND: *out holds the raw
 * result (already extension-propagated when `propagate`). */
enum map_result rewrite_lookup(const struct rewrite_config *rc, maps *ms, const char *addr,
                               bool propagate, strbuf *out, strbuf *err);

/* Canonical rewriting of `addr` in place for class `cls` (one of RW_*):
 * canonical map of the class first, then canonical_maps (Postfix). -1 on a
 * table failure (*err). */
int rewrite_canonical(const struct rewrite_config *rc, unsigned cls, strbuf *addr, strbuf *err);
/* masquerade_domains on `addr` in place when `cls` is in masquerade_classes. */
void rewrite_masquerade(const struct rewrite_config *rc, unsigned cls, strbuf *addr);

enum rewrite_virtual_status {
    RW_VIRT_OK = 0,
    RW_VIRT_TEMPFAIL,  /* a table failed */
    RW_VIRT_EXPANSION, /* more than virtual_alias_expansion_limit results */
    RW_VIRT_RECURSION, /* nesting deeper than virtual_alias_recursion_limit */
};
/* Expand `addr` through virtual_alias_maps; *out receives the final
 * addresses (addr itself when nothing matched). */
enum rewrite_virtual_status rewrite_virtual(const struct rewrite_config *rc, const char *addr,
                                            strlist *out, strbuf *err);

/* Canonical + masquerading of the addresses in a header value (cls is
 * RW_HDR_SENDER or RW_HDR_RCPT). 1: *out holds the new value; 0: nothing
 * changed (or the value does not parse; it is kept); -1: a table failed.
 * Display names, comments and layout are kept. */
int rewrite_header_value(const struct rewrite_config *rc, unsigned cls, const char *value,
                         size_t len, strbuf *out, strbuf *err);

/* Release what rewrite_config holds (tests build their own). */
void rewrite_config_release(struct rewrite_config *rc);

#endif
