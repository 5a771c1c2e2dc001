/* Unit tests: stream (buffered I/O with deadlines). Timing assertions are
 * one-sided and generous: "timed out, and within 5 s", never a tight
 * window, so a loaded 2-core machine does not make them flake. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "stream.h"
#include "strbuf.h"

static void pair(int sv[2])
{
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

static void write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            _exit(3);
        p += n;
        len -= (size_t)n;
    }
}

/* Child: write `chunk` bytes of 'x' every interval_ms, `count` times, then
 * the tail (may be NULL), then exit. */
static pid_t spawn_writer(int fd, size_t chunk, long interval_ms, int count, const char *tail)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char buf[4096];
        memset(buf, 'x', sizeof(buf));
        for (int i = 0; i < count; i++) {
            write_all(fd, buf, chunk);
            sleep_ms(interval_ms);
        }
        if (tail)
            write_all(fd, tail, strlen(tail));
        _exit(0);
    }
    return pid;
}

static void reap(pid_t pid)
{
    (void)kill(pid, SIGKILL);
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
}

static void trickle_hits_request_deadline(void **state)
{
    int sv[2];
    pair(sv);
    pid_t pid = spawn_writer(sv[1], 1, 100, 100, "\r\n");
    stream *st = stream_open(sv[0]);
    strbuf line = STRBUF_INIT;
    int64_t t0 = stream_now_ms();
    stream_set_deadline_in(st, 300);
    int r = stream_read_line(st, &line, 1000);
    int64_t took = stream_now_ms() - t0;
    assert_int_equal(r, STREAM_TIMEOUT);
    assert_true(took >= 300);
    assert_true(took < 5000);
    assert_string_equal(stream_strerror(st, r), "timeout");
    /* A read timeout is not sticky: a later read with a new deadline works. */
    stream_set_deadline_in(st, 3000);
    char c;
    assert_int_equal(stream_read(st, &c, 1), 1);
    reap(pid);
    strbuf_release(&line);
    stream_close(&st);
    close(sv[1]);
}

static void trickle_hits_operation_timeout(void **state)
{
    int sv[2];
    pair(sv);
    pid_t pid = spawn_writer(sv[1], 1, 100, 100, "\r\n");
    stream *st = stream_open(sv[0]);
    strbuf line = STRBUF_INIT;
    stream_set_timeout(st, 300);
    int64_t t0 = stream_now_ms();
    assert_int_equal(stream_read_line(st, &line, 1000), STREAM_TIMEOUT);
    assert_true(stream_now_ms() - t0 < 5000);
    /* Also for skip_line, which has no length limit. */
    t0 = stream_now_ms();
    assert_int_equal(stream_skip_line(st), STREAM_TIMEOUT);
    assert_true(stream_now_ms() - t0 < 5000);
    reap(pid);
    strbuf_release(&line);
    stream_close(&st);
    close(sv[1]);
}

static void min_rate_extends_deadline(void **state)
{
    int sv[2];
    pair(sv);
    /* 50 bytes per 100 ms = 500 B/s for ~1.5 s, far past the 300 ms
     * deadline; at a minimum of 100 B/s each chunk buys 500 ms. */
    pid_t pid = spawn_writer(sv[1], 50, 100, 15, "\n");
    stream *st = stream_open(sv[0]);
    strbuf line = STRBUF_INIT;
    stream_set_deadline_in(st, 300);
    stream_set_min_rate(st, 100);
    int64_t dl0 = stream_deadline(st);
    assert_int_equal(stream_read_line(st, &line, 10000), STREAM_LINE_LF);
    assert_int_equal(line.len, 750);
    assert_true(stream_deadline(st) >= dl0 + 7500); /* 750 bytes / 100 B/s */
    reap(pid);
    strbuf_release(&line);
    stream_close(&st);
    close(sv[1]);
}

static void min_rate_too_slow_times_out(void **state)
{
    int sv[2];
    pair(sv);
    pid_t pid = spawn_writer(sv[1], 1, 100, 100, "\n");
    stream *st = stream_open(sv[0]);
    strbuf line = STRBUF_INIT;
    stream_set_deadline_in(st, 300);
    stream_set_min_rate(st, 1000); /* each byte buys only 1 ms */
    int64_t t0 = stream_now_ms();
    assert_int_equal(stream_read_line(st, &line, 10000), STREAM_TIMEOUT);
    assert_true(stream_now_ms() - t0 < 5000);
    reap(pid);
    strbuf_release(&line);
    stream_close(&st);
    close(sv[1]);
}

/* Feed `data` to a stream over a socketpair whose write end is closed. */
static stream *feed(const void *data, size_t len)
{
    int sv[2];
    pair(sv);
    write_all(sv[1], data, len);
    close(sv[1]);
    stream *st = stream_open(sv[0]);
    stream_set_timeout(st, 5000);
    return st;
}

static void line_terminators(void **state)
{
    static const char in[] = "crlf\r\nlf\nnul\0x\r\n\r\n\n\rmid\r\npartial";
    stream *st = feed(in, sizeof(in) - 1);
    strbuf line = STRBUF_INIT;
    assert_int_equal(stream_read_line(st, &line, 100), STREAM_LINE_CRLF);
    assert_true(strbuf_eq(&line, "crlf"));
    assert_int_equal(stream_read_line(st, &line, 100), STREAM_LINE_LF);
    assert_true(strbuf_eq(&line, "lf"));
    assert_int_equal(stream_read_line(st, &line, 100), STREAM_LINE_CRLF);
    assert_int_equal(line.len, 5);
    assert_memory_equal(line.s, "nul\0x", 5);
    assert_int_equal(stream_read_line(st, &line, 100), STREAM_LINE_CRLF);
    assert_int_equal(line.len, 0);
    assert_int_equal(stream_read_line(st, &line, 100), STREAM_LINE_LF);
    assert_int_equal(line.len, 0);
    assert_int_equal(stream_read_line(st, &line, 100), STREAM_LINE_CRLF);
    assert_true(strbuf_eq(&line, "\rmid"));
    assert_int_equal(stream_read_line(st, &line, 100), STREAM_LINE_PARTIAL);
    assert_true(strbuf_eq(&line, "partial"));
    assert_int_equal(stream_read_line(st, &line, 100), STREAM_EOF);
    assert_int_equal(stream_read_line(st, &line, 100), STREAM_EOF);
    strbuf_release(&line);
    stream_close(&st);
}

static void long_lines_cut_at_limit(void **state)
{
    static const char in[] = "abcdefghij\r\n"
                             "abcd\r\n"   /* exactly the limit, CRLF */
                             "abcd\n"     /* exactly the limit, LF */
                             "abc\r\n"    /* CR inside the limit */
                             "abcd\rX\n"  /* CR after the limit, not CRLF */
                             "abcdefgh\r" /* limit, then CR at EOF */
        ;
    stream *st = feed(in, sizeof(in) - 1);
    strbuf line = STRBUF_INIT;
    assert_int_equal(stream_read_line(st, &line, 4), STREAM_LINE_TOOLONG);
    assert_true(strbuf_eq(&line, "abcd"));
    assert_int_equal(stream_read_line(st, &line, 4), STREAM_LINE_TOOLONG);
    assert_true(strbuf_eq(&line, "efgh"));
    assert_int_equal(stream_read_line(st, &line, 4), STREAM_LINE_CRLF);
    assert_true(strbuf_eq(&line, "ij"));
    assert_int_equal(stream_read_line(st, &line, 4), STREAM_LINE_CRLF);
    assert_true(strbuf_eq(&line, "abcd"));
    assert_int_equal(stream_read_line(st, &line, 4), STREAM_LINE_LF);
    assert_true(strbuf_eq(&line, "abcd"));
    assert_int_equal(stream_read_line(st, &line, 4), STREAM_LINE_CRLF);
    assert_true(strbuf_eq(&line, "abc"));
    assert_int_equal(stream_read_line(st, &line, 4), STREAM_LINE_TOOLONG);
    assert_true(strbuf_eq(&line, "abcd"));
    assert_int_equal(stream_read_line(st, &line, 4), STREAM_LINE_LF);
    assert_true(strbuf_eq(&line, "\rX"));
    assert_int_equal(stream_read_line(st, &line, 8), STREAM_LINE_TOOLONG);
    assert_true(strbuf_eq(&line, "abcdefgh"));
    assert_int_equal(stream_read_line(st, &line, 8), STREAM_LINE_PARTIAL);
    assert_true(strbuf_eq(&line, "\r"));
    strbuf_release(&line);
    stream_close(&st);
}

static void skip_rest_of_long_line(void **state)
{
    strbuf big = STRBUF_INIT;
    for (int i = 0; i < 100000; i++)
        strbuf_putc(&big, 'a' + i % 26);
    strbuf_puts(&big, "\r\nNEXT\r\n");
    int sv[2];
    pair(sv);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(sv[0]);
        write_all(sv[1], big.s, big.len);
        _exit(0);
    }
    close(sv[1]);
    stream *st = stream_open(sv[0]);
    stream_set_timeout(st, 5000);
    strbuf line = STRBUF_INIT;
    assert_int_equal(stream_read_line(st, &line, 2048), STREAM_LINE_TOOLONG);
    assert_int_equal(line.len, 2048);
    assert_int_equal(stream_skip_line(st), 100000 - 2048 + 2);
    assert_int_equal(stream_read_line(st, &line, 2048), STREAM_LINE_CRLF);
    assert_true(strbuf_eq(&line, "NEXT"));
    assert_int_equal(stream_skip_line(st), STREAM_EOF);
    reap(pid);
    strbuf_release(&line);
    strbuf_release(&big);
    stream_close(&st);
}

static void peek_and_discard(void **state)
{
    int sv[2];
    pair(sv);
    stream *st = stream_open(sv[0]);
    stream_set_timeout(st, 5000);
    assert_int_equal(stream_input_pending(st), 0);
    assert_false(stream_input_ready(st, 0));
    /* Client pipelines a command behind STARTTLS. */
    write_all(sv[1], "STARTTLS\r\nMAIL FROM:<evil>\r\n", 28);
    assert_true(stream_input_ready(st, 1000));
    strbuf line = STRBUF_INIT;
    assert_int_equal(stream_read_line(st, &line, 100), STREAM_LINE_CRLF);
    assert_true(strbuf_eq(&line, "STARTTLS"));
    assert_int_equal(stream_input_pending(st), 18);
    assert_true(stream_input_ready(st, 0));
    assert_int_equal(stream_discard_input(st), 18);
    assert_int_equal(stream_input_pending(st), 0);
    assert_false(stream_input_ready(st, 0));
    write_all(sv[1], "EHLO x\r\n", 8);
    assert_int_equal(stream_read_line(st, &line, 100), STREAM_LINE_CRLF);
    assert_true(strbuf_eq(&line, "EHLO x"));
    /* EOF counts as "ready": the next read reports it. */
    close(sv[1]);
    assert_true(stream_input_ready(st, 1000));
    assert_int_equal(stream_read_line(st, &line, 100), STREAM_EOF);
    strbuf_release(&line);
    stream_close(&st);
}

static void read_exact_and_eof(void **state)
{
    stream *st = feed("0123456789", 10);
    char buf[16];
    assert_int_equal(stream_read_exact(st, buf, 4), 0);
    assert_memory_equal(buf, "0123", 4);
    strbuf sb = STRBUF_INIT;
    strbuf_puts(&sb, "pre");
    assert_int_equal(stream_read_append(st, &sb, 3), 0);
    assert_true(strbuf_eq(&sb, "pre456"));
    assert_int_equal(stream_read_append(st, &sb, 10), STREAM_EOF);
    assert_true(strbuf_eq(&sb, "pre456")); /* restored on failure */
    assert_int_equal(stream_read(st, buf, sizeof(buf)), STREAM_EOF);
    assert_int_equal(stream_read(st, buf, 0), 0);
    strbuf_release(&sb);
    stream_close(&st);

    st = feed("abc", 3);
    assert_int_equal(stream_read_exact(st, buf, 4), STREAM_EOF);
    assert_string_equal(stream_strerror(st, STREAM_EOF), "end of file");
    stream_close(&st);
}

static void read_error_is_distinct(void **state)
{
    /* read(2) on a directory fails with EISDIR: an error, not EOF. */
    int fd = open(".", O_RDONLY | O_DIRECTORY);
    assert_true(fd >= 0);
    stream *st = stream_open(fd);
    char c;
    assert_int_equal(stream_read(st, &c, 1), STREAM_ERROR);
    assert_int_equal(stream_errno(st), EISDIR);
    stream_close(&st);
}

static void write_to_closed_peer_is_error_not_sigpipe(void **state)
{
    int sv[2];
    pair(sv);
    close(sv[1]);
    stream *st = stream_open(sv[0]);
    stream_set_timeout(st, 5000);
    assert_int_equal(stream_puts(st, "hello\r\n"), 0);
    assert_int_equal(stream_flush(st), STREAM_ERROR);
    assert_int_equal(stream_errno(st), EPIPE);
    /* Sticky: later writes report the same failure. */
    assert_int_equal(stream_printf(st, "%d", 1), STREAM_ERROR);
    assert_int_equal(stream_flush(st), STREAM_ERROR);
    stream_close(&st);
}

static void large_flush_completes(void **state)
{
    const size_t total = 4 * 1024 * 1024;
    int sv[2];
    pair(sv);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(sv[0]);
        /* Slow, small reads force short writes and EAGAIN in the parent. */
        size_t got = 0;
        char buf[1000];
        unsigned sum = 0;
        for (;;) {
            ssize_t n = read(sv[1], buf, sizeof(buf));
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                break;
            for (ssize_t i = 0; i < n; i++)
                sum += (unsigned char)buf[i];
            got += (size_t)n;
        }
        _exit(got == total && sum == (unsigned)(total / 256) * (255 * 256 / 2) ? 0 : 1);
    }
    close(sv[1]);
    stream *st = stream_open(sv[0]);
    stream_set_timeout(st, 30000);
    unsigned char block[256];
    for (int i = 0; i < 256; i++)
        block[i] = (unsigned char)i;
    for (size_t off = 0; off < total; off += sizeof(block))
        assert_int_equal(stream_write(st, block, sizeof(block)), 0);
    assert_int_equal(stream_flush(st), 0);
    assert_int_equal(stream_output_pending(st), 0);
    stream_close(&st);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

static void write_timeout_when_peer_stalls(void **state)
{
    int sv[2];
    pair(sv);
    stream *st = stream_open(sv[0]);
    stream_set_timeout(st, 300);
    char *big = calloc(1, 8 * 1024 * 1024);
    assert_non_null(big);
    int64_t t0 = stream_now_ms();
    int r = stream_write(st, big, 8 * 1024 * 1024); /* autoflush */
    assert_int_equal(r, STREAM_TIMEOUT);
    assert_true(stream_now_ms() - t0 < 5000);
    free(big);
    stream_close(&st);
    close(sv[1]);
}

static void pipe_read_timeout(void **state)
{
    int p[2];
    assert_int_equal(pipe(p), 0);
    stream *st = stream_open(p[0]);
    stream_set_timeout(st, 200);
    strbuf line = STRBUF_INIT;
    int64_t t0 = stream_now_ms();
    assert_int_equal(stream_read_line(st, &line, 100), STREAM_TIMEOUT);
    assert_true(stream_now_ms() - t0 < 5000);
    write_all(p[1], "x\n", 2);
    assert_int_equal(stream_read_line(st, &line, 100), STREAM_LINE_LF);
    assert_true(strbuf_eq(&line, "x"));
    close(p[1]);
    assert_int_equal(stream_read_line(st, &line, 100), STREAM_EOF);
    strbuf_release(&line);
    stream_close(&st);
}

/* A fake "TLS" layer: XOR 0x20 on the wire, with one byte of its own
 * pending buffer, to prove all I/O and peeking go through the vtable. */
struct xor_ctx {
    int reads, writes;
    size_t pending;
};

static ssize_t xor_read(void *ctx, int fd, void *buf, size_t len, short *want)
{
    struct xor_ctx *x = ctx;
    x->reads++;
    *want = POLLIN;
    ssize_t n = recv(fd, buf, len, MSG_DONTWAIT);
    for (ssize_t i = 0; i < n; i++)
        ((unsigned char *)buf)[i] ^= 0x20;
    return n;
}

static ssize_t xor_write(void *ctx, int fd, const void *buf, size_t len, short *want)
{
    struct xor_ctx *x = ctx;
    x->writes++;
    *want = POLLOUT;
    unsigned char tmp[256];
    if (len > sizeof(tmp))
        len = sizeof(tmp);
    for (size_t i = 0; i < len; i++)
        tmp[i] = ((const unsigned char *)buf)[i] ^ 0x20;
    return send(fd, tmp, len, MSG_DONTWAIT | MSG_NOSIGNAL);
}

static size_t xor_pending(void *ctx)
{
    return ((struct xor_ctx *)ctx)->pending;
}

static void io_vtable_seam(void **state)
{
    static const stream_io xor_io = {xor_read, xor_write, xor_pending};
    int sv[2];
    pair(sv);
    stream *a = stream_open(sv[0]), *b = stream_open(sv[1]);
    stream_set_timeout(a, 5000);
    stream_set_timeout(b, 5000);
    struct xor_ctx xa = {0}, xb = {0};
    stream_set_io(a, &xor_io, &xa);
    stream_set_io(b, &xor_io, &xb);
    assert_int_equal(stream_printf(a, "hello %s\r\n", "world"), 0);
    assert_int_equal(stream_flush(a), 0);
    char raw[32];
    assert_int_equal(recv(sv[1], raw, sizeof(raw), MSG_PEEK), 13);
    assert_memory_equal(raw, "HELLO", 5); /* xor 0x20 on the wire */
    strbuf line = STRBUF_INIT;
    assert_int_equal(stream_read_line(b, &line, 100), STREAM_LINE_CRLF);
    assert_true(strbuf_eq(&line, "hello world"));
    assert_true(xa.writes > 0 && xb.reads > 0);
    xb.pending = 1;
    assert_int_equal(stream_input_pending(b), 1);
    assert_true(stream_input_ready(b, 0));
    stream_set_io(b, NULL, NULL);
    assert_int_equal(stream_input_pending(b), 0);
    strbuf_release(&line);
    stream_close(&a);
    stream_close(&b);
}

/* stream_open_socket: no fstat, but still a socket stream (MSG_NOSIGNAL,
 * MSG_DONTWAIT): a closed peer is EPIPE, not a signal. */
static void open_socket_is_a_socket_stream(void **state)
{
    int sv[2];
    pair(sv);
    stream *a = stream_open_socket(sv[0]);
    stream_set_timeout(a, 5000);
    assert_int_equal(stream_puts(a, "ping\r\n"), 0);
    assert_int_equal(stream_flush(a), 0);
    char buf[16];
    assert_int_equal(read(sv[1], buf, sizeof(buf)), 6);
    close(sv[1]);
    assert_int_equal(stream_puts(a, "hello\r\n"), 0);
    assert_int_equal(stream_flush(a), STREAM_ERROR);
    assert_int_equal(stream_errno(a), EPIPE);
    stream_close(&a);
}

/* Counts raw reads; with `held` > 0 it returns bytes it holds itself (as
 * a TLS layer holds decrypted input), without touching the fd. */
struct count_ctx {
    int reads, eagain;
    size_t held;
};

static ssize_t count_read(void *ctx, int fd, void *buf, size_t len, short *want)
{
    struct count_ctx *c = ctx;
    c->reads++;
    *want = POLLIN;
    if (c->held > 0 && len > 0) {
        c->held--;
        *(char *)buf = 'z';
        return 1;
    }
    ssize_t n = recv(fd, buf, len, MSG_DONTWAIT);
    if (n < 0 && errno == EAGAIN)
        c->eagain++;
    return n;
}

static ssize_t count_write(void *ctx, int fd, const void *buf, size_t len, short *want)
{
    (void)ctx;
    *want = POLLOUT;
    return send(fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
}

static size_t count_pending(void *ctx)
{
    return ((struct count_ctx *)ctx)->held;
}

static const stream_io count_io = {count_read, count_write, count_pending};

/* A reply that comes late: without the hint the first read fails with
 * EAGAIN before the poll; with it, poll first, then one read that gets it.
 * The hint is used once: the next late reply costs the EAGAIN again. */
static void expect_wait_polls_before_reading(void **state)
{
    int sv[2];
    pair(sv);
    stream *st = stream_open_socket(sv[0]);
    stream_set_timeout(st, 5000);
    struct count_ctx c = {0};
    stream_set_io(st, &count_io, &c);
    strbuf line = STRBUF_INIT;

    pid_t pid = spawn_writer(sv[1], 0, 150, 1, "late\n");
    stream_expect_wait(st);
    assert_int_equal(stream_read_line(st, &line, 100), STREAM_LINE_LF);
    assert_true(strbuf_eq(&line, "late"));
    assert_int_equal(c.reads, 1);
    assert_int_equal(c.eagain, 0);
    reap(pid);

    c = (struct count_ctx){0};
    pid = spawn_writer(sv[1], 0, 150, 1, "again\n");
    assert_int_equal(stream_read_line(st, &line, 100), STREAM_LINE_LF);
    assert_true(strbuf_eq(&line, "again"));
    assert_int_equal(c.eagain, 1); /* no hint: try, EAGAIN, poll, read */
    assert_int_equal(c.reads, 2);
    reap(pid);

    /* Input already buffered satisfies the read without any wait. */
    write_all(sv[1], "one\ntwo\n", 8);
    assert_int_equal(stream_read_line(st, &line, 100), STREAM_LINE_LF);
    assert_true(strbuf_eq(&line, "one"));
    c = (struct count_ctx){0};
    stream_expect_wait(st);
    assert_int_equal(stream_read_line(st, &line, 100), STREAM_LINE_LF);
    assert_true(strbuf_eq(&line, "two"));
    assert_int_equal(c.reads, 0);
    strbuf_release(&line);
    close(sv[1]);
    stream_close(&st);
}

/* The wait is bounded by the deadline like any other. */
static void expect_wait_times_out(void **state)
{
    int sv[2];
    pair(sv);
    stream *st = stream_open_socket(sv[0]);
    stream_set_timeout(st, 200);
    strbuf line = STRBUF_INIT;
    int64_t t0 = stream_now_ms();
    stream_expect_wait(st);
    assert_int_equal(stream_read_line(st, &line, 100), STREAM_TIMEOUT);
    int64_t took = stream_now_ms() - t0;
    assert_true(took >= 190 && took < 5000);
    /* The peer hanging up ends the wait at once: EOF, not a timeout. */
    stream_set_timeout(st, 5000);
    close(sv[1]);
    t0 = stream_now_ms();
    stream_expect_wait(st);
    assert_int_equal(stream_read_line(st, &line, 100), STREAM_EOF);
    assert_true(stream_now_ms() - t0 < 2500);
    strbuf_release(&line);
    stream_close(&st);
}

/* Bytes the I/O layer holds (TLS) are read without polling the fd, which
 * has nothing: a poll would wait out the whole timeout. */
static void expect_wait_uses_io_pending_first(void **state)
{
    int sv[2];
    pair(sv);
    stream *st = stream_open_socket(sv[0]);
    stream_set_timeout(st, 3000);
    struct count_ctx c = {.held = 1};
    stream_set_io(st, &count_io, &c);
    char b;
    int64_t t0 = stream_now_ms();
    stream_expect_wait(st);
    assert_int_equal(stream_read(st, &b, 1), 1);
    assert_int_equal(b, 'z');
    assert_true(stream_now_ms() - t0 < 1500);
    close(sv[1]);
    stream_close(&st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(trickle_hits_request_deadline),
        cmocka_unit_test(trickle_hits_operation_timeout),
        cmocka_unit_test(min_rate_extends_deadline),
        cmocka_unit_test(min_rate_too_slow_times_out),
        cmocka_unit_test(line_terminators),
        cmocka_unit_test(long_lines_cut_at_limit),
        cmocka_unit_test(skip_rest_of_long_line),
        cmocka_unit_test(peek_and_discard),
        cmocka_unit_test(read_exact_and_eof),
        cmocka_unit_test(read_error_is_distinct),
        cmocka_unit_test(write_to_closed_peer_is_error_not_sigpipe),
        cmocka_unit_test(large_flush_completes),
        cmocka_unit_test(write_timeout_when_peer_stalls),
        cmocka_unit_test(pipe_read_timeout),
        cmocka_unit_test(io_vtable_seam),
        cmocka_unit_test(open_socket_is_a_socket_stream),
        cmocka_unit_test(expect_wait_polls_before_reading),
        cmocka_unit_test(expect_wait_times_out),
        cmocka_unit_test(expect_wait_uses_io_pending_first),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
