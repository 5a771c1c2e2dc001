/* smtpd_policy - check_policy_service; see smtpd_policy.h. */
#include "smtpd_policy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "address.h"
#include "config.h"
#include "dns.h"
#include "mem.h"
#include "msg.h"
#include "policy_client.h"
#include "tls.h"

struct registered {
    char *spec;
    policy_client *pc;
};
static struct registered *clients;
static size_t n_clients;

static void defaults(struct policy_settings *d)
{
    memset(d, 0, sizeof(*d));
    d->timeout_s = config_get_time("smtpd_policy_service_timeout");
    d->max_idle_s = config_get_time("smtpd_policy_service_max_idle");
    d->max_ttl_s = config_get_time("smtpd_policy_service_max_ttl");
    d->retry_delay_s = config_get_time("smtpd_policy_service_retry_delay");
    d->request_limit = config_get_int("smtpd_policy_service_request_limit");
    d->try_limit = config_get_int("smtpd_policy_service_try_limit");
    d->default_action = (char *)config_get("smtpd_policy_service_default_action");
    d->policy_context = (char *)config_get("smtpd_policy_service_policy_context");
    long long ll = config_get_int("line_length_limit");
    d->line_limit = ll < 512 ? 512 : (size_t)ll;
}

/* The client for spec, made on first use; NULL (with err) for a bad spec. */
static policy_client *client_for(const char *spec, strbuf *err)
{
    for (size_t i = 0; i < n_clients; i++)
        if (strcmp(clients[i].spec, spec) == 0)
            return clients[i].pc;
    struct policy_settings d, set;
    defaults(&d);
    if (policy_settings_parse(spec, &d, &set, err) < 0)
        return NULL;
    if (d.try_limit < 1 || d.timeout_s < 1) {
        /* the main.cf values: postconf(5) wants at least one try and 1s */
        strbuf_printf(err, "smtpd_policy_service_try_limit and _timeout must be at least 1");
        policy_settings_release(&set);
        return NULL;
    }
    clients = xreallocarray(clients, n_clients + 1, sizeof(*clients));
    clients[n_clients].spec = xstrdup(spec);
    clients[n_clients].pc = policy_client_new(&set);
    policy_settings_release(&set);
    return clients[n_clients++].pc;
}

void smtpd_policy_new_instance(struct smtpd_state *s)
{
    static unsigned seq;
    struct timeval tv;
    gettimeofday(&tv, NULL);
    snprintf(s->policy_instance, sizeof(s->policy_instance), "%x.%lx.%lx.%x", (unsigned)msg_pid(),
             (unsigned long)tv.tv_sec, (unsigned long)tv.tv_usec, seq++);
}

/* reverse_client_name: the PTR name, forward-confirmed or not. A verified
 * client name is one; otherwise ask the DNS once per client address. */
static const char *reverse_client_name(struct smtpd_state *s)
{
    static strbuf addr = STRBUF_INIT, name = STRBUF_INIT;
    if (!strbuf_eq(&s->name, "unknown"))
        return strbuf_str(&s->name);
    if (!config_get_bool("smtpd_peername_lookup"))
        return "unknown";
    if (!strbuf_eq(&addr, strbuf_str(&s->addr))) {
        strbuf_set(&addr, strbuf_str(&s->addr));
        strbuf_set(&name, "unknown");
        strbuf q = STRBUF_INIT;
        struct dns_reply rep;
        if (dns_reverse_name(strbuf_str(&addr), ".in-addr.arpa", ".ip6.arpa", &q) == 0) {
            (void)dns_lookup(strbuf_str(&q), DNS_T_PTR, &rep, NULL);
            for (size_t i = 0; i < rep.n; i++)
                if (addr_valid_hostname(rep.v[i].data, strlen(rep.v[i].data))) {
                    strbuf_set(&name, rep.v[i].data);
                    break;
                }
            dns_reply_free(&rep);
        }
        strbuf_release(&q);
    }
    return strbuf_str(&name);
}

static void add_num(strbuf *req, const char *name, unsigned long long v)
{
    char buf[32];
    snprintf(buf, sizeof(buf), "%llu", v);
    policy_request_add(req, name, buf);
}

static void build_request(struct smtpd_state *s, const struct policy_settings *set,
                          const char *stage, const char *rcpt, strbuf *req)
{
    /* Postfix: BDAT is asked as DATA; HELO is the command's own name. */
    const char *state = stage;
    if (strcmp(stage, "BDAT") == 0)
        state = "DATA";
    else if (strcmp(stage, "HELO") == 0 && s->where && strcmp(s->where, "EHLO") == 0)
        state = "EHLO";
    bool data = strcmp(state, "DATA") == 0 || strcmp(state, "END-OF-MESSAGE") == 0;
    /* After RCPT one recipient stands for the message only when it is the
     * only one (Postfix sends none for several). */
    if (!rcpt && data && s->rcpt_count == 1)
        rcpt = strbuf_str(&s->last_rcpt);
    uint64_t size =
        strcmp(state, "END-OF-MESSAGE") == 0 && s->data_bytes ? s->data_bytes : s->mail_size;
    bool authed = smtpd_sasl_authenticated(s);
    int alg_bits = 0;

    strbuf_reset(req);
    policy_request_add(req, "request", "smtpd_access_policy");
    policy_request_add(req, "protocol_state", state);
    policy_request_add(req, "protocol_name",
                       strncmp(s->protocol, "ESMTP", 5) == 0 ? "ESMTP" : s->protocol);
    policy_request_add(req, "client_address", strbuf_str(&s->addr));
    policy_request_add(req, "client_name", strbuf_str(&s->name));
    add_num(req, "client_port", s->remote_port);
    policy_request_add(req, "reverse_client_name", reverse_client_name(s));
    policy_request_add(req, "server_address", strbuf_str(&s->local_addr));
    add_num(req, "server_port", s->local_port);
    policy_request_add(req, "helo_name", strbuf_str(&s->helo));
    policy_request_add(req, "sender", s->have_mail ? strbuf_str(&s->sender) : "");
    policy_request_add(req, "recipient", rcpt ? rcpt : "");
    add_num(req, "recipient_count", data ? (unsigned long long)s->rcpt_count : 0);
    policy_request_add(req, "queue_id", strbuf_str(&s->queue_id));
    policy_request_add(req, "instance", s->have_mail ? s->policy_instance : "");
    add_num(req, "size", size);
    policy_request_add(req, "etrn_domain", "");
    policy_request_add(req, "stress", config_get("stress"));
    policy_request_add(req, "sasl_method", authed ? strbuf_str(&s->sasl_method) : "");
    policy_request_add(req, "sasl_username", authed ? strbuf_str(&s->sasl_username) : "");
    policy_request_add(req, "sasl_sender", strbuf_str(&s->sasl_sender));
    policy_request_add(req, "ccert_subject", "");
    policy_request_add(req, "ccert_issuer", "");
    policy_request_add(req, "ccert_fingerprint", "");
    policy_request_add(req, "ccert_pubkey_fingerprint", "");
    policy_request_add(req, "encryption_protocol", s->tls ? tls_conn_protocol(s->tls) : "");
    policy_request_add(req, "encryption_cipher", s->tls ? tls_conn_cipher(s->tls) : "");
    add_num(req, "encryption_keysize",
            s->tls ? (unsigned)tls_conn_cipher_bits(s->tls, &alg_bits) : 0);
    policy_request_add(req, "policy_context", set->policy_context);
    policy_request_add(req, "compatibility_level", config_get("compatibility_level"));
    policy_request_add(req, "mail_version", config_get("mail_version"));
}

int smtpd_policy_query(struct smtpd_state *s, const char *spec, const char *stage, const char *rcpt,
                       strbuf *action)
{
    strbuf err = STRBUF_INIT, req = STRBUF_INIT;
    policy_client *pc = client_for(spec, &err);
    if (!pc) {
        msg_warn("check_policy_service: %s", strbuf_str(&err));
        strbuf_release(&err);
        return -1;
    }
    const struct policy_settings *set = policy_client_settings(pc);
    build_request(s, set, stage, rcpt, &req);
    int r = policy_client_query(pc, &req, action);
    if (r == 0 && smtpd_params.smtputf8_enable &&
        !addr_utf8_valid((const unsigned char *)strbuf_str(action), action->len)) {
        strbuf safe = STRBUF_INIT;
        addr_sanitize(&safe, action->s, action->len, 100, false);
        msg_warn("malformed UTF-8 in policy server %s response: \"%s\"", spec, strbuf_str(&safe));
        strbuf_release(&safe);
        r = -1;
    }
    if (r < 0) {
        strbuf_set(action, set->default_action);
        r = 1;
    }
    strbuf_release(&err);
    strbuf_release(&req);
    return r;
}
