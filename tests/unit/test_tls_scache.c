/* Unit tests: tls_scache (tlsmgr's session tables). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "msg.h"
#include "tls.h"
#include "tls_scache.h"

static char dir[] = "/tmp/test_tls_scache.XXXXXX";

static const char *spec(const char *type)
{
    static char buf[256];
    snprintf(buf, sizeof(buf), "%s:%s/scache", type, dir);
    return buf;
}

static void store_lookup_expire(void **state)
{
    strbuf err = STRBUF_INIT, out = STRBUF_INIT;
    tls_scache *c = tls_scache_open(spec("btree"), 3600, getuid(), getgid(), &err);
    if (!c)
        fail_msg("%s", strbuf_str(&err));
    char path[300];
    snprintf(path, sizeof(path), "%s/scache.db", dir);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);

    const unsigned char der[] = {0x30, 0x03, 0x02, 0x01, 0x00, 0x00, 0xff}; /* NULs kept */
    assert_int_equal(tls_scache_lookup(c, "smtp&a", 1000, &out, &err), 0);
    assert_int_equal(tls_scache_update(c, "smtp&a", der, sizeof(der), 1000, &err), 0);
    assert_int_equal(tls_scache_lookup(c, "smtp&a", 1000 + 3599, &out, &err), 1);
    assert_int_equal(out.len, sizeof(der));
    assert_memory_equal(out.s, der, sizeof(der));
    assert_int_equal(tls_scache_lookup(c, "smtp&b", 1000, &out, &err), 0);
    /* Replaced, then expired: gone for good. */
    assert_int_equal(tls_scache_update(c, "smtp&a", der, 2, 2000, &err), 0);
    assert_int_equal(tls_scache_lookup(c, "smtp&a", 2000, &out, &err), 1);
    assert_int_equal(out.len, 2);
    assert_int_equal(tls_scache_lookup(c, "smtp&a", 2000 + 3600, &out, &err), 0);
    assert_int_equal(tls_scache_lookup(c, "smtp&a", 2000, &out, &err), 0);
    /* Purge removes only what expired. */
    assert_int_equal(tls_scache_update(c, "old", der, 3, 100, &err), 0);
    assert_int_equal(tls_scache_update(c, "new", der, 3, 5000, &err), 0);
    assert_int_equal(tls_scache_purge(c, 4000), 1);
    assert_int_equal(tls_scache_lookup(c, "new", 4000, &out, &err), 1);
    assert_int_equal(tls_scache_delete(c, "new", &err), 0);
    assert_int_equal(tls_scache_delete(c, "new", &err), 0);
    assert_int_equal(tls_scache_lookup(c, "new", 4000, &out, &err), 0);
    /* Bounds. */
    assert_int_equal(tls_scache_update(c, "x", der, 0, 1, &err), -1);
    assert_int_equal(tls_scache_update(c, "x", der, TLS_SESSION_MAX + 1, 1, &err), -1);
    tls_scache_close(&c);
    assert_null(c);

    /* Opening again starts empty (Postfix's tlsmgr drops old sessions). */
    c = tls_scache_open(spec("btree"), 3600, getuid(), getgid(), &err);
    assert_non_null(c);
    assert_int_equal(tls_scache_update(c, "k", der, 3, 1, &err), 0);
    tls_scache_close(&c);
    c = tls_scache_open(spec("btree"), 3600, getuid(), getgid(), &err);
    assert_int_equal(tls_scache_lookup(c, "k", 1, &out, &err), 0);
    tls_scache_close(&c);
    unlink(path);
    strbuf_release(&err);
    strbuf_release(&out);
}

static void types_and_paths(void **state)
{
    strbuf err = STRBUF_INIT;
    tls_scache *c = tls_scache_open(spec("hash"), 60, getuid(), getgid(), &err);
    assert_non_null(c);
    tls_scache_close(&c);
    char path[300];
    snprintf(path, sizeof(path), "%s/scache.db", dir);
    unlink(path);
    assert_null(tls_scache_open(spec("lmdb"), 60, getuid(), getgid(), &err));
    assert_non_null(strstr(strbuf_str(&err), "unsupported session cache type"));
    strbuf_reset(&err);
    assert_null(tls_scache_open("btree:relative/x", 60, getuid(), getgid(), &err));
    assert_non_null(strstr(strbuf_str(&err), "absolute path"));
    strbuf_reset(&err);
    assert_null(tls_scache_open("nocolon", 60, getuid(), getgid(), &err));
    /* A symlink in the cache's place is removed, never followed. */
    char target[300];
    snprintf(target, sizeof(target), "%s/victim", dir);
    FILE *f = fopen(target, "w");
    assert_non_null(f);
    fputs("precious\n", f);
    fclose(f);
    assert_int_equal(symlink(target, path), 0);
    c = tls_scache_open(spec("btree"), 60, getuid(), getgid(), &err);
    assert_non_null(c);
    tls_scache_close(&c);
    struct stat st;
    assert_int_equal(lstat(path, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(stat(target, &st), 0);
    assert_int_equal(st.st_size, 9);
    unlink(path);
    unlink(target);
    strbuf_release(&err);
}

int main(void)
{
    msg_init("test_tls_scache", true);
    if (!mkdtemp(dir))
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(store_lookup_expire),
        cmocka_unit_test(types_and_paths),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    rmdir(dir);
    return rc;
}
