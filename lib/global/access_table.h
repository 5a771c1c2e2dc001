/* access_table - the two pure halves of an access(5) table check: which keys
 * to look up, in Postfix's order, and what a table value means.
 *
 * Keys (access_keys_*): each key comes with `full`: true for the key a
 * pattern table (regexp, pcre, cidr) is asked, false for the partial keys
 * only fixed-string tables get, as Postfix does.
 *   address  user+ext@domain (full), user@domain, domain and its parents,
 *            user+ext@, user@. An empty address is the single key
 *            `null_key` (smtpd_null_access_lookup_key) or nothing when that
 *            is empty.
 *   domain   (helo, client hostname) name (full), then parent domains:
 *            "example.com", "com" when `parent` (parent_domain_matches_
 *            subdomains lists smtpd_access_maps), else ".example.com", ".com".
 *   address  (client IP) 1.2.3.4 (full), 1.2.3, 1.2, 1; IPv6 drops the last
 *            ':'-separated part each step (2001:db8::1, 2001:db8:, 2001:db8,
 *            2001), as access(5) describes.
 *
 * Actions (access_action_parse): the first word decides, case-insensitive:
 * OK/PERMIT, DUNNO, REJECT [text], DEFER [text], "4NN|5NN text" (text may
 * start with an enhanced status code; its class is forced to the reply's),
 * DEFER_IF_PERMIT/DEFER_IF_REJECT [text] (text may start with an enhanced
 * status code too, class forced to 4), DISCARD [text], HOLD [text],
 * REDIRECT addr, FILTER transport:dest, PREPEND header: text, WARN text,
 * INFO text, BCC addr. Anything else is a restriction list (or a class
 * name) for the caller to evaluate. Reply text is the table owner's but a
 * sender may control the lookup: control characters become '?' and text is
 * cut at ACCESS_TEXT_MAX bytes so one reply stays one line.
 */
#ifndef MTA_ACCESS_TABLE_H
#define MTA_ACCESS_TABLE_H
#include <stdbool.h>

#include "strbuf.h"

#define ACCESS_TEXT_MAX 400

struct access_key {
    char *key;
    bool full;
};
struct access_keys {
    struct access_key *v;
    size_t n;
};

/* recipient_delimiter may be empty (no extensions) or several characters. */
void access_keys_address(struct access_keys *k, const char *addr, const char *delim, bool parent,
                         const char *null_key);
void access_keys_domain(struct access_keys *k, const char *name, bool parent);
void access_keys_ip(struct access_keys *k, const char *ip);
void access_keys_release(struct access_keys *k);

enum access_kind {
    ACCESS_OK,
    ACCESS_DUNNO,
    ACCESS_REJECT, /* REJECT, DEFER, NNN: code/dsn/text say which */
    ACCESS_DEFER_IF_PERMIT,
    ACCESS_DEFER_IF_REJECT,
    ACCESS_DISCARD,
    ACCESS_HOLD,
    ACCESS_REDIRECT,
    ACCESS_FILTER,
    ACCESS_PREPEND,
    ACCESS_WARN,
    ACCESS_INFO,
    ACCESS_BCC,
    ACCESS_RESTRICTIONS, /* text: the whole value */
    ACCESS_INVALID,      /* text: why (e.g. "bad SMTP reply code") */
};

struct access_action {
    enum access_kind kind;
    int code;     /* ACCESS_REJECT and the DEFER_IF_*: 4xx/5xx */
    bool numeric; /* the code was in the value; else REJECT (554) or DEFER (450),
                   * which callers replace by access_map_{reject,defer}_code */
    char dsn[16]; /* "5.7.1" */
    strbuf text;  /* reply text ("" = caller's default), argument, or list */
};

#define ACCESS_ACTION_INIT {.text = STRBUF_INIT}
void access_action_parse(struct access_action *a, const char *value);
void access_action_release(struct access_action *a);

#endif
