/* access_table - see access_table.h. */
#include <ctype.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "access_table.h"
#include "address.h"
#include "mem.h"

static void add_key(struct access_keys *k, const char *s, size_t len, bool full)
{
    k->v = xreallocarray(k->v, k->n + 1, sizeof(*k->v));
    k->v[k->n].key = xstrndup(s, len);
    k->v[k->n].full = full;
    k->n++;
}

static void add_domain_walk(struct access_keys *k, const char *name, size_t len, bool parent,
                            bool full)
{
    const char *end = name + len, *p = name;
    if (len == 0)
        return;
    add_key(k, name, len, full);
    /* Parents: never the name's own leading dot, never an empty label. */
    for (const char *dot = memchr(p + 1, '.', (size_t)(end - p - 1)); dot && dot + 1 < end;
         dot = memchr(dot + 1, '.', (size_t)(end - dot - 1))) {
        if (parent)
            add_key(k, dot + 1, (size_t)(end - dot - 1), false);
        else
            add_key(k, dot, (size_t)(end - dot), false);
        if (dot + 1 >= end)
            break;
    }
}

void access_keys_domain(struct access_keys *k, const char *name, bool parent)
{
    add_domain_walk(k, name, strlen(name), parent, true);
}

void access_keys_address(struct access_keys *k, const char *addr, const char *delim, bool parent,
                         const char *null_key)
{
    size_t len = strlen(addr), at = len;
    if (len == 0) {
        if (null_key && *null_key)
            add_key(k, null_key, strlen(null_key), true);
        return;
    }
    bool has_at = addr_split(addr, len, &at);
    size_t base = at;
    bool ext = delim && *delim && addr_split_extension(addr, at, delim, &base);
    strbuf tmp = STRBUF_INIT;
    add_key(k, addr, len, true);
    if (ext && has_at) {
        strbuf_append(&tmp, addr, base);
        strbuf_append(&tmp, addr + at, len - at);
        add_key(k, strbuf_str(&tmp), tmp.len, false);
    }
    if (has_at)
        add_domain_walk(k, addr + at + 1, len - at - 1, parent, false);
    /* user+ext@ then user@: Postfix looks these up with or without a domain. */
    strbuf_reset(&tmp);
    strbuf_append(&tmp, addr, at);
    strbuf_append(&tmp, "@", 1);
    if (at > 0)
        add_key(k, strbuf_str(&tmp), tmp.len, false);
    if (ext && base > 0) {
        strbuf_reset(&tmp);
        strbuf_append(&tmp, addr, base);
        strbuf_append(&tmp, "@", 1);
        add_key(k, strbuf_str(&tmp), tmp.len, false);
    }
    strbuf_release(&tmp);
}

void access_keys_ip(struct access_keys *k, const char *ip)
{
    size_t len = strlen(ip);
    char delim = strchr(ip, ':') ? ':' : '.';
    bool full = true;
    while (len > 0) {
        add_key(k, ip, len, full);
        full = false;
        size_t i = len;
        while (i > 0 && ip[i - 1] != delim)
            i--;
        if (i == 0)
            break;
        len = i - 1; /* drop the delimiter and what follows it */
        /* "2001:db8::1" -> "2001:db8:" keeps the ':' before the last one,
         * as Postfix's split at the rightmost delimiter does. */
    }
}

void access_keys_release(struct access_keys *k)
{
    for (size_t i = 0; i < k->n; i++)
        free(k->v[i].key);
    free(k->v);
    k->v = NULL;
    k->n = 0;
}

static void set_text(struct access_action *a, const char *text)
{
    addr_sanitize(&a->text, text, strlen(text), ACCESS_TEXT_MAX, true);
}

/* "d.ddd.ddd" followed by a blank or the end: its length, else 0. */
static size_t dsn_len(const char *s)
{
    size_t i = 0;
    if (s[i] != '2' && s[i] != '4' && s[i] != '5')
        return 0;
    i++;
    for (int part = 0; part < 2; part++) {
        if (s[i++] != '.')
            return 0;
        size_t d = 0;
        while (isdigit((unsigned char)s[i]) && d < 3)
            i++, d++;
        if (d == 0 || isdigit((unsigned char)s[i]))
            return 0;
    }
    return s[i] == 0 || s[i] == ' ' || s[i] == '\t' ? i : 0;
}

static void reply(struct access_action *a, int code, const char *text)
{
    a->kind = ACCESS_REJECT;
    a->code = code;
    size_t dl = dsn_len(text);
    if (dl) {
        memcpy(a->dsn, text, dl);
        a->dsn[dl] = 0;
        text += dl;
        text += strspn(text, " \t");
    } else {
        snprintf(a->dsn, sizeof(a->dsn), "x.7.1");
    }
    a->dsn[0] = (char)('0' + code / 100); /* the class follows the reply code */
    set_text(a, text);
}

void access_action_parse(struct access_action *a, const char *value)
{
    static const struct {
        const char *word;
        enum access_kind kind;
        int code; /* REJECT/DEFER style: the reply code */
        bool needs_arg;
    } words[] = {
        {"OK", ACCESS_OK, 0, false},
        {"PERMIT", ACCESS_OK, 0, false},
        {"DUNNO", ACCESS_DUNNO, 0, false},
        {"REJECT", ACCESS_REJECT, 554, false},
        {"DEFER", ACCESS_REJECT, 450, false},
        {"DEFER_IF_PERMIT", ACCESS_DEFER_IF_PERMIT, 450, false},
        {"DEFER_IF_REJECT", ACCESS_DEFER_IF_REJECT, 450, false},
        {"DISCARD", ACCESS_DISCARD, 0, false},
        {"HOLD", ACCESS_HOLD, 0, false},
        {"REDIRECT", ACCESS_REDIRECT, 0, true},
        {"FILTER", ACCESS_FILTER, 0, true},
        {"PREPEND", ACCESS_PREPEND, 0, true},
        {"WARN", ACCESS_WARN, 0, false},
        {"INFO", ACCESS_INFO, 0, false},
        {"BCC", ACCESS_BCC, 0, true},
    };
    a->code = 0;
    a->numeric = false;
    a->dsn[0] = 0;
    strbuf_reset(&a->text);
    const char *v = value + strspn(value, " \t");
    size_t wl = strcspn(v, " \t");
    const char *arg = v + wl + strspn(v + wl, " \t");

    if (wl == 3 && isdigit((unsigned char)v[0]) && isdigit((unsigned char)v[1]) &&
        isdigit((unsigned char)v[2])) {
        int code = (v[0] - '0') * 100 + (v[1] - '0') * 10 + (v[2] - '0');
        if ((v[0] == '4' || v[0] == '5') && code <= 599) {
            reply(a, code, arg);
            a->numeric = true;
        } else {
            a->kind = ACCESS_INVALID;
            strbuf_printf(&a->text, "bad SMTP reply code %d", code);
        }
        return;
    }
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
        if (strlen(words[i].word) != wl || strncasecmp(v, words[i].word, wl) != 0)
            continue;
        if (words[i].needs_arg && !*arg) {
            a->kind = ACCESS_INVALID;
            strbuf_printf(&a->text, "%s needs an argument", words[i].word);
            return;
        }
        if (words[i].kind == ACCESS_REJECT) {
            reply(a, words[i].code, arg);
            return;
        }
        if (words[i].code) {
            /* DEFER_IF_*: the text may start with an enhanced status code
             * (postgrey's "4.2.0 Greylisted"), as REJECT's does. */
            reply(a, words[i].code, arg);
            a->kind = words[i].kind;
            return;
        }
        a->kind = words[i].kind;
        if (words[i].kind == ACCESS_FILTER && !strchr(arg, ':')) {
            a->kind = ACCESS_INVALID;
            strbuf_set(&a->text, "FILTER needs transport:destination");
            return;
        }
        if (words[i].kind == ACCESS_PREPEND) {
            /* A header: a name of printable non-colon characters, then ':'. */
            size_t nl = 0;
            while (arg[nl] > ' ' && arg[nl] < 0x7f && arg[nl] != ':')
                nl++;
            if (nl == 0 || arg[nl] != ':') {
                a->kind = ACCESS_INVALID;
                strbuf_set(&a->text, "PREPEND needs a header \"name: text\"");
                return;
            }
        }
        set_text(a, arg);
        return;
    }
    if (wl == 0) {
        a->kind = ACCESS_INVALID;
        strbuf_set(&a->text, "empty result");
        return;
    }
    a->kind = ACCESS_RESTRICTIONS;
    strbuf_set(&a->text, v);
}

void access_action_release(struct access_action *a)
{
    strbuf_release(&a->text);
}
