/* config_syntax - main.cf-style syntax and $name expansion. See config_syntax.h.
 *
 * An expansion carries the stack of names being expanded: that is how
 * loops are found (also through lookup callbacks that expand other names,
 * as a lazily computed default does) and how errors name where they
 * happen.
 */
#include "config_syntax.h"

#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mem.h"
#include "msg.h"

#define MAX_NESTING CONFIG_SYNTAX_MAX_NESTING
#define MAX_EXPANSION CONFIG_SYNTAX_MAX_EXPANSION

struct config_expansion {
    const struct config_expand_ops *ops;
    const char *stack[MAX_NESTING + 1]; /* names being expanded */
    size_t nstack;
    int nesting; /* {} and ${} nesting inside one value */
    strbuf *err;
};

static bool is_name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

static bool is_space(char c)
{
    return c != '\0' && strchr(CONFIG_SYNTAX_WHITESPACE, c) != NULL;
}

bool config_syntax_is_name_char(char c)
{
    return is_name_char(c);
}

bool config_syntax_is_space(char c)
{
    return is_space(c);
}

bool config_syntax_valid_name(const char *name)
{
    if (!*name)
        return false;
    for (; *name; name++)
        if (!is_name_char(*name))
            return false;
    return true;
}

/* ---------------------------------------------------------------- parsing */

/* One logical line: "name = value" (Postfix's split_nameval rules). */
static int parse_logical(const char *origin, strbuf *logical, int line, config_syntax_entry_fn fn,
                         void *ctx, strbuf *err)
{
    const char *s = strbuf_str(logical);
    size_t i = 0, n = logical->len;
    while (i < n && is_space(s[i]))
        i++;
    if (i >= n || s[i] == '=') {
        strbuf_printf(err, "%s, line %d: missing attribute name: \"%s\"", origin, line, s);
        return -1;
    }
    size_t name_start = i;
    while (i < n && !is_space(s[i]) && s[i] != '=')
        i++;
    size_t name_end = i;
    while (i < n && is_space(s[i]))
        i++;
    if (i >= n || s[i] != '=') {
        strbuf_printf(err, "%s, line %d: missing '=' after attribute name: \"%s\"", origin, line,
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
    int rc = fn(ctx, name, value, line, err);
    free(name);
    free(value);
    return rc;
}

int config_syntax_parse(const char *origin, const char *text, size_t len, config_syntax_entry_fn fn,
                        void *ctx, strbuf *err)
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
            strbuf_printf(err, "%s, line %d: NUL character in configuration file", origin, line);
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
                         origin, line, (int)(n > 30 ? 30 : n), s, n > 30 ? "..." : "");
                skipping = true;
            }
            continue;
        }
        if (have)
            rc = parse_logical(origin, &logical, logical_line, fn, ctx, err);
        strbuf_reset(&logical);
        strbuf_append(&logical, s, n);
        have = true;
        skipping = false;
        logical_line = line;
    }
    if (rc == 0 && have)
        rc = parse_logical(origin, &logical, logical_line, fn, ctx, err);
    strbuf_release(&logical);
    return rc;
}

void config_syntax_references(const char *s, void (*fn)(void *ctx, const char *name), void *ctx)
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
            fn(ctx, name);
            free(name);
        }
        i = j > i + 1 ? j : i + 1;
    }
}

/* -------------------------------------------------------------- expansion */

static int __attribute__((format(printf, 2, 0)))
xverror(struct config_expansion *x, const char *fmt, va_list ap)
{
    if (x->err->len > 0)
        return -1; /* keep the first, innermost error */
    if (x->nstack > 0) {
        const char *name = x->stack[x->nstack - 1];
        const char *origin = x->ops->origin ? x->ops->origin(x->ops->ctx, name) : NULL;
        if (origin)
            strbuf_printf(x->err, "%s: ", origin);
        strbuf_printf(x->err, "parameter %s: ", name);
    }
    strbuf_vprintf(x->err, fmt, ap);
    return -1;
}

/* Report an expansion error, prefixed with the name being expanded
 * (innermost first: that is where the bad text is). Always returns -1. */
static int __attribute__((format(printf, 2, 3)))
xerror(struct config_expansion *x, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    xverror(x, fmt, ap);
    va_end(ap);
    return -1;
}

int config_expansion_fail(struct config_expansion *x, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    xverror(x, fmt, ap);
    va_end(ap);
    return -1;
}

static bool variable(struct config_expansion *x, const char *name, strbuf *out, bool *set)
{
    return x->ops->variable && x->ops->variable(x->ops->ctx, name, out, set);
}

static int expand_text(struct config_expansion *x, const char *s, size_t n, strbuf *out);

static bool on_stack(struct config_expansion *x, const char *name)
{
    for (size_t i = 0; i < x->nstack; i++)
        if (strcmp(x->stack[i], name) == 0)
            return true;
    return false;
}

static int push_name(struct config_expansion *x, const char *name)
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
    if (x->nstack >= MAX_NESTING)
        return xerror(x, "parameter references nested more than %d deep at $%s", MAX_NESTING, name);
    x->stack[x->nstack++] = name;
    return 0;
}

static int check_length(struct config_expansion *x, const strbuf *out)
{
    if (out->len > MAX_EXPANSION)
        return xerror(x, "expanded value is longer than %u bytes", MAX_EXPANSION);
    return 0;
}

static int raw_value(struct config_expansion *x, const char *name, const char **raw, bool *verbatim)
{
    *raw = NULL;
    *verbatim = false;
    return x->ops->lookup(x->ops->ctx, x, name, raw, verbatim);
}

/* $name / ${name}: the fully expanded value. */
static int expand_name(struct config_expansion *x, const char *name, strbuf *out)
{
    bool set;
    if (variable(x, name, out, &set))
        return check_length(x, out);
    const char *cached = x->ops->cached ? x->ops->cached(x->ops->ctx, name) : NULL;
    if (cached) {
        strbuf_puts(out, cached);
        return check_length(x, out);
    }
    if (push_name(x, name) < 0)
        return -1;
    const char *raw;
    bool verbatim;
    strbuf val = STRBUF_INIT;
    int rc = raw_value(x, name, &raw, &verbatim);
    if (rc == 0 && raw && verbatim)
        strbuf_puts(&val, raw);
    else if (rc == 0 && raw)
        rc = expand_text(x, raw, strlen(raw), &val);
    x->nstack--;
    if (rc == 0 && raw) {
        if (x->ops->remember)
            x->ops->remember(x->ops->ctx, name, strbuf_str(&val));
        strbuf_append(out, val.s ? val.s : "", val.len);
        rc = check_length(x, out);
    }
    strbuf_release(&val);
    return rc;
}

int config_expansion_name(struct config_expansion *x, const char *name, strbuf *out)
{
    return expand_name(x, name, out);
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
static int curly_payload(struct config_expansion *x, const char *s, size_t n, size_t *i,
                         size_t *start, size_t *len)
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
static int eval_relational(struct config_expansion *x, const char *s, size_t n, size_t *i,
                           bool *truth)
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
static int expand_expr(struct config_expansion *x, const char *s, size_t n, strbuf *out)
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
            /* ?/: test the raw value, as Postfix does; a variable
             * is "set" when it is defined and not empty. */
            if (variable(x, name, NULL, &truth))
                goto test_done;
            const char *raw;
            bool verbatim;
            bool pushed = !on_stack(x, name);
            if (pushed && push_name(x, name) < 0) {
                free(name);
                return -1;
            }
            rc = raw_value(x, name, &raw, &verbatim);
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

static int expand_text(struct config_expansion *x, const char *s, size_t n, strbuf *out)
{
    if (++x->nesting > MAX_NESTING) {
        x->nesting--;
        return xerror(x, "expressions nested more than %d deep", MAX_NESTING);
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

/* ------------------------------------------------------------ entry points */

int config_expand_text(const struct config_expand_ops *ops, const char *text, size_t n, strbuf *out,
                       strbuf *err)
{
    struct config_expansion x = {.ops = ops, .err = err};
    return expand_text(&x, text, n, out);
}

int config_expand_name(const struct config_expand_ops *ops, const char *name, strbuf *out,
                       strbuf *err)
{
    struct config_expansion x = {.ops = ops, .err = err};
    return expand_name(&x, name, out);
}

int config_expand_raw(const struct config_expand_ops *ops, const char *name, const char **raw,
                      strbuf *err)
{
    struct config_expansion x = {.ops = ops, .err = err};
    bool verbatim;
    *raw = NULL;
    if (push_name(&x, name) < 0)
        return -1;
    int rc = raw_value(&x, name, raw, &verbatim);
    x.nstack--;
    return rc;
}
