/* Unit tests: lib/global/service (the daemon skeleton), driven the way
 * master drives it: a forked child gets the status channel on fd 5 and a
 * listening socket on fd 6 (master_proto.h), and the test plays master. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "master_proto.h"
#include "service.h"

static char tmpdir[64];
static char sockpath[128];

static void serve_report(int fd, const char *service, char **args)
{
    char cwd[256], line[1024];
    if (!getcwd(cwd, sizeof(cwd)))
        snprintf(cwd, sizeof(cwd), "?");
    int n = snprintf(line, sizeof(line), "%s|%s|%s|%s|%s|%s\n", service, args[0] ? args[0] : "-",
                     config_get("service_name"), config_get("process_name"),
                     config_get("myhostname"), cwd);
    if (write(fd, line, (size_t)n) != n)
        _exit(99);
}

static const struct service_ops report_ops = {.mode = SERVICE_SINGLE, .serve = serve_report};

static int setup(void **state)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_service.XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
    char path[128];
    snprintf(path, sizeof(path), "%s/main.cf", tmpdir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "queue_directory = %s\nmaillog_file = %s/maillog\nmyhostname = from.main.cf\n",
            tmpdir, tmpdir);
    fclose(f);
    snprintf(sockpath, sizeof(sockpath), "%s/sock", tmpdir);
    return 0;
}

static int teardown(void **state)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
    if (getenv("TEST_SERVICE_KEEP"))
        return 0;
    return system(cmd) == 0 ? 0 : -1;
}

/* Start service_main in a child as master would; *status_out is master's
 * end of the status channel. Returns the child's pid. */
static pid_t start_service(char **argv, int *status_out, bool with_listener)
{
    int st[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, st), 0);
    int lfd = -1;
    if (with_listener) {
        unlink(sockpath);
        lfd = socket(AF_UNIX, SOCK_STREAM, 0);
        assert_true(lfd >= 0);
        struct sockaddr_un sun = {.sun_family = AF_UNIX};
        assert_true(strlen(sockpath) < sizeof(sun.sun_path));
        memcpy(sun.sun_path, sockpath, strlen(sockpath) + 1);
        assert_int_equal(bind(lfd, (struct sockaddr *)&sun, sizeof(sun)), 0);
        assert_int_equal(listen(lfd, 5), 0);
    }
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* As master does (master_serv.c): every fd first moves above the
         * targets, then into place. A plain dup2(st[1], 5) closed the
         * listener whenever socket() had handed it fd 5 (socketpair 3 and
         * 4, as in a fresh test): the child then served its status channel
         * as if it were the listener, clients were refused, and a -m 1
         * child never got the client it was to exit after. */
        int st_hi = fcntl(st[1], F_DUPFD, 64);
        int lfd_hi = lfd >= 0 ? fcntl(lfd, F_DUPFD, 64) : -1;
        if (st_hi < 0 || (lfd >= 0 && lfd_hi < 0))
            _exit(98);
        close(st[0]);
        close(st[1]);
        if (lfd >= 0)
            close(lfd);
        if (dup2(st_hi, MASTER_STATUS_FD) < 0 ||
            (lfd_hi >= 0 && dup2(lfd_hi, MASTER_LISTEN_FD) < 0))
            _exit(98);
        close(st_hi);
        if (lfd_hi >= 0)
            close(lfd_hi);
        setenv("MAIL_CONFIG", tmpdir, 1);
        setenv(MASTER_GENERATION_ENV, "17", 1);
        int argc = 0;
        while (argv[argc])
            argc++;
        service_main("testd", argc, argv, &report_ops);
    }
    close(st[1]);
    if (lfd >= 0)
        close(lfd);
    *status_out = st[0];
    return pid;
}

static int exit_status(pid_t pid)
{
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    return WEXITSTATUS(status);
}

/* Master closing the status channel (reload, stop) makes an idle process
 * exit 0 without a client. */
static void master_gone_exits_idle_process(void **state)
{
    char *argv[] = {"testd", NULL};
    int st;
    pid_t pid = start_service(argv, &st, true);
    close(st);
    assert_int_equal(exit_status(pid), 0);
}

/* Options master never passes are refused (EX_USAGE), as is a missing
 * listen socket (fatal, status 1). */
static void refuses_unknown_options_and_missing_socket(void **state)
{
    char *argv_v[] = {"testd", "-V", NULL};
    int st;
    pid_t pid = start_service(argv_v, &st, true);
    assert_int_equal(exit_status(pid), 64);
    close(st);
    char *argv_bad_o[] = {"testd", "-o", "=x", NULL};
    pid = start_service(argv_bad_o, &st, true);
    assert_int_not_equal(exit_status(pid), 0);
    close(st);
    char *argv[] = {"testd", NULL};
    pid = start_service(argv, &st, false);
    assert_int_not_equal(exit_status(pid), 0);
    close(st);
}

/* -S: one client on stdin, no master needed. */
static void stdin_mode_serves_fd0(void **state)
{
    int sp[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (dup2(sp[1], STDIN_FILENO) < 0)
            _exit(98);
        close(sp[0]);
        close(sp[1]);
        setenv("MAIL_CONFIG", tmpdir, 1);
        char *argv[] = {"testd", "-S", NULL};
        service_main("testd", 2, argv, &report_ops);
    }
    close(sp[1]);
    char buf[1024] = {0};
    size_t got = 0;
    ssize_t n;
    while ((n = read(sp[0], buf + got, sizeof(buf) - 1 - got)) > 0)
        got += (size_t)n;
    close(sp[0]);
    char want[512];
    snprintf(want, sizeof(want), "testd|-|testd|testd|from.main.cf|%s\n", tmpdir);
    assert_string_equal(buf, want);
    assert_int_equal(exit_status(pid), 0);
}

/* A client on the test's listening socket. */
static int connect_client(void)
{
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    memcpy(sun.sun_path, sockpath, strlen(sockpath) + 1);
    assert_int_equal(connect(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
    return fd;
}

/* The child's exit status, or a failure (child killed) when it is still
 * running after 10 s. */
static int exit_status_within_10s(pid_t pid)
{
    for (int i = 0; i < 1000; i++) {
        int status;
        pid_t r = waitpid(pid, &status, WNOHANG);
        assert_true(r >= 0);
        if (r == pid) {
            assert_true(WIFEXITED(status));
            return WEXITSTATUS(status);
        }
        usleep(10000);
    }
    kill(pid, SIGKILL);
    (void)waitpid(pid, NULL, 0);
    fail_msg("child %ld still running after 10 s", (long)pid);
    return -1;
}

/* The next status message from the child, within 10 s. */
static struct master_status read_status(int st)
{
    struct pollfd p = {.fd = st, .events = POLLIN};
    assert_int_equal(poll(&p, 1, 10000), 1);
    struct master_status ms;
    assert_int_equal(recv(st, &ms, sizeof(ms), 0), (ssize_t)sizeof(ms));
    return ms;
}

/* -m 1 (max_use): one client is served, master hears TAKEN then AVAIL
 * from the child's pid with its generation, and the child exits 0 without
 * waiting for another client. */
static void max_use_one_serves_one_client_and_exits(void **state)
{
    char *argv[] = {"testd", "-m", "1", "-n", "single", "extra-arg", NULL};
    int st;
    pid_t pid = start_service(argv, &st, true);
    int c = connect_client();
    struct master_status ms = read_status(st);
    assert_int_equal(ms.pid, pid);
    assert_int_equal(ms.gen, 017);
    assert_int_equal(ms.avail, MASTER_STAT_TAKEN);
    char buf[1024] = {0};
    size_t got = 0;
    ssize_t n;
    while ((n = read(c, buf + got, sizeof(buf) - 1 - got)) > 0)
        got += (size_t)n;
    close(c);
    char want[512];
    snprintf(want, sizeof(want), "single|extra-arg|single|testd|from.main.cf|%s\n", tmpdir);
    assert_string_equal(buf, want);
    ms = read_status(st);
    assert_int_equal(ms.pid, pid);
    assert_int_equal(ms.avail, MASTER_STAT_AVAIL);
    assert_int_equal(exit_status_within_10s(pid), 0);
    close(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(master_gone_exits_idle_process, setup, teardown),
        cmocka_unit_test_setup_teardown(refuses_unknown_options_and_missing_socket, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(stdin_mode_serves_fd0, setup, teardown),
        cmocka_unit_test_setup_teardown(max_use_one_serves_one_client_and_exits, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
