/* smtp_generic - smtp_generic_maps (lmtp_generic_maps): generic(5) rewriting
 * of the envelope sender and recipients on output, and of the addresses in
 * the primary message headers (From:, To:, Cc:, Reply-To: ...; Postfix's
 * smtp_header_rewrite: display names, comments and folding are kept).
 *
 * The table is opened once per process, on first use. Lookup order is
 * lib/global/addr_map's (generic(5): user@domain, user for local domains,
 * @domain). A table that cannot answer is fatal for this delivery attempt,
 * as Postfix's smtp_map11 does: the process exits and the message stays
 * queued for a later try, never sent with a half-rewritten envelope.
 * Results are table text: trimmed, refused when empty, too long or holding
 * control characters (the address is then sent as it is).
 */
#include <stdlib.h>
#include <string.h>

#include "addr_map.h"
#include "config.h"
#include "header_addr.h"
#include "mem.h"
#include "msg.h"
#include "smtp.h"
#include "strlist.h"

static maps *generic;
static struct addr_map_ctx ctx;
static bool propagate;

static void generic_open(void)
{
    static bool opened;
    if (opened)
        return;
    opened = true;
    const char *param = smtp_cfg.lmtp ? "lmtp_generic_maps" : "smtp_generic_maps";
    strbuf err = STRBUF_INIT;
    generic = maps_open(param, config_get(param), MAP_SURROGATE, &err);
    if (!generic)
        msg_fatal("%s", strbuf_str(&err));
    /* No table (the default): nothing else is needed, nor logged. */
    if (maps_count(generic) == 0) {
        strbuf_release(&err);
        return;
    }
    const char *d = config_get("recipient_delimiter");
    ctx.delims = xstrdup(d ? d : "");
    ctx.myorigin = xstrdup(resolve_myorigin());
    ctx.res = resolve_open(&err);
    if (!ctx.res)
        msg_fatal("%s", strbuf_str(&err));
    strlist pw = STRLIST_INIT;
    const char *e = NULL;
    const char *pe = config_get("propagate_unmatched_extensions");
    (void)strlist_split(&pw, pe ? pe : "", ", \t\r\n", &e);
    propagate = strlist_contains_nocase(&pw, "generic");
    strlist_release(&pw);
    strbuf_release(&err);
}

void smtp_generic_map(const char *addr, strbuf *out)
{
    strbuf_set(out, addr);
    if (!addr[0])
        return; /* the null sender stays null */
    generic_open();
    if (maps_count(generic) == 0)
        return;
    strbuf v = STRBUF_INIT, err = STRBUF_INIT;
    enum map_result r = addr_map_lookup(&ctx, generic, addr, propagate, &v, &err);
    if (r == MAP_TEMPFAIL)
        msg_fatal("%s map lookup problem for %s: %s",
                  smtp_cfg.lmtp ? "lmtp_generic_maps" : "smtp_generic_maps", addr,
                  strbuf_str(&err));
    bool ok = r == MAP_FOUND && v.len > 0 && v.len <= 4096;
    for (size_t i = 0; ok && i < v.len; i++)
        ok = (unsigned char)v.s[i] >= 0x20 && v.s[i] != 0x7f && v.s[i] != ',';
    if (ok) {
        strbuf_set(out, strbuf_str(&v));
        resolve_canonical(out);
    }
    strbuf_release(&v);
    strbuf_release(&err);
}

bool smtp_generic_headers(void)
{
    generic_open();
    return maps_count(generic) > 0;
}

static int header_map(void *unused, const char *addr, strbuf *out, strbuf *err)
{
    (void)unused;
    (void)err;
    smtp_generic_map(addr, out);
    return !strbuf_eq(out, addr);
}

bool smtp_generic_header(const char *header, size_t len, enum header_id id, strbuf *out)
{
    if (!header_addr_class(id) || !smtp_generic_headers())
        return false;
    size_t vlen = 0;
    const char *v = header_value(header, len, &vlen);
    strbuf nv = STRBUF_INIT, err = STRBUF_INIT;
    bool changed = header_addr_rewrite(v, vlen, header_map, NULL, &nv, &err) > 0;
    if (changed) {
        strbuf_reset(out);
        strbuf_append(out, header, (size_t)(v - header));
        strbuf_append(out, nv.s, nv.len);
    }
    strbuf_release(&nv);
    strbuf_release(&err);
    return changed;
}
