/* pipe_attr - parse pipe(8)'s master.cf attributes, expand argv=. */
#include "pipe_attr.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "address.h"
#include "config_syntax.h"
#include "mem.h"

/* The macros pipe(8) knows; `rcpt` marks those that make an element
 * expand once per recipient. */
static const struct {
    const char *name;
    bool rcpt;
} macros[] = {
    {"nexthop", false},
    {"recipient", true},
    {"original_recipient", true},
    {"sender", false},
    {"user", true},
    {"extension", true},
    {"mailbox", true},
    {"domain", true},
    {"size", false},
    {"queue_id", false},
    {"client_address", false},
    {"client_hostname", false},
    {"client_port", false},
    {"client_protocol", false},
    {"client_helo", false},
    {"sasl_method", false},
    {"sasl_username", false},
    {"sasl_sender", false},
};
#define NMACROS (sizeof(macros) / sizeof(macros[0]))

static int macro_index(const char *name)
{
    for (size_t i = 0; i < NMACROS; i++)
        if (strcmp(macros[i].name, name) == 0)
            return (int)i;
    return -1;
}

static const char *value_of(const char *arg, const char *name)
{
    size_t n = strlen(name);
    return strncasecmp(arg, name, n) == 0 ? arg + n : NULL;
}

int pipe_unescape(const char *in, strbuf *out, strbuf *err)
{
    strbuf_reset(out);
    for (const char *p = in; *p; p++) {
        if (*p != '\\') {
            strbuf_putc(out, *p);
            continue;
        }
        p++;
        switch (*p) {
        case 'a':
            strbuf_putc(out, '\a');
            break;
        case 'b':
            strbuf_putc(out, '\b');
            break;
        case 'f':
            strbuf_putc(out, '\f');
            break;
        case 'n':
            strbuf_putc(out, '\n');
            break;
        case 'r':
            strbuf_putc(out, '\r');
            break;
        case 't':
            strbuf_putc(out, '\t');
            break;
        case 'v':
            strbuf_putc(out, '\v');
            break;
        case '\\':
            strbuf_putc(out, '\\');
            break;
        default:
            if (*p >= '0' && *p <= '7') {
                int v = 0, k = 0;
                for (; k < 3 && p[k] >= '0' && p[k] <= '7'; k++)
                    v = v * 8 + (p[k] - '0');
                if (v > 255 || v == 0) {
                    strbuf_printf(err, "bad octal escape in \"%s\"", in);
                    return -1;
                }
                strbuf_putc(out, (char)v);
                p += k - 1;
            } else {
                strbuf_printf(err, "bad escape sequence in \"%s\"", in);
                return -1;
            }
        }
    }
    return 0;
}

struct ref_check {
    char *bad; /* the first unknown name (a copy) */
    bool rcpt; /* a recipient macro is referenced */
    bool user; /* $user is referenced */
};

static void check_ref(void *ctx, const char *name)
{
    struct ref_check *c = ctx;
    int i = macro_index(name);
    if (i < 0) {
        if (!c->bad)
            c->bad = xstrdup(name);
    } else if (macros[i].rcpt) {
        c->rcpt = true;
        if (strcmp(name, "user") == 0)
            c->user = true;
    }
}

static int parse_flags(const char *s, unsigned *flags, strbuf *err)
{
    static const char letters[] = "BDFORXhqu.>";
    for (; *s; s++) {
        const char *p = strchr(letters, *s);
        if (*s == 0 || p == NULL) {
            strbuf_printf(err, "unknown flag: %c", *s);
            return -1;
        }
        *flags |= 1u << (p - letters);
    }
    return 0;
}

int pipe_attr_parse(char **args, struct pipe_attr *a, strbuf *err)
{
    memset(a, 0, sizeof(*a));
    strbuf_set(&a->eol, "\n");
    a->null_sender = xstrdup("MAILER-DAEMON");
    bool have_argv = false;
    const char *v;
    for (; args && *args; args++) {
        const char *arg = *args;
        if ((v = value_of(arg, "flags="))) {
            if (parse_flags(v, &a->flags, err) < 0)
                return -1;
        } else if ((v = value_of(arg, "user="))) {
            free(a->user);
            free(a->group);
            a->group = NULL;
            const char *colon = strchr(v, ':');
            a->user = colon ? xstrndup(v, (size_t)(colon - v)) : xstrdup(v);
            if (colon && colon[1])
                a->group = xstrdup(colon + 1);
            if (!*a->user) {
                strbuf_printf(err, "empty user= attribute");
                return -1;
            }
        } else if ((v = value_of(arg, "directory="))) {
            free(a->directory);
            a->directory = xstrdup(v);
        } else if ((v = value_of(arg, "eol="))) {
            if (pipe_unescape(v, &a->eol, err) < 0)
                return -1;
        } else if ((v = value_of(arg, "null_sender="))) {
            free(a->null_sender);
            a->null_sender = xstrdup(v);
        } else if ((v = value_of(arg, "size="))) {
            char *end;
            errno = 0;
            long long n = strtoll(v, &end, 10);
            if (!*v || *end || errno || n < 0) {
                strbuf_printf(err, "bad size= value: %s", v);
                return -1;
            }
            a->size_limit = n;
        } else if ((v = value_of(arg, "chroot="))) {
            strbuf_printf(err, "chroot= is not supported by this pipe(8)");
            return -1;
        } else if ((v = value_of(arg, "argv="))) {
            if (!*v) {
                strbuf_printf(err, "empty argv= command");
                return -1;
            }
            strlist_push(&a->argv, v);
            for (args++; *args; args++)
                strlist_push(&a->argv, *args);
            have_argv = true;
            break;
        } else {
            strbuf_printf(err, "unknown attribute name: %s", arg);
            return -1;
        }
    }
    if (!a->user) {
        strbuf_printf(err, "missing user= command-line attribute");
        return -1;
    }
    if (!have_argv) {
        strbuf_printf(err, "missing argv= command-line attribute");
        return -1;
    }
    for (size_t i = 0; i < a->argv.n; i++) {
        struct ref_check c = {0};
        config_syntax_references(a->argv.v[i], check_ref, &c);
        if (c.bad) {
            strbuf_printf(err, "unknown macro name: \"%s\"", c.bad);
            free(c.bad);
            return -1;
        }
    }
    return 0;
}

void pipe_attr_release(struct pipe_attr *a)
{
    XFREE(a->user);
    XFREE(a->group);
    XFREE(a->directory);
    XFREE(a->null_sender);
    strbuf_release(&a->eol);
    strlist_release(&a->argv);
}

static void fold(char *s, size_t from, size_t to)
{
    for (size_t i = from; i < to; i++)
        if (s[i] >= 'A' && s[i] <= 'Z')
            s[i] = (char)(s[i] - 'A' + 'a');
}

void pipe_morph_address(strbuf *out, const char *addr, unsigned flags, bool quote)
{
    size_t start = out->len;
    size_t len = strlen(addr);
    if (quote && (flags & PIPE_F_QUOTE))
        addr_externalize(out, addr, len);
    else
        strbuf_append(out, addr, len);
    if (!(flags & (PIPE_F_FOLD_USER | PIPE_F_FOLD_HOST)))
        return;
    size_t at;
    char *s = out->s + start;
    size_t n = out->len - start;
    bool has_at = addr_split(s, n, &at);
    /* As Postfix's fold_addr: without '@' the whole text is the local part. */
    if ((flags & PIPE_F_FOLD_HOST) && has_at)
        fold(s, at + 1, n);
    if (flags & PIPE_F_FOLD_USER)
        fold(s, 0, has_at ? at : n);
}

/* The values of one expansion; per-recipient ones are filled in turn. */
struct expand_ctx {
    const struct pipe_vars *v;
    const char *rcpt_value[NMACROS]; /* by macro index; NULL = empty */
};

static int lookup_unknown(void *ctx, struct config_expansion *x, const char *name, const char **raw,
                          bool *verbatim)
{
    (void)ctx;
    (void)raw;
    (void)verbatim;
    return config_expansion_fail(x, "unknown macro name: \"%s\"", name);
}

static bool variable(void *vctx, const char *name, strbuf *out, bool *set)
{
    struct expand_ctx *c = vctx;
    int i = macro_index(name);
    if (i < 0)
        return false;
    const struct pipe_vars *v = c->v;
    const char *val = NULL;
    if (macros[i].rcpt)
        val = c->rcpt_value[i];
    else if (strcmp(name, "sender") == 0)
        val = v->sender;
    else if (strcmp(name, "nexthop") == 0)
        val = v->nexthop;
    else if (strcmp(name, "size") == 0)
        val = v->size;
    else if (strcmp(name, "queue_id") == 0)
        val = v->queue_id;
    else if (strcmp(name, "client_address") == 0)
        val = v->client_address;
    else if (strcmp(name, "client_hostname") == 0)
        val = v->client_hostname;
    else if (strcmp(name, "client_port") == 0)
        val = v->client_port;
    else if (strcmp(name, "client_protocol") == 0)
        val = v->client_protocol;
    else if (strcmp(name, "client_helo") == 0)
        val = v->client_helo;
    else if (strcmp(name, "sasl_method") == 0)
        val = v->sasl_method;
    else if (strcmp(name, "sasl_username") == 0)
        val = v->sasl_username;
    else if (strcmp(name, "sasl_sender") == 0)
        val = v->sasl_sender;
    *set = val && *val;
    if (out && val)
        strbuf_puts(out, val);
    return true;
}

static int expand_one(struct expand_ctx *c, const char *text, strlist *out, strbuf *err)
{
    const struct config_expand_ops ops = {.ctx = c, .lookup = lookup_unknown, .variable = variable};
    strbuf arg = STRBUF_INIT;
    int rc = config_expand_text(&ops, text, strlen(text), &arg, err);
    if (rc == 0)
        strlist_pushn(out, arg.s ? arg.s : "", arg.len);
    strbuf_release(&arg);
    return rc;
}

int pipe_expand_argv(const struct pipe_attr *a, const struct pipe_vars *v,
                     const struct pipe_rcpt *rcpts, size_t nrcpt, strlist *out, strbuf *err)
{
    struct pipe_vars vars = *v;
    strbuf nexthop = STRBUF_INIT;
    if ((a->flags & PIPE_F_FOLD_HOST) && v->nexthop) {
        strbuf_set(&nexthop, v->nexthop);
        fold(nexthop.s, 0, nexthop.len);
        vars.nexthop = nexthop.s;
    }
    struct expand_ctx c = {.v = &vars};
    int i_rcpt = macro_index("recipient"), i_orig = macro_index("original_recipient");
    int i_user = macro_index("user"), i_ext = macro_index("extension");
    int i_mbox = macro_index("mailbox"), i_dom = macro_index("domain");
    const char *delim = v->delimiter ? v->delimiter : "";
    strbuf rcpt = STRBUF_INIT, orig = STRBUF_INIT, folded = STRBUF_INIT;
    strbuf user = STRBUF_INIT, ext = STRBUF_INIT, mbox = STRBUF_INIT, dom = STRBUF_INIT;
    int rc = 0;
    for (size_t e = 0; e < a->argv.n && rc == 0; e++) {
        const char *text = a->argv.v[e];
        struct ref_check chk = {0};
        config_syntax_references(text, check_ref, &chk);
        free(chk.bad); /* refused by pipe_attr_parse; here it fails below */
        if (!chk.rcpt) {
            rc = expand_one(&c, text, out, err);
            continue;
        }
        for (size_t r = 0; r < nrcpt && rc == 0; r++) {
            const char *addr = rcpts[r].address ? rcpts[r].address : "";
            const char *oaddr = rcpts[r].orig && *rcpts[r].orig ? rcpts[r].orig : addr;
            strbuf_reset(&rcpt);
            strbuf_reset(&orig);
            strbuf_reset(&folded);
            pipe_morph_address(&rcpt, addr, a->flags, true);
            pipe_morph_address(&orig, oaddr, a->flags, true);
            /* $user, $extension, $mailbox and $domain: folded, never quoted. */
            pipe_morph_address(&folded, addr, a->flags, false);
            size_t at;
            size_t llen = addr_split(folded.s, folded.len, &at) ? at : folded.len;
            size_t base = llen;
            bool has_ext = *delim && addr_split_extension(folded.s, llen, delim, &base);
            strbuf_reset(&user);
            strbuf_reset(&ext);
            strbuf_reset(&mbox);
            strbuf_reset(&dom);
            strbuf_append(&user, folded.s, has_ext ? base : llen);
            if (has_ext)
                strbuf_append(&ext, folded.s + base + 1, llen - base - 1);
            strbuf_append(&mbox, folded.s, llen);
            if (llen < folded.len)
                strbuf_append(&dom, folded.s + llen + 1, folded.len - llen - 1);
            c.rcpt_value[i_rcpt] = strbuf_str(&rcpt);
            c.rcpt_value[i_orig] = strbuf_str(&orig);
            c.rcpt_value[i_user] = strbuf_str(&user);
            c.rcpt_value[i_ext] = strbuf_str(&ext);
            c.rcpt_value[i_mbox] = strbuf_str(&mbox);
            c.rcpt_value[i_dom] = strbuf_str(&dom);
            /* Postfix: an element with $user is left out when the user part
             * is empty (cyrus bulletin boards, "+folder@domain"). */
            if (user.len == 0 && chk.user)
                continue;
            rc = expand_one(&c, text, out, err);
        }
    }
    strbuf_release(&rcpt);
    strbuf_release(&orig);
    strbuf_release(&folded);
    strbuf_release(&user);
    strbuf_release(&ext);
    strbuf_release(&mbox);
    strbuf_release(&dom);
    strbuf_release(&nexthop);
    return rc;
}
