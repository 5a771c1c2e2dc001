/* smtpd - the SMTP server.
 *
 * One client per process at a time (service skeleton, SERVICE_SINGLE). The
 * session reads one command line of at most line_length_limit bytes (the
 * excess is skipped with a warning, as Postfix does), parses it with
 * lib/global/smtp_cmd and answers. Every read has smtpd_timeout; with
 * smtpd_per_request_deadline it is a deadline for the whole request, and
 * during DATA/BDAT smtpd_min_data_rate extends it as bytes arrive.
 *
 * Defaults that differ from Postfix 3.7's compiled-in ones (unless main.cf
 * or master.cf sets the parameter): smtpd_per_request_deadline = yes,
 * smtpd_forbid_unauth_pipelining = yes (as Postfix 3.9), and
 * disable_vrfy_command = yes. smtpd_forbid_bare_newline: every value keeps
 * <CR><LF>.<CR><LF> the only end of data (the smtp_data state machine); only
 * "reject" also refuses messages with a bare newline.
 *
 * Pipelining nobody offered (input before the greeting, after a command
 * that must end a group, or from a client that never got PIPELINING) with
 * smtpd_forbid_unauth_pipelining = yes ends the session (554 5.5.0), as
 * Postfix 3.9; with "no" it only sets the session's flag that
 * reject_unauth_pipelining tests (Postfix 2.6-3.8), logged once as
 * "improper command pipelining after X from host[addr]: <what was sent>".
 *
 * Stand-alone (-S, run by root's sendmail -bs on a pipe): the pre-greeting
 * and unauth-pipelining checks and bare-newline rejection are off (a script
 * may write the whole dialog at once, with LF line ends), as in Postfix.
 *
 * TLS (STARTTLS, wrapper mode) is smtpd_tls.c, SASL (AUTH) smtpd_sasl.c.
 *
 * Per-client connection count and rate limits are smtpd_limit.c.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "address.h"
#include "config.h"
#include "content_filter.h"
#include "input_transp.h"
#include "mem.h"
#include "msg.h"
#include "queue_file.h"
#include "service.h"
#include "smtpd.h"
#include "smtpd_policy.h"
#include "sock.h"
#include "strlist.h"

struct smtpd_params smtpd_params;
static strlist forbidden_words;
static bool forbidden_nonletter;

static const char *const counter_names[CNT_COUNT] = {"helo", "ehlo", "starttls", "auth", "mail",
                                                     "rcpt", "data", "bdat",     "rset", "noop",
                                                     "vrfy", "etrn", "quit",     "help", "unknown"};

static bool param_bool_default(const char *name, bool fallback)
{
    return config_is_set(name) ? config_get_bool(name) : fallback;
}

/* Postfix's line: what the client sent ahead, as far as it is buffered. */
static void log_ill_pipelining(struct smtpd_state *s, const char *after)
{
    const char *p;
    size_t n = stream_input_peek(s->st, &p);
    strbuf shown = STRBUF_INIT;
    addr_sanitize(&shown, p, n, 100, false);
    msg_info("improper command pipelining after %s from %s: %s", after, strbuf_str(&s->namaddr),
             strbuf_str(&shown));
    strbuf_release(&shown);
}

/* reject_unauth_pipelining's per-session flag (Postfix 2.6 and later): set
 * once input is waiting behind a command that must end a command group
 * (RFC 2920: EHLO, HELO, DATA, VRFY, EXPN, NOOP), or behind any command of a
 * client that was never offered PIPELINING. The pre-greeting case is in
 * smtpd_serve; DATA with smtpd_forbid_unauth_pipelining is smtpd_data's. */
static void note_ill_pipelining(struct smtpd_state *s, const smtp_cmd *cmd)
{
    bool ends_group = cmd->verb == SMTP_VERB_EHLO || cmd->verb == SMTP_VERB_HELO ||
                      cmd->verb == SMTP_VERB_DATA || cmd->verb == SMTP_VERB_VRFY ||
                      cmd->verb == SMTP_VERB_EXPN || cmd->verb == SMTP_VERB_NOOP;
    if (s->stand_alone || s->ill_pipelining || cmd->verb == SMTP_VERB_QUIT ||
        cmd->verb == SMTP_VERB_STARTTLS || cmd->verb == SMTP_VERB_BDAT ||
        (s->extended && !ends_group) ||
        (cmd->verb == SMTP_VERB_DATA && smtpd_params.forbid_unauth_pipelining) ||
        stream_input_pending(s->st) == 0)
        return;
    s->ill_pipelining = true;
    log_ill_pipelining(s, smtp_verb_name(cmd->verb));
}

/* smtpd_pregreet_wait (our extension; Postfix's smtpd has no such wait, its
 * postscreen has postscreen_greet_wait): how long to listen for input before
 * sending the banner. A time ("1s") or milliseconds ("100ms"); default 0. */
static int pregreet_wait_ms(void)
{
    if (!config_is_set("smtpd_pregreet_wait"))
        return 0;
    const char *v = config_get_raw("smtpd_pregreet_wait");
    size_t len = strlen(v);
    long long n;
    if (len > 2 && strcmp(v + len - 2, "ms") == 0) {
        char *end;
        errno = 0;
        n = strtoll(v, &end, 10);
        if (errno == 0 && end == v + len - 2 && n >= 0 && n <= 60000)
            return (int)n;
    } else if (config_parse_time(v, 's', &n) == 0 && n <= 60) {
        return (int)(n * 1000);
    }
    msg_fatal("smtpd_pregreet_wait = %s: expected a time up to 60s, e.g. 1s or 100ms", v);
}

static void smtpd_pre_init(const char *service, char **args)
{
    (void)service;
    (void)args;
    /* Keys and certificates are often readable by root only; Cyrus loads
     * its plugins from outside any chroot. */
    smtpd_tls_pre_init();
    smtpd_sasl_pre_init();
    smtpd_limit_pre_init(); /* its file lives in the root-owned pid/ */
}

void smtpd_set_protocol(struct smtpd_state *s)
{
    if (!s->extended) {
        s->protocol = "SMTP";
        return;
    }
    bool a = smtpd_sasl_authenticated(s);
    s->protocol = s->tls ? (a ? "ESMTPSA" : "ESMTPS") : (a ? "ESMTPA" : "ESMTP");
}

static void smtpd_init(const char *service, char **args)
{
    struct smtpd_params *p = &smtpd_params;
    p->myhostname = xstrdup(config_get("myhostname"));
    /* Numeric parameters arrive within the table's bounds (line_length_limit
     * >= 512, sizes >= 0, smtpd_timeout and ipc_timeout 1 .. INT_MAX/1000 s):
     * the getters are fatal otherwise, so nothing is clamped here. */
    p->line_limit = (size_t)config_get_int("line_length_limit");
    p->message_size_limit = (uint64_t)config_get_size("message_size_limit");
    long long v;
    p->recipient_limit = (long)config_get_int("smtpd_recipient_limit");
    p->overshoot_limit = (long)config_get_int("smtpd_recipient_overshoot_limit");
    p->soft_error_limit = (int)config_get_int("smtpd_soft_error_limit");
    p->hard_error_limit = (int)config_get_int("smtpd_hard_error_limit");
    p->junk_limit = (int)config_get_int("smtpd_junk_command_limit");
    p->error_sleep = config_get_time("smtpd_error_sleep_time");
    p->timeout_s = config_get_time("smtpd_timeout");
    p->per_request_deadline = param_bool_default("smtpd_per_request_deadline", true);
    v = config_get_int("smtpd_min_data_rate");
    p->min_data_rate = v > 0 && v < 1000000000 ? (unsigned)v : 0;
    const char *bare = config_get("smtpd_forbid_bare_newline");
    p->forbid_bare_reject = strcasecmp(bare, "reject") == 0;
    if (strcasecmp(bare, "reject-mail") == 0)
        msg_fatal("smtpd_forbid_bare_newline = %s is not supported (use reject or normalize)",
                  bare);
    p->bare_code = (int)config_get_int("smtpd_forbid_bare_newline_reject_code");
    p->forbid_unauth_pipelining = param_bool_default("smtpd_forbid_unauth_pipelining", true);
    p->pregreet_wait_ms = pregreet_wait_ms();
    p->disable_vrfy = param_bool_default("disable_vrfy_command", true);
    p->helo_required = config_get_bool("smtpd_helo_required");
    p->smtputf8_enable = config_get_bool("smtputf8_enable");
    p->strict_rfc821 = config_get_bool("strict_rfc821_envelopes");
    p->queue_minfree = (uint64_t)config_get_size("queue_minfree");
    /* The skeleton has changed (and maybe chrooted) to queue_directory:
     * relative names work in both cases. */
    p->queue_dir = ".";
    p->ipc_timeout_ms = (int)config_get_time("ipc_timeout") * 1000;

    /* smtpd_forbidden_commands: words, plus Postfix's default pattern
     * regexp:{{/^[^A-Z]/ Bogus}} which we implement natively. */
    strlist items = STRLIST_INIT;
    const char *e = NULL;
    if (strlist_split(&items, config_get("smtpd_forbidden_commands"), ", \t\r\n", &e) < 0)
        msg_fatal("smtpd_forbidden_commands: %s", e);
    for (size_t i = 0; i < items.n; i++) {
        const char *it = items.v[i];
        if (strncmp(it, "regexp:", 7) == 0 || strncmp(it, "pcre:", 5) == 0) {
            if (strstr(it, "^[^A-Z]"))
                forbidden_nonletter = true;
            else
                msg_fatal("smtpd_forbidden_commands: only the pattern /^[^A-Z]/ is supported, "
                          "not \"%s\"",
                          it);
        } else {
            strlist_push(&forbidden_words, it);
        }
    }
    strlist_release(&items);
    smtpd_check_init();
    smtpd_limit_init();
    /* A bad content_filter stops the listener now, not at the first mail. */
    (void)content_filter_value();
    smtpd_milter_init();
}

/* ---- replies ------------------------------------------------------------ */

void smtpd_reply(struct smtpd_state *s, const char *fmt, ...)
{
    va_list ap;
    strbuf_reset(&s->reply);
    va_start(ap, fmt);
    strbuf_vprintf(&s->reply, fmt, ap);
    va_end(ap);
    char c = s->reply.len ? s->reply.s[0] : '5';
    if (c == '4' || c == '5') {
        s->error_count++;
        /* The tarpit: past the soft limit every error reply is delayed. */
        if (s->error_count > smtpd_params.soft_error_limit && smtpd_params.error_sleep > 0) {
            (void)smtpd_flush(s);
            sleep((unsigned)smtpd_params.error_sleep);
        }
    }
    (void)stream_write(s->st, s->reply.s, s->reply.len);
    (void)stream_write(s->st, "\r\n", 2);
}

int smtpd_flush(struct smtpd_state *s)
{
    return stream_flush(s->st);
}

/* Multi-line reply helper for EHLO. */
static void reply_line(struct smtpd_state *s, bool last, const char *text)
{
    (void)stream_printf(s->st, "250%c%s\r\n", last ? ' ' : '-', text);
}

/* ---- transaction -------------------------------------------------------- */

void smtpd_reset(struct smtpd_state *s)
{
    if (s->cc)
        cleanup_client_abort(&s->cc);
    smtpd_milter_abort(s);
    s->have_mail = false;
    strbuf_reset(&s->sender);
    strbuf_reset(&s->envid);
    strbuf_reset(&s->sasl_sender);
    strbuf_reset(&s->queue_id);
    strbuf_reset(&s->open_error);
    strbuf_reset(&s->last_rcpt);
    strbuf_reset(&s->prepend);
    smtpd_check_reset_actions(s);
    s->mail_size = 0;
    s->body = SMTP_BODY_NONE;
    s->ret = SMTP_RET_NONE;
    s->smtputf8 = false;
    s->rcpt_count = 0;
    s->rcpt_overshoot = 0;
    s->bdat_active = false;
    s->bdat_total = 0;
}

/* Open the queue file at the first accepted recipient (Postfix's
 * smtpd_delay_open_until_valid_rcpt) and send the envelope. The RCPT is
 * answered while cleanup creates the file: its answer is read when the
 * queue ID is needed first (smtpd_queue_id: at the latest for Received: at
 * DATA), which takes a file creation off every message's round trips. */
bool smtpd_open_queue(struct smtpd_state *s)
{
    strbuf reply = STRBUF_INIT;
    strbuf_reset(&s->queue_id);
    s->cc = cleanup_client_begin(smtpd_params.queue_dir, input_transp_cleanup_flags(),
                                 smtpd_params.ipc_timeout_ms, &reply);
    if (!s->cc) {
        smtpd_reply(s, "%s", strbuf_str(&reply));
        strbuf_release(&reply);
        return false;
    }
    strbuf_release(&reply);
    gettimeofday(&s->arrival, NULL);
    static const char *const bodies[] = {NULL, "7BIT", "8BITMIME", "BINARYMIME"};
    char port[16];
    snprintf(port, sizeof(port), "%u", s->remote_port);
    struct cleanup_envelope env = {
        .arrival = s->arrival,
        .sender = strbuf_str(&s->sender),
        .client_name = strbuf_str(&s->name),
        .client_addr = strbuf_str(&s->addr),
        .client_helo = s->helo.len ? strbuf_str(&s->helo) : NULL,
        .protocol = s->protocol,
        .rewrite_context = smtpd_check_rewrite_local(s) ? "local" : "remote",
        .envid = s->envid.len ? strbuf_str(&s->envid) : NULL,
        .ret = s->ret == SMTP_RET_FULL   ? "FULL"
               : s->ret == SMTP_RET_HDRS ? "HDRS"
                                         : NULL,
        .body = bodies[s->body],
        .smtputf8 = s->smtputf8,
        .sasl_username = smtpd_sasl_authenticated(s) ? strbuf_str(&s->sasl_username) : NULL,
        .sasl_method = smtpd_sasl_authenticated(s) ? strbuf_str(&s->sasl_method) : NULL,
        .client_port = s->remote_port ? port : NULL,
        .uid = -1,
    };
    (void)cleanup_client_envelope(s->cc, &env);
    /* First, so that access-table FILTER actions (sent at DATA) win. */
    (void)content_filter_send(s->cc);
    return true;
}

const char *smtpd_queue_id(struct smtpd_state *s)
{
    if (s->cc && cleanup_client_open_pending(s->cc)) {
        if ((s->open_code = cleanup_client_opened(s->cc, &s->open_error)) != 0) {
            cleanup_client_abort(&s->cc);
        } else {
            strbuf_set(&s->queue_id, cleanup_client_queue_id(s->cc));
            if (smtpd_sasl_authenticated(s))
                msg_info("%s: client=%s, sasl_method=%s, sasl_username=%s",
                         strbuf_str(&s->queue_id), strbuf_str(&s->namaddr),
                         strbuf_str(&s->sasl_method), strbuf_str(&s->sasl_username));
            else
                msg_info("%s: client=%s", strbuf_str(&s->queue_id), strbuf_str(&s->namaddr));
        }
    }
    return s->queue_id.len ? strbuf_str(&s->queue_id) : NULL;
}

/* ---- commands ----------------------------------------------------------- */

static void do_helo(struct smtpd_state *s, const smtp_cmd *cmd, bool ehlo)
{
    if (cmd->arg.len == 0) {
        smtpd_reply(s, "501 Syntax: %s hostname", ehlo ? "EHLO" : "HELO");
        return;
    }
    /* A new HELO/EHLO resets the transaction (RFC 5321 4.1.4). */
    smtpd_reset(s);
    addr_sanitize(&s->helo, cmd->arg.s, cmd->arg.len, 255, false);
    s->extended = ehlo;
    smtpd_set_protocol(s);
    if (!smtpd_check_delay_reject()) {
        strbuf reply = STRBUF_INIT;
        if (smtpd_check_helo(s, &reply) != 0) {
            smtpd_reply(s, "%s", strbuf_str(&reply));
            strbuf_reset(&s->helo); /* Postfix keeps no rejected HELO name */
            strbuf_release(&reply);
            return;
        }
        strbuf_release(&reply);
    }
    if (!smtpd_milter_helo(s)) {
        strbuf_reset(&s->helo);
        return;
    }
    s->cnt_ok[ehlo ? CNT_EHLO : CNT_HELO]++;
    if (!ehlo) {
        smtpd_reply(s, "250 %s", smtpd_params.myhostname);
        return;
    }
    reply_line(s, false, smtpd_params.myhostname);
    reply_line(s, false, "PIPELINING");
    if (smtpd_params.message_size_limit > 0) {
        char buf[64];
        snprintf(buf, sizeof(buf), "SIZE %llu",
                 (unsigned long long)smtpd_params.message_size_limit);
        reply_line(s, false, buf);
    } else {
        reply_line(s, false, "SIZE");
    }
    if (!smtpd_params.disable_vrfy)
        reply_line(s, false, "VRFY");
    if (smtpd_tls_offer(s))
        reply_line(s, false, "STARTTLS");
    const char *mechs = smtpd_sasl_ehlo(s);
    if (*mechs) {
        (void)stream_printf(s->st, "250-AUTH %s\r\n", mechs);
        if (smtpd_params.broken_auth_clients)
            (void)stream_printf(s->st, "250-AUTH=%s\r\n", mechs);
    }
    reply_line(s, false, "ENHANCEDSTATUSCODES");
    reply_line(s, false, "8BITMIME");
    reply_line(s, false, "DSN");
    if (smtpd_params.smtputf8_enable)
        reply_line(s, false, "SMTPUTF8");
    reply_line(s, true, "CHUNKING");
}

static void do_mail(struct smtpd_state *s, const smtp_cmd *cmd)
{
    strbuf err = STRBUF_INIT;
    if (smtpd_params.helo_required && s->helo.len == 0) {
        smtpd_reply(s, "503 5.5.1 Error: send HELO/EHLO first");
        return;
    }
    if (smtpd_tls_required(s)) {
        smtpd_reply(s, "530 5.7.0 Must issue a STARTTLS command first");
        return;
    }
    if (s->have_mail) {
        smtpd_reply(s, "503 5.5.1 Error: nested MAIL command");
        return;
    }
    if ((cmd->params & SMTP_PARAM_SMTPUTF8) && !smtpd_params.smtputf8_enable) {
        smtpd_reply(s, "555 5.5.4 Unsupported option: SMTPUTF8");
        return;
    }
    if (cmd->path.has_8bit && !(cmd->params & SMTP_PARAM_SMTPUTF8)) {
        smtpd_reply(s, "553 5.6.7 Must declare SMTPUTF8 to send unicode address");
        return;
    }
    /* Room for the message: queue_minfree, and Postfix's rule that the
     * queue must hold 1.5 x message_size_limit (or the announced SIZE). */
    uint64_t need = smtpd_params.message_size_limit / 2 * 3;
    if (cmd->params & SMTP_PARAM_SIZE)
        need = cmd->size;
    uint64_t minfree = smtpd_params.queue_minfree;
    if (queue_space_check(smtpd_params.queue_dir, minfree, need, &err) < 0) {
        msg_warn("%s", strbuf_str(&err));
        smtpd_reply(s, "452 4.3.1 Insufficient system storage");
        smtpd_log_reject(s, "MAIL", "452 4.3.1 Insufficient system storage", NULL);
        strbuf_release(&err);
        return;
    }
    strbuf_release(&err);
    smtpd_reset(s);
    s->have_mail = true;
    smtpd_policy_new_instance(s);
    if ((cmd->params & SMTP_PARAM_AUTH) && smtpd_params.sasl_enable && !strbuf_eq(&cmd->auth, "<>"))
        addr_sanitize(&s->sasl_sender, cmd->auth.s, cmd->auth.len, cmd->auth.len, true);
    strbuf_set(&s->sender, strbuf_str(&cmd->path.addr));
    s->mail_size = cmd->size;
    s->body = cmd->body;
    s->ret = cmd->ret;
    s->smtputf8 = (cmd->params & SMTP_PARAM_SMTPUTF8) != 0;
    if (cmd->params & SMTP_PARAM_ENVID)
        addr_sanitize(&s->envid, cmd->envid.s, cmd->envid.len, SMTP_ENVID_MAX, false);
    if (!smtpd_check_delay_reject()) {
        strbuf reply = STRBUF_INIT;
        if (smtpd_check_mail(s, &reply) != 0) {
            smtpd_reply(s, "%s", strbuf_str(&reply));
            smtpd_reset(s);
            strbuf_release(&reply);
            return;
        }
        strbuf_release(&reply);
    }
    if (!smtpd_milter_mail(s, cmd->size)) {
        smtpd_reset(s);
        return;
    }
    s->cnt_ok[CNT_MAIL]++;
    smtpd_reply(s, "250 2.1.0 Ok");
}

static void do_rcpt(struct smtpd_state *s, const smtp_cmd *cmd)
{
    if (!s->have_mail) {
        smtpd_reply(s, "503 5.5.1 Error: need MAIL command");
        return;
    }
    if (s->bdat_active) {
        smtpd_reply(s, "503 5.5.1 Error: RCPT after BDAT");
        return;
    }
    if (cmd->path.has_8bit && !s->smtputf8) {
        smtpd_reply(s, "553 5.6.7 Must declare SMTPUTF8 to send unicode address");
        return;
    }
    if (s->rcpt_count >= smtpd_params.recipient_limit) {
        /* Beyond the overshoot, each further RCPT also counts as an error
         * (smtpd_reply counts the 452 itself). */
        if (++s->rcpt_overshoot <= smtpd_params.overshoot_limit)
            s->error_count--;
        smtpd_reply(s, "452 4.5.3 Error: too many recipients");
        return;
    }
    if (s->cc)
        (void)smtpd_queue_id(s); /* this RCPT's log lines and policy have the ID */
    if (s->open_error.len) {
        smtpd_reply(s, "%s", strbuf_str(&s->open_error));
        return;
    }
    const char *rcpt = strbuf_str(&cmd->path.addr);
    strbuf reply = STRBUF_INIT;
    if (smtpd_check_rcpt(s, rcpt, &reply) != 0) {
        smtpd_reply(s, "%s", strbuf_str(&reply));
        strbuf_release(&reply);
        return;
    }
    strbuf_release(&reply);
    if (!smtpd_milter_rcpt(s, rcpt))
        return;
    if (!s->cc && !smtpd_open_queue(s))
        return;
    strbuf orcpt = STRBUF_INIT;
    if (cmd->params & SMTP_PARAM_ORCPT) {
        addr_sanitize(&orcpt, cmd->orcpt_type.s, cmd->orcpt_type.len, 20, false);
        strbuf tmp = STRBUF_INIT;
        addr_sanitize(&tmp, cmd->orcpt_addr.s, cmd->orcpt_addr.len, SMTP_ORCPT_MAX, true);
        strbuf_putc(&orcpt, ';');
        strbuf_append(&orcpt, tmp.s, tmp.len);
        strbuf_release(&tmp);
    }
    (void)cleanup_client_rcpt(s->cc, rcpt, rcpt, orcpt.len ? strbuf_str(&orcpt) : NULL,
                              (int)cmd->notify);
    strbuf_release(&orcpt);
    strbuf_set(&s->last_rcpt, rcpt);
    s->rcpt_count++;
    s->cnt_ok[CNT_RCPT]++;
    smtpd_reply(s, "250 2.1.5 Ok");
}

static void do_vrfy(struct smtpd_state *s, const smtp_cmd *cmd)
{
    if (smtpd_params.disable_vrfy) {
        smtpd_reply(s, "502 5.5.1 VRFY command is disabled");
        return;
    }
    if (smtpd_tls_required(s)) {
        smtpd_reply(s, "530 5.7.0 Must issue a STARTTLS command first");
        return;
    }
    if (cmd->arg.len == 0) {
        smtpd_reply(s, "501 5.5.4 Syntax: VRFY address");
        return;
    }
    strbuf addr = STRBUF_INIT, err = STRBUF_INIT, reply = STRBUF_INIT;
    addr_path path = ADDR_PATH_INIT;
    size_t used = 0;
    if (addr_parse_path(&path, cmd->arg.s, cmd->arg.len, &used, 0, NULL, &err) < 0 ||
        path.addr.len == 0) {
        smtpd_reply(s, "501 5.1.3 Bad recipient address syntax");
    } else if (smtpd_check_vrfy(s, strbuf_str(&path.addr), &reply) != 0) {
        smtpd_reply(s, "%s", strbuf_str(&reply));
    } else {
        addr_externalize(&addr, path.addr.s, path.addr.len);
        s->cnt_ok[CNT_VRFY]++;
        smtpd_reply(s, "252 2.0.0 %s", strbuf_str(&addr));
    }
    addr_path_release(&path);
    strbuf_release(&addr);
    strbuf_release(&err);
    strbuf_release(&reply);
}

static enum smtpd_counter counter_of(enum smtp_verb v)
{
    switch (v) {
    case SMTP_VERB_HELO:
        return CNT_HELO;
    case SMTP_VERB_EHLO:
        return CNT_EHLO;
    case SMTP_VERB_STARTTLS:
        return CNT_STARTTLS;
    case SMTP_VERB_AUTH:
        return CNT_AUTH;
    case SMTP_VERB_MAIL:
        return CNT_MAIL;
    case SMTP_VERB_RCPT:
        return CNT_RCPT;
    case SMTP_VERB_DATA:
        return CNT_DATA;
    case SMTP_VERB_BDAT:
        return CNT_BDAT;
    case SMTP_VERB_RSET:
        return CNT_RSET;
    case SMTP_VERB_NOOP:
        return CNT_NOOP;
    case SMTP_VERB_VRFY:
        return CNT_VRFY;
    case SMTP_VERB_ETRN:
        return CNT_ETRN;
    case SMTP_VERB_QUIT:
        return CNT_QUIT;
    case SMTP_VERB_HELP:
        return CNT_HELP;
    default:
        return CNT_UNKNOWN;
    }
}

static void log_disconnect(struct smtpd_state *s)
{
    strbuf line = STRBUF_INIT;
    unsigned ok = 0, all = 0;
    strbuf_printf(&line, "disconnect from %s", strbuf_str(&s->namaddr));
    for (int i = 0; i < CNT_COUNT; i++) {
        if (s->cnt_all[i] == 0)
            continue;
        ok += s->cnt_ok[i];
        all += s->cnt_all[i];
        if (s->cnt_ok[i] == s->cnt_all[i])
            strbuf_printf(&line, " %s=%u", counter_names[i], s->cnt_all[i]);
        else
            strbuf_printf(&line, " %s=%u/%u", counter_names[i], s->cnt_ok[i], s->cnt_all[i]);
    }
    if (ok == all)
        strbuf_printf(&line, " commands=%u", all);
    else
        strbuf_printf(&line, " commands=%u/%u", ok, all);
    msg_info("%s", strbuf_str(&line));
    strbuf_release(&line);
}

/* One command. Returns false when the session is over. */
static bool one_command(struct smtpd_state *s, strbuf *line, smtp_cmd *cmd)
{
    if (smtpd_params.per_request_deadline)
        stream_set_deadline_in(s->st, smtpd_params.timeout_s * 1000);
    int rc = stream_read_line(s->st, line, smtpd_params.line_limit);
    stream_clear_deadline(s->st);
    if (rc == STREAM_TIMEOUT) {
        msg_info("timeout after %s from %s", s->where, strbuf_str(&s->namaddr));
        smtpd_reply(s, "421 4.4.2 %s Error: timeout exceeded", smtpd_params.myhostname);
        return false;
    }
    if (rc < 0 || rc == STREAM_LINE_PARTIAL) {
        msg_info("lost connection after %s from %s", s->where, strbuf_str(&s->namaddr));
        return false;
    }
    if (rc == STREAM_LINE_TOOLONG) {
        strbuf shown = STRBUF_INIT;
        addr_sanitize(&shown, line->s, line->len, 30, false);
        msg_warn("%s: request longer than %zu: %s...", strbuf_str(&s->namaddr),
                 smtpd_params.line_limit, strbuf_str(&shown));
        strbuf_release(&shown);
        if (stream_skip_line(s->st) < 0) {
            msg_info("lost connection after %s from %s", s->where, strbuf_str(&s->namaddr));
            return false;
        }
    }
    smtp_cmd_opts opts = {
        .strict_rfc821 = smtpd_params.strict_rfc821,
        .utf8_addresses = smtpd_params.smtputf8_enable,
        .message_size_limit = smtpd_params.message_size_limit,
        .limits = NULL,
        .truncated = rc == STREAM_LINE_TOOLONG,
    };
    int prc = smtp_cmd_parse(cmd, line->s ? line->s : "", line->len, &opts);
    enum smtpd_counter cnt = counter_of(cmd->verb);

    if (rc == STREAM_LINE_LF && smtpd_params.forbid_bare_reject && !s->stand_alone) {
        smtpd_reply(s, "%d 5.5.2 Error: bare <LF> received", smtpd_params.bare_code);
        /* A chunk follows a BDAT line: unread, it would be taken for commands. */
        return cmd->verb != SMTP_VERB_BDAT;
    }

    if (cmd->verb == SMTP_VERB_UNKNOWN) {
        size_t wl = strcspn(line->s ? line->s : "", " \t");
        if (smtp_cmd_forbidden(line->s ? line->s : "", wl, &forbidden_words, forbidden_nonletter)) {
            strbuf shown = STRBUF_INIT;
            addr_sanitize(&shown, line->s, line->len, 100, false);
            msg_warn("non-SMTP command from %s: %s", strbuf_str(&s->namaddr), strbuf_str(&shown));
            strbuf_release(&shown);
            s->cnt_all[CNT_UNKNOWN]++;
            (void)stream_printf(s->st, "%s\r\n", SMTP_FORBIDDEN_REPLY);
            return false;
        }
    }
    /* Pipelining nobody offered: after HELO, or before any EHLO. */
    if (smtpd_params.forbid_unauth_pipelining && !s->stand_alone && !s->extended &&
        cmd->verb != SMTP_VERB_QUIT && stream_input_pending(s->st) > 0) {
        strbuf shown = STRBUF_INIT;
        addr_sanitize(&shown, line->s, line->len, 100, false);
        msg_info("improper command pipelining after %s from %s: %s", smtp_verb_name(cmd->verb),
                 strbuf_str(&s->namaddr), strbuf_str(&shown));
        strbuf_release(&shown);
        s->cnt_all[cnt]++;
        smtpd_reply(s, "554 5.5.0 Error: SMTP protocol synchronization");
        return false;
    }
    note_ill_pipelining(s, cmd);
    if (cmd->verb != SMTP_VERB_DATA && cmd->verb != SMTP_VERB_BDAT)
        s->cnt_all[cnt]++;
    s->where = smtp_verb_name(cmd->verb);
    if (cmd->verb == SMTP_VERB_UNKNOWN)
        s->where = "UNKNOWN";

    if (s->access_denied && cmd->verb != SMTP_VERB_QUIT) {
        smtpd_reply(s, "503 5.7.0 Error: access denied for %s", strbuf_str(&s->namaddr));
        s->error_count++;
        return true;
    }

    if (prc < 0) {
        if (cmd->verb == SMTP_VERB_DATA || cmd->verb == SMTP_VERB_BDAT)
            s->cnt_all[cnt]++;
        if (cmd->verb == SMTP_VERB_BDAT && cmd->reply.close) {
            strbuf shown = STRBUF_INIT;
            addr_sanitize(&shown, line->s, line->len, 100, false);
            const char *id = smtpd_queue_id(s);
            msg_warn("%s: malformed BDAT command syntax from %s: %s", id ? id : "NOQUEUE",
                     strbuf_str(&s->namaddr), strbuf_str(&shown));
            strbuf_release(&shown);
        }
        strbuf r = STRBUF_INIT;
        smtp_reply_format(&cmd->reply, &r);
        smtpd_reply(s, "%s", strbuf_str(&r));
        strbuf_release(&r);
        if (cmd->verb == SMTP_VERB_MAIL || cmd->verb == SMTP_VERB_RCPT) {
            /* already logged by nobody: Postfix does not log syntax errors */
        }
        return !cmd->reply.close;
    }

    switch (cmd->verb) {
    case SMTP_VERB_HELO:
        do_helo(s, cmd, false);
        break;
    case SMTP_VERB_EHLO:
        do_helo(s, cmd, true);
        break;
    case SMTP_VERB_MAIL:
        do_mail(s, cmd);
        break;
    case SMTP_VERB_RCPT:
        do_rcpt(s, cmd);
        break;
    case SMTP_VERB_DATA:
        smtpd_data(s);
        break;
    case SMTP_VERB_BDAT:
        smtpd_bdat(s, cmd);
        break;
    case SMTP_VERB_RSET:
        smtpd_reset(s);
        s->cnt_ok[cnt]++;
        smtpd_reply(s, "250 2.0.0 Ok");
        break;
    case SMTP_VERB_NOOP:
        s->cnt_ok[cnt]++;
        smtpd_reply(s, "250 2.0.0 Ok");
        break;
    case SMTP_VERB_QUIT:
        s->cnt_ok[cnt]++;
        smtpd_reply(s, "221 2.0.0 Bye");
        return false;
    case SMTP_VERB_HELP:
        s->cnt_ok[cnt]++;
        smtpd_reply(s, "214 2.0.0 Commands: HELO EHLO MAIL RCPT DATA BDAT RSET NOOP VRFY QUIT");
        break;
    case SMTP_VERB_VRFY:
        do_vrfy(s, cmd);
        break;
    case SMTP_VERB_STARTTLS:
        smtpd_starttls(s, cmd);
        break;
    case SMTP_VERB_AUTH:
        smtpd_sasl_auth(s, cmd);
        break;
    case SMTP_VERB_ETRN:
    case SMTP_VERB_XCLIENT:
    case SMTP_VERB_XFORWARD:
        smtpd_reply(s, "502 5.5.1 Error: command not implemented");
        break;
    case SMTP_VERB_EXPN: /* not in Postfix's smtpd either: unknown there */
    case SMTP_VERB_LHLO: /* lmtp's greeting, not an SMTP command */
    case SMTP_VERB_UNKNOWN:
        if (cmd->verb == SMTP_VERB_UNKNOWN && !smtpd_milter_unknown(s, line))
            break; /* a milter answered it */
        smtpd_reply(s, "500 5.5.2 Error: command not recognized");
        break;
    }
    /* NOOP/VRFY/RSET/HELP floods count as errors past the junk limit. */
    if (cmd->verb == SMTP_VERB_NOOP || cmd->verb == SMTP_VERB_VRFY || cmd->verb == SMTP_VERB_RSET ||
        cmd->verb == SMTP_VERB_HELP) {
        if (++s->junk_count > smtpd_params.junk_limit)
            s->error_count++;
    }
    return !s->quit;
}

/* Returns whether fd is a socket (getpeername worked), so the stream
 * need not fstat it to find out. */
static bool describe_client(struct smtpd_state *s, int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    bool is_socket = getpeername(fd, (struct sockaddr *)&ss, &len) == 0;
    if (!is_socket || ss.ss_family == AF_UNIX) {
        /* stdin mode (-S) or a local socket: Postfix says localhost. */
        strbuf_set(&s->name, "localhost");
        strbuf_set(&s->addr, "127.0.0.1");
    } else {
        sock_addr_str((struct sockaddr *)&ss, len, &s->addr);
        s->remote_port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                        : ((struct sockaddr_in *)&ss)->sin_port);
        struct sockaddr_storage ls;
        socklen_t llen = sizeof(ls);
        if (getsockname(fd, (struct sockaddr *)&ls, &llen) == 0 && ls.ss_family != AF_UNIX) {
            sock_addr_str((struct sockaddr *)&ls, llen, &s->local_addr);
            s->local_port = ntohs(ls.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ls)->sin6_port
                                                           : ((struct sockaddr_in *)&ls)->sin_port);
        }
        strbuf desc = STRBUF_INIT;
        if (config_get_bool("smtpd_peername_lookup")) {
            /* The address from above: no second getpeername. */
            sock_peer_describe_addr((struct sockaddr *)&ss, len, true, &desc);
            const char *b = strchr(strbuf_str(&desc), '[');
            strbuf_reset(&s->name);
            strbuf_append(&s->name, desc.s, b ? (size_t)(b - desc.s) : desc.len);
        } else {
            strbuf_set(&s->name, "unknown");
        }
        strbuf_release(&desc);
    }
    strbuf_reset(&s->namaddr);
    strbuf_printf(&s->namaddr, "%s[%s]", strbuf_str(&s->name), strbuf_str(&s->addr));
    strbuf_reset(&s->rfc_addr);
    if (strchr(strbuf_str(&s->addr), ':'))
        strbuf_puts(&s->rfc_addr, "IPv6:");
    strbuf_puts(&s->rfc_addr, strbuf_str(&s->addr));
    return is_socket;
}

/* A client that is still sending when we hang up would get a reset, and a
 * reset can destroy our last reply (421 ...) before the client reads it.
 * So stop writing, then swallow input for a short, bounded while. */
static void linger_close(struct smtpd_state *s, int fd)
{
    char buf[4096];
    size_t total = 0;
    if (shutdown(fd, SHUT_WR) < 0)
        return;
    stream_set_deadline_in(s->st, 1000);
    while (total < (1u << 20)) {
        ssize_t n = stream_read(s->st, buf, sizeof(buf));
        if (n <= 0)
            break;
        total += (size_t)n;
    }
    stream_clear_deadline(s->st);
}

static void smtpd_serve(int fd, const char *service, char **args)
{
    struct smtpd_state s;
    memset(&s, 0, sizeof(s));
    s.st = describe_client(&s, fd) ? stream_open_socket(fd) : stream_open(fd);
    s.protocol = "SMTP";
    s.where = "CONNECT";
    /* sendmail -bs: a script may write the whole dialog before reading a
     * reply. The early-talker and bare-newline checks are for network
     * clients only, as Postfix's are. */
    s.stand_alone = service_stand_alone();
    stream_set_timeout(s.st, (int)smtpd_params.timeout_s * 1000);
    msg_info("connect from %s", strbuf_str(&s.namaddr));
    /* smtps: TLS from the first byte (the client speaks first). */
    if (smtpd_params.tls_wrapper && !smtpd_tls_wrapper_start(&s))
        goto done;
    /* Before the banner, as Postfix: an over-limit client gets 421 instead. */
    if (!smtpd_limit_connect(&s, service))
        goto done;

    /* Pre-greeting pipelining: a real SMTP client waits for the banner, so
     * input before it means a bot or a smuggling attempt. We look for input
     * already there without sleeping: a wait here is latency every honest
     * client pays (a 100 ms wait capped each smtpd at 10 sessions/s, which
     * dominated our throughput), and Postfix's smtpd does not wait either.
     * Commands that arrive after the banner but before our replies are
     * still caught by smtpd_forbid_unauth_pipelining in one_command().
     * smtpd_pregreet_wait buys the stronger test for that much latency. */
    if (!s.stand_alone && !smtpd_params.forbid_unauth_pipelining &&
        stream_input_ready(s.st, smtpd_params.pregreet_wait_ms)) {
        /* Postfix's way: the session goes on, reject_unauth_pipelining
         * refuses it where it is listed. The input stays for the command
         * loop, so only the fact is logged. */
        s.ill_pipelining = true;
        log_ill_pipelining(&s, "CONNECT");
    } else if (!s.stand_alone && stream_input_ready(s.st, smtpd_params.pregreet_wait_ms)) {
        strbuf peek = STRBUF_INIT;
        int rc = stream_read_line(s.st, &peek, 100);
        if (rc >= 0 && rc != STREAM_LINE_PARTIAL) {
            strbuf shown = STRBUF_INIT;
            addr_sanitize(&shown, peek.s, peek.len, 100, false);
            msg_info("improper command pipelining after CONNECT from %s: %s",
                     strbuf_str(&s.namaddr), strbuf_str(&shown));
            strbuf_release(&shown);
            smtpd_reply(&s, "554 5.5.0 Error: SMTP protocol synchronization");
        }
        strbuf_release(&peek);
        goto done;
    }
    strbuf denied = STRBUF_INIT;
    if (!smtpd_check_delay_reject() && smtpd_check_client(&s, &denied) != 0) {
        /* Postfix: the reject replaces the banner; every command but QUIT
         * then gets 503. */
        s.access_denied = true;
        s.error_count++;
        smtpd_reply(&s, "%s", strbuf_str(&denied));
    } else {
        smtpd_reply(&s, "220 %s", config_get("smtpd_banner"));
    }
    strbuf_release(&denied);
    if (!s.access_denied)
        smtpd_milter_connect(&s);

    strbuf line = STRBUF_INIT;
    smtp_cmd cmd;
    smtp_cmd_init(&cmd);
    for (;;) {
        if (smtpd_flush(&s) < 0) {
            msg_info("lost connection after %s from %s", s.where, strbuf_str(&s.namaddr));
            break;
        }
        if (s.error_count >= smtpd_params.hard_error_limit) {
            msg_info("too many errors after %s from %s", s.where, strbuf_str(&s.namaddr));
            smtpd_reply(&s, "421 4.7.0 %s Error: too many errors", smtpd_params.myhostname);
            break;
        }
        if (!one_command(&s, &line, &cmd))
            break;
    }
    smtp_cmd_release(&cmd);
    strbuf_release(&line);
done:
    (void)smtpd_flush(&s);
    smtpd_tls_close(&s);
    linger_close(&s, fd);
    smtpd_limit_disconnect();
    smtpd_reset(&s);
    smtpd_milter_disconnect(&s);
    log_disconnect(&s);
    (void)stream_release(&s.st);
    smtp_data_release(&s.data);
    strbuf_release(&s.name);
    strbuf_release(&s.addr);
    strbuf_release(&s.namaddr);
    strbuf_release(&s.rfc_addr);
    strbuf_release(&s.helo);
    strbuf_release(&s.sender);
    strbuf_release(&s.envid);
    strbuf_release(&s.sasl_sender);
    strbuf_release(&s.queue_id);
    strbuf_release(&s.open_error);
    strbuf_release(&s.last_rcpt);
    strbuf_release(&s.prepend);
    smtpd_check_reset_actions(&s);
    strbuf_release(&s.reply);
    smtpd_sasl_reset(&s);
    strbuf_release(&s.sasl_mechs);
    strbuf_release(&s.sasl_method);
    strbuf_release(&s.sasl_username);
    strbuf_release(&s.local_addr);
}

int main(int argc, char **argv)
{
    static const struct service_ops ops = {
        .mode = SERVICE_SINGLE,
        .pre_init = smtpd_pre_init,
        .post_init = smtpd_init,
        .serve = smtpd_serve,
    };
    signal(SIGPIPE, SIG_IGN);
    service_main("smtpd", argc, argv, &ops);
}
