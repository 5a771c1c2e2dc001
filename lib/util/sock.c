#include "sock.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "stream.h"

static void set_err(strbuf *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void set_err(strbuf *err, const char *fmt, ...)
{
    if (err == NULL)
        return;
    int saved_errno = errno; /* callers still test errno after this */
    strbuf_reset(err);
    va_list ap;
    va_start(ap, fmt);
    strbuf_vprintf(err, fmt, ap);
    va_end(ap);
    errno = saved_errno;
}

/* close(2) without letting it clobber the errno we are about to report. */
static void close_keep_errno(int fd)
{
    int saved = errno;
    (void)close(fd);
    errno = saved;
}

int sock_set_cloexec(int fd, bool on)
{
    int fl = fcntl(fd, F_GETFD);
    if (fl < 0)
        return -1;
    int nfl = on ? (fl | FD_CLOEXEC) : (fl & ~FD_CLOEXEC);
    return nfl == fl ? 0 : fcntl(fd, F_SETFD, nfl);
}

int sock_set_nonblock(int fd, bool on)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0)
        return -1;
    int nfl = on ? (fl | O_NONBLOCK) : (fl & ~O_NONBLOCK);
    return nfl == fl ? 0 : fcntl(fd, F_SETFL, nfl);
}

/* Milliseconds left until an absolute deadline (-1: none) for poll(2). */
static int ms_left(int64_t deadline)
{
    if (deadline < 0)
        return -1;
    int64_t left = deadline - stream_now_ms();
    if (left <= 0)
        return 0;
    return left > INT_MAX ? INT_MAX : (int)left;
}

static int64_t deadline_from(int timeout_ms)
{
    return timeout_ms < 0 ? -1 : stream_now_ms() + timeout_ms;
}

/* Finish a non-blocking connect: wait for writability, then SO_ERROR. */
static int connect_wait(int fd, int64_t deadline)
{
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        int n = poll(&p, 1, ms_left(deadline));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (n == 0) {
            errno = ETIMEDOUT;
            return -1;
        }
        int soerr = 0;
        socklen_t sl = sizeof(soerr);
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
            return -1;
        if (soerr != 0) {
            errno = soerr;
            return -1;
        }
        return 0;
    }
}

/* ---- UNIX-domain sockets ---- */

static int fill_sun(struct sockaddr_un *sun, const char *path, strbuf *err)
{
    memset(sun, 0, sizeof(*sun));
    sun->sun_family = AF_UNIX;
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof(sun->sun_path)) {
        set_err(err, "socket path \"%.200s\": %s", path, n ? "too long" : "empty");
        return -1;
    }
    memcpy(sun->sun_path, path, n + 1);
    return 0;
}

int sock_unix_path(const char *dir, const char *name, strbuf *path, strbuf *err)
{
    struct sockaddr_un sun;
    strbuf_reset(path);
    strbuf_printf(path, "%s/%s", dir, name);
    return fill_sun(&sun, strbuf_str(path), err);
}

int sock_unix_listen(const char *path, mode_t mode, int backlog, strbuf *err)
{
    struct sockaddr_un sun;
    if (fill_sun(&sun, path, err) < 0)
        return -1;
    /* A socket left by a dead server is stale; anything else at that path is
     * somebody's file and must not be removed. */
    struct stat sb;
    if (lstat(path, &sb) == 0) {
        if (!S_ISSOCK(sb.st_mode)) {
            set_err(err, "%s: exists and is not a socket", path);
            return -1;
        }
        if (unlink(path) < 0 && errno != ENOENT) {
            set_err(err, "remove stale socket %s: %m", path);
            return -1;
        }
    } else if (errno != ENOENT) {
        set_err(err, "lstat %s: %m", path);
        return -1;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        set_err(err, "socket(AF_UNIX): %m");
        return -1;
    }
    if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
        set_err(err, "bind %s: %m", path);
        close_keep_errno(fd);
        return -1;
    }
    /* fchmod on a socket does not change the path's mode on Linux. */
    if (chmod(path, mode) < 0) {
        set_err(err, "chmod %s: %m", path);
        close_keep_errno(fd);
        return -1;
    }
    if (listen(fd, backlog) < 0) {
        set_err(err, "listen %s: %m", path);
        close_keep_errno(fd);
        return -1;
    }
    return fd;
}

/* Non-blocking connect to a UNIX socket; EAGAIN (full backlog) is retried
 * with short sleeps until the deadline, since poll cannot wait for it. */
/* Connect to a UNIX stream socket by `deadline`; the fd is blocking unless
 * `nonblock` (for callers that only use the *_deadline helpers, which never
 * rely on the mode: two fcntl calls saved per connection). */
static int unix_connect_mode(const char *path, int64_t deadline, bool nonblock, strbuf *err)
{
    struct sockaddr_un sun;
    if (fill_sun(&sun, path, err) < 0)
        return -1;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        set_err(err, "socket(AF_UNIX): %m");
        return -1;
    }
    long nap_ms = 5;
    for (;;) {
        if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0)
            break;
        if (errno == EINTR)
            continue;
        if (errno == EINPROGRESS) {
            if (connect_wait(fd, deadline) < 0)
                goto fail;
            break;
        }
        if (errno != EAGAIN)
            goto fail;
        int left = ms_left(deadline);
        if (left == 0) {
            errno = ETIMEDOUT;
            goto fail;
        }
        long nap = left < 0 || nap_ms < left ? nap_ms : left;
        struct timespec ts = {nap / 1000, (nap % 1000) * 1000000L};
        (void)nanosleep(&ts, NULL);
        if (nap_ms < 100)
            nap_ms *= 2;
    }
    if (!nonblock && sock_set_nonblock(fd, false) < 0)
        goto fail;
    return fd;
fail:
    set_err(err, "connect to %s: %m", path);
    close_keep_errno(fd);
    return -1;
}

static int unix_connect_deadline(const char *path, int64_t deadline, strbuf *err)
{
    return unix_connect_mode(path, deadline, false, err);
}

int sock_unix_connect(const char *path, int timeout_ms, strbuf *err)
{
    return unix_connect_deadline(path, deadline_from(timeout_ms), err);
}

int sock_unix_connect_nonblock(const char *path, int timeout_ms, strbuf *err)
{
    return unix_connect_mode(path, deadline_from(timeout_ms), true, err);
}

/* ---- service specs ---- */

static bool host_char_ok(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '-' || c == '_';
}

static bool host_name_ok(const char *s, size_t n)
{
    if (n == 0 || n > SOCK_HOST_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!host_char_ok((unsigned char)s[i]))
            return false;
    return true;
}

int sock_parse_port(const char *service, unsigned *port, strbuf *err)
{
    size_t n = strlen(service);
    if (n == 0) {
        set_err(err, "empty port");
        return -1;
    }
    if (n > SOCK_SERVICE_MAX) {
        set_err(err, "port \"%.40s...\": too long", service);
        return -1;
    }
    bool digits = true;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)service[i];
        if (c < '0' || c > '9')
            digits = false;
        if (!host_char_ok(c)) {
            set_err(err, "port \"%s\": bad character", service);
            return -1;
        }
    }
    if (digits) {
        unsigned long v = 0;
        for (size_t i = 0; i < n; i++) {
            v = v * 10 + (unsigned long)(service[i] - '0');
            if (v > 65535) {
                set_err(err, "port \"%s\": out of range", service);
                return -1;
            }
        }
        *port = (unsigned)v;
        return 0;
    }
    struct servent *se = getservbyname(service, "tcp");
    if (se == NULL) {
        set_err(err, "unknown service \"%s\"", service);
        return -1;
    }
    *port = ntohs((uint16_t)se->s_port);
    return 0;
}

int sock_parse_hostport(const char *spec, strbuf *host, unsigned *port, strbuf *err)
{
    size_t n = strlen(spec);
    strbuf_reset(host);
    if (n > SOCK_HOST_MAX + SOCK_SERVICE_MAX + 3) {
        set_err(err, "service \"%.40s...\": too long", spec);
        return -1;
    }
    const char *portstr;
    if (spec[0] == '[') {
        const char *close = strchr(spec, ']');
        if (close == NULL || close[1] != ':') {
            set_err(err, "service \"%s\": expected [address]:port", spec);
            return -1;
        }
        strbuf_append(host, spec + 1, (size_t)(close - spec - 1));
        struct in6_addr a6;
        struct in_addr a4;
        if (host->len == 0 || (inet_pton(AF_INET6, strbuf_str(host), &a6) != 1 &&
                               inet_pton(AF_INET, strbuf_str(host), &a4) != 1)) {
            set_err(err, "service \"%s\": bad address in brackets", spec);
            strbuf_reset(host);
            return -1;
        }
        portstr = close + 2;
    } else {
        const char *colon = strrchr(spec, ':');
        if (colon == NULL) {
            portstr = spec;
        } else {
            if (memchr(spec, ':', (size_t)(colon - spec)) != NULL) {
                set_err(err, "service \"%s\": IPv6 address must be in [brackets]", spec);
                return -1;
            }
            size_t hl = (size_t)(colon - spec);
            if (hl > 0 && !host_name_ok(spec, hl)) {
                set_err(err, "service \"%s\": bad host name", spec);
                return -1;
            }
            strbuf_append(host, spec, hl);
            portstr = colon + 1;
        }
    }
    if (sock_parse_port(portstr, port, err) < 0) {
        strbuf_reset(host);
        return -1;
    }
    return 0;
}

/* ---- TCP ---- */

static int inet_listen_one(const struct sockaddr *sa, socklen_t len, int backlog, strbuf *err)
{
    strbuf addr = STRBUF_INIT;
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        sock_addr_str(sa, len, &addr);
        set_err(err, "socket for %s: %m", strbuf_str(&addr));
        strbuf_release(&addr);
        return -1;
    }
    int one = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
        goto fail;
    /* Lets a separate IPv4 wildcard socket share the port with the IPv6 one,
     * and keeps inet_protocols=ipv6 from silently accepting IPv4. */
    if (sa->sa_family == AF_INET6 &&
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0)
        goto fail;
    if (bind(fd, sa, len) < 0 || listen(fd, backlog) < 0)
        goto fail;
    return fd;
fail:
    sock_addr_str(sa, len, &addr);
    set_err(err, "bind/listen %s port %u: %m", strbuf_str(&addr),
            sa->sa_family == AF_INET ? ntohs(((const struct sockaddr_in *)sa)->sin_port)
                                     : ntohs(((const struct sockaddr_in6 *)sa)->sin6_port));
    strbuf_release(&addr);
    close_keep_errno(fd);
    return -1;
}

static void close_all(int *fds, size_t n)
{
    for (size_t i = 0; i < n; i++)
        close_keep_errno(fds[i]);
}

int sock_inet_listen(const char *spec, int family, int backlog, int *fds, size_t max_fds,
                     strbuf *err)
{
    if (family != AF_UNSPEC && family != AF_INET && family != AF_INET6) {
        set_err(err, "bad address family %d", family);
        return -1;
    }
    strbuf host = STRBUF_INIT;
    unsigned port;
    int count = 0;
    if (sock_parse_hostport(spec, &host, &port, err) < 0)
        goto out;
    if (host.len == 0) {
        if (family != AF_INET6) {
            struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
            sin.sin_addr.s_addr = htonl(INADDR_ANY);
            if ((size_t)count >= max_fds)
                goto toomany;
            int fd = inet_listen_one((struct sockaddr *)&sin, sizeof(sin), backlog, err);
            if (fd < 0)
                goto fail;
            fds[count++] = fd;
        }
        if (family != AF_INET) {
            struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6,
                                        .sin6_port = htons((uint16_t)port)};
            sin6.sin6_addr = in6addr_any;
            if ((size_t)count >= max_fds)
                goto toomany;
            int fd = inet_listen_one((struct sockaddr *)&sin6, sizeof(sin6), backlog, err);
            if (fd < 0) {
                /* "all" on a kernel without IPv6 means IPv4 only. */
                if (errno == EAFNOSUPPORT && family == AF_UNSPEC && count > 0)
                    goto out;
                goto fail;
            }
            fds[count++] = fd;
        }
        goto out;
    }
    struct addrinfo hints = {
        .ai_family = family, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    char portbuf[8];
    snprintf(portbuf, sizeof(portbuf), "%u", port);
    struct addrinfo *res = NULL;
    int gai = getaddrinfo(strbuf_str(&host), portbuf, &hints, &res);
    if (gai != 0) {
        set_err(err, "host \"%s\": %s", strbuf_str(&host), gai_strerror(gai));
        count = -1;
        goto out;
    }
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        if ((size_t)count >= max_fds) {
            freeaddrinfo(res);
            goto toomany;
        }
        int fd = inet_listen_one(ai->ai_addr, ai->ai_addrlen, backlog, err);
        if (fd < 0) {
            freeaddrinfo(res);
            goto fail;
        }
        fds[count++] = fd;
    }
    freeaddrinfo(res);
    goto out;
toomany:
    set_err(err, "service \"%s\": more than %zu addresses", spec, max_fds);
fail:
    close_all(fds, (size_t)count);
    count = -1;
out:
    strbuf_release(&host);
    return count;
}

int sock_local_port(int fd, unsigned *port)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
        return -1;
    if (ss.ss_family == AF_INET)
        *port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    else if (ss.ss_family == AF_INET6)
        *port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    else {
        errno = EAFNOSUPPORT;
        return -1;
    }
    return 0;
}

int sock_inet_connect(const char *host, unsigned port, int family, int timeout_ms, strbuf *err)
{
    if (!host_name_ok(host, strlen(host))) {
        struct in6_addr a6;
        if (inet_pton(AF_INET6, host, &a6) != 1) {
            set_err(err, "bad host name \"%.100s\"", host);
            return -1;
        }
    }
    if (port > 65535) {
        set_err(err, "bad port %u", port);
        return -1;
    }
    int64_t deadline = deadline_from(timeout_ms);
    struct addrinfo hints = {
        .ai_family = family, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
    char portbuf[8];
    snprintf(portbuf, sizeof(portbuf), "%u", port);
    struct addrinfo *res = NULL;
    int gai = getaddrinfo(host, portbuf, &hints, &res);
    if (gai != 0) {
        set_err(err, "host \"%s\": %s", host, gai_strerror(gai));
        return -1;
    }
    int fd = -1;
    strbuf addr = STRBUF_INIT;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        sock_addr_str(ai->ai_addr, ai->ai_addrlen, &addr);
        fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0) {
            set_err(err, "socket for %s[%s]: %m", host, strbuf_str(&addr));
            continue;
        }
        int r;
        do
            r = connect(fd, ai->ai_addr, ai->ai_addrlen);
        while (r < 0 && errno == EINTR);
        if (r < 0 && errno == EINPROGRESS)
            r = connect_wait(fd, deadline);
        if (r == 0 && sock_set_nonblock(fd, false) == 0)
            break;
        set_err(err, "connect to %s[%s]:%u: %m", host, strbuf_str(&addr), port);
        close_keep_errno(fd);
        fd = -1;
        if (ms_left(deadline) == 0)
            break;
    }
    freeaddrinfo(res);
    strbuf_release(&addr);
    return fd;
}

/* ---- address formatting ---- */

void sock_addr_str(const struct sockaddr *sa, socklen_t len, strbuf *out)
{
    char buf[INET6_ADDRSTRLEN];
    strbuf_reset(out);
    if (sa->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
        if (inet_ntop(AF_INET, &sin->sin_addr, buf, sizeof(buf)))
            strbuf_puts(out, buf);
    } else if (sa->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;
        /* Postfix prints ::ffff:1.2.3.4 as 1.2.3.4 (what the admin configured). */
        if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
            if (inet_ntop(AF_INET, &sin6->sin6_addr.s6_addr[12], buf, sizeof(buf)))
                strbuf_puts(out, buf);
        } else if (inet_ntop(AF_INET6, &sin6->sin6_addr, buf, sizeof(buf))) {
            strbuf_puts(out, buf);
        }
    } else if (sa->sa_family == AF_UNIX) {
        strbuf_puts(out, "local");
    }
    if (out->len == 0)
        strbuf_puts(out, "unknown");
}

void sock_format_peer(const struct sockaddr *sa, socklen_t len, const char *name, strbuf *out)
{
    strbuf addr = STRBUF_INIT;
    sock_addr_str(sa, len, &addr);
    strbuf_reset(out);
    strbuf_printf(out, "%s[%s]", name && *name ? name : "unknown", strbuf_str(&addr));
    strbuf_release(&addr);
}

/* Reverse name of sa, accepted only when it is a syntactically sane host
 * name that resolves back to the same address (forward-confirmed). */
static bool verified_name(const struct sockaddr *sa, socklen_t len, strbuf *name)
{
    char host[NI_MAXHOST];
    if (getnameinfo(sa, len, host, sizeof(host), NULL, 0, NI_NAMEREQD) != 0)
        return false;
    size_t n = strnlen(host, sizeof(host));
    struct in6_addr a6;
    struct in_addr a4;
    /* A PTR record holding an address literal is a spoofing attempt. */
    if (!host_name_ok(host, n) || inet_pton(AF_INET, host, &a4) == 1 ||
        inet_pton(AF_INET6, host, &a6) == 1)
        return false;
    strbuf want = STRBUF_INIT, got = STRBUF_INIT;
    sock_addr_str(sa, len, &want);
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    bool ok = false;
    if (getaddrinfo(host, NULL, &hints, &res) == 0) {
        for (struct addrinfo *ai = res; ai && !ok; ai = ai->ai_next) {
            sock_addr_str(ai->ai_addr, ai->ai_addrlen, &got);
            ok = strcmp(strbuf_str(&got), strbuf_str(&want)) == 0;
        }
        freeaddrinfo(res);
    }
    strbuf_release(&want);
    strbuf_release(&got);
    if (ok)
        strbuf_set(name, host);
    return ok;
}

int sock_peer_describe(int fd, bool resolve, strbuf *out, strbuf *err)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    if (getpeername(fd, (struct sockaddr *)&ss, &len) < 0) {
        set_err(err, "getpeername: %m");
        return -1;
    }
    sock_peer_describe_addr((struct sockaddr *)&ss, len, resolve, out);
    return 0;
}

void sock_peer_describe_addr(const struct sockaddr *sa, socklen_t len, bool resolve, strbuf *out)
{
    strbuf_reset(out);
    if (sa->sa_family == AF_UNIX) {
        strbuf_puts(out, "localhost[127.0.0.1]");
        return;
    }
    strbuf name = STRBUF_INIT;
    if (resolve)
        (void)verified_name(sa, len, &name);
    sock_format_peer(sa, len, strbuf_str(&name), out);
    strbuf_release(&name);
}

/* ---- triggers ---- */

/* Write all of buf to a non-blocking fd within the deadline. */
static int write_deadline(int fd, bool is_socket, const void *buf, size_t len, int64_t deadline)
{
    const unsigned char *p = buf;
    while (len > 0) {
        ssize_t n = is_socket ? send(fd, p, len, MSG_DONTWAIT | MSG_NOSIGNAL) : write(fd, p, len);
        if (n > 0) {
            p += n;
            len -= (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
            return -1;
        struct pollfd pf = {.fd = fd, .events = POLLOUT};
        int r = poll(&pf, 1, ms_left(deadline));
        if (r < 0 && errno != EINTR)
            return -1;
        if (r == 0) {
            errno = ETIMEDOUT;
            return -1;
        }
    }
    return 0;
}

/* A FIFO has no MSG_NOSIGNAL: block SIGPIPE around the write and swallow one
 * we caused, so a reader that just went away cannot kill the sender. */
static int fifo_write(int fd, const void *buf, size_t len, int64_t deadline)
{
    sigset_t pipe_set, old;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    if (sigprocmask(SIG_BLOCK, &pipe_set, &old) < 0)
        return -1;
    sigset_t pending;
    bool was_pending = sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE);
    int r = write_deadline(fd, false, buf, len, deadline);
    int saved = errno;
    if (r < 0 && saved == EPIPE && !was_pending) {
        struct timespec zero = {0, 0};
        (void)sigtimedwait(&pipe_set, NULL, &zero);
    }
    (void)sigprocmask(SIG_SETMASK, &old, NULL);
    errno = saved;
    return r;
}

/* Send buf to the FIFO or UNIX socket at path by the deadline. *busy says
 * why a failure happened: the server did not take the bytes in time (full
 * listen backlog or FIFO), as opposed to not being there at all. */
static int trigger_send(const char *path, const void *buf, size_t len, int64_t deadline, bool *busy,
                        strbuf *err)
{
    *busy = false;
    /* Sockets (public/qmgr: a wakeup per message) first, without a stat;
     * connect(2) to a FIFO fails with ECONNREFUSED, and only then does the
     * file type decide. write_deadline never blocks, whatever the mode. */
    int sfd = unix_connect_mode(path, deadline, true, err);
    if (sfd >= 0) {
        int r = write_deadline(sfd, true, buf, len, deadline);
        if (r < 0)
            set_err(err, "trigger %s: write: %m", path);
        if (close(sfd) < 0 && r == 0) {
            set_err(err, "trigger %s: close: %m", path);
            r = -1;
        }
        return r;
    }
    if (errno == ETIMEDOUT) {
        *busy = true;
        return -1;
    }
    if (errno != ECONNREFUSED && errno != ENOTSOCK)
        return -1;
    struct stat sb;
    if (stat(path, &sb) < 0) {
        set_err(err, "trigger %s: %m", path);
        return -1;
    }
    if (S_ISFIFO(sb.st_mode)) {
        /* O_NONBLOCK: with no reader, open fails with ENXIO instead of
         * waiting for one. */
        int fd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0) {
            set_err(err, "trigger %s: open: %m", path);
            return -1;
        }
        int r = fifo_write(fd, buf, len, deadline);
        if (r < 0) {
            *busy = errno == ETIMEDOUT;
            set_err(err, "trigger %s: write: %m", path);
        }
        if (close(fd) < 0 && r == 0) {
            set_err(err, "trigger %s: close: %m", path);
            r = -1;
        }
        return r;
    }
    if (S_ISSOCK(sb.st_mode)) {
        errno = ECONNREFUSED; /* a socket nobody listens on */
        set_err(err, "trigger %s: connect: %m", path);
        return -1;
    }
    set_err(err, "trigger %s: not a FIFO or socket", path);
    return -1;
}

int sock_trigger(const char *path, const void *buf, size_t len, int timeout_ms, strbuf *err)
{
    bool busy;
    return trigger_send(path, buf, len, deadline_from(timeout_ms), &busy, err);
}

int sock_wakeup(const char *path, strbuf *err)
{
    /* One attempt, no wait. A full backlog or FIFO holds wake-ups the server
     * has yet to read; it scans after reading them, and that scan finds what
     * the caller committed before this call. Waiting would only hold the
     * caller (a cleanup process, busy for master) while the server is
     * slowest. */
    bool busy;
    if (trigger_send(path, "W", 1, stream_now_ms(), &busy, err) == 0 || busy)
        return 0;
    return -1;
}
