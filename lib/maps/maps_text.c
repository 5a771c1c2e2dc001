/* In-memory tables: texthash: (a postmap source file), inline:{...},
 * static:value and fail:name. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "map_source.h"
#include "maps_impl.h"
#include "mem.h"
#include "msg.h"
#include "strlist.h"

/* A sorted key/value array; the first definition of a key wins. */
struct kv {
    char *key;
    char *value;
    size_t order;
};

struct kv_table {
    struct kv *v;
    size_t n, cap;
};

static void kv_add(struct kv_table *t, const char *key, const char *value)
{
    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 16;
        t->v = xreallocarray(t->v, t->cap, sizeof(*t->v));
    }
    t->v[t->n].key = xstrdup(key);
    t->v[t->n].value = xstrdup(value);
    t->v[t->n].order = t->n;
    t->n++;
}

static int kv_cmp(const void *a, const void *b)
{
    const struct kv *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    if (c != 0)
        return c;
    return x->order < y->order ? -1 : x->order > y->order;
}

/* Sort and drop later duplicates; `dup` is told about each dropped one. */
static void kv_finish(struct kv_table *t,
                      void (*dup)(void *ctx, const struct kv *kept, const struct kv *dropped),
                      void *ctx)
{
    if (t->n == 0)
        return;
    qsort(t->v, t->n, sizeof(*t->v), kv_cmp);
    size_t out = 0;
    for (size_t i = 0; i < t->n; i++) {
        if (out > 0 && strcmp(t->v[out - 1].key, t->v[i].key) == 0) {
            if (dup)
                dup(ctx, &t->v[out - 1], &t->v[i]);
            free(t->v[i].key);
            free(t->v[i].value);
            continue;
        }
        t->v[out++] = t->v[i];
    }
    t->n = out;
}

static int kv_key_cmp(const void *key, const void *elem)
{
    return strcmp(key, ((const struct kv *)elem)->key);
}

static void kv_free(struct kv_table *t)
{
    for (size_t i = 0; i < t->n; i++) {
        free(t->v[i].key);
        free(t->v[i].value);
    }
    free(t->v);
    free(t);
}

static enum map_result kv_lookup(map *m, const char *key, strbuf *value, strbuf *err)
{
    struct kv_table *t = m->priv;
    if (t->n == 0)
        return MAP_NOTFOUND;
    const struct kv *hit = bsearch(key, t->v, t->n, sizeof(*t->v), kv_key_cmp);
    if (!hit)
        return MAP_NOTFOUND;
    strbuf_puts(value, hit->value);
    return MAP_FOUND;
}

static void kv_close(map *m)
{
    kv_free(m->priv);
}

static void fold(char *s)
{
    for (; *s; s++)
        *s = (char)tolower((unsigned char)*s);
}

static void install_kv(map *m, struct kv_table *t)
{
    m->priv = t;
    m->kind = MAP_KIND_FIXED;
    m->lookup = kv_lookup;
    m->close = kv_close;
}

/* texthash: */

struct dup_ctx {
    const char *origin;
    const size_t *lines; /* line of each entry, by order */
};

static void texthash_dup(void *ctx, const struct kv *kept, const struct kv *dropped)
{
    const struct dup_ctx *d = ctx;
    if (strcmp(kept->value, dropped->value) != 0)
        msg_warn("%s, line %zu: duplicate entry: \"%s\"", d->origin, d->lines[dropped->order],
                 dropped->key);
}

int map_open_texthash(map *m, strbuf *err)
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
    struct kv_table *t = xcalloc(1, sizeof(*t));
    size_t *lines = NULL, nlines = 0;
    strbuf key = STRBUF_INIT, value = STRBUF_INIT;
    int r;
    while ((r = map_source_next(src, &key, &value, &why)) == 1) {
        if (!(m->flags & MAP_NOFOLD))
            fold(key.s);
        kv_add(t, key.s, value.s);
        lines = xreallocarray(lines, ++nlines, sizeof(*lines));
        lines[nlines - 1] = map_source_lineno(src);
    }
    if (r < 0) {
        strbuf_printf(err, "%s: %s", m->spec, strbuf_str(&why));
        kv_free(t);
    } else {
        struct dup_ctx d = {m->name, lines};
        kv_finish(t, texthash_dup, &d);
        install_kv(m, t);
    }
    free(lines);
    map_source_close(&src);
    strbuf_release(&key);
    strbuf_release(&value);
    strbuf_release(&why);
    return r < 0 ? -1 : 0;
}

/* inline:{ key=value, { key = value with spaces } } */

static void trim_span(const char **s, const char **e)
{
    while (*s < *e && isspace((unsigned char)**s))
        (*s)++;
    while (*e > *s && isspace((unsigned char)(*e)[-1]))
        (*e)--;
}

int map_open_inline(map *m, strbuf *err)
{
    const char *s = m->name, *e = s + strlen(s);
    trim_span(&s, &e);
    if (e - s < 2 || *s != '{' || e[-1] != '}') {
        strbuf_printf(err, "%s: expected inline:{ key=value, ... }", m->spec);
        return -1;
    }
    char *body = xstrndup(s + 1, (size_t)(e - s - 2));
    strlist items = STRLIST_INIT;
    strbuf why = STRBUF_INIT;
    int ret = 0;
    struct kv_table *t = xcalloc(1, sizeof(*t));
    if (maps_split(&items, body, &why) < 0) {
        strbuf_printf(err, "%s: %s", m->spec, strbuf_str(&why));
        ret = -1;
    }
    strbuf_release(&why);
    for (size_t i = 0; ret == 0 && i < items.n; i++) {
        const char *eq = strchr(items.v[i], '=');
        const char *ks = items.v[i], *ke = eq ? eq : ks;
        trim_span(&ks, &ke);
        if (!eq || ks == ke) {
            strbuf_printf(err, "%s: expected \"key=value\", found \"%s\"", m->spec, items.v[i]);
            ret = -1;
            break;
        }
        const char *vs = eq + 1, *ve = vs + strlen(vs);
        trim_span(&vs, &ve);
        char *k = xstrndup(ks, (size_t)(ke - ks));
        char *v = xstrndup(vs, (size_t)(ve - vs));
        if (!(m->flags & MAP_NOFOLD))
            fold(k);
        kv_add(t, k, v);
        free(k);
        free(v);
    }
    strlist_release(&items);
    free(body);
    if (ret < 0) {
        kv_free(t);
        return -1;
    }
    kv_finish(t, NULL, NULL);
    install_kv(m, t);
    return 0;
}

/* static:value, static:{ value with spaces } */

static enum map_result static_lookup(map *m, const char *key, strbuf *value, strbuf *err)
{
    strbuf_puts(value, m->priv);
    return MAP_FOUND;
}

static void free_priv(map *m)
{
    free(m->priv);
}

int map_open_static(map *m, strbuf *err)
{
    const char *s = m->name, *e = s + strlen(s);
    if (*s == '{') {
        trim_span(&s, &e);
        if (e[-1] != '}' || e - s < 2) {
            strbuf_printf(err, "%s: missing '}'", m->spec);
            return -1;
        }
        s++;
        e--;
        trim_span(&s, &e);
    }
    m->priv = xstrndup(s, (size_t)(e - s));
    m->kind = MAP_KIND_PATTERN;
    m->lookup = static_lookup;
    m->close = free_priv;
    return 0;
}

/* fail:name - every lookup is a temporary error (testing, placeholders). */

static enum map_result fail_lookup(map *m, const char *key, strbuf *value, strbuf *err)
{
    strbuf_printf(err, "%s: table lookup failed", m->spec);
    return MAP_TEMPFAIL;
}

int map_open_fail(map *m, strbuf *err)
{
    m->kind = MAP_KIND_FIXED | MAP_KIND_PATTERN;
    m->lookup = fail_lookup;
    return 0;
}
