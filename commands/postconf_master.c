/* postconf_master - master.cf display for postconf (-M, -F, -P), and the
 * master.cf side of the unused-parameter check.
 *
 * -M prints each entry normalized as Postfix does: the seven columns at
 * their preferred positions (0 11 17 25 33 41 49, command at 57, at least
 * one space apart), then the command and its arguments; an argument with
 * whitespace is shown as "{text}", and "-o name=value" is one unit. With -f
 * each "-o" unit goes on its own line and long lines wrap at 80 columns with
 * a 4-space indent. -F prints "service/type/field = value" and -P prints
 * "service/type/parameter = value" for the -o overrides (sorted by name).
 * Selectors are service[/type] (-M) or service[/type[/field]] (-F, -P),
 * "*" matching any value; a selector that matches nothing is warned about.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include "config.h"
#include "master_cf.h"
#include "mem.h"
#include "msg.h"
#include "postconf.h"
#include "strbuf.h"
#include "strlist.h"

#define PC_LINE_LIMIT 80
#define PC_INDENT "    "
#define PC_INDENT_LEN 4

static const char *const field_names[] = {"service", "type",   "private",       "unprivileged",
                                          "chroot",  "wakeup", "process_limit", "command"};
#define NFIELDS 8
#define FIELD_COMMAND 7
#define FIELD_ANY (-1)

/* NULL when main.cf exists but master.cf does not (warned by the caller). */
static master_cf *load_master(const char *dir, bool must_exist, bool warn)
{
    strbuf path = STRBUF_INIT, err = STRBUF_INIT;
    strbuf_printf(&path, "%s/master.cf", dir);
    master_cf *cf = NULL;
    if (!must_exist && access(strbuf_str(&path), F_OK) < 0 && errno == ENOENT) {
        if (warn)
            msg_warn("open %s: %m", strbuf_str(&path));
    } else if (master_cf_load(strbuf_str(&path), &cf, &err) < 0) {
        msg_fatal("%s", strbuf_str(&err));
    }
    strbuf_release(&path);
    strbuf_release(&err);
    return cf;
}

static bool has_space(const char *s)
{
    return *s == '\0' || s[strcspn(s, " \t\r\n\v\f")] != '\0';
}

/* An argument as Postfix shows it: braces around text with whitespace. */
static void quoted_arg(strbuf *out, const char *arg)
{
    if (has_space(arg))
        strbuf_printf(out, "{%s}", arg);
    else
        strbuf_puts(out, arg);
}

static const char *master_origin = "master.cf";

/* Expand in the entry's own name space: its -o settings and service_name
 * on top of main.cf, as the service itself would see them. */
static void expand_or_die(const struct master_cf_entry *e, const char *text, strbuf *out)
{
    strbuf err = STRBUF_INIT, sn = STRBUF_INIT;
    strlist overlay = STRLIST_INIT;
    strbuf_printf(&sn, "service_name=%s", e->service);
    strlist_push(&overlay, strbuf_str(&sn));
    for (size_t i = 0; i < e->overrides.n; i++)
        strlist_push(&overlay, e->overrides.v[i]);
    if (config_expand_with(text, &overlay, out, &err) < 0)
        msg_fatal("%s, line %d: %s", master_origin, e->line, strbuf_str(&err));
    strlist_release(&overlay);
    strbuf_release(&sn);
    strbuf_release(&err);
}

/* The command and arguments, starting at line position *line_len. */
static void format_command(strbuf *out, const struct master_cf_entry *e, int flags, bool expand,
                           size_t *line_len)
{
    bool in_options = true;
    strbuf unit = STRBUF_INIT, value = STRBUF_INIT;
    for (size_t i = 0; i < e->argv.n; i++) {
        const char *arg = e->argv.v[i];
        bool with_value = false;
        strbuf_reset(&unit);
        if (i == 0) {
            quoted_arg(&unit, arg);
        } else {
            if (in_options && (arg[0] != '-' || strcmp(arg, "--") == 0))
                in_options = false;
            if (in_options && strcmp(arg, "-o") == 0 && i + 1 < e->argv.n) {
                const char *v = e->argv.v[i + 1];
                if (expand) {
                    /* Expand only the value part of name=value. */
                    const char *eq = strchr(v, '=');
                    strbuf_reset(&value);
                    strbuf_append(&value, v, eq ? (size_t)(eq - v) + 1 : 0);
                    strbuf ev = STRBUF_INIT;
                    expand_or_die(e, eq ? eq + 1 : v, &ev);
                    strbuf_puts(&value, strbuf_str(&ev));
                    strbuf_release(&ev);
                    v = strbuf_str(&value);
                }
                strbuf_puts(&unit, "-o ");
                quoted_arg(&unit, v);
                with_value = true;
                i++;
                /* An option with a value starts a new line when folding. */
                *line_len = PC_LINE_LIMIT;
            } else {
                quoted_arg(&unit, arg);
            }
        }
        if (i > 0 && *line_len > PC_INDENT_LEN) {
            if (!(flags & PC_FOLD) || *line_len + 1 + unit.len < PC_LINE_LIMIT) {
                strbuf_putc(out, ' ');
                (*line_len)++;
            } else {
                strbuf_puts(out, "\n" PC_INDENT);
                *line_len = PC_INDENT_LEN;
            }
        }
        strbuf_append(out, unit.s, unit.len);
        *line_len += unit.len;
        if (with_value)
            *line_len = PC_LINE_LIMIT;
    }
    strbuf_release(&unit);
    strbuf_release(&value);
}

static void print_entry(const struct master_cf_entry *e, int flags, bool expand)
{
    static const size_t column_goal[] = {0, 11, 17, 25, 33, 41, 49, 57};
    strbuf out = STRBUF_INIT;
    size_t line_len = 0;
    for (int f = 0; f < MASTER_CF_NCOLUMNS; f++) {
        if (line_len > 0) {
            do {
                strbuf_putc(&out, ' ');
                line_len++;
            } while (line_len < column_goal[f]);
        }
        strbuf_puts(&out, e->raw[f]);
        line_len += strlen(e->raw[f]);
    }
    do {
        strbuf_putc(&out, ' ');
        line_len++;
    } while (line_len < column_goal[7]);
    format_command(&out, e, flags, expand, &line_len);
    strbuf_putc(&out, '\n');
    fwrite(out.s, 1, out.len, stdout);
    strbuf_release(&out);
}

struct selector {
    char *text;
    char *part[3]; /* service, type, field/param; NULL = any */
    int field;     /* -F: field index or FIELD_ANY */
    int matches;
};

static void parse_selector(struct selector *s, const char *text, int max_parts, int mode)
{
    s->text = xstrdup(text);
    s->field = FIELD_ANY;
    char *copy = xstrdup(text);
    int n = 0;
    for (char *p = copy, *slash; n < 3; p = slash + 1) {
        slash = strchr(p, '/');
        if (slash)
            *slash = '\0';
        if (n >= max_parts || !*p) {
            n = -1;
            break;
        }
        s->part[n++] = strcmp(p, "*") == 0 ? NULL : xstrdup(p);
        if (!slash)
            break;
        if (n == max_parts) {
            n = -1;
            break;
        }
    }
    free(copy);
    if (n < 0) {
        if (mode == 'M')
            msg_fatal_status(EX_USAGE, "-M option requires service_name[/type]");
        msg_fatal_status(EX_USAGE, "-%c option requires service_name[/type[/%s]]", mode,
                         mode == 'F' ? "field" : "parameter");
    }
    if (mode == 'F' && s->part[2]) {
        s->field = -2;
        for (int f = 0; f < NFIELDS; f++)
            if (strcmp(field_names[f], s->part[2]) == 0)
                s->field = f;
        if (s->field == -2)
            msg_fatal_status(EX_USAGE, "invalid service attribute name: \"%s\"", s->part[2]);
    }
}

static bool selector_matches(const struct selector *s, const struct master_cf_entry *e)
{
    if (s->part[0] && strcmp(s->part[0], e->service) != 0)
        return false;
    if (s->part[1] && strcmp(s->part[1], e->raw[MASTER_CF_COL_TYPE]) != 0)
        return false;
    return true;
}

static void print_field(const struct master_cf_entry *e, int field, int flags, bool expand,
                        bool no_names)
{
    strbuf out = STRBUF_INIT;
    size_t line_len = 0;
    if (!no_names) {
        strbuf_printf(&out, "%s/%s/%s = ", e->service, e->raw[MASTER_CF_COL_TYPE],
                      field_names[field]);
        line_len = out.len;
    }
    const char *first = field < FIELD_COMMAND ? e->raw[field] : e->argv.v[0];
    if (!no_names && line_len + strlen(first) > PC_LINE_LIMIT) {
        strbuf_puts(&out, "\n" PC_INDENT);
        line_len = PC_INDENT_LEN;
    }
    if (field < FIELD_COMMAND)
        strbuf_puts(&out, e->raw[field]);
    else
        format_command(&out, e, flags, expand, &line_len);
    strbuf_putc(&out, '\n');
    fwrite(out.s, 1, out.len, stdout);
    strbuf_release(&out);
}

static int cmp_override(const void *a, const void *b)
{
    const char *x = *(const char *const *)a, *y = *(const char *const *)b;
    size_t lx = strcspn(x, "="), ly = strcspn(y, "=");
    int c = strncmp(x, y, lx < ly ? lx : ly);
    if (c != 0)
        return c;
    return (lx > ly) - (lx < ly);
}

static void print_param(const struct master_cf_entry *e, const char *nameval, int flags,
                        bool expand, bool no_names, bool no_values)
{
    const char *eq = strchr(nameval, '=');
    size_t nlen = eq ? (size_t)(eq - nameval) : strlen(nameval);
    const char *value = eq ? eq + 1 : "";
    strbuf ev = STRBUF_INIT, line = STRBUF_INIT;
    if (expand) {
        expand_or_die(e, value, &ev);
        value = strbuf_str(&ev);
    }
    if (no_values)
        strbuf_printf(&line, "%s/%s/%.*s", e->service, e->raw[MASTER_CF_COL_TYPE], (int)nlen,
                      nameval);
    else if (no_names)
        strbuf_puts(&line, value);
    else
        strbuf_printf(&line, "%s/%s/%.*s = %s", e->service, e->raw[MASTER_CF_COL_TYPE], (int)nlen,
                      nameval, value);
    postconf_print_line(stdout, flags, strbuf_str(&line));
    strbuf_release(&ev);
    strbuf_release(&line);
}

/* The entry's overrides sorted by name, the last one for a name winning. */
static void sorted_overrides(const struct master_cf_entry *e, strlist *out)
{
    for (size_t i = e->overrides.n; i-- > 0;) {
        const char *o = e->overrides.v[i];
        size_t nl = strcspn(o, "=");
        bool seen = false;
        for (size_t k = 0; k < out->n && !seen; k++)
            seen = strcspn(out->v[k], "=") == nl && strncmp(out->v[k], o, nl) == 0;
        if (!seen)
            strlist_push(out, o);
    }
    if (out->n > 0)
        qsort(out->v, out->n, sizeof(*out->v), cmp_override);
}

int postconf_show_master(const char *dir, int mode, int flags, bool expand, bool no_names,
                         bool no_values, char **names, int nnames)
{
    master_cf *cf = load_master(dir, true, true);
    master_origin = cf->origin;
    struct selector *sel = xcalloc((size_t)(nnames > 0 ? nnames : 1), sizeof(*sel));
    for (int i = 0; i < nnames; i++)
        parse_selector(&sel[i], names[i], mode == 'M' ? 2 : 3, mode);

    for (size_t k = 0; k < cf->n; k++) {
        const struct master_cf_entry *e = cf->entries[k];
        for (int i = 0; i < (nnames > 0 ? nnames : 1); i++) {
            const struct selector *s = nnames > 0 ? &sel[i] : NULL;
            if (s && !selector_matches(s, e))
                continue;
            if (mode == 'M') {
                sel[i].matches++;
                print_entry(e, flags, expand);
            } else if (mode == 'F') {
                sel[i].matches++;
                int field = s ? s->field : FIELD_ANY;
                if (no_values) {
                    for (int f = 0; f < NFIELDS; f++)
                        if (field == FIELD_ANY || field == f)
                            printf("%s/%s/%s\n", e->service, e->raw[MASTER_CF_COL_TYPE],
                                   field_names[f]);
                    continue;
                }
                for (int f = 0; f < NFIELDS; f++)
                    if (field == FIELD_ANY || field == f)
                        print_field(e, f, flags, expand, no_names);
            } else {
                strlist params = STRLIST_INIT;
                sorted_overrides(e, &params);
                for (size_t p = 0; p < params.n; p++) {
                    const char *o = params.v[p];
                    size_t nl = strcspn(o, "=");
                    if (s && s->part[2] && (strlen(s->part[2]) != nl || strncmp(s->part[2], o, nl)))
                        continue;
                    sel[i].matches++;
                    print_param(e, o, flags, expand, no_names, no_values);
                }
                strlist_release(&params);
            }
        }
    }
    for (int i = 0; i < nnames; i++)
        if (sel[i].matches == 0)
            msg_warn("unmatched request: \"%s\"", sel[i].text);
    for (int i = 0; i < nnames; i++) {
        free(sel[i].text);
        for (int p = 0; p < 3; p++)
            free(sel[i].part[p]);
    }
    free(sel);
    master_cf_free(&cf);
    if (fflush(stdout) != 0 || ferror(stdout))
        msg_fatal_status(EX_IOERR, "write error on standard output: %m");
    return 0;
}

void postconf_mark_master_used(const char *dir, bool warn)
{
    master_cf *cf = load_master(dir, false, warn);
    master_cf_mark_restriction_classes(cf);
    if (!cf)
        return;
    /* References first: a -o name that some value mentions as $name is a
     * legitimate user-defined parameter. */
    for (size_t k = 0; k < cf->n; k++) {
        const struct master_cf_entry *e = cf->entries[k];
        config_add_service(e->service, e->raw[MASTER_CF_COL_TYPE], e->argv.v[0]);
        for (size_t i = 0; i < e->argv.n; i++)
            config_mark_references(e->argv.v[i]);
    }
    for (size_t k = 0; k < cf->n; k++) {
        const struct master_cf_entry *e = cf->entries[k];
        for (size_t i = 0; i < e->overrides.n; i++) {
            const char *o = e->overrides.v[i];
            size_t nl = strcspn(o, "=");
            char *name = xstrndup(o, nl);
            if (warn && !config_is_used(name))
                msg_warn("%s, line %d: unused parameter: %s", cf->origin, e->line, o);
            config_mark_used(name);
            free(name);
        }
    }
    master_cf_free(&cf);
}
