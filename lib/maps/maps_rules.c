#include "maps_rules.h"

#include <ctype.h>
#include <string.h>
#include <sys/stat.h>

#include "map_source.h"
#include "mem.h"
#include "msg.h"

enum rule_kind { RULE_MATCH, RULE_IF, RULE_ENDIF };

struct rule {
    enum rule_kind kind;
    bool negate;
    size_t lineno;
    void *pat;
    char *result;
    size_t endif; /* RULE_IF: index of its endif */
};

struct rules {
    const struct rule_ops *ops;
    struct rule *v;
    size_t n, cap;
};

static void rules_free(map *m)
{
    struct rules *rs = m->priv;
    for (size_t i = 0; i < rs->n; i++) {
        if (rs->v[i].pat)
            rs->ops->free(rs->v[i].pat);
        free(rs->v[i].result);
    }
    free(rs->v);
    free(rs);
}

/* Append the result with $n, ${n} and $$ expanded. */
static int expand(const struct rules *rs, const struct rule *r, const char *key, void *state,
                  strbuf *out, strbuf *err)
{
    for (const char *p = r->result; *p; p++) {
        if (*p != '$') {
            strbuf_putc(out, *p);
            continue;
        }
        p++;
        if (*p == '$') {
            strbuf_putc(out, '$');
            continue;
        }
        unsigned n;
        if (*p == '{' && isdigit((unsigned char)p[1]) && p[2] == '}') {
            n = (unsigned)(p[1] - '0');
            p += 2;
        } else {
            n = (unsigned)(*p - '0'); /* validated at open time */
        }
        const char *s;
        size_t len;
        if (rs->ops->group(r->pat, key, state, n, &s, &len))
            strbuf_append(out, s, len);
    }
    return 0;
}

static enum map_result rules_lookup(map *m, const char *key, strbuf *value, strbuf *err)
{
    struct rules *rs = m->priv;
    void *state = rs->ops->begin ? rs->ops->begin(key) : NULL;
    enum map_result res = MAP_NOTFOUND;
    for (size_t i = 0; i < rs->n;) {
        struct rule *r = &rs->v[i];
        if (r->kind == RULE_ENDIF) {
            i++;
            continue;
        }
        int hit = rs->ops->match(r->pat, key, state, err);
        if (hit < 0) {
            res = MAP_TEMPFAIL;
            break;
        }
        if (r->negate)
            hit = !hit;
        if (r->kind == RULE_IF) {
            i = hit ? i + 1 : r->endif + 1;
            continue;
        }
        if (hit) {
            if (rs->ops->substitutes)
                expand(rs, r, key, state, value, err);
            else
                strbuf_puts(value, r->result);
            res = MAP_FOUND;
            break;
        }
        i++;
    }
    if (rs->ops->end)
        rs->ops->end(state);
    return res;
}

/* Does a result substitute any $n ($$ is a literal dollar)? */
static bool uses_groups(const char *result)
{
    for (const char *p = result; *p; p++) {
        if (*p != '$')
            continue;
        if (p[1] == '$')
            p++;
        else
            return true;
    }
    return false;
}

/* Check $n references in a result: digits 1..9 within the pattern's groups,
 * ${n} form, $$; no references at all in negated rules. */
static int check_result(const struct rule_ops *ops, const struct rule *r, strbuf *err)
{
    unsigned groups = r->negate ? 0 : ops->groups(r->pat);
    for (const char *p = r->result; *p; p++) {
        if (*p != '$')
            continue;
        p++;
        if (*p == '$')
            continue;
        unsigned n;
        if (*p == '{' && isdigit((unsigned char)p[1]) && p[2] == '}') {
            n = (unsigned)(p[1] - '0');
            p += 2;
        } else if (isdigit((unsigned char)*p)) {
            n = (unsigned)(*p - '0');
        } else {
            strbuf_puts(err, "bad '$' in result (use $1..$9, ${1} or $$)");
            return -1;
        }
        if (r->negate) {
            strbuf_puts(err, "$number in the result of a negated pattern");
            return -1;
        }
        if (n == 0 || n > groups) {
            strbuf_printf(err, "$%u in result is out of range (pattern has %u group%s)", n, groups,
                          groups == 1 ? "" : "s");
            return -1;
        }
    }
    return 0;
}

static struct rule *push_rule(struct rules *rs)
{
    if (rs->n == rs->cap) {
        rs->cap = rs->cap ? rs->cap * 2 : 32;
        rs->v = xreallocarray(rs->v, rs->cap, sizeof(*rs->v));
    }
    struct rule *r = &rs->v[rs->n++];
    memset(r, 0, sizeof(*r));
    return r;
}

static bool word_is(const char *s, const char *w)
{
    size_t n = strlen(w);
    return strncmp(s, w, n) == 0 && (s[n] == '\0' || isspace((unsigned char)s[n]));
}

int map_rules_open(map *m, const struct rule_ops *ops, strbuf *err)
{
    strbuf why = STRBUF_INIT;
    map_source *src = map_source_open(m->name, MAP_SOURCE_POSTMAP, &why);
    if (!src) {
        strbuf_printf(err, "%s: %s", m->spec, strbuf_str(&why));
        strbuf_release(&why);
        return -1;
    }
    struct stat st;
    if (stat(m->name, &st) == 0)
        map_watch_file(m, m->name, &st);
    struct rules *rs = xcalloc(1, sizeof(*rs));
    rs->ops = ops;
    m->priv = rs; /* so rules_free can clean up on error */
    size_t *open_ifs = NULL, nifs = 0;
    strbuf line = STRBUF_INIT;
    int r = 0, ret = 0;
    /* Postfix's leniency, which postmap -q answers must match: a rule that
     * does not compile, or has no result where one is needed, is skipped
     * with a warning naming the file and line; a stray endif is ignored;
     * text after if/endif is ignored; an if without endif runs to the end
     * of the file. Only a table that cannot be read fails to open. */
    while ((r = map_source_logical_line(src, &line, &why)) == 1) {
        size_t lineno = map_source_lineno(src);
        const char *p = line.s;
        if (word_is(p, "endif")) {
            p += 5;
            while (isspace((unsigned char)*p))
                p++;
            if (*p)
                msg_warn("%s map %s, line %zu: ignoring extra text after ENDIF", m->type, m->name,
                         lineno);
            if (nifs == 0) {
                msg_warn("%s map %s, line %zu: ignoring ENDIF without matching IF", m->type,
                         m->name, lineno);
                continue;
            }
            struct rule *rule = push_rule(rs);
            rule->kind = RULE_ENDIF;
            rule->lineno = lineno;
            rs->v[open_ifs[--nifs]].endif = rs->n - 1;
            continue;
        }
        bool is_if = word_is(p, "if");
        if (is_if) {
            p += 2;
            while (isspace((unsigned char)*p))
                p++;
        }
        bool negate = false;
        if (*p == '!' && ops->negation_allowed) {
            negate = true;
            p++;
        }
        const char *rest = NULL;
        strbuf_reset(&why);
        void *pat = ops->compile(p, &rest, &why);
        if (!pat) {
            msg_warn("%s map %s, line %zu: %s: skipping this rule", m->type, m->name, lineno,
                     strbuf_str(&why));
            continue;
        }
        while (isspace((unsigned char)*rest))
            rest++;
        if (is_if) {
            if (*rest)
                msg_warn("%s map %s, line %zu: ignoring extra text after IF statement: \"%s\"",
                         m->type, m->name, lineno, rest);
            struct rule *rule = push_rule(rs);
            rule->kind = RULE_IF;
            rule->negate = negate;
            rule->lineno = lineno;
            rule->pat = pat;
            open_ifs = xreallocarray(open_ifs, nifs + 1, sizeof(*open_ifs));
            open_ifs[nifs++] = rs->n - 1;
            continue;
        }
        if (*rest == '\0' && !ops->substitutes) {
            msg_warn("%s map %s, line %zu: no lookup result: skipping this rule", m->type, m->name,
                     lineno);
            ops->free(pat);
            continue;
        }
        if (*rest == '\0')
            msg_warn("%s map %s, line %zu: no replacement text: using empty string", m->type,
                     m->name, lineno);
        struct rule *rule = push_rule(rs);
        rule->kind = RULE_MATCH;
        rule->negate = negate;
        rule->lineno = lineno;
        rule->pat = pat;
        rule->result = xstrdup(rest);
        const char *skip = NULL;
        strbuf_reset(&why);
        if (ops->substitutes && (m->flags & MAP_NO_REGSUB) && uses_groups(rule->result))
            skip = "regular expression substitution is not allowed here";
        else if (ops->substitutes && check_result(ops, rule, &why) != 0)
            skip = strbuf_str(&why);
        if (skip) {
            msg_warn("%s map %s, line %zu: %s: skipping this rule", m->type, m->name, lineno, skip);
            ops->free(rule->pat);
            free(rule->result);
            rs->n--;
        }
    }
    if (r < 0) {
        ret = -1;
        strbuf_printf(err, "%s: %s", m->spec, strbuf_str(&why));
    }
    while (ret == 0 && nifs > 0) {
        /* Postfix: the if block runs to the end of the table. */
        struct rule *open_if = &rs->v[open_ifs[nifs - 1]];
        msg_warn("%s map %s, line %zu: IF has no matching ENDIF", m->type, m->name,
                 open_if->lineno);
        size_t at = open_ifs[--nifs];
        struct rule *rule = push_rule(rs);
        rule->kind = RULE_ENDIF;
        rule->lineno = map_source_lineno(src);
        rs->v[at].endif = rs->n - 1;
    }
    free(open_ifs);
    strbuf_release(&line);
    strbuf_release(&why);
    map_source_close(&src);
    if (ret < 0) {
        rules_free(m);
        m->priv = NULL;
        return -1;
    }
    m->kind = MAP_KIND_PATTERN;
    m->lookup = rules_lookup;
    m->close = rules_free;
    return 0;
}
