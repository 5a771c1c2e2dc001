/* Unit tests: attr (the internal request/response protocol). */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "attr.h"
#include "sock.h"
#include "stream.h"
#include "strbuf.h"

static const attr_limits lim = {
    .max_count = 100, .max_name = 64, .max_value = 100000, .max_total = 1000000};

static void build_sample(attr_list *al)
{
    static const unsigned char bin[] = {0, 1, 0x7f, 0x80, 0xff, 0, '\r', '\n', 0};
    attr_add_str(al, "protocol", "cleanup");
    attr_add_str(al, "queue_id", "4FD1C2A0B3");
    attr_add_int(al, "flags", 42);
    attr_add_int(al, "min", INT64_MIN);
    attr_add_int(al, "max", INT64_MAX);
    attr_add_int(al, "neg", -1);
    attr_add_str(al, "empty", "");
    attr_add_data(al, "blob", bin, sizeof(bin));
    attr_add_str(al, "utf8", "J\xc3\xbcrgen \xff\xfe");
    attr_add_str(al, "queue_id", "second");
}

static void check_sample(const attr_list *al)
{
    strbuf err = STRBUF_INIT;
    const char *s;
    int64_t v;
    const void *d;
    size_t n;
    assert_int_equal(attr_list_count(al), 10);
    assert_int_equal(attr_get_str(al, "protocol", &s, &err), 0);
    assert_string_equal(s, "cleanup");
    assert_int_equal(attr_get_str(al, "queue_id", &s, &err), 0);
    assert_string_equal(s, "4FD1C2A0B3"); /* first of repeated names */
    assert_string_equal(attr_list_at(al, 9)->value, "second");
    assert_int_equal(attr_get_int(al, "flags", &v, &err), 0);
    assert_int_equal(v, 42);
    assert_int_equal(attr_get_int(al, "min", &v, &err), 0);
    assert_true(v == INT64_MIN);
    assert_int_equal(attr_get_int(al, "max", &v, &err), 0);
    assert_true(v == INT64_MAX);
    assert_int_equal(attr_get_int(al, "neg", &v, &err), 0);
    assert_int_equal(v, -1);
    assert_int_equal(attr_get_str(al, "empty", &s, &err), 0);
    assert_string_equal(s, "");
    assert_int_equal(attr_get_data(al, "blob", &d, &n, &err), 0);
    assert_int_equal(n, 9);
    assert_memory_equal(d, "\0\1\x7f\x80\xff\0\r\n\0", 9);
    assert_int_equal(attr_get_str(al, "utf8", &s, &err), 0);
    assert_string_equal(s, "J\xc3\xbcrgen \xff\xfe");
    strbuf_release(&err);
}

static void round_trip(void **state)
{
    attr_list al = ATTR_LIST_INIT, out = ATTR_LIST_INIT;
    strbuf enc = STRBUF_INIT, err = STRBUF_INIT;
    build_sample(&al);
    attr_encode(&al, &enc);
    size_t msg_len = enc.len;
    strbuf_append(&enc, "trailing", 8); /* next message / raw records */
    size_t used = 0;
    assert_int_equal(attr_decode(enc.s, enc.len, &lim, &out, &used, &err), ATTR_OK);
    assert_int_equal(used, msg_len);
    check_sample(&out);
    /* Empty message: just the end marker. */
    attr_list_reset(&al);
    strbuf_reset(&enc);
    attr_encode(&al, &enc);
    assert_int_equal(enc.len, 4);
    assert_int_equal(attr_decode(enc.s, enc.len, &lim, &out, &used, &err), ATTR_OK);
    assert_int_equal(attr_list_count(&out), 0);
    attr_list_release(&al);
    attr_list_release(&out);
    strbuf_release(&enc);
    strbuf_release(&err);
}

static void wire_format_is_documented_one(void **state)
{
    attr_list al = ATTR_LIST_INIT;
    strbuf enc = STRBUF_INIT;
    attr_add_data(&al, "ab", "x\0y", 3);
    attr_encode(&al, &enc);
    static const char want[] = "\0\0\0\2ab\0\0\0\3x\0y\0\0\0\0";
    assert_int_equal(enc.len, sizeof(want) - 1);
    assert_memory_equal(enc.s, want, sizeof(want) - 1);
    attr_list_release(&al);
    strbuf_release(&enc);
}

static void every_truncation_rejected(void **state)
{
    attr_list al = ATTR_LIST_INIT, out = ATTR_LIST_INIT;
    strbuf enc = STRBUF_INIT, err = STRBUF_INIT;
    build_sample(&al);
    attr_encode(&al, &enc);
    for (size_t i = 0; i < enc.len; i++) {
        /* A private copy so ASan sees any read past the truncated end. */
        char *copy = malloc(i ? i : 1);
        memcpy(copy, enc.s, i);
        attr_add_str(&out, "stale", "x");
        assert_int_equal(attr_decode(copy, i, &lim, &out, NULL, &err), ATTR_TRUNCATED);
        assert_int_equal(attr_list_count(&out), 0);
        assert_true(err.len > 0);
        free(copy);
    }
    attr_list_release(&al);
    attr_list_release(&out);
    strbuf_release(&enc);
    strbuf_release(&err);
}

static void put_u32(strbuf *sb, uint32_t v)
{
    unsigned char b[4] = {v >> 24, v >> 16, v >> 8, v};
    strbuf_append(sb, b, 4);
}

static int decode_sb(const strbuf *sb, const attr_limits *l, strbuf *err)
{
    attr_list out = ATTR_LIST_INIT;
    int r = attr_decode(sb->s, sb->len, l, &out, NULL, err);
    attr_list_release(&out);
    return r;
}

static void oversized_rejected_before_reading(void **state)
{
    strbuf sb = STRBUF_INIT, err = STRBUF_INIT;
    /* A 4 GB value announced in a 13-byte buffer: TOOBIG, not TRUNCATED,
     * so the length was judged before any attempt to read the value. */
    put_u32(&sb, 1);
    strbuf_puts(&sb, "a");
    put_u32(&sb, 0xffffffffu);
    strbuf_puts(&sb, "xxxx");
    assert_int_equal(decode_sb(&sb, &lim, &err), ATTR_TOOBIG);
    assert_non_null(strstr(err.s, "attribute a: value of 4294967295 bytes"));

    /* Name too long. */
    strbuf_reset(&sb);
    put_u32(&sb, 65);
    assert_int_equal(decode_sb(&sb, &lim, &err), ATTR_TOOBIG);
    strbuf_reset(&sb);
    put_u32(&sb, 0xffffffffu);
    assert_int_equal(decode_sb(&sb, &lim, &err), ATTR_TOOBIG);

    /* Too many attributes. */
    attr_list al = ATTR_LIST_INIT;
    for (int i = 0; i < 101; i++)
        attr_add_int(&al, "n", i);
    strbuf_reset(&sb);
    attr_encode(&al, &sb);
    assert_int_equal(decode_sb(&sb, &lim, &err), ATTR_TOOBIG);
    attr_list_reset(&al);
    for (int i = 0; i < 100; i++)
        attr_add_int(&al, "n", i);
    strbuf_reset(&sb);
    attr_encode(&al, &sb);
    assert_int_equal(decode_sb(&sb, &lim, &err), ATTR_OK);

    /* Total size: exactly at the limit passes, one byte less fails. */
    attr_list_reset(&al);
    attr_add_str(&al, "k", "0123456789");
    strbuf_reset(&sb);
    attr_encode(&al, &sb);
    attr_limits tight = lim;
    tight.max_total = sb.len;
    assert_int_equal(decode_sb(&sb, &tight, &err), ATTR_OK);
    for (size_t t = 0; t < sb.len; t++) {
        tight.max_total = t;
        assert_int_equal(decode_sb(&sb, &tight, &err), ATTR_TOOBIG);
    }
    attr_list_release(&al);
    strbuf_release(&sb);
    strbuf_release(&err);
}

static void malformed_names_rejected(void **state)
{
    static const char *bad[] = {"a b", "a\0b", "a=b", "\xff", "a\n", "\r"};
    static const size_t badlen[] = {3, 3, 3, 1, 2, 1};
    strbuf sb = STRBUF_INIT, err = STRBUF_INIT;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        strbuf_reset(&sb);
        put_u32(&sb, (uint32_t)badlen[i]);
        strbuf_append(&sb, bad[i], badlen[i]);
        put_u32(&sb, 1);
        strbuf_puts(&sb, "v");
        put_u32(&sb, 0);
        assert_int_equal(decode_sb(&sb, &lim, &err), ATTR_MALFORMED);
    }
    assert_false(attr_name_valid("", 0));
    assert_true(attr_name_valid("queue_id", 8));
    strbuf_release(&sb);
    strbuf_release(&err);
}

static void random_garbage_does_not_crash(void **state)
{
    srandom(12345);
    unsigned char buf[512];
    attr_list out = ATTR_LIST_INIT;
    strbuf err = STRBUF_INIT;
    attr_limits small = {.max_count = 8, .max_name = 16, .max_value = 64, .max_total = 400};
    for (int iter = 0; iter < 200000; iter++) {
        size_t len = (size_t)random() % sizeof(buf);
        for (size_t i = 0; i < len; i++) {
            /* Bias towards small numbers so lengths are sometimes plausible. */
            long r = random();
            buf[i] = (r & 0x300) ? (unsigned char)(r % 6) : (unsigned char)r;
            if ((r & 0xc00) == 0)
                buf[i] = 'a' + (unsigned char)(r % 26);
        }
        int res = attr_decode(buf, len, &small, &out, NULL, &err);
        assert_true(res == ATTR_OK || res == ATTR_TRUNCATED || res == ATTR_MALFORMED ||
                    res == ATTR_TOOBIG);
        if (res != ATTR_OK)
            assert_int_equal(attr_list_count(&out), 0);
    }
    attr_list_release(&out);
    strbuf_release(&err);
}

static void integers_are_strict(void **state)
{
    static const char *bad[] = {"",
                                "-",
                                "+1",
                                "01",
                                "-0",
                                " 1",
                                "1 ",
                                "1a",
                                "0x1",
                                "9223372036854775808",
                                "-9223372036854775809",
                                "99999999999999999999"};
    int64_t v;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(attr_parse_int(bad[i], strlen(bad[i]), &v), -1);
    assert_int_equal(attr_parse_int("0", 1, &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(attr_parse_int("-9223372036854775808", 20, &v), 0);
    assert_true(v == INT64_MIN);
}

static void lookups_report_missing(void **state)
{
    attr_list al = ATTR_LIST_INIT;
    strbuf err = STRBUF_INIT;
    const char *s;
    int64_t v;
    attr_add_data(&al, "nul", "a\0b", 3);
    attr_add_str(&al, "num", "12x");
    assert_int_equal(attr_get_str(&al, "queue_id", &s, &err), -1);
    assert_string_equal(err.s, "missing attribute queue_id");
    assert_int_equal(attr_get_str(&al, "nul", &s, &err), -1);
    assert_string_equal(err.s, "attribute nul: string contains a NUL byte");
    assert_int_equal(attr_get_int(&al, "num", &v, &err), -1);
    assert_string_equal(err.s, "attribute num: not a valid integer");
    assert_null(attr_find(&al, "nope"));
    assert_non_null(attr_find(&al, "nul"));
    attr_list_release(&al);
    strbuf_release(&err);
}

static void over_a_stream(void **state)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    stream *a = stream_open(sv[0]), *b = stream_open(sv[1]);
    stream_set_timeout(a, 5000);
    stream_set_timeout(b, 5000);
    attr_list al = ATTR_LIST_INIT, out = ATTR_LIST_INIT;
    strbuf err = STRBUF_INIT, line = STRBUF_INIT;
    build_sample(&al);
    /* attributes, then raw records on the same stream (cleanup protocol) */
    assert_int_equal(attr_write(a, &al, &err), ATTR_OK);
    assert_int_equal(stream_puts(a, "raw record\n"), 0);
    assert_int_equal(attr_send(a, &al, &err), ATTR_OK);
    assert_int_equal(attr_recv(b, &lim, &out, &err), ATTR_OK);
    check_sample(&out);
    assert_int_equal(stream_read_line(b, &line, 100), STREAM_LINE_LF);
    assert_true(strbuf_eq(&line, "raw record"));
    assert_int_equal(attr_recv(b, &lim, &out, &err), ATTR_OK);
    check_sample(&out);

    /* Half a message, then silence: the deadline ends it. */
    strbuf enc = STRBUF_INIT;
    attr_encode(&al, &enc);
    assert_int_equal(stream_write(a, enc.s, enc.len / 2), 0);
    assert_int_equal(stream_flush(a), 0);
    stream_set_timeout(b, 200);
    int64_t t0 = stream_now_ms();
    assert_int_equal(attr_recv(b, &lim, &out, &err), ATTR_TIMEOUT);
    assert_true(stream_now_ms() - t0 < 5000);
    assert_int_equal(attr_list_count(&out), 0);
    stream_discard_input(b);

    /* An announced huge value with the sender gone: rejected by the limit
     * at once, nothing allocated for it. */
    strbuf_reset(&enc);
    put_u32(&enc, 1);
    strbuf_puts(&enc, "v");
    put_u32(&enc, 50000000);
    assert_int_equal(stream_write(a, enc.s, enc.len), 0);
    assert_int_equal(stream_flush(a), 0);
    assert_int_equal(attr_recv(b, &lim, &out, &err), ATTR_TOOBIG);
    stream_discard_input(b);

    /* Clean EOF between messages vs. EOF inside one. */
    assert_int_equal(stream_write(a, "\0\0\0\1", 4), 0);
    assert_int_equal(stream_flush(a), 0);
    stream_close(&a);
    stream_set_timeout(b, 5000);
    assert_int_equal(attr_recv(b, &lim, &out, &err), ATTR_TRUNCATED);
    assert_int_equal(attr_recv(b, &lim, &out, &err), ATTR_EOF);
    stream_close(&b);
    attr_list_release(&al);
    attr_list_release(&out);
    strbuf_release(&enc);
    strbuf_release(&err);
    strbuf_release(&line);
}

static void trickled_message_times_out_as_a_whole(void **state)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* 50 attributes, one every 100 ms: each field is quick, the whole
         * message takes 5 s. */
        close(sv[0]);
        for (int i = 0; i < 50; i++) {
            static const char one[] = "\0\0\0\1a\0\0\0\1b";
            if (write(sv[1], one, sizeof(one) - 1) < 0)
                _exit(0);
            usleep(100000);
        }
        _exit(0);
    }
    close(sv[1]);
    stream *st = stream_open(sv[0]);
    stream_set_timeout(st, 300);
    attr_list out = ATTR_LIST_INIT;
    strbuf err = STRBUF_INIT;
    int64_t t0 = stream_now_ms();
    assert_int_equal(attr_recv(st, &lim, &out, &err), ATTR_TIMEOUT);
    assert_true(stream_now_ms() - t0 < 4000);
    assert_int_equal(stream_deadline(st), -1); /* restored */
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    stream_close(&st);
    attr_list_release(&out);
    strbuf_release(&err);
}

/* A one-shot service: accept one client, read a request, answer
 * {status=0, echo=<queue_id>}. */
static pid_t spawn_server(int lfd)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd;
        for (;;) {
            fd = accept(lfd, NULL, NULL);
            if (fd >= 0)
                break;
            if (errno != EAGAIN && errno != EINTR)
                _exit(2);
            usleep(10000);
        }
        stream *st = stream_open(fd);
        stream_set_timeout(st, 5000);
        attr_list req = ATTR_LIST_INIT, rep = ATTR_LIST_INIT;
        strbuf err = STRBUF_INIT;
        const char *qid;
        if (attr_recv(st, &lim, &req, &err) != ATTR_OK ||
            attr_get_str(&req, "queue_id", &qid, &err) < 0)
            _exit(3);
        attr_add_int(&rep, "status", 0);
        attr_add_str(&rep, "echo", qid);
        if (attr_send(st, &rep, &err) != ATTR_OK)
            _exit(4);
        stream_close(&st);
        _exit(0);
    }
    return pid;
}

static void request_round_trip(void **state)
{
    char dir[] = "/tmp/test_attr.XXXXXX";
    assert_non_null(mkdtemp(dir));
    char priv[64];
    snprintf(priv, sizeof(priv), "%s/private", dir);
    assert_int_equal(mkdir(priv, 0700), 0);
    strbuf path = STRBUF_INIT, err = STRBUF_INIT;
    assert_int_equal(sock_unix_path(dir, "private/cleanup", &path, &err), 0);
    int lfd = sock_unix_listen(path.s, 0666, 10, &err);
    assert_true(lfd >= 0);
    pid_t pid = spawn_server(lfd);
    attr_list req = ATTR_LIST_INIT, rep = ATTR_LIST_INIT;
    attr_add_str(&req, "queue_id", "ABCDEF");
    assert_int_equal(attr_request(dir, "private/cleanup", 5000, &req, &lim, &rep, &err), ATTR_OK);
    int64_t status;
    const char *echo;
    assert_int_equal(attr_get_int(&rep, "status", &status, &err), 0);
    assert_int_equal(status, 0);
    assert_int_equal(attr_get_str(&rep, "echo", &echo, &err), 0);
    assert_string_equal(echo, "ABCDEF");
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);

    /* No service behind the socket any more: fails fast. */
    close(lfd);
    int64_t t0 = stream_now_ms();
    assert_int_equal(attr_request(dir, "private/cleanup", 5000, &req, &lim, &rep, &err),
                     ATTR_IOERR);
    assert_true(stream_now_ms() - t0 < 2000);
    assert_non_null(strstr(err.s, "private/cleanup"));
    assert_int_equal(attr_request(dir, "private/nosuch", 5000, &req, &lim, &rep, &err), ATTR_IOERR);

    unlink(path.s);
    rmdir(priv);
    rmdir(dir);
    attr_list_release(&req);
    attr_list_release(&rep);
    strbuf_release(&path);
    strbuf_release(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(round_trip),
        cmocka_unit_test(wire_format_is_documented_one),
        cmocka_unit_test(every_truncation_rejected),
        cmocka_unit_test(oversized_rejected_before_reading),
        cmocka_unit_test(malformed_names_rejected),
        cmocka_unit_test(random_garbage_does_not_crash),
        cmocka_unit_test(integers_are_strict),
        cmocka_unit_test(lookups_report_missing),
        cmocka_unit_test(over_a_stream),
        cmocka_unit_test(trickled_message_times_out_as_a_whole),
        cmocka_unit_test(request_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
