/* smtpd_sasl - the AUTH command (RFC 4954) through lib/global/xsasl.
 *
 * AUTH is offered after EHLO when smtpd_sasl_auth_enable is set, the
 * backend answers and has mechanisms left after smtpd_sasl_security_options
 * (smtpd_sasl_tls_security_options once TLS is active) and
 * smtpd_sasl_mechanism_filter; with smtpd_tls_auth_only or TLS level
 * encrypt only after STARTTLS. If Dovecot cannot be reached, Postfix stops
 * with a fatal error; we log a warning and do not offer AUTH, so mail from
 * mynetworks keeps flowing.
 *
 * Every response line is bounded by smtpd_sasl_response_limit. A failure is
 * an error reply (535/454) and so counts toward smtpd_soft/hard_error_limit,
 * which is what slows down and ends password guessing on one connection.
 */
#include <string.h>
#include <strings.h>

#include "address.h"
#include "config.h"
#include "mem.h"
#include "msg.h"
#include "smtpd.h"
#include "strlist.h"

static strlist mech_filter; /* smtpd_sasl_mechanism_filter items */

void smtpd_sasl_pre_init(void)
{
    struct smtpd_params *p = &smtpd_params;
    p->sasl_enable = config_get_bool("smtpd_sasl_auth_enable");
    if (!p->sasl_enable)
        return;
    strbuf err = STRBUF_INIT;
    if (xsasl_parse_security_options(config_get("smtpd_sasl_security_options"), &p->sasl_sec_flags,
                                     &err) < 0)
        msg_fatal("smtpd_sasl_security_options: %s", strbuf_str(&err));
    if (xsasl_parse_security_options(config_get("smtpd_sasl_tls_security_options"),
                                     &p->sasl_tls_sec_flags, &err) < 0)
        msg_fatal("smtpd_sasl_tls_security_options: %s", strbuf_str(&err));
    if (*config_get("smtpd_sasl_exceptions_networks"))
        msg_fatal("smtpd_sasl_exceptions_networks is not supported");
    p->broken_auth_clients = config_get_bool("broken_sasl_auth_clients");
    long long lim = config_get_int("smtpd_sasl_response_limit");
    p->sasl_response_limit = lim >= 512 && lim <= 1048576 ? (size_t)lim : 12288;
    p->sasl_authenticated_header = config_get_bool("smtpd_sasl_authenticated_header");
    const char *e = NULL;
    if (strlist_split(&mech_filter, config_get("smtpd_sasl_mechanism_filter"), ", \t\r\n", &e) < 0)
        msg_fatal("smtpd_sasl_mechanism_filter: %s", e);
    if (xsasl_init(config_get("smtpd_sasl_type"), config_get("smtpd_sasl_path"), &err) < 0)
        msg_fatal("%s", strbuf_str(&err));
    p->sasl_ready = true;
    strbuf_release(&err);
}

/* smtpd_sasl_mechanism_filter: first matching item wins, "!" negates,
 * "static:rest"/"static:all" match everything; empty list: all pass. */
static bool mech_passes(const char *mech, size_t len)
{
    if (mech_filter.n == 0)
        return true;
    for (size_t i = 0; i < mech_filter.n; i++) {
        const char *it = mech_filter.v[i];
        bool neg = it[0] == '!';
        if (neg)
            it++;
        if (strcasecmp(it, "static:rest") == 0 || strcasecmp(it, "static:all") == 0 ||
            (strlen(it) == len && strncasecmp(it, mech, len) == 0))
            return !neg;
    }
    return false;
}

bool smtpd_sasl_authenticated(const struct smtpd_state *s)
{
    return s->sasl_username.len > 0;
}

void smtpd_sasl_reset(struct smtpd_state *s)
{
    xsasl_server_free(&s->sasl);
    s->sasl_tried = false;
    strbuf_reset(&s->sasl_mechs);
    strbuf_reset(&s->sasl_method);
    strbuf_reset(&s->sasl_username);
}

/* Is AUTH available in this state at all? */
static bool sasl_allowed(const struct smtpd_state *s)
{
    if (!smtpd_params.sasl_enable || !smtpd_params.sasl_ready)
        return false;
    if (!s->tls && (smtpd_params.tls_auth_only || smtpd_params.tls_level == TLS_LEVEL_ENCRYPT))
        return false;
    return true;
}

/* Make this session's authenticator (once per TLS state). */
static void sasl_activate(struct smtpd_state *s)
{
    if (s->sasl_tried)
        return;
    s->sasl_tried = true;
    strbuf err = STRBUF_INIT;
    struct xsasl_server_params p = {
        .service = config_get("smtpd_sasl_service"),
        .server_fqdn = smtpd_params.myhostname,
        .user_realm = config_get("smtpd_sasl_local_domain"),
        .local_addr = s->local_addr.len ? strbuf_str(&s->local_addr) : NULL,
        .remote_addr = strbuf_str(&s->addr),
        .local_port = s->local_port,
        .remote_port = s->remote_port,
        .sec_flags = s->tls ? smtpd_params.sasl_tls_sec_flags : smtpd_params.sasl_sec_flags,
        .tls = s->tls != NULL,
        .timeout_ms = (int)smtpd_params.timeout_s * 1000,
    };
    s->sasl = xsasl_server_new(&p, &err);
    if (!s->sasl) {
        msg_warn("%s; AUTH is not offered", strbuf_str(&err));
        strbuf_release(&err);
        return;
    }
    strbuf_release(&err);
    const char *m = xsasl_server_mechs(s->sasl);
    while (*m) {
        size_t wl = strcspn(m, " ");
        if (mech_passes(m, wl)) {
            if (s->sasl_mechs.len)
                strbuf_putc(&s->sasl_mechs, ' ');
            strbuf_append(&s->sasl_mechs, m, wl);
        }
        m += wl;
        m += strspn(m, " ");
    }
    if (s->sasl_mechs.len == 0)
        msg_warn("%s: no SASL authentication mechanisms left after the security options and "
                 "smtpd_sasl_mechanism_filter",
                 strbuf_str(&s->namaddr));
}

const char *smtpd_sasl_ehlo(struct smtpd_state *s)
{
    if (!sasl_allowed(s))
        return "";
    sasl_activate(s);
    return strbuf_str(&s->sasl_mechs);
}

static bool mech_offered(const struct smtpd_state *s, const char *mech, size_t len)
{
    const char *p = strbuf_str(&s->sasl_mechs);
    while (*p) {
        size_t wl = strcspn(p, " ");
        if (wl == len && strncasecmp(p, mech, len) == 0)
            return true;
        p += wl;
        p += strspn(p, " ");
    }
    return false;
}

static void log_failure(struct smtpd_state *s, const char *mech, const strbuf *reason,
                        const strbuf *user)
{
    strbuf u = STRBUF_INIT, r = STRBUF_INIT;
    addr_sanitize(&r, reason->s ? reason->s : "", reason->len, 200, false);
    if (user->len) {
        addr_sanitize(&u, user->s, user->len, 100, false);
        msg_warn("%s: SASL %.100s authentication failed: %s, sasl_username=%s",
                 strbuf_str(&s->namaddr), mech, strbuf_str(&r), strbuf_str(&u));
    } else {
        msg_warn("%s: SASL %.100s authentication failed: %s", strbuf_str(&s->namaddr), mech,
                 strbuf_str(&r));
    }
    strbuf_release(&u);
    strbuf_release(&r);
}

void smtpd_sasl_auth(struct smtpd_state *s, const smtp_cmd *cmd)
{
    if (!s->extended) {
        smtpd_reply(s, "503 5.5.1 Error: send EHLO first");
        return;
    }
    if (smtpd_tls_required(s) && smtpd_params.sasl_enable) {
        smtpd_reply(s, "530 5.7.0 Must issue a STARTTLS command first");
        return;
    }
    if (!sasl_allowed(s)) {
        smtpd_reply(s, "503 5.5.1 Error: authentication not enabled");
        return;
    }
    if (smtpd_sasl_authenticated(s)) {
        smtpd_reply(s, "503 5.5.1 Error: already authenticated");
        return;
    }
    if (s->have_mail) {
        smtpd_reply(s, "503 5.5.1 Error: MAIL transaction in progress");
        return;
    }
    sasl_activate(s);
    if (!s->sasl) {
        smtpd_reply(s, "454 4.7.0 Temporary authentication failure: "
                       "Connection lost to authentication server");
        return;
    }
    /* "AUTH mech [initial-response]" */
    const char *arg = strbuf_str(&cmd->arg);
    size_t ml = strcspn(arg, " \t");
    if (ml == 0) {
        smtpd_reply(s, "501 5.5.4 Syntax: AUTH mechanism");
        return;
    }
    strbuf mech = STRBUF_INIT, init = STRBUF_INIT, reply = STRBUF_INIT, user = STRBUF_INIT;
    strbuf line = STRBUF_INIT;
    addr_sanitize(&mech, arg, ml > 64 ? 64 : ml, 64, false);
    for (char *c = mech.s; c && *c; c++)
        *c = (char)(*c >= 'a' && *c <= 'z' ? *c - 'a' + 'A' : *c);
    const char *rest = arg + ml;
    rest += strspn(rest, " \t");
    bool have_init = *rest != '\0';
    if (have_init) {
        if (strlen(rest) > smtpd_params.sasl_response_limit) {
            smtpd_reply(s, "500 5.5.6 Authentication exchange line is too long");
            goto out;
        }
        /* RFC 4954: "=" is an empty initial response. */
        strbuf_set(&init, strcmp(rest, "=") == 0 ? "" : rest);
    }
    enum xsasl_result r;
    if (!mech_offered(s, mech.s, mech.len)) {
        r = XSASL_FAIL;
        strbuf_set(&reply, "Invalid authentication mechanism");
    } else {
        r = xsasl_server_first(s->sasl, strbuf_str(&mech), have_init ? strbuf_str(&init) : NULL,
                               &reply, &user);
    }
    while (r == XSASL_MORE) {
        (void)stream_printf(s->st, "334 %s\r\n", strbuf_str(&reply));
        if (smtpd_flush(s) < 0) {
            s->quit = true;
            goto out;
        }
        if (smtpd_params.per_request_deadline)
            stream_set_deadline_in(s->st, smtpd_params.timeout_s * 1000);
        int rc = stream_read_line(s->st, &line, smtpd_params.sasl_response_limit);
        stream_clear_deadline(s->st);
        if (rc < 0 || rc == STREAM_LINE_PARTIAL) {
            msg_info("%s after AUTH from %s", rc == STREAM_TIMEOUT ? "timeout" : "lost connection",
                     strbuf_str(&s->namaddr));
            s->quit = true;
            goto out;
        }
        if (rc == STREAM_LINE_TOOLONG) {
            (void)stream_skip_line(s->st);
            smtpd_reply(s, "500 5.5.6 Authentication exchange line is too long");
            goto out;
        }
        if (line.len == 1 && line.s[0] == '*') {
            msg_warn("%s: SASL %s authentication aborted", strbuf_str(&s->namaddr),
                     strbuf_str(&mech));
            smtpd_reply(s, "501 5.7.0 Authentication aborted");
            goto out;
        }
        r = xsasl_server_next(s->sasl, line.s ? line.s : "", &reply, &user);
    }
    if (r == XSASL_DONE) {
        strbuf_set(&s->sasl_method, strbuf_str(&mech));
        addr_sanitize(&s->sasl_username, user.s ? user.s : "", user.len, 255, true);
        s->cnt_ok[CNT_AUTH]++;
        smtpd_set_protocol(s);
        smtpd_reply(s, "235 2.7.0 Authentication successful");
        goto out;
    }
    log_failure(s, strbuf_str(&mech), &reply, &user);
    strbuf shown = STRBUF_INIT;
    addr_sanitize(&shown, reply.s ? reply.s : "", reply.len, 200, false);
    if (r == XSASL_TEMP)
        smtpd_reply(s, "454 4.7.0 Temporary authentication failure: %s", strbuf_str(&shown));
    else
        smtpd_reply(s, "535 5.7.8 Error: authentication failed: %s", strbuf_str(&shown));
    strbuf_release(&shown);
out:
    strbuf_release(&mech);
    strbuf_release(&init);
    strbuf_release(&reply);
    strbuf_release(&user);
    strbuf_release(&line);
}
