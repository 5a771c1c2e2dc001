/* smtpd_tls - STARTTLS, wrapper mode (smtps, port 465), TLS policy.
 *
 * smtpd_tls_security_level: none, may (offer STARTTLS), encrypt (offer it
 * and refuse mail until it was used: "530 5.7.0 Must issue a STARTTLS
 * command first"). Empty means the legacy smtpd_use_tls/smtpd_enforce_tls.
 * "may" uses smtpd_tls_protocols and smtpd_tls_ciphers, "encrypt" (and
 * wrapper mode) the mandatory_ variants, as Postfix does. Cipher grades map
 * to the tls_<grade>_cipherlist parameters minus smtpd_tls_exclude_ciphers
 * (and smtpd_tls_mandatory_exclude_ciphers); they restrict TLS <= 1.2 only,
 * TLS 1.3 suites are OpenSSL's defaults (all strong).
 *
 * A missing or unreadable certificate does not stop smtpd: a warning is
 * logged at start, STARTTLS is not offered and gets "454 4.7.0 TLS not
 * available due to local problem" (Postfix's behaviour); with level encrypt
 * or wrapper mode no mail can then arrive on that service.
 *
 * Session resumption: session tickets with keys shared by every smtpd of
 * the instance through $data_directory/smtpd_tls_ticket_keys (renewed when
 * older than smtpd_tls_session_cache_timeout). smtpd_tls_session_cache_
 * database is not used (no tlsmgr).
 *
 * STARTTLS (RFC 3207, CVE-2011-0411): the plaintext pipelined behind the
 * command is thrown away before the handshake, and afterwards the session
 * starts over (HELO/EHLO again, no SASL, no transaction).
 */
#include <string.h>
#include <strings.h>

#include "config.h"
#include "msg.h"
#include "smtpd.h"
#include "tls_config.h"

void smtpd_tls_pre_init(void)
{
    struct smtpd_params *p = &smtpd_params;
    const char *level = config_get("smtpd_tls_security_level");
    if (!*level)
        level = config_get_bool("smtpd_enforce_tls") ? "encrypt"
                : config_get_bool("smtpd_use_tls")   ? "may"
                                                     : "none";
    if (strcasecmp(level, "none") == 0)
        p->tls_level = TLS_LEVEL_NONE;
    else if (strcasecmp(level, "may") == 0)
        p->tls_level = TLS_LEVEL_MAY;
    else if (strcasecmp(level, "encrypt") == 0)
        p->tls_level = TLS_LEVEL_ENCRYPT;
    else
        msg_fatal("smtpd_tls_security_level = %s: use none, may or encrypt", level);
    p->tls_wrapper = config_get_bool("smtpd_tls_wrappermode");
    p->tls_auth_only = config_get_bool("smtpd_tls_auth_only");
    p->tls_loglevel = (int)config_get_int("smtpd_tls_loglevel");
    p->tls_received_header = config_get_bool("smtpd_tls_received_header");
    long long t = config_get_time("smtpd_starttls_timeout");
    p->starttls_timeout_ms = t > 0 && t < 86400 ? (int)t * 1000 : 300000;
    if (config_get_bool("smtpd_tls_req_ccert") || config_get_bool("smtpd_tls_ask_ccert"))
        msg_fatal("smtpd_tls_ask_ccert/smtpd_tls_req_ccert: client certificates are not "
                  "supported");
    if (p->tls_level == TLS_LEVEL_NONE && !p->tls_wrapper)
        return;

    /* Mandatory settings where TLS is not optional. */
    bool mandatory = p->tls_wrapper || p->tls_level == TLS_LEVEL_ENCRYPT;
    strbuf err = STRBUF_INIT, ciphers = STRBUF_INIT, tickets = STRBUF_INIT;
    const struct tls_grade_lists grades = tls_config_grades();
    if (tls_cipherlist(config_get(mandatory ? "smtpd_tls_mandatory_ciphers" : "smtpd_tls_ciphers"),
                       &grades,
                       config_get(mandatory ? "smtpd_tls_mandatory_exclude_ciphers"
                                            : "smtpd_tls_exclude_ciphers"),
                       &ciphers, &err) < 0)
        msg_fatal("%s", strbuf_str(&err));
    if (mandatory && *config_get("smtpd_tls_exclude_ciphers"))
        strbuf_printf(&ciphers, ":!%s", config_get("smtpd_tls_exclude_ciphers"));
    long long cache_timeout = config_get_time("smtpd_tls_session_cache_timeout");
    if (cache_timeout <= 0 || cache_timeout > 8640000)
        cache_timeout = 3600;
    const char *data_dir = config_get("data_directory");
    if (*data_dir) {
        strbuf_printf(&tickets, "%s/smtpd_tls_ticket_keys", data_dir);
        if (tls_ticket_key_refresh(strbuf_str(&tickets), (long)cache_timeout, &err) < 0) {
            msg_warn("TLS session tickets are per process: %s", strbuf_str(&err));
            strbuf_reset(&tickets);
            strbuf_reset(&err);
        }
    }
    int minv, maxv;
    const char *protos =
        config_get(mandatory ? "smtpd_tls_mandatory_protocols" : "smtpd_tls_protocols");
    if (tls_parse_protocols(protos, &minv, &maxv, &err) < 0)
        msg_fatal("%s: %s", mandatory ? "smtpd_tls_mandatory_protocols" : "smtpd_tls_protocols",
                  strbuf_str(&err));
    struct tls_server_settings set = {
        .cert_file = config_get("smtpd_tls_cert_file"),
        .key_file = config_get("smtpd_tls_key_file"),
        .chain_files = config_get("smtpd_tls_chain_files"),
        .protocols = protos,
        .cipherlist = strbuf_str(&ciphers),
        .session_timeout_s = (long)cache_timeout,
        .ticket_key_file = strbuf_str(&tickets),
        .server_preference = config_get_bool("tls_preempt_cipherlist"),
    };
    if (*config_get("smtpd_tls_eccert_file") || *config_get("smtpd_tls_dcert_file"))
        msg_warn("smtpd_tls_eccert_file/smtpd_tls_dcert_file are ignored: list every key and "
                 "chain in smtpd_tls_chain_files");
    p->tls_ctx = tls_server_ctx_new(&set, &err);
    if (!p->tls_ctx)
        msg_warn("TLS library problem: %s; TLS is not available", strbuf_str(&err));
    strbuf_release(&err);
    strbuf_release(&ciphers);
    strbuf_release(&tickets);
}

bool smtpd_tls_offer(const struct smtpd_state *s)
{
    return !s->tls && smtpd_params.tls_ctx && smtpd_params.tls_level >= TLS_LEVEL_MAY;
}

bool smtpd_tls_required(const struct smtpd_state *s)
{
    return !s->tls && smtpd_params.tls_level == TLS_LEVEL_ENCRYPT;
}

static bool handshake(struct smtpd_state *s)
{
    strbuf err = STRBUF_INIT;
    s->tls = tls_server_start(smtpd_params.tls_ctx, s->st, smtpd_params.starttls_timeout_ms, &err);
    if (!s->tls) {
        /* err: "SSL_accept error: <reason>[; openssl error queue]" */
        const char *why = strbuf_str(&err);
        const char *colon = strchr(why, ':');
        msg_info("SSL_accept error from %s: %s", strbuf_str(&s->namaddr), colon ? colon + 2 : why);
        strbuf_release(&err);
        return false;
    }
    strbuf_release(&err);
    if (smtpd_params.tls_loglevel >= 1) {
        strbuf d = STRBUF_INIT;
        tls_conn_describe(s->tls, true, " ", &d);
        msg_info("Anonymous TLS connection established from %s: %s", strbuf_str(&s->namaddr),
                 strbuf_str(&d));
        if (smtpd_params.tls_loglevel >= 2 && tls_conn_reused(s->tls))
            msg_info("%s: Reusing old session", strbuf_str(&s->namaddr));
        strbuf_release(&d);
    }
    return true;
}

void smtpd_starttls(struct smtpd_state *s, const smtp_cmd *cmd)
{
    if (cmd->arg.len) {
        smtpd_reply(s, "501 5.5.4 Syntax: STARTTLS");
        return;
    }
    if (s->tls) {
        smtpd_reply(s, "554 5.5.1 Error: TLS already active");
        return;
    }
    if (smtpd_params.tls_level == TLS_LEVEL_NONE) {
        smtpd_reply(s, "502 5.5.1 Error: command not implemented");
        return;
    }
    if (!smtpd_params.tls_ctx) {
        smtpd_reply(s, "454 4.7.0 TLS not available due to local problem");
        return;
    }
    if (s->have_mail) {
        smtpd_reply(s, "503 5.5.1 Error: MAIL transaction in progress");
        return;
    }
    smtpd_reply(s, "220 2.0.0 Ready to start TLS");
    if (smtpd_flush(s) < 0) {
        s->quit = true;
        return;
    }
    /* CVE-2011-0411: nothing the client sent in plaintext after STARTTLS
     * may be taken as if it had arrived over TLS. */
    size_t dropped = stream_discard_input(s->st);
    if (dropped)
        msg_info("discarding %zu bytes pipelined after STARTTLS from %s", dropped,
                 strbuf_str(&s->namaddr));
    s->cnt_ok[CNT_STARTTLS]++;
    if (!handshake(s)) {
        s->quit = true;
        return;
    }
    /* RFC 3207 4.2: forget everything learned from the client. */
    smtpd_reset(s);
    smtpd_sasl_reset(s);
    strbuf_reset(&s->helo);
    s->extended = false;
    s->protocol = "SMTP";
}

bool smtpd_tls_wrapper_start(struct smtpd_state *s)
{
    if (!smtpd_params.tls_ctx) {
        msg_warn("%s: TLS wrapper mode is enabled, but TLS is not available: hanging up",
                 strbuf_str(&s->namaddr));
        return false;
    }
    return handshake(s);
}

void smtpd_tls_received(struct smtpd_state *s, strbuf *h)
{
    if (!s->tls || !smtpd_params.tls_received_header)
        return;
    strbuf_puts(h, "\t(using ");
    tls_conn_describe(s->tls, true, "\n\t ", h);
    strbuf_puts(h, ")\n\t(No client certificate requested)");
}

void smtpd_tls_close(struct smtpd_state *s)
{
    tls_conn_close(&s->tls, s->st);
}
