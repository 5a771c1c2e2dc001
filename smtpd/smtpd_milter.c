/* smtpd_milter - smtpd_milters: one milter session per SMTP session.
 *
 * Envelope events go out at each SMTP stage, after smtpd's own checks for
 * that stage passed, and a milter's verdict becomes the SMTP reply
 * (logged "NOQUEUE: milter-reject: RCPT from ..." as Postfix). Content is
 * streamed to the milters beside cleanup (smtpd_data.c), and at the end of
 * the message the milters' modifications are forwarded to cleanup as
 * request=milter records, where cleanup/cleanup_milter.c applies them for
 * smtpd and non_smtpd_milters alike (the reasons are in that file).
 *
 * A connect-stage rejection is remembered and given to every MAIL FROM
 * (smtpd_delay_reject style: HELO is still answered), a HELO-stage one to
 * that HELO and every later MAIL FROM; the session itself goes on.
 */
#include <string.h>

#include "address.h"
#include "config.h"
#include "input_transp.h"
#include "mem.h"
#include "milter.h"
#include "msg.h"
#include "resolve.h"
#include "smtpd.h"

static const char *smtpd_milter_list;
/* {mail_host} {mail_mailer} {rcpt_host} {rcpt_mailer}: where the address
 * routes (nexthop, transport), as Postfix's trivial-rewrite says. One
 * session per process: plain statics. */
static resolve *milter_rs;
static strbuf mail_host, mail_mailer, rcpt_host, rcpt_mailer;

/* Route `addr` into host/mailer; both empty when it cannot be routed now. */
static void route(const char *addr, strbuf *host, strbuf *mailer)
{
    resolve_route_t rt = {0};
    strbuf err = STRBUF_INIT;
    strbuf_reset(host);
    strbuf_reset(mailer);
    if (milter_rs && addr[0] && resolve_route(milter_rs, addr, &rt, &err) == 0) {
        strbuf_set(host, strbuf_str(&rt.nexthop));
        strbuf_set(mailer, strbuf_str(&rt.transport));
    }
    strbuf_release(&rt.transport);
    strbuf_release(&rt.nexthop);
    strbuf_release(&err);
}

void smtpd_milter_init(void)
{
    smtpd_milter_list = xstrdup(config_get("smtpd_milters"));
    /* Parse once at start-up: a bad value is the administrator's error and
     * must stop the service with the reason, not fail each session. */
    strbuf err = STRBUF_INIT;
    milter_set *ms = milter_set_create("smtpd_milters", smtpd_milter_list, &err);
    if (!ms)
        msg_fatal("%s", strbuf_str(&err));
    if (!milter_set_empty(ms) && !(milter_rs = resolve_open(&err)))
        msg_fatal("%s", strbuf_str(&err));
    milter_set_free(&ms);
    strbuf_release(&err);
}

static const char *smtpd_macro(void *ctx, const char *name)
{
    struct smtpd_state *s = ctx;
    strbuf *t = &s->milter_macro;
    if (strcmp(name, "i") == 0)
        return s->queue_id.len ? strbuf_str(&s->queue_id) : NULL;
    if (strcmp(name, "j") == 0)
        return smtpd_params.myhostname;
    if (strcmp(name, "v") == 0)
        return config_get("milter_macro_v");
    if (strcmp(name, "_") == 0) {
        strbuf_reset(t);
        strbuf_printf(t, "%s [%s]", strbuf_str(&s->name), strbuf_str(&s->addr));
        return strbuf_str(t);
    }
    if (strcmp(name, "daemon_name") == 0)
        return config_get("milter_macro_daemon_name");
    if (strcmp(name, "daemon_addr") == 0)
        return s->local_addr.len ? strbuf_str(&s->local_addr) : NULL;
    if (strcmp(name, "daemon_port") == 0 || strcmp(name, "client_port") == 0) {
        strbuf_reset(t);
        strbuf_printf(t, "%u", name[0] == 'd' ? s->local_port : s->remote_port);
        return strbuf_str(t);
    }
    if (strcmp(name, "client_addr") == 0)
        return strbuf_str(&s->addr);
    if (strcmp(name, "client_name") == 0 || strcmp(name, "client_ptr") == 0)
        return strbuf_str(&s->name);
    if (strcmp(name, "tls_version") == 0)
        return s->tls ? tls_conn_protocol(s->tls) : NULL;
    if (strcmp(name, "cipher") == 0)
        return s->tls ? tls_conn_cipher(s->tls) : NULL;
    if (strcmp(name, "cipher_bits") == 0 && s->tls) {
        int alg = 0;
        strbuf_reset(t);
        strbuf_printf(t, "%d", tls_conn_cipher_bits(s->tls, &alg));
        return strbuf_str(t);
    }
    if (strcmp(name, "auth_type") == 0)
        return smtpd_sasl_authenticated(s) ? strbuf_str(&s->sasl_method) : NULL;
    if (strcmp(name, "auth_authen") == 0)
        return smtpd_sasl_authenticated(s) ? strbuf_str(&s->sasl_username) : NULL;
    if (strcmp(name, "mail_addr") == 0)
        return s->have_mail ? strbuf_str(&s->sender) : NULL;
    if (strcmp(name, "mail_host") == 0 || strcmp(name, "mail_mailer") == 0) {
        const strbuf *v = name[5] == 'h' ? &mail_host : &mail_mailer;
        return s->have_mail && v->len ? strbuf_str(v) : NULL;
    }
    if (strcmp(name, "rcpt_addr") == 0)
        return s->milter_rcpt;
    if (strcmp(name, "rcpt_host") == 0 || strcmp(name, "rcpt_mailer") == 0) {
        const strbuf *v = name[5] == 'h' ? &rcpt_host : &rcpt_mailer;
        return s->milter_rcpt && v->len ? strbuf_str(v) : NULL;
    }
    return NULL;
}

/* Multi-line replies come with "\n" between lines; SMTP wants CRLF. */
static void reply_text(struct smtpd_state *s, const char *text)
{
    strbuf r = STRBUF_INIT;
    for (const char *p = text; *p; p++) {
        if (*p == '\n')
            strbuf_putc(&r, '\r');
        strbuf_putc(&r, *p);
    }
    smtpd_reply(s, "%s", strbuf_str(&r));
    strbuf_release(&r);
}

/* smtpd's whatsup line; a multi-line reply is logged on one line. */
static void log_milter(struct smtpd_state *s, const char *action, const char *stage,
                       const char *text, const char *to)
{
    strbuf one = STRBUF_INIT;
    for (const char *p = text; *p; p++)
        strbuf_putc(&one, *p == '\n' ? ' ' : *p);
    smtpd_log_whatsup(s, action, stage, strbuf_str(&one), to);
    strbuf_release(&one);
}

void smtpd_milter_connect(struct smtpd_state *s)
{
    /* receive_override_options = no_milters (an after-filter listener). */
    if (!smtpd_milter_list || !*smtpd_milter_list || (input_transp_flags() & INPUT_TRANSP_MILTER))
        return;
    strbuf err = STRBUF_INIT;
    s->milters = milter_set_create("smtpd_milters", smtpd_milter_list, &err);
    if (!s->milters)
        msg_fatal("%s", strbuf_str(&err));
    strbuf_release(&err);
    if (milter_set_empty(s->milters)) {
        milter_set_free(&s->milters);
        return;
    }
    milter_set_macros(s->milters, smtpd_macro, s);
    int family = s->addr.len == 0 ? 'U' : strchr(strbuf_str(&s->addr), ':') ? '6' : '4';
    strbuf reply = STRBUF_INIT;
    enum milter_verdict v = milter_connect_event(
        s->milters, strbuf_str(&s->name), strbuf_str(&s->addr), s->remote_port, family, &reply);
    if (v == MILTER_REJECT || v == MILTER_SHUTDOWN) {
        log_milter(s, "milter-reject", "CONNECT", strbuf_str(&reply), NULL);
        strbuf_set(&s->milter_session_reply, strbuf_str(&reply));
    }
    strbuf_release(&reply);
}

void smtpd_milter_disconnect(struct smtpd_state *s)
{
    if (s->milters) {
        milter_disconnect(s->milters);
        milter_set_free(&s->milters);
    }
    strbuf_release(&s->milter_session_reply);
    strbuf_release(&s->milter_macro);
    strbuf_release(&s->milter_first_rcpt);
}

void smtpd_milter_abort(struct smtpd_state *s)
{
    if (s->milters)
        milter_abort(s->milters);
    strbuf_reset(&s->milter_first_rcpt);
}

/* A verdict that ends the command: reply, log, true. */
static bool refused(struct smtpd_state *s, enum milter_verdict v, const char *stage,
                    const strbuf *reply, const char *to)
{
    if (v == MILTER_CONTINUE)
        return false;
    if (v == MILTER_DISCARD) {
        /* Before the end of the message a discard covers the whole of it:
         * the access-table DISCARD path does exactly that. */
        log_milter(s, "milter-discard", stage, "milter triggers DISCARD action", to);
        s->act.discard = true;
        return false;
    }
    log_milter(s, "milter-reject", stage, strbuf_str(reply), to);
    reply_text(s, strbuf_str(reply));
    if (v == MILTER_SHUTDOWN)
        s->quit = true;
    return true;
}

bool smtpd_milter_helo(struct smtpd_state *s)
{
    if (!s->milters)
        return true;
    /* After a connect-stage rejection HELO itself is answered normally;
     * MAIL FROM gets the rejection. */
    if (s->milter_session_reply.len)
        return true;
    strbuf reply = STRBUF_INIT;
    enum milter_verdict v = milter_helo_event(s->milters, strbuf_str(&s->helo), &reply);
    bool ok = true;
    if (v == MILTER_REJECT || v == MILTER_SHUTDOWN) {
        /* Postfix: a HELO-stage reject applies to the session's mail. */
        log_milter(s, "milter-reject", "HELO", strbuf_str(&reply), NULL);
        strbuf_set(&s->milter_session_reply, strbuf_str(&reply));
        reply_text(s, strbuf_str(&reply));
        ok = false;
    }
    strbuf_release(&reply);
    return ok;
}

bool smtpd_milter_mail(struct smtpd_state *s, uint64_t size)
{
    if (!s->milters)
        return true;
    if (s->milter_session_reply.len) {
        log_milter(s, "milter-reject", "MAIL", strbuf_str(&s->milter_session_reply), NULL);
        reply_text(s, strbuf_str(&s->milter_session_reply));
        return false;
    }
    strlist argv = STRLIST_INIT;
    strbuf a = STRBUF_INIT, reply = STRBUF_INIT;
    strbuf_printf(&a, "<%s>", strbuf_str(&s->sender));
    strlist_push(&argv, strbuf_str(&a));
    if (size > 0) {
        strbuf_reset(&a);
        strbuf_printf(&a, "SIZE=%llu", (unsigned long long)size);
        strlist_push(&argv, strbuf_str(&a));
    }
    route(strbuf_str(&s->sender), &mail_host, &mail_mailer);
    enum milter_verdict v = milter_mail_event(s->milters, &argv, &reply);
    bool ok = !refused(s, v, "MAIL", &reply, NULL);
    strlist_release(&argv);
    strbuf_release(&a);
    strbuf_release(&reply);
    return ok;
}

bool smtpd_milter_rcpt(struct smtpd_state *s, const char *rcpt)
{
    if (!s->milters)
        return true;
    strlist argv = STRLIST_INIT;
    strbuf a = STRBUF_INIT, reply = STRBUF_INIT;
    strbuf_printf(&a, "<%s>", rcpt);
    strlist_push(&argv, strbuf_str(&a));
    s->milter_rcpt = rcpt;
    route(rcpt, &rcpt_host, &rcpt_mailer);
    enum milter_verdict v = milter_rcpt_event(s->milters, &argv, &reply);
    s->milter_rcpt = NULL;
    bool ok = !refused(s, v, "RCPT", &reply, rcpt);
    if (ok && s->milter_first_rcpt.len == 0)
        strbuf_set(&s->milter_first_rcpt, rcpt);
    strlist_release(&argv);
    strbuf_release(&a);
    strbuf_release(&reply);
    return ok;
}

bool smtpd_milter_data(struct smtpd_state *s, const char *stage)
{
    if (!s->milters)
        return true;
    strbuf reply = STRBUF_INIT;
    enum milter_verdict v = milter_data_event(s->milters, &reply);
    bool ok = !refused(s, v, stage, &reply, NULL);
    strbuf_release(&reply);
    return ok;
}

bool smtpd_milter_unknown(struct smtpd_state *s, const strbuf *line)
{
    if (!s->milters)
        return true;
    /* The client's bytes, made printable and bounded, as for the log. */
    strbuf text = STRBUF_INIT, reply = STRBUF_INIT;
    addr_sanitize(&text, line->s ? line->s : "", line->len, 512, false);
    enum milter_verdict v = milter_unknown_event(s->milters, strbuf_str(&text), &reply);
    bool ok = v != MILTER_REJECT && v != MILTER_SHUTDOWN;
    if (!ok) {
        log_milter(s, "milter-reject", "UNKNOWN", strbuf_str(&reply), NULL);
        reply_text(s, strbuf_str(&reply));
        s->quit |= v == MILTER_SHUTDOWN;
    }
    strbuf_release(&text);
    strbuf_release(&reply);
    return ok;
}

void smtpd_milter_content(struct smtpd_state *s, const char *data, size_t len, bool line_end)
{
    if (s->milters)
        milter_content(s->milters, data, len, line_end);
}

static int edit_to_cleanup(void *ctx, const struct milter_edit *e)
{
    struct smtpd_state *s = ctx;
    if (e->kind == MILTER_EDIT_QUARANTINE)
        s->milter_hold = true;
    return s->cc && cleanup_client_milter_edit(s->cc, e) == 0 ? 0 : -1;
}

int smtpd_milter_eom(struct smtpd_state *s, strbuf *reply)
{
    if (!s->milters)
        return 0;
    s->milter_hold = false;
    enum milter_verdict v = milter_eom_event(s->milters, edit_to_cleanup, s, reply);
    const char *to = s->milter_first_rcpt.len ? strbuf_str(&s->milter_first_rcpt) : NULL;
    if (v == MILTER_REJECT || v == MILTER_SHUTDOWN) {
        /* Postfix's cleanup logs the text after the SMTP code here. */
        const char *text = strbuf_str(reply);
        log_milter(s, "milter-reject", "END-OF-MESSAGE", reply->len > 4 ? text + 4 : text, to);
        if (v == MILTER_SHUTDOWN)
            s->quit = true;
        return -1;
    }
    if (v == MILTER_DISCARD) {
        log_milter(s, "milter-discard", "END-OF-MESSAGE", "milter triggers DISCARD action", to);
        s->act.discard = true;
    } else if (s->milter_hold || milter_hold_requested(s->milters)) {
        log_milter(s, "milter-hold", "END-OF-MESSAGE", "milter triggers HOLD action", to);
        s->act.hold = true;
    }
    return 0;
}
