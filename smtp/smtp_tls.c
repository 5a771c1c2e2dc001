/* smtp_tls - the client side of STARTTLS, on the shared lib/tls.
 *
 * Levels "may" and "encrypt" both encrypt without authenticating the
 * server, as Postfix does: the verification result is only logged
 * ("Trusted"/"Untrusted"), it decides nothing.
 */
#include "smtp.h"

tls_ctx *smtp_tls_context(strbuf *reason)
{
    static tls_ctx *ctx;
    if (ctx)
        return ctx;
    strbuf ciphers = STRBUF_INIT;
    if (tls_cipherlist(smtp_cfg.tls_ciphers, smtp_cfg.tls_exclude_ciphers, &ciphers, reason) < 0) {
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
