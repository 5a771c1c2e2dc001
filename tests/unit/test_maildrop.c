/* Unit tests: maildrop (the strict gate pickup applies to maildrop files):
 * a file as postdrop writes it loads; truncated, bit-flipped, padded and
 * forged files are refused without crashing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "maildrop.h"
#include "msg.h"
#include "queue_file.h"
#include "strbuf.h"

#define LIMIT 4096

static char root[] = "/tmp/test_maildropXXXXXX";

/* Write a maildrop file like postdrop (plus `extra_attr` when not NULL, and
 * nrcpt recipients); returns its contents. */
static void write_file(strbuf *contents, const char *extra_attr, int nrcpt)
{
    strbuf err = STRBUF_INIT;
    queue_file *qf = queue_file_create(root, "maildrop", false, LIMIT, &err);
    assert_non_null(qf);
    assert_int_equal(queue_file_put_time(qf, queue_file_ctime(qf)), 0);
    assert_int_equal(queue_file_put_sender(qf, "user@example.org"), 0);
    assert_int_equal(queue_file_put_fullname(qf, "A User"), 0);
    assert_int_equal(queue_file_put_attr_str(qf, MAILDROP_ATTR_ENVID, "env1"), 0);
    if (extra_attr)
        assert_int_equal(queue_file_put_attr_str(qf, extra_attr, "x"), 0);
    for (int i = 0; i < nrcpt; i++) {
        char addr[32];
        snprintf(addr, sizeof(addr), "r%d@example.net", i);
        struct queue_file_rcpt_in r = {.address = addr, .notify = QF_NOTIFY_FAILURE};
        assert_int_equal(queue_file_put_rcpt(qf, &r, NULL), 0);
    }
    assert_int_equal(queue_file_begin_content(qf), 0);
    assert_int_equal(queue_file_put_text(qf, "Subject: hi", 11, true), 0);
    assert_int_equal(queue_file_put_text(qf, "", 0, true), 0);
    assert_int_equal(queue_file_put_text(qf, "body", 4, true), 0);
    strbuf path = STRBUF_INIT;
    strbuf_printf(&path, "%s/maildrop/%s", root, queue_file_id(qf));
    assert_int_equal(queue_file_commit(&qf, &err), 0);
    FILE *fp = fopen(strbuf_str(&path), "r");
    assert_non_null(fp);
    char buf[8192];
    size_t n;
    strbuf_reset(contents);
    while ((n = fread(buf, 1, sizeof(buf), fp)) > 0)
        strbuf_append(contents, buf, n);
    fclose(fp);
    unlink(strbuf_str(&path));
    strbuf_release(&path);
    strbuf_release(&err);
}

/* Load bytes through a temporary file. */
static int load(const char *data, size_t len, size_t max_rcpt, struct maildrop_msg *m, strbuf *err)
{
    char path[] = "/tmp/test_maildrop_fileXXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
    strbuf_reset(err);
    memset(m, 0, sizeof(*m));
    int rc = maildrop_load(fd, LIMIT, max_rcpt, m, err);
    close(fd);
    return rc;
}

static void good_file_loads(void **state)
{
    (void)state;
    strbuf c = STRBUF_INIT, err = STRBUF_INIT;
    write_file(&c, NULL, 2);
    struct maildrop_msg m;
    assert_int_equal(load(c.s, c.len, 10, &m, &err), 0);
    assert_string_equal(strbuf_str(&m.sender), "user@example.org");
    assert_true(m.have_fullname);
    assert_string_equal(strbuf_str(&m.envid), "env1");
    assert_int_equal(m.nrcpt, 2);
    assert_string_equal(m.rcpt[1].address, "r1@example.net");
    maildrop_msg_release(&m);
    /* Too many recipients for max_rcpt. */
    assert_int_equal(load(c.s, c.len, 1, &m, &err), -1);
    assert_true(err.len > 0);
    maildrop_msg_release(&m);
    strbuf_release(&c);
    strbuf_release(&err);
}

static void forged_attribute_refused(void **state)
{
    (void)state;
    strbuf c = STRBUF_INIT, err = STRBUF_INIT;
    write_file(&c, "client_address", 1); /* an identity claim postdrop never writes */
    struct maildrop_msg m;
    assert_int_equal(load(c.s, c.len, 10, &m, &err), -1);
    assert_true(err.len > 0);
    maildrop_msg_release(&m);
    strbuf_release(&c);
    strbuf_release(&err);
}

static void corrupt_files_refused(void **state)
{
    (void)state;
    strbuf c = STRBUF_INIT, err = STRBUF_INIT;
    write_file(&c, NULL, 3);
    struct maildrop_msg m;
    /* Every truncation is refused (the END record is last). */
    for (size_t n = 0; n < c.len; n++) {
        if (load(c.s, n, 10, &m, &err) != -1)
            fail_msg("accepted a file truncated to %zu of %zu bytes", n, c.len);
        maildrop_msg_release(&m);
    }
    /* Trailing garbage after END is refused. */
    strbuf padded = STRBUF_INIT;
    strbuf_append(&padded, c.s, c.len);
    strbuf_append(&padded, "E\0\0\0\0", 5);
    assert_int_equal(load(padded.s, padded.len, 10, &m, &err), -1);
    maildrop_msg_release(&m);
    strbuf_release(&padded);
    /* Any single byte changed: no crash, and what loads is still bounded. */
    strbuf flip = STRBUF_INIT;
    static const unsigned char values[] = {0x00, 0xff, 0x80, '\n', 'E', 'R'};
    for (size_t i = 0; i < c.len; i++)
        for (size_t v = 0; v < sizeof(values); v++) {
            strbuf_set(&flip, "");
            strbuf_append(&flip, c.s, c.len);
            flip.s[i] = (char)values[v];
            if (load(flip.s, flip.len, 10, &m, &err) == 0) {
                assert_true(m.nrcpt <= 10);
                for (size_t r = 0; r < m.nrcpt; r++)
                    assert_null(strpbrk(m.rcpt[r].address, "\r\n"));
            }
            maildrop_msg_release(&m);
        }
    strbuf_release(&flip);
    strbuf_release(&c);
    strbuf_release(&err);
}

static int setup(void **state)
{
    (void)state;
    msg_init("test_maildrop", false);
    if (!mkdtemp(root))
        return -1;
    strbuf d = STRBUF_INIT;
    strbuf_printf(&d, "%s/maildrop", root);
    int rc = mkdir(strbuf_str(&d), 0700);
    strbuf_release(&d);
    return rc;
}

static int teardown(void **state)
{
    (void)state;
    strbuf cmd = STRBUF_INIT;
    strbuf_printf(&cmd, "rm -rf '%s'", root);
    int rc = system(strbuf_str(&cmd));
    strbuf_release(&cmd);
    return rc == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(good_file_loads),
        cmocka_unit_test(forged_attribute_refused),
        cmocka_unit_test(corrupt_files_refused),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
