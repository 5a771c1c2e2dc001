#include "postmap_command.h"
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "lineread.h"
#include "map_build.h"
#include "maps.h"
#include "mem.h"
#include "msg.h"
#include "paths.h"
#include "strlist.h"

/* Load main.cf from -c dir / $MAIL_CONFIG / the default, when it exists:
 * without one every parameter keeps its built-in default. */
static void load_config(const char *opt_c)
{
    const char *dir = config_choose_dir(opt_c, false);
    strbuf path = STRBUF_INIT;
    strbuf_printf(&path, "%s/main.cf", dir);
    if (access(path.s, F_OK) == 0)
        config_load_or_die(dir);
    strbuf_release(&path);
}

static char *conf_value(const char *name)
{
    return xstrdup(config_get(name));
}

struct target {
    char *type;
    char *name;
};

static struct target parse_target(const char *arg, const char *default_type)
{
    struct target t;
    const char *name;
    if (map_spec_split(arg, &t.type, &name)) {
        t.name = xstrdup(name);
    } else {
        t.type = xstrdup(default_type);
        t.name = xstrdup(arg);
    }
    if (t.name[0] == '\0')
        msg_fatal_status(EX_USAGE, "%s: missing table name", arg);
    return t;
}

static char *target_spec(const struct target *t)
{
    strbuf s = STRBUF_INIT;
    strbuf_printf(&s, "%s:%s", t->type, t->name);
    return strbuf_detach(&s);
}

/* Look a key up in the tables in order; prints per `with_key`. */
static enum map_result query_one(map **maps_v, size_t n, const char *key, bool with_key)
{
    strbuf value = STRBUF_INIT, err = STRBUF_INIT;
    enum map_result res = MAP_NOTFOUND;
    for (size_t i = 0; i < n && res == MAP_NOTFOUND; i++) {
        res = map_lookup(maps_v[i], key, &value, &err);
        if (res == MAP_TEMPFAIL)
            msg_fatal_status(EX_TEMPFAIL, "table %s: query error: %s", map_spec(maps_v[i]),
                             strbuf_str(&err));
    }
    if (res == MAP_FOUND) {
        if (with_key)
            printf("%s\t", key);
        fwrite(value.s, 1, value.len, stdout);
        putchar('\n');
    }
    strbuf_release(&value);
    strbuf_release(&err);
    return res;
}

static int do_query(struct target *tg, size_t n, const char *key, unsigned flags)
{
    map **v = xcalloc(n, sizeof(*v));
    strbuf err = STRBUF_INIT;
    for (size_t i = 0; i < n; i++) {
        char *spec = target_spec(&tg[i]);
        v[i] = map_open(spec, (flags & MAP_BUILD_NOFOLD) ? MAP_NOFOLD : 0, &err);
        if (!v[i])
            msg_fatal("%s", strbuf_str(&err));
        free(spec);
    }
    bool any = false;
    if (strcmp(key, "-") == 0) {
        strbuf line = STRBUF_INIT;
        enum line_status st;
        while ((st = line_read(stdin, &line, MAP_SOURCE_LINE_MAX, true)) != LINE_EOF) {
            if (st == LINE_ERROR)
                msg_fatal("read standard input: %m");
            if (st == LINE_TOO_LONG || memchr(line.s, '\0', line.len)) {
                msg_warn("standard input: skipping overlong key or key with NUL byte");
                continue;
            }
            strbuf_trim(&line);
            if (line.len > 0 && query_one(v, n, line.s, true) == MAP_FOUND)
                any = true;
        }
        strbuf_release(&line);
    } else {
        any = query_one(v, n, key, false) == MAP_FOUND;
    }
    if (fflush(stdout) != 0)
        msg_fatal("write standard output: %m");
    for (size_t i = 0; i < n; i++)
        map_free(&v[i]);
    free(v);
    strbuf_release(&err);
    return any ? 0 : 1;
}

static int do_delete(struct target *tg, size_t n, const char *key, unsigned flags)
{
    strlist keys = STRLIST_INIT;
    if (strcmp(key, "-") == 0) {
        strbuf line = STRBUF_INIT;
        enum line_status st;
        while ((st = line_read(stdin, &line, MAP_SOURCE_LINE_MAX, true)) != LINE_EOF) {
            if (st == LINE_ERROR)
                msg_fatal("read standard input: %m");
            strbuf_trim(&line);
            if (st == LINE_OK && line.len > 0 && !memchr(line.s, '\0', line.len))
                strlist_push(&keys, line.s);
        }
        strbuf_release(&line);
    } else {
        strlist_push(&keys, key);
    }
    bool any = false;
    strbuf err = STRBUF_INIT;
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < keys.n; k++) {
            int r = map_build_delete(tg[i].type, tg[i].name, keys.v[k], flags, &err);
            if (r < 0)
                msg_fatal("%s", strbuf_str(&err));
            any |= r > 0;
        }
    }
    strbuf_release(&err);
    strlist_release(&keys);
    return any ? 0 : 1;
}

static _Noreturn void usage(const char *prog)
{
    msg_fatal_status(EX_USAGE,
                     "usage: %s [-Nfinoprsvw] [-c config_dir] [-d key] [-q key] "
                     "[map_type:]file...",
                     prog);
}

int map_command_main(int argc, char **argv, enum map_source_format fmt)
{
    const char *prog = fmt == MAP_SOURCE_ALIAS ? "postalias" : "postmap";
    msg_init(prog, true);
    const char *opt_c = NULL, *query = NULL, *del = NULL;
    unsigned flags = 0;
    bool incremental = false, dump = false;
    int c;
    while ((c = getopt(argc, argv, "Nnfiroprsvwc:d:q:bhmFuUx")) != -1) {
        switch (c) {
        case 'N':
            flags |= MAP_BUILD_NONUL;
            break;
        case 'n':
            flags &= ~(unsigned)MAP_BUILD_NONUL;
            break;
        case 'f':
            flags |= MAP_BUILD_NOFOLD;
            break;
        case 'i':
            incremental = true;
            break;
        case 'r':
            flags |= MAP_BUILD_REPLACE;
            break;
        case 'w':
            flags |= MAP_BUILD_IGNORE_DUPS;
            break;
        case 'p':
            flags |= MAP_BUILD_DEFAULT_MODE;
            break;
        case 'o':
            break;
        case 's':
            dump = true;
            break;
        case 'v':
            msg_verbose++;
            break;
        case 'c':
            opt_c = optarg;
            break;
        case 'd':
            del = optarg;
            break;
        case 'q':
            query = optarg;
            break;
        case 'b':
        case 'h':
        case 'm':
        case 'F':
        case 'u':
        case 'U':
        case 'x':
            msg_fatal_status(EX_USAGE, "option -%c is not supported by this implementation", c);
        default:
            usage(prog);
        }
    }
    if ((query != NULL) + (del != NULL) + dump + incremental > 1)
        msg_fatal_status(EX_USAGE, "options -q, -d, -s and -i are mutually exclusive");
    if (optind >= argc)
        usage(prog);
    load_config(opt_c);
    char *default_type = conf_value("default_database_type");

    size_t n = (size_t)(argc - optind);
    struct target *tg = xcalloc(n, sizeof(*tg));
    for (size_t i = 0; i < n; i++)
        tg[i] = parse_target(argv[optind + (int)i], default_type);

    int status = 0;
    strbuf err = STRBUF_INIT;
    if (query) {
        status = do_query(tg, n, query, flags);
    } else if (del) {
        status = do_delete(tg, n, del, flags);
    } else {
        for (size_t i = 0; i < n; i++) {
            int r;
            if (dump)
                r = map_build_dump(tg[i].type, tg[i].name, fmt, stdout, &err);
            else if (incremental)
                r = map_build_update(tg[i].type, tg[i].name, stdin, "standard input", fmt, flags,
                                     &err);
            else
                r = map_build(tg[i].type, tg[i].name, fmt, flags, &err);
            if (r < 0)
                msg_fatal("%s", strbuf_str(&err));
        }
    }
    for (size_t i = 0; i < n; i++) {
        free(tg[i].type);
        free(tg[i].name);
    }
    free(tg);
    free(default_type);
    strbuf_release(&err);
    return status;
}
