/* postconf - print or edit main.cf and master.cf (Postfix's postconf(1)).
 *
 *   postconf [-c dir] [-dfhHnx] [-o name=value] [name...]
 *   postconf [-c dir] -e name=value...  |  -X name...  |  -# name...
 *   postconf [-c dir] -M [-fx] [service[/type]...]
 *   postconf [-c dir] -F [-hHx] [service/type/field...]
 *   postconf [-c dir] -P [-hHx] [service/type/parameter...]
 *
 * Values print unexpanded unless -x, one "name = value" per line, sorted by
 * name, whitespace normalized (as Postfix prints them). Options Postfix has
 * that this build does not (-a -A -b -l -m -t -T) fail with a clear message.
 */
#include "postconf.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "config.h"
#include "mem.h"
#include "msg.h"
#include "paths.h"
#include "strlist.h"

#define PC_LINE_LIMIT 80
#define PC_INDENT "    "
#define PC_SEPARATORS " \t\r\n"

void postconf_print_line(FILE *fp, int flags, const char *text)
{
    size_t line_len = 0;
    const char *p = text;
    for (;;) {
        p += strspn(p, PC_SEPARATORS);
        if (!*p)
            break;
        size_t word = strcspn(p, PC_SEPARATORS);
        if (line_len > 0) {
            if (!(flags & PC_FOLD) || line_len + word < PC_LINE_LIMIT) {
                fputc(' ', fp);
                line_len++;
            } else {
                fputs("\n" PC_INDENT, fp);
                line_len = strlen(PC_INDENT);
            }
        }
        fwrite(p, 1, word, fp);
        line_len += word;
        p += word;
    }
    fputc('\n', fp);
}

static _Noreturn void usage(void)
{
    msg_fatal_status(EX_USAGE,
                     "usage: postconf [-c config_dir] [-d (parameter defaults)] "
                     "[-e (edit configuration)] [-f (fold lines)] [-F (master.cf fields)] "
                     "[-h (no names)] [-H (no values)] [-M (master.cf)] "
                     "[-n (non-default parameters)] [-o name=value (override parameter value)] "
                     "[-p (main.cf, default)] [-P (master.cf parameters)] [-v (verbose)] "
                     "[-x (expand parameter values)] [-X (exclude)] [-# (comment-out)] [name...]");
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static bool same_dir(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    while (la > 1 && a[la - 1] == '/')
        la--;
    while (lb > 1 && b[lb - 1] == '/')
        lb--;
    return la == lb && memcmp(a, b, la) == 0;
}

struct show {
    bool defaults, nondefault, no_names, no_values, expand;
    int flags;
    const char *dir;
    strlist *overrides; /* names set with -o */
};

static void print_param(const struct show *sh, const char *name)
{
    const char *value = sh->defaults ? config_default_value(name) : config_get_raw(name);
    if (!value)
        value = "";
    strbuf expanded = STRBUF_INIT, err = STRBUF_INIT;
    const struct config_default *d = config_default_find(name);
    if (sh->expand && !sh->no_values && !(d && d->raw)) {
        /* With -d nothing was loaded, so the lookup sees only defaults. */
        if (config_lookup(name, &value, &err) < 0)
            msg_fatal("%s", strbuf_str(&err));
    }
    strbuf line = STRBUF_INIT;
    if (sh->no_values)
        strbuf_puts(&line, name);
    else if (sh->no_names)
        strbuf_puts(&line, value);
    else
        strbuf_printf(&line, "%s = %s", name, value);
    postconf_print_line(stdout, sh->flags, strbuf_str(&line));
    strbuf_release(&line);
    strbuf_release(&expanded);
    strbuf_release(&err);
}

static void show_main(const struct show *sh, char **names, int nnames)
{
    strlist list = STRLIST_INIT;
    if (nnames > 0) {
        for (int i = 0; i < nnames; i++) {
            bool known =
                sh->defaults ? config_default_value(names[i]) != NULL : config_is_known(names[i]);
            if (!known) {
                msg_warn("%s: unknown parameter", names[i]);
                continue;
            }
            print_param(sh, names[i]);
        }
        return;
    }
    if (sh->nondefault) {
        const char **set;
        size_t n = config_set_names(&set);
        for (size_t i = 0; i < n; i++)
            if (config_is_known(set[i]) && !strlist_contains(&list, set[i]))
                strlist_push(&list, set[i]);
        for (size_t i = 0; i < sh->overrides->n; i++)
            if (config_is_known(sh->overrides->v[i]) &&
                !strlist_contains(&list, sh->overrides->v[i]))
                strlist_push(&list, sh->overrides->v[i]);
        /* Postfix counts a -c / $MAIL_CONFIG directory as set. */
        if (!same_dir(sh->dir, MTA_DEF_CONFIG_DIR) && !strlist_contains(&list, "config_directory"))
            strlist_push(&list, "config_directory");
    } else {
        size_t count;
        const struct config_default *table = config_defaults(&count);
        for (size_t i = 0; i < count; i++)
            strlist_push(&list, table[i].name);
        config_service_param_names(&list);
        if (!sh->defaults) {
            const char **set;
            size_t n = config_set_names(&set);
            for (size_t i = 0; i < n; i++)
                if (!config_default_find(set[i]) && config_is_known(set[i]) &&
                    !strlist_contains(&list, set[i]))
                    strlist_push(&list, set[i]);
        }
    }
    if (list.n > 0)
        qsort(list.v, list.n, sizeof(*list.v), cmp_str);
    for (size_t i = 0; i < list.n; i++)
        print_param(sh, list.v[i]);
    strlist_release(&list);
}

int main(int argc, char **argv)
{
    msg_init("postconf", true);
    const char *opt_c = NULL;
    struct show sh = {0};
    strlist overrides = STRLIST_INIT, override_names = STRLIST_INIT;
    sh.overrides = &override_names;
    int edit = 0;   /* 'e', 'X', '#' */
    int master = 0; /* 'M', 'F', 'P' */
    int ch;
    opterr = 0;
    while ((ch = getopt(argc, argv, "aAbc:deEfFhHlmMno:pPtTvxX#")) != -1) {
        switch (ch) {
        case 'c':
            opt_c = optarg;
            break;
        case 'd':
            sh.defaults = true;
            break;
        case 'e':
        case 'X':
        case '#':
            if (edit && edit != ch)
                msg_fatal_status(EX_USAGE, "specify only one of -e, -X and -#");
            edit = ch;
            break;
        case 'f':
            sh.flags |= PC_FOLD;
            break;
        case 'F':
        case 'M':
        case 'P':
            if (master && master != ch)
                msg_fatal_status(EX_USAGE, "specify only one of -F, -M and -P");
            master = ch;
            break;
        case 'h':
            sh.no_names = true;
            break;
        case 'H':
            sh.no_values = true;
            break;
        case 'n':
            sh.nondefault = true;
            break;
        case 'o':
            strlist_push(&overrides, optarg);
            break;
        case 'p':
            break;
        case 'v':
            msg_verbose++;
            break;
        case 'x':
            sh.expand = true;
            break;
        case 'a':
        case 'A':
        case 'b':
        case 'E':
        case 'l':
        case 'm':
        case 't':
        case 'T':
            msg_fatal_status(EX_USAGE, "option -%c is not supported by this postconf", ch);
        case '?':
        default:
            if (optopt)
                msg_warn("invalid option -- '%c'", optopt);
            usage();
        }
    }
    if (sh.no_names && sh.no_values)
        msg_fatal_status(EX_USAGE, "specify one of -h -H");
    if (sh.defaults && sh.nondefault)
        msg_fatal_status(EX_USAGE, "specify one of -d -n");

    sh.dir = config_choose_dir(opt_c, false);
    char **names = argv + optind;
    int nnames = argc - optind;

    if (master) {
        if (edit)
            msg_fatal_status(EX_USAGE,
                             "editing master.cf (-%c with -%c) is not supported by "
                             "this postconf",
                             master, edit);
        if (sh.defaults || sh.nondefault)
            msg_fatal_status(EX_USAGE, "-%c cannot be combined with -d or -n", master);
        config_load_or_die(sh.dir);
        postconf_mark_master_used(sh.dir, true);
        if (master == 'M' && (sh.no_names || sh.no_values))
            msg_fatal_status(EX_USAGE, "-M cannot be combined with -h or -H");
        return postconf_show_master(sh.dir, master, sh.flags, sh.expand, sh.no_names, sh.no_values,
                                    names, nnames);
    }
    if (edit) {
        if (nnames == 0)
            msg_fatal_status(EX_USAGE, "-%c requires at least one argument", edit);
        enum postconf_edit_mode mode = edit == 'e'   ? POSTCONF_EDIT_SET
                                       : edit == 'X' ? POSTCONF_EDIT_REMOVE
                                                     : POSTCONF_EDIT_COMMENT_OUT;
        postconf_edit_main(sh.dir, mode, names, nnames);
        return 0;
    }

    strbuf err = STRBUF_INIT;
    if (sh.defaults) {
        /* Defaults do not depend on main.cf (compatibility_level included). */
        if (config_load_text("(defaults)", "", 0, &err) < 0)
            msg_fatal("%s", strbuf_str(&err));
    } else {
        config_load_or_die(sh.dir);
    }
    for (size_t i = 0; i < overrides.n; i++) {
        char *name, *value;
        const char *why = postconf_split_nameval(overrides.v[i], &name, &value);
        if (why)
            msg_fatal_status(EX_USAGE, "-o %s: %s", overrides.v[i], why);
        config_override_at(name, value, "postconf -o");
        strlist_push(&override_names, name);
        free(name);
        free(value);
    }
    postconf_mark_master_used(sh.dir, !sh.defaults);
    if (!sh.defaults)
        config_warn_unused();
    show_main(&sh, names, nnames);
    if (fflush(stdout) != 0 || ferror(stdout))
        msg_fatal_status(EX_IOERR, "write error on standard output: %m");
    strbuf_release(&err);
    strlist_release(&overrides);
    strlist_release(&override_names);
    return 0;
}
