/* master_serv - the service table: master.cf entries turned into listeners,
 * on-demand children, wake-up timers, throttling, reload and shutdown.
 *
 * A child is forked when a service's listener becomes readable while none of
 * its current-generation children is idle and maxproc allows one more. A
 * reload gives every service a fresh status channel (a new generation): old
 * children see their channel close, finish their client and exit, and their
 * status is no longer counted. Listeners whose signature did not change are
 * kept open, so no connection is refused during a reload.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "config_fidelity.h"
#include "master.h"
#include "master_proto.h"
#include "mem.h"
#include "msg.h"

static struct mservice *services;      /* current configuration */
static struct mservice *dead_services; /* removed or replaced, children still running */
static struct mproc *procs;
static strlist logged_once; /* "skip" messages already logged */
static unsigned next_generation = 1;

/* Programs whose job the library does in-process, or that we do not need.
 * bounce (the stock bounce, defer and trace entries): qmgr builds
 * delivery status notifications itself and sends them through cleanup.
 * anvil: smtpd's connection limits use smtpd/smtpd_client_registry.
 * (error and discard are real agents: error/, discard/.) */
static const char *const absorbed[] = {
    "trivial-rewrite", "anvil",    "scache", "proxymap", "verify",
    "flush",           "postlogd", "oqmgr",  "bounce",
};

static time_t now_mono(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) < 0)
        msg_fatal("clock_gettime: %m");
    return ts.tv_sec;
}

static void log_once(bool warning, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void log_once(bool warning, const char *key, const char *fmt, ...)
{
    int saved_errno = errno;
    if (strlist_contains(&logged_once, key))
        return;
    strlist_push(&logged_once, key);
    errno = saved_errno;
    strbuf text = STRBUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    strbuf_vprintf(&text, fmt, ap);
    va_end(ap);
    if (warning)
        msg_warn("%s", text.s);
    else
        msg_info("%s", text.s);
    strbuf_release(&text);
}

static void service_free(struct mservice **sp)
{
    struct mservice *s = *sp;
    if (s->nfds)
        master_listen_close(s, false);
    for (int i = 0; i < 2; i++)
        if (s->status_fd[i] >= 0 && close(s->status_fd[i]) < 0)
            msg_warn("close status channel of %s: %m", s->key);
    free(s->key);
    free(s->name);
    free(s->listen_desc);
    free(s->path);
    free(s->listen_sig);
    strlist_release(&s->argv);
    XFREE(*sp);
}

static void status_channel_open(struct mservice *s)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
        msg_fatal("socketpair: %m");
    if (fcntl(sv[0], F_SETFL, O_NONBLOCK) < 0)
        msg_fatal("fcntl O_NONBLOCK: %m");
    s->status_fd[0] = sv[0];
    s->status_fd[1] = sv[1];
    s->gen = next_generation++;
    s->total = s->avail = 0;
}

/* Detach a service from the live table: no listeners, no status channel,
 * children finish on their own (or are killed when `kill_children`). */
static void service_retire(struct mservice *s, bool kill_children, bool unlink_path)
{
    if (s->nfds)
        master_listen_close(s, unlink_path);
    for (int i = 0; i < 2; i++) {
        if (s->status_fd[i] >= 0 && close(s->status_fd[i]) < 0)
            msg_warn("close status channel of %s: %m", s->key);
        s->status_fd[i] = -1;
    }
    s->dead = true;
    if (kill_children) {
        for (struct mproc *p = procs; p; p = p->next) {
            if (p->serv == s) {
                p->killed_by_master = true;
                if (kill(p->pid, SIGTERM) < 0 && errno != ESRCH)
                    msg_warn("kill %ld: %m", (long)p->pid);
            }
        }
    }
    if (s->nproc == 0) {
        service_free(&s);
    } else {
        s->next = dead_services;
        dead_services = s;
    }
}

static bool is_absorbed(const char *cmd)
{
    for (size_t i = 0; i < sizeof(absorbed) / sizeof(absorbed[0]); i++)
        if (strcmp(cmd, absorbed[i]) == 0)
            return true;
    return false;
}

/* Build the service for an entry, without listeners. NULL when skipped. */
static struct mservice *service_build(const struct master_cf_entry *e)
{
    const char *cmd = e->argv.v[0];
    const char *base = strrchr(cmd, '/') ? strrchr(cmd, '/') + 1 : cmd;
    strbuf key = STRBUF_INIT, once = STRBUF_INIT;
    strbuf_printf(&key, "%s/%s", e->service, master_cf_type_name(e->type));
    strbuf_printf(&once, "%s %s", key.s, cmd);
    struct mservice *s = NULL;

    if (is_absorbed(base)) {
        log_once(false, once.s,
                 "service %s (command %s): handled inside the library or not needed -- not started",
                 key.s, cmd);
        goto out;
    }
    if (e->type == MASTER_CF_PASS) {
        log_once(true, once.s, "service %s: type \"pass\" is not supported -- skipped", key.s);
        goto out;
    }
    strbuf path = STRBUF_INIT;
    if (cmd[0] == '/')
        strbuf_set(&path, cmd);
    else
        strbuf_printf(&path, "%s/%s", config_get("daemon_directory"), cmd);
    if (access(path.s, X_OK) < 0) {
        log_once(true, once.s, "service %s: command %s: %m -- skipped", key.s, path.s);
        strbuf_release(&path);
        goto out;
    }
    s = xcalloc(1, sizeof(*s));
    s->key = strbuf_detach(&key);
    s->name = xstrdup(e->service);
    s->type = e->type;
    s->path = strbuf_detach(&path);
    s->status_fd[0] = s->status_fd[1] = -1;
    s->maxproc = e->maxproc == MASTER_CF_MAXPROC_DEFAULT
                     ? (int)config_get_int("default_process_limit")
                     : e->maxproc;
    if (s->maxproc < 0)
        s->maxproc = 0;
    s->wakeup = e->wakeup;
    s->wakeup_conditional = e->wakeup_conditional;

    strlist_push(&s->argv, cmd);
    if (s->maxproc == 1)
        strlist_push(&s->argv, "-l");
    if (s->maxproc == 0)
        strlist_push(&s->argv, "-z");
    if (strcmp(base, e->service) != 0) {
        strlist_push(&s->argv, "-n");
        strlist_push(&s->argv, e->service);
    }
    strlist_push(&s->argv, "-t");
    strlist_push(&s->argv, master_cf_type_name(e->type));
    if (msg_verbose)
        strlist_push(&s->argv, "-v");
    if (e->unpriv)
        strlist_push(&s->argv, "-u");
    if (e->chroot)
        strlist_push(&s->argv, "-c");
    /* "-s N" is added once the listeners exist. */
    master_listen_signature(e, &once);
    s->listen_sig = xstrdup(once.s);
out:
    strbuf_release(&key);
    strbuf_release(&once);
    return s;
}

static void service_finish_argv(struct mservice *s, const struct master_cf_entry *e)
{
    if (s->nfds > 1) {
        char n[16];
        snprintf(n, sizeof(n), "%d", s->nfds);
        strlist_push(&s->argv, "-s");
        strlist_push(&s->argv, n);
    }
    for (size_t i = 1; i < e->argv.n; i++)
        strlist_push(&s->argv, e->argv.v[i]);
}

static struct mservice *find_service(struct mservice *list, const char *key)
{
    for (struct mservice *s = list; s; s = s->next)
        if (strcmp(s->key, key) == 0)
            return s;
    return NULL;
}

void master_services_load(bool reload)
{
    strbuf path = STRBUF_INIT, err = STRBUF_INIT, desc = STRBUF_INIT;
    strbuf_printf(&path, "%s/master.cf", config_directory());
    master_cf *cf = NULL;
    if (master_cf_load(path.s, &cf, &err) < 0) {
        if (!reload)
            msg_fatal("%s", err.s);
        msg_error("%s -- keeping the previous master.cf services", err.s);
        goto done;
    }
    /* Per-service parameters and the unused-parameter check need the whole
     * of master.cf (config_load, first or on reload, forgot them). Settings
     * we don't honour are said on every start and reload; `postfix start`
     * prints them too (master's stderr is still its caller's). */
    master_cf_register_config(cf);
    (void)config_warn_unused();
    (void)config_fidelity_check(cf, false);
    struct mservice *fresh = NULL, **tail = &fresh;
    const struct master_cf_entry **entries = xcalloc(cf->n + 1, sizeof(*entries));
    size_t nent = 0;
    for (size_t i = 0; i < cf->n; i++) {
        struct mservice *s = service_build(cf->entries[i]);
        if (!s)
            continue;
        *tail = s;
        tail = &s->next;
        entries[nent++] = cf->entries[i];
    }
    /* Phase 1: retire old services; keep listeners whose signature is unchanged. */
    time_t now = now_mono();
    for (struct mservice *old = services, *next; old; old = next) {
        next = old->next;
        struct mservice *s = find_service(fresh, old->key);
        if (s && strcmp(s->listen_sig, old->listen_sig) == 0) {
            s->fds = old->fds;
            s->nfds = old->nfds;
            s->listen_desc = old->listen_desc;
            old->fds = NULL;
            old->nfds = 0;
            old->listen_desc = NULL;
        }
        if (s) {
            s->used = old->used;
            s->throttle_until = old->throttle_until;
        }
        service_retire(old, s == NULL, s == NULL || s->fds == NULL);
    }
    services = NULL;
    /* Phase 2: listeners and status channels for the new table. */
    size_t idx = 0;
    for (struct mservice *s = fresh, *next; s; s = next, idx++) {
        next = s->next;
        const struct master_cf_entry *e = entries[idx];
        if (!s->fds) {
            if (master_listen_create(e, &s->fds, &s->nfds, &desc, &err) < 0) {
                if (!reload)
                    msg_fatal("service %s: %s", s->key, err.s);
                msg_error("service %s: %s -- skipped", s->key, err.s);
                s->next = NULL;
                s->dead = true;
                service_free(&s);
                continue;
            }
            s->listen_desc = xstrdup(desc.s);
        }
        service_finish_argv(s, e);
        status_channel_open(s);
        if (s->wakeup > 0)
            s->next_wakeup = s->wakeup_conditional ? now + s->wakeup : now;
        s->next = services;
        services = s;
    }
    free(entries);
    master_cf_free(&cf);
done:
    strbuf_release(&path);
    strbuf_release(&err);
    strbuf_release(&desc);
}

void master_services_stop_all(void)
{
    for (struct mproc *p = procs; p; p = p->next) {
        p->killed_by_master = true;
        if (kill(p->pid, SIGTERM) < 0 && errno != ESRCH)
            msg_warn("kill %ld: %m", (long)p->pid);
    }
}

static void build_env(strlist *env, unsigned gen)
{
    strlist items = STRLIST_INIT;
    const char *why = NULL;
    if (strlist_split(&items, config_get("import_environment"), ", \t\r\n", &why) < 0)
        msg_warn("import_environment: %s", why);
    for (size_t i = 0; i < items.n; i++) {
        const char *it = items.v[i];
        if (strncmp(it, "MAIL_CONFIG", 11) == 0 || strncmp(it, MASTER_GENERATION_ENV, 10) == 0)
            continue;
        if (strchr(it, '=')) {
            strlist_push(env, it);
        } else {
            const char *v = getenv(it);
            if (v) {
                strbuf sb = STRBUF_INIT;
                strbuf_printf(&sb, "%s=%s", it, v);
                strlist_push_owned(env, strbuf_detach(&sb));
            }
        }
    }
    strlist_release(&items);
    strbuf sb = STRBUF_INIT;
    strbuf_printf(&sb, "MAIL_CONFIG=%s", master_config_dir);
    strlist_push_owned(env, strbuf_detach(&sb));
    strbuf_printf(&sb, "%s=%o", MASTER_GENERATION_ENV, gen);
    strlist_push_owned(env, strbuf_detach(&sb));
}

static _Noreturn void child_exec(struct mservice *s, strlist *env)
{
    msg_set_cleanup(NULL);
    sigset_t none;
    sigemptyset(&none);
    int sigs[] = {SIGHUP, SIGTERM, SIGINT, SIGCHLD, SIGPIPE, SIGQUIT};
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
        signal(sigs[i], SIG_DFL);
    if (sigprocmask(SIG_SETMASK, &none, NULL) < 0)
        msg_error("sigprocmask: %m");
    /* Standard fds first: the stderr file may sit where a listener goes. */
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0 || dup2(master_stderr_fd, 2) < 0) {
        msg_error("open /dev/null: %m");
        _exit(1);
    }
    /* Move our fds out of the way, then into their documented places. */
    int n = 1 + s->nfds;
    int *tmp = xcalloc((size_t)n, sizeof(*tmp));
    int floor = MASTER_LISTEN_FD + s->nfds + 16;
    for (int i = 0; i < n; i++) {
        int src = i == 0 ? s->status_fd[1] : s->fds[i - 1];
        if ((tmp[i] = fcntl(src, F_DUPFD_CLOEXEC, floor)) < 0) {
            msg_error("dup fd: %m");
            _exit(1);
        }
    }
    for (int i = 0; i < n; i++) {
        int target = i == 0 ? MASTER_STATUS_FD : MASTER_LISTEN_FD + i - 1;
        if (dup2(tmp[i], target) < 0) {
            msg_error("dup2: %m");
            _exit(1);
        }
    }
    /* Postfix's flow-control fds 3 and 4 are not used here: keep them closed. */
    (void)close(3);
    (void)close(4);
    execve(s->path, s->argv.v, env->v);
    msg_error("exec %s: %m", s->path);
    _exit(1);
}

static void spawn(struct mservice *s)
{
    strlist env = STRLIST_INIT;
    build_env(&env, s->gen);
    pid_t pid = fork();
    if (pid < 0) {
        msg_warn("fork: %m -- will retry");
        strlist_release(&env);
        /* Back off as for a bad start so we do not spin. */
        s->throttle_until = now_mono() + 1;
        return;
    }
    if (pid == 0)
        child_exec(s, &env);
    strlist_release(&env);
    struct mproc *p = xcalloc(1, sizeof(*p));
    p->pid = pid;
    p->serv = s;
    p->gen = s->gen;
    p->avail = true;
    p->next = procs;
    procs = p;
    s->total++;
    s->avail++;
    s->nproc++;
    msg_debug("spawned %s pid %ld for %s", s->path, (long)pid, s->key);
}

static struct mproc *find_proc(pid_t pid, struct mproc ***link)
{
    for (struct mproc **pp = &procs; *pp; pp = &(*pp)->next) {
        if ((*pp)->pid == pid) {
            if (link)
                *link = pp;
            return *pp;
        }
    }
    return NULL;
}

static void busy_warning(struct mservice *s)
{
    time_t now = now_mono();
    if (s->maxproc <= 1 || s->avail > 0 || s->total < s->maxproc || s->busy_warn_time > now)
        return;
    s->busy_warn_time = now + 1000;
    msg_warn("service \"%s\" (%s) has reached its process limit \"%d\": new clients may "
             "experience noticeable delays",
             s->name, s->listen_desc, s->maxproc);
    msg_warn("to avoid this condition, increase the process count in master.cf or reduce the "
             "service time per client");
}

/* Status messages taken per system call: every connection a child takes
 * and finishes is two messages, so under load many wait at once. */
#define STATUS_BATCH 32

static void apply_status(struct mservice *s, const struct master_status *st)
{
    struct mproc *p = find_proc(st->pid, NULL);
    if (!p || p->serv != s || p->gen != s->gen || st->gen != s->gen) {
        msg_debug("ignoring status from pid %ld (gen %u)", (long)st->pid, st->gen);
        return;
    }
    if (st->avail == MASTER_STAT_TAKEN && p->avail) {
        p->avail = false;
        p->use_count++;
        s->avail--;
        s->used = true;
        busy_warning(s);
    } else if (st->avail == MASTER_STAT_AVAIL && !p->avail) {
        p->avail = true;
        s->avail++;
    }
}

static void read_status(struct mservice *s)
{
    struct master_status st[STATUS_BATCH];
    struct iovec iov[STATUS_BATCH];
    struct mmsghdr mm[STATUS_BATCH];
    for (;;) {
        for (int i = 0; i < STATUS_BATCH; i++) {
            iov[i] = (struct iovec){.iov_base = &st[i], .iov_len = sizeof(st[i])};
            mm[i] = (struct mmsghdr){.msg_hdr = {.msg_iov = &iov[i], .msg_iovlen = 1}};
        }
        int n = recvmmsg(s->status_fd[0], mm, STATUS_BATCH, MSG_DONTWAIT, NULL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                msg_warn("read status of %s: %m", s->key);
            return;
        }
        for (int i = 0; i < n; i++) {
            if (mm[i].msg_len != sizeof(st[i]) || (mm[i].msg_hdr.msg_flags & MSG_TRUNC)) {
                msg_warn("service %s: bad status message size %u", s->key, mm[i].msg_len);
                continue;
            }
            apply_status(s, &st[i]);
        }
        /* A short batch took all that was waiting; the descriptor is
         * polled level-triggered, so whatever comes next wakes us again. */
        if (n < STATUS_BATCH)
            return;
    }
}

static void send_wakeup(struct mservice *s)
{
    if (s->nfds == 0)
        return;
    int lfd = s->fds[0];
    if (s->type == MASTER_CF_FIFO) {
        if (write(lfd, "W", 1) < 0 && errno != EAGAIN)
            msg_warn("wakeup %s: %m", s->listen_desc);
        return;
    }
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    if (getsockname(lfd, (struct sockaddr *)&ss, &len) < 0) {
        msg_warn("getsockname %s: %m", s->listen_desc);
        return;
    }
    /* A UNIX socket was bound under a temporary name and renamed into
     * place (master_listen.c): getsockname() reports the old name. */
    if (ss.ss_family == AF_UNIX) {
        struct sockaddr_un *sun = (struct sockaddr_un *)&ss;
        size_t n = strlen(s->listen_desc);
        if (n >= sizeof(sun->sun_path)) {
            msg_warn("wakeup %s: socket path too long", s->listen_desc);
            return;
        }
        memcpy(sun->sun_path, s->listen_desc, n + 1);
        len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
    }
    /* A wildcard inet listener is reached through loopback. */
    if (ss.ss_family == AF_INET) {
        struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
        if (sin->sin_addr.s_addr == htonl(INADDR_ANY))
            sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    } else if (ss.ss_family == AF_INET6) {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
        if (memcmp(&sin6->sin6_addr, &in6addr_any, sizeof(in6addr_any)) == 0)
            sin6->sin6_addr = in6addr_loopback;
    }
    int type = s->type == MASTER_CF_UNIX_DGRAM ? SOCK_DGRAM : SOCK_STREAM;
    int fd = socket(ss.ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        msg_warn("wakeup %s: socket: %m", s->listen_desc);
        return;
    }
    if (connect(fd, (struct sockaddr *)&ss, len) < 0) {
        /* A full backlog means the service is awake enough already. */
        if (errno != EAGAIN && errno != EINPROGRESS)
            msg_warn("wakeup %s: connect: %m", s->listen_desc);
    } else if (send(fd, "W", 1, MSG_NOSIGNAL) < 0 && errno != EAGAIN) {
        msg_warn("wakeup %s: write: %m", s->listen_desc);
    }
    if (close(fd) < 0)
        msg_warn("wakeup %s: close: %m", s->listen_desc);
}

static void run_timers(void)
{
    time_t now = now_mono();
    for (struct mservice *s = services; s; s = s->next) {
        if (s->throttle_until && now >= s->throttle_until)
            s->throttle_until = 0;
        if (s->wakeup > 0 && now >= s->next_wakeup) {
            s->next_wakeup = now + s->wakeup;
            if (!s->wakeup_conditional || s->used)
                send_wakeup(s);
        }
    }
}

static int timeout_ms(void)
{
    time_t now = now_mono(), next = 0;
    for (struct mservice *s = services; s; s = s->next) {
        if (s->throttle_until && (!next || s->throttle_until < next))
            next = s->throttle_until;
        if (s->wakeup > 0 && (!next || s->next_wakeup < next))
            next = s->next_wakeup;
    }
    if (!next)
        return -1;
    if (next <= now)
        return 0;
    long long ms = (long long)(next - now) * 1000;
    return ms > 3600000 ? 3600000 : (int)ms;
}

static bool wants_child(const struct mservice *s)
{
    return !s->throttle_until && s->avail == 0 && (s->maxproc == 0 || s->total < s->maxproc);
}

struct poll_owner {
    struct mservice *serv;
    bool is_status;
};

void master_services_wait(int sig_fd)
{
    for (;;) {
        run_timers();
        size_t cap = 1;
        for (struct mservice *s = services; s; s = s->next)
            cap += 1 + (size_t)s->nfds;
        struct pollfd *pf = xcalloc(cap, sizeof(*pf));
        struct poll_owner *own = xcalloc(cap, sizeof(*own));
        size_t n = 0;
        pf[n].fd = sig_fd;
        pf[n++].events = POLLIN;
        for (struct mservice *s = services; s; s = s->next) {
            own[n].serv = s;
            own[n].is_status = true;
            pf[n].fd = s->status_fd[0];
            pf[n++].events = POLLIN;
            if (wants_child(s)) {
                for (int i = 0; i < s->nfds; i++) {
                    own[n].serv = s;
                    pf[n].fd = s->fds[i];
                    pf[n++].events = POLLIN;
                }
            }
        }
        int rc = poll(pf, (nfds_t)n, timeout_ms());
        if (rc < 0 && errno != EINTR)
            msg_fatal("poll: %m");
        bool sig = rc > 0 && pf[0].revents;
        /* Status first, so a child that just became idle prevents a fork. */
        for (size_t i = 1; rc > 0 && i < n; i++)
            if (pf[i].revents && own[i].is_status)
                read_status(own[i].serv);
        for (size_t i = 1; rc > 0 && i < n; i++) {
            struct mservice *s = own[i].serv;
            if (pf[i].revents && !own[i].is_status && wants_child(s)) {
                s->used = true;
                spawn(s);
                busy_warning(s);
            }
        }
        free(pf);
        free(own);
        if (sig)
            return;
    }
}

void master_reap_children(void)
{
    for (;;) {
        int status;
        pid_t pid = waitpid(-1, &status, WNOHANG);
        if (pid < 0 && errno == EINTR)
            continue;
        if (pid < 0 && errno != ECHILD)
            msg_fatal("waitpid: %m");
        if (pid <= 0)
            return;
        struct mproc **link = NULL;
        struct mproc *p = find_proc(pid, &link);
        if (!p) {
            msg_debug("reaped unknown pid %ld", (long)pid);
            continue;
        }
        *link = p->next;
        struct mservice *s = p->serv;
        bool current = !s->dead && p->gen == s->gen;
        if (current) {
            s->total--;
            if (p->avail)
                s->avail--;
        }
        bool normal = WIFEXITED(status) && WEXITSTATUS(status) == 0;
        if (!normal && !p->killed_by_master && !master_terminating) {
            if (WIFSIGNALED(status))
                msg_warn("process %s pid %ld killed by signal %d", s->path, (long)pid,
                         WTERMSIG(status));
            else if (WIFEXITED(status))
                msg_warn("process %s pid %ld exit status %d", s->path, (long)pid,
                         WEXITSTATUS(status));
            if (current && p->use_count == 0 && !s->throttle_until) {
                msg_warn("%s: bad command startup -- throttling", s->path);
                long long t = config_get_time("service_throttle_time");
                s->throttle_until = now_mono() + (t > 0 ? t : 60);
            }
        }
        free(p);
        if (--s->nproc == 0 && s->dead) {
            for (struct mservice **sp = &dead_services; *sp; sp = &(*sp)->next) {
                if (*sp == s) {
                    *sp = s->next;
                    service_free(&s);
                    break;
                }
            }
        }
    }
}
