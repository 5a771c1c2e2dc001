/* inet_config - the one parser of inet_protocols and inet_interfaces.
 *
 * inet_protocols (postconf(5)): words all, ipv4, ipv6, case-insensitive,
 * separated by commas or white space. inet_interfaces: all, loopback-only,
 * or host names / addresses ("192.0.2.1", "[::1]", "localhost").
 *
 * Every user (master's listeners, smtp's address family, the mynetworks
 * default, resolve's permit_inet_interfaces) calls these, so the words
 * mean the same everywhere. The parsers take the value text (callers get it
 * from config_get, or from an expansion in progress) and never log: on an
 * error they return -1 with *err set to a one-line message naming the
 * parameter, and *out still holds everything that did parse, for callers
 * that prefer to carry on (the mynetworks default ignores unknown words).
 */
#ifndef MTA_INET_CONFIG_H
#define MTA_INET_CONFIG_H
#include <stdbool.h>

#include "strbuf.h"
#include "strlist.h"

struct inet_protocols {
    bool v4;
    bool v6;
};

/* "all" enables IPv4, and IPv6 too unless `probe_all` is set and this host
 * cannot open an IPv6 socket (master binds only what works). An empty
 * value, or one enabling nothing, is an error ("no protocol enabled"). */
int inet_protocols_parse(const char *value, bool probe_all, struct inet_protocols *out,
                         strbuf *err);

struct inet_interfaces {
    bool all;           /* "all": every interface */
    bool loopback_only; /* "loopback-only" */
    strlist hosts;      /* the other words, in order, as written */
};
#define INET_INTERFACES_INIT {false, false, STRLIST_INIT}

/* Parse into *out (reset first). A value naming nothing is an error. */
int inet_interfaces_parse(const char *value, struct inet_interfaces *out, strbuf *err);
void inet_interfaces_release(struct inet_interfaces *ifs);

#endif
