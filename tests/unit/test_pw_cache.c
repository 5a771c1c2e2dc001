/* Unit tests: pw_cache (answers from a parsed passwd file while it is
 * unchanged and nsswitch.conf puts files first; getpwnam otherwise). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "pw_cache.h"

static char dir[] = "/tmp/test_pw_cache.XXXXXX";
static char passwd[128], nsswitch[128];

static void write_file(const char *path, const char *text)
{
    /* Through a new file and rename, as vipw and useradd replace it. */
    char tmp[160];
    snprintf(tmp, sizeof(tmp), "%s.new", path);
    FILE *fp = fopen(tmp, "w");
    assert_non_null(fp);
    fputs(text, fp);
    assert_int_equal(fclose(fp), 0);
    assert_int_equal(rename(tmp, path), 0);
}

static int setup(void **state)
{
    (void)state;
    if (mkdtemp(dir) == NULL)
        return -1;
    snprintf(passwd, sizeof(passwd), "%s/passwd", dir);
    snprintf(nsswitch, sizeof(nsswitch), "%s/nsswitch.conf", dir);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    unlink(passwd);
    unlink(nsswitch);
    return rmdir(dir);
}

static void files_first_reads_the_file_and_sees_changes(void **state)
{
    (void)state;
    write_file(nsswitch, "# comment\ngroup: files\npasswd:   files systemd\n");
    write_file(passwd, "alice:x:1001:1002:Alice:/home/alice:/bin/sh\n"
                       "bob:x:1003:1004::/home/bob:/bin/bash\n"
                       "alice:x:2001:2002::/elsewhere:/bin/false\n");
    pw_cache c = PW_CACHE_INIT(passwd, nsswitch);
    struct pw_cache_entry e;
    assert_int_equal(pw_cache_lookup(&c, "alice", &e), 1);
    assert_string_equal(e.name, "alice");
    assert_int_equal(e.uid, 1001); /* the first line with the name */
    assert_int_equal(e.gid, 1002);
    assert_string_equal(e.dir, "/home/alice");
    assert_string_equal(e.shell, "/bin/sh");
    assert_string_equal(e.passwd, "x");
    assert_string_equal(e.gecos, "Alice");
    assert_int_equal(pw_cache_lookup(&c, "bob", &e), 1);
    assert_int_equal(e.uid, 1003);
    assert_string_equal(e.dir, "/home/bob");
    assert_string_equal(e.gecos, "");
    /* Not in the file: getpwnam's answer (root is in the system's). */
    struct passwd *root = getpwnam("root");
    assert_non_null(root);
    assert_int_equal(pw_cache_lookup(&c, "root", &e), 1);
    assert_int_equal(e.uid, 0);
    assert_string_equal(e.passwd, root->pw_passwd);
    assert_string_equal(e.gecos, root->pw_gecos);
    /* Not found is told from a failure by errno, as with getpwnam: a stale
     * errno from before the call must not look like a failed lookup. */
    errno = EIO;
    assert_int_equal(pw_cache_lookup(&c, "no-such-user-pw-cache", &e), 0);
    assert_true(errno == 0 || errno == ENOENT || errno == ESRCH || errno == EBADF ||
                errno == EPERM);

    /* A changed file is read again: bob moved, carol is new. */
    write_file(passwd, "bob:x:1003:1004::/srv/bob:/bin/sh\ncarol:x:1005:1005::/home/carol:\n");
    assert_int_equal(pw_cache_lookup(&c, "bob", &e), 1);
    assert_string_equal(e.dir, "/srv/bob");
    assert_int_equal(pw_cache_lookup(&c, "carol", &e), 1);
    assert_int_equal(e.uid, 1005);
    assert_string_equal(e.shell, "");
    assert_int_equal(pw_cache_lookup(&c, "alice", &e), 0);

    /* The same size and name, changed in place (same inode): still seen. */
    FILE *fp = fopen(passwd, "r+");
    assert_non_null(fp);
    struct timespec pause = {0, 20 * 1000 * 1000};
    nanosleep(&pause, NULL);
    fputs("bob:x:1003:1004::/srv/bxb", fp);
    assert_int_equal(fclose(fp), 0);
    assert_int_equal(pw_cache_lookup(&c, "bob", &e), 1);
    assert_string_equal(e.dir, "/srv/bxb");
    pw_cache_release(&c);
}

static void other_source_first_is_getpwnam(void **state)
{
    (void)state;
    /* A file that disagrees with the system: with ldap first it is not
     * what getpwnam consults, so it must not be answered from. */
    write_file(passwd, "root:x:4242:4242::/fake:/bin/sh\n");
    write_file(nsswitch, "passwd: ldap files\n");
    pw_cache c = PW_CACHE_INIT(passwd, nsswitch);
    struct pw_cache_entry e;
    assert_int_equal(pw_cache_lookup(&c, "root", &e), 1);
    assert_int_equal(e.uid, 0);
    /* nsswitch.conf changed to files first: the file is used now. */
    write_file(nsswitch, "passwd: files\n");
    assert_int_equal(pw_cache_lookup(&c, "root", &e), 1);
    assert_int_equal(e.uid, 4242);
    assert_string_equal(e.dir, "/fake");
    /* No passwd line at all: glibc's default, getpwnam. */
    write_file(nsswitch, "group: files\n");
    assert_int_equal(pw_cache_lookup(&c, "root", &e), 1);
    assert_int_equal(e.uid, 0);
    /* No nsswitch.conf: getpwnam. */
    unlink(nsswitch);
    assert_int_equal(pw_cache_lookup(&c, "root", &e), 1);
    assert_int_equal(e.uid, 0);
    pw_cache_release(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(files_first_reads_the_file_and_sees_changes),
        cmocka_unit_test(other_source_first_is_getpwnam),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
