/* cidr_match - IPv4/IPv6 addresses and network/prefix patterns.
 *
 * Patterns: "a.b.c.d", "a.b.c.d/len", "x:y::z", "x:y::z/len", and the same
 * IPv6 forms inside brackets ("[::1]/128", "[::ffff:127.0.0.0]/104", as
 * main.cf lists must write them). A bare address is a /32 or /128. Bits
 * beyond the prefix must be zero (Postfix rejects "10.1.1.1/24" too).
 *
 * Matching treats an IPv4 address and its IPv4-mapped IPv6 form
 * (::ffff:a.b.c.d) as the same host: 127.0.0.1 matches both 127.0.0.0/8
 * and [::ffff:127.0.0.0]/104, and so does ::ffff:127.0.0.1.
 */
#ifndef MTA_CIDR_MATCH_H
#define MTA_CIDR_MATCH_H
#include <stdbool.h>

struct cidr_addr {
    int family; /* AF_INET or AF_INET6 */
    unsigned char b[16];
};

struct cidr_net {
    struct cidr_addr addr;
    unsigned prefix;
};

/* Parse a plain address (IPv6 optionally in brackets). 0, or -1. */
int cidr_addr_parse(const char *text, struct cidr_addr *out);
/* Parse a pattern. 0, or -1 with *why set to a static reason. */
int cidr_net_parse(const char *text, struct cidr_net *out, const char **why);
bool cidr_match(const struct cidr_net *net, const struct cidr_addr *addr);
/* Quick test: could `text` be meant as an address pattern (it starts with
 * '[', or has only digits, dots and slashes, at least one digit)? Used to
 * tell them from host names; a malformed one is then refused by
 * cidr_net_parse. Bare IPv6 ("::1") is not recognised: main.cf lists
 * bracket it. */
bool cidr_looks_like_net(const char *text);

#endif
