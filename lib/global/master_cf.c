#include "master_cf.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "mem.h"
#include "strbuf.h"
#include "strlist.h"

/* Upper bound for a whole master.cf read from disk. */
#define MASTER_CF_FILE_LIMIT (16 * 1024 * 1024)

static const char *const type_names[] = {
    [MASTER_CF_INET] = "inet", [MASTER_CF_UNIX] = "unix", [MASTER_CF_UNIX_DGRAM] = "unix-dgram",
    [MASTER_CF_FIFO] = "fifo", [MASTER_CF_PASS] = "pass",
};

const char *master_cf_type_name(enum master_cf_type type)
{
    if ((size_t)type >= sizeof(type_names) / sizeof(type_names[0]))
        return "unknown";
    return type_names[type];
}

int master_cf_type_parse(const char *name, enum master_cf_type *type)
{
    for (size_t i = 0; i < sizeof(type_names) / sizeof(type_names[0]); i++) {
        if (strcmp(name, type_names[i]) == 0) {
            *type = (enum master_cf_type)i;
            return 0;
        }
    }
    return -1;
}

static void entry_free(struct master_cf_entry **ep)
{
    struct master_cf_entry *e = *ep;
    if (!e)
        return;
    for (int i = 0; i < MASTER_CF_NCOLUMNS; i++)
        free(e->raw[i]);
    strlist_release(&e->raw_command);
    strlist_release(&e->argv);
    strlist_release(&e->overrides);
    XFREE(*ep);
}

void master_cf_free(master_cf **cfp)
{
    master_cf *cf = *cfp;
    if (!cf)
        return;
    for (size_t i = 0; i < cf->n; i++)
        entry_free(&cf->entries[i]);
    free(cf->entries);
    free(cf->origin);
    XFREE(*cfp);
}

const struct master_cf_entry *master_cf_find(const master_cf *cf, const char *service,
                                             enum master_cf_type type)
{
    for (size_t i = 0; i < cf->n; i++)
        if (cf->entries[i]->type == type && strcmp(cf->entries[i]->service, service) == 0)
            return cf->entries[i];
    return NULL;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

/* Split a logical line into tokens. A '{' opens a group that extends to its
 * matching '}' and may contain whitespace; groups nest. Returns -1 with a
 * static reason on unbalanced braces. */
static int tokenize(const char *s, strlist *out, const char **why)
{
    const char *p = s;
    for (;;) {
        while (*p && is_space(*p))
            p++;
        if (!*p)
            return 0;
        const char *start = p;
        int depth = 0;
        while (*p && (depth > 0 || !is_space(*p))) {
            if (*p == '{') {
                depth++;
            } else if (*p == '}') {
                if (depth == 0) {
                    *why = "unbalanced '}'";
                    return -1;
                }
                depth--;
            }
            p++;
        }
        if (depth != 0) {
            *why = "missing '}'";
            return -1;
        }
        strlist_pushn(out, start, (size_t)(p - start));
    }
}

/* "{ text }" -> "text" (trimmed); other tokens unchanged. A token that starts
 * with '{' must end with its matching '}'. */
static int unquote(const char *tok, char **out, const char **why)
{
    size_t len = strlen(tok);
    if (tok[0] != '{') {
        *out = xstrdup(tok);
        return 0;
    }
    /* Find the brace that closes the first one. */
    int depth = 0;
    size_t close = 0;
    for (size_t i = 0; i < len; i++) {
        if (tok[i] == '{')
            depth++;
        else if (tok[i] == '}' && --depth == 0) {
            close = i;
            break;
        }
    }
    if (close != len - 1) {
        *why = "text after '}'";
        return -1;
    }
    const char *b = tok + 1, *e = tok + close;
    while (b < e && is_space(*b))
        b++;
    while (e > b && is_space(e[-1]))
        e--;
    *out = xstrndup(b, (size_t)(e - b));
    return 0;
}

/* "name = value" -> "name=value"; -1 when there is no name or no '='. */
static int normalise_override(const char *text, char **out)
{
    const char *eq = strchr(text, '=');
    if (!eq)
        return -1;
    const char *nb = text, *ne = eq;
    while (nb < ne && is_space(*nb))
        nb++;
    while (ne > nb && is_space(ne[-1]))
        ne--;
    if (ne == nb)
        return -1;
    for (const char *c = nb; c < ne; c++)
        if (is_space(*c))
            return -1;
    const char *v = eq + 1;
    while (*v && is_space(*v))
        v++;
    strbuf sb = STRBUF_INIT;
    strbuf_append(&sb, nb, (size_t)(ne - nb));
    strbuf_putc(&sb, '=');
    strbuf_puts(&sb, v);
    strbuf_trim(&sb);
    *out = strbuf_detach(&sb);
    return 0;
}

static int parse_bool(const char *s, bool def, bool *out)
{
    if (strcmp(s, "-") == 0)
        *out = def;
    else if (strcmp(s, "y") == 0)
        *out = true;
    else if (strcmp(s, "n") == 0)
        *out = false;
    else
        return -1;
    return 0;
}

/* Decimal digits only, at most INT_MAX. */
static int parse_count(const char *s, size_t len, int *out)
{
    if (len == 0)
        return -1;
    long long v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
        if (v > INT_MAX)
            return -1;
    }
    *out = (int)v;
    return 0;
}

#define FAIL(...)                                                                                  \
    do {                                                                                           \
        strbuf_reset(err);                                                                         \
        strbuf_printf(err, "%s, line %d: ", origin, line);                                         \
        strbuf_printf(err, __VA_ARGS__);                                                           \
        goto fail;                                                                                 \
    } while (0)

static int parse_entry(const char *origin, int line, const char *text, struct master_cf_entry **out,
                       strbuf *err)
{
    strlist tok = STRLIST_INIT;
    struct master_cf_entry *e = xcalloc(1, sizeof(*e));
    const char *why = NULL;
    e->line = line;

    if (tokenize(text, &tok, &why) < 0)
        FAIL("%s", why);
    if (tok.n < 8)
        FAIL("entry has %zu fields, need at least 8 (service type private unpriv chroot wakeup "
             "maxproc command): \"%s\"",
             tok.n, tok.n ? tok.v[0] : "");
    for (int i = 0; i < MASTER_CF_NCOLUMNS; i++) {
        if (tok.v[i][0] == '{')
            FAIL("field %d: braces are allowed only in command arguments", i + 1);
        e->raw[i] = xstrdup(tok.v[i]);
    }
    e->service = e->raw[MASTER_CF_COL_SERVICE];
    if (strcmp(e->service, "-") == 0)
        FAIL("missing service name");
    if (master_cf_type_parse(e->raw[MASTER_CF_COL_TYPE], &e->type) < 0)
        FAIL("unknown service type \"%s\" (expected inet, unix, unix-dgram, fifo or pass)",
             e->raw[MASTER_CF_COL_TYPE]);
    if (e->type != MASTER_CF_INET) {
        /* A path below the queue directory: must not escape it. */
        if (e->service[0] == '/' || strcmp(e->service, "..") == 0 ||
            strncmp(e->service, "../", 3) == 0 || strstr(e->service, "/../") ||
            (strlen(e->service) >= 3 && strcmp(e->service + strlen(e->service) - 3, "/..") == 0))
            FAIL("service \"%s\": name must be a relative path inside the queue directory",
                 e->service);
    }
    if (parse_bool(e->raw[MASTER_CF_COL_PRIVATE], true, &e->private_) < 0)
        FAIL("bad private field \"%s\" (expected y, n or -)", e->raw[MASTER_CF_COL_PRIVATE]);
    if (parse_bool(e->raw[MASTER_CF_COL_UNPRIV], true, &e->unpriv) < 0)
        FAIL("bad unprivileged field \"%s\" (expected y, n or -)", e->raw[MASTER_CF_COL_UNPRIV]);
    if (parse_bool(e->raw[MASTER_CF_COL_CHROOT], false, &e->chroot) < 0)
        FAIL("bad chroot field \"%s\" (expected y, n or -)", e->raw[MASTER_CF_COL_CHROOT]);

    const char *w = e->raw[MASTER_CF_COL_WAKEUP];
    if (strcmp(w, "-") != 0) {
        size_t wl = strlen(w);
        if (wl > 0 && w[wl - 1] == '?') {
            e->wakeup_conditional = true;
            wl--;
        }
        if (parse_count(w, wl, &e->wakeup) < 0)
            FAIL("bad wakeup time \"%s\" (expected seconds, N? or -)", w);
    }
    const char *m = e->raw[MASTER_CF_COL_MAXPROC];
    if (strcmp(m, "-") == 0)
        e->maxproc = MASTER_CF_MAXPROC_DEFAULT;
    else if (parse_count(m, strlen(m), &e->maxproc) < 0)
        FAIL("bad process limit \"%s\" (expected a number or -)", m);

    for (size_t i = 7; i < tok.n; i++) {
        char *arg = NULL;
        strlist_push(&e->raw_command, tok.v[i]);
        if (unquote(tok.v[i], &arg, &why) < 0)
            FAIL("argument \"%s\": %s", tok.v[i], why);
        if (i == 7 && arg[0] == '\0') {
            free(arg);
            FAIL("empty command name");
        }
        if (i > 7 && strncmp(tok.v[i], "-o", 2) == 0) {
            const char *val;
            if (tok.v[i][2] != '\0') {
                val = arg + 2;
            } else {
                if (i + 1 >= tok.n) {
                    free(arg);
                    FAIL("\"-o\" without name=value");
                }
                free(arg);
                arg = NULL;
                i++;
                strlist_push(&e->raw_command, tok.v[i]);
                if (unquote(tok.v[i], &arg, &why) < 0)
                    FAIL("argument \"%s\": %s", tok.v[i], why);
                val = arg;
            }
            char *norm = NULL;
            if (normalise_override(val, &norm) < 0) {
                strbuf tmp = STRBUF_INIT;
                strbuf_puts(&tmp, val);
                free(arg);
                strbuf_reset(err);
                strbuf_printf(err, "%s, line %d: bad \"-o\" override \"%s\" (expected name=value)",
                              origin, line, strbuf_str(&tmp));
                strbuf_release(&tmp);
                goto fail;
            }
            free(arg);
            strlist_push(&e->argv, "-o");
            strlist_push(&e->argv, norm);
            strlist_push_owned(&e->overrides, norm);
            continue;
        }
        strlist_push_owned(&e->argv, arg);
    }
    strlist_release(&tok);
    *out = e;
    return 0;
fail:
    strlist_release(&tok);
    entry_free(&e);
    return -1;
}

static int add_entry(master_cf *cf, struct master_cf_entry *e, strbuf *err)
{
    for (size_t i = 0; i < cf->n; i++) {
        struct master_cf_entry *old = cf->entries[i];
        if (old->type == e->type && strcmp(old->service, e->service) == 0) {
            /* The later definition wins, at the later position. */
            entry_free(&cf->entries[i]);
            memmove(cf->entries + i, cf->entries + i + 1, (cf->n - i - 1) * sizeof(*cf->entries));
            cf->n--;
            break;
        }
    }
    if (cf->n >= MASTER_CF_MAX_ENTRIES) {
        strbuf_reset(err);
        strbuf_printf(err, "%s, line %d: more than %d entries", cf->origin, e->line,
                      MASTER_CF_MAX_ENTRIES);
        return -1;
    }
    cf->entries = xreallocarray(cf->entries, cf->n + 1, sizeof(*cf->entries));
    cf->entries[cf->n++] = e;
    return 0;
}

int master_cf_parse_text(const char *origin, const char *text, size_t len, master_cf **out,
                         strbuf *err)
{
    master_cf *cf = xcalloc(1, sizeof(*cf));
    cf->origin = xstrdup(origin);
    strbuf logical = STRBUF_INIT;
    int logical_line = 0;
    int line = 0;
    size_t pos = 0;

    if (memchr(text, '\0', len)) {
        /* Report the line of the first NUL. */
        const char *nul = memchr(text, '\0', len);
        line = 1;
        for (const char *c = text; c < nul; c++)
            if (*c == '\n')
                line++;
        FAIL("NUL byte in input");
    }
    while (pos < len || logical.len > 0) {
        const char *ls = text + pos;
        const char *nl = pos < len ? memchr(ls, '\n', len - pos) : NULL;
        size_t ll = pos >= len ? 0 : nl ? (size_t)(nl - ls) : len - pos;
        bool at_end = pos >= len;
        if (!at_end) {
            line++;
            pos += ll + (nl ? 1 : 0);
            if (ll > MASTER_CF_LINE_LIMIT)
                FAIL("line longer than %d bytes", MASTER_CF_LINE_LIMIT);
            if (ll > 0 && ls[ll - 1] == '\r')
                ll--;
            size_t i = 0;
            while (i < ll && is_space(ls[i]))
                i++;
            if (i == ll || ls[i] == '#')
                continue; /* blank or comment: does not end a logical line */
            if (i > 0) {
                if (logical.len == 0)
                    FAIL("continuation line without a preceding entry");
                if (logical.len + ll + 1 > MASTER_CF_LOGICAL_LIMIT)
                    FAIL("entry longer than %d bytes", MASTER_CF_LOGICAL_LIMIT);
                strbuf_putc(&logical, ' ');
                strbuf_append(&logical, ls + i, ll - i);
                continue;
            }
        }
        /* A new logical line starts here (or input ended): finish the old one. */
        if (logical.len > 0) {
            struct master_cf_entry *e = NULL;
            if (parse_entry(origin, logical_line, strbuf_str(&logical), &e, err) < 0)
                goto fail;
            if (add_entry(cf, e, err) < 0) {
                entry_free(&e);
                goto fail;
            }
            strbuf_reset(&logical);
        }
        if (at_end)
            break;
        logical_line = line;
        strbuf_append(&logical, ls, ll);
    }
    strbuf_release(&logical);
    *out = cf;
    return 0;
fail:
    strbuf_release(&logical);
    master_cf_free(&cf);
    return -1;
}

int master_cf_load(const char *path, master_cf **out, strbuf *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        strbuf_reset(err);
        strbuf_printf(err, "open %s: %m", path);
        return -1;
    }
    strbuf data = STRBUF_INIT;
    for (;;) {
        if (data.len > MASTER_CF_FILE_LIMIT) {
            strbuf_reset(err);
            strbuf_printf(err, "%s: file larger than %d bytes", path, MASTER_CF_FILE_LIMIT);
            goto fail;
        }
        strbuf_reserve(&data, 65536);
        ssize_t n = read(fd, data.s + data.len, data.cap - data.len - 1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            strbuf_reset(err);
            strbuf_printf(err, "read %s: %m", path);
            goto fail;
        }
        if (n == 0)
            break;
        data.len += (size_t)n;
        data.s[data.len] = '\0';
    }
    if (close(fd) < 0) {
        fd = -1;
        strbuf_reset(err);
        strbuf_printf(err, "close %s: %m", path);
        goto fail;
    }
    fd = -1;
    int rc = master_cf_parse_text(path, data.s ? data.s : "", data.len, out, err);
    strbuf_release(&data);
    return rc;
fail:
    if (fd >= 0)
        close(fd);
    strbuf_release(&data);
    return -1;
}

/* One smtpd_restriction_classes value: its names are user-defined
 * parameters (smtpd reads each as a restriction list), not unused ones. */
static void mark_class_names(const char *list)
{
    strlist names = STRLIST_INIT;
    const char *e = NULL;
    if (strlist_split(&names, list, ", \t\r\n", &e) == 0)
        for (size_t i = 0; i < names.n; i++)
            if (!config_default_find(names.v[i]) && config_is_defined(names.v[i])) {
                config_mark_used(names.v[i]);
                config_mark_references(config_get_raw(names.v[i]));
            }
    strlist_release(&names);
}

void master_cf_mark_restriction_classes(const master_cf *cf)
{
    mark_class_names(config_get("smtpd_restriction_classes"));
    static const char param[] = "smtpd_restriction_classes=";
    strbuf value = STRBUF_INIT, err = STRBUF_INIT;
    for (size_t k = 0; cf && k < cf->n; k++)
        for (size_t i = 0; i < cf->entries[k]->overrides.n; i++) {
            const char *o = cf->entries[k]->overrides.v[i];
            if (strncmp(o, param, sizeof(param) - 1) != 0)
                continue;
            strbuf_reset(&value);
            strbuf_reset(&err);
            if (config_expand(o + sizeof(param) - 1, &value, &err) == 0)
                mark_class_names(strbuf_str(&value));
        }
    strbuf_release(&value);
    strbuf_release(&err);
}

void master_cf_register_config(const master_cf *cf)
{
    for (size_t k = 0; k < cf->n; k++) {
        const struct master_cf_entry *e = cf->entries[k];
        config_add_service(e->service, e->raw[MASTER_CF_COL_TYPE], e->argv.v[0]);
        for (size_t i = 0; i < e->argv.n; i++)
            config_mark_references(e->argv.v[i]);
        for (size_t i = 0; i < e->overrides.n; i++) {
            const char *o = e->overrides.v[i];
            char *name = xstrndup(o, strcspn(o, "="));
            config_mark_used(name);
            free(name);
        }
    }
    master_cf_mark_restriction_classes(cf);
}
