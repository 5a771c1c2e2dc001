/* postcat_print: the Postfix postcat layout of a queue file written by the
 * queue_file writer; section selection (-e -h -b), offsets; hostile and
 * corrupt files (every truncation, every single-byte change) never crash
 * the printer and are refused exactly when queue_file_validate refuses
 * them; control characters from the envelope never reach the terminal. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "postcat_print.h"
#include "queue_file.h"
#include "strbuf.h"

#define LIMIT 4096

static char qdir[] = "/tmp/test_postcat_XXXXXX";
static strbuf path;

static int setup(void **state)
{
    (void)state;
    setenv("TZ", "UTC", 1);
    if (!mkdtemp(qdir))
        return -1;
    strbuf_printf(&path, "%s/incoming", qdir);
    return mkdir(strbuf_str(&path), 0700);
}

static int teardown(void **state)
{
    (void)state;
    strbuf cmd = STRBUF_INIT;
    strbuf_printf(&cmd, "rm -rf '%s'", qdir);
    int rc = system(strbuf_str(&cmd));
    strbuf_release(&cmd);
    strbuf_release(&path);
    return rc == 0 ? 0 : -1;
}

/* A committed message; returns an fd open on it (the path in *file). */
static int make_message(const char *sender, strbuf *file)
{
    strbuf err = STRBUF_INIT;
    queue_file *qf = queue_file_create(qdir, "incoming", false, LIMIT, &err);
    assert_non_null(qf);
    strbuf_set(file, queue_file_path(qf));
    struct timeval tv = {1700000000, 0};
    assert_int_equal(queue_file_put_time(qf, &tv), 0);
    assert_int_equal(queue_file_put_sender(qf, sender), 0);
    assert_int_equal(queue_file_put_attr_str(qf, "client_name", "localhost"), 0);
    struct queue_file_rcpt_in r1 = {"bob@example.org", "bob", "rfc822;bob@example.org",
                                    QF_NOTIFY_FAILURE | QF_NOTIFY_DELAY};
    struct queue_file_rcpt_in r2 = {"carol@example.org", NULL, NULL, 0};
    off_t off2;
    assert_int_equal(queue_file_put_rcpt(qf, &r1, NULL), 0);
    assert_int_equal(queue_file_put_rcpt(qf, &r2, &off2), 0);
    assert_int_equal(queue_file_begin_content(qf), 0);
    static const char *const lines[] = {"Subject: hello", "X-Long: folded",
                                        "\tcontinued",    "",
                                        "Body line 1",    "From: not a header in the body"};
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
        assert_int_equal(queue_file_put_text(qf, lines[i], strlen(lines[i]), true), 0);
    assert_int_equal(queue_file_begin_extract(qf), 0);
    assert_int_equal(queue_file_commit(&qf, &err), 0);
    int fd = open(strbuf_str(file), O_RDWR);
    assert_true(fd >= 0);
    assert_int_equal(queue_file_mark_recipient(fd, off2, QF_RCPT_DELIVERED, &err), 0);
    strbuf_release(&err);
    return fd;
}

static char *print(int fd, int flags, int *rc)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    assert_non_null(out);
    strbuf err = STRBUF_INIT;
    *rc = postcat_print(fd, "incoming/ID", flags, LIMIT, out, &err);
    fclose(out);
    strbuf_release(&err);
    return buf;
}

static void full_layout(void **state)
{
    (void)state;
    strbuf file = STRBUF_INIT;
    int fd = make_message("alice@example.org", &file);
    int rc;
    char *out = print(fd, 0, &rc);
    assert_int_equal(rc, 0);
    const char *want_in_order[] = {
        "*** ENVELOPE RECORDS incoming/ID ***\n",
        "message_size:",
        "message_arrival_time: Tue Nov 14 22:13:20 2023\n",
        "sender: alice@example.org\n",
        "named_attribute: client_name=localhost\n",
        "dsn_original_recipient: rfc822;bob@example.org\n",
        "dsn_notify_flags: 12 (FAILURE,DELAY)\n",
        "original_recipient: bob\n",
        "recipient: bob@example.org\n",
        "done_recipient: carol@example.org\n",
        "*** MESSAGE CONTENTS incoming/ID ***\n",
        "Subject: hello\nX-Long: folded\n\tcontinued\n\nBody line 1\n",
        "*** HEADER EXTRACTED incoming/ID ***\n",
        "*** MESSAGE FILE END incoming/ID ***\n",
    };
    const char *at = out;
    for (size_t i = 0; i < sizeof(want_in_order) / sizeof(want_in_order[0]); i++) {
        const char *p = strstr(at, want_in_order[i]);
        if (!p)
            fail_msg("missing (in order) \"%s\" in:\n%s", want_in_order[i], out);
        at = p + strlen(want_in_order[i]);
    }
    free(out);
    close(fd);
    unlink(strbuf_str(&file));
    strbuf_release(&file);
}

static void sections(void **state)
{
    (void)state;
    strbuf file = STRBUF_INIT;
    int fd = make_message("alice@example.org", &file);
    int rc;
    char *out = print(fd, POSTCAT_HEADER, &rc);
    assert_int_equal(rc, 0);
    assert_string_equal(out, "*** MESSAGE CONTENTS incoming/ID ***\n"
                             "Subject: hello\nX-Long: folded\n\tcontinued\n");
    free(out);
    out = print(fd, POSTCAT_BODY, &rc);
    assert_string_equal(out, "*** MESSAGE CONTENTS incoming/ID ***\n"
                             "\nBody line 1\nFrom: not a header in the body\n");
    free(out);
    out = print(fd, POSTCAT_ENVELOPE, &rc);
    assert_null(strstr(out, "Subject"));
    assert_non_null(strstr(out, "sender: alice@example.org\n"));
    assert_non_null(strstr(out, "*** MESSAGE FILE END"));
    free(out);
    /* -o: each record line starts with its offset, 9 columns. */
    out = print(fd, POSTCAT_ENVELOPE | POSTCAT_OFFSET | POSTCAT_DECIMAL, &rc);
    assert_non_null(strstr(out, "        0  67 message_size:"));
    free(out);
    close(fd);
    unlink(strbuf_str(&file));
    strbuf_release(&file);
}

static void control_characters_masked(void **state)
{
    (void)state;
    strbuf file = STRBUF_INIT;
    int fd = make_message("evil\033[2J\r@example.org", &file);
    int rc;
    char *out = print(fd, POSTCAT_ENVELOPE, &rc);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "sender: evil?[2J?@example.org\n"));
    assert_null(strchr(out, '\033'));
    free(out);
    close(fd);
    unlink(strbuf_str(&file));
    strbuf_release(&file);
}

/* Every truncation and every single-byte change of a valid file: the
 * printer agrees with the reader's own validation and never crashes. */
static void corrupt_files(void **state)
{
    (void)state;
    strbuf file = STRBUF_INIT, copy = STRBUF_INIT, err = STRBUF_INIT;
    int fd = make_message("alice@example.org", &file);
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    size_t size = (size_t)st.st_size;
    unsigned char *orig = malloc(size);
    assert_int_equal(pread(fd, orig, size, 0), (ssize_t)size);
    close(fd);
    strbuf_printf(&copy, "%s/copy", qdir);
    unsigned long refused = 0;
    for (size_t cut = 0; cut <= 2 * size; cut++) {
        int w = open(strbuf_str(&copy), O_RDWR | O_CREAT | O_TRUNC, 0600);
        assert_true(w >= 0);
        size_t len = cut <= size ? cut : size;
        unsigned char *data = malloc(size);
        memcpy(data, orig, size);
        if (cut > size) /* the second half: flip one byte, keep the length */
            data[cut - size - 1] ^= 0xa5;
        assert_int_equal(write(w, data, len), (ssize_t)len);
        free(data);
        int rc;
        char *out = print(w, 0, &rc);
        free(out);
        int valid = queue_file_validate(w, LIMIT, &err);
        assert_int_equal(rc, valid);
        refused += rc < 0;
        close(w);
    }
    /* Every truncation is refused (END is the last record). */
    assert_true(refused >= size);
    unlink(strbuf_str(&copy));
    unlink(strbuf_str(&file));
    free(orig);
    strbuf_release(&file);
    strbuf_release(&copy);
    strbuf_release(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(full_layout),
        cmocka_unit_test(sections),
        cmocka_unit_test(control_characters_masked),
        cmocka_unit_test(corrupt_files),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
