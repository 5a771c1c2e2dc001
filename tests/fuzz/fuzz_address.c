/* libFuzzer: address parsing, quoting round trip, sanitizer, host names.
 * Invariants: no accepted address holds a control character; internal ->
 * external -> internal is the identity; the sanitizer output is bounded
 * and printable. Any violation aborts. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "address.h"

static void check(int cond)
{
    if (!cond)
        abort();
}

static int no_ctl(const strbuf *sb)
{
    for (size_t i = 0; i < sb->len; i++) {
        unsigned char c = (unsigned char)sb->s[i];
        if (c < 0x20 || c == 0x7f)
            return 0;
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned flags = data[0] & (ADDR_F_STRICT | ADDR_F_UTF8 | ADDR_F_NO_EMPTY);
    const addr_limits *lim = (data[0] & 0x80) ? &addr_limits_rfc : NULL;
    const char *in = (const char *)data + 1;
    size_t len = size - 1;

    addr_path p = ADDR_PATH_INIT;
    strbuf ext = STRBUF_INIT, back = STRBUF_INIT, err = STRBUF_INIT;
    size_t used = 0;
    if (addr_parse_path(&p, in, len, &used, flags, lim, &err) == 0) {
        check(used <= len);
        check(no_ctl(&p.addr));
        check(!p.null || p.addr.len == 0);
        addr_externalize(&ext, p.addr.s, p.addr.len);
        check(no_ctl(&ext));
        addr_limits wide = lim ? *lim : addr_limits_lenient;
        wide.path_max = SIZE_MAX;
        check(addr_internalize(&back, ext.s, ext.len, flags | ADDR_F_UTF8, &wide, NULL) == 0);
        check(back.len == p.addr.len && memcmp(back.s, p.addr.s, back.len) == 0);
        (void)addr_domain_is_fqdn(p.addr.s, p.addr.len);
        size_t at, base;
        size_t llen = addr_split(p.addr.s, p.addr.len, &at) ? at : p.addr.len;
        if (addr_split_extension(p.addr.s, llen, "+-", &base))
            check(base > 0 && base < llen);
        addr_lowercase_domain(&p.addr);
    } else {
        check(p.addr.len == 0);
        check(err.len > 0);
    }
    if (addr_internalize(&back, in, len, flags, lim, NULL) == 0)
        check(no_ctl(&back));

    size_t max = data[0];
    addr_sanitize(&ext, in, len, max, flags & ADDR_F_UTF8);
    check(ext.len <= max);
    for (size_t i = 0; i < ext.len; i++) {
        unsigned char c = (unsigned char)ext.s[i];
        check(c >= 0x20 && c != 0x7f && ((flags & ADDR_F_UTF8) || c < 0x80));
    }
    if (flags & ADDR_F_UTF8)
        check(addr_utf8_valid((const unsigned char *)ext.s, ext.len));

    (void)addr_valid_hostname(in, len);
    (void)addr_valid_literal(in, len);
    (void)addr_helo_is_fqdn(in, len);
    (void)addr_utf8_valid((const unsigned char *)in, len);

    addr_path_release(&p);
    strbuf_release(&ext);
    strbuf_release(&back);
    strbuf_release(&err);
    return 0;
}
