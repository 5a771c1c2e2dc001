/* smtp_tls - the client side of STARTTLS, on the shared lib/global/tls.
 *
 * Levels "may" and "encrypt" both encrypt without authenticating the
 * server, as Postfix does: the verification result is only logged
 * ("Trusted"/"Untrusted"), it decides nothing.
 *
 * Session resumption (smtp_tls_session_cache_database): the sessions live
 * in tlsmgr(8), one request per lookup or update over private/tlsmgr
 * (lib/global/tlsmgr_proto.h). A session is reused only for the same server
 * address and port, SNI name, protocols, ciphers and trust anchors (all in
 * the cache id). tlsmgr unreachable (no master.cf entry) costs a full
 * handshake and one warning per process, never a delivery.
 */
#include <string.h>

#include "attr.h"
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
    };
    ctx = tls_client_ctx_new(&set, reason);
    strbuf_release(&ciphers);
    return ctx;
}

void smtp_tls_describe(const tls_conn *conn, const char *peer, strbuf *out)
{
    strbuf cn = STRBUF_INIT;
    const char *trust = tls_conn_peer_verified(conn)  ? "Trusted"
                        : tls_conn_peer_cn(conn, &cn) ? "Untrusted"
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

tls_conn *smtp_tls_start(tls_ctx *ctx, stream *st, const char *relay, strbuf *reason)
{
    if (!smtp_cfg.tls_session_cache)
        return tls_client_start(ctx, st, smtp_cfg.tls_servername, smtp_cfg.starttls_timeout_ms,
                                reason);
    /* Lives until the next handshake: the server may issue sessions for as
     * long as the connection lasts, and this process has one at a time. */
    static strbuf id;
    strbuf_reset(&id);
    strbuf_printf(&id, "%s&%s&%s&p=%s&c=%s&x=%s&ca=%s&cp=%s", smtp_cfg.lmtp ? "lmtp" : "smtp",
                  relay, smtp_cfg.tls_servername, smtp_cfg.tls_protocols, smtp_cfg.tls_ciphers,
                  smtp_cfg.tls_exclude_ciphers, smtp_cfg.tls_CAfile, smtp_cfg.tls_CApath);
    if (id.len > TLS_SCACHE_MAX_ID)
        return tls_client_start(ctx, st, smtp_cfg.tls_servername, smtp_cfg.starttls_timeout_ms,
                                reason);
    attr_list reply = ATTR_LIST_INIT;
    struct tls_client_sessions sessions = {.save = save_session, .arg = id.s};
    const attr *offer = NULL;
    if (tlsmgr_call("lookup", id.s, NULL, 0, &reply) == 0 &&
        (offer = attr_find(&reply, "session")) != NULL) {
        sessions.offer = (const unsigned char *)offer->value;
        sessions.offer_len = offer->value_len;
    }
    tls_conn *conn = tls_client_start_sessions(ctx, st, smtp_cfg.tls_servername,
                                               smtp_cfg.starttls_timeout_ms, &sessions, reason);
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
