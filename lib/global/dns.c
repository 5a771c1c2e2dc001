/* dns - resolver queries and a bounds-checked reply parser; see dns.h. */
#include "dns.h"

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netinet/in.h>
#include <resolv.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mem.h"

#define DNS_HDR 12
#define DNS_NAME_MAX 255
#define DNS_ANSWER_MAX 65536

static unsigned get16(const unsigned char *p)
{
    return (unsigned)p[0] << 8 | p[1];
}

/* Expand the name at off into out (text, at most DNS_NAME_MAX octets).
 * *next gets the offset after the name as written at off. 0 ok, -1 bad
 * (truncated, forward/looping pointer, too long), 1 name unusable (a byte
 * a host name text cannot carry) but well-formed so parsing may go on. */
static int get_name(const unsigned char *buf, size_t len, size_t off, char *out, size_t *next)
{
    size_t o = off, outlen = 0;
    int jumps = 0, bad = 0;
    bool jumped = false;
    for (;;) {
        if (o >= len)
            return -1;
        unsigned c = buf[o];
        if ((c & 0xc0) == 0xc0) {
            if (o + 1 >= len)
                return -1;
            size_t target = (size_t)(c & 0x3f) << 8 | buf[o + 1];
            if (!jumped)
                *next = o + 2;
            /* Backwards only: with the jump limit this ends every loop. */
            if (target >= o || ++jumps > DNS_MAX_JUMPS)
                return -1;
            jumped = true;
            o = target;
            continue;
        }
        if (c & 0xc0)
            return -1; /* 0x40/0x80: extended label types, not in use */
        if (c == 0) {
            if (!jumped)
                *next = o + 1;
            break;
        }
        if (o + 1 + c > len)
            return -1;
        if (outlen + c + (outlen ? 1 : 0) > DNS_NAME_MAX)
            return -1;
        if (outlen)
            out[outlen++] = '.';
        for (unsigned i = 0; i < c; i++) {
            unsigned char ch = buf[o + 1 + i];
            if (ch <= 0x20 || ch >= 0x7f || ch == '.')
                bad = 1;
            out[outlen++] = (char)ch;
        }
        o += 1 + c;
    }
    out[outlen] = 0;
    return bad;
}

static struct dns_rr *add_rr(struct dns_reply *out, unsigned type, unsigned pref, char *data)
{
    out->v = xreallocarray(out->v, out->n + 1, sizeof(*out->v));
    out->v[out->n] = (struct dns_rr){.type = type, .pref = pref, .data = data};
    return &out->v[out->n++];
}

static void set_why(strbuf *why, const char *s)
{
    if (why)
        strbuf_set(why, s);
}

int dns_parse_reply(const unsigned char *buf, size_t len, unsigned qtype, struct dns_reply *out,
                    strbuf *why)
{
    out->v = NULL;
    out->n = 0;
    out->authentic = false;
    if (len < DNS_HDR) {
        set_why(why, "malformed DNS reply (short header)");
        return DNS_RETRY;
    }
    unsigned flags = get16(buf + 2);
    unsigned rcode = flags & 0x0f;
    unsigned qd = get16(buf + 4), an = get16(buf + 6);
    if (!(flags & 0x8000)) {
        set_why(why, "malformed DNS reply (not a response)");
        return DNS_RETRY;
    }
    out->authentic = (flags & 0x0020) != 0;
    if (rcode == 3)
        return DNS_NOTFOUND;
    if (rcode != 0) {
        char t[64];
        snprintf(t, sizeof(t), "DNS server failure (rcode %u)", rcode);
        set_why(why, t);
        return DNS_RETRY;
    }
    size_t o = DNS_HDR;
    char name[DNS_NAME_MAX + 1];
    for (unsigned i = 0; i < qd; i++) {
        size_t next = 0;
        if (get_name(buf, len, o, name, &next) < 0 || next + 4 > len)
            goto bad;
        o = next + 4;
    }
    for (unsigned i = 0; i < an; i++) {
        size_t next = 0;
        if (get_name(buf, len, o, name, &next) < 0 || next + 10 > len)
            goto bad;
        unsigned type = get16(buf + next), rdlen = get16(buf + next + 8);
        size_t rd = next + 10;
        if (rd + rdlen > len)
            goto bad;
        o = rd + rdlen;
        if (type != qtype || get16(buf + next + 2) != 1 /* IN */)
            continue;
        char text[DNS_NAME_MAX + 1];
        switch (type) {
        case DNS_T_A:
        case DNS_T_AAAA: {
            int af = type == DNS_T_A ? AF_INET : AF_INET6;
            if (rdlen != (type == DNS_T_A ? 4u : 16u))
                continue;
            char a[INET6_ADDRSTRLEN];
            if (inet_ntop(af, buf + rd, a, sizeof(a)))
                add_rr(out, type, 0, xstrdup(a));
            break;
        }
        case DNS_T_NS:
        case DNS_T_PTR:
        case DNS_T_MX: {
            size_t at = rd, n2 = 0;
            unsigned pref = 0;
            if (type == DNS_T_MX) {
                if (rdlen < 3)
                    continue;
                pref = get16(buf + rd);
                at += 2;
            }
            /* The name must lie inside the record's own data. */
            int r = get_name(buf, rd + rdlen, at, text, &n2);
            if (r < 0)
                goto bad;
            if (r == 0)
                add_rr(out, type, pref, xstrdup(text));
            break;
        }
        case DNS_T_TXT: {
            strbuf t = STRBUF_INIT;
            size_t p = rd, end = rd + rdlen;
            while (p < end) {
                unsigned sl = buf[p++];
                if (p + sl > end) {
                    strbuf_release(&t);
                    goto bad;
                }
                for (unsigned k = 0; k < sl; k++) {
                    unsigned char ch = buf[p + k];
                    strbuf_putc(&t, ch < 0x20 || ch >= 0x7f ? '?' : (char)ch);
                }
                p += sl;
            }
            add_rr(out, type, 0, t.s ? strbuf_detach(&t) : xstrdup(""));
            break;
        }
        case DNS_T_TLSA: {
            /* usage, selector, matching type, then the data: kept as
             * bytes; dns_tlsa_check() judges them. Oversized data is
             * dropped here so nobody allocates for it. */
            if (rdlen < 3 || rdlen - 3 > DNS_TLSA_DATA_MAX)
                continue;
            size_t dl = rdlen - 3u;
            char *d = xmalloc(dl + 1);
            memcpy(d, buf + rd + 3, dl);
            d[dl] = 0;
            struct dns_rr *t = add_rr(out, type, 0, d);
            t->data_len = dl;
            t->usage = buf[rd];
            t->selector = buf[rd + 1];
            t->mtype = buf[rd + 2];
            break;
        }
        default:
            break;
        }
    }
    return out->n ? DNS_OK : DNS_NODATA;
bad:
    dns_reply_free(out);
    set_why(why, "malformed DNS reply");
    return DNS_RETRY;
}

/* One resolver state per process, set up on first use (the daemons are
 * single-threaded). */
static struct __res_state resolver;
static bool res_ready;

static int lookup(const char *name, unsigned qtype, bool dnssec, struct dns_reply *out, strbuf *why)
{
    out->v = NULL;
    out->n = 0;
    out->authentic = false;
    if (!res_ready) {
        if (res_ninit(&resolver) != 0) {
            set_why(why, "cannot initialize the DNS resolver");
            return DNS_RETRY;
        }
        res_ready = true;
    }
    /* DO (EDNS0) asks for the DNSSEC records, AD asks a validating
     * resolver to say whether it validated (RFC 6840 5.7); glibc clears
     * the AD bit of answers unless RES_TRUSTAD, so it is set only here. */
    unsigned long saved = resolver.options;
    if (dnssec) {
        resolver.options |= RES_USE_EDNS0 | RES_USE_DNSSEC;
#ifdef RES_TRUSTAD
        resolver.options |= RES_TRUSTAD;
#endif
    }
    unsigned char query[NS_PACKETSZ + 64];
    int qlen = res_nmkquery(&resolver, ns_o_query, name, ns_c_in, (int)qtype, NULL, 0, NULL, query,
                            sizeof(query));
    if (qlen < 0) {
        resolver.options = saved;
        set_why(why, "malformed DNS name");
        return DNS_NOTFOUND; /* a name DNS cannot carry does not exist */
    }
    if (dnssec && qlen >= DNS_HDR)
        query[3] |= 0x20; /* AD */
    unsigned char *answer = xmalloc(DNS_ANSWER_MAX);
    int alen = res_nsend(&resolver, query, qlen, answer, DNS_ANSWER_MAX);
    resolver.options = saved;
    int ret;
    if (alen < 0) {
        set_why(why, "DNS lookup timed out");
        ret = DNS_RETRY;
    } else {
        ret = dns_parse_reply(answer, alen > DNS_ANSWER_MAX ? DNS_ANSWER_MAX : (size_t)alen, qtype,
                              out, why);
    }
    free(answer);
    return ret;
}

int dns_lookup(const char *name, unsigned qtype, struct dns_reply *out, strbuf *why)
{
    return lookup(name, qtype, false, out, why);
}

int dns_lookup_dnssec(const char *name, unsigned qtype, struct dns_reply *out, strbuf *why)
{
    return lookup(name, qtype, true, out, why);
}

bool dns_tlsa_check(const struct dns_rr *rr, strbuf *why)
{
    const char *bad = NULL;
    if (rr->type != DNS_T_TLSA)
        bad = "not a TLSA record";
    else if (rr->usage == 0 || rr->usage == 1)
        bad = "PKIX usages are not used for SMTP";
    else if (rr->usage > 3)
        bad = "unknown certificate usage";
    else if (rr->selector > 1)
        bad = "unknown selector";
    else if (rr->mtype > 2)
        bad = "unknown matching type";
    else if (rr->mtype == 0 && rr->data_len == 0)
        bad = "empty association data";
    else if (rr->mtype == 1 && rr->data_len != 32)
        bad = "SHA2-256 data is not 32 bytes";
    else if (rr->mtype == 2 && rr->data_len != 64)
        bad = "SHA2-512 data is not 64 bytes";
    if (bad && why) {
        strbuf_reset(why);
        strbuf_printf(why, "TLSA %u %u %u: %s", rr->usage, rr->selector, rr->mtype, bad);
    }
    return bad == NULL;
}

int dns_reverse_name(const char *addr, const char *suffix_v4, const char *suffix_v6, strbuf *out)
{
    unsigned char b[16];
    strbuf_reset(out);
    if (inet_pton(AF_INET, addr, b) == 1) {
        strbuf_printf(out, "%u.%u.%u.%u%s", b[3], b[2], b[1], b[0], suffix_v4);
        return 0;
    }
    const char *a6 = addr;
    if (strncasecmp(a6, "ipv6:", 5) == 0)
        a6 += 5;
    if (inet_pton(AF_INET6, a6, b) == 1) {
        static const char hex[] = "0123456789abcdef";
        for (int i = 15; i >= 0; i--)
            strbuf_printf(out, "%c.%c.", hex[b[i] & 15], hex[b[i] >> 4]);
        strbuf_truncate(out, out->len - 1);
        strbuf_puts(out, suffix_v6);
        return 0;
    }
    return -1;
}

const char *dns_type_name(unsigned type)
{
    switch (type) {
    case DNS_T_A:
        return "A";
    case DNS_T_NS:
        return "NS";
    case DNS_T_PTR:
        return "PTR";
    case DNS_T_MX:
        return "MX";
    case DNS_T_TXT:
        return "TXT";
    case DNS_T_AAAA:
        return "AAAA";
    case DNS_T_TLSA:
        return "TLSA";
    default:
        return "?";
    }
}

void dns_reply_free(struct dns_reply *r)
{
    for (size_t i = 0; i < r->n; i++)
        free(r->v[i].data);
    free(r->v);
    r->v = NULL;
    r->n = 0;
}
