/* resolve - address classes; see resolve.h. */
#include "resolve.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "address.h"
#include "config.h"
#include "inet_config.h"
#include "maps.h"
#include "match_list.h"
#include "mem.h"
#include "msg.h"
#include "sock.h"
#include "strlist.h"

struct resolve {
    match_list *mydestination;
    match_list *virtual_alias;
    match_list *virtual_mailbox;
    match_list *relay;
    maps *transport_maps;
    strlist ifaddrs; /* numeric addresses of our interfaces */
};

static unsigned parent_flag(const char *param)
{
    strlist names = STRLIST_INIT;
    const char *e = NULL;
    unsigned flags = 0;
    if (strlist_split(&names, config_get("parent_domain_matches_subdomains"), ", \t\r\n", &e) ==
            0 &&
        strlist_contains(&names, param))
        flags = MATCH_LIST_PARENT;
    strlist_release(&names);
    return flags;
}

static match_list *compile(const char *param, strbuf *err)
{
    return match_list_compile(param, config_get(param), parent_flag(param) | MATCH_LIST_SURROGATE,
                              err);
}

static void add_interfaces(resolve *r)
{
    strlist items = STRLIST_INIT;
    const char *e = NULL;
    struct inet_interfaces ifs = INET_INTERFACES_INIT;
    strbuf perr = STRBUF_INIT;
    /* master refuses a bad value at start; here, use what did parse. */
    if (inet_interfaces_parse(config_get("inet_interfaces"), &ifs, &perr) < 0)
        msg_warn("%s", strbuf_str(&perr));
    strbuf_release(&perr);
    bool all = ifs.all, loopback = ifs.loopback_only;
    for (size_t i = 0; i < ifs.hosts.n; i++)
        strlist_push(&r->ifaddrs, ifs.hosts.v[i]);
    inet_interfaces_release(&ifs);
    if (strlist_split(&items, config_get("proxy_interfaces"), ", \t\r\n", &e) == 0)
        for (size_t i = 0; i < items.n; i++)
            strlist_push(&r->ifaddrs, items.v[i]);
    strlist_release(&items);
    if (loopback) {
        strlist_push(&r->ifaddrs, "127.0.0.1");
        strlist_push(&r->ifaddrs, "::1");
    }
    if (!all)
        return;
    struct ifaddrs *list = NULL;
    if (getifaddrs(&list) < 0) {
        msg_warn("getifaddrs: %m");
        return;
    }
    strbuf text = STRBUF_INIT;
    for (struct ifaddrs *ifa = list; ifa; ifa = ifa->ifa_next) {
        if (!ifa->ifa_addr)
            continue;
        int fam = ifa->ifa_addr->sa_family;
        if (fam != AF_INET && fam != AF_INET6)
            continue;
        sock_addr_str(ifa->ifa_addr,
                      fam == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6),
                      &text);
        strlist_push(&r->ifaddrs, strbuf_str(&text));
    }
    strbuf_release(&text);
    freeifaddrs(list);
}

resolve *resolve_open(strbuf *err)
{
    resolve *r = xcalloc(1, sizeof(*r));
    if (!(r->mydestination = compile("mydestination", err)) ||
        !(r->virtual_alias = compile("virtual_alias_domains", err)) ||
        !(r->virtual_mailbox = compile("virtual_mailbox_domains", err)) ||
        !(r->relay = compile("relay_domains", err)) ||
        !(r->transport_maps =
              maps_open("transport_maps", config_get("transport_maps"), MAP_SURROGATE, err))) {
        resolve_free(&r);
        return NULL;
    }
    add_interfaces(r);
    return r;
}

void resolve_free(resolve **rp)
{
    resolve *r = *rp;
    if (!r)
        return;
    match_list_free(&r->mydestination);
    match_list_free(&r->virtual_alias);
    match_list_free(&r->virtual_mailbox);
    match_list_free(&r->relay);
    maps_free(&r->transport_maps);
    strlist_release(&r->ifaddrs);
    XFREE(*rp);
}

/* Compare numeric addresses by value, so "::ffff:127.0.0.1" and spelling
 * differences do not matter. */
static bool same_addr(const char *a, const char *b)
{
    unsigned char x[16], y[16];
    int fa = strchr(a, ':') ? AF_INET6 : AF_INET, fb = strchr(b, ':') ? AF_INET6 : AF_INET;
    if (fa != fb || inet_pton(fa, a, x) != 1 || inet_pton(fb, b, y) != 1)
        return strcasecmp(a, b) == 0;
    return memcmp(x, y, fa == AF_INET ? 4 : 16) == 0;
}

bool resolve_is_interface_addr(resolve *r, const char *addr)
{
    const char *a = addr;
    if (strncasecmp(a, "::ffff:", 7) == 0 && strchr(a + 7, '.'))
        a += 7;
    for (size_t i = 0; i < r->ifaddrs.n; i++)
        if (same_addr(r->ifaddrs.v[i], a))
            return true;
    return false;
}

int resolve_domain_is_local(resolve *r, const char *domain, strbuf *err)
{
    size_t len = strlen(domain);
    if (len >= 2 && domain[0] == '[' && domain[len - 1] == ']') {
        strbuf lit = STRBUF_INIT;
        const char *in = domain + 1;
        size_t n = len - 2;
        if (n > 5 && strncasecmp(in, "IPv6:", 5) == 0) {
            in += 5;
            n -= 5;
        }
        strbuf_append(&lit, in, n);
        bool local = resolve_is_interface_addr(r, strbuf_str(&lit));
        strbuf_release(&lit);
        if (local)
            return 1;
    }
    return match_list_domain(r->mydestination, domain, err);
}

int resolve_address(resolve *r, const char *addr, resolve_result *res, strbuf *err)
{
    size_t len = strlen(addr), at = 0;
    strbuf domain = STRBUF_INIT;
    int rc = 0, m;

    res->cls = RESOLVE_LOCAL;
    res->routed = false;
    if (!addr_split(addr, len, &at)) {
        /* No domain: it will get $myorigin. */
        res->routed = strpbrk(addr, "%!") != NULL;
        strbuf_set(&domain, resolve_myorigin());
    } else {
        for (size_t i = 0; i < at; i++)
            if (addr[i] == '@' || addr[i] == '%' || addr[i] == '!')
                res->routed = true;
        strbuf_append(&domain, addr + at + 1, len - at - 1);
        /* "user@example.com." is "user@example.com" */
        while (domain.len > 0 && domain.s[domain.len - 1] == '.')
            strbuf_truncate(&domain, domain.len - 1);
    }
    const char *d = strbuf_str(&domain);
    if ((m = resolve_domain_is_local(r, d, err)) != 0) {
        res->cls = RESOLVE_LOCAL;
    } else if ((m = match_list_domain(r->virtual_alias, d, err)) != 0) {
        res->cls = RESOLVE_VIRTUAL_ALIAS;
    } else if ((m = match_list_domain(r->virtual_mailbox, d, err)) != 0) {
        res->cls = RESOLVE_VIRTUAL_MAILBOX;
    } else if ((m = match_list_domain(r->relay, d, err)) != 0) {
        res->cls = RESOLVE_RELAY;
    } else {
        res->cls = RESOLVE_DEFAULT;
    }
    if (m < 0)
        rc = -1;
    strbuf_release(&domain);
    return rc;
}

const char *resolve_class_name(enum resolve_class cls)
{
    switch (cls) {
    case RESOLVE_LOCAL:
        return "local";
    case RESOLVE_VIRTUAL_ALIAS:
        return "virtual alias";
    case RESOLVE_VIRTUAL_MAILBOX:
        return "virtual mailbox";
    case RESOLVE_RELAY:
        return "relay";
    case RESOLVE_DEFAULT:
        return "default";
    }
    return "unknown";
}

const char *resolve_myorigin(void)
{
    static strbuf cache = STRBUF_INIT;
    static strbuf source = STRBUF_INIT;
    const char *v = config_get("myorigin");
    if (v[0] != '/')
        return v;
    if (cache.len > 0 && strbuf_eq(&source, v))
        return strbuf_str(&cache);
    strbuf_set(&source, v);
    strbuf_reset(&cache);
    FILE *fp = fopen(v, "r");
    if (fp) {
        int c;
        /* One bounded line: a host name is at most 255 bytes. */
        while ((c = getc(fp)) != EOF && c != '\n' && cache.len < 255)
            strbuf_putc(&cache, (char)c);
        fclose(fp);
        strbuf_trim(&cache);
    }
    if (cache.len == 0) {
        msg_warn("myorigin = %s: cannot read a host name from that file (%s); using $myhostname", v,
                 fp ? "empty" : strerror(errno));
        strbuf_set(&cache, config_get("myhostname"));
    }
    return strbuf_str(&cache);
}

void resolve_canonical(strbuf *addr)
{
    if (addr->len == 0 || memchr(addr->s, '@', addr->len))
        return;
    strbuf_putc(addr, '@');
    strbuf_puts(addr, resolve_myorigin());
}

/* Split "transport:nexthop" into the route; empty parts keep what is there. */
static void apply_transport_value(resolve_route_t *out, const char *value)
{
    const char *colon = strchr(value, ':');
    size_t tlen = colon ? (size_t)(colon - value) : strlen(value);
    if (tlen > 0) {
        strbuf_reset(&out->transport);
        strbuf_append(&out->transport, value, tlen);
        strbuf_trim(&out->transport);
    }
    if (colon && colon[1]) {
        strbuf_set(&out->nexthop, colon + 1);
        strbuf_trim(&out->nexthop);
    }
}

/* transport_maps: full address, domain, parent ".domain"s, then "*".
 * Partial keys go to fixed-string tables only, as in Postfix. Returns 1
 * found (applied), 0 not found, -1 temporary error. */
static int transport_lookup(resolve *r, const char *addr, const char *domain, resolve_route_t *out,
                            strbuf *err)
{
    if (maps_count(r->transport_maps) == 0)
        return 0;
    strbuf value = STRBUF_INIT;
    enum map_result m = maps_find(r->transport_maps, addr, 0, &value, err);
    if (m == MAP_NOTFOUND && *domain) {
        m = maps_find(r->transport_maps, domain, MAP_KIND_FIXED, &value, err);
        for (const char *d = strchr(domain, '.'); m == MAP_NOTFOUND && d; d = strchr(d + 1, '.'))
            m = maps_find(r->transport_maps, d, MAP_KIND_FIXED, &value, err);
    }
    if (m == MAP_NOTFOUND)
        m = maps_find(r->transport_maps, "*", MAP_KIND_FIXED, &value, err);
    if (m == MAP_FOUND)
        apply_transport_value(out, strbuf_str(&value));
    strbuf_release(&value);
    return m == MAP_TEMPFAIL ? -1 : m == MAP_FOUND;
}

int resolve_route(resolve *r, const char *addr, resolve_route_t *out, strbuf *err)
{
    resolve_result res;
    strbuf_reset(&out->transport);
    strbuf_reset(&out->nexthop);
    if (resolve_address(r, addr, &res, err) < 0)
        return -1;
    out->cls = res.cls;
    out->routed = res.routed;

    size_t at = 0;
    strbuf domain = STRBUF_INIT;
    if (addr_split(addr, strlen(addr), &at))
        strbuf_set(&domain, addr + at + 1);
    else
        strbuf_set(&domain, resolve_myorigin());
    while (domain.len > 0 && domain.s[domain.len - 1] == '.')
        strbuf_truncate(&domain, domain.len - 1);
    for (size_t i = 0; i < domain.len; i++)
        if (domain.s[i] >= 'A' && domain.s[i] <= 'Z')
            domain.s[i] = (char)(domain.s[i] - 'A' + 'a');

    switch (res.cls) {
    case RESOLVE_LOCAL:
        strbuf_set(&out->nexthop, config_get("myhostname"));
        apply_transport_value(out, config_get("local_transport"));
        break;
    case RESOLVE_VIRTUAL_ALIAS:
        strbuf_set(&out->transport, "error");
        strbuf_set(&out->nexthop, "5.1.1 User unknown in virtual alias table");
        break;
    case RESOLVE_VIRTUAL_MAILBOX:
        strbuf_set(&out->nexthop, strbuf_str(&domain));
        apply_transport_value(out, config_get("virtual_transport"));
        break;
    case RESOLVE_RELAY:
    case RESOLVE_DEFAULT: {
        const char *relayhost = config_get("relayhost");
        strbuf_set(&out->nexthop, *relayhost ? relayhost : strbuf_str(&domain));
        apply_transport_value(
            out, config_get(res.cls == RESOLVE_RELAY ? "relay_transport" : "default_transport"));
        break;
    }
    }
    int rc = transport_lookup(r, addr, strbuf_str(&domain), out, err) < 0 ? -1 : 0;
    if (out->transport.len == 0) /* misconfiguration: an empty *_transport */
        strbuf_set(&out->transport, "error");
    strbuf_release(&domain);
    return rc;
}
