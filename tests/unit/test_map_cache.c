/* Unit tests: map_cache (one open per table, reopen when the file changes). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "map_cache.h"
#include "maps.h"
#include "strbuf.h"

static char tmpdir[] = "/tmp/test_map_cache.XXXXXX";

static void write_file(const char *path, const char *text)
{
    /* A new file (new inode), as postmap renames a finished table into place. */
    char tmp[512];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    assert_int_equal(rename(tmp, path), 0);
}

static void open_once_reopen_on_change(void **state)
{
    (void)state;
    char path[256], spec[300];
    snprintf(path, sizeof(path), "%s/access", tmpdir);
    snprintf(spec, sizeof(spec), "texthash:%s", path);
    write_file(path, "a@example.com REJECT\n");
    strbuf err = STRBUF_INIT, v = STRBUF_INIT;
    unsigned long base = map_cache_opens();
    map *m1 = map_cache_get(spec, 0, &err);
    assert_non_null(m1);
    assert_int_equal(map_lookup(m1, "a@example.com", &v, &err), MAP_FOUND);
    assert_string_equal(strbuf_str(&v), "REJECT");
    for (int i = 0; i < 5; i++)
        assert_ptr_equal(map_cache_get(spec, 0, &err), m1);
    assert_int_equal(map_cache_opens() - base, 1);
    /* Different flags: a different table. */
    map *nofold = map_cache_get(spec, MAP_NOFOLD, &err);
    assert_non_null(nofold);
    assert_ptr_not_equal(nofold, m1);
    assert_int_equal(map_cache_opens() - base, 2);

    write_file(path, "a@example.com OK\nb@example.com DUNNO\n");
    map *m2 = map_cache_get(spec, 0, &err);
    assert_non_null(m2);
    assert_int_equal(map_cache_opens() - base, 3);
    assert_int_equal(map_lookup(m2, "a@example.com", &v, &err), MAP_FOUND);
    assert_string_equal(strbuf_str(&v), "OK");
    assert_ptr_equal(map_cache_get(spec, 0, &err), m2);
    assert_int_equal(map_cache_opens() - base, 3);

    /* Removed: the open fails and is retried on the next request. */
    unlink(path);
    assert_null(map_cache_get(spec, 0, &err));
    assert_null(map_cache_get(spec, 0, &err));
    assert_int_equal(map_cache_opens() - base, 5);
    write_file(path, "c@example.com HOLD\n");
    map *m3 = map_cache_get(spec, 0, &err);
    assert_non_null(m3);
    assert_int_equal(map_lookup(m3, "c@example.com", &v, &err), MAP_FOUND);
    assert_string_equal(strbuf_str(&v), "HOLD");
    unlink(path);
    map_cache_flush();
    strbuf_release(&err);
    strbuf_release(&v);
}

int main(void)
{
    if (!mkdtemp(tmpdir))
        return 1;
    const struct CMUnitTest tests[] = {cmocka_unit_test(open_once_reopen_on_change)};
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    rmdir(tmpdir);
    return rc;
}
