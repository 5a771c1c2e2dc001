/* map_test_files - what the table tests (test_maps.c, test_map_build.c)
 * share: a temporary directory per test binary (setup/teardown), source
 * files written into it, and lookups that must find a value or nothing.
 * Include it after <cmocka.h> (its helpers assert). */
#ifndef MTA_TEST_MAP_TEST_FILES_H
#define MTA_TEST_MAP_TEST_FILES_H
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "map_source.h"
#include "maps.h"
#include "mem.h"
#include "msg.h"
#include "strbuf.h"

static char tmpdir[] = "/tmp/test_maps.XXXXXX";

static char *path_of(const char *name)
{
    strbuf sb = STRBUF_INIT;
    strbuf_printf(&sb, "%s/%s", tmpdir, name);
    return strbuf_detach(&sb);
}

static char *write_file(const char *name, const void *data, size_t len)
{
    char *path = path_of(name);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    assert_int_equal(fwrite(data, 1, len, fp), len);
    assert_int_equal(fclose(fp), 0);
    return path;
}

static char *write_text(const char *name, const char *text)
{
    return write_file(name, text, strlen(text));
}

static map *open_ok(const char *type, const char *path)
{
    strbuf spec = STRBUF_INIT, err = STRBUF_INIT;
    strbuf_printf(&spec, "%s:%s", type, path);
    map *m = map_open(spec.s, 0, &err);
    if (!m)
        fail_msg("open %s: %s", spec.s, strbuf_str(&err));
    strbuf_release(&spec);
    strbuf_release(&err);
    return m;
}

static void expect(map *m, const char *key, const char *value)
{
    strbuf v = STRBUF_INIT, err = STRBUF_INIT;
    enum map_result r = map_lookup(m, key, &v, &err);
    if (value) {
        if (r != MAP_FOUND)
            fail_msg("%s: key \"%s\" not found (%d: %s)", map_spec(m), key, r, strbuf_str(&err));
        assert_string_equal(strbuf_str(&v), value);
    } else if (r != MAP_NOTFOUND) {
        fail_msg("%s: key \"%s\" unexpectedly gave %d \"%s\"", map_spec(m), key, r, strbuf_str(&v));
    }
    strbuf_release(&v);
    strbuf_release(&err);
}

static const char *source_text = "# comment\n"
                                 "Foo bar\n"
                                 "baz   qux quux  \n"
                                 "  continued here\n"
                                 "\n"
                                 "   # indented comment\n"
                                 "user@Example.COM  local\r\n"
                                 "novalue\n"
                                 "dup first\n"
                                 "dup second\n";

/* A source file "huge" whose line 2 is longer than MAP_SOURCE_LINE_MAX:
 * its path. *buf is the buffer it was written from (MAP_SOURCE_LINE_MAX + 74
 * bytes, for the caller to reuse and free). */
static char *write_huge_source(char **buf)
{
    size_t n = MAP_SOURCE_LINE_MAX + 10;
    char *big = xmalloc(n + 64);
    memcpy(big, "ok value\nk ", 11);
    memset(big + 11, 'x', n);
    memcpy(big + 11 + n, "\n", 1);
    *buf = big;
    return write_file("huge", big, 12 + n);
}

static int setup(void **state)
{
    msg_init("test_maps", true);
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    strbuf cmd = STRBUF_INIT;
    strbuf_printf(&cmd, "rm -rf '%s'", tmpdir);
    int r = system(cmd.s);
    strbuf_release(&cmd);
    return r == 0 ? 0 : -1;
}

#endif
