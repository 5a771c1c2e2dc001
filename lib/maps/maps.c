#include "maps.h"

#include <ctype.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "maps_impl.h"
#include "mem.h"
#include "msg.h"
#include "strlist.h"

static const struct map_type_entry {
    const char *type;
    int (*open)(map *m, strbuf *err);
} map_types[] = {
    {"hash", map_open_db},       {"btree", map_open_db},      {"texthash", map_open_texthash},
    {"inline", map_open_inline}, {"static", map_open_static}, {"fail", map_open_fail},
    {"cidr", map_open_cidr},     {"regexp", map_open_regexp}, {"pcre", map_open_pcre},
    {"unix", map_open_unix},
};

static const struct map_type_entry *find_type(const char *type)
{
    for (size_t i = 0; i < sizeof(map_types) / sizeof(map_types[0]); i++)
        if (strcmp(map_types[i].type, type) == 0)
            return &map_types[i];
    return NULL;
}

bool map_type_known(const char *type)
{
    return find_type(type) != NULL;
}

static const char *strip_proxy(const char *spec)
{
    while (strncmp(spec, "proxy:", 6) == 0)
        spec += 6;
    return spec;
}

bool map_spec_split(const char *spec, char **type, const char **name)
{
    spec = strip_proxy(spec);
    const char *colon = strchr(spec, ':');
    if (!colon || colon == spec)
        return false;
    *type = xstrndup(spec, (size_t)(colon - spec));
    *name = colon + 1;
    return true;
}

void map_watch_file(map *m, const char *path, const struct stat *st)
{
    free(m->watch_path);
    m->watch_path = xstrdup(path);
    m->watch_st = *st;
}

/* Surrogate: an unusable table that defers every lookup. */
struct surrogate {
    char *reason;
    bool logged;
};

static enum map_result surrogate_lookup(map *m, const char *key, strbuf *value, strbuf *err)
{
    struct surrogate *s = m->priv;
    if (!s->logged) {
        msg_warn("%s is unavailable. %s", m->spec, s->reason);
        s->logged = true;
    }
    strbuf_printf(err, "%s is unavailable: %s", m->spec, s->reason);
    return MAP_TEMPFAIL;
}

static void surrogate_close(map *m)
{
    struct surrogate *s = m->priv;
    free(s->reason);
    free(s);
}

static map *map_alloc(const char *spec, unsigned flags)
{
    map *m = xcalloc(1, sizeof(*m));
    m->spec = xstrdup(strip_proxy(spec));
    m->flags = flags;
    const char *colon = strchr(m->spec, ':');
    if (colon) {
        m->type = xstrndup(m->spec, (size_t)(colon - m->spec));
        m->name = colon + 1;
    } else {
        m->type = xstrdup("");
        m->name = m->spec + strlen(m->spec);
    }
    return m;
}

map *map_open(const char *spec, unsigned flags, strbuf *err)
{
    map *m = map_alloc(spec, flags);
    strbuf why = STRBUF_INIT;
    const struct map_type_entry *t = NULL;
    if (m->spec[0] == '\0' || !strchr(m->spec, ':') || m->type[0] == '\0')
        strbuf_printf(&why, "%s: table spec is not of the form type:name", m->spec);
    else if (!(t = find_type(m->type)))
        strbuf_printf(&why, "%s: unsupported table type \"%s\"", m->spec, m->type);
    else if (t->open(m, &why) == 0)
        return m;
    /* Failed: undo whatever the opener left behind. */
    if (m->close && m->priv)
        m->close(m);
    m->priv = NULL;
    XFREE(m->watch_path);
    if (flags & MAP_SURROGATE) {
        struct surrogate *s = xcalloc(1, sizeof(*s));
        s->reason = strbuf_detach(&why);
        m->priv = s;
        m->kind = MAP_KIND_FIXED | MAP_KIND_PATTERN;
        m->lookup = surrogate_lookup;
        m->close = surrogate_close;
        return m;
    }
    strbuf_append(err, why.s ? why.s : "", why.len);
    strbuf_release(&why);
    m->close = NULL;
    map_free(&m);
    return NULL;
}

enum map_result map_lookup(map *m, const char *key, strbuf *value, strbuf *err)
{
    strbuf_reset(value);
    if ((m->kind & MAP_KIND_FIXED) && !(m->flags & MAP_NOFOLD)) {
        size_t n = strlen(key);
        bool upper = false;
        for (size_t i = 0; i < n && !upper; i++)
            upper = isupper((unsigned char)key[i]) != 0;
        if (upper) {
            char *folded = xstrdup(key);
            for (size_t i = 0; i < n; i++)
                folded[i] = (char)tolower((unsigned char)folded[i]);
            enum map_result r = m->lookup(m, folded, value, err);
            free(folded);
            return r;
        }
    }
    return m->lookup(m, key, value, err);
}

const char *map_spec(const map *m)
{
    return m->spec;
}

const char *map_type(const map *m)
{
    return m->type;
}

unsigned map_kind(const map *m)
{
    return m->kind;
}

bool map_changed(const map *m)
{
    if (!m->watch_path)
        return false;
    struct stat st;
    if (stat(m->watch_path, &st) != 0)
        return true;
    return st.st_ino != m->watch_st.st_ino || st.st_dev != m->watch_st.st_dev ||
           st.st_mtim.tv_sec != m->watch_st.st_mtim.tv_sec ||
           st.st_mtim.tv_nsec != m->watch_st.st_mtim.tv_nsec || st.st_size != m->watch_st.st_size;
}

void map_free(map **mp)
{
    map *m = *mp;
    if (!m)
        return;
    if (m->close)
        m->close(m);
    free(m->watch_path);
    free(m->type);
    free(m->spec);
    XFREE(*mp);
}

static bool is_sep(char c)
{
    return c == ',' || c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

int maps_split(strlist *out, const char *text, strbuf *err)
{
    const char *p = text;
    for (;;) {
        while (is_sep(*p))
            p++;
        if (*p == '\0')
            return 0;
        const char *start = p;
        int depth = 0;
        for (; *p && (depth > 0 || !is_sep(*p)); p++) {
            if (*p == '{')
                depth++;
            else if (*p == '}' && --depth < 0) {
                strbuf_printf(err, "unexpected '}' in \"%s\"", text);
                return -1;
            }
        }
        if (depth > 0) {
            strbuf_printf(err, "missing '}' in \"%s\"", text);
            return -1;
        }
        const char *end = p;
        if (*start == '{' && end[-1] == '}') {
            /* whole item braced: {a b} -> "a b", but not "{a}x{b}" */
            int d = 0;
            const char *q = start;
            for (; q < end; q++) {
                if (*q == '{')
                    d++;
                else if (*q == '}' && --d == 0)
                    break;
            }
            if (q == end - 1) {
                start++;
                end--;
                while (start < end && isspace((unsigned char)*start))
                    start++;
                while (end > start && isspace((unsigned char)end[-1]))
                    end--;
            }
        }
        strlist_pushn(out, start, (size_t)(end - start));
    }
}

struct maps {
    char *param;
    map **v;
    size_t n;
};

int maps_append(maps *ms, const char *list, unsigned flags, strbuf *err)
{
    strlist items = STRLIST_INIT;
    strbuf why = STRBUF_INIT;
    int ret = 0;
    if (maps_split(&items, list, &why) < 0) {
        strbuf_printf(err, "%s: %s", ms->param, strbuf_str(&why));
        ret = -1;
    }
    for (size_t i = 0; ret == 0 && i < items.n; i++) {
        map *m = map_open(items.v[i], flags, &why);
        if (!m) {
            strbuf_printf(err, "%s: %s", ms->param, strbuf_str(&why));
            ret = -1;
            break;
        }
        ms->v = xreallocarray(ms->v, ms->n + 2, sizeof(*ms->v));
        ms->v[ms->n++] = m;
        ms->v[ms->n] = NULL;
    }
    strbuf_release(&why);
    strlist_release(&items);
    return ret;
}

maps *maps_open(const char *param, const char *list, unsigned flags, strbuf *err)
{
    maps *ms = xcalloc(1, sizeof(*ms));
    ms->param = xstrdup(param);
    ms->v = xcalloc(1, sizeof(*ms->v));
    if (maps_append(ms, list, flags, err) < 0)
        maps_free(&ms);
    return ms;
}

enum map_result maps_find(maps *ms, const char *key, unsigned kinds, strbuf *value, strbuf *err)
{
    for (size_t i = 0; i < ms->n; i++) {
        map *m = ms->v[i];
        if (kinds && !(m->kind & kinds))
            continue;
        enum map_result r = map_lookup(m, key, value, err);
        if (r != MAP_NOTFOUND)
            return r;
    }
    strbuf_reset(value);
    return MAP_NOTFOUND;
}

size_t maps_count(const maps *ms)
{
    return ms->n;
}

map *maps_get(maps *ms, size_t i)
{
    return i < ms->n ? ms->v[i] : NULL;
}

bool maps_changed(const maps *ms)
{
    for (size_t i = 0; i < ms->n; i++)
        if (map_changed(ms->v[i]))
            return true;
    return false;
}

void maps_free(maps **msp)
{
    maps *ms = *msp;
    if (!ms)
        return;
    for (size_t i = 0; i < ms->n; i++)
        map_free(&ms->v[i]);
    free(ms->v);
    free(ms->param);
    XFREE(*msp);
}
