/* smtp_tls - the client side of STARTTLS, on the shared lib/global/tls.
 *
 * Security levels as in Postfix: "may" and "encrypt" encrypt without
 * authenticating the server (the verification result is only logged:
 * "Trusted"/"Untrusted"); "verify" and "secure" need a chain to the trust
 * anchors (smtp_tls_CAfile/CApath) and a certificate name matching
 * smtp_tls_verify_cert_match / smtp_tls_secure_cert_match; "fingerprint"
 * needs the certificate's or its public key's digest in
 * smtp_tls_fingerprint_cert_match; "dane" and "dane-only" use the
 * DNSSEC-validated TLSA records smtp_dns.c found (RFC 7672: dane falls
 * back to "may" without them and to "encrypt" when none is usable,
 * dane-only defers). An unverified peer at a level that needs one is a
 * failure of that host: "Server certificate not verified", 4.7.5.
 * smtp_tls_policy_maps sets the level (and match=, ciphers=, protocols=,
 * exclude=, tafile=) per next hop. A trust anchor file (tafile=,
 * smtp_tls_trust_anchor_file) turns verify/secure into DANE-TA matching
 * against its certificates and keys, with the same name checks.
 *
 * Session resumption (smtp_tls_session_cache_database): the sessions live
 * in tlsmgr(8), one request per lookup or update over private/tlsmgr
 * (lib/global/tlsmgr_proto.h). A session is reused only for the same server
 * address and port, SNI name, protocols, ciphers, trust anchors and
 * authentication policy (all in the cache id); DANE and fingerprint
 * connections never resume (OpenSSL does not redo the TLSA match on a
 * resumed session). tlsmgr unreachable (no master.cf entry) costs a full
 * handshake and one warning per process, never a delivery.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdlib.h>
#include <string.h>

#include "attr.h"
#include "mem.h"
#include "msg.h"
#include "smtp.h"
#include "tls_config.h"
#include "tlsmgr_proto.h"

#define TLSMGR_TIMEOUT_MS 2000

tls_ctx *smtp_tls_context(strbuf *reason)
{
    static tls_ctx *ctx;
    if (ctx)
        return ctx;
    strbuf ciphers = STRBUF_INIT;
    const struct tls_grade_lists grades = tls_config_grades();
    if (tls_cipherlist(smtp_cfg.tls_ciphers, &grades, smtp_cfg.tls_exclude_ciphers, &ciphers,
                       reason) < 0) {
        strbuf_release(&ciphers);
        return NULL;
    }
    struct tls_client_settings set = {
        .protocols = smtp_cfg.tls_protocols,
        .cipherlist = ciphers.s,
        .CAfile = smtp_cfg.tls_CAfile,
        .CApath = smtp_cfg.tls_CApath,
        .fingerprint_digest = smtp_cfg.tls_fingerprint_digest,
    };
    ctx = tls_client_ctx_new(&set, reason);
    strbuf_release(&ciphers);
    return ctx;
}

void smtp_tls_describe(const tls_conn *conn, const char *peer, strbuf *out)
{
    strbuf cn = STRBUF_INIT;
    const char *trust = tls_conn_peer_matched(conn)    ? "Verified"
                        : tls_conn_peer_verified(conn) ? "Trusted"
                        : tls_conn_peer_cn(conn, &cn)  ? "Untrusted"
                                                       : "Anonymous";
    strbuf_printf(out, "%s TLS connection established to %s: ", trust, peer);
    tls_conn_describe(conn, false, " ", out);
    strbuf_release(&cn);
}

/* One round trip to tlsmgr; the reply's status, or -1. After one failure
 * (warned) this process stops asking: a tlsmgr that does not answer would
 * otherwise cost every delivery the timeout, twice. */
static int tlsmgr_call(const char *request, const char *id, const void *der, size_t len,
                       attr_list *reply)
{
    static bool broken;
    if (broken)
        return -1;
    attr_list req = ATTR_LIST_INIT;
    strbuf err = STRBUF_INIT;
    attr_add_str(&req, "request", request);
    attr_add_str(&req, "cache_type", smtp_cfg.lmtp ? "lmtp" : "smtp");
    attr_add_str(&req, "cache_id", id);
    if (der)
        attr_add_data(&req, "session", der, len);
    int64_t status = -1;
    int rc = attr_request(".", TLSMGR_SERVICE, TLSMGR_TIMEOUT_MS, &req, &tlsmgr_attr_limits, reply,
                          &err);
    if (rc != ATTR_OK || attr_get_int(reply, "status", &status, &err) < 0) {
        msg_warn("TLS session cache: cannot talk to the tlsmgr service (%s); this process "
                 "reuses no TLS sessions",
                 err.s);
        broken = true;
        status = -1;
    }
    if (der) /* the session's secrets: do not leave them in the heap */
        memset(req.v[req.n - 1].value, 0, len);
    attr_list_release(&req);
    strbuf_release(&err);
    return (int)status;
}

static void save_session(void *arg, const unsigned char *der, size_t len)
{
    attr_list reply = ATTR_LIST_INIT;
    (void)tlsmgr_call("update", arg, der, len, &reply);
    attr_list_release(&reply);
}

tls_conn *smtp_tls_start(tls_ctx *ctx, stream *st, const char *relay,
                         const struct smtp_tls_session *ts, strbuf *reason)
{
    struct tls_client_peer peer = {
        .servername = ts->sni.s ? ts->sni.s : "",
        .protocols = ts->protocols.s,
        .cipherlist = ts->cipherlist.s,
        .names = (const char *const *)ts->names.v,
        .nnames = ts->names.n,
        .tlsa = ts->tlsa,
        .ntlsa = ts->ntlsa,
        .tlsa_base = ts->tlsa_base,
    };
    if (!smtp_cfg.tls_session_cache || ts->ntlsa > 0)
        return tls_client_start_peer(ctx, st, &peer, smtp_cfg.starttls_timeout_ms, reason);
    /* Lives until the next handshake: the server may issue sessions for as
     * long as the connection lasts, and this process has one at a time. */
    static strbuf id;
    strbuf_reset(&id);
    strbuf_printf(&id, "%s&%s&%s&p=%s&c=%s&x=%s&ca=%s&cp=%s&%s", smtp_cfg.lmtp ? "lmtp" : "smtp",
                  relay, peer.servername ? peer.servername : "", ts->protocols.s, ts->cipherlist.s,
                  smtp_cfg.tls_exclude_ciphers, smtp_cfg.tls_CAfile, smtp_cfg.tls_CApath, ts->id.s);
    if (id.len > TLS_SCACHE_MAX_ID)
        return tls_client_start_peer(ctx, st, &peer, smtp_cfg.starttls_timeout_ms, reason);
    attr_list reply = ATTR_LIST_INIT;
    struct tls_client_sessions sessions = {.save = save_session, .arg = id.s};
    const attr *offer = NULL;
    if (tlsmgr_call("lookup", id.s, NULL, 0, &reply) == 0 &&
        (offer = attr_find(&reply, "session")) != NULL) {
        sessions.offer = (const unsigned char *)offer->value;
        sessions.offer_len = offer->value_len;
    }
    peer.sessions = &sessions;
    tls_conn *conn = tls_client_start_peer(ctx, st, &peer, smtp_cfg.starttls_timeout_ms, reason);
    if (offer)
        memset(offer->value, 0, offer->value_len);
    attr_list_release(&reply);
    if (!conn && offer) {
        attr_list ignored = ATTR_LIST_INIT;
        (void)tlsmgr_call("delete", id.s, NULL, 0, &ignored);
        attr_list_release(&ignored);
    }
    return conn;
}

/* ---- levels and policies ------------------------------------------------ */

static const char *const level_names[] = {
    [SMTP_TLS_NONE] = "none",           [SMTP_TLS_MAY] = "may",
    [SMTP_TLS_ENCRYPT] = "encrypt",     [SMTP_TLS_DANE] = "dane",
    [SMTP_TLS_DANE_ONLY] = "dane-only", [SMTP_TLS_FINGERPRINT] = "fingerprint",
    [SMTP_TLS_VERIFY] = "verify",       [SMTP_TLS_SECURE] = "secure",
};

int smtp_tls_level_parse(const char *name, enum smtp_tls_level *out)
{
    for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
        if (strcasecmp(name, level_names[i]) == 0) {
            *out = (enum smtp_tls_level)i;
            return 0;
        }
    }
    return -1;
}

const char *smtp_tls_level_name(enum smtp_tls_level level)
{
    return level_names[level];
}

void smtp_tls_policy_release(struct smtp_tls_policy *p)
{
    strlist_release(&p->match);
    XFREE(p->protocols);
    XFREE(p->ciphers);
    XFREE(p->exclude);
    XFREE(p->tafile);
    p->have_match = false;
}

static bool matchable(enum smtp_tls_level l)
{
    return l == SMTP_TLS_FINGERPRINT || l == SMTP_TLS_VERIFY || l == SMTP_TLS_SECURE;
}

/* Replace a string attribute, refusing a second one (Postfix: "multiple
 * ... attributes"). */
static int set_once(char **slot, const char *name, const char *value, strbuf *err)
{
    if (*slot) {
        strbuf_printf(err, "multiple \"%s\" attributes", name);
        return -1;
    }
    if (*value == 0) {
        strbuf_printf(err, "empty \"%s\" value", name);
        return -1;
    }
    *slot = xstrdup(value);
    return 0;
}

int smtp_tls_policy_parse(const char *value, struct smtp_tls_policy *out, strbuf *err)
{
    memset(out, 0, sizeof(*out));
    strlist words = STRLIST_INIT;
    const char *e = NULL;
    int rc = -1;
    if (strlist_split(&words, value, " \t\r\n,", &e) < 0) {
        strbuf_printf(err, "%s", e);
        goto out;
    }
    if (words.n == 0) {
        strbuf_puts(err, "empty TLS policy");
        goto out;
    }
    if (smtp_tls_level_parse(words.v[0], &out->level) < 0) {
        strbuf_printf(err, "invalid TLS level \"%s\"", words.v[0]);
        goto out;
    }
    for (size_t i = 1; i < words.n; i++) {
        const char *w = words.v[i];
        const char *eq = strchr(w, '=');
        if (!eq || eq == w) {
            strbuf_printf(err, "malformed attribute/value pair \"%s\"", w);
            goto out;
        }
        size_t nl = (size_t)(eq - w);
        const char *v = eq + 1;
        if (nl == 5 && strncasecmp(w, "match", 5) == 0) {
            if (!matchable(out->level)) {
                strbuf_printf(err,
                              "attribute \"match\" is valid only with the fingerprint, "
                              "verify and secure levels, not \"%s\"",
                              words.v[0]);
                goto out;
            }
            /* Fingerprints have ':' inside, so they are split at '|'. */
            const char *seps = out->level == SMTP_TLS_FINGERPRINT ? "|" : ":";
            if (*v == 0 || strlist_split(&out->match, v, seps, &e) < 0) {
                strbuf_printf(err, "bad \"match\" value \"%s\"", v);
                goto out;
            }
            out->have_match = true;
        } else if (nl == 7 && strncasecmp(w, "ciphers", 7) == 0) {
            if (set_once(&out->ciphers, "ciphers", v, err) < 0)
                goto out;
        } else if (nl == 9 && strncasecmp(w, "protocols", 9) == 0) {
            if (set_once(&out->protocols, "protocols", v, err) < 0)
                goto out;
            /* Postfix separates protocols with ':' here (spaces end the
             * attribute); tls_parse_protocols accepts ':'. */
        } else if (nl == 7 && strncasecmp(w, "exclude", 7) == 0) {
            if (set_once(&out->exclude, "exclude", v, err) < 0)
                goto out;
        } else if (nl == 6 && strncasecmp(w, "tafile", 6) == 0) {
            if (out->level != SMTP_TLS_VERIFY && out->level != SMTP_TLS_SECURE) {
                strbuf_printf(err,
                              "attribute \"tafile\" is valid only with the verify and "
                              "secure levels, not \"%s\"",
                              words.v[0]);
                goto out;
            }
            if (set_once(&out->tafile, "tafile", v, err) < 0)
                goto out;
        } else {
            strbuf_printf(err,
                          "unsupported attribute \"%.*s\" (supported: match, ciphers, "
                          "protocols, exclude, tafile)",
                          (int)nl, w);
            goto out;
        }
    }
    rc = 0;
out:
    strlist_release(&words);
    if (rc < 0)
        smtp_tls_policy_release(out);
    return rc;
}

int smtp_tls_policy_lookup(const char *nexthop, struct smtp_tls_policy *out, strbuf *err)
{
    memset(out, 0, sizeof(*out));
    out->level = smtp_cfg.tls_level;
    if (!smtp_cfg.tls_policy)
        return 0;
    /* The next hop as written, then for a domain its parents as ".parent"
     * (nearest first): Postfix's order. */
    strlist keys = STRLIST_INIT;
    strlist_push(&keys, nexthop);
    if (nexthop[0] != '[') {
        strbuf dom = STRBUF_INIT;
        const char *colon = strrchr(nexthop, ':');
        strbuf_append(&dom, nexthop, colon ? (size_t)(colon - nexthop) : strlen(nexthop));
        if (colon && dom.len)
            strlist_push(&keys, dom.s);
        for (const char *d = dom.s ? strchr(dom.s, '.') : NULL; d && d[1]; d = strchr(d + 1, '.'))
            strlist_push(&keys, d);
        strbuf_release(&dom);
    }
    strbuf value = STRBUF_INIT, why = STRBUF_INIT;
    int rc = 0;
    for (size_t i = 0; i < keys.n; i++) {
        enum map_result r = maps_find(smtp_cfg.tls_policy, keys.v[i], 0, &value, &why);
        if (r == MAP_NOTFOUND)
            continue;
        if (r == MAP_TEMPFAIL) {
            strbuf_printf(err, "TLS policy lookup for %s: %s", nexthop, why.s);
            rc = -1;
        } else if (smtp_tls_policy_parse(value.s, out, &why) < 0) {
            strbuf_printf(err, "%stls_policy_maps, next-hop destination \"%s\": %s",
                          smtp_cfg.lmtp ? "lmtp_" : "smtp_", nexthop, why.s);
            rc = -1;
        }
        break;
    }
    strbuf_release(&value);
    strbuf_release(&why);
    strlist_release(&keys);
    return rc;
}

/* ---- one connection's requirements -------------------------------------- */

void smtp_tls_session_release(struct smtp_tls_session *ts)
{
    strlist_release(&ts->names);
    free(ts->tlsa);
    ts->tlsa = NULL;
    ts->ntlsa = 0;
    strbuf_release(&ts->fpt);
    strbuf_release(&ts->sni);
    strbuf_release(&ts->protocols);
    strbuf_release(&ts->cipherlist);
    strbuf_release(&ts->id);
}

/* The next hop's domain for the nexthop/dot-nexthop strategies:
 * "[mx.example]:587" -> "mx.example", "example.com:25" -> "example.com". */
static void nexthop_domain(const char *nexthop, strbuf *out)
{
    if (strncmp(nexthop, "inet:", 5) == 0)
        nexthop += 5;
    if (nexthop[0] == '[') {
        const char *close = strchr(nexthop, ']');
        strbuf_append(out, nexthop + 1,
                      close ? (size_t)(close - nexthop - 1) : strlen(nexthop + 1));
    } else {
        const char *colon = strrchr(nexthop, ':');
        strbuf_append(out, nexthop, colon ? (size_t)(colon - nexthop) : strlen(nexthop));
    }
}

static int hexval(int c)
{
    return isdigit(c) ? c - '0' : isxdigit(c) ? tolower(c) - 'a' + 10 : -1;
}

/* One fingerprint ("AB:CD:..." or "abcd...") into bytes appended to out;
 * -1 unless it is hex of exactly the digest's size. */
static int parse_fingerprint(const char *text, size_t want, strbuf *out)
{
    size_t n = 0;
    for (const char *p = text; *p;) {
        if (*p == ':') {
            p++;
            continue;
        }
        int hi = hexval((unsigned char)p[0]), lo = p[1] ? hexval((unsigned char)p[1]) : -1;
        if (hi < 0 || lo < 0)
            return -1;
        strbuf_putc(out, (char)(hi << 4 | lo));
        n++;
        p += 2;
    }
    return n == want ? 0 : -1;
}

/* A trust anchor file (Postfix's smtp_tls_trust_anchor_file, tafile=):
 * PEM certificates become DANE-TA(2) full-certificate records, PEM public
 * keys DANE-TA(2) SPKI records, so the chain must lead to one of them (and
 * the names still be matched); the CAfile/CApath anchors are not used.
 * The DER is kept in ts->fpt. -1 with a warning for a file that cannot be
 * read or holds anything else. */
static int load_trust_anchors(struct smtp_tls_session *ts, const char *path, const char *nexthop)
{
    BIO *bio = BIO_new_file(path, "r");
    if (!bio) {
        msg_warn("%s: cannot open trust anchor file %s", nexthop, path);
        ERR_clear_error();
        return -1;
    }
    struct {
        unsigned char selector;
        size_t off, len;
    } found[64];
    size_t n = 0;
    int rc = 0;
    for (;;) {
        char *name = NULL, *header = NULL;
        unsigned char *data = NULL;
        long len = 0;
        if (!PEM_read_bio(bio, &name, &header, &data, &len)) {
            ERR_clear_error(); /* the end of the file */
            break;
        }
        int sel = strcmp(name, "CERTIFICATE") == 0 ? 0 : strcmp(name, "PUBLIC KEY") == 0 ? 1 : -1;
        if (sel < 0 || len <= 0 || n == sizeof(found) / sizeof(found[0])) {
            msg_warn("%s: trust anchor file %s: %s", nexthop, path,
                     sel < 0 ? "unexpected PEM type (use CERTIFICATE or PUBLIC KEY)"
                             : "too many trust anchors");
            rc = -1;
        } else {
            found[n].selector = (unsigned char)sel;
            found[n].off = ts->fpt.len;
            found[n].len = (size_t)len;
            strbuf_append(&ts->fpt, (const char *)data, (size_t)len);
            n++;
        }
        OPENSSL_free(name);
        OPENSSL_free(header);
        OPENSSL_free(data);
        if (rc < 0)
            break;
    }
    BIO_free(bio);
    if (rc == 0 && n == 0) {
        msg_warn("%s: trust anchor file %s holds no certificates or public keys", nexthop, path);
        rc = -1;
    }
    if (rc < 0)
        return -1;
    ts->tlsa = xcalloc(n, sizeof(*ts->tlsa));
    for (size_t i = 0; i < n; i++)
        ts->tlsa[ts->ntlsa++] = (struct tls_tlsa){
            .usage = 2,
            .selector = found[i].selector,
            .mtype = 0,
            .data = (const unsigned char *)ts->fpt.s + found[i].off,
            .len = found[i].len,
        };
    strbuf_printf(&ts->id, "&ta=%s", path);
    return 0;
}

int smtp_tls_session_init(struct smtp_tls_session *ts, const struct smtp_tls_policy *pol,
                          const char *nexthop, const struct smtp_target *t, strbuf *reason,
                          const char **dsn)
{
    memset(ts, 0, sizeof(*ts));
    enum smtp_tls_level lv = pol->level;
    *dsn = "4.7.5";
    if (lv == SMTP_TLS_DANE || lv == SMTP_TLS_DANE_ONLY) {
        const bool only = lv == SMTP_TLS_DANE_ONLY;
        const char *why = NULL;
        switch (t->dane) {
        case SMTP_DANE_USABLE:
            break;
        case SMTP_DANE_ERROR:
            strbuf_printf(reason, "TLSA lookup error for %s:%u", t->host, t->port);
            return -1;
        case SMTP_DANE_UNUSABLE:
            why = "TLSA records unusable";
            break;
        case SMTP_DANE_NOTFOUND:
            why = "no TLSA records found";
            break;
        default:
            why = smtp_cfg.dnssec ? "non DNSSEC destination"
                                  : "dane configured with dnssec lookups disabled";
        }
        if (why && only) {
            strbuf_printf(reason, "%s: %s", t->host, why);
            return -1;
        }
        /* RFC 7672 2.2: unusable records still mean the server meant to
         * offer TLS: encrypt; none at all: opportunistic. */
        lv = t->dane == SMTP_DANE_USABLE     ? SMTP_TLS_DANE
             : t->dane == SMTP_DANE_UNUSABLE ? SMTP_TLS_ENCRYPT
                                             : SMTP_TLS_MAY;
    }
    ts->level = lv;
    ts->mandatory = lv >= SMTP_TLS_ENCRYPT;
    ts->must_match = lv >= SMTP_TLS_DANE;
    /* Protocols and ciphers: the mandatory ones for mandatory TLS. */
    strbuf_set(&ts->protocols, pol->protocols  ? pol->protocols
                               : ts->mandatory ? smtp_cfg.tls_mandatory_protocols
                                               : smtp_cfg.tls_protocols);
    const char *grade = pol->ciphers    ? pol->ciphers
                        : ts->mandatory ? smtp_cfg.tls_mandatory_ciphers
                                        : smtp_cfg.tls_ciphers;
    strbuf exclude = STRBUF_INIT;
    strbuf_printf(&exclude, "%s %s %s", smtp_cfg.tls_exclude_ciphers,
                  ts->mandatory ? smtp_cfg.tls_mandatory_exclude_ciphers : "",
                  pol->exclude ? pol->exclude : "");
    const struct tls_grade_lists grades = tls_config_grades();
    int rc = tls_cipherlist(grade, &grades, exclude.s, &ts->cipherlist, reason);
    strbuf_release(&exclude);
    if (rc < 0) {
        msg_warn("%s: %s", nexthop, reason->s);
        strbuf_set(reason, "client TLS configuration problem");
        return -1;
    }
    strbuf_printf(&ts->id, "l=%s", smtp_tls_level_name(lv));

    if (lv == SMTP_TLS_VERIFY || lv == SMTP_TLS_SECURE) {
        strlist m = STRLIST_INIT;
        if (pol->have_match)
            for (size_t i = 0; i < pol->match.n; i++)
                strlist_push(&m, pol->match.v[i]);
        else
            strlist_split(
                &m, lv == SMTP_TLS_VERIFY ? smtp_cfg.tls_verify_match : smtp_cfg.tls_secure_match,
                " \t\r\n,:", NULL);
        strbuf dom = STRBUF_INIT;
        nexthop_domain(nexthop, &dom);
        for (size_t i = 0; i < m.n; i++) {
            const char *name = m.v[i];
            strbuf n = STRBUF_INIT;
            if (strcasecmp(name, "hostname") == 0)
                strbuf_set(&n, t->host);
            else if (strcasecmp(name, "nexthop") == 0)
                strbuf_set(&n, dom.s ? dom.s : "");
            else if (strcasecmp(name, "dot-nexthop") == 0)
                strbuf_printf(&n, ".%s", dom.s ? dom.s : "");
            else
                strbuf_set(&n, name);
            if (n.len && !strlist_contains_nocase(&ts->names, n.s)) {
                strlist_push(&ts->names, n.s);
                strbuf_printf(&ts->id, "&n=%s", n.s);
            }
            strbuf_release(&n);
        }
        strbuf_release(&dom);
        strlist_release(&m);
        if (ts->names.n == 0) {
            msg_warn("%s: no certificate match names for the %s level", nexthop,
                     smtp_tls_level_name(lv));
            strbuf_set(reason, "client TLS configuration problem");
            return -1;
        }
        const char *ta = pol->tafile ? pol->tafile : smtp_cfg.tls_trust_anchor_file;
        if (ta && *ta && load_trust_anchors(ts, ta, nexthop) < 0) {
            strbuf_set(reason, "client TLS configuration problem");
            return -1;
        }
    } else if (lv == SMTP_TLS_FINGERPRINT) {
        strlist m = STRLIST_INIT;
        if (pol->have_match)
            for (size_t i = 0; i < pol->match.n; i++)
                strlist_push(&m, pol->match.v[i]);
        else
            strlist_split(&m, smtp_cfg.tls_fingerprint_match, " \t\r\n,|", NULL);
        const char *dname =
            *smtp_cfg.tls_fingerprint_digest ? smtp_cfg.tls_fingerprint_digest : "sha256";
        const EVP_MD *md = EVP_get_digestbyname(dname);
        size_t want = md ? (size_t)EVP_MD_get_size(md) : 0;
        size_t off = 0;
        rc = 0;
        for (size_t i = 0; i < m.n && rc == 0; i++)
            if (want == 0 || parse_fingerprint(m.v[i], want, &ts->fpt) < 0) {
                msg_warn("%s: malformed %s fingerprint \"%s\"", nexthop, dname, m.v[i]);
                rc = -1;
            }
        size_t nf = rc == 0 ? m.n : 0;
        strlist_release(&m);
        if (rc < 0 || nf == 0) {
            if (nf == 0 && rc == 0)
                msg_warn("%s: no fingerprints for the fingerprint level", nexthop);
            strbuf_set(reason, "client TLS configuration problem");
            return -1;
        }
        tls_ctx *ctx = smtp_tls_context(reason);
        if (!ctx) {
            msg_warn("%s: %s", nexthop, reason->s);
            strbuf_set(reason, "client TLS configuration problem");
            return -1;
        }
        /* Each fingerprint matches the certificate (selector 0) or its
         * public key (selector 1), as DANE-EE records. */
        ts->tlsa = xcalloc(2 * nf, sizeof(*ts->tlsa));
        for (size_t i = 0; i < nf; i++, off += want) {
            for (unsigned char sel = 0; sel < 2; sel++) {
                ts->tlsa[ts->ntlsa++] = (struct tls_tlsa){
                    .usage = 3,
                    .selector = sel,
                    .mtype = tls_fingerprint_mtype(ctx),
                    .data = (const unsigned char *)ts->fpt.s + off,
                    .len = want,
                };
            }
            strbuf_printf(&ts->id, "&f=%zu", i);
        }
    } else if (lv == SMTP_TLS_DANE) {
        ts->tlsa = xcalloc(t->ntlsa, sizeof(*ts->tlsa));
        for (size_t i = 0; i < t->ntlsa; i++)
            ts->tlsa[ts->ntlsa++] = (struct tls_tlsa){
                .usage = t->tlsa[i].usage,
                .selector = t->tlsa[i].selector,
                .mtype = t->tlsa[i].mtype,
                .data = t->tlsa[i].data,
                .len = t->tlsa[i].len,
            };
        ts->tlsa_base = t->host;
    }
    /* SNI: smtp_tls_servername ("hostname": the server's name, "nexthop":
     * the next-hop domain, else literal); with DANE always the TLSA base
     * domain (RFC 7672 8.1, as Postfix does). */
    const char *sn = smtp_cfg.tls_servername ? smtp_cfg.tls_servername : "";
    if (lv == SMTP_TLS_DANE)
        strbuf_set(&ts->sni, t->host);
    else if (strcasecmp(sn, "hostname") == 0)
        strbuf_set(&ts->sni, t->host);
    else if (strcasecmp(sn, "nexthop") == 0)
        nexthop_domain(nexthop, &ts->sni);
    else
        strbuf_set(&ts->sni, sn);
    unsigned char ip[16]; /* RFC 6066 3: no address literals in SNI */
    if (ts->sni.len &&
        (inet_pton(AF_INET, ts->sni.s, ip) == 1 || inet_pton(AF_INET6, ts->sni.s, ip) == 1))
        strbuf_reset(&ts->sni);
    return 0;
}
