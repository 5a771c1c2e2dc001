/* cleanup_rewrite - canonical, masquerading, virtual alias (see the header). */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "addr_map.h"
#include "address.h"
#include "cleanup_rewrite.h"

#include "header_addr.h"
#include "config.h"
#include "mem.h"
#include "msg.h"

/* A table result longer than this is refused as one address: no real
 * address is that long and the queue file must stay sane. */
#define RW_MAX_ADDR 4096

static int parse_words(const char *text, const char *const *names, const unsigned *bits,
                       unsigned *out, strbuf *bad)
{
    strlist w = STRLIST_INIT;
    const char *e = NULL;
    *out = 0;
    if (strlist_split(&w, text ? text : "", ", \t\r\n", &e) < 0) {
        strbuf_set(bad, text);
        strlist_release(&w);
        return -1;
    }
    for (size_t i = 0; i < w.n; i++) {
        size_t k = 0;
        while (names[k] && strcasecmp(names[k], w.v[i]) != 0)
            k++;
        if (!names[k]) {
            strbuf_set(bad, w.v[i]);
            strlist_release(&w);
            return -1;
        }
        *out |= bits[k];
    }
    strlist_release(&w);
    return 0;
}

int rewrite_parse_classes(const char *text, unsigned *out, strbuf *bad)
{
    static const char *const names[] = {"envelope_sender", "envelope_recipient", "header_sender",
                                        "header_recipient", NULL};
    static const unsigned bits[] = {RW_ENV_SENDER, RW_ENV_RCPT, RW_HDR_SENDER, RW_HDR_RCPT};
    return parse_words(text, names, bits, out, bad);
}

enum map_result rewrite_lookup(const struct rewrite_config *rc, maps *ms, const char *addr,
                               bool propagate, strbuf *out, strbuf *err)
{
    const struct addr_map_ctx ctx = {rc->delims, rc->myorigin, rc->res};
    return addr_map_lookup(&ctx, ms, addr, propagate, out, err);
}

/* Make one table result a usable internal address: trimmed, "@$myorigin"
 * appended to a bare user. False when it is unusable (empty, too long,
 * control characters). */
static bool result_address(strbuf *a)
{
    strbuf_trim(a);
    if (a->len == 0 || a->len > RW_MAX_ADDR)
        return false;
    for (size_t i = 0; i < a->len; i++)
        if ((unsigned char)a->s[i] < 0x20 || a->s[i] == 0x7f)
            return false;
    resolve_canonical(a);
    return true;
}

static int canonical_one(const struct rewrite_config *rc, maps *ms, strbuf *addr, strbuf *err)
{
    strbuf v = STRBUF_INIT;
    enum map_result r = rewrite_lookup(rc, ms, strbuf_str(addr), rc->prop_canonical, &v, err);
    if (r == MAP_FOUND && result_address(&v))
        strbuf_set(addr, strbuf_str(&v));
    strbuf_release(&v);
    return r == MAP_TEMPFAIL ? -1 : 0;
}

int rewrite_canonical(const struct rewrite_config *rc, unsigned cls, strbuf *addr, strbuf *err)
{
    if (addr->len == 0) /* the null sender is never rewritten */
        return 0;
    bool snd = cls & (RW_ENV_SENDER | RW_HDR_SENDER);
    if (snd && (rc->sender_canonical_classes & cls) &&
        canonical_one(rc, rc->sender_canonical, addr, err) < 0)
        return -1;
    if (!snd && (rc->recipient_canonical_classes & cls) &&
        canonical_one(rc, rc->recipient_canonical, addr, err) < 0)
        return -1;
    if ((rc->canonical_classes & cls) && canonical_one(rc, rc->canonical, addr, err) < 0)
        return -1;
    return 0;
}

void rewrite_masquerade(const struct rewrite_config *rc, unsigned cls, strbuf *addr)
{
    size_t at = 0;
    if (!(rc->masq_classes & cls) || rc->masq_domains.n == 0 ||
        !addr_split(strbuf_str(addr), addr->len, &at))
        return;
    if (rc->masq_exceptions) {
        char *user = xstrndup(addr->s, at);
        strbuf err = STRBUF_INIT;
        int exempt = match_list_domain(rc->masq_exceptions, user, &err);
        /* A table that cannot answer: leave the address unmasqueraded
         * rather than hide a user who may be an exception. */
        if (exempt < 0)
            msg_warn("masquerade_exceptions: %s", strbuf_str(&err));
        free(user);
        strbuf_release(&err);
        if (exempt != 0)
            return;
    }
    const char *domain = addr->s + at + 1;
    size_t dlen = strlen(domain);
    for (size_t i = 0; i < rc->masq_domains.n; i++) {
        const char *m = rc->masq_domains.v[i];
        bool truncate = true;
        /* "!sub.example.com": that domain and its subdomains stay as they are. */
        while (*m == '!') {
            truncate = !truncate;
            m++;
        }
        size_t mlen = strlen(m);
        if (mlen == 0)
            continue;
        if (mlen == dlen) {
            if (strcasecmp(m, domain) == 0)
                return;
        } else if (mlen < dlen) {
            const char *parent = domain + dlen - mlen;
            if (parent[-1] == '.' && strcasecmp(parent, m) == 0) {
                if (truncate) {
                    char *keep = xstrdup(parent);
                    strbuf_truncate(addr, at + 1);
                    strbuf_puts(addr, keep);
                    free(keep);
                }
                return;
            }
        }
    }
}

/* Split a virtual alias result into addresses (commas and blanks outside
 * quotes separate; Postfix's result syntax). */
static void split_result(const char *v, strlist *out)
{
    const char *p = v;
    while (*p) {
        while (*p == ',' || *p == ' ' || *p == '\t')
            p++;
        if (!*p)
            break;
        const char *start = p;
        bool quoted = false;
        while (*p && (quoted || (*p != ',' && *p != ' ' && *p != '\t'))) {
            if (*p == '"')
                quoted = !quoted;
            else if (*p == '\\' && p[1])
                p++;
            p++;
        }
        strlist_pushn(out, start, (size_t)(p - start));
    }
}

struct vitem {
    char *addr;
    long depth;
};

enum rewrite_virtual_status rewrite_virtual(const struct rewrite_config *rc, const char *addr,
                                            strlist *out, strbuf *err)
{
    enum rewrite_virtual_status st = RW_VIRT_OK;
    if (!rc->virtual_alias || maps_count(rc->virtual_alias) == 0) {
        strlist_push(out, addr);
        return st;
    }
    /* Work list in expansion order; `seen` holds every address already
     * looked up so a loop (a → b → a) ends instead of spinning. */
    size_t n = 1, cap = 8;
    struct vitem *w = xcalloc(cap, sizeof(*w));
    w[0].addr = xstrdup(addr);
    strlist seen = STRLIST_INIT;
    strbuf v = STRBUF_INIT, one = STRBUF_INIT;
    for (size_t i = 0; i < n && st == RW_VIRT_OK;) {
        if (strlist_contains_nocase(&seen, w[i].addr)) {
            strlist_push(out, w[i].addr);
            i++;
            continue;
        }
        strlist_push(&seen, w[i].addr);
        enum map_result r =
            rewrite_lookup(rc, rc->virtual_alias, w[i].addr, rc->prop_virtual, &v, err);
        if (r == MAP_TEMPFAIL) {
            st = RW_VIRT_TEMPFAIL;
            break;
        }
        if (r == MAP_NOTFOUND) {
            strlist_push(out, w[i].addr);
            i++;
            continue;
        }
        if (w[i].depth >= rc->recursion_limit) {
            st = RW_VIRT_RECURSION;
            strbuf_set(err, w[i].addr);
            break;
        }
        strlist parts = STRLIST_INIT;
        split_result(strbuf_str(&v), &parts);
        strlist good = STRLIST_INIT;
        for (size_t k = 0; k < parts.n; k++) {
            strbuf_set(&one, parts.v[k]);
            if (result_address(&one))
                strlist_push(&good, strbuf_str(&one));
        }
        strlist_release(&parts);
        if (good.n == 0) { /* an empty or unusable result: keep the address */
            strlist_push(out, w[i].addr);
            i++;
            strlist_release(&good);
            continue;
        }
        if (n - 1 + good.n > (size_t)rc->expansion_limit) {
            st = RW_VIRT_EXPANSION;
            strbuf_set(err, w[i].addr);
            strlist_release(&good);
            break;
        }
        /* Replace w[i] by the results, in order. A result equal to the
         * looked-up address is final (it "maps to itself"). */
        long depth = w[i].depth + 1;
        char *self = w[i].addr;
        if (n - 1 + good.n > cap) {
            cap = n - 1 + good.n + 8;
            w = xreallocarray(w, cap, sizeof(*w));
        }
        memmove(w + i + good.n, w + i + 1, (n - i - 1) * sizeof(*w));
        n = n - 1 + good.n;
        size_t emitted = 0;
        for (size_t k = 0; k < good.n; k++) {
            w[i + k].addr = xstrdup(good.v[k]);
            w[i + k].depth = depth;
        }
        /* Self-references are written out now and dropped from the list. */
        for (size_t k = 0; k < good.n; k++) {
            size_t j = i + k - emitted;
            if (strcasecmp(w[j].addr, self) == 0) {
                strlist_push(out, w[j].addr);
                free(w[j].addr);
                memmove(w + j, w + j + 1, (n - j - 1) * sizeof(*w));
                n--;
                emitted++;
            }
        }
        free(self);
        strlist_release(&good);
    }
    for (size_t i = 0; i < n; i++)
        free(w[i].addr);
    free(w);
    strlist_release(&seen);
    strbuf_release(&v);
    strbuf_release(&one);
    return st;
}

static maps *open_maps(const char *param)
{
    strbuf err = STRBUF_INIT;
    maps *ms = maps_open(param, config_get(param), MAP_SURROGATE, &err);
    if (!ms)
        msg_fatal("%s", strbuf_str(&err));
    strbuf_release(&err);
    return ms;
}

static unsigned classes(const char *param)
{
    unsigned c = 0;
    strbuf bad = STRBUF_INIT;
    if (rewrite_parse_classes(config_get(param), &c, &bad) < 0) {
        const char *o = config_origin(param);
        msg_fatal("%s%sunknown %s value \"%s\"", o ? o : "", o ? ": " : "", param,
                  strbuf_str(&bad));
    }
    strbuf_release(&bad);
    return c;
}

struct rewrite_config *rewrite_config_get(void)
{
    static struct rewrite_config rc;
    static bool loaded;
    if (loaded)
        return &rc;
    loaded = true;
    rc.canonical = open_maps("canonical_maps");
    rc.sender_canonical = open_maps("sender_canonical_maps");
    rc.recipient_canonical = open_maps("recipient_canonical_maps");
    rc.virtual_alias = open_maps("virtual_alias_maps");
    rc.sender_bcc = open_maps("sender_bcc_maps");
    rc.recipient_bcc = open_maps("recipient_bcc_maps");
    rc.canonical_classes = classes("canonical_classes");
    rc.sender_canonical_classes = classes("sender_canonical_classes");
    rc.recipient_canonical_classes = classes("recipient_canonical_classes");
    rc.masq_classes = classes("masquerade_classes");
    const char *e = NULL;
    (void)strlist_split(&rc.masq_domains, config_get("masquerade_domains"), ", \t\r\n", &e);
    const char *mx = config_get("masquerade_exceptions");
    if (mx[strspn(mx, ", \t\r\n")]) {
        strbuf merr = STRBUF_INIT;
        rc.masq_exceptions =
            match_list_compile("masquerade_exceptions", mx, MATCH_LIST_SURROGATE, &merr);
        if (!rc.masq_exceptions)
            msg_fatal("%s", strbuf_str(&merr));
        strbuf_release(&merr);
    }
    long long lim = config_get_int("virtual_alias_expansion_limit");
    rc.expansion_limit = lim > 0 && lim < 1000000 ? (long)lim : 1000;
    lim = config_get_int("virtual_alias_recursion_limit");
    rc.recursion_limit = lim > 0 && lim < 1000 ? (long)lim : 1000;
    const char *ab = config_get("always_bcc");
    rc.always_bcc = ab && ab[0] ? xstrdup(ab) : NULL;
    const char *d = config_get("recipient_delimiter");
    rc.delims = xstrdup(d ? d : "");
    const char *pe = config_get("propagate_unmatched_extensions");
    strlist pw = STRLIST_INIT;
    (void)strlist_split(&pw, pe ? pe : "", ", \t\r\n", &e);
    rc.prop_canonical = strlist_contains_nocase(&pw, "canonical");
    rc.prop_virtual = strlist_contains_nocase(&pw, "virtual");
    strlist_release(&pw);
    rc.myorigin = xstrdup(resolve_myorigin());
    strbuf err = STRBUF_INIT;
    rc.res = resolve_open(&err);
    if (!rc.res)
        msg_fatal("%s", strbuf_str(&err));
    strbuf_release(&err);
    return &rc;
}

void rewrite_config_release(struct rewrite_config *rc)
{
    maps_free(&rc->canonical);
    maps_free(&rc->sender_canonical);
    maps_free(&rc->recipient_canonical);
    maps_free(&rc->virtual_alias);
    maps_free(&rc->sender_bcc);
    maps_free(&rc->recipient_bcc);
    strlist_release(&rc->masq_domains);
    match_list_free(&rc->masq_exceptions);
    free(rc->always_bcc);
    free(rc->delims);
    free(rc->myorigin);
    if (rc->res)
        resolve_free(&rc->res);
    memset(rc, 0, sizeof(*rc));
}

struct header_map_ctx {
    const struct rewrite_config *rc;
    unsigned cls;
};

/* Canonical mapping and masquerading of one header address. */
static int header_map(void *vctx, const char *addr, strbuf *out, strbuf *err)
{
    const struct header_map_ctx *c = vctx;
    strbuf base = STRBUF_INIT;
    strbuf_set(out, addr);
    resolve_canonical(out);
    strbuf_set(&base, strbuf_str(out));
    int r = 0;
    if (rewrite_canonical(c->rc, c->cls, out, err) < 0) {
        r = -1;
    } else {
        rewrite_masquerade(c->rc, c->cls, out);
        /* Only a real mapping changes a header: a bare name stays bare. */
        r = !strbuf_eq(out, strbuf_str(&base));
    }
    strbuf_release(&base);
    return r;
}

int rewrite_header_value(const struct rewrite_config *rc, unsigned cls, const char *value,
                         size_t len, strbuf *out, strbuf *err)
{
    struct header_map_ctx c = {rc, cls};
    return header_addr_rewrite(value, len, header_map, &c, out, err);
}
