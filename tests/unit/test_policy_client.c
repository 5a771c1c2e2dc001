/* Unit tests: policy_client -- service specs, the reply parser with
 * hostile replies, and the client against scripted fake policy servers in
 * a child process (connection reuse, request_limit, a server that hangs
 * up, one that never answers, one that answers garbage, none at all). */
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
#include <unistd.h>

#include <cmocka.h>

#include "policy_client.h"
#include "sock.h"
#include "stream.h"
#include "strbuf.h"

static const struct policy_settings DEFAULTS = {
    .timeout_s = 100,
    .max_idle_s = 300,
    .max_ttl_s = 1000,
    .retry_delay_s = 1,
    .request_limit = 0,
    .try_limit = 2,
    .default_action = "451 4.3.5 Server configuration problem",
    .policy_context = "",
    .line_limit = 2048,
};

static int parse_spec(const char *spec, struct policy_settings *out, strbuf *err)
{
    return policy_settings_parse(spec, &DEFAULTS, out, err);
}

static void test_specs(void **state)
{
    (void)state;
    struct policy_settings s;
    strbuf err = STRBUF_INIT;
    assert_int_equal(parse_spec("inet:127.0.0.1:10023", &s, &err), 0);
    assert_string_equal(s.transport, "inet");
    assert_string_equal(s.endpoint, "127.0.0.1:10023");
    assert_int_equal(s.timeout_s, 100);
    assert_int_equal(s.try_limit, 2);
    assert_string_equal(s.default_action, "451 4.3.5 Server configuration problem");
    policy_settings_release(&s);

    assert_int_equal(parse_spec("unix:private/policy", &s, &err), 0);
    assert_string_equal(s.transport, "unix");
    assert_string_equal(s.endpoint, "private/policy");
    policy_settings_release(&s);
    assert_int_equal(parse_spec("local:private/policy", &s, &err), 0);
    assert_string_equal(s.transport, "unix");
    policy_settings_release(&s);

    /* The braces are gone (the list split removed them); overrides follow. */
    assert_int_equal(parse_spec(" inet:[::1]:9998, timeout=10s, default_action=DUNNO,\n"
                                "  max_idle=1m max_ttl=2h, try_limit=1, retry_delay=3,"
                                " request_limit=5, policy_context=submission,"
                                " { default_action = 450 4.7.1 try later } ",
                                &s, &err),
                     0);
    assert_string_equal(s.endpoint, "[::1]:9998");
    assert_int_equal(s.timeout_s, 10);
    assert_int_equal(s.max_idle_s, 60);
    assert_int_equal(s.max_ttl_s, 7200);
    assert_int_equal(s.try_limit, 1);
    assert_int_equal(s.retry_delay_s, 3);
    assert_int_equal(s.request_limit, 5);
    assert_string_equal(s.policy_context, "submission");
    assert_string_equal(s.default_action, "450 4.7.1 try later");
    policy_settings_release(&s);

    static const char *const bad[] = {
        "",
        "inet",
        "inet:",
        ":x",
        "tcp:127.0.0.1:1",
        "inet:127.0.0.1",
        "inet::25",
        "inet:127.0.0.1:99999",
        "inet:127.0.0.1:1, timeout",
        "inet:127.0.0.1:1, timeout=",
        "inet:127.0.0.1:1, timeout=0",
        "inet:127.0.0.1:1, timeout=-1s",
        "inet:127.0.0.1:1, timeout=10x",
        "inet:127.0.0.1:1, timeout=99999999999999999999",
        "inet:127.0.0.1:1, try_limit=0",
        "inet:127.0.0.1:1, request_limit=-1",
        "inet:127.0.0.1:1, default_action=",
        "inet:127.0.0.1:1, policy_context=",
        "inet:127.0.0.1:1, colour=blue",
        "inet:127.0.0.1:1, =5",
        "inet:127.0.0.1:1, { timeout=1",
        "inet:127.0.0.1:1, }",
        "inet:ho$t:1",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        strbuf_reset(&err);
        if (parse_spec(bad[i], &s, &err) == 0)
            fail_msg("accepted \"%s\"", bad[i]);
        assert_true(err.len > 0);
    }
    strbuf_release(&err);
}

static int reply(const char *text, strbuf *action)
{
    strbuf err = STRBUF_INIT;
    int r = policy_reply_parse(text, strlen(text), 64, action, &err);
    if (r < 0)
        assert_true(err.len > 0);
    strbuf_release(&err);
    return r;
}

static void test_replies(void **state)
{
    (void)state;
    strbuf a = STRBUF_INIT;
    assert_int_equal(reply("action=DUNNO\n\n", &a), 0);
    assert_string_equal(strbuf_str(&a), "DUNNO");
    assert_int_equal(reply("action=DEFER_IF_PERMIT 4.2.0 Greylisted, see x\r\n\r\n", &a), 0);
    assert_string_equal(strbuf_str(&a), "DEFER_IF_PERMIT 4.2.0 Greylisted, see x");
    /* The first action counts; other attributes are ignored. */
    assert_int_equal(reply("x-extra=1\naction=OK\naction=REJECT\n\n", &a), 0);
    assert_string_equal(strbuf_str(&a), "OK");
    /* '=' inside the value is the value's. */
    assert_int_equal(reply("action=PREPEND X-A: b=c\n\n", &a), 0);
    assert_string_equal(strbuf_str(&a), "PREPEND X-A: b=c");
    assert_int_equal(reply("action=\n\n", &a), 0);
    assert_string_equal(strbuf_str(&a), "");

    static const char *const bad[] = {
        "",
        "\n",                             /* no action */
        "foo=bar\n\n",                    /* no action */
        "action=OK\n",                    /* no end */
        "action=OK",                      /* no end */
        "action=OK\n\naction=REJECT\n\n", /* a second reply behind the first */
        "action OK\n\n",                  /* no '=' */
        "=OK\n\n",                        /* empty name */
        "action="
        "0123456789012345678901234567890123456789012345678901234567890\n\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (reply(bad[i], &a) == 0)
            fail_msg("accepted reply %zu", i);
    /* A NUL inside the value. */
    strbuf err = STRBUF_INIT;
    assert_int_equal(policy_reply_parse("action=O\0K\n\n", 12, 64, &a, &err), -1);
    /* Too many attribute lines. */
    strbuf many = STRBUF_INIT;
    for (int i = 0; i <= POLICY_REPLY_LINES_MAX; i++)
        strbuf_puts(&many, "x=1\n");
    strbuf_puts(&many, "action=OK\n\n");
    assert_int_equal(policy_reply_parse(many.s, many.len, 64, &a, &err), -1);
    strbuf_release(&many);
    strbuf_release(&err);
    strbuf_release(&a);
}

static void test_request_values(void **state)
{
    (void)state;
    strbuf req = STRBUF_INIT;
    policy_request_add(&req, "helo_name", "evil\r\n\nrecipient=x");
    policy_request_add(&req, "sender", NULL);
    assert_string_equal(strbuf_str(&req), "helo_name=evil???recipient=x\nsender=\n");
    strbuf_release(&req);
}

/* ---- fake servers ---- */

enum script { S_NORMAL, S_HANGUP_AFTER_ONE, S_SILENT, S_GARBAGE };

static char dir[64], path[128];

/* Serve connections until killed: read requests (up to the empty line),
 * answer "action=DUNNO c<connection>r<request> <first attribute>". */
static void serve(int lfd, enum script sc)
{
    for (int conn = 1;; conn++) {
        int fd = accept(lfd, NULL, NULL);
        if (fd < 0)
            _exit(1);
        stream *st = stream_open(fd);
        strbuf line = STRBUF_INIT, first = STRBUF_INIT;
        for (int req = 1;; req++) {
            strbuf_reset(&first);
            int k;
            while ((k = stream_read_line(st, &line, 4096)) >= 0 && line.len > 0)
                if (!first.len)
                    strbuf_set(&first, strbuf_str(&line));
            if (k < 0)
                break;
            if (sc == S_SILENT) {
                pause();
            } else if (sc == S_GARBAGE) {
                (void)stream_write(st, "action=DUNNO\0oops\n\n", 19);
            } else {
                (void)stream_printf(st, "action=DUNNO c%dr%d %s\n\n", conn, req,
                                    strbuf_str(&first));
            }
            (void)stream_flush(st);
            if (sc == S_HANGUP_AFTER_ONE)
                break;
        }
        stream_close(&st);
        strbuf_release(&line);
        strbuf_release(&first);
    }
}

static pid_t start_server(enum script sc)
{
    strbuf err = STRBUF_INIT;
    int lfd = sock_unix_listen(path, 0600, 8, &err);
    assert_true(lfd >= 0);
    (void)sock_set_nonblock(lfd, false);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        serve(lfd, sc);
    close(lfd);
    strbuf_release(&err);
    return pid;
}

static void stop_server(pid_t pid)
{
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    unlink(path);
}

static policy_client *client(long long timeout, long long tries, long long req_limit)
{
    struct policy_settings s = DEFAULTS;
    s.transport = "unix";
    s.endpoint = path;
    s.timeout_s = timeout;
    s.try_limit = tries;
    s.request_limit = req_limit;
    s.retry_delay_s = 1;
    return policy_client_new(&s);
}

static int ask(policy_client *pc, const char *first, strbuf *action)
{
    strbuf req = STRBUF_INIT;
    policy_request_add(&req, "request", first);
    policy_request_add(&req, "protocol_state", "RCPT");
    int r = policy_client_query(pc, &req, action);
    strbuf_release(&req);
    return r;
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/test_policy_XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/policy", dir);
    signal(SIGPIPE, SIG_IGN);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    unlink(path);
    rmdir(dir);
    return 0;
}

static void test_reuse_and_request_limit(void **state)
{
    (void)state;
    pid_t pid = start_server(S_NORMAL);
    strbuf a = STRBUF_INIT;
    policy_client *pc = client(5, 2, 0);
    assert_int_equal(ask(pc, "smtpd_access_policy", &a), 0);
    assert_string_equal(strbuf_str(&a), "DUNNO c1r1 request=smtpd_access_policy");
    assert_int_equal(ask(pc, "again", &a), 0);
    assert_string_equal(strbuf_str(&a), "DUNNO c1r2 request=again");
    policy_client_free(&pc);
    assert_null(pc);

    /* request_limit=2: the third request opens connection 3 (the server
     * numbers connections over its life: c2 was the first here). */
    pc = client(5, 2, 2);
    assert_int_equal(ask(pc, "x", &a), 0);
    assert_string_equal(strbuf_str(&a), "DUNNO c2r1 request=x");
    assert_int_equal(ask(pc, "y", &a), 0);
    assert_string_equal(strbuf_str(&a), "DUNNO c2r2 request=y");
    assert_int_equal(ask(pc, "z", &a), 0);
    assert_string_equal(strbuf_str(&a), "DUNNO c3r1 request=z");
    policy_client_free(&pc);
    strbuf_release(&a);
    stop_server(pid);
}

static void test_max_idle(void **state)
{
    (void)state;
    pid_t pid = start_server(S_NORMAL);
    strbuf a = STRBUF_INIT;
    struct policy_settings s = DEFAULTS;
    s.transport = "unix";
    s.endpoint = path;
    s.max_idle_s = 1;
    policy_client *pc = policy_client_new(&s);
    assert_int_equal(ask(pc, "x", &a), 0);
    assert_string_equal(strbuf_str(&a), "DUNNO c1r1 request=x");
    assert_int_equal(ask(pc, "y", &a), 0);
    assert_string_equal(strbuf_str(&a), "DUNNO c1r2 request=y");
    usleep(1200 * 1000); /* idle longer than max_idle: the next request reconnects */
    assert_int_equal(ask(pc, "z", &a), 0);
    assert_string_equal(strbuf_str(&a), "DUNNO c2r1 request=z");
    policy_client_free(&pc);
    strbuf_release(&a);
    stop_server(pid);
}

static void test_server_hangs_up(void **state)
{
    (void)state;
    pid_t pid = start_server(S_HANGUP_AFTER_ONE);
    strbuf a = STRBUF_INIT;
    policy_client *pc = client(5, 1, 0);
    assert_int_equal(ask(pc, "one", &a), 0);
    assert_string_equal(strbuf_str(&a), "DUNNO c1r1 request=one");
    usleep(100 * 1000); /* let the close arrive */
    /* The closed connection is noticed before sending: a fresh one at once,
     * even with a single try. */
    int64_t t0 = stream_now_ms();
    assert_int_equal(ask(pc, "two", &a), 0);
    assert_string_equal(strbuf_str(&a), "DUNNO c2r1 request=two");
    assert_true(stream_now_ms() - t0 < 900);
    policy_client_free(&pc);
    strbuf_release(&a);
    stop_server(pid);
}

static void test_silent_server_times_out(void **state)
{
    (void)state;
    pid_t pid = start_server(S_SILENT);
    strbuf a = STRBUF_INIT;
    policy_client *pc = client(1, 1, 0);
    int64_t t0 = stream_now_ms();
    assert_int_equal(ask(pc, "x", &a), -1);
    int64_t took = stream_now_ms() - t0;
    assert_true(took >= 900 && took < 3000);
    policy_client_free(&pc);
    strbuf_release(&a);
    stop_server(pid);
}

static void test_garbage_then_down(void **state)
{
    (void)state;
    pid_t pid = start_server(S_GARBAGE);
    strbuf a = STRBUF_INIT;
    /* Two tries, a retry_delay of 1s between them, then failure. */
    policy_client *pc = client(5, 2, 0);
    int64_t t0 = stream_now_ms();
    assert_int_equal(ask(pc, "x", &a), -1);
    assert_true(stream_now_ms() - t0 >= 900);
    stop_server(pid);
    /* Nobody listening any more. */
    assert_int_equal(ask(pc, "x", &a), -1);
    policy_client_free(&pc);
    strbuf_release(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_specs),
        cmocka_unit_test(test_replies),
        cmocka_unit_test(test_request_values),
        cmocka_unit_test_setup_teardown(test_reuse_and_request_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_max_idle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_server_hangs_up, setup, teardown),
        cmocka_unit_test_setup_teardown(test_silent_server_times_out, setup, teardown),
        cmocka_unit_test_setup_teardown(test_garbage_then_down, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
