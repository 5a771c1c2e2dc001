/* smtpd_check - access restrictions.
 *
 * With smtpd_delay_reject (Postfix's default, and the only mode here) the
 * client, helo and sender restrictions are evaluated at RCPT time, then
 * smtpd_relay_restrictions, then smtpd_recipient_restrictions, then the
 * local recipient check (smtpd_reject_unlisted_recipient). The first
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
 * reject_unlisted_recipient, check_{client,helo,sender,recipient}_access
 * type:table (OK, REJECT [text], DEFER [text], DUNNO, PERMIT, or "NNN
 * text"). Anything else -- a Postfix restriction we don't have (the DNS
 * based ones among them), an unknown name -- is logged and the client gets
 * 451 4.3.5: never an accept of what the restriction might have rejected.
 * `postfix check` reports such names as errors, master's start as
 * warnings (lib/global/config_fidelity).
 *
 * smtpd_data_restrictions and smtpd_end_of_data_restrictions are not
 * evaluated: either one set makes DATA and BDAT get 451 4.3.5.
 */
#include <ctype.h>
#include <stdarg.h>
#include <string.h>
#include <strings.h>

#include "address.h"
#include "config.h"
#include "maps.h"
#include "match_list.h"
#include "mem.h"
#include "msg.h"
#include "resolve.h"
#include "smtpd.h"
#include "smtpd_dns_check.h"
#include "smtpd_restriction.h"
#include "strlist.h"

enum verdict { V_DUNNO, V_PERMIT, V_REJECT };

static resolve *rs;
static match_list *mynetworks;
static maps *local_rcpt_maps; /* NULL: no local recipient check */
static strlist lists[5];      /* client helo sender relay recipient */
static strlist rewrite_clients;
static strlist data_lists[2]; /* not evaluated: see smtpd_check_data */
static const char *data_list_names[2] = {"smtpd_data_restrictions",
                                         "smtpd_end_of_data_restrictions"};
static maps *sender_login_maps; /* NULL: not configured */
static const char *list_names[5] = {"smtpd_client_restrictions", "smtpd_helo_restrictions",
                                    "smtpd_sender_restrictions", "smtpd_relay_restrictions",
                                    "smtpd_recipient_restrictions"};

#define CONFIG_ERROR_REPLY "451 4.3.5 Server configuration error"
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

    /* local_recipient_maps: NIS is not available here; Postfix behaves as
     * if such tables were empty when NIS is not set up. */
    strlist items = STRLIST_INIT, aliases = STRLIST_INIT;
    split_or_die(&items, "local_recipient_maps");
    split_or_die(&aliases, "alias_maps");
    for (size_t i = 0; i < items.n; i++) {
        if (strncmp(items.v[i], "nis:", 4) == 0 || strncmp(items.v[i], "proxy:nis:", 10) == 0) {
            msg_info("local_recipient_maps: ignoring %s (NIS is not supported)", items.v[i]);
            continue;
        }
        if (!local_rcpt_maps)
            local_rcpt_maps = maps_open("local_recipient_maps", "", 0, &err);
        /* An alias table answers here as local(8) reads it: without the
         * $n rules it refuses, or smtpd would accept what local bounces. */
        unsigned flags = MAP_SURROGATE;
        if (strlist_contains(&aliases, items.v[i]))
            flags |= MAP_NO_REGSUB;
        if (maps_append(local_rcpt_maps, items.v[i], flags, &err) < 0)
            msg_fatal("%s", strbuf_str(&err));
    }
    strlist_release(&items);
    strlist_release(&aliases);
    strbuf_release(&err);
}

void smtpd_log_reject(struct smtpd_state *s, const char *stage, const char *reply_text,
                      const char *to)
{
    strbuf line = STRBUF_INIT, tmp = STRBUF_INIT;
    strbuf_printf(&line, "%s: reject: %s from %s: %s;",
                  s->queue_id.len ? strbuf_str(&s->queue_id) : "NOQUEUE", stage,
                  strbuf_str(&s->namaddr), reply_text);
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

struct ctx {
    struct smtpd_state *s;
    const char *rcpt;
    strbuf *reply;
    int code;
    const char *class_text; /* "Recipient address" */
    const char *subject;    /* what the reply is about: <rcpt>, <helo>, host[addr] */
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

/* check_*_access: the table's answer to `key`. */
static enum verdict access_action(struct ctx *c, const char *table, const char *key)
{
    strbuf err = STRBUF_INIT, value = STRBUF_INIT;
    map *m = map_open(table, MAP_SURROGATE, &err);
    enum verdict v = V_DUNNO;
    if (!m) {
        msg_warn("%s", strbuf_str(&err));
        v = say(c, 451, "4.3.5", "Server configuration error");
        goto out;
    }
    enum map_result r = map_lookup(m, key, &value, &err);
    if (r == MAP_TEMPFAIL) {
        msg_warn("%s: %s", table, strbuf_str(&err));
        v = say(c, 451, "4.3.0", "%s: Temporary lookup failure", c->subject);
    } else if (r == MAP_FOUND) {
        const char *a = strbuf_str(&value);
        size_t wl = strcspn(a, " \t");
        const char *text = a + wl + strspn(a + wl, " \t");
        if ((wl == 2 && strncasecmp(a, "OK", 2) == 0) || (wl == 6 && !strncasecmp(a, "PERMIT", 6)))
            v = V_PERMIT;
        else if (wl == 5 && strncasecmp(a, "DUNNO", 5) == 0)
            v = V_DUNNO;
        else if (wl == 6 && strncasecmp(a, "REJECT", 6) == 0)
            v = say(c, 554, "5.7.1", "%s: %s rejected: %s", c->subject, c->class_text,
                    *text ? text : "Access denied");
        else if (wl == 5 && strncasecmp(a, "DEFER", 5) == 0)
            v = say(c, 450, "4.7.1", "%s: %s rejected: %s", c->subject, c->class_text,
                    *text ? text : "Access denied");
        else if (wl == 3 && isdigit((unsigned char)a[0]) && isdigit((unsigned char)a[1]) &&
                 isdigit((unsigned char)a[2]) && (a[0] == '4' || a[0] == '5'))
            v = say(c, (a[0] - '0') * 100 + (a[1] - '0') * 10 + (a[2] - '0'),
                    a[0] == '4' ? "4.7.1" : "5.7.1", "%s: %s rejected: %s", c->subject,
                    c->class_text, *text ? text : "Access denied");
        else {
            msg_warn("access table %s: unsupported action \"%.100s\" for %s", table, a, key);
            v = say(c, 451, "4.3.5", "Server configuration error");
        }
    }
out:
    map_free(&m);
    strbuf_release(&err);
    strbuf_release(&value);
    return v;
}

/* The DNS-based restrictions live in smtpd_dns_check.c; table actions
 * they find are evaluated here, by access_action. */
static enum smtpd_dns_verdict dns_access(void *ctx, const char *table, const char *key)
{
    enum verdict v = access_action(ctx, table, key);
    return v == V_PERMIT ? SMTPD_DNS_PERMIT : v == V_REJECT ? SMTPD_DNS_REJECT : SMTPD_DNS_DUNNO;
}

static enum verdict dns_check(struct ctx *c, enum smtpd_restriction_id id, const char *arg)
{
    int code = 0;
    enum smtpd_dns_verdict v =
        smtpd_dns_check(c->s, id, arg, c->rcpt, c->reply, &code, dns_access, c);
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
        strbuf_printf(&subj, "%s", strbuf_str(&s->namaddr));
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

    for (size_t i = 0; i < l->n && v == V_DUNNO; i++) {
        const char *name = l->v[i];
        const struct smtpd_restriction *r = smtpd_restriction_find(name);
        const char *arg = r && r->has_argument && i + 1 < l->n ? l->v[++i] : NULL;
        int tf = 0;
        bool yes = false;
        if (!r || r->id == SMTPD_R_NOT_IMPLEMENTED || (r->has_argument && !arg)) {
            /* postfix check and master's start-up warnings name it too. */
            msg_warn("%s: restriction \"%s\": %s; answering 451 4.3.5", list_names[which], name,
                     !r                        ? "unknown restriction"
                     : r->has_argument && !arg ? "its argument is missing"
                                               : "not implemented in this version");
            v = say(c, 451, "4.3.5", "Server configuration error");
            continue;
        }
        if (smtpd_dns_handles(r->id)) {
            v = dns_check(c, r->id, arg);
            continue;
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
        case SMTPD_R_CHECK_CLIENT_ACCESS:
            v = access_action(c, arg, strbuf_str(&s->addr));
            break;
        case SMTPD_R_CHECK_HELO_ACCESS:
            if (s->helo.len)
                v = access_action(c, arg, strbuf_str(&s->helo));
            break;
        case SMTPD_R_CHECK_SENDER_ACCESS: {
            const char *key =
                s->sender.len ? strbuf_str(&s->sender) : config_get("smtpd_null_access_lookup_key");
            if (key[0])
                v = access_action(c, arg, key);
            break;
        }
        case SMTPD_R_CHECK_RECIPIENT_ACCESS:
            if (c->rcpt && c->rcpt[0])
                v = access_action(c, arg, c->rcpt);
            break;
        default:
            break; /* smtpd_dns_handles() above */
        }
    }
    strbuf_release(&subj);
    return v;
}

/* Is the local part (or the address) in local_recipient_maps? 1/0/-1. */
static int local_recipient_known(const char *rcpt)
{
    if (!local_rcpt_maps)
        return 1;
    strbuf key = STRBUF_INIT, value = STRBUF_INIT, err = STRBUF_INIT;
    size_t len = strlen(rcpt), at = len;
    (void)addr_split(rcpt, len, &at);
    int result = 0;
    /* Full address, then local part, then local part without extension. */
    for (int pass = 0; pass < 3 && result == 0; pass++) {
        strbuf_reset(&key);
        if (pass == 0) {
            if (at == len)
                continue;
            strbuf_append(&key, rcpt, len);
        } else if (pass == 1) {
            strbuf_append(&key, rcpt, at);
        } else {
            size_t base = 0;
            const char *delim = config_get("recipient_delimiter");
            if (!delim[0] || !addr_split_extension(rcpt, at, delim, &base))
                continue;
            strbuf_append(&key, rcpt, base);
        }
        enum map_result r = maps_find(local_rcpt_maps, strbuf_str(&key), 0, &value, &err);
        if (r == MAP_FOUND)
            result = 1;
        else if (r == MAP_TEMPFAIL) {
            msg_warn("local_recipient_maps: %s", strbuf_str(&err));
            result = -1;
        }
    }
    strbuf_release(&key);
    strbuf_release(&value);
    strbuf_release(&err);
    return result;
}

static int unlisted_check(struct ctx *c)
{
    resolve_result rr;
    strbuf err = STRBUF_INIT;
    int rc = resolve_address(rs, c->rcpt, &rr, &err);
    strbuf_release(&err);
    if (rc < 0) {
        say(c, 451, "4.3.0", "<%s>: Temporary lookup failure", c->rcpt);
        return c->code;
    }
    if (rr.cls != RESOLVE_LOCAL)
        return 0; /* virtual/relay recipient validation comes with those maps */
    int known = local_recipient_known(c->rcpt);
    if (known < 0) {
        say(c, 450, "4.3.0", "<%s>: Recipient address rejected: temporary lookup failure", c->rcpt);
        return c->code;
    }
    if (known == 0) {
        say(c, (int)config_get_int("unknown_local_recipient_reject_code"), "5.1.1",
            "<%s>: Recipient address rejected: User unknown in local recipient table", c->rcpt);
        return c->code;
    }
    return 0;
}

int smtpd_check_rcpt(struct smtpd_state *s, const char *rcpt, strbuf *reply)
{
    struct ctx c = {.s = s, .rcpt = rcpt, .reply = reply};
    for (int i = 0; i < 5; i++) {
        if (run_list(&c, i) == V_REJECT) {
            smtpd_log_reject(s, "RCPT", strbuf_str(reply), rcpt);
            return c.code;
        }
    }
    bool unlisted = config_get_bool("smtpd_reject_unlisted_recipient") ||
                    strlist_contains(&lists[4], "reject_unlisted_recipient");
    if (unlisted && unlisted_check(&c) != 0) {
        smtpd_log_reject(s, "RCPT", strbuf_str(reply), rcpt);
        return c.code;
    }
    return 0;
}

int smtpd_check_data(struct smtpd_state *s, const char *stage, strbuf *reply)
{
    for (int i = 0; i < 2; i++) {
        if (data_lists[i].n == 0)
            continue;
        msg_warn("%s: not implemented in this version; answering %s with 451 4.3.5",
                 data_list_names[i], stage);
        strbuf_set(reply, CONFIG_ERROR_REPLY);
        smtpd_log_reject(s, stage, strbuf_str(reply), NULL);
        return 451;
    }
    return 0;
}

int smtpd_check_vrfy(struct smtpd_state *s, const char *rcpt, strbuf *reply)
{
    struct ctx c = {.s = s, .rcpt = rcpt, .reply = reply};
    if (unlisted_check(&c) != 0) {
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
