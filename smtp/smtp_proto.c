/* smtp_proto - one SMTP or LMTP session with one server.
 *
 * Outcomes follow Postfix: a reply to a recipient's command decides that
 * recipient (2xx accepted, 4xx deferred, 5xx bounced); trouble with the
 * server as a whole (greeting, EHLO, TLS, lost connection, timeouts, 421)
 * leaves the undecided recipients for the next host (the caller defers them
 * with our reason when no host is left).
 */
#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "address.h"
#include "mem.h"
#include "msg.h"
#include "queue_file.h"
#include "smtp_sasl_client.h"
#include "smtp.h"
#include "smtp_cmd.h"

struct smtp_conn {
    struct smtp_state *s; /* the message being delivered */
    stream *st;
    tls_conn *tls;
    smtp_resp resp;
    strbuf err;
    unsigned features;
    unsigned long long size_limit;
    strbuf auth_mechs; /* AUTH mechanisms offered and passing the filter */
    bool *accepted;    /* per request recipient */
    size_t naccepted;
    /* Reuse (smtp_session's `keep`): */
    bool keep;               /* the caller wants the connection after a clean end */
    bool reusable;           /* the last transaction ended cleanly, nothing pending */
    int uses;                /* transactions so far (conn_use) */
    int64_t since_us;        /* connection set up */
    strbuf relay, host_addr; /* the server, for the next message's log */
};

/* A session-level failure: remember why, for the next host or the defer. */
static int session_fail(struct smtp_conn *ss, const char *dsn, bool permanent, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int session_fail(struct smtp_conn *ss, const char *dsn, bool permanent, const char *fmt, ...)
{
    va_list ap;
    strbuf_reset(&ss->s->last_reason);
    va_start(ap, fmt);
    strbuf_vprintf(&ss->s->last_reason, fmt, ap);
    va_end(ap);
    ss->s->last_dsn = dsn;
    ss->s->last_permanent = permanent;
    return SMTP_SESSION_TRY_NEXT;
}

/* An I/O failure while `doing` something. */
static int io_fail(struct smtp_conn *ss, int result, const char *doing)
{
    const char *peer = ss->s->host_addr.s;
    if (result == STREAM_TIMEOUT)
        return session_fail(ss, "4.4.2", false, "conversation with %s timed out while %s", peer,
                            doing);
    if (result == SMTP_RESP_BAD)
        return session_fail(ss, "4.4.2", false, "%s while %s from %s", ss->err.s, doing, peer);
    return session_fail(ss, "4.4.2", false, "lost connection with %s while %s", peer, doing);
}

static int read_reply(struct smtp_conn *ss, int timeout_ms)
{
    stream_set_timeout(ss->st, timeout_ms);
    strbuf_reset(&ss->err);
    return smtp_resp_read(ss->st, &ss->resp, smtp_cfg.line_limit, &ss->err);
}

static int send_cmd(struct smtp_conn *ss, bool flush, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int send_cmd(struct smtp_conn *ss, bool flush, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = stream_vprintf(ss->st, fmt, ap);
    va_end(ap);
    if (r == 0)
        r = stream_write(ss->st, "\r\n", 2);
    if (r == 0 && flush)
        r = stream_flush(ss->st);
    return r;
}

/* Decide recipient i from a reply to `command`. */
static void rcpt_from_reply(struct smtp_conn *ss, size_t i, const char *command)
{
    int cls = smtp_resp_class(&ss->resp);
    enum deliver_status st = cls == 2   ? DELIVER_SENT
                             : cls == 5 ? DELIVER_BOUNCED
                                        : DELIVER_DEFERRED;
    if (st == DELIVER_SENT)
        smtp_rcpt_done(ss->s, i, st, ss->resp.dsn, "%s", ss->resp.text.s);
    else
        smtp_rcpt_done(ss->s, i, st, ss->resp.dsn, "host %s said: %s (in reply to %s command)",
                       ss->s->host_addr.s, ss->resp.text.s, command);
}

static bool pending(const struct smtp_conn *ss, size_t i)
{
    return ss->s->req->rcpts[i].status == DELIVER_PENDING;
}

static bool is_ascii(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s >= 0x80)
            return false;
    return true;
}

/* The AUTH keyword of the EHLO reply ("AUTH PLAIN LOGIN", or the old
 * "AUTH=PLAIN LOGIN"), through smtp_sasl_mechanism_filter. Warnings as in
 * Postfix, where an unusable list means "no AUTH". */
static void ehlo_auth(struct smtp_conn *ss)
{
    strbuf_reset(&ss->auth_mechs);
    if (!smtp_cfg.sasl.enable)
        return;
    const char *words = NULL;
    for (size_t i = 1; i < ss->resp.lines.n; i++) {
        const char *l = ss->resp.lines.v[i];
        if (strncasecmp(l, "AUTH", 4) != 0 || (l[4] != ' ' && l[4] != '=' && l[4] != 0))
            continue;
        const char *w = l[4] ? l + 5 : l + 4;
        if (words == NULL) {
            words = w;
        } else if (strcasecmp(words, w) != 0) {
            msg_warn("%s offered AUTH option multiple times", ss->s->host_addr.s);
            return;
        }
    }
    if (words == NULL)
        return;
    if (*words == 0) {
        msg_warn("%s offered null AUTH mechanism list", ss->s->host_addr.s);
        return;
    }
    sasl_client_filter(words, &smtp_cfg.sasl.filter, &ss->auth_mechs);
    if (ss->auth_mechs.len == 0)
        msg_warn("%s offered no supported AUTH mechanisms: '%s'", ss->s->host_addr.s, words);
}

/* EHLO (or LHLO), falling back to HELO for SMTP. */
static int hello(struct smtp_conn *ss)
{
    const char *verb = smtp_cfg.lmtp ? "LHLO" : "EHLO";
    int r = send_cmd(ss, true, "%s %s", verb, smtp_cfg.helo_name);
    if (r == 0)
        r = read_reply(ss, smtp_cfg.helo_timeout_ms);
    if (r < 0)
        return io_fail(ss, r, "performing the EHLO handshake");
    if (smtp_resp_class(&ss->resp) == 2) {
        ss->features = smtp_ehlo_features(&ss->resp, &ss->size_limit);
        ehlo_auth(ss);
        return 0;
    }
    if (smtp_cfg.lmtp || ss->resp.code == 421)
        return session_fail(ss, ss->resp.dsn, smtp_resp_class(&ss->resp) == 5,
                            "host %s refused to talk to me: %s", ss->s->host_addr.s,
                            ss->resp.text.s);
    r = send_cmd(ss, true, "HELO %s", smtp_cfg.helo_name);
    if (r == 0)
        r = read_reply(ss, smtp_cfg.helo_timeout_ms);
    if (r < 0)
        return io_fail(ss, r, "performing the HELO handshake");
    if (smtp_resp_class(&ss->resp) != 2)
        return session_fail(ss, ss->resp.dsn, smtp_resp_class(&ss->resp) == 5,
                            "host %s said: %s (in reply to HELO command)", ss->s->host_addr.s,
                            ss->resp.text.s);
    ss->features = 0;
    ss->size_limit = 0;
    strbuf_reset(&ss->auth_mechs);
    return 0;
}

static void quit(struct smtp_conn *ss)
{
    if (send_cmd(ss, true, "QUIT") == 0)
        (void)read_reply(ss, smtp_cfg.quit_timeout_ms);
}

/* SMTP AUTH after the (last) EHLO, when the server offers it and the
 * password table has credentials for it. Failures are session failures:
 * the next host is tried, and a 5xx is deferred, not bounced, unless
 * smtp_sasl_auth_soft_bounce = no (Postfix). Nothing here logs what was
 * sent: the AUTH lines carry the password. */
static int authenticate(struct smtp_conn *ss)
{
    static char dsn[SMTP_RESP_DSN_MAX]; /* outlives the QUIT reply */
    struct smtp_state *s = ss->s;
    if (!smtp_cfg.sasl.enable || ss->auth_mechs.len == 0)
        return 0;
    const char *doing = "performing the EHLO handshake";
    strbuf user = STRBUF_INIT, pass = STRBUF_INIT, err = STRBUF_INIT, out = STRBUF_INIT;
    sasl_client *c = NULL;
    int ret = 0, r;
    enum map_result mr = smtp_sasl_passwd_lookup(s->req->sender, s->target->host, s->target->dest,
                                                 &user, &pass, &err);
    if (mr == MAP_NOTFOUND) {
        strbuf_reset(&ss->auth_mechs); /* no AUTH=<> either */
        goto out;
    }
    if (mr == MAP_TEMPFAIL) {
        msg_warn("%s: %ssasl_password_maps lookup error: %s", s->req->queue_id,
                 smtp_cfg.lmtp ? "lmtp_" : "smtp_", err.s);
        ret = session_fail(ss, "4.3.0", false, "local data error while %s", doing);
        quit(ss);
        goto out;
    }
    unsigned flags = ss->tls == NULL                  ? smtp_cfg.sasl.sec_flags
                     : tls_conn_peer_matched(ss->tls) ? smtp_cfg.sasl.tlsv_flags
                                                      : smtp_cfg.sasl.tls_flags;
    c = sasl_client_new(ss->auth_mechs.s, flags, user.s, pass.s, &err);
    if (c == NULL) {
        ret = session_fail(ss, "4.7.0", false,
                           "SASL authentication failed; cannot authenticate to server %s: %s",
                           s->host_addr.s, err.s);
        quit(ss);
        goto out;
    }
    sasl_client_first(c, &out);
    r = out.len ? send_cmd(ss, true, "AUTH %s %s", sasl_client_mech(c), out.s)
                : send_cmd(ss, true, "AUTH %s", sasl_client_mech(c));
    for (unsigned steps = 0;; steps++) {
        if (r == 0)
            r = read_reply(ss, smtp_cfg.helo_timeout_ms);
        if (r < 0) {
            ret = io_fail(ss, r, doing);
            goto out;
        }
        if (smtp_resp_class(&ss->resp) != 3)
            break;
        if (steps >= 100) {
            ret = session_fail(ss, "4.3.0", false,
                               "SASL authentication failed; authentication protocol loop "
                               "with server %s",
                               s->host_addr.s);
            quit(ss);
            goto out;
        }
        const char *chal = ss->resp.lines.n ? ss->resp.lines.v[0] : "";
        strbuf_reset(&err);
        if (sasl_client_next(c, chal, strlen(chal), &out, &err) < 0) {
            ret = session_fail(ss, "4.7.0", false,
                               "SASL authentication failed; cannot authenticate to server %s: %s",
                               s->host_addr.s, err.s);
            /* RFC 4954: "*" cancels the exchange; the server answers 501. */
            if (send_cmd(ss, true, "*") == 0 && read_reply(ss, smtp_cfg.helo_timeout_ms) == 0)
                quit(ss);
            goto out;
        }
        r = send_cmd(ss, true, "%s", out.s);
    }
    if (smtp_resp_class(&ss->resp) != 2) {
        bool hard = smtp_resp_class(&ss->resp) == 5;
        snprintf(dsn, sizeof(dsn), "%s", ss->resp.dsn);
        if (hard && smtp_cfg.sasl.soft_bounce)
            dsn[0] = '4';
        ret = session_fail(ss, dsn, hard && !smtp_cfg.sasl.soft_bounce,
                           "SASL authentication failed; server %s said: %s", s->host_addr.s,
                           ss->resp.text.s);
        quit(ss);
    }
out:
    sasl_client_free(&c);
    if (pass.s)
        OPENSSL_cleanse(pass.s, pass.len);
    if (out.s)
        OPENSSL_cleanse(out.s, out.len);
    strbuf_release(&user);
    strbuf_release(&pass);
    strbuf_release(&err);
    strbuf_release(&out);
    return ret;
}

static int starttls(struct smtp_conn *ss)
{
    struct smtp_state *s = ss->s;
    const struct smtp_tls_session *ts = s->tls;
    bool required = ts->mandatory;
    if (ts->level == SMTP_TLS_NONE || s->no_tls)
        return 0;
    if (!(ss->features & SMTP_EXT_STARTTLS)) {
        if (required)
            return session_fail(ss, "4.7.4", false,
                                "TLS is required, but was not offered by host %s", s->host_addr.s);
        return 0;
    }
    int r = send_cmd(ss, true, "STARTTLS");
    if (r == 0)
        r = read_reply(ss, smtp_cfg.starttls_timeout_ms);
    if (r < 0)
        return io_fail(ss, r, "sending STARTTLS");
    if (smtp_resp_class(&ss->resp) != 2) {
        if (required)
            return session_fail(ss, "4.7.4", false,
                                "TLS is required, but host %s refused to start TLS: %s",
                                s->host_addr.s, ss->resp.text.s);
        msg_info("%s: host %s refused to start TLS: %s", s->req->queue_id, s->host_addr.s,
                 ss->resp.text.s);
        return 0;
    }
    strbuf reason = STRBUF_INIT;
    tls_ctx *ctx = smtp_tls_context(&reason);
    /* Plaintext a server sent after its STARTTLS reply must never be read
     * as if it came over TLS (CVE-2011-0411, client side). */
    stream_discard_input(ss->st);
    if (ctx)
        ss->tls = smtp_tls_start(ctx, ss->st, s->relay.s, ts, &reason);
    if (ss->tls == NULL) {
        /* No context is the administrator's problem (a CAfile that does not
         * load): a warning, as Postfix's; a failed handshake is the peer's. */
        if (ctx)
            msg_info("%s: %s: %s", s->req->queue_id, s->relay.s, reason.s);
        else
            msg_warn("%s: %s: %s", s->req->queue_id, s->relay.s, reason.s);
        int ret = required ? session_fail(ss, "4.7.5", false, "Cannot start TLS: %s with %s",
                                          reason.s, s->host_addr.s)
                           : SMTP_SESSION_TLS_RETRY;
        if (ret == SMTP_SESSION_TLS_RETRY)
            session_fail(ss, "4.7.5", false, "Cannot start TLS: %s with %s", reason.s,
                         s->host_addr.s);
        strbuf_release(&reason);
        return ret;
    }
    /* Postfix's order: the verification error (only where it decides
     * something), the connection line, then the failure. */
    bool unverified = ts->must_match && !tls_conn_peer_matched(ss->tls);
    strbuf_reset(&reason);
    if (unverified && tls_conn_verify_error(ss->tls, &reason))
        msg_info("server certificate verification failed for %s: %s", s->relay.s, reason.s);
    strbuf_reset(&reason);
    smtp_tls_describe(ss->tls, s->relay.s, &reason);
    msg_info("%s", reason.s);
    strbuf_release(&reason);
    if (unverified) {
        if (send_cmd(ss, true, "QUIT") == 0)
            (void)read_reply(ss, smtp_cfg.quit_timeout_ms);
        return session_fail(ss, "4.7.5", false, "Server certificate not verified");
    }
    /* RFC 3207: forget everything learned before the handshake. */
    return hello(ss);
}

/* ESMTP parameters of MAIL FROM. */
static void mail_params(struct smtp_conn *ss, strbuf *out)
{
    struct smtp_message *m = ss->s->msg;
    struct deliver_request *req = ss->s->req;
    if (ss->features & SMTP_EXT_SIZE)
        strbuf_printf(out, " SIZE=%llu", (unsigned long long)m->content_size);
    if (m->eight_bit && (ss->features & SMTP_EXT_8BITMIME))
        strbuf_puts(out, " BODY=8BITMIME");
    if (m->smtputf8 && (ss->features & SMTP_EXT_SMTPUTF8))
        strbuf_puts(out, " SMTPUTF8");
    /* We authenticate the MTA, not the sender: AUTH=<> only on request. */
    if (smtp_cfg.sasl.enable && smtp_cfg.sasl.dummy_mail_auth && ss->auth_mechs.len > 0)
        strbuf_puts(out, " AUTH=<>");
    if (ss->features & SMTP_EXT_DSN) {
        if (req->ret && *req->ret)
            strbuf_printf(out, " RET=%s", req->ret);
        if (req->envid && *req->envid) {
            strbuf_puts(out, " ENVID=");
            smtp_xtext_encode(out, req->envid, strlen(req->envid));
        }
    }
}

static void rcpt_params(struct smtp_conn *ss, const struct deliver_rcpt *rc, strbuf *out)
{
    if (!(ss->features & SMTP_EXT_DSN))
        return;
    if (rc->notify & QF_NOTIFY_NEVER) {
        strbuf_puts(out, " NOTIFY=NEVER");
    } else if (rc->notify) {
        const char *sep = " NOTIFY=";
        if (rc->notify & QF_NOTIFY_SUCCESS) {
            strbuf_printf(out, "%sSUCCESS", sep);
            sep = ",";
        }
        if (rc->notify & QF_NOTIFY_FAILURE) {
            strbuf_printf(out, "%sFAILURE", sep);
            sep = ",";
        }
        if (rc->notify & QF_NOTIFY_DELAY)
            strbuf_printf(out, "%sDELAY", sep);
    }
    if (rc->orcpt && *rc->orcpt) {
        const char *semi = strchr(rc->orcpt, ';');
        if (semi) {
            strbuf_printf(out, " ORCPT=%.*s;", (int)(semi - rc->orcpt), rc->orcpt);
            smtp_xtext_encode(out, semi + 1, strlen(semi + 1));
        }
    }
}

/* Checks before MAIL FROM that would make any transaction pointless. */
static bool precheck(struct smtp_conn *ss)
{
    struct smtp_state *s = ss->s;
    struct deliver_request *req = s->req;
    if ((ss->features & SMTP_EXT_SIZE) && ss->size_limit > 0 &&
        s->msg->content_size > ss->size_limit) {
        for (size_t i = 0; i < req->nrcpt; i++)
            if (pending(ss, i))
                smtp_rcpt_done(s, i, DELIVER_BOUNCED, "5.3.4",
                               "message size %llu exceeds size limit %llu of server %s",
                               (unsigned long long)s->msg->content_size, ss->size_limit,
                               s->host_addr.s);
        return false;
    }
    if (s->msg->smtputf8 && !(ss->features & SMTP_EXT_SMTPUTF8)) {
        /* Only a UTF-8 envelope really needs it; headers we leave alone. */
        bool needed = !is_ascii(req->sender);
        for (size_t i = 0; i < req->nrcpt; i++)
            if (pending(ss, i) && !is_ascii(req->rcpts[i].address))
                needed = true;
        if (needed) {
            for (size_t i = 0; i < req->nrcpt; i++)
                if (pending(ss, i))
                    smtp_rcpt_done(s, i, DELIVER_BOUNCED, "5.6.7",
                                   "SMTPUTF8 is required, but was not offered by host %s",
                                   s->host_addr.s);
            return false;
        }
    }
    /* A peer without 8BITMIME gets 7-bit MIME (quoted-printable), as
     * Postfix does unless disable_mime_output_conversion = yes. Decided per
     * session: the next host may announce it. */
    s->msg->downgrade =
        s->msg->eight_bit && !(ss->features & SMTP_EXT_8BITMIME) && smtp_cfg.mime_conversion;
    if (s->msg->eight_bit && !(ss->features & SMTP_EXT_8BITMIME) && !smtp_cfg.mime_conversion)
        msg_info("%s: host %s does not announce 8BITMIME; sending 8-bit content unconverted "
                 "(disable_mime_output_conversion = yes)",
                 req->queue_id, s->host_addr.s);
    return true;
}

static int transaction(struct smtp_conn *ss)
{
    struct smtp_state *s = ss->s;
    struct deliver_request *req = s->req;
    bool pipe = (ss->features & SMTP_EXT_PIPELINING) != 0;
    strbuf line = STRBUF_INIT, mapped = STRBUF_INIT;
    int r = 0, ret = SMTP_SESSION_DONE;
    bool mail_ok = true, data_sent = false;
    size_t *sent_rcpts = xcalloc(req->nrcpt ? req->nrcpt : 1, sizeof(size_t));
    size_t nsent = 0;

    /* MAIL FROM */
    strbuf_puts(&line, "MAIL FROM:<");
    smtp_generic_map(req->sender, &mapped);
    addr_externalize(&line, mapped.s ? mapped.s : "", mapped.len);
    strbuf_putc(&line, '>');
    mail_params(ss, &line);
    if ((r = send_cmd(ss, !pipe, "%s", line.s)) < 0)
        goto io_error_mail;
    if (!pipe) {
        if ((r = read_reply(ss, smtp_cfg.mail_timeout_ms)) < 0)
            goto io_error_mail;
        goto mail_reply;
    }
send_rcpts:
    for (size_t i = 0; i < req->nrcpt && mail_ok; i++) {
        if (!pending(ss, i))
            continue;
        strbuf_set(&line, "RCPT TO:<");
        smtp_generic_map(req->rcpts[i].address, &mapped);
        addr_externalize(&line, mapped.s ? mapped.s : "", mapped.len);
        strbuf_putc(&line, '>');
        rcpt_params(ss, &req->rcpts[i], &line);
        if ((r = send_cmd(ss, !pipe, "%s", line.s)) < 0)
            goto io_error_rcpt;
        sent_rcpts[nsent++] = i;
        if (!pipe) {
            if ((r = read_reply(ss, smtp_cfg.rcpt_timeout_ms)) < 0)
                goto io_error_rcpt;
            if (ss->resp.code == 421)
                goto server_gone_rcpt;
            if (smtp_resp_class(&ss->resp) == 2) {
                ss->accepted[i] = true;
                ss->naccepted++;
            } else {
                rcpt_from_reply(ss, i, "RCPT TO");
            }
        }
    }
    if (pipe || (mail_ok && ss->naccepted > 0)) {
        if ((r = send_cmd(ss, true, "DATA")) < 0)
            goto io_error_rcpt;
        data_sent = true;
    }
    if (pipe) {
        if ((r = read_reply(ss, smtp_cfg.mail_timeout_ms)) < 0)
            goto io_error_mail;
    mail_reply:
        if (smtp_resp_class(&ss->resp) != 2) {
            mail_ok = false;
            bool gone = ss->resp.code == 421;
            for (size_t i = 0; i < req->nrcpt; i++)
                if (pending(ss, i) && !gone)
                    rcpt_from_reply(ss, i, "MAIL FROM");
            if (gone) {
                ret = session_fail(ss, ss->resp.dsn, false,
                                   "host %s said: %s (in reply to MAIL FROM command)",
                                   s->host_addr.s, ss->resp.text.s);
                goto out;
            }
        }
        if (!pipe) {
            if (!mail_ok)
                goto quit;
            goto send_rcpts;
        }
        for (size_t k = 0; k < nsent; k++) {
            size_t i = sent_rcpts[k];
            if ((r = read_reply(ss, smtp_cfg.rcpt_timeout_ms)) < 0)
                goto io_error_rcpt;
            if (!mail_ok)
                continue;
            if (ss->resp.code == 421)
                goto server_gone_rcpt;
            if (smtp_resp_class(&ss->resp) == 2) {
                ss->accepted[i] = true;
                ss->naccepted++;
            } else {
                rcpt_from_reply(ss, i, "RCPT TO");
            }
        }
    }
    if (!data_sent)
        goto quit;
    if ((r = read_reply(ss, smtp_cfg.data_init_timeout_ms)) < 0)
        return io_fail(ss, r, "sending DATA command");
    if (!mail_ok || ss->naccepted == 0) {
        /* A server that says 354 with nobody to deliver to gets an empty
         * message it must refuse; then we leave. */
        if (ss->resp.code == 354 && send_cmd(ss, true, ".") == 0)
            (void)read_reply(ss, smtp_cfg.data_done_timeout_ms);
        goto quit;
    }
    if (ss->resp.code != 354) {
        for (size_t i = 0; i < req->nrcpt; i++)
            if (ss->accepted[i] && pending(ss, i))
                rcpt_from_reply(ss, i, "DATA");
        goto quit;
    }
    stream_set_timeout(ss->st, smtp_cfg.data_xfer_timeout_ms);
    strbuf_reset(&ss->err);
    r = smtp_content_send(ss->st, s->msg, &ss->err);
    if (r == SMTP_CONTENT_FILE_ERROR) {
        msg_warn("%s: error reading queue file: %s", req->queue_id, ss->err.s);
        for (size_t i = 0; i < req->nrcpt; i++)
            if (pending(ss, i))
                smtp_rcpt_done(s, i, DELIVER_DEFERRED, "4.3.0", "error reading queue file: %s",
                               ss->err.s);
        ret = SMTP_SESSION_DONE; /* the connection is mid-DATA: just drop it */
        goto out;
    }
    if (r < 0) {
        ret = io_fail(ss, r, "sending message body");
        goto out;
    }
    /* SMTP: one reply for the message. LMTP: one per accepted recipient. */
    for (size_t i = 0; i < req->nrcpt; i++) {
        if (!ss->accepted[i] || !pending(ss, i))
            continue;
        if ((r = read_reply(ss, smtp_cfg.data_done_timeout_ms)) < 0) {
            ret = io_fail(ss, r, "sending end of data -- message may be sent more than once");
            goto out;
        }
        if (smtp_cfg.lmtp) {
            rcpt_from_reply(ss, i, "end of DATA");
            continue;
        }
        for (size_t j = i; j < req->nrcpt; j++)
            if (ss->accepted[j] && pending(ss, j))
                rcpt_from_reply(ss, j, "end of DATA");
        break;
    }
    /* The server is back where a new MAIL FROM may follow. */
    ss->reusable = true;
quit:
    if (!(ss->keep && ss->reusable) && send_cmd(ss, true, "QUIT") == 0)
        (void)read_reply(ss, smtp_cfg.quit_timeout_ms);
    goto out;

server_gone_rcpt:
    ret = session_fail(ss, ss->resp.dsn, false, "host %s said: %s (in reply to RCPT TO command)",
                       s->host_addr.s, ss->resp.text.s);
    goto out;
io_error_mail:
    ret = io_fail(ss, r, "sending MAIL FROM");
    goto out;
io_error_rcpt:
    ret = io_fail(ss, r, "sending RCPT TO");
out:
    free(sent_rcpts);
    strbuf_release(&line);
    strbuf_release(&mapped);
    return ret;
}

static void conn_free(struct smtp_conn *ss)
{
    if (ss->tls)
        tls_conn_close(&ss->tls, ss->st);
    stream_close(&ss->st);
    smtp_resp_release(&ss->resp);
    strbuf_release(&ss->err);
    strbuf_release(&ss->auth_mechs);
    strbuf_release(&ss->relay);
    strbuf_release(&ss->host_addr);
    free(ss->accepted);
    free(ss);
}

/* After a transaction: hand the connection to the caller when it asked
 * for it and it ended cleanly, else close it (QUIT went already). */
static void keep_or_free(struct smtp_conn *ss, int ret, struct smtp_conn **keep)
{
    if (keep && ret == SMTP_SESSION_DONE && ss->reusable) {
        strbuf_set(&ss->relay, ss->s->relay.s);
        strbuf_set(&ss->host_addr, ss->s->host_addr.s);
        ss->s = NULL;
        *keep = ss;
        return;
    }
    conn_free(ss);
}

/* MAIL FROM to the end for s's message on an established connection. */
static int deliver_on(struct smtp_conn *ss)
{
    ss->uses++;
    ss->s->conn_use = ss->uses;
    if (!precheck(ss)) {
        /* Every recipient decided without a command: the server waits for
         * MAIL FROM as before. */
        ss->reusable = true;
        if (!ss->keep && send_cmd(ss, true, "QUIT") == 0)
            (void)read_reply(ss, smtp_cfg.quit_timeout_ms);
        return SMTP_SESSION_DONE;
    }
    return transaction(ss);
}

int smtp_session(struct smtp_state *s, int fd, struct smtp_conn **keep)
{
    struct smtp_conn *ss = xcalloc(1, sizeof(*ss));
    *ss = (struct smtp_conn){.s = s, .resp = SMTP_RESP_INIT, .keep = keep != NULL};
    ss->st = stream_open(fd);
    ss->accepted = xcalloc(s->req->nrcpt ? s->req->nrcpt : 1, sizeof(bool));
    int ret;

    int r = read_reply(ss, smtp_cfg.helo_timeout_ms);
    if (r < 0) {
        ret = io_fail(ss, r, "receiving the initial server greeting");
        goto out;
    }
    if (smtp_resp_class(&ss->resp) != 2) {
        ret = session_fail(ss, ss->resp.dsn, smtp_resp_class(&ss->resp) == 5,
                           "host %s refused to talk to me: %s", s->host_addr.s, ss->resp.text.s);
        goto out;
    }
    if ((ret = hello(ss)) != 0)
        goto out;
    if ((ret = starttls(ss)) != 0)
        goto out;
    if ((ret = authenticate(ss)) != 0)
        goto out;
    s->conn_us = smtp_now_us();
    ss->since_us = s->conn_us;
    ret = deliver_on(ss);
out:
    keep_or_free(ss, ret, keep);
    return ret;
}

bool smtp_conn_usable(const struct smtp_conn *c)
{
    if (smtp_cfg.reuse_count_limit > 0 && c->uses >= smtp_cfg.reuse_count_limit)
        return false;
    return smtp_now_us() - c->since_us < smtp_cfg.reuse_time_limit_ms * 1000;
}

int smtp_session_again(struct smtp_state *s, struct smtp_conn **keep)
{
    struct smtp_conn *ss = *keep;
    *keep = NULL;
    ss->s = s;
    ss->accepted = xreallocarray(ss->accepted, s->req->nrcpt ? s->req->nrcpt : 1, sizeof(bool));
    memset(ss->accepted, 0, (s->req->nrcpt ? s->req->nrcpt : 1) * sizeof(bool));
    ss->naccepted = 0;
    ss->reusable = false;
    strbuf_set(&s->relay, ss->relay.s);
    strbuf_set(&s->host_addr, ss->host_addr.s);
    /* Postfix's delays: no connection set-up for this message. */
    s->conn_us = smtp_now_us();
    int ret = deliver_on(ss);
    keep_or_free(ss, ret, keep);
    return ret;
}

void smtp_conn_close(struct smtp_conn **keep)
{
    struct smtp_conn *ss = *keep;
    if (ss == NULL)
        return;
    *keep = NULL;
    if (send_cmd(ss, true, "QUIT") == 0)
        (void)read_reply(ss, smtp_cfg.quit_timeout_ms);
    conn_free(ss);
}
