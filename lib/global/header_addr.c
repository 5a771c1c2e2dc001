/* header_addr - address header rewriting; see header_addr.h. */
#include "header_addr.h"

#include <stdbool.h>
#include <string.h>

#include "addr_list.h"
#include "address.h"
#include "strlist.h"

unsigned header_addr_class(enum header_id id)
{
    switch (id) {
    case HDR_FROM:
    case HDR_SENDER:
    case HDR_REPLY_TO:
    case HDR_RETURN_PATH:
    case HDR_RESENT_FROM:
    case HDR_RESENT_SENDER:
    case HDR_ERRORS_TO:
    case HDR_RETURN_RECEIPT_TO:
        return HEADER_ADDR_SENDER;
    case HDR_TO:
    case HDR_CC:
    case HDR_BCC:
    case HDR_RESENT_TO:
    case HDR_RESENT_CC:
    case HDR_RESENT_BCC:
    case HDR_APPARENTLY_TO:
        return HEADER_ADDR_RCPT;
    default:
        return 0;
    }
}

/* Is c a place where an address token may start or end? */
static bool boundary(char c)
{
    return c == '<' || c == '>' || c == ',' || c == ':' || c == ';' || c == ' ' || c == '\t' ||
           c == '\n' || c == '(';
}

int header_addr_rewrite(const char *value, size_t len, header_addr_map_fn map, void *ctx,
                        strbuf *out, strbuf *err)
{
    strlist addrs = STRLIST_INIT, from = STRLIST_INIT, to = STRLIST_INIT;
    strbuf in = STRBUF_INIT, mapped = STRBUF_INIT, ext = STRBUF_INIT, perr = STRBUF_INIT;
    int rc = 0;
    if (addr_list_parse(value, len, &addrs, 1000, &perr) < 0)
        goto done;
    for (size_t i = 0; i < addrs.n; i++) {
        if (addr_internalize(&in, addrs.v[i], strlen(addrs.v[i]), ADDR_F_UTF8, NULL, NULL) < 0 ||
            in.len == 0)
            continue;
        int r = map(ctx, strbuf_str(&in), &mapped, err);
        if (r < 0) {
            rc = -1;
            goto done;
        }
        if (r == 0)
            continue;
        strbuf_reset(&ext);
        addr_externalize(&ext, mapped.s, mapped.len);
        strlist_push(&from, addrs.v[i]);
        strlist_push(&to, strbuf_str(&ext));
    }
    if (from.n == 0)
        goto done;
    strbuf_reset(out);
    bool quoted = false;
    int comment = 0;
    for (size_t i = 0; i < len;) {
        char c = value[i];
        if (c == '\\' && i + 1 < len && (quoted || comment)) {
            strbuf_append(out, value + i, 2);
            i += 2;
            continue;
        }
        if (!comment && c == '"') {
            quoted = !quoted;
        } else if (!quoted && c == '(') {
            comment++;
        } else if (!quoted && comment && c == ')') {
            comment--;
        } else if (!quoted && !comment && (i == 0 || boundary(value[i - 1]))) {
            size_t k = 0;
            for (; k < from.n; k++) {
                size_t fl = strlen(from.v[k]);
                if (fl <= len - i && memcmp(value + i, from.v[k], fl) == 0 &&
                    (i + fl == len || boundary(value[i + fl])))
                    break;
            }
            if (k < from.n) {
                strbuf_puts(out, to.v[k]);
                i += strlen(from.v[k]);
                continue;
            }
        }
        strbuf_putc(out, c);
        i++;
    }
    rc = 1;
done:
    strlist_release(&addrs);
    strlist_release(&from);
    strlist_release(&to);
    strbuf_release(&in);
    strbuf_release(&mapped);
    strbuf_release(&ext);
    strbuf_release(&perr);
    return rc;
}
