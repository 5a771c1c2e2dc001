/* address - RFC 5321/5322 mailbox syntax (see address.h for the contract). */
#include "address.h"

#include <arpa/inet.h>
#include <string.h>
#include <strings.h>

#include "mem.h"

const addr_limits addr_limits_rfc = {ADDR_RFC_LOCAL_MAX, ADDR_RFC_DOMAIN_MAX, ADDR_RFC_PATH_MAX};
/* Postfix itself only bounds addresses by line_length_limit; SRS and VERP
 * local parts regularly exceed 64 bytes, so the default is generous but
 * still far below anything that could hurt. */
const addr_limits addr_limits_lenient = {512, ADDR_RFC_DOMAIN_MAX, 1024};

static void set_err(strbuf *err, const char *why)
{
    if (err)
        strbuf_set(err, why);
}

static bool is_ctl(unsigned char c)
{
    return c < 0x20 || c == 0x7f;
}

/* RFC 5322 atext, plus bytes >= 0x80 (RFC 6531 UTF-8 atext; the caller
 * decides separately whether 8-bit is allowed at all). */
static bool is_atext(unsigned char c)
{
    if (c >= 0x80)
        return true;
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return true;
    return c != 0 && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

static bool is_ldh(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
}

bool addr_utf8_valid(const unsigned char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        unsigned char c = s[i];
        size_t n;
        unsigned int cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xc2 && c <= 0xdf) {
            n = 1;
            cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            n = 2;
            cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 3;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (len - i <= n)
            return false;
        for (size_t k = 1; k <= n; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        /* Overlong forms, UTF-16 surrogates and values past U+10FFFF. */
        if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10ffff ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += n + 1;
    }
    return true;
}

/* Length of the well-formed UTF-8 sequence at s, or 0. */
static size_t utf8_seq_len(const unsigned char *s, size_t len)
{
    size_t n;
    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xc2 && s[0] <= 0xdf)
        n = 2;
    else if (s[0] >= 0xe0 && s[0] <= 0xef)
        n = 3;
    else if (s[0] >= 0xf0 && s[0] <= 0xf4)
        n = 4;
    else
        return 0;
    if (n > len || !addr_utf8_valid(s, n))
        return 0;
    return n;
}

/* Host name labels; allow8 lets UTF-8 (IDN U-labels) through as label
 * bytes. Shared by HELO checks and address domains. */
static bool hostname_check(const char *name, size_t len, bool allow8, bool numeric_tld_ok)
{
    if (len == 0 || len > ADDR_RFC_DOMAIN_MAX)
        return false;
    size_t label_start = 0;
    bool label_alldig = true;
    for (size_t i = 0; i <= len; i++) {
        if (i == len || name[i] == '.') {
            size_t ll = i - label_start;
            if (ll == 0 || ll > ADDR_LABEL_MAX)
                return false;
            if (name[label_start] == '-' || name[i - 1] == '-')
                return false;
            if (i == len && label_alldig && !numeric_tld_ok)
                return false;
            label_start = i + 1;
            label_alldig = true;
            continue;
        }
        unsigned char c = (unsigned char)name[i];
        if (c >= 0x80) {
            if (!allow8)
                return false;
        } else if (!is_ldh(c)) {
            return false;
        }
        if (!(c >= '0' && c <= '9'))
            label_alldig = false;
    }
    return true;
}

bool addr_valid_hostname(const char *name, size_t len)
{
    return hostname_check(name, len, false, false);
}

bool addr_valid_literal(const char *text, size_t len)
{
    if (len < 3 || text[0] != '[' || text[len - 1] != ']')
        return false;
    const char *in = text + 1;
    size_t inlen = len - 2;
    int af = AF_INET;
    if (inlen > 5 && strncasecmp(in, "IPv6:", 5) == 0) {
        af = AF_INET6;
        in += 5;
        inlen -= 5;
    }
    /* The longest textual IPv6 address is 45 bytes; refuse anything longer
     * before copying. */
    if (inlen == 0 || inlen > 45 || memchr(in, '\0', inlen))
        return false;
    char *copy = xstrndup(in, inlen);
    unsigned char bin[16];
    bool ok = inet_pton(af, copy, bin) == 1;
    free(copy);
    return ok;
}

bool addr_helo_is_fqdn(const char *name, size_t len)
{
    if (len > 0 && name[0] == '[')
        return addr_valid_literal(name, len);
    return addr_valid_hostname(name, len) && memchr(name, '.', len) != NULL;
}

bool addr_split(const char *addr, size_t len, size_t *at)
{
    for (size_t i = len; i > 0; i--) {
        if (addr[i - 1] == '@') {
            *at = i - 1;
            return true;
        }
    }
    return false;
}

bool addr_domain_is_fqdn(const char *addr, size_t len)
{
    size_t at;
    if (!addr_split(addr, len, &at))
        return false;
    const char *dom = addr + at + 1;
    size_t dlen = len - at - 1;
    if (dlen > 0 && dom[0] == '[')
        return addr_valid_literal(dom, dlen);
    return hostname_check(dom, dlen, true, true) && memchr(dom, '.', dlen) != NULL;
}

/* An address domain: a literal, or labels. Lenient on '-' placement and
 * numeric labels (Postfix does not judge that at the SMTP level), strict on
 * the character set and on empty labels. */
static int check_domain(const char *d, size_t len, unsigned flags, const addr_limits *lim,
                        strbuf *err)
{
    if (len == 0) {
        set_err(err, "empty domain");
        return -1;
    }
    if (len > lim->domain_max) {
        set_err(err, "domain too long");
        return -1;
    }
    if (d[0] == '[') {
        if (!addr_valid_literal(d, len)) {
            set_err(err, "bad address literal");
            return -1;
        }
        return 0;
    }
    size_t label = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i == len || d[i] == '.') {
            if (label == 0) {
                set_err(err, "empty domain label");
                return -1;
            }
            if (label > ADDR_LABEL_MAX) {
                set_err(err, "domain label too long");
                return -1;
            }
            label = 0;
            continue;
        }
        unsigned char c = (unsigned char)d[i];
        if (c >= 0x80 ? !(flags & ADDR_F_UTF8) : !is_ldh(c)) {
            set_err(err, "bad character in domain");
            return -1;
        }
        label++;
    }
    return 0;
}

/* The mailbox part: local-part ["@" domain], external form in, internal
 * form appended to out. The caller has already refused control bytes. */
static int parse_mailbox(strbuf *out, const char *s, size_t len, unsigned flags,
                         const addr_limits *lim, strbuf *err)
{
    size_t start = out->len;
    size_t i = 0;
    while (i < len && s[i] != '@') {
        unsigned char c = (unsigned char)s[i];
        if (c == '"') {
            for (i++;; i++) {
                if (i >= len) {
                    set_err(err, "unbalanced quote");
                    return -1;
                }
                c = (unsigned char)s[i];
                if (c == '"')
                    break;
                if (c == '\\' && ++i >= len) {
                    set_err(err, "unbalanced quote");
                    return -1;
                }
                strbuf_putc(out, s[i]);
            }
            i++;
        } else if (c == '\\') {
            if (++i >= len) {
                set_err(err, "backslash at end");
                return -1;
            }
            strbuf_putc(out, s[i++]);
        } else if (c == '.' || is_atext(c)) {
            strbuf_putc(out, (char)c);
            i++;
        } else {
            set_err(err, "bad character in local part");
            return -1;
        }
    }
    size_t local_len = out->len - start;
    if (local_len == 0) {
        set_err(err, "empty local part");
        return -1;
    }
    if (local_len > lim->local_max) {
        set_err(err, "local part too long");
        return -1;
    }
    if (i == len && memchr(out->s + start, '@', local_len)) {
        /* Internal form "a@b" would read as local part a, domain b: a quoted
         * '@' without a domain is ambiguous, so refuse it. */
        set_err(err, "quoted @ without a domain");
        return -1;
    }
    if (i < len) {
        /* s[i] == '@' */
        if (check_domain(s + i + 1, len - i - 1, flags, lim, err) < 0)
            return -1;
        strbuf_append(out, s + i, len - i);
    }
    for (size_t k = start; k < out->len; k++) {
        if ((unsigned char)out->s[k] >= 0x80) {
            if (!(flags & ADDR_F_UTF8)) {
                set_err(err, "8-bit character in address");
                return -1;
            }
            if (!addr_utf8_valid((const unsigned char *)out->s + start, out->len - start)) {
                set_err(err, "malformed UTF-8 in address");
                return -1;
            }
            break;
        }
    }
    return 0;
}

static bool has_ctl(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (is_ctl((unsigned char)s[i]))
            return true;
    return false;
}

static bool has_8bit(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] >= 0x80)
            return true;
    return false;
}

void addr_path_release(addr_path *p)
{
    strbuf_release(&p->addr);
    p->null = p->bracketed = p->source_route = p->has_8bit = false;
}

int addr_internalize(strbuf *out, const char *ext, size_t len, unsigned flags,
                     const addr_limits *lim, strbuf *err)
{
    if (!lim)
        lim = &addr_limits_lenient;
    strbuf_reset(out);
    strbuf_set(out, "");
    if (len == 0)
        return 0;
    if (has_ctl(ext, len)) {
        set_err(err, "control character in address");
        return -1;
    }
    if (len > lim->path_max) {
        set_err(err, "address too long");
        return -1;
    }
    if (parse_mailbox(out, ext, len, flags, lim, err) < 0) {
        strbuf_set(out, "");
        return -1;
    }
    return 0;
}

/* End of the bracketed path: index of the closing '>' or len. Quotes and
 * backslashes protect '>' (Postfix's tokenizer does the same). */
static size_t find_close(const char *t, size_t len, bool *nested)
{
    bool inq = false;
    for (size_t j = 1; j < len; j++) {
        char c = t[j];
        if (c == '\\') {
            j++;
        } else if (inq) {
            if (c == '"')
                inq = false;
        } else if (c == '"') {
            inq = true;
        } else if (c == '>') {
            return j;
        } else if (c == '<') {
            *nested = true;
            return len;
        }
    }
    return len;
}

static bool is_wsp(char c)
{
    return c == ' ' || c == '\t';
}

int addr_parse_path(addr_path *out, const char *text, size_t len, size_t *consumed, unsigned flags,
                    const addr_limits *lim, strbuf *err)
{
    if (!lim)
        lim = &addr_limits_lenient;
    strbuf_set(&out->addr, "");
    out->null = out->bracketed = out->source_route = out->has_8bit = false;
    *consumed = 0;

    const char *inner;
    size_t inlen, used;
    if (len > 0 && text[0] == '<') {
        bool nested = false;
        size_t close = find_close(text, len, &nested);
        if (nested) {
            set_err(err, "nested <");
            return -1;
        }
        if (close >= len) {
            set_err(err, "missing >");
            return -1;
        }
        used = close + 1;
        if (used < len && !is_wsp(text[used])) {
            set_err(err, "garbage after >");
            return -1;
        }
        inner = text + 1;
        inlen = close - 1;
        out->bracketed = true;
    } else {
        if (flags & ADDR_F_STRICT) {
            set_err(err, "address not in <>");
            return -1;
        }
        bool inq = false;
        size_t j = 0;
        for (; j < len; j++) {
            char c = text[j];
            if (c == '\\') {
                j++;
                continue;
            }
            if (c == '"')
                inq = !inq;
            else if (!inq && is_wsp(c))
                break;
            else if (!inq && (c == '<' || c == '>')) {
                set_err(err, "stray < or >");
                return -1;
            }
        }
        if (j > len)
            j = len;
        used = j;
        inner = text;
        inlen = j;
    }
    if (has_ctl(inner, inlen)) {
        set_err(err, "control character in address");
        return -1;
    }
    if (inlen > lim->path_max) {
        set_err(err, "address too long");
        return -1;
    }
    if (inlen == 0) {
        if (!out->bracketed) {
            set_err(err, "empty address");
            return -1;
        }
        if (flags & ADDR_F_NO_EMPTY) {
            set_err(err, "null address not allowed");
            return -1;
        }
        out->null = true;
        *consumed = used;
        return 0;
    }
    /* RFC 5321 4.1.2 / C: the source route is obsolete; it is checked for
     * syntax and then ignored, so it can never steer relaying. */
    if (inner[0] == '@') {
        const char *colon = memchr(inner, ':', inlen);
        if (colon) {
            size_t rlen = (size_t)(colon - inner);
            size_t p = 0;
            while (p < rlen) {
                if (inner[p] != '@') {
                    set_err(err, "bad source route");
                    return -1;
                }
                const char *comma = memchr(inner + p, ',', rlen - p);
                size_t end = comma ? (size_t)(comma - inner) : rlen;
                if (check_domain(inner + p + 1, end - p - 1, flags, lim, err) < 0)
                    return -1;
                p = end + 1;
                if (comma && p >= rlen) {
                    set_err(err, "bad source route");
                    return -1;
                }
            }
            out->source_route = true;
            inlen -= rlen + 1;
            inner = colon + 1;
            if (inlen == 0) {
                set_err(err, "empty address after source route");
                return -1;
            }
        }
    }
    if (parse_mailbox(&out->addr, inner, inlen, flags, lim, err) < 0) {
        strbuf_set(&out->addr, "");
        return -1;
    }
    out->has_8bit = has_8bit(out->addr.s, out->addr.len);
    *consumed = used;
    return 0;
}

void addr_externalize(strbuf *out, const char *addr, size_t len)
{
    size_t at;
    size_t llen = addr_split(addr, len, &at) ? at : len;
    bool quote = llen == 0 && len > 0;
    if (llen > 0 && (addr[0] == '.' || addr[llen - 1] == '.'))
        quote = true;
    for (size_t i = 0; i < llen && !quote; i++) {
        unsigned char c = (unsigned char)addr[i];
        if (c == '.') {
            if (i + 1 < llen && addr[i + 1] == '.')
                quote = true;
        } else if (!is_atext(c)) {
            quote = true;
        }
    }
    if (!quote) {
        strbuf_append(out, addr, len);
        return;
    }
    strbuf_putc(out, '"');
    for (size_t i = 0; i < llen; i++) {
        if (addr[i] == '"' || addr[i] == '\\')
            strbuf_putc(out, '\\');
        strbuf_putc(out, addr[i]);
    }
    strbuf_putc(out, '"');
    strbuf_append(out, addr + llen, len - llen);
}

void addr_lowercase_domain(strbuf *addr)
{
    size_t at;
    if (!addr->s || !addr_split(addr->s, addr->len, &at))
        return;
    for (size_t i = at + 1; i < addr->len; i++)
        if (addr->s[i] >= 'A' && addr->s[i] <= 'Z')
            addr->s[i] = (char)(addr->s[i] - 'A' + 'a');
}

static bool eq_nocase(const char *s, size_t len, const char *lit)
{
    return strlen(lit) == len && strncasecmp(s, lit, len) == 0;
}

bool addr_split_extension(const char *local, size_t len, const char *delims, size_t *base_len)
{
    if (!delims || !*delims || len == 0)
        return false;
    /* Special local parts are never split (Postfix split_addr). */
    if (eq_nocase(local, len, "postmaster") || eq_nocase(local, len, "MAILER-DAEMON"))
        return false;
    size_t i = 0;
    while (i < len && (local[i] == '\0' || !strchr(delims, local[i])))
        i++;
    if (i == len || i == 0)
        return false;
    if (local[i] == '-') {
        if (len > 6 && strncasecmp(local, "owner-", 6) == 0)
            return false;
        if (len > 8 && strncasecmp(local + len - 8, "-request", 8) == 0)
            return false;
    }
    *base_len = i;
    return true;
}

void addr_sanitize(strbuf *out, const void *text, size_t len, size_t max, bool allow_utf8)
{
    const unsigned char *s = text;
    strbuf_set(out, "");
    for (size_t i = 0; i < len && out->len < max;) {
        unsigned char c = s[i];
        if (c >= 0x80 && allow_utf8) {
            size_t n = utf8_seq_len(s + i, len - i);
            if (n > 0 && out->len + n <= max) {
                strbuf_append(out, s + i, n);
                i += n;
                continue;
            }
            if (n > 0)
                break; /* would not fit whole: stop rather than cut it */
        }
        strbuf_putc(out, (c < 0x20 || c >= 0x7f) ? '?' : (char)c);
        i++;
    }
}
