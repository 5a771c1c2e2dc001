/* config - main.cf parsing, lookup with lazy expansion, defaults. See config.h.
 *
 * Everything lives in a `store`: one for the loaded main.cf, and short-lived
 * ones for checking alternate_config_directories in the default main.cf.
 * A store maps names to `param` entries (main.cf value, override, caches).
 * Expansion runs with an `xctx` that carries the stack of parameters being
 * expanded, which is how loops are found and how errors name the parameter
 * (and its file and line) where they happen.
 */
#include "config.h"
#include "inet_config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <limits.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include "mem.h"
#include "msg.h"
#include "paths.h"
#include "strlist.h"

extern const struct config_default config_default_table[];
extern const size_t config_default_count;

#define MAIN_CF "main.cf"
#define CONFIG_MAX_FILE (64u << 20)     /* a bigger main.cf is refused */
#define CONFIG_MAX_EXPANSION (4u << 20) /* longest expanded value */
#define CONFIG_MAX_NESTING 100          /* $name chains and {} nesting */
#define CONFIG_WHITESPACE " \t\n\v\f\r" /* Postfix's ISSPACE set */

struct param {
    char *name;
    struct param *next; /* hash chain */
    char *file_value;   /* main.cf value, NULL when not set there */
    int file_line;
    char *override;
    char *override_origin;
    char *computed;        /* run-time default, cached */
    char *service_default; /* config_add_service() default */
    char *expanded;        /* expansion cache */
    char *origin;          /* "path, line N", built on demand */
    bool used;             /* referenced as $name or marked used */
    bool warned;           /* unused-parameter warning given */
};

struct store {
    struct param **buckets;
    size_t nbuckets;
    struct param **order; /* names set in main.cf, file order */
    size_t norder, caporder;
    const char **order_names;
    char *path;        /* main.cf path (or text origin) */
    char *dir;         /* config_directory, NULL when only text was loaded */
    strlist graveyard; /* strings handed out before the last invalidation */
};

struct xctx {
    struct store *st;
    const char *stack[CONFIG_MAX_NESTING + 1]; /* parameters being expanded */
    size_t nstack;
    int nesting; /* {} and ${} nesting inside one value */
    strbuf *err;
    /* config_expand_attrs: delivery-time attributes, looked up before
     * parameters; NULL otherwise. Parameter caches are bypassed while
     * attributes are in force (a parameter's value may refer to one). */
    const struct config_attrs *attrs;
    bool undefined; /* an undefined attribute was substituted */
};

static struct store cfg;

/* ---------------------------------------------------------------- store */

static size_t hash_name(const char *s)
{
    size_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

static struct param *param_find(struct store *st, const char *name)
{
    if (!st->buckets)
        return NULL;
    for (struct param *p = st->buckets[hash_name(name) % st->nbuckets]; p; p = p->next)
        if (strcmp(p->name, name) == 0)
            return p;
    return NULL;
}

static struct param *param_get(struct store *st, const char *name)
{
    struct param *p = param_find(st, name);
    if (p)
        return p;
    if (!st->buckets) {
        st->nbuckets = 2039;
        st->buckets = xcalloc(st->nbuckets, sizeof(*st->buckets));
    }
    p = xcalloc(1, sizeof(*p));
    p->name = xstrdup(name);
    size_t b = hash_name(name) % st->nbuckets;
    p->next = st->buckets[b];
    st->buckets[b] = p;
    return p;
}

static void store_free(struct store *st)
{
    for (size_t b = 0; b < st->nbuckets; b++) {
        struct param *p = st->buckets[b];
        while (p) {
            struct param *next = p->next;
            free(p->name);
            free(p->file_value);
            free(p->override);
            free(p->override_origin);
            free(p->computed);
            free(p->service_default);
            free(p->expanded);
            free(p->origin);
            free(p);
            p = next;
        }
    }
    free(st->buckets);
    free(st->order);
    free(st->order_names);
    free(st->path);
    free(st->dir);
    strlist_release(&st->graveyard);
    memset(st, 0, sizeof(*st));
}

/* Drop every cache that depends on other values. Strings already handed to
 * callers stay allocated until the next load, so a caller that kept one
 * across an override does not read freed memory. */
static void store_invalidate(struct store *st)
{
    for (size_t b = 0; b < st->nbuckets; b++)
        for (struct param *p = st->buckets[b]; p; p = p->next) {
            if (p->expanded)
                strlist_push_owned(&st->graveyard, p->expanded);
            if (p->computed)
                strlist_push_owned(&st->graveyard, p->computed);
            p->expanded = p->computed = NULL;
        }
}

static bool is_name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

static bool is_space(char c)
{
    return c != '\0' && strchr(CONFIG_WHITESPACE, c) != NULL;
}

bool config_valid_name(const char *name)
{
    if (!*name)
        return false;
    for (; *name; name++)
        if (!is_name_char(*name))
            return false;
    return true;
}

/* Mark every $name, ${name...} and $(name...) in text as used. Nested
 * references (${a?{$b}}) are found because scanning continues inside. */
static void mark_references(struct store *st, const char *s)
{
    for (size_t i = 0; s[i];) {
        if (s[i] != '$') {
            i++;
            continue;
        }
        if (s[i + 1] == '$') {
            i += 2;
            continue;
        }
        size_t j = i + 1;
        if (s[j] == '{' || s[j] == '(') {
            j++;
            while (is_space(s[j]))
                j++;
        }
        size_t start = j;
        while (is_name_char(s[j]))
            j++;
        if (j > start) {
            char *name = xstrndup(s + start, j - start);
            param_get(st, name)->used = true;
            free(name);
        }
        i = j > i + 1 ? j : i + 1;
    }
}

/* ------------------------------------------------------------- defaults */

static int cmp_default(const void *key, const void *elem)
{
    return strcmp(key, ((const struct config_default *)elem)->name);
}

const struct config_default *config_defaults(size_t *count)
{
    if (count)
        *count = config_default_count;
    return config_default_table;
}

const struct config_default *config_default_find(const char *name)
{
    return bsearch(name, config_default_table, config_default_count,
                   sizeof(config_default_table[0]), cmp_default);
}

/* ------------------------------------------------------------ expansion */

static const char *param_origin(struct store *st, struct param *p)
{
    if (!p)
        return NULL;
    if (p->override)
        return p->override_origin;
    if (p->file_value) {
        if (!p->origin) {
            strbuf sb = STRBUF_INIT;
            strbuf_printf(&sb, "%s, line %d", st->path ? st->path : MAIN_CF, p->file_line);
            p->origin = strbuf_detach(&sb);
        }
        return p->origin;
    }
    return NULL;
}

/* Report an expansion error, prefixed with the parameter being expanded
 * (innermost first: that is where the bad text is). Always returns -1. */
static int __attribute__((format(printf, 2, 3))) xerror(struct xctx *x, const char *fmt, ...)
{
    if (x->err->len > 0)
        return -1; /* keep the first, innermost error */
    if (x->nstack > 0) {
        const char *name = x->stack[x->nstack - 1];
        const char *origin = param_origin(x->st, param_find(x->st, name));
        if (origin)
            strbuf_printf(x->err, "%s: ", origin);
        strbuf_printf(x->err, "parameter %s: ", name);
    }
    va_list ap;
    va_start(ap, fmt);
    strbuf_vprintf(x->err, fmt, ap);
    va_end(ap);
    return -1;
}

static const struct config_attr *find_attr(const struct xctx *x, const char *name)
{
    if (x->attrs)
        for (size_t i = 0; i < x->attrs->n; i++)
            if (strcmp(x->attrs->v[i].name, name) == 0)
                return &x->attrs->v[i];
    return NULL;
}

static int expand_text(struct xctx *x, const char *s, size_t n, strbuf *out);
static int expand_name(struct xctx *x, const char *name, strbuf *out);
static int compute_default(struct xctx *x, const char *name, strbuf *out);

/* The raw value of name in x's store: override, main.cf, default (computed
 * ones filled in). *raw is NULL for a name nobody knows. */
static int raw_value(struct xctx *x, const char *name, const char **raw)
{
    struct param *p = param_find(x->st, name);
    *raw = NULL;
    if (p && p->override) {
        *raw = p->override;
        return 0;
    }
    if (p && p->file_value) {
        *raw = p->file_value;
        return 0;
    }
    if (x->st->dir && strcmp(name, "config_directory") == 0) {
        *raw = x->st->dir;
        return 0;
    }
    const struct config_default *d = config_default_find(name);
    if (!d) {
        if (p && p->service_default)
            *raw = p->service_default;
        return 0;
    }
    if (d->value) {
        *raw = d->value;
        return 0;
    }
    if (p && p->computed) {
        *raw = p->computed;
        return 0;
    }
    strbuf val = STRBUF_INIT;
    if (compute_default(x, name, &val) < 0) {
        strbuf_release(&val);
        return -1;
    }
    p = param_get(x->st, name);
    p->computed = strbuf_detach(&val);
    *raw = p->computed;
    return 0;
}

static bool on_stack(struct xctx *x, const char *name)
{
    for (size_t i = 0; i < x->nstack; i++)
        if (strcmp(x->stack[i], name) == 0)
            return true;
    return false;
}

static int push_name(struct xctx *x, const char *name)
{
    if (on_stack(x, name)) {
        strbuf chain = STRBUF_INIT;
        size_t i = 0;
        while (strcmp(x->stack[i], name) != 0)
            i++;
        for (; i < x->nstack; i++)
            strbuf_printf(&chain, "$%s -> ", x->stack[i]);
        strbuf_printf(&chain, "$%s", name);
        xerror(x, "expansion loop: %s", strbuf_str(&chain));
        strbuf_release(&chain);
        return -1;
    }
    if (x->nstack >= CONFIG_MAX_NESTING)
        return xerror(x, "parameter references nested more than %d deep at $%s", CONFIG_MAX_NESTING,
                      name);
    x->stack[x->nstack++] = name;
    return 0;
}

static int check_length(struct xctx *x, const strbuf *out)
{
    if (out->len > CONFIG_MAX_EXPANSION)
        return xerror(x, "expanded value is longer than %u bytes", CONFIG_MAX_EXPANSION);
    return 0;
}

/* $name / ${name}: the fully expanded value (cached per parameter). */
static int expand_name(struct xctx *x, const char *name, strbuf *out)
{
    const struct config_attr *a = find_attr(x, name);
    if (a) {
        if (a->value == NULL)
            x->undefined = true;
        else
            config_filter_append(out, a->value, x->attrs->filter);
        return check_length(x, out);
    }
    struct param *p = param_find(x->st, name);
    if (p && p->expanded && !x->attrs) {
        strbuf_puts(out, p->expanded);
        return check_length(x, out);
    }
    if (push_name(x, name) < 0)
        return -1;
    const char *raw;
    strbuf val = STRBUF_INIT;
    int rc = raw_value(x, name, &raw);
    const struct config_default *d = raw ? config_default_find(name) : NULL;
    if (rc == 0 && raw && d && d->raw)
        strbuf_puts(&val, raw);
    else if (rc == 0 && raw)
        rc = expand_text(x, raw, strlen(raw), &val);
    x->nstack--;
    if (rc == 0 && raw) {
        if (!x->attrs) {
            p = param_get(x->st, name);
            p->expanded = xstrdup(strbuf_str(&val));
        }
        strbuf_append(out, val.s ? val.s : "", val.len);
        rc = check_length(x, out);
    }
    strbuf_release(&val);
    return rc;
}

/* printf arguments for at most 20 bytes of s[i..n) (Postfix's "%.20s"). */
#define TAIL(s, n, i) (int)((n) - (i) > 20 ? 20 : (n) - (i)), (s) + (i)

static size_t skip_space(const char *s, size_t n, size_t i)
{
    while (i < n && is_space(s[i]))
        i++;
    return i;
}

/* At s[*i] == '{': the balanced payload; *i moves past '}' and whitespace. */
static int curly_payload(struct xctx *x, const char *s, size_t n, size_t *i, size_t *start,
                         size_t *len)
{
    int level = 0;
    for (size_t j = *i; j < n; j++) {
        if (s[j] == '{') {
            level++;
        } else if (s[j] == '}' && --level == 0) {
            *start = *i + 1;
            *len = j - *start;
            *i = skip_space(s, n, j + 1);
            return 0;
        }
    }
    return xerror(x, "unbalanced {} in \"%.*s\"", (int)(n - *i > 100 ? 100 : n - *i), s + *i);
}

/* Compatibility levels: "major[.minor[.patch]]", all digits. */
static int parse_level(const char *s, long long v[3])
{
    v[0] = v[1] = v[2] = 0;
    for (int k = 0; k < 3; k++) {
        if (*s < '0' || *s > '9')
            return -1;
        long long n = 0;
        while (*s >= '0' && *s <= '9') {
            if (n > (LLONG_MAX - 9) / 10)
                return -1;
            n = n * 10 + (*s++ - '0');
        }
        v[k] = n;
        if (*s == '\0')
            return 0;
        if (*s++ != '.')
            return -1;
    }
    return -1;
}

static bool all_digits(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return false;
    return true;
}

/* Numeric comparison of digit strings of any length (no overflow). */
static int cmp_digits(const char *a, const char *b)
{
    while (*a == '0' && a[1])
        a++;
    while (*b == '0' && b[1])
        b++;
    size_t la = strlen(a), lb = strlen(b);
    if (la != lb)
        return la < lb ? -1 : 1;
    int c = strcmp(a, b);
    return (c > 0) - (c < 0);
}

enum relop { OP_EQ, OP_NE, OP_LT, OP_LE, OP_GE, OP_GT };

static bool relop_holds(enum relop op, int delta)
{
    switch (op) {
    case OP_EQ:
        return delta == 0;
    case OP_NE:
        return delta != 0;
    case OP_LT:
        return delta < 0;
    case OP_LE:
        return delta <= 0;
    case OP_GE:
        return delta >= 0;
    case OP_GT:
        return delta > 0;
    }
    return false;
}

/* {left} op {right}: *truth is the result; *i moves past the right operand. */
static int eval_relational(struct xctx *x, const char *s, size_t n, size_t *i, bool *truth)
{
    size_t ls, ll, rs, rl;
    if (curly_payload(x, s, n, i, &ls, &ll) < 0)
        return -1;
    size_t op_start = *i, op_len = 0;
    while (op_start + op_len < n && strchr("<>!=?+-*/~&|%", s[op_start + op_len]))
        op_len++;
    static const struct {
        const char *text;
        enum relop op;
    } ops[] = {{"==", OP_EQ}, {"!=", OP_NE}, {"<", OP_LT},
               {"<=", OP_LE}, {">=", OP_GE}, {">", OP_GT}};
    int found = -1;
    for (size_t k = 0; k < sizeof(ops) / sizeof(ops[0]); k++)
        if (strlen(ops[k].text) == op_len && memcmp(ops[k].text, s + op_start, op_len) == 0)
            found = (int)k;
    if (found < 0)
        return xerror(x,
                      "\"==\" or \"!=\" or \"<\" or \"<=\" or \">=\" or \">\" expected at: "
                      "\"...%.*s}>>>%.*s\"",
                      (int)ll, s + ls, TAIL(s, n, op_start));
    *i = op_start + op_len;
    bool level = false;
    if (*i < n && is_name_char(s[*i]) && s[*i] != '_') {
        size_t t = *i;
        while (t < n && is_name_char(s[t]) && s[t] != '_')
            t++;
        if (t - *i != 5 || memcmp(s + *i, "level", 5) != 0)
            return xerror(x, "bad operator suffix at: \"...%.*s>>>%.*s\"", (int)op_len,
                          s + op_start, (int)(t - *i), s + *i);
        level = true;
        *i = t;
    }
    *i = skip_space(s, n, *i);
    if (*i >= n || s[*i] != '{')
        return xerror(x, "\"{expression}\" expected at: \"...{%.*s} %.*s>>>%.*s\"", (int)ll, s + ls,
                      (int)op_len, s + op_start, TAIL(s, n, *i));
    if (curly_payload(x, s, n, i, &rs, &rl) < 0)
        return -1;
    strbuf left = STRBUF_INIT, right = STRBUF_INIT;
    int rc = expand_text(x, s + ls, ll, &left);
    if (rc == 0)
        rc = expand_text(x, s + rs, rl, &right);
    if (rc == 0) {
        const char *a = strbuf_str(&left), *b = strbuf_str(&right);
        int delta;
        if (level) {
            long long va[3], vb[3];
            if (parse_level(a, va) < 0) {
                rc = xerror(x, "malformed compatibility level syntax: \"%s\"", a);
            } else if (parse_level(b, vb) < 0) {
                rc = xerror(x, "malformed compatibility level syntax: \"%s\"", b);
            } else {
                delta = 0;
                for (int k = 0; k < 3 && delta == 0; k++)
                    delta = (va[k] > vb[k]) - (va[k] < vb[k]);
                *truth = relop_holds(ops[found].op, delta);
            }
        } else {
            if (all_digits(a) && all_digits(b)) {
                delta = cmp_digits(a, b);
            } else {
                int c = strcmp(a, b);
                delta = (c > 0) - (c < 0);
            }
            *truth = relop_holds(ops[found].op, delta);
        }
    }
    strbuf_release(&left);
    strbuf_release(&right);
    return rc;
}

/* The inside of ${...} or $(...). */
static int expand_expr(struct xctx *x, const char *s, size_t n, strbuf *out)
{
    size_t i = skip_space(s, n, 0);
    bool relational = false, truth = false;
    char *name = NULL;
    char ch = 0;
    int rc = 0;

    if (i < n && s[i] == '{') {
        relational = true;
        if (eval_relational(x, s, n, &i, &truth) < 0)
            return -1;
        if (i < n) {
            ch = s[i];
            if (ch != '?' && ch != ':')
                return xerror(x, "\"?\" or \":\" expected at: \"...}>>>%.*s\"", TAIL(s, n, i));
            i++;
        }
    } else {
        size_t start = i;
        for (;; i++) {
            size_t j = skip_space(s, n, i);
            if (j >= n) {
                ch = 0;
                break;
            }
            if (s[j] == '?' || s[j] == ':') {
                ch = s[j];
                break;
            }
            if (!is_name_char(s[i]))
                return xerror(x, "parameter name syntax error at: \"...%.*s>>>%.*s\"",
                              (int)(i - start), s + start, TAIL(s, n, i));
        }
        if (i == start)
            return xerror(x, "empty parameter name in \"${%.*s}\"", (int)(n > 60 ? 60 : n), s);
        name = xstrndup(s + start, i - start);
        if (ch) {
            i = skip_space(s, n, i) + 1;
            /* ?/: test the raw value, as Postfix does; an attribute
             * is "set" when it is defined and not empty. */
            const struct config_attr *a = find_attr(x, name);
            if (a) {
                truth = a->value && *a->value;
                goto test_done;
            }
            const char *raw;
            bool pushed = !on_stack(x, name);
            if (pushed && push_name(x, name) < 0) {
                free(name);
                return -1;
            }
            rc = raw_value(x, name, &raw);
            if (pushed)
                x->nstack--;
            truth = raw && *raw;
        }
    }
test_done:
    if (rc < 0)
        goto done;

    switch (ch) {
    case '?': {
        size_t ts = 0, tl = 0;
        i = skip_space(s, n, i);
        if (i < n && s[i] == '{') {
            if ((rc = curly_payload(x, s, n, &i, &ts, &tl)) < 0)
                goto done;
        } else {
            ts = i, tl = n - i, i = n;
        }
        if (truth && (rc = expand_text(x, s + ts, tl, out)) < 0)
            goto done;
        if (i >= n)
            break;
        if (s[i] != ':') {
            rc =
                xerror(x, "\":\" expected at: \"...%.*s}>>>%.*s\"", (int)tl, s + ts, TAIL(s, n, i));
            goto done;
        }
        i++;
    }
        __attribute__((fallthrough)); /* ${name?{a}:{b}} */
    case ':': {
        size_t fs = 0, fl = 0;
        i = skip_space(s, n, i);
        if (i < n && s[i] == '{') {
            if ((rc = curly_payload(x, s, n, &i, &fs, &fl)) < 0)
                goto done;
        } else {
            fs = i, fl = n - i, i = n;
        }
        if (!truth && (rc = expand_text(x, s + fs, fl, out)) < 0)
            goto done;
        if (i < n) {
            rc = xerror(x, "unexpected input at: \"...%.*s}>>>%.*s\"", (int)fl, s + fs,
                        TAIL(s, n, i));
            goto done;
        }
        break;
    }
    default:
        if (relational) {
            if (truth)
                strbuf_puts(out, "true");
        } else {
            rc = expand_name(x, name, out);
        }
        break;
    }
done:
    free(name);
    return rc;
}

static int expand_text(struct xctx *x, const char *s, size_t n, strbuf *out)
{
    if (++x->nesting > CONFIG_MAX_NESTING) {
        x->nesting--;
        return xerror(x, "expressions nested more than %d deep", CONFIG_MAX_NESTING);
    }
    int rc = 0;
    size_t i = 0;
    while (i < n && rc == 0) {
        const char *dollar = memchr(s + i, '$', n - i);
        size_t lit = dollar ? (size_t)(dollar - (s + i)) : n - i;
        strbuf_append(out, s + i, lit);
        i += lit;
        if (i >= n)
            break;
        if (i + 1 < n && s[i + 1] == '$') {
            strbuf_putc(out, '$');
            i += 2;
        } else if (i + 1 < n && (s[i + 1] == '{' || s[i + 1] == '(')) {
            char open = s[i + 1], close = open == '{' ? '}' : ')';
            size_t j = i + 2;
            int level = 1;
            for (; j < n; j++) {
                if (s[j] == open)
                    level++;
                else if (s[j] == close && --level == 0)
                    break;
            }
            if (j >= n) {
                rc = xerror(x, "unterminated \"$%c\" in \"%.*s\"", open,
                            (int)(n - i > 60 ? 60 : n - i), s + i);
                break;
            }
            rc = expand_expr(x, s + i + 2, j - (i + 2), out);
            i = j + 1;
        } else {
            size_t j = i + 1;
            while (j < n && is_name_char(s[j]))
                j++;
            if (j == i + 1) {
                rc = xerror(x,
                            "\"$\" not followed by a parameter name (use \"$$\" for a "
                            "literal \"$\") in \"%.*s\"",
                            (int)(n > 60 ? 60 : n), s);
                break;
            }
            char *name = xstrndup(s + i + 1, j - i - 1);
            rc = expand_name(x, name, out);
            free(name);
            i = j;
        }
        if (rc == 0)
            rc = check_length(x, out);
    }
    x->nesting--;
    return rc;
}

/* ---------------------------------------------------- computed defaults */

static int expanded_in(struct xctx *x, const char *name, strbuf *out)
{
    return expand_name(x, name, out);
}

static const char *program_name(void)
{
    extern char *program_invocation_short_name;
    return program_invocation_short_name ? program_invocation_short_name : "unknown";
}

static int compute_myhostname(struct xctx *x, strbuf *out)
{
    char host[HOST_NAME_MAX + 2];
    if (gethostname(host, sizeof(host) - 1) < 0)
        return xerror(x, "gethostname: %s", strerror(errno));
    host[sizeof(host) - 1] = '\0';
    strbuf_puts(out, host);
    if (strchr(host, '.'))
        return 0;
    /* Not a FQDN: append $mydomain when main.cf sets it, as Postfix does. */
    struct param *d = param_find(x->st, "mydomain");
    strbuf_putc(out, '.');
    if (d && (d->file_value || d->override))
        return expanded_in(x, "mydomain", out);
    strbuf_puts(out, "localdomain");
    return 0;
}

static int compute_mydomain(struct xctx *x, strbuf *out)
{
    strbuf host = STRBUF_INIT;
    int rc = expanded_in(x, "myhostname", &host);
    if (rc == 0) {
        const char *dot = strchr(strbuf_str(&host), '.');
        strbuf_puts(out, dot ? dot + 1 : "localdomain");
    }
    strbuf_release(&host);
    return rc;
}

enum net_style { STYLE_HOST, STYLE_SUBNET, STYLE_CLASS };

struct netaddr {
    int family;
    unsigned char addr[16];
    unsigned char mask[16];
};

static int mask_len(const unsigned char *mask, int bytes)
{
    int len = 0;
    for (int i = 0; i < bytes; i++)
        for (int b = 7; b >= 0; b--)
            if (mask[i] & (1u << b))
                len++;
    return len;
}

static void print_network(strbuf *out, const struct netaddr *na, enum net_style style)
{
    int bytes = na->family == AF_INET ? 4 : 16;
    unsigned char net[16];
    int len;
    if (style == STYLE_HOST) {
        len = bytes * 8;
        memcpy(net, na->addr, bytes);
    } else {
        unsigned char mask[16];
        memcpy(mask, na->mask, bytes);
        if (style == STYLE_CLASS && na->family == AF_INET) {
            unsigned a = na->addr[0];
            int cls = a < 128 ? 8 : a < 192 ? 16 : a < 224 ? 24 : 32;
            memset(mask, 0, 4);
            for (int i = 0; i < cls; i++)
                mask[i / 8] |= (unsigned char)(0x80u >> (i % 8));
        }
        len = mask_len(mask, bytes);
        for (int i = 0; i < bytes; i++)
            net[i] = na->addr[i] & mask[i];
    }
    char text[INET6_ADDRSTRLEN];
    if (!inet_ntop(na->family, net, text, sizeof(text)))
        return;
    if (out->len > 0)
        strbuf_putc(out, ' ');
    if (na->family == AF_INET)
        strbuf_printf(out, "%s/%d", text, len);
    else
        strbuf_printf(out, "[%s]/%d", text, len);
}

/* The addresses named by inet_interfaces words ("192.0.2.1", "[::1]",
 * "localhost"), in inet_ntop form; names are resolved like Postfix does. */
static void interface_addresses(const strlist *words, strlist *out)
{
    for (size_t k = 0; k < words->n; k++) {
        char *w = xstrdup(words->v[k]);
        size_t wl = strlen(w);
        if (wl > 2 && w[0] == '[' && w[wl - 1] == ']') {
            memmove(w, w + 1, wl - 2);
            w[wl - 2] = '\0';
        }
        unsigned char bin[16];
        char text[INET6_ADDRSTRLEN];
        if (inet_pton(AF_INET, w, bin) == 1 || inet_pton(AF_INET6, w, bin) == 1) {
            int fam = strchr(w, ':') ? AF_INET6 : AF_INET;
            if (inet_ntop(fam, bin, text, sizeof(text)))
                strlist_push(out, text);
        } else if (strcasecmp(w, "loopback-only") != 0) {
            struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
            if (getaddrinfo(w, NULL, &hints, &res) == 0) {
                for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
                    const void *a =
                        ai->ai_family == AF_INET
                            ? (const void *)&((struct sockaddr_in *)(void *)ai->ai_addr)->sin_addr
                            : (const void *)&((struct sockaddr_in6 *)(void *)ai->ai_addr)
                                  ->sin6_addr;
                    if ((ai->ai_family == AF_INET || ai->ai_family == AF_INET6) &&
                        inet_ntop(ai->ai_family, a, text, sizeof(text)))
                        strlist_push(out, text);
                }
                freeaddrinfo(res);
            }
        }
        free(w);
    }
}

/* mynetworks from mynetworks_style over the addresses in inet_interfaces
 * (all interfaces for "all", loopback ones for "loopback-only"), limited
 * to inet_protocols: IPv4 first, then IPv6, in interface order. */
static int compute_mynetworks(struct xctx *x, strbuf *out)
{
    strbuf style_s = STRBUF_INIT, proto_s = STRBUF_INIT, ifs_s = STRBUF_INIT;
    strlist wanted = STRLIST_INIT;
    struct inet_interfaces ifs = INET_INTERFACES_INIT; /* released at out */
    struct ifaddrs *ifa_list = NULL;
    int rc = -1;
    if (expanded_in(x, "mynetworks_style", &style_s) < 0 ||
        expanded_in(x, "inet_protocols", &proto_s) < 0 ||
        expanded_in(x, "inet_interfaces", &ifs_s) < 0)
        goto out;
    enum net_style style;
    strbuf_trim(&style_s);
    if (strcasecmp(strbuf_str(&style_s), "host") == 0)
        style = STYLE_HOST;
    else if (strcasecmp(strbuf_str(&style_s), "subnet") == 0)
        style = STYLE_SUBNET;
    else if (strcasecmp(strbuf_str(&style_s), "class") == 0)
        style = STYLE_CLASS;
    else {
        xerror(x, "unknown mynetworks_style value: %s", strbuf_str(&style_s));
        goto out;
    }
    /* A bad value is master's error to report at start; the default
     * mynetworks uses whatever words did parse. */
    struct inet_protocols protos;
    strbuf ignored = STRBUF_INIT;
    (void)inet_protocols_parse(strbuf_str(&proto_s), false, &protos, &ignored);
    (void)inet_interfaces_parse(strbuf_str(&ifs_s), &ifs, &ignored);
    strbuf_release(&ignored);
    bool want4 = protos.v4;
    bool want6 = protos.v6;
    bool all = ifs.all;
    bool loopback_only = ifs.loopback_only;
    if (!all)
        interface_addresses(&ifs.hosts, &wanted);
    if (getifaddrs(&ifa_list) < 0) {
        xerror(x, "cannot list network interfaces: %s", strerror(errno));
        goto out;
    }
    for (int pass = 0; pass < 2; pass++) {
        int family = pass == 0 ? AF_INET : AF_INET6;
        if ((family == AF_INET && !want4) || (family == AF_INET6 && !want6))
            continue;
        for (struct ifaddrs *ifa = ifa_list; ifa; ifa = ifa->ifa_next) {
            if (!ifa->ifa_addr || ifa->ifa_addr->sa_family != family || !ifa->ifa_netmask)
                continue;
            struct netaddr na = {.family = family};
            if (family == AF_INET) {
                memcpy(na.addr, &((struct sockaddr_in *)(void *)ifa->ifa_addr)->sin_addr, 4);
                memcpy(na.mask, &((struct sockaddr_in *)(void *)ifa->ifa_netmask)->sin_addr, 4);
            } else {
                memcpy(na.addr, &((struct sockaddr_in6 *)(void *)ifa->ifa_addr)->sin6_addr, 16);
                memcpy(na.mask, &((struct sockaddr_in6 *)(void *)ifa->ifa_netmask)->sin6_addr, 16);
            }
            if (!all) {
                bool keep = false;
                if (loopback_only)
                    keep = (ifa->ifa_flags & IFF_LOOPBACK) != 0;
                char text[INET6_ADDRSTRLEN];
                if (!keep && inet_ntop(family, na.addr, text, sizeof(text)))
                    keep = strlist_contains(&wanted, text);
                if (!keep)
                    continue;
            }
            print_network(out, &na, style);
        }
    }
    rc = 0;
out:
    if (ifa_list)
        freeifaddrs(ifa_list);
    strbuf_release(&style_s);
    strbuf_release(&proto_s);
    strbuf_release(&ifs_s);
    inet_interfaces_release(&ifs);
    strlist_release(&wanted);
    return rc;
}

static int compute_default(struct xctx *x, const char *name, strbuf *out)
{
    if (strcmp(name, "myhostname") == 0)
        return compute_myhostname(x, out);
    if (strcmp(name, "mydomain") == 0)
        return compute_mydomain(x, out);
    if (strcmp(name, "mynetworks") == 0)
        return compute_mynetworks(x, out);
    if (strcmp(name, "mail_version") == 0) {
        strbuf_puts(out, MTA_VERSION);
        return 0;
    }
    if (strcmp(name, "process_id") == 0) {
        strbuf_printf(out, "%ld", (long)getpid());
        return 0;
    }
    if (strcmp(name, "process_name") == 0) {
        strbuf_puts(out, program_name());
        return 0;
    }
    msg_panic("config: no run-time default for %s", name);
}

/* ------------------------------------------------------------- loading */

static void set_file_value(struct store *st, const char *name, const char *value, int line)
{
    struct param *p = param_get(st, name);
    if (p->file_value) {
        msg_warn("%s, line %d: overriding earlier entry: %s=%s", st->path, line, name,
                 p->file_value);
        free(p->file_value);
        XFREE(p->origin);
    } else {
        if (st->norder == st->caporder) {
            st->caporder = st->caporder ? st->caporder * 2 : 64;
            st->order = xreallocarray(st->order, st->caporder, sizeof(*st->order));
        }
        st->order[st->norder++] = p;
    }
    p->file_value = xstrdup(value);
    p->file_line = line;
}

/* One logical line: "name = value" (Postfix's split_nameval rules). */
static int parse_logical(struct store *st, strbuf *logical, int line, strbuf *err)
{
    const char *s = strbuf_str(logical);
    size_t i = 0, n = logical->len;
    while (i < n && is_space(s[i]))
        i++;
    if (i >= n || s[i] == '=') {
        strbuf_printf(err, "%s, line %d: missing attribute name: \"%s\"", st->path, line, s);
        return -1;
    }
    size_t name_start = i;
    while (i < n && !is_space(s[i]) && s[i] != '=')
        i++;
    size_t name_end = i;
    while (i < n && is_space(s[i]))
        i++;
    if (i >= n || s[i] != '=') {
        strbuf_printf(err, "%s, line %d: missing '=' after attribute name: \"%s\"", st->path, line,
                      s);
        return -1;
    }
    i++;
    while (i < n && is_space(s[i]))
        i++;
    size_t end = n;
    while (end > i && is_space(s[end - 1]))
        end--;
    char *name = xstrndup(s + name_start, name_end - name_start);
    char *value = xstrndup(s + i, end - i);
    set_file_value(st, name, value, line);
    free(name);
    free(value);
    return 0;
}

static int store_parse(struct store *st, const char *text, size_t len, strbuf *err)
{
    strbuf logical = STRBUF_INIT;
    int logical_line = 0, line = 0;
    bool have = false, skipping = false;
    size_t pos = 0;
    int rc = 0;
    while (pos < len && rc == 0) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - text) : len;
        const char *s = text + pos;
        size_t n = end - pos;
        line++;
        pos = nl ? end + 1 : len;
        if (memchr(s, '\0', n)) {
            strbuf_printf(err, "%s, line %d: NUL character in configuration file", st->path, line);
            rc = -1;
            break;
        }
        size_t k = 0;
        while (k < n && is_space(s[k]))
            k++;
        if (k == n || s[k] == '#')
            continue; /* blank and comment lines never end a logical line */
        if (is_space(s[0])) {
            if (have)
                strbuf_append(&logical, s, n);
            else if (!skipping) {
                msg_warn("%s, line %d: logical line must not start with whitespace: "
                         "\"%.*s%s\"",
                         st->path, line, (int)(n > 30 ? 30 : n), s, n > 30 ? "..." : "");
                skipping = true;
            }
            continue;
        }
        if (have)
            rc = parse_logical(st, &logical, logical_line, err);
        strbuf_reset(&logical);
        strbuf_append(&logical, s, n);
        have = true;
        skipping = false;
        logical_line = line;
    }
    if (rc == 0 && have)
        rc = parse_logical(st, &logical, logical_line, err);
    strbuf_release(&logical);
    if (rc == 0) {
        st->order_names = xreallocarray(NULL, st->norder + 1, sizeof(*st->order_names));
        for (size_t i = 0; i < st->norder; i++) {
            st->order_names[i] = st->order[i]->name;
            mark_references(st, st->order[i]->file_value);
        }
        st->order_names[st->norder] = NULL;
    }
    return rc;
}

static int store_load_text(struct store *st, const char *origin, const char *text, size_t len,
                           strbuf *err)
{
    st->path = xstrdup(origin);
    if (len > CONFIG_MAX_FILE) {
        strbuf_printf(err, "%s: file is larger than %u bytes", origin, CONFIG_MAX_FILE);
        return -1;
    }
    return store_parse(st, text, len, err);
}

static int read_file(const char *path, strbuf *text, strbuf *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        strbuf_printf(err, "open %s: %s", path, strerror(errno));
        return -1;
    }
    struct stat sb;
    if (fstat(fd, &sb) < 0) {
        strbuf_printf(err, "stat %s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    if (!S_ISREG(sb.st_mode)) {
        strbuf_printf(err, "%s: not a regular file", path);
        close(fd);
        return -1;
    }
    for (;;) {
        if (text->len > CONFIG_MAX_FILE) {
            strbuf_printf(err, "%s: file is larger than %u bytes", path, CONFIG_MAX_FILE);
            close(fd);
            return -1;
        }
        strbuf_reserve(text, 65536);
        ssize_t got = read(fd, text->s + text->len, text->cap - text->len - 1);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            strbuf_printf(err, "read %s: %s", path, strerror(errno));
            close(fd);
            return -1;
        }
        if (got == 0)
            break;
        text->len += (size_t)got;
        text->s[text->len] = '\0';
    }
    close(fd);
    return 0;
}

static int store_load_dir(struct store *st, const char *dir, strbuf *err)
{
    strbuf path = STRBUF_INIT, text = STRBUF_INIT;
    strbuf_printf(&path, "%s/%s", dir, MAIN_CF);
    int rc = read_file(strbuf_str(&path), &text, err);
    if (rc == 0)
        rc = store_load_text(st, strbuf_str(&path), text.s ? text.s : "", text.len, err);
    if (rc == 0)
        st->dir = xstrdup(dir);
    strbuf_release(&path);
    strbuf_release(&text);
    return rc;
}

int config_load(const char *dir, strbuf *err)
{
    struct store fresh = {0};
    if (store_load_dir(&fresh, dir, err) < 0) {
        store_free(&fresh);
        return -1;
    }
    store_free(&cfg);
    cfg = fresh;
    return 0;
}

void config_load_or_die(const char *dir)
{
    strbuf err = STRBUF_INIT;
    if (config_load(dir, &err) < 0)
        msg_fatal("%s", strbuf_str(&err));
    strbuf_release(&err);
}

int config_load_text(const char *origin, const char *text, size_t len, strbuf *err)
{
    struct store fresh = {0};
    if (store_load_text(&fresh, origin, text, len, err) < 0) {
        store_free(&fresh);
        return -1;
    }
    store_free(&cfg);
    cfg = fresh;
    return 0;
}

const char *config_directory(void)
{
    return cfg.dir ? cfg.dir : MTA_DEF_CONFIG_DIR;
}

/* ------------------------------------------------------------- lookups */

void config_override_at(const char *name, const char *value, const char *origin)
{
    struct param *p = param_get(&cfg, name);
    if (p->override)
        strlist_push_owned(&cfg.graveyard, p->override);
    free(p->override_origin);
    p->override = xstrdup(value);
    p->override_origin = origin ? xstrdup(origin) : NULL;
    mark_references(&cfg, value);
    store_invalidate(&cfg);
}

void config_override(const char *name, const char *value)
{
    config_override_at(name, value, NULL);
}

static const char *store_get(struct store *st, const char *name, strbuf *err)
{
    struct param *p = param_find(st, name);
    if (p && p->expanded)
        return p->expanded;
    struct xctx x = {.st = st, .err = err};
    strbuf val = STRBUF_INIT;
    int rc = expand_name(&x, name, &val);
    strbuf_release(&val);
    if (rc < 0)
        return NULL;
    p = param_find(st, name);
    return p && p->expanded ? p->expanded : "";
}

bool config_is_defined(const char *name)
{
    if (config_default_find(name))
        return true;
    struct param *p = param_find(&cfg, name);
    return p && (p->file_value || p->override || p->service_default);
}

const char *config_get(const char *name)
{
    /* A name the program spells wrong would otherwise read as "" and the
     * typo would pass every test that does not set it: refuse loudly. */
    if (!config_is_defined(name))
        msg_panic("config_get: unknown parameter \"%s\" (not built in, not set in main.cf "
                  "or master.cf)",
                  name);
    strbuf err = STRBUF_INIT;
    const char *v = store_get(&cfg, name, &err);
    if (!v)
        msg_fatal("%s", strbuf_str(&err));
    strbuf_release(&err);
    return v;
}

int config_lookup(const char *name, const char **value, strbuf *err)
{
    *value = store_get(&cfg, name, err);
    return *value ? 0 : -1;
}

static const char *store_raw(struct store *st, const char *name, strbuf *err)
{
    struct xctx x = {.st = st, .err = err};
    const char *raw;
    if (push_name(&x, name) < 0)
        return NULL;
    int rc = raw_value(&x, name, &raw);
    x.nstack--;
    if (rc < 0)
        return NULL;
    return raw;
}

const char *config_get_raw(const char *name)
{
    strbuf err = STRBUF_INIT;
    const char *raw = store_raw(&cfg, name, &err);
    if (!raw && err.len > 0)
        msg_fatal("%s", strbuf_str(&err));
    strbuf_release(&err);
    return raw;
}

bool config_is_set(const char *name)
{
    struct param *p = param_find(&cfg, name);
    return p && (p->file_value || p->override);
}

const char *config_origin(const char *name)
{
    return param_origin(&cfg, param_find(&cfg, name));
}

int config_expand(const char *text, strbuf *out, strbuf *err)
{
    struct xctx x = {.st = &cfg, .err = err};
    strbuf_reset(out);
    return expand_text(&x, text, strlen(text), out);
}

int config_expand_with(const char *text, const strlist *overrides, strbuf *out, strbuf *err)
{
    size_t n = overrides ? overrides->n : 0;
    char **saved = xcalloc(n + 1, sizeof(*saved));
    struct param **params = xcalloc(n + 1, sizeof(*params));
    for (size_t i = 0; i < n; i++) {
        const char *o = overrides->v[i];
        size_t nl = strcspn(o, "=");
        char *name = xstrndup(o, nl);
        params[i] = param_get(&cfg, name);
        free(name);
        saved[i] = params[i]->override;
        params[i]->override = xstrdup(o[nl] ? o + nl + 1 : "");
    }
    store_invalidate(&cfg);
    int rc = config_expand(text, out, err);
    /* Restore in reverse so a name given twice gets its original back. */
    for (size_t i = n; i-- > 0;) {
        strlist_push_owned(&cfg.graveyard, params[i]->override);
        params[i]->override = saved[i];
    }
    store_invalidate(&cfg);
    free(saved);
    free(params);
    return rc;
}

int config_expand_attrs(const char *text, const struct config_attrs *attrs, strbuf *out,
                        bool *undefined, strbuf *err)
{
    struct xctx x = {.st = &cfg, .err = err, .attrs = attrs};
    strbuf_reset(out);
    int rc = expand_text(&x, text, strlen(text), out);
    if (undefined)
        *undefined = x.undefined;
    return rc;
}

void config_filter_append(strbuf *out, const char *value, const char *allowed)
{
    for (const char *p = value; *p; p++)
        strbuf_putc(out, allowed == NULL || strchr(allowed, *p) ? *p : '_');
}

const char *config_default_value(const char *name)
{
    const struct config_default *d = config_default_find(name);
    if (!d) {
        struct param *sp = param_find(&cfg, name);
        return sp ? sp->service_default : NULL;
    }
    if (d->value)
        return d->value;
    struct param *p = param_find(&cfg, name);
    if (p && p->computed)
        return p->computed;
    strbuf err = STRBUF_INIT;
    struct xctx x = {.st = &cfg, .err = &err};
    strbuf val = STRBUF_INIT;
    if (push_name(&x, name) < 0 || compute_default(&x, name, &val) < 0)
        msg_fatal("%s", strbuf_str(&err));
    p = param_get(&cfg, name);
    p->computed = strbuf_detach(&val);
    strbuf_release(&err);
    return p->computed;
}

size_t config_set_names(const char ***names)
{
    static const char *none[] = {NULL};
    *names = cfg.order_names ? cfg.order_names : none;
    return cfg.norder;
}

/* --------------------------------------------------------- typed values */

int config_parse_int(const char *text, long long *out)
{
    const char *s = text;
    bool neg = false;
    if (*s == '-' || *s == '+')
        neg = *s++ == '-';
    if (!*s)
        return -1;
    unsigned long long v = 0, limit = neg ? (unsigned long long)LLONG_MAX + 1 : LLONG_MAX;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        unsigned d = (unsigned)(*s - '0');
        if (v > (limit - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out =
        neg ? (v == (unsigned long long)LLONG_MAX + 1 ? LLONG_MIN : -(long long)v) : (long long)v;
    return 0;
}

int config_parse_size(const char *text, long long *out)
{
    if (*text < '0' || *text > '9')
        return -1;
    return config_parse_int(text, out);
}

int config_parse_bool(const char *text, bool *out)
{
    if (strcasecmp(text, "yes") == 0)
        *out = true;
    else if (strcasecmp(text, "no") == 0)
        *out = false;
    else
        return -1;
    return 0;
}

int config_parse_time(const char *text, char default_unit, long long *seconds)
{
    size_t n = strlen(text);
    if (n == 0)
        return -1;
    char unit = default_unit ? default_unit : 's';
    strbuf digits = STRBUF_INIT;
    if (text[n - 1] < '0' || text[n - 1] > '9') {
        unit = text[n - 1];
        n--;
    }
    strbuf_append(&digits, text, n);
    long long v;
    int rc = (n > 0 && text[0] >= '0' && text[0] <= '9') ? config_parse_int(strbuf_str(&digits), &v)
                                                         : -1;
    strbuf_release(&digits);
    if (rc < 0)
        return -1;
    long long mult;
    switch (unit) {
    case 's':
        mult = 1;
        break;
    case 'm':
        mult = 60;
        break;
    case 'h':
        mult = 3600;
        break;
    case 'd':
        mult = 86400;
        break;
    case 'w':
        mult = 7 * 86400;
        break;
    default:
        return -1;
    }
    if (v > LLONG_MAX / mult)
        return -1;
    *seconds = v * mult;
    return 0;
}

static _Noreturn void bad_value(const char *kind, const char *name, const char *value)
{
    const char *origin = config_origin(name);
    if (origin)
        msg_fatal("%s: bad %s configuration: %s = %s", origin, kind, name, value);
    msg_fatal("bad %s configuration: %s = %s", kind, name, value);
}

/* The one place numeric ranges are enforced (the table's min/max). */
static long long check_range(const char *name, long long v, bool time)
{
    const struct config_default *d = config_default_find(name);
    /* Only numeric entries carry bounds (an extension such as
     * local_destination_batch_limit is a string entry read as a number). */
    if (!d || (d->type != CONFIG_INT && d->type != CONFIG_TIME && d->type != CONFIG_SIZE) ||
        (v >= d->min && v <= d->max))
        return v;
    const char *origin = config_origin(name);
    strbuf where = STRBUF_INIT;
    if (origin)
        strbuf_printf(&where, "%s: ", origin);
    bool low = v < d->min;
    if (time)
        msg_fatal("%sinvalid %s: %lld (%s %lld)", strbuf_str(&where), name, v,
                  low ? "min" : "max", low ? d->min : d->max);
    msg_fatal("%sinvalid %s parameter value %lld %s %lld", strbuf_str(&where), name, v,
              low ? "<" : ">", low ? d->min : d->max);
}

long long config_get_int(const char *name)
{
    const char *v = config_get(name);
    long long n;
    if (config_parse_int(v, &n) < 0)
        bad_value("numerical", name, v);
    return check_range(name, n, false);
}

bool config_get_bool(const char *name)
{
    const char *v = config_get(name);
    bool b;
    if (config_parse_bool(v, &b) < 0)
        bad_value("boolean", name, v);
    return b;
}

long long config_get_time(const char *name)
{
    const struct config_default *d = config_default_find(name);
    char unit = d && d->type == CONFIG_TIME && d->time_unit ? d->time_unit : 's';
    const char *v = config_get(name);
    long long t;
    if (config_parse_time(v, unit, &t) < 0)
        bad_value("time", name, v);
    return check_range(name, t, true);
}

long long config_get_size(const char *name)
{
    const char *v = config_get(name);
    long long n;
    if (config_parse_size(v, &n) < 0)
        bad_value("numerical", name, v);
    return check_range(name, n, false);
}

/* -------------------------------------------------------- unused names */

bool config_is_known(const char *name)
{
    if (config_default_find(name))
        return true;
    struct param *p = param_find(&cfg, name);
    return p && (p->service_default || (p->used && (p->file_value || p->override)));
}

bool config_is_used(const char *name)
{
    if (config_default_find(name))
        return true;
    struct param *p = param_find(&cfg, name);
    return p && (p->used || p->service_default);
}

void config_mark_used(const char *name)
{
    param_get(&cfg, name)->used = true;
}

void config_mark_references(const char *text)
{
    mark_references(&cfg, text);
}

/* Postfix's per-transport parameter suffixes and the defaults it gives
 * them (postconf_service.c: "$default<suffix>", one exception). */
static const struct {
    const char *suffix;
    const char *value;
} service_params[] = {
    {"_delivery_slot_cost", "$default_delivery_slot_cost"},
    {"_delivery_slot_discount", "$default_delivery_slot_discount"},
    {"_delivery_slot_loan", "$default_delivery_slot_loan"},
    {"_destination_concurrency_failed_cohort_limit",
     "$default_destination_concurrency_failed_cohort_limit"},
    {"_destination_concurrency_limit", "$default_destination_concurrency_limit"},
    {"_destination_concurrency_negative_feedback",
     "$default_destination_concurrency_negative_feedback"},
    {"_destination_concurrency_positive_feedback",
     "$default_destination_concurrency_positive_feedback"},
    {"_destination_rate_delay", "$default_destination_rate_delay"},
    {"_destination_recipient_limit", "$default_destination_recipient_limit"},
    {"_extra_recipient_limit", "$default_extra_recipient_limit"},
    {"_initial_destination_concurrency", "$initial_destination_concurrency"},
    {"_minimum_delivery_slots", "$default_minimum_delivery_slots"},
    {"_recipient_limit", "$default_recipient_limit"},
    {"_recipient_refill_delay", "$default_recipient_refill_delay"},
    {"_recipient_refill_limit", "$default_recipient_refill_limit"},
    {"_transport_rate_delay", "$default_transport_rate_delay"},
};

static void add_service_param(const char *service, const char *suffix, const char *value)
{
    strbuf name = STRBUF_INIT;
    strbuf_printf(&name, "%s%s", service, suffix);
    if (!config_default_find(strbuf_str(&name))) {
        struct param *p = param_get(&cfg, strbuf_str(&name));
        if (!p->service_default) {
            p->service_default = xstrdup(value);
            store_invalidate(&cfg);
        }
    }
    strbuf_release(&name);
}

void config_add_service(const char *service, const char *type, const char *command)
{
    static const char *const agents[] = {"smtp", "lmtp", "local", "virtual", "pipe", "error"};
    if (strcmp(type, "unix") != 0)
        return;
    bool agent = false;
    for (size_t i = 0; i < sizeof(agents) / sizeof(agents[0]); i++)
        agent |= strcmp(command, agents[i]) == 0;
    if (agent)
        for (size_t i = 0; i < sizeof(service_params) / sizeof(service_params[0]); i++)
            add_service_param(service, service_params[i].suffix, service_params[i].value);
    if (strcmp(command, "pipe") == 0 || strcmp(command, "spawn") == 0)
        add_service_param(service, "_time_limit", "$command_time_limit");
}

void config_service_param_names(strlist *out)
{
    for (size_t b = 0; b < cfg.nbuckets; b++)
        for (struct param *p = cfg.buckets[b]; p; p = p->next)
            if (p->service_default)
                strlist_push(out, p->name);
}

size_t config_warn_unused(void)
{
    size_t count = 0;
    for (size_t i = 0; i < cfg.norder; i++) {
        struct param *p = cfg.order[i];
        if (p->used || p->warned || p->service_default || config_default_find(p->name))
            continue;
        p->warned = true;
        msg_warn("%s, line %d: unused parameter: %s=%s", cfg.path, p->file_line, p->name,
                 p->file_value);
        count++;
    }
    return count;
}

/* ---------------------------------------------------- directory choice */

static bool same_dir(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    while (la > 1 && a[la - 1] == '/')
        la--;
    while (lb > 1 && b[lb - 1] == '/')
        lb--;
    return la == lb && memcmp(a, b, la) == 0;
}

const char *config_choose_dir_from(const char *opt_c, bool restricted, const char *default_dir)
{
    const char *dir = opt_c && *opt_c ? opt_c : getenv("MAIL_CONFIG");
    if (!dir || !*dir)
        dir = default_dir;
    if (restricted && !same_dir(dir, default_dir)) {
        struct store def = {0};
        strbuf err = STRBUF_INIT;
        if (store_load_dir(&def, default_dir, &err) < 0)
            msg_fatal_status(EX_USAGE, "cannot check configuration directory %s: %s", dir,
                             strbuf_str(&err));
        bool allowed = false;
        static const char *const lists[] = {"alternate_config_directories",
                                            "multi_instance_directories"};
        for (size_t i = 0; i < 2 && !allowed; i++) {
            const char *v = store_get(&def, lists[i], &err);
            if (!v)
                msg_fatal_status(EX_USAGE, "%s", strbuf_str(&err));
            strlist items = STRLIST_INIT;
            strlist_split(&items, v, ", \t\r\n", NULL);
            for (size_t k = 0; k < items.n && !allowed; k++)
                allowed = same_dir(items.v[k], dir);
            strlist_release(&items);
        }
        store_free(&def);
        strbuf_release(&err);
        if (!allowed)
            msg_fatal_status(EX_USAGE,
                             "unauthorized configuration directory name: %s; specify "
                             "\"alternate_config_directories = %s\" in %s/%s",
                             dir, dir, default_dir, MAIN_CF);
    }
    /* Callers keep the pointer (master keeps it for reloads): never free. */
    static strlist chosen;
    strlist_push(&chosen, dir);
    return chosen.v[chosen.n - 1];
}

const char *config_choose_dir(const char *opt_c, bool restricted)
{
    return config_choose_dir_from(opt_c, restricted, MTA_DEF_CONFIG_DIR);
}
