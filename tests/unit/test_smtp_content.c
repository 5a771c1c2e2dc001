/* Unit tests: queue file content to SMTP DATA (smtp/smtp_content.c): CRLF,
 * dot-stuffing, long lines split into 'L' records, 8-bit detection. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "fsutil.h"
#include "queue_file.h"
#include "smtp.h"

/* smtp_content.c reaches smtp_generic.c (header rewriting), which reads the
 * client settings smtp.c keeps; here: the SMTP client, no tables. */
struct smtp_config smtp_cfg;

static void wire(const char *const *pieces, const bool *ends, size_t n, const char *expect)
{
    strbuf out = STRBUF_INIT;
    bool bol = true;
    for (size_t i = 0; i < n; i++)
        smtp_wire_piece(&out, pieces[i], strlen(pieces[i]), ends[i], &bol);
    assert_string_equal(out.s ? out.s : "", expect);
    strbuf_release(&out);
}

static void dot_stuffing_and_crlf(void **state)
{
    (void)state;
    const char *p1[] = {"hello", ".", "..x", "a.b", ""};
    const bool e1[] = {true, true, true, true, true};
    wire(p1, e1, 5, "hello\r\n..\r\n...x\r\na.b\r\n\r\n");
    /* Pieces of one line: only the first can be a line start. */
    const char *p2[] = {".ab", ".cd", "ef", ".g"};
    const bool e2[] = {false, false, true, true};
    wire(p2, e2, 4, "..ab.cdef\r\n..g\r\n");
    /* An empty piece before the real start doesn't hide the dot. */
    const char *p3[] = {"", ".x"};
    const bool e3[] = {false, true};
    wire(p3, e3, 2, "..x\r\n");
}

static char qdir[] = "/tmp/test_smtp_content.XXXXXX";

static int make_file(const char *const *lines, size_t n, const char *encoding, strbuf *id)
{
    strbuf err = STRBUF_INIT;
    queue_file *qf = queue_file_create(qdir, "incoming", false, QF_MIN_RECORD_LIMIT, &err);
    assert_non_null(qf);
    strbuf_set(id, queue_file_id(qf));
    struct timeval tv = {1700000000, 0};
    queue_file_put_time(qf, &tv);
    queue_file_put_sender(qf, "a@b");
    if (encoding)
        queue_file_put_attr_str(qf, "encoding", encoding);
    struct queue_file_rcpt_in rc = {.address = "c@d"};
    queue_file_put_rcpt(qf, &rc, NULL);
    queue_file_begin_content(qf);
    for (size_t i = 0; i < n; i++)
        queue_file_put_text(qf, lines[i], strlen(lines[i]), true);
    assert_int_equal(queue_file_commit(&qf, &err), 0);
    int fd = queue_file_open(qdir, "incoming", 0, id->s, false, &err);
    assert_true(fd >= 0);
    strbuf_release(&err);
    return fd;
}

static void send_file(void **state)
{
    (void)state;
    assert_non_null(mkdtemp(qdir));
    strbuf path = STRBUF_INIT;
    strbuf_printf(&path, "%s/incoming", qdir);
    assert_int_equal(mkdir(path.s, 0700), 0);

    char longline[300];
    memset(longline, 'x', sizeof(longline) - 1);
    longline[0] = '.';
    longline[sizeof(longline) - 1] = 0;
    const char *lines[] = {"Subject: t", "", ".dot", longline, "end"};
    strbuf id = STRBUF_INIT, err = STRBUF_INIT;
    struct smtp_message m = {0};
    m.fd = make_file(lines, 5, NULL, &id);
    assert_int_equal(smtp_message_scan(&m, &err), 0);
    assert_false(m.eight_bit);
    assert_false(m.smtputf8);
    assert_true(m.content_size > 300);

    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    stream *st = stream_open(sv[0]);
    stream_set_timeout(st, 5000);
    assert_int_equal(smtp_content_send(st, &m, &err), 0);
    stream_close(&st);
    strbuf got = STRBUF_INIT;
    char buf[4096];
    ssize_t n;
    while ((n = read(sv[1], buf, sizeof(buf))) > 0)
        strbuf_append(&got, buf, (size_t)n);
    close(sv[1]);
    strbuf expect = STRBUF_INIT;
    strbuf_printf(&expect, "Subject: t\r\n\r\n..dot\r\n.%s\r\nend\r\n.\r\n", longline);
    assert_int_equal(got.len, expect.len);
    assert_memory_equal(got.s, expect.s, got.len);
    close(m.fd);

    /* 8-bit content is noticed; so is BODY=8BITMIME from submission. */
    const char *eight[] = {"Subject: t", "", "Gr\xc3\xbc\xc3\x9f!"};
    struct smtp_message m2 = {0};
    m2.fd = make_file(eight, 3, NULL, &id);
    assert_int_equal(smtp_message_scan(&m2, &err), 0);
    assert_true(m2.eight_bit);
    close(m2.fd);
    const char *seven[] = {"Subject: t", "", "plain"};
    struct smtp_message m3 = {0};
    m3.fd = make_file(seven, 3, "8BITMIME", &id);
    assert_int_equal(smtp_message_scan(&m3, &err), 0);
    assert_true(m3.eight_bit);
    close(m3.fd);

    strbuf_release(&got);
    strbuf_release(&expect);
    strbuf_release(&id);
    strbuf_release(&err);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", qdir);
    assert_int_equal(system(cmd), 0);
    strbuf_release(&path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(dot_stuffing_and_crlf),
        cmocka_unit_test(send_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
