/* smtpd_unlisted - is an address one this server can deliver?
 *
 * Postfix's reject_unlisted_recipient / reject_unlisted_sender (and the
 * smtpd_reject_unlisted_recipient default): an address that resolves to a
 * class whose table does not list it is refused at RCPT with 550 5.1.1
 * rather than accepted and bounced later. Per address class, as Postfix 3.7:
 *
 *   any class          listed in recipient_canonical_maps (sender_canonical_maps
 *                      for a sender), canonical_maps or virtual_alias_maps:
 *                      known (cleanup rewrites it)
 *   local              local_recipient_maps (empty: no check)
 *   virtual alias      not in virtual_alias_maps: unknown
 *   virtual mailbox    virtual_mailbox_maps (empty: no check)
 *   relay              relay_recipient_maps (empty: no check)
 *   default            no check
 *
 * Table keys follow Postfix's mail_addr_find: the address, the address
 * without its recipient_delimiter extension, then @domain (the catch-all);
 * local_recipient_maps also tries the local part alone, as local(8) does.
 * relocated_maps answers first, for every class: 550 5.1.6 "User has
 * moved to <its text>" (Postfix's text; the delivery-time counterpart,
 * the error transport, is not done here).
 * A table that cannot answer gives 451 4.3.0, never an accept.
 */
#include <string.h>

#include "address.h"
#include "config.h"
#include "maps.h"
#include "msg.h"
#include "resolve.h"
#include "smtpd.h"
#include "strlist.h"

#define TEMP_ERROR_FMT "451 4.3.0 <%s>: Temporary lookup failure"

static resolve *rs;
static maps *local_rcpt_maps;   /* NULL: no local recipient check */
static maps *virt_alias_maps;   /* NULL: empty */
static maps *virt_mailbox_maps; /* NULL: no virtual mailbox check */
static maps *relay_rcpt_maps;   /* NULL: no relay recipient check */
static maps *relocated_maps;    /* NULL: empty */
/* Addresses cleanup's canonical mapping rewrites count as known (Postfix's
 * check_rcpt_maps): what they become is checked at delivery. */
static maps *canonical_maps, *rcpt_canonical_maps, *sender_canonical_maps;

static maps *open_param(const char *param)
{
    if (!*config_get(param))
        return NULL;
    strbuf err = STRBUF_INIT;
    maps *m = maps_open(param, config_get(param), MAP_SURROGATE, &err);
    if (!m)
        msg_fatal("%s", strbuf_str(&err));
    strbuf_release(&err);
    return m;
}

static void split_or_die(strlist *sl, const char *param)
{
    const char *e = NULL;
    if (strlist_split(sl, config_get(param), ", \t\r\n", &e) < 0)
        msg_fatal("parameter %s: %s", param, e);
}

void smtpd_unlisted_init(void)
{
    strbuf err = STRBUF_INIT;
    if (!(rs = resolve_open(&err)))
        msg_fatal("%s", strbuf_str(&err));
    canonical_maps = open_param("canonical_maps");
    rcpt_canonical_maps = open_param("recipient_canonical_maps");
    sender_canonical_maps = open_param("sender_canonical_maps");

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

    virt_alias_maps = open_param("virtual_alias_maps");
    virt_mailbox_maps = open_param("virtual_mailbox_maps");
    relay_rcpt_maps = open_param("relay_recipient_maps");
    relocated_maps = open_param("relocated_maps");
}

/* One lookup; 1 found (value), 0 not, -1 table failure (logged). */
static int lookup(maps *m, const char *param, const char *key, strbuf *value)
{
    strbuf err = STRBUF_INIT;
    enum map_result r = maps_find(m, key, 0, value, &err);
    if (r == MAP_TEMPFAIL)
        msg_warn("%s: %s", param, strbuf_str(&err));
    strbuf_release(&err);
    return r == MAP_FOUND ? 1 : r == MAP_TEMPFAIL ? -1 : 0;
}

static int find_value(maps *m, const char *param, const char *addr, bool bare_local, strbuf *value);

int smtpd_unlisted_find(maps *m, const char *param, const char *addr, bool bare_local)
{
    strbuf value = STRBUF_INIT;
    int r = find_value(m, param, addr, bare_local, &value);
    strbuf_release(&value);
    return r;
}

static int find_value(maps *m, const char *param, const char *addr, bool bare_local, strbuf *value)
{
    if (!m)
        return 0;
    size_t len = strlen(addr), at = len;
    (void)addr_split(addr, len, &at);
    const char *delim = config_get("recipient_delimiter");
    size_t base = at;
    bool ext = delim[0] && addr_split_extension(addr, at, delim, &base) && base < at;
    strbuf key = STRBUF_INIT;
    int result = 0;
    /* address, address minus extension, local part, local part minus
     * extension (local only), @domain (not for local). */
    for (int pass = 0; pass < 5 && result == 0; pass++) {
        strbuf_reset(&key);
        switch (pass) {
        case 0:
            if (at == len)
                continue;
            strbuf_append(&key, addr, len);
            break;
        case 1:
            if (at == len || !ext)
                continue;
            strbuf_append(&key, addr, base);
            strbuf_append(&key, addr + at, len - at);
            break;
        case 2:
            if (!bare_local)
                continue;
            strbuf_append(&key, addr, at);
            break;
        case 3:
            if (!bare_local || !ext)
                continue;
            strbuf_append(&key, addr, base);
            break;
        case 4:
            if (bare_local || at == len)
                continue;
            strbuf_append(&key, addr + at, len - at); /* "@domain" */
            break;
        }
        result = lookup(m, param, strbuf_str(&key), value);
    }
    strbuf_release(&key);
    return result;
}

int smtpd_unlisted_address(struct smtpd_state *s, const char *addr, bool is_sender, strbuf *reply)
{
    (void)s;
    const char *what = is_sender ? "Sender" : "Recipient";
    resolve_result rr;
    strbuf err = STRBUF_INIT;
    int rc = resolve_address(rs, addr, &rr, &err);
    strbuf_release(&err);
    if (rc < 0) {
        strbuf_reset(reply);
        strbuf_printf(reply, TEMP_ERROR_FMT, addr);
        return 451;
    }
    /* relocated_maps (relocated(5)): "User has moved", for any class;
     * the table's text goes into the reply up to its first control
     * character, so a value can never add a reply line. */
    if (!is_sender && relocated_maps) {
        strbuf where = STRBUF_INIT;
        int moved =
            find_value(relocated_maps, "relocated_maps", addr, rr.cls == RESOLVE_LOCAL, &where);
        if (moved != 0) {
            size_t n = 0;
            while (n < where.len && (unsigned char)where.s[n] >= 0x20 && where.s[n] != 0x7f)
                n++;
            strbuf_reset(reply);
            if (moved < 0)
                strbuf_printf(reply, TEMP_ERROR_FMT, addr);
            else
                strbuf_printf(reply, "550 5.1.6 <%s>: %s address rejected: User has moved to %.*s",
                              addr, what, (int)n, where.s ? where.s : "");
        }
        strbuf_release(&where);
        if (moved != 0)
            return moved < 0 ? 451 : 550;
    }
    if (rr.cls == RESOLVE_DEFAULT)
        return 0;
    /* Any class: an address the canonical maps or virtual_alias_maps
     * rewrite is deliverable as whatever it becomes (Postfix's order). */
    bool local = rr.cls == RESOLVE_LOCAL;
    int found = smtpd_unlisted_find(rcpt_canonical_maps, "recipient_canonical_maps", addr, local);
    if (found == 0 && is_sender)
        found = smtpd_unlisted_find(sender_canonical_maps, "sender_canonical_maps", addr, local);
    if (found == 0)
        found = smtpd_unlisted_find(canonical_maps, "canonical_maps", addr, local);
    if (found == 0)
        found = smtpd_unlisted_find(virt_alias_maps, "virtual_alias_maps", addr, false);
    if (found > 0)
        return 0;
    maps *m = NULL;
    const char *param = NULL, *table = NULL, *code_param = NULL;
    bool bare = false;
    switch (rr.cls) {
    case RESOLVE_LOCAL:
        m = local_rcpt_maps, param = "local_recipient_maps", table = "local recipient";
        code_param = "unknown_local_recipient_reject_code", bare = true;
        if (!m)
            return 0;
        break;
    case RESOLVE_VIRTUAL_ALIAS:
        table = "virtual alias", code_param = "unknown_virtual_alias_reject_code";
        break;
    case RESOLVE_VIRTUAL_MAILBOX:
        m = virt_mailbox_maps, param = "virtual_mailbox_maps", table = "virtual mailbox";
        code_param = "unknown_virtual_mailbox_reject_code";
        if (!m)
            return 0;
        break;
    case RESOLVE_RELAY:
        m = relay_rcpt_maps, param = "relay_recipient_maps", table = "relay recipient";
        code_param = "unknown_relay_recipient_reject_code";
        if (!m)
            return 0;
        break;
    default:
        return 0;
    }
    if (found == 0 && m)
        found = smtpd_unlisted_find(m, param, addr, bare);
    if (found < 0) {
        strbuf_reset(reply);
        strbuf_printf(reply, TEMP_ERROR_FMT, addr);
        return 451;
    }
    if (found > 0)
        return 0;
    int code = (int)config_get_int(code_param);
    strbuf_reset(reply);
    strbuf_printf(reply, "%d %s <%s>: %s address rejected: User unknown in %s table", code,
                  code / 100 == 4 ? (is_sender ? "4.1.0" : "4.1.1")
                                  : (is_sender ? "5.1.0" : "5.1.1"),
                  addr, what, table);
    return code;
}
