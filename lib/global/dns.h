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
 * TLSA records (RFC 6698) are returned raw: usage, selector and matching
 * type in pref's place (see struct dns_rr), the association data as bytes;
 * dns_tlsa_check() says whether one is usable for SMTP (RFC 7672).
 *
 * DNSSEC: dns_lookup_dnssec() sets the AD and DO bits in the query (and
 * lets libresolv pass the AD bit of the answer through, RES_TRUSTAD);
 * out->authentic is the AD bit of the reply, which only a validating
 * resolver sets (the resolver in resolv.conf must be trusted, as with
 * Postfix's smtp_dns_support_level = dnssec).
 *
 * Status: DNS_OK (records in out), DNS_NOTFOUND (NXDOMAIN), DNS_NODATA (the
 * name exists, no record of that type) are answers; DNS_RETRY (SERVFAIL,
 * REFUSED, timeout, malformed reply) is a temporary failure. */
#ifndef MTA_DNS_H
#define MTA_DNS_H

#include <stdbool.h>
#include <stddef.h>

#include "strbuf.h"

enum {
    DNS_T_A = 1,
    DNS_T_NS = 2,
    DNS_T_PTR = 12,
    DNS_T_MX = 15,
    DNS_T_TXT = 16,
    DNS_T_AAAA = 28,
    DNS_T_TLSA = 52
};

enum dns_status { DNS_OK = 0, DNS_NOTFOUND = 1, DNS_NODATA = 2, DNS_RETRY = -1 };

#define DNS_MAX_JUMPS 16

struct dns_rr {
    unsigned type;
    unsigned pref;                        /* MX preference; 0 otherwise */
    char *data;                           /* see above; TLSA: the association data (binary) */
    size_t data_len;                      /* TLSA only: bytes in data */
    unsigned char usage, selector, mtype; /* TLSA only */
};

struct dns_reply {
    struct dns_rr *v;
    size_t n;
    bool authentic; /* the AD bit of the reply (DNSSEC-validated answer or denial) */
};

/* Longest TLSA association data kept: a full certificate (matching type 0)
 * is rarely above a few KiB. Longer records are skipped as unusable. */
#define DNS_TLSA_DATA_MAX 16384

/* Is this TLSA record usable for SMTP (RFC 7672 section 3.1)? Usages
 * DANE-TA(2) and DANE-EE(3) only (PKIX-TA/PKIX-EE are unusable for SMTP),
 * selector 0 or 1, matching type 0 (full, non-empty), 1 (SHA2-256, 32
 * bytes) or 2 (SHA2-512, 64 bytes). false with the reason in why. */
bool dns_tlsa_check(const struct dns_rr *rr, strbuf *why);

/* Parse a whole reply; only answer records of qtype are kept (CNAMEs are
 * followed implicitly: the resolver puts the target's records in the same
 * answer). why (may be NULL) gets a reason for DNS_RETRY. */
int dns_parse_reply(const unsigned char *buf, size_t len, unsigned qtype, struct dns_reply *out,
                    strbuf *why);

int dns_lookup(const char *name, unsigned qtype, struct dns_reply *out, strbuf *why);
/* The same, asking for DNSSEC validation (AD and DO bits): out->authentic
 * tells whether the resolver validated the answer or the denial. */
int dns_lookup_dnssec(const char *name, unsigned qtype, struct dns_reply *out, strbuf *why);

/* The reverse-lookup name of an IPv4 or IPv6 address text, with suffix
 * appended (".in-addr.arpa", ".ip6.arpa", or an RBL domain with a leading
 * dot). -1 when addr is not an address. */
int dns_reverse_name(const char *addr, const char *suffix_v4, const char *suffix_v6, strbuf *out);

const char *dns_type_name(unsigned type);

void dns_reply_free(struct dns_reply *r);

#endif
