/* smtp - the SMTP and LMTP delivery agent.
 *
 * Serves one qmgr delivery request per connection on private/<service>
 * (lib/global/deliver_request.h): all recipients of one message for one next hop.
 * The next hop is resolved into hosts (MX order, then addresses), which are
 * tried in turn until every recipient has an outcome; what is left when the
 * hosts run out is deferred with the last host's trouble as the reason.
 * Delivered recipients are marked in the queue file before the reply.
 *
 * The same program is LMTP when built as `lmtp` (SMTP_LMTP_MODE) or started
 * with -t lmtp / under the service name "lmtp": LHLO, no MX lookups, and a
 * reply per recipient after the message.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "inet_config.h"
#include "delivery_log.h"
#include "msg.h"
#include "mail_queue.h"
#include "queue_file.h"
#include "service.h"
#include "smtp.h"
#include "sock.h"
#include "strlist.h"

struct smtp_config smtp_cfg;

int64_t smtp_now_us(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
}

void smtp_rcpt_done(struct smtp_state *s, size_t i, enum deliver_status status, const char *dsn,
                    const char *fmt, ...)
{
    struct deliver_rcpt *rc = &s->req->rcpts[i];
    strbuf text = STRBUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    strbuf_vprintf(&text, fmt, ap);
    va_end(ap);
    deliver_rcpt_set(rc, status, dsn, "%s", text.s);

    int64_t done = smtp_now_us();
    int64_t conn = s->conn_us ? s->conn_us : done;
    struct delivery_record rec = {
        .queue_id = s->req->queue_id,
        .recipient = rc->address,
        .orig_recipient = rc->orig_rcpt && *rc->orig_rcpt ? rc->orig_rcpt : rc->address,
        .relay = s->relay.len ? s->relay.s : "none",
        .conn_use = s->conn_use,
        .times = {s->req->arrival_us / 1e6, s->req->active_us / 1e6, s->start_us / 1e6, conn / 1e6,
                  done / 1e6},
        .dsn = dsn,
        .status = deliver_status_name(status),
        .text = text.s,
    };
    delivery_log(&rec);
    if (status == DELIVER_SENT && rc->offset > 0) {
        strbuf err = STRBUF_INIT;
        if (queue_file_mark_recipient(s->msg->fd, rc->offset, QF_RCPT_DELIVERED, &err) < 0)
            msg_warn("%s: cannot mark recipient done: %s", s->req->queue_id, err.s);
        strbuf_release(&err);
    }
    strbuf_release(&text);
}

/* Non-blocking connect bounded by smtp_connect_timeout. */
static int connect_target(const struct smtp_target *t, strbuf *err)
{
    int fd = socket(t->sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        strbuf_printf(err, "socket: %s", strerror(errno));
        return -1;
    }
    if (connect(fd, (const struct sockaddr *)&t->sa, t->salen) == 0)
        return fd;
    if (errno != EINPROGRESS && errno != EAGAIN) {
        strbuf_puts(err, strerror(errno));
        close(fd);
        return -1;
    }
    struct pollfd pfd = {.fd = fd, .events = POLLOUT};
    int64_t deadline =
        smtp_cfg.connect_timeout_ms >= 0 ? stream_now_ms() + smtp_cfg.connect_timeout_ms : -1;
    for (;;) {
        int wait = -1;
        if (deadline >= 0) {
            int64_t left = deadline - stream_now_ms();
            if (left <= 0) {
                strbuf_puts(err, strerror(ETIMEDOUT));
                close(fd);
                return -1;
            }
            wait = left > 1000000 ? 1000000 : (int)left;
        }
        int n = poll(&pfd, 1, wait);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            strbuf_printf(err, "poll: %s", strerror(errno));
            close(fd);
            return -1;
        }
        if (n > 0)
            break;
    }
    int soerr = 0;
    socklen_t len = sizeof(soerr);
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
        soerr = errno;
    if (soerr != 0) {
        strbuf_puts(err, strerror(soerr));
        close(fd);
        return -1;
    }
    return fd;
}

static void describe_target(struct smtp_state *s, const struct smtp_target *t)
{
    strbuf_reset(&s->host_addr);
    strbuf_printf(&s->host_addr, "%s[%s]", t->host, t->addr);
    strbuf_reset(&s->relay);
    if (t->path)
        strbuf_puts(&s->relay, s->host_addr.s);
    else
        strbuf_printf(&s->relay, "%s:%u", s->host_addr.s, t->port);
}

static void finish_pending(struct smtp_state *s, enum deliver_status status, const char *dsn,
                           const char *reason)
{
    for (size_t i = 0; i < s->req->nrcpt; i++)
        if (s->req->rcpts[i].status == DELIVER_PENDING)
            smtp_rcpt_done(s, i, status, dsn, "%s", reason);
}

static bool any_pending(const struct deliver_request *req)
{
    for (size_t i = 0; i < req->nrcpt; i++)
        if (req->rcpts[i].status == DELIVER_PENDING)
            return true;
    return false;
}

/* One message of a request; *kept is the connection the message before
 * left open (NULL: none), and the one this message leaves. */
static void deliver_message(struct deliver_request *req, struct smtp_conn **kept)
{
    struct smtp_message msg = {.fd = -1};
    struct smtp_state s = {.req = req, .msg = &msg, .start_us = smtp_now_us()};
    struct smtp_targets targets = {0};
    struct smtp_tls_policy policy = {0};
    strbuf err = STRBUF_INIT;

    msg.fd = queue_file_open(smtp_cfg.queue_directory, req->queue_name,
                             mail_queue_depth(req->queue_name), req->queue_id, true, &err);
    if (msg.fd < 0) {
        msg_warn("%s: cannot open queue file: %s", req->queue_id, err.s);
        for (size_t i = 0; i < req->nrcpt; i++)
            deliver_rcpt_set(&req->rcpts[i], DELIVER_DEFERRED, "4.3.0",
                             "cannot open queue file: %s", err.s);
        goto out;
    }
    if (smtp_message_scan(&msg, &err) < 0) {
        msg_warn("%s: corrupt queue file: %s", req->queue_id, err.s);
        finish_pending(&s, DELIVER_DEFERRED, "4.3.0", "cannot read queue file");
        goto out;
    }
    if (*kept && !smtp_conn_usable(*kept))
        smtp_conn_close(kept);
    if (*kept) {
        /* The server that took the message before: no lookups, no
         * handshakes (Postfix's connection cache). A connection that broke
         * meanwhile leaves the recipients to a new one below. */
        if (smtp_session_again(&s, kept) != SMTP_SESSION_DONE && any_pending(req))
            msg_info("%s: %s; trying a new connection", req->queue_id, s.last_reason.s);
        if (!any_pending(req))
            goto out;
        s.conn_use = 0;
        strbuf_reset(&s.relay);
    }
    /* The TLS policy first: DANE changes how the next hop is resolved. */
    if (smtp_tls_policy_lookup(req->nexthop, &policy, &err) < 0) {
        msg_warn("%s", err.s);
        finish_pending(&s, DELIVER_DEFERRED, "4.7.5", "client TLS configuration problem");
        goto out;
    }
    bool dane = policy.level == SMTP_TLS_DANE || policy.level == SMTP_TLS_DANE_ONLY;
    if (dane && !smtp_cfg.dnssec) {
        /* Postfix: a configuration problem, warned about; the per-host
         * rules below then fall back (dane) or defer (dane-only). */
        msg_warn("%s: %s configured with dnssec lookups disabled", req->nexthop,
                 smtp_tls_level_name(policy.level));
        dane = false;
    }
    const char *dsn = "4.4.3";
    int rr = smtp_resolve_nexthop_dane(req->nexthop, dane, &targets, &err, &dsn);
    if (rr < 0) {
        finish_pending(&s, rr == SMTP_RESOLVE_PERM ? DELIVER_BOUNCED : DELIVER_DEFERRED, dsn,
                       err.s);
        goto out;
    }
    strbuf_set(&s.last_reason, "no mail server could be reached");
    s.last_dsn = "4.4.1";
    for (size_t k = 0; k < targets.n && any_pending(req); k++) {
        const struct smtp_target *t = &targets.v[k];
        describe_target(&s, t);
        s.target = t;
        s.no_tls = false;
        struct smtp_tls_session ts;
        const char *tdsn = "4.7.5";
        strbuf_reset(&err);
        if (t->path == NULL && smtp_tls_session_init(&ts, &policy, t->dest ? t->dest : req->nexthop,
                                                     t, &err, &tdsn) < 0) {
            /* This host cannot be used as the policy demands (dane-only
             * without usable TLSA, a TLSA lookup error): the next one may. */
            strbuf_set(&s.last_reason, err.s);
            s.last_dsn = tdsn;
            s.last_permanent = false;
            msg_info("%s: %s", req->queue_id, s.last_reason.s);
            smtp_tls_session_release(&ts);
            continue;
        }
        if (t->path) { /* LMTP over a UNIX socket: no TLS */
            memset(&ts, 0, sizeof(ts));
            ts.level = SMTP_TLS_NONE;
        }
        s.tls = &ts;
        for (int attempt = 0; attempt < 2; attempt++) {
            strbuf_reset(&err);
            s.conn_us = 0;
            int fd = connect_target(t, &err);
            if (fd < 0) {
                strbuf_reset(&s.last_reason);
                strbuf_printf(&s.last_reason, "connect to %s: %s", s.relay.s, err.s);
                s.last_dsn = "4.4.1";
                s.last_permanent = false;
                msg_info("%s", s.last_reason.s);
                break;
            }
            /* Sender-dependent credentials belong to one message only. */
            int r = smtp_session(&s, fd, smtp_cfg.sasl.sender_auth ? NULL : kept);
            if (r == SMTP_SESSION_TLS_RETRY && !s.no_tls) {
                s.no_tls = true; /* opportunistic TLS: plaintext beats no delivery */
                continue;
            }
            if (r == SMTP_SESSION_TRY_NEXT)
                msg_info("%s: %s", req->queue_id, s.last_reason.s);
            break;
        }
        s.tls = NULL;
        smtp_tls_session_release(&ts);
    }
    if (any_pending(req)) {
        /* No server gave any recipient an answer: the destination as a
         * whole is unreachable (refused, timed out, broke the handshake),
         * which qmgr's concurrency feedback must tell from a 4xx for some
         * recipients. */
        bool none_answered = true;
        for (size_t i = 0; i < req->nrcpt; i++)
            none_answered &= req->rcpts[i].status == DELIVER_PENDING;
        req->site_failure = none_answered && !s.last_permanent;
        /* Postfix bounces only when the last server refused permanently. */
        if (!s.last_permanent)
            strbuf_reset(&s.relay);
        finish_pending(&s, s.last_permanent ? DELIVER_BOUNCED : DELIVER_DEFERRED,
                       s.last_dsn ? s.last_dsn : "4.4.1", s.last_reason.s);
    }
out:
    if (msg.fd >= 0)
        close(msg.fd);
    smtp_tls_policy_release(&policy);
    smtp_targets_free(&targets);
    strbuf_release(&s.relay);
    strbuf_release(&s.host_addr);
    strbuf_release(&s.last_reason);
    strbuf_release(&err);
}

/* A request: message 0, then the rest of its batch (one next hop), over
 * one connection while it stays usable. */
static void process_request(struct deliver_request *req)
{
    struct smtp_conn *kept = NULL;
    deliver_message(req, &kept);
    /* After a failure of the destination as a whole the rest is not
     * attempted: left without outcomes, it goes back to qmgr's queue, and
     * qmgr's feedback decides (a dead destination is not tried again and
     * again, each time waiting for the connect timeout). */
    bool down = req->site_failure;
    for (size_t j = 0; j < req->nbatch && !down; j++) {
        deliver_message(&req->batch[j], &kept);
        down = req->batch[j].site_failure;
    }
    smtp_conn_close(&kept);
}

static void smtp_serve(int fd, const char *service, char **args)
{
    (void)service;
    (void)args;
    deliver_request_serve(fd, process_request);
}

/* Whether the TLS policy table can be watched for changes (smtp_init). */
static bool tls_policy_watch;

/* A rebuilt password table is seen by a fresh process (Postfix does the
 * same): the open Berkeley DB handle keeps the old contents, and reopening
 * needs root. */
static void smtp_pre_accept(const char *service, char **args)
{
    (void)service;
    (void)args;
    maps *tables[] = {smtp_cfg.sasl.passwd, tls_policy_watch ? smtp_cfg.tls_policy : NULL};
    for (size_t k = 0; k < sizeof(tables) / sizeof(tables[0]); k++) {
        maps *pw = tables[k];
        for (size_t i = 0; pw && i < maps_count(pw); i++) {
            if (map_changed(maps_get(pw, i))) {
                msg_info("table %s has changed -- restarting", map_spec(maps_get(pw, i)));
                exit(0);
            }
        }
    }
}

/* The full parameter name <prefix><name>: smtp_* or lmtp_* (valid until
 * the next call). */
static const char *param_name(const char *name)
{
    static strbuf buf;
    strbuf_set(&buf, smtp_cfg.lmtp ? "lmtp_" : "smtp_");
    strbuf_puts(&buf, name);
    return buf.s;
}

static const char *param(const char *name)
{
    return config_get(param_name(name));
}

static long long param_time(const char *name)
{
    return config_get_time(param_name(name));
}

static long long param_int(const char *name)
{
    return config_get_int(param_name(name));
}

static int timeout_ms(const char *name)
{
    long long sec = param_time(name);
    if (sec <= 0)
        return -1; /* Postfix: 0 means no time limit */
    if (sec > 86400)
        sec = 86400;
    return (int)(sec * 1000);
}

static bool is_lmtp(const char *service)
{
#ifdef SMTP_LMTP_MODE
    (void)service;
    return true;
#else
    return strcmp(service, "lmtp") == 0 || strcmp(service_transport(), "lmtp") == 0;
#endif
}

/* The smtp_tls_* (lmtp_tls_*) settings, and the TLS context made from
 * them: as root before any chroot, since trust anchor files
 * (smtp_tls_CAfile, often under a root-only directory) must be read before
 * the privilege drop, as Postfix does. */
static void tls_init(void)
{
    smtp_cfg.tls_servername = param("tls_servername");
    smtp_cfg.tls_protocols = param("tls_protocols");
    smtp_cfg.tls_ciphers = param("tls_ciphers");
    smtp_cfg.tls_exclude_ciphers = param("tls_exclude_ciphers");
    smtp_cfg.tls_CAfile = param("tls_CAfile");
    smtp_cfg.tls_CApath = param("tls_CApath");
    smtp_cfg.tls_mandatory_protocols = param("tls_mandatory_protocols");
    smtp_cfg.tls_mandatory_ciphers = param("tls_mandatory_ciphers");
    smtp_cfg.tls_mandatory_exclude_ciphers = param("tls_mandatory_exclude_ciphers");
    smtp_cfg.tls_verify_match = param("tls_verify_cert_match");
    smtp_cfg.tls_secure_match = param("tls_secure_cert_match");
    smtp_cfg.tls_fingerprint_match = param("tls_fingerprint_cert_match");
    smtp_cfg.tls_fingerprint_digest = param("tls_fingerprint_digest");
    smtp_cfg.tls_trust_anchor_file = param("tls_trust_anchor_file");
    /* smtp_dns_support_level: empty (the resolver's defaults), disabled,
     * enabled, dnssec (DNSSEC-validated answers, which DANE needs). */
    const char *dsl = smtp_cfg.dns_support_level = param("dns_support_level");
    if (*dsl && strcasecmp(dsl, "disabled") != 0 && strcasecmp(dsl, "enabled") != 0 &&
        strcasecmp(dsl, "dnssec") != 0)
        msg_fatal("%sdns_support_level = %s: unknown value (use disabled, enabled or dnssec)",
                  smtp_cfg.lmtp ? "lmtp_" : "smtp_", dsl);
    smtp_cfg.dnssec = strcasecmp(dsl, "dnssec") == 0;
    smtp_cfg.tls_session_cache =
        *param("tls_session_cache_database") && param_time("tls_session_cache_timeout") > 0;

    const char *level = param("tls_security_level");
    if (*level == 0) {
        bool use = config_get_bool(smtp_cfg.lmtp ? "lmtp_use_tls" : "smtp_use_tls");
        bool enforce = config_get_bool(smtp_cfg.lmtp ? "lmtp_enforce_tls" : "smtp_enforce_tls");
        /* Postfix's legacy mapping: enforcing TLS also verified the
         * server's name unless smtp_tls_enforce_peername = no. */
        bool peername = config_get_bool(smtp_cfg.lmtp ? "lmtp_tls_enforce_peername"
                                                      : "smtp_tls_enforce_peername");
        level = enforce ? (peername ? "verify" : "encrypt") : use ? "may" : "none";
    }
    if (smtp_tls_level_parse(level, &smtp_cfg.tls_level) < 0)
        msg_fatal("%stls_security_level = %s: unknown level (use none, may, encrypt, dane, "
                  "dane-only, fingerprint, verify or secure)",
                  smtp_cfg.lmtp ? "lmtp_" : "smtp_", level);

    if (smtp_cfg.tls_level != SMTP_TLS_NONE || smtp_cfg.tls_policy) {
        strbuf reason = STRBUF_INIT;
        if (!smtp_tls_context(&reason))
            msg_warn("cannot make the TLS client context: %s", reason.s);
        strbuf_release(&reason);
    }
}

/* As root: the SASL password table is normally readable by root only. */
static void smtp_pre_init(const char *service, char **args)
{
    (void)args;
    bool lmtp = is_lmtp(service);
    smtp_sasl_init(lmtp);
    /* The TLS policy table, like the password table, before any chroot. */
    const char *name = lmtp ? "lmtp_tls_policy_maps" : "smtp_tls_policy_maps";
    const char *list = config_get(name);
    if (*list) {
        strbuf err = STRBUF_INIT;
        /* A broken table defers mail (4.7.5) instead of killing every
         * delivery agent, as in Postfix. */
        smtp_cfg.tls_policy = maps_open(name, list, MAP_SURROGATE, &err);
        if (!smtp_cfg.tls_policy)
            msg_fatal("%s", err.s);
        strbuf_release(&err);
    }
    smtp_cfg.lmtp = lmtp;
    smtp_cfg.starttls_timeout_ms = timeout_ms("starttls_timeout");
    tls_init();
}

static void smtp_init(const char *service, char **args)
{
    (void)args;
    smtp_cfg.lmtp = is_lmtp(service);
    signal(SIGPIPE, SIG_IGN);
    /* Opened as root outside any chroot: from inside one (or without the
     * privileges) its file may be invisible, which would look like a
     * change before every request. */
    tls_policy_watch = smtp_cfg.tls_policy && !maps_changed(smtp_cfg.tls_policy);
    if (smtp_cfg.tls_policy && !tls_policy_watch)
        msg_warn("%stls_policy_maps: its files are not visible to this process (chroot or "
                 "permissions): changes take effect after \"postfix reload\"",
                 smtp_cfg.lmtp ? "lmtp_" : "smtp_");
    srandom((unsigned)(time(NULL) ^ (getpid() << 16)));
    /* The skeleton has changed (and maybe chrooted, as Debian's master.cf
     * does) to queue_directory: relative names work in both cases. */
    smtp_cfg.queue_directory = ".";
    smtp_cfg.myhostname = config_get("myhostname");
    smtp_cfg.helo_name = param(smtp_cfg.lmtp ? "lhlo_name" : "helo_name");
    smtp_cfg.connect_timeout_ms = timeout_ms("connect_timeout");
    smtp_cfg.helo_timeout_ms = timeout_ms(smtp_cfg.lmtp ? "lhlo_timeout" : "helo_timeout");
    smtp_cfg.mail_timeout_ms = timeout_ms("mail_timeout");
    smtp_cfg.rcpt_timeout_ms = timeout_ms("rcpt_timeout");
    smtp_cfg.data_init_timeout_ms = timeout_ms("data_init_timeout");
    smtp_cfg.data_xfer_timeout_ms = timeout_ms("data_xfer_timeout");
    smtp_cfg.data_done_timeout_ms = timeout_ms("data_done_timeout");
    smtp_cfg.quit_timeout_ms = timeout_ms("quit_timeout");
    smtp_cfg.starttls_timeout_ms = timeout_ms("starttls_timeout");
    smtp_cfg.line_limit = 4096;
    smtp_cfg.mx_address_limit =
        (int)config_get_int(smtp_cfg.lmtp ? "lmtp_mx_address_limit" : "smtp_mx_address_limit");
    smtp_cfg.fallback_relay = param("fallback_relay");
    smtp_cfg.reuse_count_limit = param_int("connection_reuse_count_limit");
    smtp_cfg.reuse_time_limit_ms = param_time("connection_reuse_time_limit") * 1000;
    /* smtp_host_lookup: dns and/or native; disable_dns_lookups overrides. */
    strlist methods = STRLIST_INIT;
    strlist_split(&methods, param("host_lookup"), ", \t\r\n", NULL);
    smtp_cfg.dns = false;
    for (size_t i = 0; i < methods.n; i++) {
        if (strcasecmp(methods.v[i], "dns") == 0)
            smtp_cfg.dns = true;
        else if (strcasecmp(methods.v[i], "native") != 0)
            msg_fatal("%shost_lookup: unknown method \"%s\" (use dns, native)",
                      smtp_cfg.lmtp ? "lmtp_" : "smtp_", methods.v[i]);
    }
    strlist_release(&methods);
    if (config_get_bool("disable_dns_lookups"))
        smtp_cfg.dns = false;
    smtp_cfg.mime_conversion = !config_get_bool("disable_mime_output_conversion");

    if (*smtp_cfg.dns_support_level && strcasecmp(smtp_cfg.dns_support_level, "disabled") == 0)
        smtp_cfg.dns = false;

    struct inet_protocols protos;
    strbuf perr = STRBUF_INIT;
    if (inet_protocols_parse(config_get("inet_protocols"), false, &protos, &perr) < 0)
        msg_fatal("%s", strbuf_str(&perr));
    strbuf_release(&perr);
    smtp_cfg.family = protos.v4 && !protos.v6   ? AF_INET
                      : protos.v6 && !protos.v4 ? AF_INET6
                                                : AF_UNSPEC;
}

int main(int argc, char **argv)
{
    static const struct service_ops ops = {
        .mode = SERVICE_SINGLE,
        .pre_init = smtp_pre_init,
        .post_init = smtp_init,
        .serve = smtp_serve,
        .pre_accept = smtp_pre_accept,
    };
#ifdef SMTP_LMTP_MODE
    service_main("lmtp", argc, argv, &ops);
#else
    service_main("smtp", argc, argv, &ops);
#endif
}
