/* Unit tests: sock (listen, connect, spec parsing, peer names, triggers).
 * Loopback and temporary directories only. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "sock.h"
#include "stream.h"
#include "strbuf.h"

static char tmpdir[64];

static int setup_dir(void **state)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_sock.XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int remove_dir(void **state)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static void in_tmp(strbuf *path, const char *name)
{
    strbuf_reset(path);
    strbuf_printf(path, "%s/%s", tmpdir, name);
}

static int accept_wait(int lfd)
{
    struct pollfd p = {.fd = lfd, .events = POLLIN};
    assert_int_equal(poll(&p, 1, 5000), 1);
    int fd = accept(lfd, NULL, NULL);
    assert_true(fd >= 0);
    return fd;
}

static void inet_listen_connect_v4(void **state)
{
    strbuf err = STRBUF_INIT, peer = STRBUF_INIT;
    int lfd;
    assert_int_equal(sock_inet_listen("127.0.0.1:0", AF_UNSPEC, 16, &lfd, 1, &err), 1);
    assert_true(fcntl(lfd, F_GETFD) & FD_CLOEXEC);
    assert_true(fcntl(lfd, F_GETFL) & O_NONBLOCK);
    unsigned port;
    assert_int_equal(sock_local_port(lfd, &port), 0);
    assert_true(port > 0);
    int cfd = sock_inet_connect("127.0.0.1", port, AF_UNSPEC, 5000, &err);
    assert_true(cfd >= 0);
    assert_false(fcntl(cfd, F_GETFL) & O_NONBLOCK);
    int sfd = accept_wait(lfd);
    assert_int_equal(sock_peer_describe(sfd, false, &peer, &err), 0);
    assert_string_equal(peer.s, "unknown[127.0.0.1]");
    assert_int_equal(sock_peer_describe(sfd, true, &peer, &err), 0);
    size_t n = peer.len;
    assert_true(n > 11 && strcmp(peer.s + n - 11, "[127.0.0.1]") == 0);
    /* From an address the caller has: the same text, both ways. */
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    assert_int_equal(getpeername(sfd, (struct sockaddr *)&ss, &sl), 0);
    strbuf peer2 = STRBUF_INIT;
    sock_peer_describe_addr((struct sockaddr *)&ss, sl, true, &peer2);
    assert_string_equal(peer2.s, peer.s);
    sock_peer_describe_addr((struct sockaddr *)&ss, sl, false, &peer2);
    assert_string_equal(peer2.s, "unknown[127.0.0.1]");
    strbuf_release(&peer2);
    assert_int_equal(write(cfd, "hi", 2), 2);
    char buf[2];
    assert_int_equal(read(sfd, buf, 2), 2);
    close(sfd);
    close(cfd);
    close(lfd);
    /* Nobody listens any more: refused at once. */
    int64_t t0 = stream_now_ms();
    assert_int_equal(sock_inet_connect("127.0.0.1", port, AF_UNSPEC, 5000, &err), -1);
    assert_true(stream_now_ms() - t0 < 2000);
    assert_non_null(strstr(err.s, "connect to 127.0.0.1[127.0.0.1]"));
    strbuf_release(&err);
    strbuf_release(&peer);
}

static void inet_listen_v6_and_wildcard(void **state)
{
    strbuf err = STRBUF_INIT;
    int fds[4];
    int n = sock_inet_listen("[::1]:0", AF_UNSPEC, 16, fds, 4, &err);
    if (n < 0) {
        print_message("IPv6 loopback unavailable: %s\n", err.s);
    } else {
        assert_int_equal(n, 1);
        int one = 0;
        socklen_t sl = sizeof(one);
        assert_int_equal(getsockopt(fds[0], IPPROTO_IPV6, IPV6_V6ONLY, &one, &sl), 0);
        assert_int_equal(one, 1);
        unsigned port;
        assert_int_equal(sock_local_port(fds[0], &port), 0);
        int c = sock_inet_connect("::1", port, AF_INET6, 5000, &err);
        assert_true(c >= 0);
        int s = accept_wait(fds[0]);
        strbuf peer = STRBUF_INIT;
        assert_int_equal(sock_peer_describe(s, false, &peer, &err), 0);
        assert_string_equal(peer.s, "unknown[::1]");
        strbuf_release(&peer);
        close(s);
        close(c);
        close(fds[0]);
    }
    /* ":0" with IPv4 only: the IPv4 wildcard. */
    assert_int_equal(sock_inet_listen(":0", AF_INET, 16, fds, 4, &err), 1);
    close(fds[0]);
    /* Too many addresses for the caller's array. */
    assert_int_equal(sock_inet_listen("127.0.0.1:0", AF_INET, 16, fds, 0, &err), -1);
    strbuf_release(&err);
}

static void address_formatting(void **state)
{
    strbuf out = STRBUF_INIT;
    struct sockaddr_in6 s6 = {.sin6_family = AF_INET6};
    assert_int_equal(inet_pton(AF_INET6, "::ffff:192.0.2.1", &s6.sin6_addr), 1);
    sock_format_peer((struct sockaddr *)&s6, sizeof(s6), NULL, &out);
    assert_string_equal(out.s, "unknown[192.0.2.1]");
    assert_int_equal(inet_pton(AF_INET6, "2001:db8::25", &s6.sin6_addr), 1);
    sock_format_peer((struct sockaddr *)&s6, sizeof(s6), "mx.example.org", &out);
    assert_string_equal(out.s, "mx.example.org[2001:db8::25]");
    struct sockaddr_in s4 = {.sin_family = AF_INET};
    assert_int_equal(inet_pton(AF_INET, "10.1.2.3", &s4.sin_addr), 1);
    sock_format_peer((struct sockaddr *)&s4, sizeof(s4), "", &out);
    assert_string_equal(out.s, "unknown[10.1.2.3]");
    /* A truncated address length never reads past it. */
    sock_addr_str((struct sockaddr *)&s4, 2, &out);
    assert_string_equal(out.s, "unknown");
    strbuf_release(&out);
}

static void parse_good_specs(void **state)
{
    static const struct {
        const char *spec, *host;
        unsigned port;
    } good[] = {
        {"25", "", 25},
        {"smtp", "", 25},
        {":2525", "", 2525},
        {"127.0.0.1:smtp", "127.0.0.1", 25},
        {"[::1]:587", "::1", 587},
        {"[::ffff:1.2.3.4]:0", "::ffff:1.2.3.4", 0},
        {"mail.example.org:65535", "mail.example.org", 65535},
        {"localhost:submission", "localhost", 587},
        {"[192.0.2.1]:25", "192.0.2.1", 25},
    };
    strbuf host = STRBUF_INIT, err = STRBUF_INIT;
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        unsigned port = 99999;
        if (sock_parse_hostport(good[i].spec, &host, &port, &err) != 0)
            fail_msg("%s: %s", good[i].spec, err.s);
        assert_string_equal(strbuf_str(&host), good[i].host);
        assert_int_equal(port, good[i].port);
    }
    strbuf_release(&host);
    strbuf_release(&err);
}

static void parse_hostile_specs(void **state)
{
    static const char *bad[] = {
        "",
        ":",
        "host:",
        "::1:25",
        "[::1]",
        "[::1]25",
        "[::1]:",
        "[zz]:25",
        "[]:25",
        "[1.2.3]:25",
        "host:99999",
        "host:65536",
        "host:-1",
        "ho st:25",
        "host:25\n",
        "a:b:c",
        "%n%n:25",
        "host:nosuchsvc",
        "host\r:25",
        "[::1]:25x",
        "[::1]x:25",
        "host:2 5",
        "\xff:25",
        "host:0x19",
        "host;rm -rf /:25",
        "[::1%eth0]:25",
    };
    strbuf host = STRBUF_INIT, err = STRBUF_INIT;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        unsigned port = 0;
        if (sock_parse_hostport(bad[i], &host, &port, &err) != -1)
            fail_msg("accepted \"%s\"", bad[i]);
        assert_true(err.len > 0);
        assert_int_equal(host.len, 0);
    }
    /* Very long strings are refused without being resolved. */
    strbuf big = STRBUF_INIT;
    for (int i = 0; i < 100000; i++)
        strbuf_putc(&big, 'a');
    strbuf_puts(&big, ":25");
    unsigned port;
    assert_int_equal(sock_parse_hostport(big.s, &host, &port, &err), -1);
    strbuf_reset(&big);
    for (int i = 0; i < 300; i++)
        strbuf_putc(&big, 'a');
    strbuf_puts(&big, ":25");
    assert_int_equal(sock_parse_hostport(big.s, &host, &port, &err), -1);
    assert_int_equal(sock_parse_port("123456789012345678901234567890", &port, &err), -1);
    assert_int_equal(sock_inet_connect("bad host", 25, AF_UNSPEC, 1000, &err), -1);
    strbuf_release(&big);
    strbuf_release(&host);
    strbuf_release(&err);
}

static void unix_listen_connect(void **state)
{
    strbuf path = STRBUF_INIT, err = STRBUF_INIT;
    in_tmp(&path, "svc");
    int lfd = sock_unix_listen(path.s, 0666, 16, &err);
    assert_true(lfd >= 0);
    struct stat sb;
    assert_int_equal(stat(path.s, &sb), 0);
    assert_true(S_ISSOCK(sb.st_mode));
    assert_int_equal(sb.st_mode & 0777, 0666);
    int c = sock_unix_connect(path.s, 5000, &err);
    assert_true(c >= 0);
    int s = accept_wait(lfd);
    strbuf peer = STRBUF_INIT;
    assert_int_equal(sock_peer_describe(s, true, &peer, &err), 0);
    assert_string_equal(peer.s, "localhost[127.0.0.1]");
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    assert_int_equal(getpeername(s, (struct sockaddr *)&ss, &sl), 0);
    sock_peer_describe_addr((struct sockaddr *)&ss, sl, true, &peer);
    assert_string_equal(peer.s, "localhost[127.0.0.1]");
    strbuf_release(&peer);
    assert_false(fcntl(c, F_GETFL) & O_NONBLOCK);
    close(s);
    close(c);

    /* The non-blocking variant: connected, mode left non-blocking. */
    c = sock_unix_connect_nonblock(path.s, 5000, &err);
    assert_true(c >= 0);
    assert_true(fcntl(c, F_GETFL) & O_NONBLOCK);
    assert_true(fcntl(c, F_GETFD) & FD_CLOEXEC);
    s = accept_wait(lfd);
    assert_int_equal(write(c, "hi", 2), 2);
    char hb[2];
    assert_int_equal(read(s, hb, 2), 2);
    close(s);
    close(c);
    close(lfd);

    /* The stale socket left behind is replaced. */
    lfd = sock_unix_listen(path.s, 0600, 16, &err);
    assert_true(lfd >= 0);
    assert_int_equal(stat(path.s, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    close(lfd);

    /* A regular file is never removed. */
    in_tmp(&path, "file");
    int fd = open(path.s, O_CREAT | O_WRONLY, 0600);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(sock_unix_listen(path.s, 0666, 16, &err), -1);
    assert_non_null(strstr(err.s, "not a socket"));
    assert_int_equal(stat(path.s, &sb), 0);
    assert_true(S_ISREG(sb.st_mode));

    /* Path longer than sun_path. */
    strbuf_reset(&path);
    for (int i = 0; i < 200; i++)
        strbuf_puts(&path, "x");
    assert_int_equal(sock_unix_listen(path.s, 0666, 16, &err), -1);
    assert_int_equal(sock_unix_connect(path.s, 100, &err), -1);
    assert_int_equal(sock_unix_path(tmpdir, path.s, &path, &err), -1);

    in_tmp(&path, "missing");
    assert_int_equal(sock_unix_connect(path.s, 5000, &err), -1);
    int64_t t0 = stream_now_ms();
    assert_int_equal(sock_unix_connect_nonblock(path.s, 5000, &err), -1);
    assert_true(stream_now_ms() - t0 < 2000);
    assert_non_null(strstr(err.s, "connect to"));
    strbuf_release(&path);
    strbuf_release(&err);
}

static void trigger_unix_socket(void **state)
{
    strbuf path = STRBUF_INIT, err = STRBUF_INIT;
    in_tmp(&path, "qmgr");
    int lfd = sock_unix_listen(path.s, 0666, 16, &err);
    assert_true(lfd >= 0);
    assert_int_equal(sock_trigger(path.s, "I", 1, 1000, &err), 0);
    int s = accept_wait(lfd);
    char c = 0;
    assert_int_equal(read(s, &c, 1), 1);
    assert_int_equal(c, 'I');
    close(s);

    /* A listener that never accepts: every trigger either succeeds or fails
     * within its timeout once the backlog is full; none blocks. */
    int64_t t0 = stream_now_ms();
    int failures = 0;
    for (int i = 0; i < 40; i++) {
        int64_t t1 = stream_now_ms();
        if (sock_trigger(path.s, "W", 1, 100, &err) < 0)
            failures++;
        assert_true(stream_now_ms() - t1 < 5000);
    }
    assert_true(stream_now_ms() - t0 < 20000);
    print_message("backlog full: %d of 40 triggers failed (%s)\n", failures, err.s);
    close(lfd);

    /* The socket file remains but nobody listens: refused at once. */
    t0 = stream_now_ms();
    assert_int_equal(sock_trigger(path.s, "W", 1, 5000, &err), -1);
    assert_true(stream_now_ms() - t0 < 2000);
    in_tmp(&path, "nothing");
    assert_int_equal(sock_trigger(path.s, "W", 1, 5000, &err), -1);
    in_tmp(&path, "regular");
    int fd = open(path.s, O_CREAT | O_WRONLY, 0600);
    close(fd);
    assert_int_equal(sock_trigger(path.s, "W", 1, 5000, &err), -1);
    assert_non_null(strstr(err.s, "not a FIFO or socket"));
    strbuf_release(&path);
    strbuf_release(&err);
}

static void trigger_fifo(void **state)
{
    strbuf path = STRBUF_INIT, err = STRBUF_INIT;
    in_tmp(&path, "pickup");
    assert_int_equal(mkfifo(path.s, 0622), 0);
    /* No reader: fails fast instead of blocking in open(2). */
    int64_t t0 = stream_now_ms();
    assert_int_equal(sock_trigger(path.s, "W", 1, 5000, &err), -1);
    assert_true(stream_now_ms() - t0 < 2000);
    assert_non_null(strstr(err.s, "open"));
    /* With a reader the trigger arrives. */
    int rfd = open(path.s, O_RDONLY | O_NONBLOCK);
    assert_true(rfd >= 0);
    assert_int_equal(sock_trigger(path.s, "FADI", 4, 1000, &err), 0);
    char buf[8];
    assert_int_equal(read(rfd, buf, sizeof(buf)), 4);
    assert_memory_equal(buf, "FADI", 4);
    /* A full pipe times out rather than blocking. */
    int wfd = open(path.s, O_WRONLY | O_NONBLOCK);
    assert_true(wfd >= 0);
    char junk[4096] = {0};
    while (write(wfd, junk, sizeof(junk)) > 0)
        ;
    t0 = stream_now_ms();
    assert_int_equal(sock_trigger(path.s, "W", 1, 200, &err), -1);
    assert_true(stream_now_ms() - t0 < 5000);
    close(wfd);
    close(rfd);
    strbuf_release(&path);
    strbuf_release(&err);
}

static void wakeup_busy_counts_as_woken(void **state)
{
    strbuf path = STRBUF_INIT, err = STRBUF_INIT;
    in_tmp(&path, "qmgr-wake");
    int lfd = sock_unix_listen(path.s, 0666, 2, &err);
    assert_true(lfd >= 0);
    /* Delivered while there is room. */
    assert_int_equal(sock_wakeup(path.s, &err), 0);
    int s = accept_wait(lfd);
    char c = 0;
    assert_int_equal(read(s, &c, 1), 1);
    assert_int_equal(c, 'W');
    close(s);
    /* A listener that never accepts: once its backlog is full the wakeups
     * already queued stand for this one, so each call succeeds without
     * waiting (sock_trigger would sleep until its timeout). */
    int64_t t0 = stream_now_ms();
    for (int i = 0; i < 40; i++)
        assert_int_equal(sock_wakeup(path.s, &err), 0);
    assert_true(stream_now_ms() - t0 < 2000);
    close(lfd);
    /* Nobody listening is a failure, not "busy". */
    assert_int_equal(sock_wakeup(path.s, &err), -1);
    in_tmp(&path, "nothing-here");
    assert_int_equal(sock_wakeup(path.s, &err), -1);
    assert_non_null(strstr(err.s, "nothing-here"));

    /* A FIFO: full counts as woken, no reader fails. */
    in_tmp(&path, "pickup-wake");
    assert_int_equal(mkfifo(path.s, 0622), 0);
    assert_int_equal(sock_wakeup(path.s, &err), -1);
    int rfd = open(path.s, O_RDONLY | O_NONBLOCK);
    int wfd = open(path.s, O_WRONLY | O_NONBLOCK);
    assert_true(rfd >= 0 && wfd >= 0);
    char junk[4096] = {0};
    while (write(wfd, junk, sizeof(junk)) > 0)
        ;
    assert_int_equal(sock_wakeup(path.s, &err), 0);
    close(wfd);
    close(rfd);
    strbuf_release(&path);
    strbuf_release(&err);
}

static void flags_helpers(void **state)
{
    int p[2];
    assert_int_equal(pipe(p), 0);
    assert_int_equal(sock_set_cloexec(p[0], true), 0);
    assert_true(fcntl(p[0], F_GETFD) & FD_CLOEXEC);
    assert_int_equal(sock_set_cloexec(p[0], false), 0);
    assert_false(fcntl(p[0], F_GETFD) & FD_CLOEXEC);
    assert_int_equal(sock_set_nonblock(p[0], true), 0);
    assert_true(fcntl(p[0], F_GETFL) & O_NONBLOCK);
    assert_int_equal(sock_set_nonblock(p[0], false), 0);
    assert_false(fcntl(p[0], F_GETFL) & O_NONBLOCK);
    close(p[0]);
    close(p[1]);
    assert_int_equal(sock_set_nonblock(p[0], true), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(inet_listen_connect_v4),
        cmocka_unit_test(inet_listen_v6_and_wildcard),
        cmocka_unit_test(address_formatting),
        cmocka_unit_test(parse_good_specs),
        cmocka_unit_test(parse_hostile_specs),
        cmocka_unit_test(unix_listen_connect),
        cmocka_unit_test(trigger_unix_socket),
        cmocka_unit_test(trigger_fifo),
        cmocka_unit_test(wakeup_busy_counts_as_woken),
        cmocka_unit_test(flags_helpers),
    };
    return cmocka_run_group_tests(tests, setup_dir, remove_dir);
}
