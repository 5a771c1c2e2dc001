/* master - the resident process manager (Postfix master(8) compatible).
 *
 * Usage: master [-c config_dir] [-d] [-t] [-v] [-w]
 *   -d  stay in the foreground (start-fg); -t  test: exit 0 when no master
 *   runs for this configuration, 1 when one does; -w  detach, but exit only
 *   once the daemon is initialised (0) or failed (1): `postfix start`.
 *
 * MTA_DAEMON_STDERR=file in the environment: every daemon's stderr, and
 * master's own once it detaches, is appended to that file instead of
 * /dev/null, so sanitizer reports (ASan/UBSan print there and nowhere
 * else) survive; the e2e tests fail on any report found in it.
 *
 * Runs as root: chdir to queue_directory, pid file pid/master.pid locked for
 * the whole life of the daemon (a second master refuses to start), signals
 * through a self-pipe (SIGHUP reload, SIGTERM/SIGINT terminate, SIGCHLD).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "mail_log.h"
#include "master.h"
#include "msg.h"
#include "paths.h"

#define PID_FILE "pid/master.pid"

const char *master_config_dir;
bool master_terminating;
int master_stderr_fd = -1;

static int sig_pipe[2] = {-1, -1};
static int pid_fd = -1;

static void on_signal(int sig)
{
    int saved = errno;
    unsigned char c = (unsigned char)sig;
    /* A full pipe already holds a pending wake-up for this loop. */
    if (write(sig_pipe[1], &c, 1) < 0) {
    }
    errno = saved;
}

static void setup_signals(void)
{
    if (pipe2(sig_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
        msg_fatal("pipe: %m");
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    int sigs[] = {SIGHUP, SIGTERM, SIGINT, SIGCHLD};
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
        if (sigaction(sigs[i], &sa, NULL) < 0)
            msg_fatal("sigaction %d: %m", sigs[i]);
    if (signal(SIGPIPE, SIG_IGN) == SIG_ERR)
        msg_fatal("signal SIGPIPE: %m");
}

/* 0: no master holds the lock; 1: one does. */
static int test_running(void)
{
    int fd = open(PID_FILE, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return 0;
        msg_fatal("open %s: %m", PID_FILE);
    }
    int rc = flock(fd, LOCK_SH | LOCK_NB);
    if (rc < 0 && errno != EWOULDBLOCK)
        msg_fatal("lock %s: %m", PID_FILE);
    close(fd);
    return rc < 0 ? 1 : 0;
}

static void lock_pid_file(void)
{
    pid_fd = open(PID_FILE, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (pid_fd < 0)
        msg_fatal("open lock file %s/%s: %m", config_get("queue_directory"), PID_FILE);
    if (flock(pid_fd, LOCK_EX | LOCK_NB) < 0) {
        if (errno == EWOULDBLOCK)
            msg_fatal("the Postfix mail system is already running (%s/%s is locked)",
                      config_get("queue_directory"), PID_FILE);
        msg_fatal("lock %s: %m", PID_FILE);
    }
    char buf[64];
    /* Postfix's layout: the pid right-aligned in a wide field. */
    int len = snprintf(buf, sizeof(buf), "%*lu\n", 32, (unsigned long)getpid());
    if (ftruncate(pid_fd, 0) < 0)
        msg_fatal("truncate %s: %m", PID_FILE);
    if (pwrite(pid_fd, buf, (size_t)len, 0) != len)
        msg_fatal("write %s: %m", PID_FILE);
    if (fsync(pid_fd) < 0)
        msg_fatal("fsync %s: %m", PID_FILE);
}

static void remove_pid_file(void)
{
    if (pid_fd >= 0 && unlink(PID_FILE) < 0 && errno != ENOENT)
        msg_warn("unlink %s: %m", PID_FILE);
}

static void configure_logging(void)
{
    (void)mail_log_setup(MAIL_LOG_WARN);
}

static void reload(void)
{
    strbuf err = STRBUF_INIT;
    if (config_load(master_config_dir, &err) < 0) {
        msg_error("%s -- reload not done", err.s);
        strbuf_release(&err);
        return;
    }
    strbuf_release(&err);
    configure_logging();
    msg_info("reload -- version %s, configuration %s", MTA_VERSION, master_config_dir);
    master_services_load(true);
}

static _Noreturn void terminate(int sig)
{
    msg_info("terminating on signal %d", sig);
    master_terminating = true;
    master_services_stop_all();
    remove_pid_file();
    exit(0);
}

static _Noreturn void usage(void)
{
    msg_fatal_status(64, "usage: master [-c config_dir] [-d] [-t] [-v] [-w]");
}

int main(int argc, char **argv)
{
    /* Whatever our invoker left open must not leak into every daemon. */
    if (close_range(3, ~0U, 0) < 0)
        for (int fd = 3; fd < 1024; fd++)
            (void)close(fd);
    msg_init("master", true);
    const char *opt_c = NULL;
    bool foreground = false, test = false, wait_ready = false;
    int c;
    while ((c = getopt(argc, argv, "c:dtvwDe:i:s:")) != -1) {
        switch (c) {
        case 'c':
            opt_c = optarg;
            break;
        case 'd':
            foreground = true;
            break;
        case 't':
            test = true;
            break;
        case 'v':
            msg_verbose++;
            break;
        case 'w':
            wait_ready = true;
            break;
        case 'D':
        case 'e':
        case 'i':
        case 's':
            msg_fatal_status(64, "option -%c is not supported by this implementation", c);
        default:
            usage();
        }
    }
    if (optind != argc)
        usage();
    if (geteuid() != 0 && !test)
        msg_fatal("the master process must be started as root");

    master_config_dir = config_choose_dir(opt_c, false);
    if (setenv("MAIL_CONFIG", master_config_dir, 1) < 0)
        msg_fatal("setenv: %m");
    config_load_or_die(master_config_dir);
    const char *qdir = config_get("queue_directory");
    if (chdir(qdir) < 0)
        msg_fatal("chdir %s: %m", qdir);
    if (test)
        exit(test_running());
    umask(022);
    const char *stderr_file = getenv("MTA_DAEMON_STDERR");
    if (stderr_file && *stderr_file)
        master_stderr_fd =
            open(stderr_file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    else
        master_stderr_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (master_stderr_fd < 0)
        msg_fatal("open %s: %m", stderr_file && *stderr_file ? stderr_file : "/dev/null");

    int ready_pipe[2] = {-1, -1};
    if (!foreground) {
        if (wait_ready && pipe2(ready_pipe, O_CLOEXEC) < 0)
            msg_fatal("pipe: %m");
        pid_t pid = fork();
        if (pid < 0)
            msg_fatal("fork: %m");
        if (pid > 0) {
            if (!wait_ready)
                exit(0);
            close(ready_pipe[1]);
            char ok = 0;
            ssize_t n;
            do {
                n = read(ready_pipe[0], &ok, 1);
            } while (n < 0 && errno == EINTR);
            exit(n == 1 && ok == '0' ? 0 : 1);
        }
        if (ready_pipe[0] >= 0)
            close(ready_pipe[0]);
        /* Until stderr goes to /dev/null, `postfix start` shows only what
         * went wrong; informational lines belong in the log. */
        msg_stderr_warnings(true);
        if (setsid() < 0)
            msg_fatal("setsid: %m");
    } else if (getpgrp() != getpid() && setsid() < 0 && setpgid(0, 0) < 0) {
        /* Own process group, so `postfix stop` can find every child. */
        msg_warn("setpgid: %m");
    }

    lock_pid_file();
    configure_logging();
    setup_signals();
    master_services_load(false);
    msg_info("daemon started -- version %s, configuration %s", MTA_VERSION, master_config_dir);

    if (!foreground) {
        int null = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (null < 0)
            msg_fatal("open /dev/null: %m");
        if (dup2(null, 0) < 0 || dup2(null, 1) < 0 || dup2(master_stderr_fd, 2) < 0)
            msg_fatal("dup2 /dev/null: %m");
        close(null);
        msg_init("master", false);
        configure_logging();
        if (ready_pipe[1] >= 0) {
            if (write(ready_pipe[1], "0", 1) != 1)
                msg_warn("notify parent: %m");
            close(ready_pipe[1]);
        }
    }

    for (;;) {
        master_services_wait(sig_pipe[0]);
        unsigned char buf[64];
        ssize_t n = read(sig_pipe[0], buf, sizeof(buf));
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            msg_fatal("read signal pipe: %m");
        }
        bool chld = false, hup = false;
        int term = 0;
        for (ssize_t i = 0; i < n; i++) {
            if (buf[i] == SIGCHLD)
                chld = true;
            else if (buf[i] == SIGHUP)
                hup = true;
            else if (buf[i] == SIGTERM || buf[i] == SIGINT)
                term = buf[i];
        }
        if (chld)
            master_reap_children();
        if (term)
            terminate(term);
        if (hup)
            reload();
    }
}
