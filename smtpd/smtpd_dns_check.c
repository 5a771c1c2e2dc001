/* smtpd_dns_check - DNS-based restrictions; see smtpd_dns_check.h. */
#include "smtpd_dns_check.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "address.h"
#include "config.h"
#include "dns.h"
#include "map_cache.h"
#include "maps.h"
#include "mem.h"
#include "msg.h"
#include "rbl_filter.h"
#include "strlist.h"

#define REPLY_MAX 500

void smtpd_dns_expand(const char *tmpl, const char *(*lookup)(void *ctx, const char *name),
                      void *ctx, strbuf *out)
{
    strbuf_reset(out);
    const char *p = tmpl;
    while (*p && out->len < REPLY_MAX) {
        if (*p != '$') {
            strbuf_putc(out, *p++);
            continue;
        }
        p++;
        if (*p == '$') {
            strbuf_putc(out, *p++);
            continue;
        }
        char name[64];
        size_t n = 0;
        if (*p == '{' || *p == '(') {
            char close = *p == '{' ? '}' : ')';
            const char *q = p + 1;
            while ((isalnum((unsigned char)*q) || *q == '_') && n + 1 < sizeof(name))
                name[n++] = *q++;
            name[n] = 0;
            const char *v = lookup(ctx, name);
            if (*q == '?' || *q == ':') {
                /* ${name?text}: text when set and non-empty; ${name:text}: when not. */
                bool set = v && *v;
                bool want = *q == '?' ? set : !set;
                const char *t = q + 1;
                /* The text may hold ${...} itself: find the matching close. */
                const char *e = t;
                for (int depth = 0; *e && (*e != close || depth > 0); e++) {
                    if (*e == '$' && (e[1] == '{' || e[1] == '(')) {
                        depth++;
                        e++;
                    } else if ((*e == '}' || *e == ')') && depth > 0) {
                        depth--;
                    }
                }
                if (want) {
                    strbuf inner = STRBUF_INIT, sub = STRBUF_INIT;
                    strbuf_append(&inner, t, (size_t)(e - t));
                    smtpd_dns_expand(strbuf_str(&inner), lookup, ctx, &sub);
                    strbuf_puts(out, strbuf_str(&sub));
                    strbuf_release(&inner);
                    strbuf_release(&sub);
                }
                p = *e ? e + 1 : e;
            } else {
                if (v)
                    strbuf_puts(out, v);
                p = *q == close ? q + 1 : q;
            }
            continue;
        }
        while ((isalnum((unsigned char)*p) || *p == '_') && n + 1 < sizeof(name))
            name[n++] = *p++;
        name[n] = 0;
        if (n == 0) {
            strbuf_putc(out, '$');
            continue;
        }
        const char *v = lookup(ctx, name);
        if (v)
            strbuf_puts(out, v);
    }
    if (out->len > REPLY_MAX)
        strbuf_truncate(out, REPLY_MAX);
    /* The values are the client's and the DNS's: one reply line, ASCII. */
    for (size_t i = 0; i < out->len; i++) {
        unsigned char c = (unsigned char)out->s[i];
        if (c < 0x20 || c >= 0x7f)
            out->s[i] = '?';
    }
}

bool smtpd_dns_handles(enum smtpd_restriction_id id)
{
    return id >= SMTPD_R_REJECT_RBL_CLIENT && id <= SMTPD_R_CHECK_RECIPIENT_A_ACCESS;
}

struct rbl_vars {
    struct smtpd_state *s;
    const char *rcpt;
    const char *code, *domain, *reason, *what, *class;
};

static const char *rbl_var(void *ctx, const char *name)
{
    struct rbl_vars *v = ctx;
    struct smtpd_state *s = v->s;
    if (!strcmp(name, "rbl_code"))
        return v->code;
    if (!strcmp(name, "rbl_domain"))
        return v->domain;
    if (!strcmp(name, "rbl_reason") || !strcmp(name, "rbl_txt"))
        return v->reason;
    if (!strcmp(name, "rbl_what"))
        return v->what;
    if (!strcmp(name, "rbl_class"))
        return v->class;
    if (!strcmp(name, "client_address"))
        return strbuf_str(&s->addr);
    if (!strcmp(name, "client_name") || !strcmp(name, "reverse_client_name"))
        return strbuf_str(&s->name);
    if (!strcmp(name, "helo_name"))
        return strbuf_str(&s->helo);
    if (!strcmp(name, "sender"))
        return strbuf_str(&s->sender);
    if (!strcmp(name, "recipient"))
        return v->rcpt ? v->rcpt : "";
    return NULL;
}

/* Is `query` listed in the zone? 1 listed (TXT in reason), 0 not, -1 the
 * filter (after '=' in the spec, rbl_filter) is malformed: checked before
 * any lookup, so a bad filter is a configuration error every time, not
 * only when a listed client comes. */
static int rbl_listed(const char *query, const char *filter, strbuf *reason, const char **why)
{
    if (filter && rbl_filter_check(filter, why) < 0)
        return -1;
    struct dns_reply rep;
    int r = dns_lookup(query, DNS_T_A, &rep, NULL);
    if (r != DNS_OK)
        return 0;
    bool hit = false;
    for (size_t i = 0; i < rep.n && !hit; i++)
        hit = !filter || rbl_filter_match(filter, rep.v[i].data, why) == 1;
    dns_reply_free(&rep);
    if (!hit)
        return 0;
    strbuf_reset(reason);
    if (dns_lookup(query, DNS_T_TXT, &rep, NULL) == DNS_OK && rep.n)
        strbuf_puts(reason, rep.v[0].data);
    dns_reply_free(&rep);
    return 1;
}

/* rbl_reply_maps, each table from lib/maps/map_cache: opened at the first
 * listed client, reopened only when its file changes. true when found. */
static bool rbl_reply_lookup(const char *key, strbuf *value)
{
    static strlist tables = STRLIST_INIT;
    static bool split;
    strbuf err = STRBUF_INIT;
    if (!split) {
        if (maps_split(&tables, config_get("rbl_reply_maps"), &err) < 0)
            msg_warn("rbl_reply_maps: %s", strbuf_str(&err));
        split = true;
    }
    bool found = false;
    for (size_t i = 0; i < tables.n && !found; i++) {
        strbuf_reset(&err);
        map *m = map_cache_get(tables.v[i], 0, &err);
        if (!m) {
            msg_warn("rbl_reply_maps: %s", strbuf_str(&err));
            continue;
        }
        enum map_result r = map_lookup(m, key, value, &err);
        if (r == MAP_FOUND)
            found = true;
        else if (r == MAP_TEMPFAIL)
            msg_warn("rbl_reply_maps: %s: %s", tables.v[i], strbuf_str(&err));
    }
    strbuf_release(&err);
    return found;
}

static void rbl_reply(struct smtpd_state *s, const char *rcpt, const char *spec, const char *domain,
                      const char *what, const char *class, const char *reason, strbuf *reply,
                      int *code)
{
    int c = (int)config_get_int("maps_rbl_reject_code");
    char codebuf[16];
    snprintf(codebuf, sizeof(codebuf), "%d", c);
    struct rbl_vars v = {s, rcpt, codebuf, domain, reason, what, class};
    strbuf tmpl = STRBUF_INIT, err = STRBUF_INIT, text = STRBUF_INIT;
    strbuf_set(&tmpl, config_get("default_rbl_reply"));
    if (rbl_reply_lookup(spec, &text) || rbl_reply_lookup(domain, &text))
        strbuf_set(&tmpl, strbuf_str(&text));
    smtpd_dns_expand(strbuf_str(&tmpl), rbl_var, &v, &text);
    /* The template starts with the code; the enhanced status code goes
     * after it, as Postfix inserts it. */
    const char *t = strbuf_str(&text);
    int rc = c;
    if (isdigit((unsigned char)t[0]) && isdigit((unsigned char)t[1]) &&
        isdigit((unsigned char)t[2]) && (t[0] == '4' || t[0] == '5')) {
        rc = (t[0] - '0') * 100 + (t[1] - '0') * 10 + (t[2] - '0');
        t += 3;
        t += strspn(t, " ");
    }
    strbuf_reset(reply);
    strbuf_printf(reply, "%d %s %s", rc, rc / 100 == 4 ? "4.7.1" : "5.7.1", t);
    *code = rc;
    strbuf_release(&tmpl);
    strbuf_release(&err);
    strbuf_release(&text);
}

/* A malformed "=d.d.d.d": never an accept of what the list may have
 * rejected (postfix check names it too). */
static enum smtpd_dns_verdict filter_error(const char *spec, const char *filter, const char *why,
                                           strbuf *reply, int *code)
{
    msg_warn("DNS list %s: bad reply filter \"%s\": %s; answering 451 4.3.5", spec, filter, why);
    strbuf_set(reply, "451 4.3.5 Server configuration error");
    *code = 451;
    return SMTPD_DNS_REJECT;
}

/* spec "domain[=d.d.d.d]": split into domain and filter. */
static char *split_spec(const char *spec, const char **filter)
{
    char *d = xstrdup(spec);
    char *eq = strchr(d, '=');
    *filter = NULL;
    if (eq) {
        *eq = 0;
        *filter = eq + 1;
    }
    return d;
}

static const char *addr_domain_part(const char *addr)
{
    const char *at = strrchr(addr, '@');
    return at ? at + 1 : NULL;
}

/* Does the domain (or host) exist for mail: MX, else A/AAAA. DNS_OK,
 * DNS_NOTFOUND (nothing), DNS_RETRY, or 3 for a null MX. */
static int mail_domain_status(const char *domain, bool mx_too)
{
    struct dns_reply rep;
    bool retry = false;
    if (mx_too) {
        int r = dns_lookup(domain, DNS_T_MX, &rep, NULL);
        if (r == DNS_OK) {
            bool null_mx = rep.n == 1 && rep.v[0].data[0] == 0;
            dns_reply_free(&rep);
            return null_mx ? 3 : DNS_OK;
        }
        if (r == DNS_NOTFOUND)
            return DNS_NOTFOUND;
        retry = r == DNS_RETRY;
    }
    static const unsigned types[2] = {DNS_T_A, DNS_T_AAAA};
    for (int i = 0; i < 2; i++) {
        int r = dns_lookup(domain, types[i], &rep, NULL);
        dns_reply_free(&rep);
        if (r == DNS_OK)
            return DNS_OK;
        if (r == DNS_NOTFOUND && !retry)
            return DNS_NOTFOUND;
        if (r == DNS_RETRY)
            retry = true;
    }
    return retry ? DNS_RETRY : DNS_NOTFOUND;
}

static bool tempfail_defers_now(const char *param)
{
    return strcmp(config_get(param), "defer") == 0;
}

void smtpd_dns_init(void)
{
    static const char *const params[] = {"unknown_address_tempfail_action",
                                         "unknown_helo_hostname_tempfail_action"};
    for (size_t i = 0; i < sizeof(params) / sizeof(params[0]); i++) {
        const char *v = config_get(params[i]);
        if (strcmp(v, "defer") != 0 && strcmp(v, "defer_if_permit") != 0)
            msg_fatal("parameter %s: bad value \"%s\": specify defer or defer_if_permit", params[i],
                      v);
    }
}

static enum smtpd_dns_verdict unknown_domain(const char *what, const char *domain,
                                             const char *class, const char *dsn_perm,
                                             const char *dsn_temp, bool mx_too, strbuf *reply,
                                             int *code)
{
    if (!domain || !domain[0] || domain[0] == '[')
        return SMTPD_DNS_DUNNO; /* no domain, or an address literal */
    /* Both kinds exist with an MX or an address record (postconf(5)); only
     * a mail domain is refused for a null MX. */
    int st = mail_domain_status(domain, true);
    if (st == DNS_OK || (st == 3 && !mx_too))
        return SMTPD_DNS_DUNNO;
    strbuf_reset(reply);
    if (st == 3) {
        /* Postfix: a sender's null MX is a policy refusal, a recipient's
         * RFC 7505's 556. */
        bool snd = strcmp(class, "Sender address") == 0;
        *code = snd ? 550 : 556;
        strbuf_printf(reply, "%d %s <%s>: %s rejected: Domain %s does not accept mail (nullMX)",
                      *code, snd ? "5.7.27" : "5.1.10", what, class, domain);
    } else if (st == DNS_RETRY) {
        *code = 450;
        strbuf_printf(reply, "450 4.4.3 <%s>: %s rejected: %s", what, class,
                      mx_too ? "Domain not found" : "Host not found");
        return tempfail_defers_now(mx_too ? "unknown_address_tempfail_action"
                                          : "unknown_helo_hostname_tempfail_action")
                   ? SMTPD_DNS_REJECT
                   : SMTPD_DNS_DEFER_IF_PERMIT;
    } else {
        *code = (int)config_get_int(mx_too ? "unknown_address_reject_code"
                                           : "unknown_hostname_reject_code");
        strbuf_printf(reply, "%d %s <%s>: %s rejected: %s", *code,
                      *code / 100 == 4 ? dsn_temp : dsn_perm, what, class,
                      mx_too ? "Domain not found" : "Host not found");
    }
    return SMTPD_DNS_REJECT;
}

/* check_*_{mx,ns,a}_access: look up each server host name and address. */
static enum smtpd_dns_verdict server_access(const char *domain, unsigned type, const char *table,
                                            smtpd_dns_access_fn access, void *actx)
{
    struct dns_reply hosts = {0};
    const char *d = domain;
    if (type == DNS_T_A) {
        hosts.v = xcalloc(1, sizeof(*hosts.v));
        hosts.v[0].data = xstrdup(domain);
        hosts.n = 1;
    } else {
        for (;;) {
            int r = dns_lookup(d, type, &hosts, NULL);
            if (r == DNS_OK || type != DNS_T_NS)
                break;
            /* No NS at this name: the servers of the enclosing zone. */
            const char *dot = strchr(d, '.');
            if (!dot || !strchr(dot + 1, '.'))
                break;
            d = dot + 1;
        }
        if (hosts.n == 0 && type == DNS_T_MX) {
            /* No MX: the domain is its own mail host (RFC 5321 5.1). */
            hosts.v = xcalloc(1, sizeof(*hosts.v));
            hosts.v[0].data = xstrdup(domain);
            hosts.n = 1;
        }
    }
    enum smtpd_dns_verdict v = SMTPD_DNS_DUNNO;
    for (size_t i = 0; i < hosts.n && v == SMTPD_DNS_DUNNO; i++) {
        const char *h = hosts.v[i].data;
        if (!h[0] || !addr_valid_hostname(h, strlen(h)))
            continue;
        if (type != DNS_T_A)
            v = access(actx, table, h);
        static const unsigned at[2] = {DNS_T_A, DNS_T_AAAA};
        for (int k = 0; k < 2 && v == SMTPD_DNS_DUNNO; k++) {
            struct dns_reply addrs;
            if (dns_lookup(h, at[k], &addrs, NULL) == DNS_OK)
                for (size_t j = 0; j < addrs.n && v == SMTPD_DNS_DUNNO; j++)
                    v = access(actx, table, addrs.v[j].data);
            dns_reply_free(&addrs);
        }
        if (v == SMTPD_DNS_PERMIT) {
            /* access(5): OK is not allowed here, a name server's listing
             * must not whitelist a domain. */
            msg_warn("access table %s: OK action not allowed for server %s of %s", table, h,
                     domain);
            v = SMTPD_DNS_DUNNO;
        }
    }
    dns_reply_free(&hosts);
    return v;
}

/* The client address's PTR name (not forward-confirmed: Postfix's
 * reverse_client_name): 1 found (in name), 0 none, -1 temporary failure. */
int smtpd_dns_reverse_name(const char *addr, strbuf *name)
{
    strbuf q = STRBUF_INIT;
    strbuf_reset(name);
    if (dns_reverse_name(addr, ".in-addr.arpa", ".ip6.arpa", &q) < 0) {
        strbuf_release(&q);
        return 0;
    }
    struct dns_reply rep;
    int r = dns_lookup(strbuf_str(&q), DNS_T_PTR, &rep, NULL);
    int ret = r == DNS_RETRY ? -1 : 0;
    for (size_t i = 0; i < rep.n && ret == 0; i++)
        if (addr_valid_hostname(rep.v[i].data, strlen(rep.v[i].data))) {
            strbuf_set(name, rep.v[i].data);
            ret = 1;
        }
    dns_reply_free(&rep);
    strbuf_release(&q);
    return ret;
}

static int has_reverse_name(const char *addr)
{
    strbuf n = STRBUF_INIT;
    int r = smtpd_dns_reverse_name(addr, &n);
    strbuf_release(&n);
    return r;
}

enum smtpd_dns_verdict smtpd_dns_check(struct smtpd_state *s, enum smtpd_restriction_id id,
                                       const char *arg, const char *rcpt, strbuf *reply, int *code,
                                       smtpd_dns_access_fn access, void *actx)
{
    *code = 0;
    const char *addr = strbuf_str(&s->addr);
    const char *name = strbuf_str(&s->name);
    const char *sender = strbuf_str(&s->sender);
    switch (id) {
    case SMTPD_R_REJECT_RBL_CLIENT:
    case SMTPD_R_PERMIT_DNSWL_CLIENT: {
        const char *filter;
        char *domain = split_spec(arg, &filter);
        strbuf q = STRBUF_INIT, reason = STRBUF_INIT;
        strbuf_printf(&q, ".%s", domain);
        enum smtpd_dns_verdict v = SMTPD_DNS_DUNNO;
        if (dns_reverse_name(addr, strbuf_str(&q), strbuf_str(&q), &reason) == 0) {
            strbuf_set(&q, strbuf_str(&reason));
            const char *why = NULL;
            int listed = rbl_listed(strbuf_str(&q), filter, &reason, &why);
            if (listed < 0) {
                v = filter_error(arg, filter, why, reply, code);
            } else if (listed) {
                if (id == SMTPD_R_PERMIT_DNSWL_CLIENT) {
                    v = SMTPD_DNS_PERMIT;
                } else {
                    rbl_reply(s, rcpt, arg, domain, addr, "Client host", strbuf_str(&reason), reply,
                              code);
                    v = SMTPD_DNS_REJECT;
                }
            }
        }
        strbuf_release(&q);
        strbuf_release(&reason);
        free(domain);
        return v;
    }
    case SMTPD_R_REJECT_RHSBL_CLIENT:
    case SMTPD_R_REJECT_RHSBL_REVERSE_CLIENT:
    case SMTPD_R_REJECT_RHSBL_HELO:
    case SMTPD_R_REJECT_RHSBL_SENDER: {
        const char *what = NULL, *class = NULL;
        strbuf rev = STRBUF_INIT;
        if (id == SMTPD_R_REJECT_RHSBL_CLIENT) {
            what = strcmp(name, "unknown") ? name : NULL;
            class = "Client host";
        } else if (id == SMTPD_R_REJECT_RHSBL_REVERSE_CLIENT) {
            what = smtpd_dns_reverse_name(addr, &rev) == 1 ? strbuf_str(&rev) : NULL;
            class = "Unverified Client host";
        } else if (id == SMTPD_R_REJECT_RHSBL_HELO) {
            what = s->helo.len ? strbuf_str(&s->helo) : NULL;
            class = "Helo command";
        } else {
            what = s->sender.len ? addr_domain_part(sender) : NULL;
            class = "Sender address";
        }
        if (!what || !what[0] || what[0] == '[') {
            strbuf_release(&rev);
            return SMTPD_DNS_DUNNO;
        }
        const char *filter;
        char *domain = split_spec(arg, &filter);
        strbuf q = STRBUF_INIT, reason = STRBUF_INIT;
        strbuf_printf(&q, "%s.%s", what, domain);
        enum smtpd_dns_verdict v = SMTPD_DNS_DUNNO;
        const char *why = NULL;
        int listed = addr_valid_hostname(what, strlen(what))
                         ? rbl_listed(strbuf_str(&q), filter, &reason, &why)
                         : 0;
        if (listed < 0) {
            v = filter_error(arg, filter, why, reply, code);
        } else if (listed) {
            rbl_reply(s, rcpt, arg, domain, what, class, strbuf_str(&reason), reply, code);
            v = SMTPD_DNS_REJECT;
        }
        strbuf_release(&q);
        strbuf_release(&reason);
        strbuf_release(&rev);
        free(domain);
        return v;
    }
    case SMTPD_R_REJECT_UNKNOWN_HELO_HOSTNAME:
        if (!s->helo.len || !addr_valid_hostname(s->helo.s, s->helo.len))
            return SMTPD_DNS_DUNNO; /* reject_invalid_helo_hostname's business */
        return unknown_domain(strbuf_str(&s->helo), strbuf_str(&s->helo), "Helo command", "5.7.1",
                              "4.7.1", false, reply, code);
    case SMTPD_R_REJECT_UNKNOWN_SENDER_DOMAIN:
        if (!s->sender.len)
            return SMTPD_DNS_DUNNO;
        return unknown_domain(sender, addr_domain_part(sender), "Sender address", "5.1.8", "4.1.8",
                              true, reply, code);
    case SMTPD_R_REJECT_UNKNOWN_RECIPIENT_DOMAIN:
        if (!rcpt || !rcpt[0])
            return SMTPD_DNS_DUNNO;
        return unknown_domain(rcpt, addr_domain_part(rcpt), "Recipient address", "5.1.2", "4.1.2",
                              true, reply, code);
    case SMTPD_R_REJECT_UNKNOWN_CLIENT_HOSTNAME:
    case SMTPD_R_REJECT_UNKNOWN_REVERSE_CLIENT_HOSTNAME: {
        bool unknown;
        bool temp = false;
        if (id == SMTPD_R_REJECT_UNKNOWN_CLIENT_HOSTNAME) {
            unknown = strcmp(name, "unknown") == 0; /* smtpd's forward-confirmed name */
        } else {
            int r = has_reverse_name(addr);
            unknown = r <= 0;
            temp = r < 0;
        }
        if (!unknown)
            return SMTPD_DNS_DUNNO;
        *code = temp ? 450 : (int)config_get_int("unknown_client_reject_code");
        strbuf_reset(reply);
        strbuf_printf(reply, "%d %s Client host rejected: cannot find your %shostname, [%s]", *code,
                      *code / 100 == 4 ? "4.7.25" : "5.7.25",
                      id == SMTPD_R_REJECT_UNKNOWN_CLIENT_HOSTNAME ? "" : "reverse ", addr);
        return SMTPD_DNS_REJECT;
    }
    case SMTPD_R_CHECK_SENDER_MX_ACCESS:
    case SMTPD_R_CHECK_SENDER_NS_ACCESS:
    case SMTPD_R_CHECK_SENDER_A_ACCESS:
    case SMTPD_R_CHECK_RECIPIENT_MX_ACCESS:
    case SMTPD_R_CHECK_RECIPIENT_NS_ACCESS:
    case SMTPD_R_CHECK_RECIPIENT_A_ACCESS: {
        bool snd = id == SMTPD_R_CHECK_SENDER_MX_ACCESS || id == SMTPD_R_CHECK_SENDER_NS_ACCESS ||
                   id == SMTPD_R_CHECK_SENDER_A_ACCESS;
        const char *a = snd ? (s->sender.len ? sender : NULL) : rcpt;
        const char *d = a ? addr_domain_part(a) : NULL;
        if (!d || !d[0] || d[0] == '[' || !addr_valid_hostname(d, strlen(d)))
            return SMTPD_DNS_DUNNO;
        unsigned type =
            id == SMTPD_R_CHECK_SENDER_MX_ACCESS || id == SMTPD_R_CHECK_RECIPIENT_MX_ACCESS
                ? DNS_T_MX
            : id == SMTPD_R_CHECK_SENDER_NS_ACCESS || id == SMTPD_R_CHECK_RECIPIENT_NS_ACCESS
                ? DNS_T_NS
                : DNS_T_A;
        return server_access(d, type, arg, access, actx);
    }
    default:
        return SMTPD_DNS_DUNNO;
    }
}
