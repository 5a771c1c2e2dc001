#include "service.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "fsutil.h"
#include "mail_log.h"
#include "master_proto.h"
#include "mem.h"
#include "msg.h"
#include "strlist.h"

/* Bound on how long a trigger client may take to send its bytes. */
#define TRIGGER_READ_TIMEOUT_MS 5000

enum fd_kind { FD_STREAM_LISTEN, FD_DGRAM, FD_FIFO };

static struct {
    const char *service;
    const char *transport;
    int status_fd; /* -1 when not started by master */
    unsigned gen;
    int *fds;
    enum fd_kind *kinds;
    int nfds;
    long long max_use;
    long long max_idle;
    unsigned daemon_timeout;
    bool unlimited;
    bool drain;
    long long use_count;
    bool master_gone;
    bool stand_alone; /* -S */
} svc = {.service = "", .transport = "", .status_fd = -1};

const char *service_name(void)
{
    return svc.service;
}

const char *service_transport(void)
{
    return svc.transport;
}

bool service_stand_alone(void)
{
    return svc.stand_alone;
}

static void send_status(int avail)
{
    if (svc.status_fd < 0 || svc.master_gone)
        return;
    struct master_status st = {.pid = (pid_t)msg_pid(), .gen = svc.gen, .avail = avail};
    for (;;) {
        ssize_t n = send(svc.status_fd, &st, sizeof(st), MSG_NOSIGNAL);
        if (n == (ssize_t)sizeof(st))
            return;
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EPIPE || errno == ECONNRESET || errno == ENOTCONN)) {
            svc.master_gone = true;
            return;
        }
        msg_fatal("write status to master: %s", n < 0 ? strerror(errno) : "short write");
    }
}

/* Called between clients only: leaving then never drops a client. */
static void exit_if_done(void)
{
    if (svc.master_gone) {
        msg_debug("master went away -- exiting");
        exit(0);
    }
    if (!svc.unlimited && svc.max_use > 0 && svc.use_count >= svc.max_use) {
        msg_debug("served %lld clients -- exiting", svc.use_count);
        exit(0);
    }
}

/* The epoll set a process waits on, built on first use. Every idle process
 * of a service waits on the same listen fds: EPOLLEXCLUSIVE wakes one of them
 * per new connection, where poll() woke all (under load, dozens of idle
 * cleanup processes woke per message for one to win accept(); the wake-ups
 * also delayed the winners' status reports, so master forked more). The
 * status channel is not exclusive: every process must see master leave. */
#define STATUS_EVENT UINT32_MAX

static int ready_set(void)
{
    static int epfd = -1;
    if (epfd >= 0)
        return epfd;
    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0)
        msg_fatal("epoll_create1: %m");
    for (int i = 0; i < svc.nfds; i++) {
        struct epoll_event ev = {.events = EPOLLIN | EPOLLEXCLUSIVE, .data.u32 = (uint32_t)i};
        if (epoll_ctl(epfd, EPOLL_CTL_ADD, svc.fds[i], &ev) < 0)
            msg_fatal("epoll_ctl listen fd %d: %m", svc.fds[i]);
    }
    if (svc.status_fd >= 0) {
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = STATUS_EVENT};
        if (epoll_ctl(epfd, EPOLL_CTL_ADD, svc.status_fd, &ev) < 0)
            msg_fatal("epoll_ctl status fd: %m");
    }
    return epfd;
}

/* Wait for a listen fd to become ready. Returns its index, or -1 on timeout.
 * Exits when master closed the status channel. */
static int wait_ready(int timeout_ms)
{
    struct epoll_event ev[8];
    int rc;
    do {
        rc = epoll_wait(ready_set(), ev, (int)(sizeof(ev) / sizeof(ev[0])), timeout_ms);
    } while (rc < 0 && errno == EINTR);
    if (rc < 0)
        msg_fatal("epoll_wait: %m");
    int ready = -1;
    for (int k = 0; k < rc; k++) {
        if (ev[k].data.u32 == STATUS_EVENT) {
            svc.master_gone = true;
            exit_if_done();
            continue;
        }
        int i = (int)ev[k].data.u32;
        if (ev[k].events & EPOLLERR)
            msg_fatal("listen fd %d: poll error", svc.fds[i]);
        if ((ev[k].events & EPOLLIN) && ready < 0)
            ready = i;
    }
    return ready;
}

/* Accept a client on a non-blocking listener: -1 when another process was
 * faster (or the client left already). The client fd is blocking. */
static int accept_client(int lfd)
{
    int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR || errno == ECONNABORTED ||
            errno == EPROTO)
            return -1;
        msg_fatal("accept: %m");
    }
    return fd;
}

/* Read a trigger from a connected client until EOF or the size limit. */
static void read_trigger_stream(int fd, strbuf *out)
{
    char buf[256];
    while (out->len < SERVICE_TRIGGER_MAX) {
        /* Try first, wait only when nothing is there yet: a wakeup client
         * has usually written its byte and closed before the accept, so
         * the bytes and the EOF are two calls, not two polls and two reads
         * (per message, for qmgr). */
        size_t want = SERVICE_TRIGGER_MAX - out->len;
        ssize_t n = recv(fd, buf, want < sizeof(buf) ? want : sizeof(buf), MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            struct pollfd p = {.fd = fd, .events = POLLIN};
            int rc = poll(&p, 1, TRIGGER_READ_TIMEOUT_MS);
            if (rc < 0 && errno == EINTR)
                continue;
            if (rc < 0)
                msg_fatal("poll: %m");
            if (rc == 0) {
                msg_warn("timeout reading trigger");
                break;
            }
            continue;
        }
        if (n < 0) {
            msg_warn("read trigger: %m");
            break;
        }
        if (n == 0)
            break;
        strbuf_append(out, buf, (size_t)n);
    }
}

/* Get the trigger bytes from ready listen fd `i`. Returns false when there
 * was nothing (another process took it). */
static bool take_trigger(int i, strbuf *out)
{
    strbuf_reset(out);
    int fd = svc.fds[i];
    char buf[SERVICE_TRIGGER_MAX];
    ssize_t n;
    switch (svc.kinds[i]) {
    case FD_STREAM_LISTEN: {
        int cfd = accept_client(fd);
        if (cfd < 0)
            return false;
        read_trigger_stream(cfd, out);
        if (close(cfd) < 0)
            msg_warn("close trigger connection: %m");
        break;
    }
    case FD_FIFO:
    case FD_DGRAM:
        n = svc.kinds[i] == FD_FIFO ? read(fd, buf, sizeof(buf)) : recv(fd, buf, sizeof(buf), 0);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                return false;
            msg_fatal("read trigger: %m");
        }
        strbuf_append(out, buf, (size_t)n);
        break;
    }
    if (out->len == 0)
        strbuf_putc(out, 'W');
    return true;
}

size_t service_wait_trigger(int timeout_ms, strbuf *out)
{
    for (;;) {
        int i = wait_ready(timeout_ms);
        if (i < 0)
            return 0;
        if (take_trigger(i, out))
            return out->len;
        /* Lost the race: wait again (the timeout restarts; harmless). */
    }
}

size_t service_watch_fds(int *fds, size_t max)
{
    size_t n = 0;
    for (int i = 0; i < svc.nfds; i++)
        if (n < max)
            fds[n++] = svc.fds[i];
    if (svc.status_fd >= 0 && n < max)
        fds[n++] = svc.status_fd;
    return (size_t)svc.nfds + (svc.status_fd >= 0);
}

bool service_master_gone(void)
{
    return svc.master_gone;
}

size_t service_take_ready(int fd, strbuf *out)
{
    if (svc.status_fd >= 0 && fd == svc.status_fd) {
        svc.master_gone = true;
        if (svc.drain)
            return 0;
        exit_if_done();
    }
    for (int i = 0; i < svc.nfds; i++)
        if (svc.fds[i] == fd)
            return take_trigger(i, out) ? out->len : 0;
    msg_panic("service_take_ready: fd %d is not a service fd", fd);
}

static int idle_timeout_ms(void)
{
    if (svc.unlimited || svc.max_idle <= 0)
        return -1;
    if (svc.max_idle > INT_MAX / 1000)
        return INT_MAX;
    return (int)(svc.max_idle * 1000);
}

static _Noreturn void serve_loop(const struct service_ops *ops, const char *service, char **args)
{
    strbuf trig = STRBUF_INIT;
    for (;;) {
        exit_if_done();
        int i = wait_ready(idle_timeout_ms());
        if (i < 0) {
            msg_debug("idle timeout -- exiting");
            exit(0);
        }
        if (ops->mode == SERVICE_SINGLE) {
            if (svc.kinds[i] != FD_STREAM_LISTEN)
                msg_fatal("service %s: a connection-oriented service cannot use a FIFO or "
                          "datagram socket",
                          service);
            if (ops->pre_accept)
                ops->pre_accept(service, args);
            int fd = accept_client(svc.fds[i]);
            if (fd < 0)
                continue;
            send_status(MASTER_STAT_TAKEN);
            alarm(svc.daemon_timeout);
            ops->serve(fd, service, args);
            alarm(0);
            if (close(fd) < 0 && errno != EBADF)
                msg_warn("close client: %m");
        } else {
            if (!take_trigger(i, &trig))
                continue;
            send_status(MASTER_STAT_TAKEN);
            alarm(svc.daemon_timeout);
            ops->trigger(trig.s, trig.len, service, args);
            alarm(0);
        }
        svc.use_count++;
        send_status(MASTER_STAT_AVAIL);
    }
}

static void drop_privileges(const char *user, uid_t uid, gid_t gid)
{
    if (geteuid() != 0) {
        if (geteuid() == uid && getuid() == uid)
            return;
        msg_fatal("cannot switch to mail_owner %s: not started as root", user);
    }
    if (setgroups(1, &gid) < 0)
        msg_fatal("setgroups(%ld): %m", (long)gid);
    if (setgid(gid) < 0)
        msg_fatal("setgid(%ld): %m", (long)gid);
    if (setuid(uid) < 0)
        msg_fatal("setuid(%ld): %m", (long)uid);
    if (getuid() != uid || geteuid() != uid || getgid() != gid || getegid() != gid)
        msg_panic("privileges not dropped to %s", user);
    if (uid != 0 && setuid(0) == 0)
        msg_panic("could regain root after dropping to %s", user);
}

static bool fd_is_open(int fd)
{
    return fcntl(fd, F_GETFD) >= 0;
}

static enum fd_kind classify_fd(int fd)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        msg_fatal("fstat listen fd %d: %m", fd);
    if (S_ISFIFO(st.st_mode))
        return FD_FIFO;
    if (!S_ISSOCK(st.st_mode))
        msg_fatal("listen fd %d is neither a socket nor a FIFO", fd);
    int type = 0;
    socklen_t len = sizeof(type);
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0)
        msg_fatal("getsockopt SO_TYPE fd %d: %m", fd);
    return type == SOCK_DGRAM ? FD_DGRAM : FD_STREAM_LISTEN;
}

static long long parse_opt_number(int opt, const char *s)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < 0)
        msg_fatal_status(64, "bad -%c argument \"%s\": expected a non-negative number", opt, s);
    return v;
}

_Noreturn void service_main(const char *progname, int argc, char **argv,
                            const struct service_ops *ops)
{
    msg_init(progname, isatty(STDERR_FILENO));
    bool opt_chroot = false, opt_unpriv = false, opt_stdin = false;
    const char *opt_service = NULL;
    long long opt_use = -1, opt_idle = -1;
    int opt_nfds = 1;
    strlist overrides = STRLIST_INIT;

    if ((ops->mode == SERVICE_SINGLE && !ops->serve) ||
        (ops->mode == SERVICE_TRIGGER && !ops->trigger) ||
        (ops->mode == SERVICE_RESIDENT && !ops->run))
        msg_panic("service_main: no handler for the service mode");

    int c;
    opterr = 0;
    while ((c = getopt(argc, argv, "+cdDi:lm:n:o:r:s:St:uvVz")) != -1) {
        switch (c) {
        case 'c':
            opt_chroot = true;
            break;
        case 'd': /* not detached: nothing to do, master never makes us a daemon */
        case 'l': /* maxproc 1 */
        case 'z': /* maxproc 0 */
            break;
        case 'i':
            opt_idle = parse_opt_number(c, optarg);
            break;
        case 'm':
            opt_use = parse_opt_number(c, optarg);
            break;
        case 'n':
            opt_service = optarg;
            break;
        case 'o':
            strlist_push(&overrides, optarg);
            break;
        case 's':
            opt_nfds = (int)parse_opt_number(c, optarg);
            if (opt_nfds < 1 || opt_nfds > 1000)
                msg_fatal_status(64, "bad -s argument \"%s\"", optarg);
            break;
        case 'S':
            opt_stdin = svc.stand_alone = true;
            break;
        case 't':
            svc.transport = optarg;
            break;
        case 'u':
            opt_unpriv = true;
            break;
        case 'v':
            msg_verbose++;
            break;
        case 'D':
        case 'V':
        case 'r':
            msg_fatal_status(64, "option -%c is not supported by this implementation", c);
        default:
            msg_fatal_status(64,
                             "invalid option -%c (usage: %s [-cdlSuvz] [-i max_idle] "
                             "[-m max_use] [-n service] [-o name=value] [-s nfds] "
                             "[-t transport] [args...])",
                             optopt, progname);
        }
    }
    char **args = argv + optind;
    svc.service = opt_service ? opt_service : progname;

    config_load_or_die(config_choose_dir(NULL, false));
    config_override("service_name", svc.service);
    config_override("process_name", progname);
    for (size_t i = 0; i < overrides.n; i++) {
        char *eq = strchr(overrides.v[i], '=');
        if (!eq || eq == overrides.v[i])
            msg_fatal("bad -o argument \"%s\": expected name=value", overrides.v[i]);
        *eq = '\0';
        config_override(overrides.v[i], eq + 1);
        *eq = '=';
    }
    /* Open the log while still privileged and outside any chroot. */
    (void)mail_log_setup(MAIL_LOG_WARN);

    svc.max_use = opt_use >= 0 ? opt_use : config_get_int("max_use");
    svc.max_idle = opt_idle >= 0 ? opt_idle : config_get_time("max_idle");
    long long dt = config_get_time("daemon_timeout");
    svc.daemon_timeout = dt > 0 && dt < UINT_MAX ? (unsigned)dt : 0;
    svc.unlimited = ops->unlimited;
    svc.drain = ops->drain;
    const char *gen = getenv(MASTER_GENERATION_ENV);
    svc.gen = gen ? (unsigned)strtoul(gen, NULL, 8) : 0;

    if (signal(SIGPIPE, SIG_IGN) == SIG_ERR)
        msg_fatal("signal SIGPIPE: %m");

    if (!opt_stdin) {
        if (fd_is_open(MASTER_STATUS_FD))
            svc.status_fd = MASTER_STATUS_FD;
        svc.nfds = opt_nfds;
        svc.fds = xcalloc((size_t)opt_nfds, sizeof(*svc.fds));
        svc.kinds = xcalloc((size_t)opt_nfds, sizeof(*svc.kinds));
        for (int i = 0; i < opt_nfds; i++) {
            svc.fds[i] = MASTER_LISTEN_FD + i;
            if (!fd_is_open(svc.fds[i]))
                msg_fatal("no listen socket on fd %d: %s is started by master(8), or with -S",
                          svc.fds[i], progname);
            svc.kinds[i] = classify_fd(svc.fds[i]);
        }
    }

    /* Resolve mail_owner before a chroot hides /etc/passwd. */
    uid_t uid = 0;
    gid_t gid = 0;
    const char *owner = config_get("mail_owner");
    if (opt_unpriv) {
        struct passwd *pw = getpwnam(owner);
        if (!pw)
            msg_fatal("mail_owner \"%s\": no such user", owner);
        if (pw->pw_uid == 0)
            msg_fatal("mail_owner \"%s\" must not be a privileged account", owner);
        uid = pw->pw_uid;
        gid = pw->pw_gid;
    }
    if (ops->pre_init)
        ops->pre_init(svc.service, args);

    const char *qdir = config_get("queue_directory");
    if (chdir(qdir) < 0)
        msg_fatal("chdir %s: %m", qdir);
    if (opt_chroot) {
        /* The file system's durability rules are read from /proc, which
         * the jail hides: judge the queue's device now. */
        struct stat qst;
        if (stat(".", &qst) == 0)
            (void)fsync_covers_new_entry(qst.st_dev);
        if (chroot(".") < 0)
            msg_fatal("chroot %s: %m", qdir);
        if (chdir("/") < 0)
            msg_fatal("chdir / in chroot %s: %m", qdir);
    }
    if (opt_unpriv)
        drop_privileges(owner, uid, gid);
    if (ops->post_init)
        ops->post_init(svc.service, args);
    strlist_release(&overrides);

    if (opt_stdin) {
        if (ops->mode != SERVICE_SINGLE)
            msg_fatal_status(64, "-S is only supported by connection-oriented services");
        ops->serve(STDIN_FILENO, svc.service, args);
        exit(0);
    }
    if (ops->mode == SERVICE_RESIDENT) {
        /* Initialised: from now on the process is in service for good, so a
         * later crash is not a "bad command startup" for master to throttle
         * (qmgr killed under load must come back at the next trigger). */
        send_status(MASTER_STAT_TAKEN);
        ops->run(svc.service, args);
        exit(0);
    }
    serve_loop(ops, svc.service, args);
}
