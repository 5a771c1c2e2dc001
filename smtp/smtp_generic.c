/* smtp_generic - smtp_generic_maps (lmtp_generic_maps): generic(5) rewriting
 * of the envelope sender and recipients on output.
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
