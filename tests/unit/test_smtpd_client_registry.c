/* Unit tests: client_registry (shared connection counts and rates).
 * Each client_registry_open is its own open file description, so several
 * handles in one process behave like several smtpd processes. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "smtpd_client_registry.h"
#include "strbuf.h"

static char tmpdir[64];
static char path[128];

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_client_registry.XXXXXX");
    if (!mkdtemp(tmpdir))
        return -1;
    snprintf(path, sizeof(path), "%s/registry", tmpdir);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    (void)unlink(path);
    return rmdir(tmpdir);
}

static client_registry *open_reg(size_t nconn, size_t nrate)
{
    strbuf err = STRBUF_INIT;
    client_registry *r = client_registry_open(path, nconn, nrate, &err);
    if (!r)
        fail_msg("open: %s", strbuf_str(&err));
    strbuf_release(&err);
    return r;
}

static struct client_registry_result conn(client_registry *r, const char *svc, const char *addr,
                                          bool count, long long window, time_t now)
{
    struct client_registry_result res;
    strbuf err = STRBUF_INIT;
    if (client_registry_connect(r, svc, addr, count, window, now, &res, &err) < 0)
        fail_msg("connect: %s", strbuf_str(&err));
    strbuf_release(&err);
    return res;
}

static long count(client_registry *r, const char *svc, const char *addr)
{
    strbuf err = STRBUF_INIT;
    long n = client_registry_count(r, svc, addr, &err);
    if (n < 0)
        fail_msg("count: %s", strbuf_str(&err));
    strbuf_release(&err);
    return n;
}

static void test_counts_per_service_and_address(void **state)
{
    (void)state;
    client_registry *h[5];
    for (int i = 0; i < 5; i++)
        h[i] = open_reg(16, 16);
    assert_int_equal(conn(h[0], "smtp", "192.0.2.1", true, 0, 100).count, 1);
    assert_int_equal(conn(h[1], "smtp", "192.0.2.1", true, 0, 100).count, 2);
    assert_int_equal(conn(h[2], "smtp", "192.0.2.1", true, 0, 100).count, 3);
    /* Another client, and the same client on another service, count apart. */
    assert_int_equal(conn(h[3], "smtp", "192.0.2.2", true, 0, 100).count, 1);
    struct client_registry_result r = conn(h[4], "submission", "192.0.2.1", true, 0, 100);
    assert_int_equal(r.count, 1);
    assert_true(r.registered);
    assert_int_equal(r.rate, 0);
    assert_int_equal(count(h[4], "smtp", "192.0.2.1"), 3);
    /* Prefix tricks do not merge keys. */
    assert_int_equal(count(h[4], "smtp1", "92.0.2.1"), 0);

    client_registry_disconnect(h[1]);
    assert_int_equal(count(h[0], "smtp", "192.0.2.1"), 2);
    client_registry_disconnect(h[1]); /* twice is harmless */
    /* A handle's new connection replaces its old one. */
    assert_int_equal(conn(h[0], "smtp", "192.0.2.9", true, 0, 100).count, 1);
    assert_int_equal(count(h[3], "smtp", "192.0.2.1"), 1);
    for (int i = 0; i < 5; i++)
        client_registry_close(&h[i]);
    assert_null(h[0]);
    client_registry *fresh = open_reg(16, 16);
    assert_int_equal(count(fresh, "smtp", "192.0.2.1"), 0);
    client_registry_close(&fresh);
}

/* The point of the design: a SIGKILLed holder never leaks a count. */
static void test_killed_holder_does_not_leak(void **state)
{
    (void)state;
    int ready[2];
    assert_int_equal(pipe(ready), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(ready[0]);
        strbuf err = STRBUF_INIT;
        client_registry *r = client_registry_open(path, 8, 8, &err);
        struct client_registry_result res;
        if (!r || client_registry_connect(r, "smtp", "198.51.100.7", true, 0, 1, &res, &err) < 0)
            _exit(2);
        if (write(ready[1], "x", 1) != 1)
            _exit(3);
        for (;;)
            pause();
    }
    close(ready[1]);
    char c;
    assert_int_equal(read(ready[0], &c, 1), 1);
    close(ready[0]);
    client_registry *r = open_reg(8, 8);
    assert_int_equal(count(r, "smtp", "198.51.100.7"), 1);
    assert_int_equal(kill(pid, SIGKILL), 0);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    /* The dead process's record is still in the file, but not its lock. */
    assert_int_equal(count(r, "smtp", "198.51.100.7"), 0);
    assert_int_equal(conn(r, "smtp", "198.51.100.7", true, 0, 2).count, 1);
    client_registry_close(&r);
}

static void test_full_table_counts_without_registering(void **state)
{
    (void)state;
    client_registry *h[3];
    for (int i = 0; i < 3; i++)
        h[i] = open_reg(2, 2);
    assert_true(conn(h[0], "smtp", "a", true, 0, 1).registered);
    assert_true(conn(h[1], "smtp", "a", true, 0, 1).registered);
    struct client_registry_result r = conn(h[2], "smtp", "a", true, 0, 1);
    assert_false(r.registered);
    assert_int_equal(r.count, 3);
    client_registry_disconnect(h[0]);
    r = conn(h[2], "smtp", "a", true, 0, 1);
    assert_true(r.registered);
    assert_int_equal(r.count, 2);
    for (int i = 0; i < 3; i++)
        client_registry_close(&h[i]);
}

static void test_rate_windows(void **state)
{
    (void)state;
    client_registry *r = open_reg(4, 2);
    assert_int_equal(conn(r, "smtp", "a", false, 60, 1000).rate, 1);
    assert_int_equal(conn(r, "smtp", "a", false, 60, 1010).rate, 2);
    struct client_registry_result res = conn(r, "smtp", "a", false, 60, 1059);
    assert_int_equal(res.rate, 3);
    assert_int_equal(res.count, 0);
    assert_false(res.registered);
    /* Next window starts over; a clock that went back starts over too. */
    assert_int_equal(conn(r, "smtp", "a", false, 60, 1060).rate, 1);
    assert_int_equal(conn(r, "smtp", "a", false, 60, 500).rate, 1);
    /* Rate and count together. */
    res = conn(r, "smtp", "b", true, 60, 500);
    assert_int_equal(res.rate, 1);
    assert_int_equal(res.count, 1);
    /* Table of 2 full (a, b): a third client evicts the oldest window (a). */
    assert_int_equal(conn(r, "smtp", "b", false, 60, 501).rate, 2);
    assert_int_equal(conn(r, "smtp", "c", false, 60, 502).rate, 1);
    assert_int_equal(conn(r, "smtp", "b", false, 60, 503).rate, 3);
    assert_int_equal(conn(r, "smtp", "a", false, 60, 504).rate, 1);
    client_registry_close(&r);
}

static void test_geometry_and_bad_files(void **state)
{
    (void)state;
    strbuf err = STRBUF_INIT;
    assert_null(client_registry_open(path, 0, 4, &err));
    assert_non_null(strstr(strbuf_str(&err), "bad geometry"));
    assert_null(client_registry_open(path, 4, CLIENT_REGISTRY_MAX_SLOTS + 1, &err));
    /* Garbage is replaced by a fresh table. */
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "garbage", 7), 7);
    close(fd);
    client_registry *a = open_reg(4, 4);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_size, 64 + 8 * 32);
    assert_int_equal(st.st_mode & 07777, 0600);
    /* A later opener keeps the file's geometry, whatever it asks for. */
    client_registry *b = open_reg(100, 100);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_size, 64 + 8 * 32);
    for (int i = 0; i < 3; i++)
        assert_true(conn(i == 2 ? a : b, "s", "x", true, 0, 1).registered);
    client_registry_close(&a);
    client_registry_close(&b);
    /* A symlink is refused (O_NOFOLLOW). */
    assert_int_equal(unlink(path), 0);
    assert_int_equal(symlink("/etc/passwd", path), 0);
    assert_null(client_registry_open(path, 4, 4, &err));
    assert_int_equal(unlink(path), 0);
    strbuf_release(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_counts_per_service_and_address, setup, teardown),
        cmocka_unit_test_setup_teardown(test_killed_holder_does_not_leak, setup, teardown),
        cmocka_unit_test_setup_teardown(test_full_table_counts_without_registering, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_rate_windows, setup, teardown),
        cmocka_unit_test_setup_teardown(test_geometry_and_bad_files, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
