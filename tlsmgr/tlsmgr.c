/* tlsmgr - the TLS session cache of the SMTP and LMTP clients.
 *
 * Serves lib/global/tlsmgr_proto.h on private/tlsmgr (master.cf "tlsmgr unix - -
 * y 1000? 1 tlsmgr"): one process keeps the tables of
 * smtp_tls_session_cache_database and lmtp_tls_session_cache_database open
 * for its whole life, so the delivery agents -- many processes, chrooted
 * or not -- share their sessions without sharing a database file (Postfix's
 * design for the same reason). Tables are opened before the chroot, as
 * root, owned by mail_owner, and start empty (lib/global/tls_scache). Expired
 * sessions are dropped on lookup and by a sweep every
 * *_tls_session_cache_timeout.
 *
 * Postfix's tlsmgr also keeps smtpd's cache and a PRNG seed file; our smtpd
 * resumes with session tickets instead (smtpd_tls_session_cache_database
 * is not implemented) and OpenSSL seeds itself.
 */
#include <pwd.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "mem.h"
#include "msg.h"
#include "service.h"
#include "tls_scache.h"
#include "tlsmgr_proto.h"

/* Postfix's bounds for *_tls_session_cache_timeout. */
#define CACHE_TIMEOUT_MIN 120
#define CACHE_TIMEOUT_MAX (100 * 86400)

static struct cache {
    const char *type; /* cache_type in requests */
    tls_scache *table;
    long timeout_s;
    time_t next_purge;
} caches[] = {{"smtp", NULL, 0, 0}, {"lmtp", NULL, 0, 0}};

#define NCACHES (sizeof(caches) / sizeof(caches[0]))

static void open_cache(struct cache *c, uid_t uid, gid_t gid)
{
    strbuf name = STRBUF_INIT, err = STRBUF_INIT;
    strbuf_printf(&name, "%s_tls_session_cache_database", c->type);
    const char *spec = config_get(name.s);
    strbuf_reset(&name);
    strbuf_printf(&name, "%s_tls_session_cache_timeout", c->type);
    long long timeout = config_get_time(name.s);
    if (*spec && timeout > 0) {
        if (timeout < CACHE_TIMEOUT_MIN)
            timeout = CACHE_TIMEOUT_MIN;
        if (timeout > CACHE_TIMEOUT_MAX) {
            msg_warn("%s = %lld exceeds 100 days; using 100 days", name.s, timeout);
            timeout = CACHE_TIMEOUT_MAX;
        }
        c->timeout_s = (long)timeout;
        c->table = tls_scache_open(spec, c->timeout_s, uid, gid, &err);
        /* The clients then simply get no sessions: a slower handshake,
         * never a delivery problem. Said every time tlsmgr starts. */
        if (!c->table)
            msg_warn("%s TLS session cache disabled: %s", c->type, err.s);
        c->next_purge = time(NULL) + c->timeout_s;
    }
    strbuf_release(&name);
    strbuf_release(&err);
}

static void tlsmgr_pre_init(const char *service, char **args)
{
    const char *owner = config_get("mail_owner");
    struct passwd *pw = getpwnam(owner);
    if (!pw)
        msg_fatal("mail_owner \"%s\": no such user", owner);
    for (size_t i = 0; i < NCACHES; i++)
        open_cache(&caches[i], pw->pw_uid, pw->pw_gid);
}

static struct cache *find_cache(const char *type)
{
    for (size_t i = 0; i < NCACHES; i++)
        if (strcmp(caches[i].type, type) == 0)
            return &caches[i];
    return NULL;
}

static void purge_due(time_t now)
{
    for (size_t i = 0; i < NCACHES; i++) {
        struct cache *c = &caches[i];
        if (c->table && now >= c->next_purge) {
            size_t n = tls_scache_purge(c->table, now);
            if (n > 0 && msg_verbose)
                msg_debug("%s: %zu expired sessions removed", tls_scache_spec(c->table), n);
            c->next_purge = now + c->timeout_s;
        }
    }
}

static void answer(stream *st, int status, const strbuf *session)
{
    attr_list reply = ATTR_LIST_INIT;
    strbuf err = STRBUF_INIT;
    attr_add_int(&reply, "status", status);
    if (session)
        attr_add_data(&reply, "session", session->s, session->len);
    if (attr_send(st, &reply, &err) != ATTR_OK)
        msg_warn("tlsmgr client: %s", err.s);
    attr_list_release(&reply);
    strbuf_release(&err);
}

static void tlsmgr_serve(int fd, const char *service, char **args)
{
    stream *st = stream_open(fd);
    stream_set_timeout(st, 10000);
    attr_list req = ATTR_LIST_INIT;
    strbuf err = STRBUF_INIT, session = STRBUF_INIT;
    const char *what, *type, *id;
    time_t now = time(NULL);
    purge_due(now);
    int rc = attr_recv(st, &tlsmgr_attr_limits, &req, &err);
    struct cache *c = NULL;
    if (rc == ATTR_EOF || rc == ATTR_TRUNCATED) {
        /* master's periodic wake-up ("W"), or a client that went away */
    } else if (rc != ATTR_OK || attr_get_str(&req, "request", &what, &err) < 0 ||
               attr_get_str(&req, "cache_type", &type, &err) < 0 ||
               attr_get_str(&req, "cache_id", &id, &err) < 0) {
        msg_warn("tlsmgr client: %s", err.s);
    } else if (!(c = find_cache(type)) || !c->table) {
        answer(st, 1, NULL);
    } else if (strcmp(what, "lookup") == 0) {
        rc = tls_scache_lookup(c->table, id, now, &session, &err);
        if (rc < 0)
            msg_warn("%s", err.s);
        answer(st, rc > 0 ? 0 : 1, rc > 0 ? &session : NULL);
    } else if (strcmp(what, "update") == 0) {
        const void *der;
        size_t len;
        if (attr_get_data(&req, "session", &der, &len, &err) < 0 ||
            tls_scache_update(c->table, id, der, len, now, &err) < 0) {
            msg_warn("tlsmgr client: %s", err.s);
            answer(st, 1, NULL);
        } else {
            answer(st, 0, NULL);
        }
    } else if (strcmp(what, "delete") == 0) {
        if (tls_scache_delete(c->table, id, &err) < 0)
            msg_warn("%s", err.s);
        answer(st, 0, NULL);
    } else {
        msg_warn("tlsmgr client: unknown request \"%.30s\"", what);
    }
    (void)stream_flush(st);
    (void)stream_release(&st);
    /* The request may have carried a session: wipe it with the list. */
    for (size_t i = 0; i < attr_list_count(&req); i++) {
        const attr *a = attr_list_at(&req, i);
        memset(a->value, 0, a->value_len);
    }
    attr_list_release(&req);
    if (session.s)
        memset(session.s, 0, session.len);
    strbuf_release(&session);
    strbuf_release(&err);
}

int main(int argc, char **argv)
{
    static const struct service_ops ops = {
        .mode = SERVICE_SINGLE,
        .unlimited = true, /* the tables live as long as the process */
        .pre_init = tlsmgr_pre_init,
        .serve = tlsmgr_serve,
    };
    service_main("tlsmgr", argc, argv, &ops);
}
