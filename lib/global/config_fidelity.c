/* config_fidelity - unimplemented settings and restrictions; see config_fidelity.h. */
#include "config_fidelity.h"

#include <stdarg.h>
#include <string.h>

#include "config.h"
#include "config_implemented.h"
#include "mem.h"
#include "msg.h"
#include "smtpd_restriction.h"
#include "strbuf.h"
#include "strlist.h"

/* The type that decides when two spellings mean the same value. A
 * per-transport parameter has the type of the default_ parameter its
 * default refers to ("$default_destination_rate_delay"). */
static const struct config_default *type_of(const char *name)
{
    const struct config_default *d = config_default_find(name);
    if (d)
        return d;
    const char *def = config_default_value(name);
    if (def && def[0] == '$')
        return config_default_find(def + 1 + (def[1] == '{'));
    return NULL;
}

static bool same_value(const struct config_default *d, const char *a, const char *b)
{
    if (strcmp(a, b) == 0)
        return true;
    if (!d)
        return false;
    long long x, y;
    bool p, q;
    switch (d->type) {
    case CONFIG_BOOL:
        return config_parse_bool(a, &p) == 0 && config_parse_bool(b, &q) == 0 && p == q;
    case CONFIG_INT:
        return config_parse_int(a, &x) == 0 && config_parse_int(b, &y) == 0 && x == y;
    case CONFIG_SIZE:
        return config_parse_size(a, &x) == 0 && config_parse_size(b, &y) == 0 && x == y;
    case CONFIG_TIME:
        return config_parse_time(a, d->time_unit, &x) == 0 &&
               config_parse_time(b, d->time_unit, &y) == 0 && x == y;
    case CONFIG_STR:
        break;
    }
    return false;
}

/* The name space of one master.cf entry: service_name and its -o settings
 * above main.cf (what the service itself sees). NULL entry: main.cf. */
static void entry_overlay(const struct master_cf_entry *e, strlist *overlay)
{
    if (!e)
        return;
    strbuf sn = STRBUF_INIT;
    strbuf_printf(&sn, "service_name=%s", e->service);
    strlist_push(overlay, strbuf_str(&sn));
    strbuf_release(&sn);
    for (size_t i = 0; i < e->overrides.n; i++)
        strlist_push(overlay, e->overrides.v[i]);
}

/* Expand `text` in the entry's name space; -1 with *err on a bad value. */
static int expand_in(const strlist *overlay, const char *text, strbuf *out, strbuf *err)
{
    strbuf_reset(out);
    strbuf_reset(err);
    return config_expand_with(text, overlay, out, err);
}

static bool is_postfix_parameter(const char *name, bool *service_defined)
{
    *service_defined = false;
    if (config_default_find(name))
        return true;
    /* Per-transport parameters that master.cf created have a default too. */
    *service_defined = config_default_value(name) != NULL;
    return *service_defined;
}

/* Does `name` (set somewhere) need a warning? `value` is its expanded
 * value in the name space `overlay`. */
static bool not_honoured(const char *name, const char *value, const strlist *overlay)
{
    bool service_defined;
    if (smtpd_restriction_list_find(name) || !is_postfix_parameter(name, &service_defined))
        return false;
    const struct config_implemented *impl = config_implemented_find(name, service_defined);
    const struct config_default *type = type_of(name);
    if (impl && !impl->only)
        return false;
    if (impl)
        return !same_value(type, value, impl->only);
    const char *def = config_default_value(name);
    const struct config_default *d = config_default_find(name);
    if (d && d->raw) /* compared as written: the program expands it later */
        return !same_value(type, value, def);
    strbuf out = STRBUF_INIT, err = STRBUF_INIT;
    bool differs =
        expand_in(overlay, def, &out, &err) < 0 || !same_value(type, value, strbuf_str(&out));
    strbuf_release(&out);
    strbuf_release(&err);
    return differs;
}

static size_t check_main_cf_parameters(void)
{
    const char **names;
    size_t n = config_set_names(&names), count = 0;
    strlist none = STRLIST_INIT;
    strbuf err = STRBUF_INIT;
    for (size_t i = 0; i < n; i++) {
        const char *value;
        strbuf_reset(&err);
        if (config_lookup(names[i], &value, &err) < 0)
            value = config_get_raw(names[i]);
        if (!value || !not_honoured(names[i], value, &none))
            continue;
        const char *origin = config_origin(names[i]);
        msg_warn("%s: parameter %s: not implemented in this version; the setting has no effect",
                 origin ? origin : "main.cf", names[i]);
        count++;
    }
    strbuf_release(&err);
    return count;
}

static size_t check_master_cf_parameters(const master_cf *cf)
{
    size_t count = 0;
    strbuf out = STRBUF_INIT, err = STRBUF_INIT, ref = STRBUF_INIT;
    for (size_t k = 0; k < cf->n; k++) {
        const struct master_cf_entry *e = cf->entries[k];
        strlist overlay = STRLIST_INIT;
        entry_overlay(e, &overlay);
        for (size_t i = 0; i < e->overrides.n; i++) {
            const char *o = e->overrides.v[i];
            char *name = xstrndup(o, strcspn(o, "="));
            strbuf_set(&ref, "${");
            strbuf_puts(&ref, name);
            strbuf_putc(&ref, '}');
            const char *value = expand_in(&overlay, ref.s, &out, &err) == 0 ? strbuf_str(&out)
                                                                            : o + strlen(name) + 1;
            /* -o naming the same parameter twice: the last one counts. */
            bool later = false;
            for (size_t j = i + 1; j < e->overrides.n; j++)
                later |= strncmp(e->overrides.v[j], name, strlen(name)) == 0 &&
                         e->overrides.v[j][strlen(name)] == '=';
            if (!later && not_honoured(name, value, &overlay)) {
                msg_warn("%s, line %d: service %s/%s: parameter %s: not implemented in this "
                         "version; the setting has no effect",
                         cf->origin, e->line, e->service, e->raw[MASTER_CF_COL_TYPE], name);
                count++;
            }
            free(name);
        }
        strlist_release(&overlay);
    }
    strbuf_release(&out);
    strbuf_release(&err);
    strbuf_release(&ref);
    return count;
}

static void problem(bool as_error, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void problem(bool as_error, const char *fmt, ...)
{
    strbuf line = STRBUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    strbuf_vprintf(&line, fmt, ap);
    va_end(ap);
    if (as_error)
        msg_error("%s", line.s);
    else
        msg_warn("%s", line.s);
    strbuf_release(&line);
}

struct report_ctx {
    const char *origin;
    const char *param;
    const struct smtpd_restriction_list *list;
    bool as_error;
    strlist *seen; /* "origin\nparam\nitem": each problem once */
    size_t count;
};

static void report_restriction(void *vctx, const char *item, const char *why)
{
    struct report_ctx *c = vctx;
    strbuf key = STRBUF_INIT;
    strbuf_printf(&key, "%s\n%s\n%s", c->origin, c->param, item);
    if (!strlist_contains(c->seen, key.s)) {
        strlist_push(c->seen, key.s);
        problem(c->as_error, "%s: parameter %s: restriction %s: %s; %s", c->origin, c->param, item,
                why, c->list->consequence);
        c->count++;
    }
    strbuf_release(&key);
}

static bool overrides_param(const struct master_cf_entry *e, const char *param)
{
    size_t len = strlen(param);
    for (size_t k = 0; e && k < e->overrides.n; k++)
        if (strncmp(e->overrides.v[k], param, len) == 0 && e->overrides.v[k][len] == '=')
            return true;
    return false;
}

/* One restriction list in one name space (overlay), reported at `origin`. */
static size_t check_list(const struct smtpd_restriction_list *l, const strlist *overlay,
                         const char *origin, const char *classes, bool as_error, strlist *seen)
{
    strbuf ref = STRBUF_INIT, value = STRBUF_INIT, err = STRBUF_INIT;
    strbuf_printf(&ref, "${%s}", l->param);
    struct report_ctx ctx = {
        .origin = origin, .param = l->param, .list = l, .as_error = as_error, .seen = seen};
    const char *split_error = NULL;
    if (expand_in(overlay, ref.s, &value, &err) < 0) {
        /* smtpd would die on this value: a problem either way. */
        problem(as_error, "%s: parameter %s: %s", origin, l->param, err.s);
        ctx.count++;
    } else if (smtpd_restriction_check(l, strbuf_str(&value), classes, report_restriction, &ctx,
                                       &split_error) < 0) {
        problem(as_error, "%s: parameter %s: %s", origin, l->param, split_error);
        ctx.count++;
    }
    strbuf_release(&ref);
    strbuf_release(&value);
    strbuf_release(&err);
    return ctx.count;
}

/* smtpd_restriction_classes: each name is a parameter holding a
 * restriction list (smtpd evaluates it where a list or table names it),
 * checked like the lists themselves and reported at its own main.cf line. A
 * name without a definition is an error: smtpd would answer 451 4.3.5. */
static size_t check_classes(const char *classes, bool as_error, strlist *seen)
{
    strlist names = STRLIST_INIT;
    const char *e = NULL;
    size_t count = 0;
    if (strlist_split(&names, classes, ", \t\r\n", &e) < 0) {
        problem(as_error, "%s: parameter smtpd_restriction_classes: %s",
                config_origin("smtpd_restriction_classes")
                    ? config_origin("smtpd_restriction_classes")
                    : "main.cf",
                e);
        strlist_release(&names);
        return 1;
    }
    strlist none = STRLIST_INIT;
    for (size_t i = 0; i < names.n; i++) {
        const char *name = names.v[i];
        const char *o = config_origin("smtpd_restriction_classes");
        if (config_default_find(name) || smtpd_restriction_find(name)) {
            problem(as_error,
                    "%s: parameter smtpd_restriction_classes: %s is a Postfix %s, not a "
                    "restriction class name",
                    o ? o : "main.cf", name,
                    config_default_find(name) ? "parameter" : "restriction");
            count++;
            continue;
        }
        if (!config_is_defined(name)) {
            problem(as_error,
                    "%s: parameter smtpd_restriction_classes: restriction class %s has no "
                    "definition; smtpd answers 451 4.3.5 when evaluation gets there",
                    o ? o : "main.cf", name);
            count++;
            continue;
        }
        const char *co = config_origin(name);
        struct smtpd_restriction_list l = {name, true,
                                           "smtpd answers 451 4.3.5 when evaluation gets there"};
        count += check_list(&l, &none, co ? co : "main.cf", classes, as_error, seen);
    }
    strlist_release(&names);
    return count;
}

/* Every restriction list as main.cf gives it (e NULL), or as the master.cf
 * entry e sees it where that differs from main.cf's (main.cf's own value is
 * reported at main.cf). */
static size_t check_lists(const master_cf *cf, const struct master_cf_entry *e, bool as_error,
                          strlist *seen)
{
    size_t nlists, count = 0;
    const struct smtpd_restriction_list *lists = smtpd_restriction_lists(&nlists);
    strlist overlay = STRLIST_INIT, none = STRLIST_INIT;
    entry_overlay(e, &overlay);
    strbuf classes = STRBUF_INIT, mine = STRBUF_INIT, base = STRBUF_INIT, err = STRBUF_INIT,
           ref = STRBUF_INIT, origin = STRBUF_INIT;
    if (expand_in(&overlay, "${smtpd_restriction_classes}", &classes, &err) < 0)
        strbuf_reset(&classes);
    if (!e)
        count += check_classes(strbuf_str(&classes), as_error, seen);
    for (size_t i = 0; i < nlists; i++) {
        const struct smtpd_restriction_list *l = &lists[i];
        strbuf_reset(&origin);
        if (e) {
            strbuf_reset(&ref);
            strbuf_printf(&ref, "${%s}", l->param);
            bool differs = expand_in(&overlay, ref.s, &mine, &err) < 0 ||
                           expand_in(&none, ref.s, &base, &err) < 0 ||
                           strcmp(strbuf_str(&mine), strbuf_str(&base)) != 0;
            if (!differs && !overrides_param(e, l->param))
                continue;
            strbuf_printf(&origin, "%s, line %d: service %s/%s", cf->origin, e->line, e->service,
                          e->raw[MASTER_CF_COL_TYPE]);
        } else {
            const char *o = config_origin(l->param);
            strbuf_puts(&origin, o ? o : "main.cf");
        }
        count += check_list(l, &overlay, origin.s, strbuf_str(&classes), as_error, seen);
    }
    strlist_release(&overlay);
    strbuf_release(&classes);
    strbuf_release(&mine);
    strbuf_release(&base);
    strbuf_release(&err);
    strbuf_release(&ref);
    strbuf_release(&origin);
    return count;
}

static bool runs_smtpd(const struct master_cf_entry *e)
{
    const char *cmd = e->argv.v[0];
    const char *base = strrchr(cmd, '/') ? strrchr(cmd, '/') + 1 : cmd;
    return strcmp(base, "smtpd") == 0;
}

struct config_fidelity_counts config_fidelity_check(const master_cf *cf,
                                                    bool restrictions_are_errors)
{
    struct config_fidelity_counts n = {0, 0};
    n.parameters = check_main_cf_parameters();
    if (cf)
        n.parameters += check_master_cf_parameters(cf);
    strlist seen = STRLIST_INIT;
    n.restrictions = check_lists(cf, NULL, restrictions_are_errors, &seen);
    for (size_t k = 0; cf && k < cf->n; k++)
        if (runs_smtpd(cf->entries[k]) && cf->entries[k]->overrides.n > 0)
            n.restrictions += check_lists(cf, cf->entries[k], restrictions_are_errors, &seen);
    strlist_release(&seen);
    return n;
}
