/* mailbox_test_files - what the mailbox writer tests (test_mailbox_maildir.c,
 * test_mailbox_mbox.c) share: a temporary directory per test group
 * (setup/teardown) and reading back what was delivered. Include it after
 * <cmocka.h> (its helpers assert). */
#ifndef MTA_TEST_MAILBOX_TEST_FILES_H
#define MTA_TEST_MAILBOX_TEST_FILES_H
#include <stdio.h>
#include <stdlib.h>

static char tmpdir[64];

static int setup(void **state)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/mta-test-XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
    return 0;
}

static int teardown(void **state)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static char *read_file(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    rewind(fp);
    char *buf = malloc((size_t)n + 1);
    assert_int_equal(fread(buf, 1, (size_t)n, fp), (size_t)n);
    buf[n] = '\0';
    fclose(fp);
    *len = (size_t)n;
    return buf;
}

#endif
