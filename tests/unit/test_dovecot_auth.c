/* Unit tests: dovecot_auth (line parser; the client against a scripted
 * fake auth server in a child process), base64, xsasl security options. */
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

#include "base64.h"
#include "dovecot_auth.h"
#include "sock.h"
#include "stream.h"
#include "strbuf.h"
#include "xsasl.h"

static const char *const HANDSHAKE =
    "VERSION\t1\t2\nMECH\tPLAIN\tplaintext\nMECH\tLOGIN\tplaintext\n"
    "MECH\tSECRET\tprivate\nSPID\t123\nCUID\t7\nCOOKIE\t0123\nDONE\n";

static int parse(dovecot_line *l, const char *s)
{
    strbuf err = STRBUF_INIT;
    int rc = dovecot_auth_parse_line(l, s, strlen(s), &err);
    strbuf_release(&err);
    return rc;
}

static void test_parse_lines(void **state)
{
    (void)state;
    dovecot_line l;
    dovecot_line_init(&l);
    assert_int_equal(parse(&l, "VERSION\t1\t2"), 0);
    assert_int_equal(l.cmd, DOVECOT_LINE_VERSION);
    assert_int_equal(l.id, 1);
    assert_int_equal(l.minor, 2);
    assert_int_equal(parse(&l, "MECH\tPLAIN\tplaintext\tdictionary\tunknown-flag"), 0);
    assert_int_equal(l.cmd, DOVECOT_LINE_MECH);
    assert_string_equal(strbuf_str(&l.name), "PLAIN");
    assert_int_equal(l.flags, DOVECOT_MECH_PLAINTEXT | DOVECOT_MECH_DICTIONARY);
    assert_int_equal(parse(&l, "OK\t42\tuser=te\001tst\0011x"), 0);
    assert_int_equal(l.cmd, DOVECOT_LINE_OK);
    assert_int_equal(l.id, 42);
    assert_true(l.has_user);
    assert_memory_equal(l.user.s, "te\tst\001x", 8);
    assert_false(l.nologin);
    assert_int_equal(parse(&l, "OK\t1\tuser=x\tproxy\thost=10.0.0.1"), 0);
    assert_true(l.nologin);
    assert_int_equal(parse(&l, "FAIL\t3\tuser=bob\treason=bad pass\tcode=temp_fail"), 0);
    assert_int_equal(l.cmd, DOVECOT_LINE_FAIL);
    assert_string_equal(strbuf_str(&l.reason), "bad pass");
    assert_true(l.temp);
    assert_int_equal(parse(&l, "CONT\t9\tVXNlcm5hbWU6"), 0);
    assert_int_equal(l.cmd, DOVECOT_LINE_CONT);
    assert_string_equal(strbuf_str(&l.data), "VXNlcm5hbWU6");
    assert_int_equal(parse(&l, "CONT\t9"), 0); /* empty challenge */
    assert_int_equal(parse(&l, "NEWTHING\tx"), 0);
    assert_int_equal(l.cmd, DOVECOT_LINE_OTHER);
    /* malformed */
    assert_int_equal(parse(&l, "CONT\t9\tnot base64!"), -1);
    assert_int_equal(parse(&l, "OK\t-1\tuser=x"), -1);
    assert_int_equal(parse(&l, "OK\t99999999999\tuser=x"), -1);
    assert_int_equal(parse(&l, "OK"), -1);
    assert_int_equal(parse(&l, "VERSION\tone\t0"), -1);
    assert_int_equal(parse(&l, "MECH\tPL AIN"), -1);
    dovecot_line_release(&l);
}

static void test_base64(void **state)
{
    (void)state;
    strbuf out = STRBUF_INIT;
    base64_encode(&out, "\0u\0p", 4);
    assert_string_equal(strbuf_str(&out), "AHUAcA==");
    strbuf_reset(&out);
    assert_int_equal(base64_decode(&out, "AHUAcA==", 8), 0);
    assert_int_equal(out.len, 4);
    assert_memory_equal(out.s, "\0u\0p", 4);
    strbuf_reset(&out);
    assert_int_equal(base64_decode(&out, "", 0), 0);
    assert_int_equal(out.len, 0);
    assert_int_equal(base64_decode(&out, "AHU", 3), -1);
    assert_int_equal(base64_decode(&out, "A=UA", 4), -1);
    assert_int_equal(base64_decode(&out, "AH*A", 4), -1);
    assert_int_equal(base64_decode(&out, "AA==AAAA", 8), -1);
    assert_int_equal(out.len, 0);
    assert_true(base64_valid("VXNlcm5hbWU6", 12));
    strbuf_release(&out);
}

static void test_security_options(void **state)
{
    (void)state;
    unsigned f = 0;
    strbuf err = STRBUF_INIT;
    assert_int_equal(xsasl_parse_security_options("noanonymous, noplaintext", &f, &err), 0);
    assert_int_equal(f, XSASL_SEC_NOANONYMOUS | XSASL_SEC_NOPLAINTEXT);
    assert_int_equal(xsasl_parse_security_options("", &f, &err), 0);
    assert_int_equal(f, 0);
    assert_int_equal(xsasl_parse_security_options("noanonymous bogus", &f, &err), -1);
    strbuf_release(&err);
}

/* ---- fake server ---------------------------------------------------------- */

static char sock_path[108];
static pid_t child;

/* The child: accept one client, read its lines; for each line that starts
 * with a key in script[i].when send script[i].reply. Exit at EOF. The
 * client's lines are appended to a log file for the parent to check. */
struct step {
    const char *when;
    const char *reply;
};

static void serve(int lfd, const char *greeting, const struct step *script, const char *logpath)
{
    /* Listening sockets are non-blocking: wait for the client, or accept
     * fails with EAGAIN when the child runs before the client connects. */
    if (sock_set_nonblock(lfd, false) < 0)
        _exit(2);
    int fd = accept(lfd, NULL, NULL);
    if (fd < 0)
        _exit(2);
    FILE *log = fopen(logpath, "w");
    stream *st = stream_open(fd);
    stream_set_timeout(st, 5000);
    if (greeting) {
        stream_puts(st, greeting);
        stream_flush(st);
    }
    strbuf line = STRBUF_INIT;
    while (stream_read_line(st, &line, 20000) >= 0) {
        fprintf(log, "%s\n", strbuf_str(&line));
        fflush(log);
        for (const struct step *s = script; s && s->when; s++) {
            if (strncmp(strbuf_str(&line), s->when, strlen(s->when)) == 0) {
                if (strcmp(s->reply, "CLOSE") == 0)
                    _exit(0);
                stream_puts(st, s->reply);
                stream_flush(st);
                break;
            }
        }
    }
    _exit(0);
}

static const char *logpath(void)
{
    static char p[128];
    snprintf(p, sizeof(p), "%s.log", sock_path);
    return p;
}

static void start_server(const char *greeting, const struct step *script)
{
    snprintf(sock_path, sizeof(sock_path), "/tmp/test_dovecot_auth.%ld", (long)getpid());
    strbuf err = STRBUF_INIT;
    int lfd = sock_unix_listen(sock_path, 0600, 5, &err);
    assert_true(lfd >= 0);
    child = fork();
    assert_true(child >= 0);
    if (child == 0)
        serve(lfd, greeting, script, logpath());
    close(lfd);
    strbuf_release(&err);
}

static void stop_server(void)
{
    int status;
    kill(child, SIGTERM);
    waitpid(child, &status, 0);
    unlink(sock_path);
    unlink(logpath());
}

static char *client_log(void)
{
    static char buf[8192];
    FILE *f = fopen(logpath(), "r");
    size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
    buf[n] = 0;
    if (f)
        fclose(f);
    return buf;
}

static void test_plain_ok(void **state)
{
    (void)state;
    static const struct step script[] = {
        {"AUTH\t1\tPLAIN", "OK\t7\tuser=other\nOK\t1\tuser=tester\n"}, {NULL, NULL}};
    start_server(HANDSHAKE, script);
    strbuf err = STRBUF_INIT, out = STRBUF_INIT, user = STRBUF_INIT, reason = STRBUF_INIT;
    dovecot_auth *da = dovecot_auth_open(sock_path, 5000, &err);
    assert_non_null(da);
    assert_int_equal(dovecot_auth_mech_count(da), 3);
    struct dovecot_auth_request r = {.mech = "PLAIN",
                                     .service = "smtp",
                                     .local_ip = "127.0.0.1",
                                     .remote_ip = "127.0.0.2",
                                     .secured = true,
                                     .initial_resp = "AHRlc3RlcgBwdw=="};
    /* The reply for id 7 is skipped: only id 1 answers this request. */
    assert_int_equal(dovecot_auth_start(da, &r, &out, &user, &reason), DOVECOT_AUTH_OK);
    assert_string_equal(strbuf_str(&out), "tester");
    dovecot_auth_free(&da);
    assert_null(da);
    usleep(50000);
    char *log = client_log();
    assert_non_null(strstr(log, "VERSION\t1\t0\nCPID\t"));
    assert_non_null(strstr(log, "AUTH\t1\tPLAIN\tservice=smtp\tnologin\tlip=127.0.0.1\t"
                                "rip=127.0.0.2\tsecured\tresp=AHRlc3RlcgBwdw==\n"));
    stop_server();
    strbuf_release(&err);
    strbuf_release(&out);
    strbuf_release(&user);
    strbuf_release(&reason);
}

static void test_login_cont_fail_and_nologin(void **state)
{
    (void)state;
    static const struct step script[] = {
        {"AUTH\t1\tLOGIN", "CONT\t1\tVXNlcm5hbWU6\n"},
        {"CONT\t1\tdGVzdGVy", "CONT\t1\tUGFzc3dvcmQ6\n"},
        {"CONT\t1\t", "FAIL\t1\tuser=tester\n"},
        {"AUTH\t2\tPLAIN", "OK\t2\tuser=tester\tnologin\n"},
        {"AUTH\t3\tPLAIN", "FAIL\t3\treason=try later\tcode=temp_fail\n"},
        {"AUTH\t4\tPLAIN", "CLOSE"},
        {NULL, NULL}};
    start_server(HANDSHAKE, script);
    strbuf err = STRBUF_INIT, out = STRBUF_INIT, user = STRBUF_INIT, reason = STRBUF_INIT;
    dovecot_auth *da = dovecot_auth_open(sock_path, 5000, &err);
    assert_non_null(da);
    struct dovecot_auth_request r = {.mech = "LOGIN", .service = "smtp"};
    assert_int_equal(dovecot_auth_start(da, &r, &out, &user, &reason), DOVECOT_AUTH_CONT);
    assert_string_equal(strbuf_str(&out), "VXNlcm5hbWU6");
    assert_int_equal(dovecot_auth_continue(da, "dGVzdGVy", &out, &user, &reason),
                     DOVECOT_AUTH_CONT);
    assert_int_equal(dovecot_auth_continue(da, "d3Jvbmc=", &out, &user, &reason),
                     DOVECOT_AUTH_FAIL);
    assert_string_equal(strbuf_str(&reason), "authentication failure");
    assert_string_equal(strbuf_str(&user), "tester");
    r.mech = "PLAIN";
    assert_int_equal(dovecot_auth_start(da, &r, &out, &user, &reason), DOVECOT_AUTH_FAIL);
    assert_non_null(strstr(strbuf_str(&reason), "nologin"));
    assert_int_equal(dovecot_auth_start(da, &r, &out, &user, &reason), DOVECOT_AUTH_TEMP);
    assert_string_equal(strbuf_str(&reason), "try later");
    /* Unknown mechanism and bad base64 are refused without asking. */
    r.mech = "CRAM-MD5";
    assert_int_equal(dovecot_auth_start(da, &r, &out, &user, &reason), DOVECOT_AUTH_FAIL);
    r.mech = "PLAIN";
    r.initial_resp = "@@@";
    assert_int_equal(dovecot_auth_start(da, &r, &out, &user, &reason), DOVECOT_AUTH_FAIL);
    r.initial_resp = NULL;
    /* The server goes away: temporary failure, connection marked dead. */
    assert_int_equal(dovecot_auth_start(da, &r, &out, &user, &reason), DOVECOT_AUTH_TEMP);
    assert_string_equal(strbuf_str(&reason), "Connection lost to authentication server");
    assert_false(dovecot_auth_alive(da));
    dovecot_auth_free(&da);
    stop_server();
    strbuf_release(&err);
    strbuf_release(&out);
    strbuf_release(&user);
    strbuf_release(&reason);
}

static void test_wrong_socket_and_version(void **state)
{
    (void)state;
    strbuf err = STRBUF_INIT;
    start_server("VERSION\t1\t2\nSPID\t1\nDONE\n", NULL); /* auth-master style */
    assert_null(dovecot_auth_open(sock_path, 5000, &err));
    assert_non_null(strstr(strbuf_str(&err), "SPID before any MECH"));
    stop_server();
    strbuf_reset(&err);
    start_server("VERSION\t2\t0\nMECH\tPLAIN\nDONE\n", NULL);
    assert_null(dovecot_auth_open(sock_path, 5000, &err));
    assert_non_null(strstr(strbuf_str(&err), "version 2"));
    stop_server();
    strbuf_reset(&err);
    start_server("VERSION\t1\t2\nMECH\tPLAIN\n", NULL); /* then EOF before DONE */
    kill(child, SIGTERM);
    assert_null(dovecot_auth_open(sock_path, 2000, &err));
    stop_server();
    strbuf_release(&err);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_lines),
        cmocka_unit_test(test_base64),
        cmocka_unit_test(test_security_options),
        cmocka_unit_test(test_plain_ok),
        cmocka_unit_test(test_login_cont_fail_and_nologin),
        cmocka_unit_test(test_wrong_socket_and_version),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
