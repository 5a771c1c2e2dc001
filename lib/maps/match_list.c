#include "match_list.h"

#include <ctype.h>
#include <string.h>

#include "cidr_match.h"
#include "map_source.h"
#include "maps.h"
#include "mem.h"
#include "strlist.h"

#define MATCH_LIST_FILE_DEPTH 10

enum item_kind { ITEM_NAME, ITEM_NET, ITEM_TABLE };

struct item {
    enum item_kind kind;
    bool negate;
    char *name; /* ITEM_NAME: lower case */
    struct cidr_net net;
    map *table;
};

struct match_list {
    char *param;
    unsigned flags;
    struct item *v;
    size_t n, cap;
};

static void lower(char *s)
{
    for (; *s; s++)
        *s = (char)tolower((unsigned char)*s);
}

static struct item *push_item(match_list *ml)
{
    if (ml->n == ml->cap) {
        ml->cap = ml->cap ? ml->cap * 2 : 8;
        ml->v = xreallocarray(ml->v, ml->cap, sizeof(*ml->v));
    }
    struct item *it = &ml->v[ml->n++];
    memset(it, 0, sizeof(*it));
    return it;
}

static int parse_text(match_list *ml, const char *text, bool negate, int depth, strbuf *err);

static int parse_file(match_list *ml, const char *path, bool negate, int depth, strbuf *err)
{
    if (depth >= MATCH_LIST_FILE_DEPTH) {
        strbuf_printf(err, "%s: %s: files nested too deeply", ml->param, path);
        return -1;
    }
    strbuf why = STRBUF_INIT, line = STRBUF_INIT;
    map_source *src = map_source_open(path, MAP_SOURCE_POSTMAP, &why);
    if (!src) {
        strbuf_printf(err, "%s: %s", ml->param, strbuf_str(&why));
        strbuf_release(&why);
        return -1;
    }
    int r, ret = 0;
    while ((r = map_source_logical_line(src, &line, &why)) == 1) {
        if (parse_text(ml, line.s, negate, depth + 1, err) < 0) {
            ret = -1;
            break;
        }
    }
    if (r < 0) {
        strbuf_printf(err, "%s: %s", ml->param, strbuf_str(&why));
        ret = -1;
    }
    map_source_close(&src);
    strbuf_release(&why);
    strbuf_release(&line);
    return ret;
}

static int parse_item(match_list *ml, const char *item, bool negate, int depth, strbuf *err)
{
    while (*item == '!') {
        negate = !negate;
        item++;
    }
    if (*item == '\0') {
        strbuf_printf(err, "%s: empty pattern after '!'", ml->param);
        return -1;
    }
    if (*item == '/')
        return parse_file(ml, item, negate, depth, err);
    if (*item != '[' && strchr(item, ':')) {
        strbuf why = STRBUF_INIT;
        unsigned mflags = (ml->flags & MATCH_LIST_SURROGATE) ? MAP_SURROGATE : 0;
        map *m = map_open(item, mflags, &why);
        if (!m) {
            strbuf_printf(err, "%s: %s", ml->param, strbuf_str(&why));
            strbuf_release(&why);
            return -1;
        }
        strbuf_release(&why);
        struct item *it = push_item(ml);
        it->kind = ITEM_TABLE;
        it->negate = negate;
        it->table = m;
        return 0;
    }
    if (cidr_looks_like_net(item)) {
        struct cidr_net net;
        const char *why = NULL;
        if (cidr_net_parse(item, &net, &why) != 0) {
            strbuf_printf(err, "%s: %s: \"%s\"", ml->param, why, item);
            return -1;
        }
        struct item *it = push_item(ml);
        it->kind = ITEM_NET;
        it->negate = negate;
        it->net = net;
        return 0;
    }
    struct item *it = push_item(ml);
    it->kind = ITEM_NAME;
    it->negate = negate;
    it->name = xstrdup(item);
    lower(it->name);
    return 0;
}

static int parse_text(match_list *ml, const char *text, bool negate, int depth, strbuf *err)
{
    strlist items = STRLIST_INIT;
    strbuf why = STRBUF_INIT;
    int ret = 0;
    if (maps_split(&items, text, &why) < 0) {
        strbuf_printf(err, "%s: %s", ml->param, strbuf_str(&why));
        ret = -1;
    }
    strbuf_release(&why);
    for (size_t i = 0; ret == 0 && i < items.n; i++)
        ret = parse_item(ml, items.v[i], negate, depth, err);
    strlist_release(&items);
    return ret;
}

match_list *match_list_compile(const char *param, const char *text, unsigned flags, strbuf *err)
{
    match_list *ml = xcalloc(1, sizeof(*ml));
    ml->param = xstrdup(param);
    ml->flags = flags;
    if (parse_text(ml, text, false, 0, err) < 0)
        match_list_free(&ml);
    return ml;
}

void match_list_free(match_list **mlp)
{
    match_list *ml = *mlp;
    if (!ml)
        return;
    for (size_t i = 0; i < ml->n; i++) {
        free(ml->v[i].name);
        map_free(&ml->v[i].table);
    }
    free(ml->v);
    free(ml->param);
    XFREE(*mlp);
}

/* `name` is lower case. */
static bool name_matches(const match_list *ml, const char *pattern, const char *name)
{
    if (strcmp(pattern, name) == 0)
        return true;
    size_t pl = strlen(pattern), nl = strlen(name);
    if (nl <= pl)
        return false;
    const char *tail = name + nl - pl;
    if (pattern[0] == '.')
        return strcmp(tail, pattern) == 0;
    return (ml->flags & MATCH_LIST_PARENT) && tail[-1] == '.' && strcmp(tail, pattern) == 0;
}

/* Table lookup of a name and (fixed tables only) its parent domains. */
static int table_name_matches(const match_list *ml, map *m, const char *name, strbuf *err)
{
    strbuf value = STRBUF_INIT;
    int result = 0;
    bool fixed = (map_kind(m) & MAP_KIND_FIXED) != 0;
    for (const char *entry = name; *entry;) {
        if (entry == name || fixed) {
            enum map_result r = map_lookup(m, entry, &value, err);
            if (r == MAP_TEMPFAIL) {
                result = -1;
                break;
            }
            if (r == MAP_FOUND) {
                result = 1;
                break;
            }
        }
        if (!fixed)
            break;
        const char *next = strchr(entry + 1, '.');
        if (!next)
            break;
        entry = (ml->flags & MATCH_LIST_PARENT) ? next + 1 : next;
    }
    strbuf_release(&value);
    return result;
}

static int match_one(const match_list *ml, const struct item *it, const char *name,
                     const char *addr_text, const struct cidr_addr *addr, strbuf *err)
{
    switch (it->kind) {
    case ITEM_NAME:
        return name && name_matches(ml, it->name, name);
    case ITEM_NET:
        return addr && cidr_match(&it->net, addr);
    case ITEM_TABLE:
        if (name) {
            int r = table_name_matches(ml, it->table, name, err);
            if (r != 0)
                return r;
        }
        if (addr_text) {
            strbuf value = STRBUF_INIT;
            enum map_result r = map_lookup(it->table, addr_text, &value, err);
            strbuf_release(&value);
            return r == MAP_TEMPFAIL ? -1 : r == MAP_FOUND;
        }
        return 0;
    }
    return 0;
}

static int match_items(match_list *ml, const char *name, const char *addr_text, strbuf *err)
{
    char *lname = name ? xstrdup(name) : NULL;
    if (lname)
        lower(lname);
    struct cidr_addr addr;
    bool have_addr = addr_text && cidr_addr_parse(addr_text, &addr) == 0;
    int result = 0;
    for (size_t i = 0; i < ml->n; i++) {
        int r = match_one(ml, &ml->v[i], lname, addr_text, have_addr ? &addr : NULL, err);
        if (r < 0) {
            result = -1;
            break;
        }
        if (r > 0) {
            result = ml->v[i].negate ? 0 : 1;
            break;
        }
    }
    free(lname);
    return result;
}

int match_list_domain(match_list *ml, const char *domain, strbuf *err)
{
    return match_items(ml, domain, NULL, err);
}

int match_list_client(match_list *ml, const char *name, const char *addr, strbuf *err)
{
    return match_items(ml, name, addr, err);
}
