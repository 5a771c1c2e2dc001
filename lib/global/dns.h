/* dns - DNS lookups through the system resolver, and the reply parser.
 *
 * dns_lookup() asks the resolver named by /etc/resolv.conf (libresolv,
 * res_nmkquery + res_nsend, no search list: callers pass absolute names)
 * for one record type and parses the answer with dns_parse_reply().
 *
 * dns_parse_reply() reads network data: every length is checked against
 * the buffer, compression pointers may only point backwards and at most
 * DNS_MAX_JUMPS times per name, names longer than 255 octets are refused.
 * Results are text: names in dotted form without the trailing dot (the
 * root is ""), A/AAAA as inet_ntop text, TXT as its character-strings
 * concatenated with every byte outside printable ASCII replaced by '?'
 * (so a TXT can go into an SMTP reply or a log line). A name holding a
 * byte outside printable ASCII, a space or a '.' inside a label makes its
 * record skipped, never returned.
 *
 * Status: DNS_OK (records in out), DNS_NOTFOUND (NXDOMAIN), DNS_NODATA (the
 * name exists, no record of that type) are answers; DNS_RETRY (SERVFAIL,
 * REFUSED, timeout, malformed reply) is a temporary failure. */
#ifndef MTA_DNS_H
#define MTA_DNS_H

#include <stddef.h>

#include "strbuf.h"

enum { DNS_T_A = 1, DNS_T_NS = 2, DNS_T_PTR = 12, DNS_T_MX = 15, DNS_T_TXT = 16, DNS_T_AAAA = 28 };

enum dns_status { DNS_OK = 0, DNS_NOTFOUND = 1, DNS_NODATA = 2, DNS_RETRY = -1 };

#define DNS_MAX_JUMPS 16

struct dns_rr {
    unsigned type;
    unsigned pref; /* MX preference; 0 otherwise */
    char *data;    /* see above */
};

struct dns_reply {
    struct dns_rr *v;
    size_t n;
};

/* Parse a whole reply; only answer records of qtype are kept (CNAMEs are
 * followed implicitly: the resolver puts the target's records in the same
 * answer). why (may be NULL) gets a reason for DNS_RETRY. */
int dns_parse_reply(const unsigned char *buf, size_t len, unsigned qtype, struct dns_reply *out,
                    strbuf *why);

int dns_lookup(const char *name, unsigned qtype, struct dns_reply *out, strbuf *why);

/* The reverse-lookup name of an IPv4 or IPv6 address text, with suffix
 * appended (".in-addr.arpa", ".ip6.arpa", or an RBL domain with a leading
 * dot). -1 when addr is not an address. */
int dns_reverse_name(const char *addr, const char *suffix_v4, const char *suffix_v6, strbuf *out);

const char *dns_type_name(unsigned type);

void dns_reply_free(struct dns_reply *r);

#endif
