/* smtpd_check - access restrictions.
 *
 * With smtpd_delay_reject (Postfix's default) the client, helo and sender
 * restrictions are evaluated at RCPT time (without it: at connect, HELO and
 * MAIL, see smtpd_check_client/helo/mail), then
 * smtpd_relay_restrictions, then smtpd_recipient_restrictions, then the
 * unlisted recipient check (smtpd_reject_unlisted_recipient,
 * smtpd_unlisted.c). The first
 * restriction that decides (permit/reject/defer) ends its list; a permit
 * moves on to the next list, as in Postfix.
 *
 * Which restrictions exist is lib/global/smtpd_restriction's table: permit,
 * reject, defer, dunno, permit_mynetworks, permit_inet_interfaces,
 * permit_sasl_authenticated, reject_sender_login_mismatch and its
 * reject_authenticated_, reject_known_ and reject_unauthenticated_
 * variants (smtpd_sender_login_maps: the sender address, then @domain,
 * maps to a list of SASL login names that own it),
 * permit_auth_destination, reject_unauth_destination,
 * defer_unauth_destination, reject_non_fqdn_recipient,
 * reject_non_fqdn_sender, reject_non_fqdn_helo_hostname,
 * reject_invalid_helo_hostname, reject_unlisted_recipient,
 * reject_unlisted_sender, defer_if_permit, defer_if_reject,
 * reject_unauth_pipelining (the session's ill_pipelining flag, set by
 * smtpd.c as Postfix 2.6+ does), names from smtpd_restriction_classes,
 * check_{client,reverse_client_hostname,helo,sender,recipient}_access
 * type:table (below), check_policy_service (smtpd_policy.c asks the
 * server; its action is evaluated here as a table value). Anything else
 * -- a Postfix restriction we don't have, an unknown name -- is logged and
 * the client gets 451 4.3.5: never an accept of what the restriction
 * might have rejected.
 * `postfix check` reports such names as errors, master's start as
 * warnings (lib/global/config_fidelity).
 *
 * smtpd_data_restrictions are evaluated at DATA and BDAT ("<DATA>: Data
 * command rejected"), smtpd_end_of_data_restrictions after the last byte of
 * the message and before cleanup commits it ("<END-OF-MESSAGE>: End-of-data
 * rejected", logged with the queue ID); sender, recipient count and size are
 * known there. As in Postfix, both see the recipient (reject_unauth_destination,
 * to= in the log) only when the transaction has exactly one: the list applies
 * to all recipients alike. Neither runs for smtpd -S (sendmail -bs).
 *
 * check_*_access tables come from lib/maps/map_cache (opened once, reopened
 * when the file changes) and are consulted with lib/global/access_table's
 * keys in Postfix's order, and answer about what they looked up, at any
 * stage ("<a@b>: Sender address rejected: text" also at END-OF-MESSAGE); a
 * table value is parsed there too: OK, DUNNO,
 * REJECT, DEFER, NNN text, DEFER_IF_PERMIT, DEFER_IF_REJECT, WARN, INFO, a
 * restriction class (smtpd_restriction_classes) or a restriction list.
 * PREPEND headers go before smtpd's Received: (smtpd_data).
 * HOLD, DISCARD, REDIRECT, FILTER and BCC are message actions: logged as
 * Postfix does ("NOQUEUE: hold: RCPT from h[a]: <r>: Recipient address
 * triggers HOLD action; from=<s> to=<r> proto=ESMTP helo=<h>"), kept on the
 * session and handed to cleanup before the end of data (cleanup_client
 * action requests). HOLD, REDIRECT, FILTER and BCC do not decide: the
 * evaluation goes on. DISCARD is an OK, and every later check of the
 * transaction is skipped (its recipients are accepted); cleanup then drops
 * the message but answers 250. A REDIRECT, FILTER or BCC without a usable
 * value is logged and ignored (Postfix).
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "access_table.h"
#include "address.h"
#include "config.h"
#include "map_cache.h"
#include "maps.h"
#include "match_list.h"
#include "mem.h"
#include "msg.h"
#include "resolve.h"
#include "smtpd.h"
#include "smtpd_dns_check.h"
#include "smtpd_policy.h"
#include "smtpd_restriction.h"
#include "strlist.h"

enum verdict { V_DUNNO, V_PERMIT, V_REJECT };

static resolve *rs;
static match_list *mynetworks;
static strlist lists[5]; /* client helo sender relay recipient */
static strlist rewrite_clients;
static strlist data_lists[2]; /* DATA, END-OF-MESSAGE */
static const char *data_list_names[2] = {"smtpd_data_restrictions",
                                         "smtpd_end_of_data_restrictions"};
static maps *sender_login_maps;     /* NULL: not configured */
static strlist restriction_classes; /* smtpd_restriction_classes */
static bool access_parent;          /* parent_domain_matches_subdomains has smtpd_access_maps */
static bool delay_reject;           /* smtpd_delay_reject */
#define MAX_NESTING 10              /* classes and lists in table values */
static const char *list_names[5] = {"smtpd_client_restrictions", "smtpd_helo_restrictions",
                                    "smtpd_sender_restrictions", "smtpd_relay_restrictions",
                                    "smtpd_recipient_restrictions"};

#define TEMP_ERROR_REPLY "451 4.3.0 Temporary lookup failure"

static void split_or_die(strlist *sl, const char *param)
{
    const char *e = NULL;
    if (strlist_split(sl, config_get(param), ", \t\r\n", &e) < 0)
        msg_fatal("parameter %s: %s", param, e);
}

void smtpd_check_init(void)
{
    strbuf err = STRBUF_INIT;
    if (!(rs = resolve_open(&err)))
        msg_fatal("%s", strbuf_str(&err));
    mynetworks = match_list_compile("mynetworks", config_get("mynetworks"),
                                    MATCH_LIST_PARENT | MATCH_LIST_SURROGATE, &err);
    if (!mynetworks)
        msg_fatal("%s", strbuf_str(&err));
    for (int i = 0; i < 5; i++)
        split_or_die(&lists[i], list_names[i]);
    for (int i = 0; i < 2; i++)
        split_or_die(&data_lists[i], data_list_names[i]);
    split_or_die(&rewrite_clients, "local_header_rewrite_clients");
    split_or_die(&restriction_classes, "smtpd_restriction_classes");
    strlist pd = STRLIST_INIT;
    split_or_die(&pd, "parent_domain_matches_subdomains");
    access_parent = strlist_contains(&pd, "smtpd_access_maps");
    delay_reject = config_get_bool("smtpd_delay_reject");
    strlist_release(&pd);
    if (*config_get("smtpd_sender_login_maps")) {
        sender_login_maps = maps_open("smtpd_sender_login_maps",
                                      config_get("smtpd_sender_login_maps"), MAP_SURROGATE, &err);
        if (!sender_login_maps)
            msg_fatal("%s", strbuf_str(&err));
    }

    /* Postfix refuses to run as an open relay by accident. */
    static const char *const working[] = {"reject_unauth_destination", "defer_unauth_destination",
                                          "reject", "defer", "defer_if_permit"};
    bool ok = false;
    for (size_t i = 0; i < sizeof(working) / sizeof(working[0]); i++)
        if (strlist_contains(&lists[3], working[i]) || strlist_contains(&lists[4], working[i]))
            ok = true;
    if (!ok)
        msg_fatal("parameter smtpd_relay_restrictions: specify at least one working instance "
                  "of: reject_unauth_destination, defer_unauth_destination, reject, defer or "
                  "defer_if_permit");

    smtpd_unlisted_init();
    smtpd_dns_init();
    strbuf_release(&err);
}

/* Postfix's log_whatsup: "NOQUEUE: reject: RCPT from h[a]: text; from=<> to=<>
 * proto=ESMTP helo=<h>" (QID once the queue file is open); pflogsumm and
 * fail2ban parse these. */
static void log_whatsup(struct smtpd_state *s, const char *what, const char *stage,
                        const char *text, const char *to)
{
    strbuf line = STRBUF_INIT, tmp = STRBUF_INIT;
    strbuf_printf(&line, "%s: %s: %s from %s: %s;",
                  s->queue_id.len ? strbuf_str(&s->queue_id) : "NOQUEUE", what, stage,
                  strbuf_str(&s->namaddr), text);
    if (s->have_mail) {
        addr_sanitize(&tmp, s->sender.s ? s->sender.s : "", s->sender.len, 300, true);
        strbuf_printf(&line, " from=<%s>", strbuf_str(&tmp));
    }
    if (to) {
        addr_sanitize(&tmp, to, strlen(to), 300, true);
        strbuf_printf(&line, " to=<%s>", strbuf_str(&tmp));
    }
    strbuf_printf(&line, " proto=%s", s->protocol);
    if (s->helo.len)
        strbuf_printf(&line, " helo=<%s>", strbuf_str(&s->helo));
    msg_info("%s", strbuf_str(&line));
    strbuf_release(&line);
    strbuf_release(&tmp);
}

void smtpd_log_reject(struct smtpd_state *s, const char *stage, const char *reply_text,
                      const char *to)
{
    log_whatsup(s, "reject", stage, reply_text, to);
}

void smtpd_log_whatsup(struct smtpd_state *s, const char *what, const char *stage, const char *text,
                       const char *to)
{
    log_whatsup(s, what, stage, text, to);
}

struct ctx {
    struct smtpd_state *s;
    const char *rcpt;
    strbuf *reply;
    int code;
    const char *class_text; /* "Recipient address" */
    const char *subject;    /* what the reply is about: <rcpt>, <helo>, <host[addr]> */
    const char *stage;      /* "RCPT", "DATA": for warn/info log lines */
    strbuf defer_if_permit; /* a DEFER_IF_PERMIT reply, used if all else permits */
    strbuf defer_if_reject; /* a DEFER_IF_REJECT reply, replaces a later 5xx */
};

static enum verdict say(struct ctx *c, int code, const char *dsn, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static enum verdict say(struct ctx *c, int code, const char *dsn, const char *fmt, ...)
{
    va_list ap;
    strbuf_reset(c->reply);
    strbuf_printf(c->reply, "%d %s ", code, dsn);
    va_start(ap, fmt);
    strbuf_vprintf(c->reply, fmt, ap);
    va_end(ap);
    c->code = code;
    return V_REJECT;
}

static int auth_destination(struct ctx *c, bool *yes)
{
    resolve_result rr;
    strbuf err = STRBUF_INIT;
    if (resolve_address(rs, c->rcpt, &rr, &err) < 0) {
        msg_warn("%s: %s", c->rcpt, strbuf_str(&err));
        strbuf_release(&err);
        return -1;
    }
    strbuf_release(&err);
    *yes = !rr.routed && rr.cls != RESOLVE_DEFAULT;
    return 0;
}

static bool client_in_mynetworks(struct smtpd_state *s, int *tempfail)
{
    strbuf err = STRBUF_INIT;
    int m = match_list_client(mynetworks, strbuf_str(&s->name), strbuf_str(&s->addr), &err);
    if (m < 0) {
        msg_warn("mynetworks: %s", strbuf_str(&err));
        *tempfail = 1;
    }
    strbuf_release(&err);
    return m > 0;
}

static enum verdict run_restrictions(struct ctx *c, const strlist *l, const char *list_name,
                                     int depth);

/* A restriction list given as text (a class's value, a table's value). */
static enum verdict run_text(struct ctx *c, const char *origin, const char *text, int depth)
{
    if (depth >= MAX_NESTING) {
        msg_warn("%s: restriction nesting deeper than %d; answering 451 4.3.5", origin,
                 MAX_NESTING);
        return say(c, 451, "4.3.5", "Server configuration error");
    }
    strlist l = STRLIST_INIT;
    const char *e = NULL;
    enum verdict v;
    if (strlist_split(&l, text, ", \t\r\n", &e) < 0) {
        msg_warn("%s: %s; answering 451 4.3.5", origin, e);
        v = say(c, 451, "4.3.5", "Server configuration error");
    } else {
        v = run_restrictions(c, &l, origin, depth + 1);
    }
    strlist_release(&l);
    return v;
}

/* A smtpd_restriction_classes name: its parameter's list. A class without a
 * definition is a configuration error (postfix check says so too), never
 * an empty list that lets everything pass. */
static enum verdict run_class(struct ctx *c, const char *name, int depth)
{
    const char *list = NULL;
    strbuf err = STRBUF_INIT;
    enum verdict v;
    if (!config_is_defined(name) || config_lookup(name, &list, &err) < 0 || !list) {
        msg_warn("restriction class %s: %s; answering 451 4.3.5", name,
                 err.len ? strbuf_str(&err) : "no definition");
        v = say(c, 451, "4.3.5", "Server configuration error");
    } else {
        v = run_text(c, name, list, depth);
    }
    strbuf_release(&err);
    return v;
}

/* Is `line` one of the lines of `prepend`? */
static bool prepend_has(const strbuf *prepend, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = prepend->s; p && *p;) {
        size_t l = strcspn(p, "\n");
        if (l == n && memcmp(p, line, n) == 0)
            return true;
        p += l;
        p += *p == '\n';
    }
    return false;
}

void smtpd_check_reset_actions(struct smtpd_state *s)
{
    s->act.hold = s->act.discard = false;
    strbuf_release(&s->act.redirect);
    strbuf_release(&s->act.filter);
    strlist_release(&s->act.bcc);
}

void smtpd_check_send_actions(struct smtpd_state *s)
{
    if (!s->cc)
        return;
    if (s->act.hold)
        (void)cleanup_client_action(s->cc, CLEANUP_ACT_HOLD, NULL);
    if (s->act.redirect.len)
        (void)cleanup_client_action(s->cc, CLEANUP_ACT_REDIRECT, strbuf_str(&s->act.redirect));
    if (s->act.filter.len)
        (void)cleanup_client_action(s->cc, CLEANUP_ACT_FILTER, strbuf_str(&s->act.filter));
    for (size_t i = 0; i < s->act.bcc.n; i++)
        (void)cleanup_client_action(s->cc, CLEANUP_ACT_BCC, s->act.bcc.v[i]);
    if (s->act.discard)
        (void)cleanup_client_action(s->cc, CLEANUP_ACT_DISCARD, NULL);
}

/* A message action from a table: Postfix's log line, then remember it.
 * Returns the verdict (DISCARD is an OK; the others do not decide). */
static enum verdict message_action(struct ctx *c, const char *table, const char *value,
                                   enum access_kind kind, const char *text)
{
    static const struct {
        enum access_kind kind;
        enum cleanup_action act;
        const char *word, *log;
    } acts[] = {
        {ACCESS_HOLD, CLEANUP_ACT_HOLD, "HOLD", "hold"},
        {ACCESS_DISCARD, CLEANUP_ACT_DISCARD, "DISCARD", "discard"},
        {ACCESS_REDIRECT, CLEANUP_ACT_REDIRECT, "REDIRECT", "redirect"},
        {ACCESS_FILTER, CLEANUP_ACT_FILTER, "FILTER", "filter"},
        {ACCESS_BCC, CLEANUP_ACT_BCC, "BCC", "bcc"},
    };
    size_t i = 0;
    while (acts[i].kind != kind)
        i++;
    bool takes_value = acts[i].act != CLEANUP_ACT_HOLD && acts[i].act != CLEANUP_ACT_DISCARD;
    if (takes_value) {
        /* Postfix's warnings; then the entry is a DUNNO. */
        const char *why = NULL;
        if (!*text)
            why = acts[i].act == CLEANUP_ACT_FILTER ? "has FILTER entry without value"
                                                    : "has an entry without value";
        else if (acts[i].act == CLEANUP_ACT_FILTER && !strchr(text, ':'))
            why = "requires transport:destination";
        else if (acts[i].act != CLEANUP_ACT_FILTER && !strchr(text, '@'))
            why = "requires user@domain target";
        else if (!cleanup_action_value_ok(acts[i].act, text))
            why = acts[i].act == CLEANUP_ACT_FILTER ? "has an invalid transport:destination"
                                                    : "has an invalid address";
        if (why) {
            msg_warn("access table %s entry \"%.100s\" %s", table, value, why);
            return V_DUNNO;
        }
    }
    strbuf line = STRBUF_INIT;
    if (takes_value)
        strbuf_printf(&line, "%s: %s triggers %s %s", c->subject, c->class_text, acts[i].word,
                      text);
    else if (*text)
        strbuf_printf(&line, "%s: %s %s", c->subject, c->class_text, text);
    else
        strbuf_printf(&line, "%s: %s triggers %s action", c->subject, c->class_text, acts[i].word);
    log_whatsup(c->s, acts[i].log, c->stage, strbuf_str(&line), c->rcpt);
    strbuf_release(&line);
    struct smtpd_state *s = c->s;
    switch (acts[i].act) {
    case CLEANUP_ACT_HOLD:
        s->act.hold = true;
        break;
    case CLEANUP_ACT_DISCARD:
        s->act.discard = true;
        return V_PERMIT;
    case CLEANUP_ACT_REDIRECT:
        strbuf_set(&s->act.redirect, text);
        break;
    case CLEANUP_ACT_FILTER:
        strbuf_set(&s->act.filter, text);
        break;
    case CLEANUP_ACT_BCC:
        /* delay_reject evaluates the client lists per RCPT: once each. */
        if (!strlist_contains(&s->act.bcc, text) && s->act.bcc.n < 100)
            strlist_push(&s->act.bcc, text);
        break;
    }
    return V_DUNNO;
}

/* One table value (access(5)) found for `key`. */
static enum verdict apply_action(struct ctx *c, const char *table, const char *key,
                                 const char *value, int depth)
{
    struct access_action a = ACCESS_ACTION_INIT;
    enum verdict v = V_DUNNO;
    access_action_parse(&a, value);
    const char *text = strbuf_str(&a.text);
    switch (a.kind) {
    case ACCESS_OK:
        v = V_PERMIT;
        break;
    case ACCESS_DUNNO:
        break;
    case ACCESS_REJECT:
        if (!a.numeric) { /* Postfix: REJECT and DEFER answer the configured codes */
            a.code = (int)config_get_int(a.code >= 500 ? "access_map_reject_code"
                                                       : "access_map_defer_code");
            if (a.code < 400 || a.code > 599) {
                msg_warn("access_map_reject_code/access_map_defer_code: bad SMTP reply code %d; "
                         "answering 451 4.3.5",
                         a.code);
                v = say(c, 451, "4.3.5", "Server configuration error");
                break;
            }
            a.dsn[0] = (char)('0' + a.code / 100);
        }
        v = say(c, a.code, a.dsn, "%s: %s rejected: %s", c->subject, c->class_text,
                *text ? text : "Access denied");
        break;
    case ACCESS_DEFER_IF_PERMIT:
    case ACCESS_DEFER_IF_REJECT: {
        /* Postfix: access_map_defer_code, and its own default text. */
        strbuf *r = a.kind == ACCESS_DEFER_IF_PERMIT ? &c->defer_if_permit : &c->defer_if_reject;
        int code = (int)config_get_int("access_map_defer_code");
        strbuf_reset(r);
        strbuf_printf(r, "%d %s %s: %s rejected: %s", code >= 400 && code < 500 ? code : 450, a.dsn,
                      c->subject, c->class_text, *text ? text : "Service unavailable");
        break;
    }
    case ACCESS_WARN:
        log_whatsup(c->s, "warn", c->stage, text, c->rcpt);
        break;
    case ACCESS_INFO:
        log_whatsup(c->s, "info", c->stage, text, c->rcpt);
        break;
    case ACCESS_RESTRICTIONS:
        if (strcspn(text, ", \t") == strlen(text) && strlist_contains(&restriction_classes, text)) {
            v = run_class(c, text, depth);
        } else {
            v = run_text(c, table, text, depth);
        }
        break;
    case ACCESS_PREPEND:
        /* Bounded: a table hit per recipient must not grow a header block
         * without limit. */
        if (prepend_has(&c->s->prepend, text)) {
            /* delay_reject re-evaluates client/helo/sender lists per RCPT:
             * one header per distinct line, not one per recipient. */
        } else if (c->s->prepend.len + a.text.len + 1 > 64 * 1024) {
            msg_warn("access table %s: too many PREPEND headers; ignoring \"%.100s\"", table, text);
        } else {
            strbuf_puts(&c->s->prepend, text);
            strbuf_putc(&c->s->prepend, '\n');
        }
        break;
    case ACCESS_DISCARD:
    case ACCESS_HOLD:
    case ACCESS_REDIRECT:
    case ACCESS_FILTER:
    case ACCESS_BCC:
        v = message_action(c, table, value, a.kind, text);
        break;
    case ACCESS_INVALID:
        msg_warn("access table %s: invalid result \"%.100s\" for %s: %s; answering 451 4.3.5",
                 table, value, key, text);
        v = say(c, 451, "4.3.5", "Server configuration error");
        break;
    }
    access_action_release(&a);
    return v;
}

/* check_*_access: the keys in Postfix's order; the first one the table has
 * decides. Pattern tables (regexp, pcre, cidr) get only the full key. */
static enum verdict access_check(struct ctx *c, const char *table, struct access_keys *k, int depth)
{
    strbuf err = STRBUF_INIT, value = STRBUF_INIT;
    enum verdict v = V_DUNNO;
    map *m = map_cache_get(table, MAP_SURROGATE, &err);
    if (!m) {
        msg_warn("%s", strbuf_str(&err));
        v = say(c, 451, "4.3.5", "Server configuration error");
        goto out;
    }
    bool fixed = map_kind(m) & MAP_KIND_FIXED;
    for (size_t i = 0; i < k->n; i++) {
        if (!k->v[i].full && !fixed)
            continue;
        enum map_result r = map_lookup(m, k->v[i].key, &value, &err);
        if (r == MAP_TEMPFAIL) {
            msg_warn("%s: %s", table, strbuf_str(&err));
            v = say(c, 451, "4.3.0", "%s: Temporary lookup failure", c->subject);
            break;
        }
        if (r == MAP_FOUND) {
            char *val = xstrdup(strbuf_str(&value)); /* the table may be reopened below */
            v = apply_action(c, table, k->v[i].key, val, depth);
            free(val);
            break;
        }
    }
out:
    access_keys_release(k);
    strbuf_release(&err);
    strbuf_release(&value);
    return v;
}

/* check_{client,helo,sender,recipient}_access answer about what they looked
 * up, whatever the stage (Postfix: "<a@b>: Sender address rejected" also in
 * smtpd_recipient_restrictions or at END-OF-MESSAGE). */
static enum verdict access_about(struct ctx *c, const char *table, struct access_keys *k, int depth,
                                 const char *what, const char *class_text)
{
    const char *subject = c->subject, *cls = c->class_text;
    strbuf subj = STRBUF_INIT;
    strbuf_printf(&subj, "<%s>", what);
    c->subject = strbuf_str(&subj);
    c->class_text = class_text;
    enum verdict v = access_check(c, table, k, depth);
    c->subject = subject;
    c->class_text = cls;
    strbuf_release(&subj);
    return v;
}

/* check_policy_service: the server's action (or the service's default
 * action when it cannot answer) is evaluated as an access table value, the
 * service spec standing for the table name in warnings. A default action
 * that itself needs a policy service that fails gets Postfix's built-in
 * default instead, so a broken setup cannot recurse. */
static enum verdict policy_check(struct ctx *c, const char *spec, int depth)
{
    static int nesting;
    strbuf action = STRBUF_INIT;
    enum verdict v;
    int r = smtpd_policy_query(c->s, spec, c->stage ? c->stage : "RCPT", c->rcpt, &action);
    if (r < 0) {
        v = say(c, 451, "4.3.5", "Server configuration error");
    } else {
        if (r > 0 && nesting > 0)
            strbuf_set(&action, config_default_value("smtpd_policy_service_default_action"));
        nesting++;
        v = apply_action(c, spec, "policy query", strbuf_str(&action), depth);
        nesting--;
    }
    strbuf_release(&action);
    return v;
}

/* The DNS-based restrictions live in smtpd_dns_check.c; a host name or
 * address they find (check_*_{mx,ns,a}_access) is looked up here as a client
 * is: a name with its parent domains, an address with its prefixes. */
struct dns_access_ctx {
    struct ctx *c;
    int depth;
};

static enum smtpd_dns_verdict dns_access(void *ctx, const char *table, const char *key)
{
    struct dns_access_ctx *d = ctx;
    struct access_keys k = {0};
    if (strspn(key, "0123456789.") == strlen(key) || strchr(key, ':'))
        access_keys_ip(&k, key);
    else
        access_keys_domain(&k, key, access_parent);
    enum verdict v = access_check(d->c, table, &k, d->depth);
    return v == V_PERMIT ? SMTPD_DNS_PERMIT : v == V_REJECT ? SMTPD_DNS_REJECT : SMTPD_DNS_DUNNO;
}

static enum verdict dns_check(struct ctx *c, enum smtpd_restriction_id id, const char *arg,
                              int depth)
{
    int code = 0;
    struct dns_access_ctx d = {c, depth};
    enum smtpd_dns_verdict v =
        smtpd_dns_check(c->s, id, arg, c->rcpt, c->reply, &code, dns_access, &d);
    if (v == SMTPD_DNS_DEFER_IF_PERMIT) {
        strbuf_set(&c->defer_if_permit, strbuf_str(c->reply));
        strbuf_reset(c->reply);
        return V_DUNNO;
    }
    if (v == SMTPD_DNS_REJECT && code)
        c->code = code;
    return v == SMTPD_DNS_PERMIT ? V_PERMIT : v == SMTPD_DNS_REJECT ? V_REJECT : V_DUNNO;
}

/* The owners of the sender address: 1 found (list in owners), 0 none, -1
 * lookup failure. Keys: the address, then "@domain". */
static int sender_owners(const char *sender, strbuf *owners)
{
    strbuf err = STRBUF_INIT, key = STRBUF_INIT;
    int result = 0;
    const char *at = strrchr(sender, '@');
    for (int pass = 0; pass < 2 && result == 0; pass++) {
        if (pass == 1 && !at)
            break;
        strbuf_set(&key, pass == 0 ? sender : at);
        enum map_result r = maps_find(sender_login_maps, strbuf_str(&key), 0, owners, &err);
        if (r == MAP_FOUND)
            result = 1;
        else if (r == MAP_TEMPFAIL) {
            msg_warn("smtpd_sender_login_maps: %s", strbuf_str(&err));
            result = -1;
        }
    }
    strbuf_release(&err);
    strbuf_release(&key);
    return result;
}

static bool owner_listed(const char *owners, const char *login)
{
    strlist l = STRLIST_INIT;
    const char *e = NULL;
    bool yes = strlist_split(&l, owners, ", \t", &e) == 0 && strlist_contains_nocase(&l, login);
    strlist_release(&l);
    return yes;
}

/* reject_*sender_login_mismatch. `which`: 'a'uthenticated, 'u'nauthenticated,
 * 'k'nown, 'b'oth (plain reject_sender_login_mismatch). */
static enum verdict login_mismatch(struct ctx *c, char which)
{
    struct smtpd_state *s = c->s;
    if (!s->have_mail || s->sender.len == 0)
        return V_DUNNO;
    if (!sender_login_maps) {
        msg_warn("reject_sender_login_mismatch requires smtpd_sender_login_maps");
        return say(c, 451, "4.3.5", "Server configuration error");
    }
    const char *sender = strbuf_str(&s->sender);
    strbuf owners = STRBUF_INIT;
    int found = sender_owners(sender, &owners);
    enum verdict v = V_DUNNO;
    bool authed = smtpd_sasl_authenticated(s);
    if (found < 0) {
        v = say(c, 451, "4.3.0", "<%s>: Sender address rejected: temporary lookup failure", sender);
    } else if (authed && which != 'u') {
        /* known: only a sender someone owns can mismatch */
        bool mismatch = found ? !owner_listed(strbuf_str(&owners), strbuf_str(&s->sasl_username))
                              : which != 'k';
        if (mismatch)
            v = say(c, 553, "5.7.1", "<%s>: Sender address rejected: not owned by user %s", sender,
                    strbuf_str(&s->sasl_username));
    } else if (!authed && which != 'a' && found) {
        v = say(c, 553, "5.7.1", "<%s>: Sender address rejected: not logged in", sender);
    }
    strbuf_release(&owners);
    return v;
}

/* Evaluate one list. */
static enum verdict run_list(struct ctx *c, int which)
{
    struct smtpd_state *s = c->s;
    const strlist *l = &lists[which];
    static const char *const classes[5] = {"Client host", "Helo command", "Sender address",
                                           "Recipient address", "Recipient address"};
    strbuf subj = STRBUF_INIT;
    enum verdict v = V_DUNNO;
    c->class_text = classes[which];
    switch (which) {
    case 0:
        strbuf_printf(&subj, "<%s>", strbuf_str(&s->namaddr));
        break;
    case 1:
        strbuf_printf(&subj, "<%s>", strbuf_str(&s->helo));
        break;
    case 2:
        strbuf_printf(&subj, "<%s>", strbuf_str(&s->sender));
        break;
    default:
        strbuf_printf(&subj, "<%s>", c->rcpt);
    }
    c->subject = strbuf_str(&subj);
    v = run_restrictions(c, l, list_names[which], 0);
    strbuf_release(&subj);
    return v;
}

/* Evaluate restrictions until one decides; `depth` counts the classes and
 * table-value lists we are inside. */
static enum verdict run_restrictions(struct ctx *c, const strlist *l, const char *list_name,
                                     int depth)
{
    struct smtpd_state *s = c->s;
    enum verdict v = V_DUNNO;
    bool warn_next = false; /* warn_if_reject before this restriction */
    for (size_t i = 0; i < l->n && v == V_DUNNO; i++) {
        const char *name = l->v[i];
        bool warn = warn_next;
        warn_next = false;
        const struct smtpd_restriction *r = smtpd_restriction_find(name);
        const char *arg = r && r->has_argument && i + 1 < l->n ? l->v[++i] : NULL;
        int tf = 0;
        bool yes = false;
        struct access_keys k = {0};
        if (!r && strlist_contains(&restriction_classes, name)) {
            v = run_class(c, name, depth);
            goto next;
        }
        if (!r || r->id == SMTPD_R_NOT_IMPLEMENTED || (r->has_argument && !arg)) {
            /* postfix check and master's start-up warnings name it too. */
            msg_warn("%s: restriction \"%s\": %s; answering 451 4.3.5", list_name, name,
                     !r                        ? "unknown restriction"
                     : r->has_argument && !arg ? "its argument is missing"
                                               : "not implemented in this version");
            v = say(c, 451, "4.3.5", "Server configuration error");
            goto next;
        }
        if (smtpd_dns_handles(r->id)) {
            v = dns_check(c, r->id, arg, depth);
            goto next;
        }
        switch (r->id) {
        case SMTPD_R_NOT_IMPLEMENTED:
            break; /* handled above */
        case SMTPD_R_PERMIT:
            v = V_PERMIT;
            break;
        case SMTPD_R_DUNNO:
            break;
        case SMTPD_R_REJECT:
            v = say(c, 554, "5.7.1", "%s: %s rejected: Access denied", c->subject, c->class_text);
            break;
        case SMTPD_R_DEFER:
            v = say(c, 450, "4.7.1", "%s: %s rejected: Access denied", c->subject, c->class_text);
            break;
        case SMTPD_R_PERMIT_MYNETWORKS:
            if (client_in_mynetworks(s, &tf))
                v = V_PERMIT;
            else if (tf)
                v = say(c, 451, "4.3.0", "%s: Temporary lookup failure", c->subject);
            break;
        case SMTPD_R_PERMIT_INET_INTERFACES:
            if (resolve_is_interface_addr(rs, strbuf_str(&s->addr)))
                v = V_PERMIT;
            break;
        case SMTPD_R_PERMIT_SASL_AUTHENTICATED:
            if (smtpd_sasl_authenticated(s))
                v = V_PERMIT;
            break;
        case SMTPD_R_REJECT_SENDER_LOGIN_MISMATCH:
            v = login_mismatch(c, 'b');
            break;
        case SMTPD_R_REJECT_AUTHENTICATED_SENDER_LOGIN_MISMATCH:
            v = login_mismatch(c, 'a');
            break;
        case SMTPD_R_REJECT_KNOWN_SENDER_LOGIN_MISMATCH:
            v = login_mismatch(c, 'k');
            break;
        case SMTPD_R_REJECT_UNAUTHENTICATED_SENDER_LOGIN_MISMATCH:
            v = login_mismatch(c, 'u');
            break;
        case SMTPD_R_PERMIT_AUTH_DESTINATION:
        case SMTPD_R_REJECT_UNAUTH_DESTINATION:
        case SMTPD_R_DEFER_UNAUTH_DESTINATION:
            if (!c->rcpt)
                break;
            if (auth_destination(c, &yes) < 0)
                v = say(c, 451, "4.3.0", "<%s>: Temporary lookup failure", c->rcpt);
            else if (r->id == SMTPD_R_PERMIT_AUTH_DESTINATION && yes)
                v = V_PERMIT;
            else if (r->id == SMTPD_R_REJECT_UNAUTH_DESTINATION && !yes)
                v = say(c, (int)config_get_int("relay_domains_reject_code"), "5.7.1",
                        "<%s>: Relay access denied", c->rcpt);
            else if (r->id == SMTPD_R_DEFER_UNAUTH_DESTINATION && !yes)
                v = say(c, 454, "4.7.1", "<%s>: Relay access denied", c->rcpt);
            break;
        case SMTPD_R_REJECT_NON_FQDN_RECIPIENT:
            if (c->rcpt && !addr_domain_is_fqdn(c->rcpt, strlen(c->rcpt)))
                v = say(c, (int)config_get_int("non_fqdn_reject_code"), "5.5.2",
                        "<%s>: Recipient address rejected: need fully-qualified address", c->rcpt);
            break;
        case SMTPD_R_REJECT_NON_FQDN_SENDER:
            if (s->sender.len && !addr_domain_is_fqdn(s->sender.s, s->sender.len))
                v = say(c, (int)config_get_int("non_fqdn_reject_code"), "5.5.2",
                        "<%s>: Sender address rejected: need fully-qualified address",
                        strbuf_str(&s->sender));
            break;
        case SMTPD_R_REJECT_NON_FQDN_HELO_HOSTNAME:
            if (s->helo.len && !addr_helo_is_fqdn(s->helo.s, s->helo.len))
                v = say(c, (int)config_get_int("non_fqdn_reject_code"), "5.5.2",
                        "<%s>: Helo command rejected: need fully-qualified hostname",
                        strbuf_str(&s->helo));
            break;
        case SMTPD_R_REJECT_UNLISTED_RECIPIENT:
            break; /* done after the lists, see smtpd_check_rcpt */
        case SMTPD_R_REJECT_UNLISTED_SENDER:
            if (s->have_mail && s->sender.len &&
                (c->code = smtpd_unlisted_address(s, strbuf_str(&s->sender), true, c->reply)) != 0)
                v = V_REJECT;
            break;
        case SMTPD_R_WARN_IF_REJECT:
            warn_next = true;
            break;
        case SMTPD_R_REJECT_INVALID_HELO_HOSTNAME:
            if (s->helo.len && !addr_valid_hostname(s->helo.s, s->helo.len) &&
                !addr_valid_literal(s->helo.s, s->helo.len))
                v = say(c, (int)config_get_int("invalid_hostname_reject_code"), "5.5.2",
                        "<%s>: Helo command rejected: Invalid name", strbuf_str(&s->helo));
            break;
        case SMTPD_R_DEFER_IF_PERMIT:
        case SMTPD_R_DEFER_IF_REJECT: {
            strbuf *d =
                r->id == SMTPD_R_DEFER_IF_PERMIT ? &c->defer_if_permit : &c->defer_if_reject;
            strbuf_reset(d);
            strbuf_printf(d, "%d 4.7.1 %s: %s rejected: %s requested",
                          (int)config_get_int("defer_code"), c->subject, c->class_text, name);
            break;
        }
        case SMTPD_R_CHECK_CLIENT_ACCESS:
            access_keys_domain(&k, strbuf_str(&s->name), access_parent);
            access_keys_ip(&k, strbuf_str(&s->addr));
            v = access_about(c, arg, &k, depth, strbuf_str(&s->namaddr), "Client host");
            break;
        case SMTPD_R_CHECK_REVERSE_CLIENT_HOSTNAME_ACCESS: {
            /* The unverified PTR name (Postfix's reverse_client_name). */
            strbuf rev = STRBUF_INIT;
            if (smtpd_dns_reverse_name(strbuf_str(&s->addr), &rev) == 1)
                access_keys_domain(&k, strbuf_str(&rev), access_parent);
            else
                strbuf_set(&rev, "unknown");
            access_keys_ip(&k, strbuf_str(&s->addr));
            v = access_about(c, arg, &k, depth, strbuf_str(&rev), "Unverified Client host");
            strbuf_release(&rev);
            break;
        }
        case SMTPD_R_REJECT_UNAUTH_PIPELINING:
            if (s->ill_pipelining)
                v = say(c, 503, "5.5.0", "%s: %s rejected: Improper use of SMTP command pipelining",
                        c->subject, c->class_text);
            break;
        case SMTPD_R_CHECK_HELO_ACCESS:
            if (s->helo.len) {
                access_keys_domain(&k, strbuf_str(&s->helo), access_parent);
                v = access_about(c, arg, &k, depth, strbuf_str(&s->helo), "Helo command");
            }
            break;
        case SMTPD_R_CHECK_SENDER_ACCESS:
            if (s->have_mail) {
                access_keys_address(&k, s->sender.len ? strbuf_str(&s->sender) : "",
                                    config_get("recipient_delimiter"), access_parent,
                                    config_get("smtpd_null_access_lookup_key"));
                v = access_about(c, arg, &k, depth, strbuf_str(&s->sender), "Sender address");
            }
            break;
        case SMTPD_R_CHECK_POLICY_SERVICE:
            v = policy_check(c, arg, depth);
            break;
        case SMTPD_R_CHECK_RECIPIENT_ACCESS:
            if (c->rcpt && c->rcpt[0]) {
                access_keys_address(&k, c->rcpt, config_get("recipient_delimiter"), access_parent,
                                    "");
                v = access_about(c, arg, &k, depth, c->rcpt, "Recipient address");
            }
            break;
        default:
            break; /* smtpd_dns_handles() above */
        }
    next:
        /* warn_if_reject: the reject is logged as Postfix does, not sent. */
        if (warn && v == V_REJECT) {
            log_whatsup(s, "reject_warning", c->stage ? c->stage : "RCPT", strbuf_str(c->reply),
                        c->rcpt);
            strbuf_reset(c->reply);
            c->code = 0;
            v = V_DUNNO;
        }
    }
    return v;
}

/* The end of an evaluation: DEFER_IF_REJECT turns a 5xx into its own 4xx,
 * DEFER_IF_PERMIT turns an accept into its 4xx (Postfix). */
static int finish(struct ctx *c, bool rejected, const char *stage)
{
    if (rejected && c->code >= 500 && c->defer_if_reject.len) {
        strbuf_set(c->reply, strbuf_str(&c->defer_if_reject));
        c->code = atoi(strbuf_str(c->reply));
    } else if (!rejected && c->defer_if_permit.len) {
        strbuf_set(c->reply, strbuf_str(&c->defer_if_permit));
        c->code = atoi(strbuf_str(c->reply));
        rejected = true;
    }
    strbuf_release(&c->defer_if_permit);
    strbuf_release(&c->defer_if_reject);
    if (!rejected)
        return 0;
    smtpd_log_reject(c->s, stage, strbuf_str(c->reply), c->rcpt);
    return c->code;
}

bool smtpd_check_delay_reject(void)
{
    return delay_reject;
}

/* smtpd_delay_reject = no: one early list. A DEFER_IF_PERMIT there waits for
 * a final permit that only RCPT gives, so here it does not defer. */
static int check_early(struct smtpd_state *s, int which, const char *stage, strbuf *reply)
{
    struct ctx c = {.s = s,
                    .reply = reply,
                    .stage = stage,
                    .defer_if_permit = STRBUF_INIT,
                    .defer_if_reject = STRBUF_INIT};
    bool rejected = run_list(&c, which) == V_REJECT;
    strbuf_reset(&c.defer_if_permit);
    return finish(&c, rejected, stage);
}

int smtpd_check_client(struct smtpd_state *s, strbuf *reply)
{
    return check_early(s, 0, "CONNECT", reply);
}

int smtpd_check_helo(struct smtpd_state *s, strbuf *reply)
{
    return check_early(s, 1, "HELO", reply);
}

int smtpd_check_mail(struct smtpd_state *s, strbuf *reply)
{
    return check_early(s, 2, "MAIL", reply);
}

int smtpd_check_rcpt(struct smtpd_state *s, const char *rcpt, strbuf *reply)
{
    struct ctx c = {.s = s,
                    .rcpt = rcpt,
                    .reply = reply,
                    .stage = "RCPT",
                    .defer_if_permit = STRBUF_INIT,
                    .defer_if_reject = STRBUF_INIT};
    /* After a DISCARD every recipient is accepted (Postfix). */
    if (s->act.discard)
        return finish(&c, false, "RCPT");
    for (int i = delay_reject ? 0 : 3; i < 5; i++) {
        if (run_list(&c, i) == V_REJECT)
            return finish(&c, true, "RCPT");
        if (s->act.discard)
            return finish(&c, false, "RCPT");
    }
    bool unlisted = config_get_bool("smtpd_reject_unlisted_recipient") ||
                    strlist_contains(&lists[4], "reject_unlisted_recipient");
    if (unlisted && (c.code = smtpd_unlisted_address(s, rcpt, false, reply)) != 0)
        return finish(&c, true, "RCPT");
    return finish(&c, false, "RCPT");
}

/* smtpd_data_restrictions (which = 0) and smtpd_end_of_data_restrictions (1). */
static int check_data_list(struct smtpd_state *s, int which, const char *stage, strbuf *reply)
{
    if (data_lists[which].n == 0 || s->act.discard || s->stand_alone)
        return 0;
    struct ctx c = {.s = s,
                    .rcpt = s->rcpt_count == 1 && s->last_rcpt.s ? strbuf_str(&s->last_rcpt) : NULL,
                    .reply = reply,
                    .stage = stage,
                    .class_text = which ? "End-of-data" : "Data command",
                    .subject = which ? "<END-OF-MESSAGE>" : "<DATA>",
                    .defer_if_permit = STRBUF_INIT,
                    .defer_if_reject = STRBUF_INIT};
    enum verdict v = run_restrictions(&c, &data_lists[which], data_list_names[which], 0);
    return finish(&c, v == V_REJECT, stage);
}

bool smtpd_check_data_configured(void)
{
    return data_lists[0].n > 0;
}

int smtpd_check_data(struct smtpd_state *s, const char *stage, strbuf *reply)
{
    return check_data_list(s, 0, stage, reply);
}

int smtpd_check_eod(struct smtpd_state *s, strbuf *reply)
{
    return check_data_list(s, 1, "END-OF-MESSAGE", reply);
}

int smtpd_check_vrfy(struct smtpd_state *s, const char *rcpt, strbuf *reply)
{
    struct ctx c = {.s = s, .rcpt = rcpt, .reply = reply, .stage = "VRFY"};
    if ((c.code = smtpd_unlisted_address(s, rcpt, false, reply)) != 0) {
        smtpd_log_reject(s, "VRFY", strbuf_str(reply), rcpt);
        return c.code;
    }
    return 0;
}

bool smtpd_check_rewrite_local(struct smtpd_state *s)
{
    for (size_t i = 0; i < rewrite_clients.n; i++) {
        const char *r = rewrite_clients.v[i];
        int tf = 0;
        if (strcmp(r, "permit_inet_interfaces") == 0 &&
            resolve_is_interface_addr(rs, strbuf_str(&s->addr)))
            return true;
        if (strcmp(r, "permit_mynetworks") == 0 && client_in_mynetworks(s, &tf))
            return true;
        if (strcmp(r, "permit") == 0 || strcmp(r, "static:all") == 0)
            return true;
    }
    return false;
}
