/* addr_map - canonical(5)/virtual(5)/generic(5) table lookup order (see the header). */
#include <string.h>
#include <strings.h>

#include "addr_map.h"
#include "address.h"

/* Is `domain` one where the bare "user" form applies? */
static int domain_is_local(const struct addr_map_ctx *rc, const char *domain, strbuf *err)
{
    if (rc->myorigin && strcasecmp(domain, rc->myorigin) == 0)
        return 1;
    return rc->res ? resolve_domain_is_local(rc->res, domain, err) : 0;
}

/* Put the extension back: user@dom → user+ext@dom (first delimiter). */
static void add_extension(strbuf *addr, char delim, const char *ext, size_t ext_len)
{
    size_t at = 0;
    strbuf tail = STRBUF_INIT;
    bool has_at = addr_split(strbuf_str(addr), addr->len, &at);
    if (has_at) {
        strbuf_puts(&tail, strbuf_str(addr) + at);
        strbuf_truncate(addr, at);
    }
    strbuf_putc(addr, delim);
    strbuf_append(addr, ext, ext_len);
    strbuf_append(addr, tail.s ? tail.s : "", tail.len);
    strbuf_release(&tail);
}

enum map_result addr_map_lookup(const struct addr_map_ctx *rc, maps *ms, const char *addr,
                                bool propagate, strbuf *out, strbuf *err)
{
    if (!ms || maps_count(ms) == 0 || !addr[0])
        return MAP_NOTFOUND;
    size_t len = strlen(addr), at = len;
    bool has_at = addr_split(addr, len, &at);
    size_t base = at;
    bool has_ext = rc->delims && rc->delims[0] && addr_split_extension(addr, at, rc->delims, &base);
    const char *domain = has_at ? addr + at + 1 : NULL;
    strbuf key = STRBUF_INIT;
    enum map_result r = MAP_NOTFOUND;
    bool stripped = false;

    /* user+ext@domain, user@domain */
    r = maps_find(ms, addr, 0, out, err);
    if (r == MAP_NOTFOUND && has_ext) {
        strbuf_append(&key, addr, base);
        strbuf_puts(&key, addr + at);
        r = maps_find(ms, strbuf_str(&key), 0, out, err);
        stripped = r == MAP_FOUND;
    }
    /* user+ext, user: only for our own domains */
    if (r == MAP_NOTFOUND && domain) {
        int loc = domain_is_local(rc, domain, err);
        if (loc < 0) {
            r = MAP_TEMPFAIL;
        } else if (loc > 0) {
            strbuf_reset(&key);
            strbuf_append(&key, addr, at);
            r = maps_find(ms, strbuf_str(&key), MAP_KIND_FIXED, out, err);
            if (r == MAP_NOTFOUND && has_ext) {
                strbuf_reset(&key);
                strbuf_append(&key, addr, base);
                r = maps_find(ms, strbuf_str(&key), MAP_KIND_FIXED, out, err);
                stripped = r == MAP_FOUND;
            }
        }
    }
    /* @domain: the user part (with its extension) survives through the
     * "@other" result form; no propagation needed. */
    if (r == MAP_NOTFOUND && domain) {
        strbuf_reset(&key);
        strbuf_puts(&key, addr + at);
        r = maps_find(ms, strbuf_str(&key), MAP_KIND_FIXED, out, err);
    }
    if (r == MAP_FOUND) {
        strbuf_trim(out);
        /* "@other": same user (full local part) in another domain. */
        if (out->len > 0 && out->s[0] == '@') {
            strbuf res = STRBUF_INIT;
            strbuf_append(&res, addr, at);
            strbuf_append(&res, out->s, out->len);
            strbuf_set(out, strbuf_str(&res));
            strbuf_release(&res);
            stripped = false;
        }
        if (stripped && propagate && out->len > 0 && !strchr(strbuf_str(out), ',')) {
            char delim = addr[base];
            add_extension(out, delim, addr + base + 1, at - base - 1);
        }
    }
    strbuf_release(&key);
    return r;
}
