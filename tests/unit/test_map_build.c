/* Unit tests: map_build (postmap/postalias: hash and btree tables built from
 * source files, updates, deletes, modes, and hostile sources that must
 * leave no table behind). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "map_build.h"
#include "map_source.h"

#include "map_test_files.h"

static void db_round_trip(const char *type, unsigned flags)
{
    char *src = write_text(type, source_text);
    strbuf err = STRBUF_INIT;
    assert_int_equal(map_build(type, src, MAP_SOURCE_POSTMAP, flags, &err), 0);
    map *m = open_ok(type, src);
    expect(m, "foo", "bar");
    expect(m, "FOO", "bar");
    expect(m, "baz", "qux quux    continued here");
    expect(m, "user@example.com", "local");
    expect(m, "novalue", NULL);
    expect(m, "missing", NULL);
    expect(m, "dup", (flags & MAP_BUILD_REPLACE) ? "second" : "first");
    assert_int_equal(map_kind(m), MAP_KIND_FIXED);
    assert_false(map_changed(m));
    /* Rebuild replaces the file atomically: an open table notices. */
    free(write_text(type, "foo changed\n"));
    assert_int_equal(map_build(type, src, MAP_SOURCE_POSTMAP, flags, &err), 0);
    assert_true(map_changed(m));
    map_free(&m);
    assert_null(m);
    m = open_ok(type, src);
    expect(m, "foo", "changed");
    expect(m, "baz", NULL);
    map_free(&m);
    strbuf_release(&err);
    free(src);
}

static void hash_round_trip(void **state)
{
    db_round_trip("hash", 0);
}

static void btree_round_trip(void **state)
{
    db_round_trip("btree", 0);
}

static void hash_without_nul_and_replace(void **state)
{
    db_round_trip("hash", MAP_BUILD_NONUL | MAP_BUILD_REPLACE);
}

static void hash_mode_follows_source(void **state)
{
    char *src = write_text("modes", "a b\n");
    assert_int_equal(chmod(src, 0640), 0);
    strbuf err = STRBUF_INIT, db = STRBUF_INIT;
    assert_int_equal(map_build("hash", src, MAP_SOURCE_POSTMAP, 0, &err), 0);
    strbuf_printf(&db, "%s.db", src);
    struct stat st;
    assert_int_equal(stat(db.s, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0640);
    /* An existing table keeps its mode across rebuilds. */
    assert_int_equal(chmod(db.s, 0600), 0);
    assert_int_equal(map_build("hash", src, MAP_SOURCE_POSTMAP, 0, &err), 0);
    assert_int_equal(stat(db.s, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    strbuf_release(&err);
    strbuf_release(&db);
    free(src);
}

static void hash_update_and_delete(void **state)
{
    char *src = write_text("upd", "a 1\n");
    strbuf err = STRBUF_INIT;
    assert_int_equal(map_build("hash", src, MAP_SOURCE_POSTMAP, 0, &err), 0);
    FILE *in = fmemopen((void *)"B 2\nc 3\n", 8, "r");
    assert_non_null(in);
    assert_int_equal(map_build_update("hash", src, in, "stdin", MAP_SOURCE_POSTMAP, 0, &err), 0);
    fclose(in);
    assert_int_equal(map_build_delete("hash", src, "A", 0, &err), 1);
    assert_int_equal(map_build_delete("hash", src, "a", 0, &err), 0);
    map *m = open_ok("hash", src);
    expect(m, "a", NULL);
    expect(m, "b", "2");
    expect(m, "c", "3");
    map_free(&m);
    assert_int_equal(map_build("cidr", src, MAP_SOURCE_POSTMAP, 0, &err), -1);
    assert_non_null(strstr(err.s, "cidr"));
    strbuf_release(&err);
    free(src);
}

static void alias_build(void **state)
{
    char *src = write_text("aliases", "# aliases\n"
                                      "Postmaster: root\n"
                                      "root: admin, \"|/usr/bin/procmail -a x\",\n"
                                      "   /var/log/mail.copy, :include:/etc/list\n"
                                      "\"two words\": someone\n"
                                      "no colon here\n");
    strbuf err = STRBUF_INIT;
    assert_int_equal(map_build("hash", src, MAP_SOURCE_ALIAS, 0, &err), 0);
    map *m = open_ok("hash", src);
    expect(m, "postmaster", "root");
    expect(m, "root", "admin, \"|/usr/bin/procmail -a x\", /var/log/mail.copy, :include:/etc/list");
    expect(m, "two words", "someone");
    expect(m, "@", "@");
    expect(m, "no colon here", NULL);
    map_free(&m);
    strbuf_release(&err);
    free(src);
}

/* A source line over the limit fails the build, and no .db is left
 * half-written. */
static void huge_line_builds_nothing(void **state)
{
    char *big;
    char *src = write_huge_source(&big);
    strbuf err = STRBUF_INIT, db = STRBUF_INIT;
    assert_int_equal(map_build("hash", src, MAP_SOURCE_POSTMAP, 0, &err), -1);
    assert_non_null(strstr(err.s, ", line 2: line too long"));
    strbuf_printf(&db, "%s.db", src);
    assert_int_equal(access(db.s, F_OK), -1);
    free(src);
    free(big);
    strbuf_release(&db);
    strbuf_release(&err);
}

static void nul_byte_builds_nothing(void **state)
{
    static const char data[] = "a b\nkey val\0ue\n";
    char *src = write_file("nul", data, sizeof(data) - 1);
    strbuf err = STRBUF_INIT, db = STRBUF_INIT;
    assert_int_equal(map_build("hash", src, MAP_SOURCE_POSTMAP, 0, &err), -1);
    assert_non_null(strstr(err.s, ", line 2: NUL byte"));
    strbuf_printf(&db, "%s.db", src);
    assert_int_equal(access(db.s, F_OK), -1);
    strbuf_release(&err);
    strbuf_release(&db);
    free(src);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(hash_round_trip),
        cmocka_unit_test(btree_round_trip),
        cmocka_unit_test(hash_without_nul_and_replace),
        cmocka_unit_test(hash_mode_follows_source),
        cmocka_unit_test(hash_update_and_delete),
        cmocka_unit_test(alias_build),
        cmocka_unit_test(huge_line_builds_nothing),
        cmocka_unit_test(nul_byte_builds_nothing),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
