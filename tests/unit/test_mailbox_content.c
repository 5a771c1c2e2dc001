/* Unit tests: mailbox_content (a queued message rendered for a Maildir, an
 * mbox and a command; the Delivered-To scan; copying into a delivery under
 * a size limit; how a failed write ends for the recipient). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "mail_copy.h"
#include "mailbox_content.h"
#include "queue_file.h"

static char qdir[] = "/tmp/test_mailbox_content.XXXXXX";
static const time_t ARRIVAL = 1700000000;
/* Shorter than the long line below: the queue file splits it into parts. */
#define LIMIT QF_MIN_RECORD_LIMIT

static int setup(void **state)
{
    (void)state;
    assert_non_null(mkdtemp(qdir));
    char path[96];
    snprintf(path, sizeof(path), "%s/incoming", qdir);
    return mkdir(path, 0700);
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", qdir);
    return system(cmd) == 0 ? 0 : -1;
}

/* A committed queue file with `lines` as its content; returns it open. */
static int make_file(const char *const *lines, size_t n)
{
    strbuf err = STRBUF_INIT;
    queue_file *qf = queue_file_create(qdir, "incoming", false, LIMIT, &err);
    assert_non_null(qf);
    strbuf id = STRBUF_INIT;
    strbuf_set(&id, queue_file_id(qf));
    struct timeval tv = {ARRIVAL, 0};
    queue_file_put_time(qf, &tv);
    queue_file_put_sender(qf, "sender@example.org");
    struct queue_file_rcpt_in rc = {.address = "rcpt@example.com"};
    queue_file_put_rcpt(qf, &rc, NULL);
    queue_file_begin_content(qf);
    for (size_t i = 0; i < n; i++)
        queue_file_put_text(qf, lines[i], strlen(lines[i]), true);
    assert_int_equal(queue_file_commit(&qf, &err), 0);
    int fd = queue_file_open(qdir, "incoming", 0, id.s, false, &err);
    assert_true(fd >= 0);
    strbuf_release(&err);
    strbuf_release(&id);
    return fd;
}

/* Everything mailbox_render yields for m, into out. */
static void render_message(const struct mailbox_message *m, enum mailbox_format fmt,
                           const char *orig, strbuf *out)
{
    strbuf err = STRBUF_INIT;
    struct mailbox_render *r = mailbox_render_open(m, fmt, "rcpt@example.com", orig, &err);
    assert_non_null(r);
    const char *data;
    ssize_t n;
    strbuf_reset(out);
    while ((n = mailbox_render_next(r, &data, &err)) > 0)
        strbuf_append(out, data, (size_t)n);
    assert_int_equal(n, 0);
    mailbox_render_close(&r);
    assert_null(r);
    mailbox_render_close(&r); /* twice is harmless */
    strbuf_release(&err);
}

static void render_all(int fd, enum mailbox_format fmt, const char *orig, strbuf *out)
{
    const struct mailbox_message m = {fd, LIMIT, "sender@example.org", ARRIVAL, NULL};
    render_message(&m, fmt, orig, out);
}

static char long_line[3 * LIMIT];

static const char *const MESSAGE[] = {
    "Subject: hi",
    "Delivered-To: first@example.com",
    "Delivered-To: second@example.com  ",
    "",
    "From the body",
    "body",
    long_line,
    "From again",
};
#define NLINES (sizeof(MESSAGE) / sizeof(MESSAGE[0]))

/* The content as every format has it; %s: a quote before "From" lines. */
#define CONTENT_FMT                                                                                \
    "Subject: hi\nDelivered-To: first@example.com\n"                                               \
    "Delivered-To: second@example.com  \n\n%sFrom the body\nbody\n%s\n"                            \
    "%sFrom again\n"

static void maildir_mbox_and_command_formats(void **state)
{
    (void)state;
    memset(long_line, 'L', sizeof(long_line) - 1);
    long_line[0] = 'F'; /* a piece of a long line is no line start */
    int fd = make_file(MESSAGE, NLINES);
    strbuf got = STRBUF_INIT, want = STRBUF_INIT, from = STRBUF_INIT;
    mail_copy_from_line(&from, "sender@example.org", ARRIVAL);
    const char *prefix = "Return-Path: <sender@example.org>\n"
                         "X-Original-To: Orig@example.com\n"
                         "Delivered-To: rcpt@example.com\n";

    render_all(fd, MAILBOX_FORMAT_MAILDIR, "Orig@example.com", &got);
    strbuf_printf(&want, "%s", prefix);
    strbuf_printf(&want, CONTENT_FMT, "", long_line, "");
    assert_string_equal(got.s, want.s);

    /* mbox: the From_ line first, and ">From" at line starts only. */
    render_all(fd, MAILBOX_FORMAT_MBOX, "Orig@example.com", &got);
    strbuf_reset(&want);
    strbuf_printf(&want, "%s%s", from.s, prefix);
    strbuf_printf(&want, CONTENT_FMT, ">", long_line, ">");
    assert_string_equal(got.s, want.s);

    /* A command gets the From_ line but the content as it is; without an
     * original recipient there is no X-Original-To. */
    render_all(fd, MAILBOX_FORMAT_COMMAND, NULL, &got);
    strbuf_reset(&want);
    strbuf_printf(&want, "%sReturn-Path: <sender@example.org>\nDelivered-To: rcpt@example.com\n",
                  from.s);
    strbuf_printf(&want, CONTENT_FMT, "", long_line, "");
    assert_string_equal(got.s, want.s);
    render_all(fd, MAILBOX_FORMAT_MAILDIR, "", &got);
    assert_null(strstr(got.s, "X-Original-To"));
    close(fd);
    strbuf_release(&got);
    strbuf_release(&want);
    strbuf_release(&from);
}

/* The null sender renders as <> and MAILER-DAEMON. */
static void null_sender(void **state)
{
    (void)state;
    const char *lines[] = {"Subject: bounce", "", "x"};
    int fd = make_file(lines, 3);
    const struct mailbox_message m = {fd, LIMIT, "", ARRIVAL, NULL};
    strbuf err = STRBUF_INIT;
    struct mailbox_render *r = mailbox_render_open(&m, MAILBOX_FORMAT_MBOX, "u@x", NULL, &err);
    const char *data;
    assert_true(mailbox_render_next(r, &data, &err) > 0);
    assert_int_equal(strncmp(data, "From MAILER-DAEMON ", 19), 0);
    assert_non_null(strstr(data, "\nReturn-Path: <>\n"));
    mailbox_render_close(&r);
    close(fd);
    strbuf_release(&err);
}

static void delivered_to_scan_stops_at_the_body(void **state)
{
    (void)state;
    const char *lines[] = {
        "Delivered-To: a@x",      "Subject: s", " Delivered-To: folded, not a header",
        "DELIVERED-TO:   b@y \t", "",           "Delivered-To: in-body@z"};
    int fd = make_file(lines, 6);
    strlist got = STRLIST_INIT;
    strbuf err = STRBUF_INIT;
    assert_int_equal(mail_copy_delivered_to(fd, LIMIT, &got, &err), 0);
    assert_int_equal(got.n, 2);
    assert_string_equal(got.v[0], "a@x");
    assert_string_equal(got.v[1], "b@y");
    close(fd);
    /* Not a queue file: refused, nothing collected. */
    strlist_release(&got);
    assert_int_equal(mail_copy_delivered_to(-1, LIMIT, &got, &err), -1);
    assert_int_equal(got.n, 0);
    strlist_release(&got);
    strbuf_release(&err);
}

/* Copy into a Maildir and an mbox; under a size limit the write fails with
 * EFBIG, which bounces (5.2.2), and nothing is left behind. */
static void copy_under_a_size_limit(void **state)
{
    (void)state;
    signal(SIGXFSZ, SIG_IGN); /* what local(8) and virtual(8) do at start */
    int fd = make_file(MESSAGE, NLINES);
    const struct mailbox_message m = {fd, LIMIT, "sender@example.org", ARRIVAL, NULL};
    strbuf err = STRBUF_INIT, path = STRBUF_INIT;

    strbuf_printf(&path, "%s/Maildir", qdir);
    struct maildir_delivery md;
    struct mailbox_render *r =
        mailbox_render_open(&m, MAILBOX_FORMAT_MAILDIR, "rcpt@example.com", NULL, &err);
    assert_int_equal(maildir_begin(&md, path.s, "host", &err), 0);
    assert_int_equal(mailbox_render_to_maildir(r, &md, &err), 0);
    assert_int_equal(maildir_commit(&md, &err), 0);
    struct stat st;
    assert_int_equal(stat(md.final_path.s, &st), 0);
    assert_true(st.st_size > (off_t)sizeof(long_line));
    maildir_end(&md);
    mailbox_render_close(&r);

    strbuf_reset(&path);
    strbuf_printf(&path, "%s/mbox", qdir);
    struct rlimit old = mailbox_size_limit_enter(300);
    struct mbox_delivery mb;
    r = mailbox_render_open(&m, MAILBOX_FORMAT_MBOX, "rcpt@example.com", NULL, &err);
    assert_int_equal(mbox_begin(&mb, path.s, MBOX_LOCK_FCNTL, (uid_t)-1, &err), 0);
    int ret = mailbox_render_to_mbox(r, &mb, &err);
    if (ret == 0)
        ret = mbox_commit(&mb, &err);
    int err_no = errno;
    mbox_end(&mb);
    mailbox_size_limit_leave(old);
    mailbox_render_close(&r);
    assert_int_equal(ret, -1);
    assert_int_equal(err_no, EFBIG);
    struct mailbox_failure f = mailbox_failure(err_no);
    assert_int_equal(f.status, DELIVER_BOUNCED);
    assert_string_equal(f.dsn, "5.2.2");
    assert_int_equal(stat(path.s, &st), 0);
    assert_int_equal(st.st_size, 0); /* truncated back */
    /* The limit is gone again: the same append now succeeds. */
    r = mailbox_render_open(&m, MAILBOX_FORMAT_MBOX, "rcpt@example.com", NULL, &err);
    assert_int_equal(mbox_begin(&mb, path.s, MBOX_LOCK_FCNTL, (uid_t)-1, &err), 0);
    assert_int_equal(mailbox_render_to_mbox(r, &mb, &err), 0);
    assert_int_equal(mbox_commit(&mb, &err), 0);
    mbox_end(&mb);
    mailbox_render_close(&r);
    close(fd);
    strbuf_release(&err);
    strbuf_release(&path);
}

/* local(8)'s mapping: only an oversized message bounces. */
static void failures_defer_except_too_big(void **state)
{
    (void)state;
    struct mailbox_failure f = mailbox_failure(ENOSPC);
    assert_int_equal(f.status, DELIVER_DEFERRED);
    assert_string_equal(f.dsn, "4.3.0");
    static const int others[] = {EDQUOT, EIO, EACCES, EPERM, EAGAIN, 0};
    for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
        f = mailbox_failure(others[i]);
        assert_int_equal(f.status, DELIVER_DEFERRED);
        assert_string_equal(f.dsn, "4.2.0");
    }
}

/* What render_all yields, from a queue_file_head instead of the fd. */
static void render_all_head(const struct queue_file_head *h, enum mailbox_format fmt, strbuf *out)
{
    const struct mailbox_message m = {h->fd, LIMIT, "sender@example.org", ARRIVAL, h};
    render_message(&m, fmt, NULL, out);
}

/* A file read once (queue_file_head) renders exactly as the file does,
 * again and again, whether the head holds all of it or only its first
 * 64 KiB; the Delivered-To scan agrees; a recipient mark reaches both the
 * file and the head's copy. */
static void head_renders_like_the_file(void **state)
{
    (void)state;
    memset(long_line, 'L', sizeof(long_line) - 1);
    static char filler[200];
    memset(filler, 'f', sizeof(filler) - 1);
    const char *big[2000];
    for (size_t i = 0; i < 2000; i++)
        big[i] = i == 0 ? "Delivered-To: big@example.com" : i == 1 ? "" : filler;
    for (int round = 0; round < 2; round++) {
        int fd = round == 0 ? make_file(MESSAGE, NLINES) : make_file(big, 2000);
        struct stat st;
        assert_int_equal(fstat(fd, &st), 0);
        assert_true(round == 0 ? st.st_size < 65536 : st.st_size > 65536);
        struct queue_file_head h;
        strbuf err = STRBUF_INIT, a = STRBUF_INIT, b = STRBUF_INIT;
        assert_int_equal(queue_file_head_load(&h, fd, &st, &err), 0);
        assert_int_equal(h.len, round == 0 ? (size_t)st.st_size : 65536);
        static const enum mailbox_format fmts[] = {MAILBOX_FORMAT_MAILDIR, MAILBOX_FORMAT_MBOX,
                                                   MAILBOX_FORMAT_COMMAND};
        for (size_t k = 0; k < 3; k++) {
            render_all(fd, fmts[k], NULL, &a);
            render_all_head(&h, fmts[k], &b);
            assert_int_equal(a.len, b.len);
            assert_memory_equal(a.s, b.s, a.len);
            render_all_head(&h, fmts[k], &b); /* reusable */
            assert_memory_equal(a.s, b.s, a.len);
        }
        strlist x = STRLIST_INIT, y = STRLIST_INIT;
        assert_int_equal(mail_copy_delivered_to(fd, LIMIT, &x, &err), 0);
        assert_int_equal(mail_copy_delivered_to_head(&h, LIMIT, &y, &err), 0);
        assert_int_equal(x.n, round == 0 ? 2 : 1);
        assert_int_equal(x.n, y.n);
        for (size_t i = 0; i < x.n; i++)
            assert_string_equal(x.v[i], y.v[i]);
        strlist_release(&x);
        strlist_release(&y);
        /* The recipient record's offset, as a reader reports it. */
        queue_file_reader *rd = queue_file_reader_open_head(&h, LIMIT, &err);
        assert_non_null(rd);
        queue_file_record rec = QUEUE_FILE_RECORD_INIT;
        off_t rcpt_at = -1;
        while (queue_file_reader_next(rd, &rec, &err) > 0)
            if (rec.type == QF_REC_RCPT)
                rcpt_at = rec.offset;
        queue_file_record_release(&rec);
        queue_file_reader_free(&rd);
        assert_true(rcpt_at > 0);
        queue_file_head_release(&h);
        /* Marking through a writable head: the file and the copy agree. */
        char self[64];
        snprintf(self, sizeof(self), "/proc/self/fd/%d", fd);
        int wfd = open(self, O_RDWR);
        assert_true(wfd >= 0);
        close(fd);
        assert_int_equal(queue_file_head_load(&h, wfd, &st, &err), 0);
        off_t status_at = rcpt_at + QF_RCPT_STATUS_AT;
        assert_int_equal(h.data[status_at], QF_RCPT_TODO);
        assert_int_equal(queue_file_head_mark_recipient(&h, rcpt_at, QF_RCPT_DELIVERED, &err), 0);
        assert_int_equal(h.data[status_at], QF_RCPT_DELIVERED);
        unsigned char on_disk = 0;
        assert_int_equal(pread(wfd, &on_disk, 1, status_at), 1);
        assert_int_equal(on_disk, QF_RCPT_DELIVERED);
        /* A stale offset is refused and changes nothing. */
        assert_int_equal(queue_file_head_mark_recipient(&h, rcpt_at + 1, QF_RCPT_DELIVERED, &err),
                         -1);
        close(wfd);
        queue_file_head_release(&h);
        strbuf_release(&err);
        strbuf_release(&a);
        strbuf_release(&b);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(maildir_mbox_and_command_formats),
        cmocka_unit_test(null_sender),
        cmocka_unit_test(delivered_to_scan_stops_at_the_body),
        cmocka_unit_test(copy_under_a_size_limit),
        cmocka_unit_test(failures_defer_except_too_big),
        cmocka_unit_test(head_renders_like_the_file),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
