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
#include "config_syntax.h"
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

/* The context of one expansion through config_syntax: which store, and
 * delivery-time attributes (config_expand_attrs), looked up before
 * parameters; parameter caches are bypassed while attributes are in force
 * (a parameter's value may refer to one). */
struct xctx {
    struct store *st;
    const struct config_attrs *attrs;
    bool undefined; /* an undefined attribute was substituted */
    /* config_default_value: this name's run-time default, whatever is set */
    const char *default_of;
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

bool config_valid_name(const char *name)
{
    return config_syntax_valid_name(name);
}

static void mark_used(void *ctx, const char *name)
{
    param_get(ctx, name)->used = true;
}

/* Mark every name referenced in text as used. */
static void mark_references(struct store *st, const char *s)
{
    config_syntax_references(s, mark_used, st);
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

static int compute_default(struct xctx *c, struct config_expansion *x, const char *name,
                           strbuf *out);

/* The raw value of name in the store: override, main.cf, default (computed
 * ones filled in). *raw is NULL for a name nobody knows. */
static int x_lookup(void *ctx, struct config_expansion *x, const char *name, const char **raw,
                    bool *verbatim)
{
    struct xctx *c = ctx;
    struct param *p = param_find(c->st, name);
    const struct config_default *d = config_default_find(name);
    /* Values the program expands later with $names of its own. */
    *verbatim = d && d->raw;
    *raw = NULL;
    if (c->default_of && strcmp(c->default_of, name) == 0)
        goto computed;
    if (p && p->override) {
        *raw = p->override;
        return 0;
    }
    if (p && p->file_value) {
        *raw = p->file_value;
        return 0;
    }
    if (c->st->dir && strcmp(name, "config_directory") == 0) {
        *raw = c->st->dir;
        return 0;
    }
    if (!d) {
        if (p && p->service_default)
            *raw = p->service_default;
        return 0;
    }
    if (d->value) {
        *raw = d->value;
        return 0;
    }
computed:
    if (p && p->computed) {
        *raw = p->computed;
        return 0;
    }
    strbuf val = STRBUF_INIT;
    if (compute_default(c, x, name, &val) < 0) {
        strbuf_release(&val);
        return -1;
    }
    p = param_get(c->st, name);
    p->computed = strbuf_detach(&val);
    *raw = p->computed;
    return 0;
}

static bool x_variable(void *ctx, const char *name, strbuf *out, bool *set)
{
    struct xctx *c = ctx;
    if (!c->attrs)
        return false;
    for (size_t i = 0; i < c->attrs->n; i++) {
        const struct config_attr *a = &c->attrs->v[i];
        if (strcmp(a->name, name) != 0)
            continue;
        *set = a->value && *a->value;
        if (out && a->value == NULL)
            c->undefined = true;
        else if (out)
            config_filter_append(out, a->value, c->attrs->filter);
        return true;
    }
    return false;
}

static const char *x_cached(void *ctx, const char *name)
{
    struct xctx *c = ctx;
    if (c->attrs)
        return NULL;
    struct param *p = param_find(c->st, name);
    return p ? p->expanded : NULL;
}

static void x_remember(void *ctx, const char *name, const char *expanded)
{
    struct xctx *c = ctx;
    if (c->attrs)
        return;
    struct param *p = param_get(c->st, name);
    if (p->expanded) /* handed out already: keep it alive */
        strlist_push_owned(&c->st->graveyard, p->expanded);
    p->expanded = xstrdup(expanded);
}

static const char *x_origin(void *ctx, const char *name)
{
    struct xctx *c = ctx;
    return param_origin(c->st, param_find(c->st, name));
}

static struct config_expand_ops expand_ops(struct xctx *c)
{
    return (struct config_expand_ops){.ctx = c,
                                      .lookup = x_lookup,
                                      .variable = x_variable,
                                      .cached = x_cached,
                                      .remember = x_remember,
                                      .origin = x_origin};
}

/* ---------------------------------------------------- computed defaults */

static int expanded_in(struct config_expansion *x, const char *name, strbuf *out)
{
    return config_expansion_name(x, name, out);
}

static const char *program_name(void)
{
    extern char *program_invocation_short_name;
    return program_invocation_short_name ? program_invocation_short_name : "unknown";
}

static int compute_myhostname(struct xctx *c, struct config_expansion *x, strbuf *out)
{
    char host[HOST_NAME_MAX + 2];
    if (gethostname(host, sizeof(host) - 1) < 0)
        return config_expansion_fail(x, "gethostname: %s", strerror(errno));
    host[sizeof(host) - 1] = '\0';
    strbuf_puts(out, host);
    if (strchr(host, '.'))
        return 0;
    /* Not a FQDN: append $mydomain when main.cf sets it, as Postfix does. */
    struct param *d = param_find(c->st, "mydomain");
    strbuf_putc(out, '.');
    if (d && (d->file_value || d->override))
        return expanded_in(x, "mydomain", out);
    strbuf_puts(out, "localdomain");
    return 0;
}

static int compute_mydomain(struct xctx *c, struct config_expansion *x, strbuf *out)
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
static int compute_mynetworks(struct xctx *c, struct config_expansion *x, strbuf *out)
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
        config_expansion_fail(x, "unknown mynetworks_style value: %s", strbuf_str(&style_s));
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
        config_expansion_fail(x, "cannot list network interfaces: %s", strerror(errno));
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

static int compute_default(struct xctx *c, struct config_expansion *x, const char *name,
                           strbuf *out)
{
    if (strcmp(name, "myhostname") == 0)
        return compute_myhostname(c, x, out);
    if (strcmp(name, "mydomain") == 0)
        return compute_mydomain(c, x, out);
    if (strcmp(name, "mynetworks") == 0)
        return compute_mynetworks(c, x, out);
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

static int file_entry(void *ctx, const char *name, const char *value, int line, strbuf *err)
{
    (void)err;
    set_file_value(ctx, name, value, line);
    return 0;
}

static int store_parse(struct store *st, const char *text, size_t len, strbuf *err)
{
    int rc = config_syntax_parse(st->path, text, len, file_entry, st, err);
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
    struct xctx c = {.st = st};
    struct config_expand_ops ops = expand_ops(&c);
    strbuf val = STRBUF_INIT;
    int rc = config_expand_name(&ops, name, &val, err);
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
    struct xctx c = {.st = st};
    struct config_expand_ops ops = expand_ops(&c);
    const char *raw;
    int rc = config_expand_raw(&ops, name, &raw, err);
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
    struct xctx c = {.st = &cfg};
    struct config_expand_ops ops = expand_ops(&c);
    strbuf_reset(out);
    return config_expand_text(&ops, text, strlen(text), out, err);
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
    struct xctx c = {.st = &cfg, .attrs = attrs};
    struct config_expand_ops ops = expand_ops(&c);
    strbuf_reset(out);
    int rc = config_expand_text(&ops, text, strlen(text), out, err);
    if (undefined)
        *undefined = c.undefined;
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
    struct xctx c = {.st = &cfg, .default_of = name};
    struct config_expand_ops ops = expand_ops(&c);
    const char *raw;
    if (config_expand_raw(&ops, name, &raw, &err) < 0)
        msg_fatal("%s", strbuf_str(&err));
    strbuf_release(&err);
    return raw; /* x_lookup cached it as the parameter's computed value */
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
