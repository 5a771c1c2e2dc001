/* smtp_dns - next hop -> ordered connection targets.
 *
 * MX records come from the system resolver (lib/global/dns.c, so
 * /etc/resolv.conf decides where queries go); host addresses from getaddrinfo (so
 * /etc/hosts works as for every other program). Bracketed next hops and
 * LMTP destinations never see an MX lookup.
 *
 * DANE (the next hop's TLS policy is dane or dane-only): the MX lookup
 * asks for DNSSEC validation (lib/global/dns, AD bit), and for each host
 * reached through a validated MX RRset (or named by a bracketed next hop,
 * or the domain itself without MX, when that answer validated) the
 * address records are checked the same way and the TLSA records of
 * _port._tcp.host looked up (RFC 7672 2.2). The addresses used are still
 * getaddrinfo's.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/un.h>

#include "address.h"
#include "dns.h"
#include "mem.h"
#include "sock.h"
#include "smtp.h"
#include "strlist.h"

static int cmp_pref(const void *a, const void *b)
{
    const struct smtp_mx *x = a, *y = b;
    return x->pref < y->pref ? -1 : x->pref > y->pref;
}

void smtp_mx_sort(struct smtp_mx *mx, size_t n, size_t (*rnd)(size_t n))
{
    if (n < 2)
        return;
    qsort(mx, n, sizeof(*mx), cmp_pref);
    /* Shuffle each run of equal preference so load spreads (RFC 5321 5.1). */
    for (size_t start = 0; start < n;) {
        size_t end = start + 1;
        while (end < n && mx[end].pref == mx[start].pref)
            end++;
        for (size_t i = end - start; i > 1; i--) {
            size_t j = rnd(i);
            if (j >= i)
                j = i - 1;
            struct smtp_mx t = mx[start + i - 1];
            mx[start + i - 1] = mx[start + j];
            mx[start + j] = t;
        }
        start = end;
    }
}

void smtp_mx_free(struct smtp_mx *mx, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(mx[i].host);
    free(mx);
}

void smtp_targets_free(struct smtp_targets *t)
{
    for (size_t i = 0; i < t->n; i++) {
        for (size_t k = 0; k < t->v[i].ntlsa; k++)
            free(t->v[i].tlsa[k].data);
        free(t->v[i].tlsa);
        free(t->v[i].host);
        free(t->v[i].addr);
        free(t->v[i].path);
        free(t->v[i].dest);
    }
    free(t->v);
    t->v = NULL;
    t->n = 0;
}

static struct smtp_target *target_add(struct smtp_targets *t, const char *host, const char *addr)
{
    t->v = xreallocarray(t->v, t->n + 1, sizeof(*t->v));
    struct smtp_target *tg = &t->v[t->n++];
    memset(tg, 0, sizeof(*tg));
    tg->host = xstrdup(host);
    tg->addr = xstrdup(addr);
    return tg;
}

static size_t rnd_random(size_t n)
{
    return (size_t)random() % n;
}

/* MX records for domain. Returns the count (0: the domain exists but has
 * no MX), or a negative smtp_resolve_status with the reason set. */
static int mx_lookup(const char *domain, bool dnssec, bool *secure, struct smtp_mx **out,
                     strbuf *reason, const char **dsn)
{
    struct dns_reply rep;
    *out = NULL;
    int st = dnssec ? dns_lookup_dnssec(domain, DNS_T_MX, &rep, NULL)
                    : dns_lookup(domain, DNS_T_MX, &rep, NULL);
    *secure = dnssec && rep.authentic;
    switch (st) {
    case DNS_NOTFOUND:
        strbuf_printf(reason,
                      "Host or domain name not found. Name service error for name=%s "
                      "type=MX: Host not found",
                      domain);
        *dsn = "5.4.4";
        return SMTP_RESOLVE_PERM;
    case DNS_NODATA:
        return 0;
    case DNS_RETRY:
        strbuf_printf(reason,
                      "Host or domain name not found. Name service error for name=%s "
                      "type=MX: Host not found, try again",
                      domain);
        *dsn = "4.4.3";
        return SMTP_RESOLVE_TEMP;
    default:
        break;
    }
    size_t n = 0;
    struct smtp_mx *mx = NULL;
    bool null_mx = false;
    for (size_t i = 0; i < rep.n; i++) {
        const char *name = rep.v[i].data;
        if (name[0] == 0) { /* "." : RFC 7505 null MX */
            null_mx = true;
            continue;
        }
        if (!addr_valid_hostname(name, strlen(name)))
            continue; /* never hand a hostile name to the next lookup */
        mx = xreallocarray(mx, n + 1, sizeof(*mx));
        mx[n].host = xstrdup(name);
        mx[n].pref = rep.v[i].pref;
        n++;
    }
    dns_reply_free(&rep);
    if (null_mx && n == 0) {
        strbuf_printf(reason, "Domain %s does not accept mail (nullMX)", domain);
        *dsn = "5.1.10";
        return SMTP_RESOLVE_PERM;
    }
    if (n == 0) {
        /* An answer with only unusable records counts as no MX. */
        return 0;
    }
    smtp_mx_sort(mx, n, rnd_random);
    *out = mx;
    return (int)n;
}

/* Add the addresses of host. 0 ok (maybe nothing added), or a negative
 * smtp_resolve_status with the reason. */
static int host_addrs(const char *host, unsigned port, struct smtp_targets *out, size_t limit,
                      strbuf *reason, const char **dsn)
{
    struct addrinfo hints = {.ai_family = smtp_cfg.family, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(host, NULL, &hints, &res);
    if (rc != 0) {
        bool perm = rc == EAI_NONAME
#ifdef EAI_NODATA
                    || rc == EAI_NODATA
#endif
            ;
        strbuf_reset(reason);
        strbuf_printf(reason,
                      "Host or domain name not found. Name service error for name=%s type=A: "
                      "Host not found%s",
                      host, perm ? "" : ", try again");
        *dsn = perm ? "5.4.4" : "4.4.3";
        return perm ? SMTP_RESOLVE_PERM : SMTP_RESOLVE_TEMP;
    }
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        if (limit && out->n >= limit)
            break;
        if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
            continue;
        if (ai->ai_addrlen > sizeof(struct sockaddr_storage))
            continue;
        strbuf a = STRBUF_INIT;
        sock_addr_str(ai->ai_addr, ai->ai_addrlen, &a);
        bool dup = false;
        for (size_t i = 0; i < out->n; i++)
            if (out->v[i].port == port && strcmp(out->v[i].addr, a.s) == 0)
                dup = true;
        if (!dup) {
            struct smtp_target *tg = target_add(out, host, a.s);
            tg->port = port;
            memcpy(&tg->sa, ai->ai_addr, ai->ai_addrlen);
            tg->salen = ai->ai_addrlen;
            if (tg->sa.ss_family == AF_INET)
                ((struct sockaddr_in *)&tg->sa)->sin_port = htons((uint16_t)port);
            else
                ((struct sockaddr_in6 *)&tg->sa)->sin6_port = htons((uint16_t)port);
        }
        strbuf_release(&a);
    }
    freeaddrinfo(res);
    return 0;
}

/* DANE state of `host` (its zone reached securely): address records
 * validated? then its TLSA records. Set on targets [from, n). */
static void dane_host(const char *host, unsigned port, bool secure, struct smtp_targets *out,
                      size_t from)
{
    if (from >= out->n)
        return;
    enum smtp_dane_status st = SMTP_DANE_INSECURE;
    struct dns_reply rep = {0};
    if (secure) {
        int r =
            dns_lookup_dnssec(host, smtp_cfg.family == AF_INET6 ? DNS_T_AAAA : DNS_T_A, &rep, NULL);
        if (r == DNS_NODATA && smtp_cfg.family == AF_UNSPEC && rep.authentic) {
            dns_reply_free(&rep);
            r = dns_lookup_dnssec(host, DNS_T_AAAA, &rep, NULL);
        }
        secure = r == DNS_OK && rep.authentic;
        dns_reply_free(&rep);
    }
    if (secure) {
        strbuf name = STRBUF_INIT;
        strbuf_printf(&name, "_%u._tcp.%s", port, host);
        int r = dns_lookup_dnssec(name.s, DNS_T_TLSA, &rep, NULL);
        strbuf_release(&name);
        if (r == DNS_RETRY)
            st = SMTP_DANE_ERROR;
        else if (r != DNS_OK || !rep.authentic)
            st = SMTP_DANE_NOTFOUND; /* insecure records count as none */
        else
            st = SMTP_DANE_UNUSABLE;
    }
    for (size_t i = from; i < out->n; i++) {
        struct smtp_target *tg = &out->v[i];
        tg->dane = st;
        if (st != SMTP_DANE_UNUSABLE)
            continue;
        for (size_t k = 0; k < rep.n; k++) {
            if (!dns_tlsa_check(&rep.v[k], NULL))
                continue;
            tg->tlsa = xreallocarray(tg->tlsa, tg->ntlsa + 1, sizeof(*tg->tlsa));
            struct smtp_tlsa *a = &tg->tlsa[tg->ntlsa++];
            a->usage = rep.v[k].usage;
            a->selector = rep.v[k].selector;
            a->mtype = rep.v[k].mtype;
            a->len = rep.v[k].data_len;
            a->data = xmalloc(a->len ? a->len : 1);
            memcpy(a->data, rep.v[k].data, a->len);
        }
        if (tg->ntlsa > 0)
            tg->dane = SMTP_DANE_USABLE;
    }
    dns_reply_free(&rep);
}

/* One hop spec: "[host]", "[host]:port", "host:port", "host". */
static int add_hop(const char *spec, unsigned default_port, bool dane, struct smtp_targets *out,
                   strbuf *reason, const char **dsn)
{
    strbuf host = STRBUF_INIT;
    unsigned port = default_port;
    bool bracketed = spec[0] == '[';
    int ret = 0;
    const char *colon;
    if (bracketed) {
        const char *close = strchr(spec, ']');
        if (close == NULL || (close[1] != 0 && close[1] != ':')) {
            strbuf_printf(reason, "malformed next hop \"%s\"", spec);
            *dsn = "4.3.5";
            return SMTP_RESOLVE_TEMP;
        }
        strbuf_append(&host, spec + 1, (size_t)(close - spec - 1));
        colon = close[1] == ':' ? close + 1 : NULL;
    } else {
        colon = strrchr(spec, ':');
        strbuf_append(&host, spec, colon ? (size_t)(colon - spec) : strlen(spec));
    }
    if (colon) {
        strbuf err = STRBUF_INIT;
        if (sock_parse_port(colon + 1, &port, &err) < 0) {
            strbuf_printf(reason, "malformed next hop \"%s\": %s", spec, err.s);
            *dsn = "4.3.5";
            strbuf_release(&err);
            strbuf_release(&host);
            return SMTP_RESOLVE_TEMP;
        }
        strbuf_release(&err);
    }
    if (bracketed && host.len > 5 && strncasecmp(host.s, "ipv6:", 5) == 0) {
        memmove(host.s, host.s + 5, host.len - 5 + 1);
        host.len -= 5;
    }
    const char *h = host.s ? host.s : "";
    unsigned char ipbuf[sizeof(struct in6_addr)];
    bool is_ip = inet_pton(AF_INET, h, ipbuf) == 1 || inet_pton(AF_INET6, h, ipbuf) == 1;
    if (h[0] == 0 || !(addr_valid_hostname(h, host.len) || is_ip)) {
        strbuf_printf(reason, "malformed next hop \"%s\"", spec);
        *dsn = "4.3.5";
        strbuf_release(&host);
        return SMTP_RESOLVE_TEMP;
    }
    size_t limit = smtp_cfg.mx_address_limit > 0 ? out->n + (size_t)smtp_cfg.mx_address_limit : 0;
    struct smtp_mx *mx = NULL;
    int nmx = 0;
    dane = dane && smtp_cfg.dns && !smtp_cfg.lmtp;
    /* A bracketed host is its own TLSA base; its address records decide. */
    bool secure = dane && bracketed;
    if (!bracketed && smtp_cfg.dns && !smtp_cfg.lmtp)
        nmx = mx_lookup(h, dane, &secure, &mx, reason, dsn);
    if (nmx < 0) {
        ret = nmx;
    } else if (nmx == 0) {
        size_t before = out->n;
        ret = host_addrs(h, port, out, limit, reason, dsn);
        if (dane)
            dane_host(h, port, secure, out, before);
    } else {
        size_t before = out->n;
        int worst = 0;
        for (int i = 0; i < nmx; i++) {
            size_t first = out->n;
            int r = host_addrs(mx[i].host, port, out, limit, reason, dsn);
            if (dane)
                dane_host(mx[i].host, port, secure, out, first);
            if (r == SMTP_RESOLVE_TEMP || (r < 0 && worst == 0))
                worst = r;
        }
        ret = out->n > before ? 0 : worst;
        smtp_mx_free(mx, (size_t)nmx);
    }
    strbuf_release(&host);
    return ret;
}

/* Targets [from, n) came from the next hop `spec` as written. */
static void set_dest(struct smtp_targets *t, size_t from, const char *spec)
{
    for (size_t i = from; i < t->n; i++)
        if (t->v[i].dest == NULL)
            t->v[i].dest = xstrdup(spec);
}

static int add_unix(const char *path, struct smtp_targets *out, strbuf *reason, const char **dsn)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    if (path[0] == 0 || strlen(path) >= sizeof(sun.sun_path)) {
        strbuf_printf(reason, "malformed LMTP socket path \"%s\"", path);
        *dsn = "4.3.5";
        return SMTP_RESOLVE_TEMP;
    }
    memcpy(sun.sun_path, path, strlen(path) + 1);
    struct smtp_target *tg = target_add(out, smtp_cfg.myhostname, path);
    tg->path = xstrdup(path);
    memcpy(&tg->sa, &sun, sizeof(sun));
    tg->salen = sizeof(sun);
    return 0;
}

int smtp_resolve_nexthop(const char *nexthop, struct smtp_targets *out, strbuf *reason,
                         const char **dsn)
{
    return smtp_resolve_nexthop_dane(nexthop, false, out, reason, dsn);
}

int smtp_resolve_nexthop_dane(const char *nexthop, bool dane, struct smtp_targets *out,
                              strbuf *reason, const char **dsn)
{
    unsigned default_port = smtp_cfg.lmtp ? 24 : 25;
    int ret;
    out->v = NULL;
    out->n = 0;
    strbuf_reset(reason);
    if (strncmp(nexthop, "unix:", 5) == 0) {
        if (!smtp_cfg.lmtp) {
            strbuf_printf(reason, "unix: next hop \"%s\" is for LMTP only", nexthop);
            *dsn = "4.3.5";
            return SMTP_RESOLVE_TEMP;
        }
        ret = add_unix(nexthop + 5, out, reason, dsn);
        set_dest(out, 0, nexthop);
        return ret;
    }
    if (strncmp(nexthop, "inet:", 5) == 0)
        nexthop += 5;
    ret = add_hop(nexthop, default_port, dane, out, reason, dsn);
    set_dest(out, 0, nexthop);
    /* Fallback relays help when the destination's own hosts don't answer
     * (or can't be found, temporarily). */
    if (ret != SMTP_RESOLVE_PERM && !smtp_cfg.lmtp && smtp_cfg.fallback_relay[0]) {
        strlist relays = STRLIST_INIT;
        strlist_split(&relays, smtp_cfg.fallback_relay, ", \t\r\n", NULL);
        for (size_t i = 0; i < relays.n; i++) {
            strbuf r2 = STRBUF_INIT;
            const char *d2 = NULL;
            size_t before = out->n;
            (void)add_hop(relays.v[i], default_port, false, out, &r2, &d2);
            set_dest(out, before, relays.v[i]);
            strbuf_release(&r2);
        }
        strlist_release(&relays);
        if (out->n > 0)
            ret = 0;
    }
    if (ret == 0 && out->n == 0) {
        strbuf_printf(reason,
                      "Host or domain name not found. Name service error for name=%s type=A: "
                      "Host not found",
                      nexthop);
        *dsn = "5.4.4";
        ret = SMTP_RESOLVE_PERM;
    }
    return ret;
}
