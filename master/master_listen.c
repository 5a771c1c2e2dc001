/* master_listen - create the listening endpoints of master.cf services.
 *
 * inet: bound as root on each address of $inet_interfaces (or the host part
 * of "host:port"), restricted to $inet_protocols; IPv6 sockets are V6ONLY so
 * both families can share a port. unix, unix-dgram and fifo: created under
 * $queue_directory/private or /public (master's cwd is the queue directory)
 * with effective ids of mail_owner, sockets mode 0666, FIFOs 0622; the
 * directory modes are the access control. Every endpoint is non-blocking and
 * close-on-exec in master (spawn dup2()s it into the child).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "config.h"
#include "inet_config.h"
#include "master.h"
#include "mem.h"
#include "msg.h"

#define LISTEN_BACKLOG 128

struct addr_list {
    struct sockaddr_storage *v;
    socklen_t *len;
    size_t n;
};

static void addr_add(struct addr_list *al, const struct sockaddr *sa, socklen_t len)
{
    for (size_t i = 0; i < al->n; i++)
        if (al->len[i] == len && memcmp(&al->v[i], sa, len) == 0)
            return;
    al->v = xreallocarray(al->v, al->n + 1, sizeof(*al->v));
    al->len = xreallocarray(al->len, al->n + 1, sizeof(*al->len));
    memset(&al->v[al->n], 0, sizeof(al->v[al->n]));
    memcpy(&al->v[al->n], sa, len);
    al->len[al->n++] = len;
}

static void addr_release(struct addr_list *al)
{
    free(al->v);
    free(al->len);
    memset(al, 0, sizeof(*al));
}

static int parse_protocols(bool *v4, bool *v6, strbuf *err)
{
    struct inet_protocols p;
    int rc = inet_protocols_parse(config_get("inet_protocols"), true, &p, err);
    *v4 = p.v4;
    *v6 = p.v6;
    return rc;
}

static void add_wildcard(struct addr_list *al, bool v4, bool v6, bool loopback)
{
    if (v4) {
        struct sockaddr_in sin = {.sin_family = AF_INET};
        sin.sin_addr.s_addr = htonl(loopback ? INADDR_LOOPBACK : INADDR_ANY);
        addr_add(al, (struct sockaddr *)&sin, sizeof(sin));
    }
    if (v6) {
        struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6};
        sin6.sin6_addr = loopback ? in6addr_loopback : in6addr_any;
        addr_add(al, (struct sockaddr *)&sin6, sizeof(sin6));
    }
}

/* Resolve one host (IP literal, [IPv6] or name) into addresses of the enabled families. */
static int add_host(struct addr_list *al, const char *host, bool v4, bool v6, strbuf *err)
{
    size_t hl = strlen(host);
    char *h = hl >= 2 && host[0] == '[' && host[hl - 1] == ']' ? xstrndup(host + 1, hl - 2)
                                                               : xstrdup(host);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(h, NULL, &hints, &res);
    if (rc != 0) {
        strbuf_printf(err, "host \"%s\": %s", h, gai_strerror(rc));
        free(h);
        return -1;
    }
    size_t before = al->n;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        if ((ai->ai_family == AF_INET && v4) || (ai->ai_family == AF_INET6 && v6))
            addr_add(al, ai->ai_addr, ai->ai_addrlen);
    }
    freeaddrinfo(res);
    if (al->n == before) {
        strbuf_printf(err, "host \"%s\": no address of an enabled inet_protocols family", h);
        free(h);
        return -1;
    }
    free(h);
    return 0;
}

static int resolve_port(const char *name, int *port, strbuf *err)
{
    if (*name && strspn(name, "0123456789") == strlen(name)) {
        long v = strtol(name, NULL, 10);
        if (strlen(name) > 5 || v < 1 || v > 65535) {
            strbuf_printf(err, "bad port number \"%s\"", name);
            return -1;
        }
        *port = (int)v;
        return 0;
    }
    /* known_tcp_ports: "lmtp=24, smtp=25, smtps=submissions=465, ..." */
    strlist items = STRLIST_INIT;
    const char *why = NULL;
    if (strlist_split(&items, config_get("known_tcp_ports"), ", \t\r\n", &why) == 0) {
        for (size_t i = 0; i < items.n; i++) {
            char *last = strrchr(items.v[i], '=');
            if (!last)
                continue;
            *last = '\0';
            strlist names = STRLIST_INIT;
            const char *w2 = NULL;
            if (strlist_split(&names, items.v[i], "=", &w2) == 0 &&
                strlist_contains(&names, name) &&
                strspn(last + 1, "0123456789") == strlen(last + 1) && last[1]) {
                long v = strtol(last + 1, NULL, 10);
                strlist_release(&names);
                strlist_release(&items);
                if (v < 1 || v > 65535) {
                    strbuf_printf(err, "known_tcp_ports: bad port for \"%s\"", name);
                    return -1;
                }
                *port = (int)v;
                return 0;
            }
            strlist_release(&names);
        }
    }
    strlist_release(&items);
    struct servent *se = getservbyname(name, "tcp");
    if (!se) {
        strbuf_printf(err, "unknown service \"%s/tcp\" (not in known_tcp_ports or /etc/services)",
                      name);
        return -1;
    }
    *port = ntohs((uint16_t)se->s_port);
    return 0;
}

static void addr_text(const struct sockaddr_storage *ss, strbuf *out)
{
    char buf[INET6_ADDRSTRLEN];
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &sin->sin_addr, buf, sizeof(buf));
        strbuf_printf(out, "%s:%d", buf, ntohs(sin->sin_port));
    } else {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &sin6->sin6_addr, buf, sizeof(buf));
        strbuf_printf(out, "[%s]:%d", buf, ntohs(sin6->sin6_port));
    }
}

static int listen_inet(const struct master_cf_entry *e, int **fds, int *nfds, strbuf *err)
{
    bool v4, v6;
    if (parse_protocols(&v4, &v6, err) < 0)
        return -1;
    const char *svc = e->service;
    char *host = NULL;
    const char *portname = svc;
    const char *colon = strrchr(svc, ':');
    if (colon) {
        host = xstrndup(svc, (size_t)(colon - svc));
        portname = colon + 1;
    }
    int port;
    if (resolve_port(portname, &port, err) < 0) {
        free(host);
        return -1;
    }
    struct addr_list al = {0};
    int rc = 0;
    if (host && *host) {
        rc = add_host(&al, host, v4, v6, err);
    } else {
        const char *ifs = config_get("inet_interfaces");
        struct inet_interfaces parsed = INET_INTERFACES_INIT;
        rc = inet_interfaces_parse(ifs, &parsed, err);
        if (rc == 0 && parsed.all)
            add_wildcard(&al, v4, v6, false);
        if (rc == 0 && parsed.loopback_only)
            add_wildcard(&al, v4, v6, true);
        for (size_t i = 0; rc == 0 && i < parsed.hosts.n; i++)
            rc = add_host(&al, parsed.hosts.v[i], v4, v6, err);
        if (rc == 0 && al.n == 0) {
            strbuf_printf(err, "inet_interfaces = %s: no address to listen on", ifs);
            rc = -1;
        }
        inet_interfaces_release(&parsed);
    }
    free(host);
    if (rc < 0) {
        addr_release(&al);
        return -1;
    }
    *fds = xcalloc(al.n, sizeof(**fds));
    *nfds = 0;
    for (size_t i = 0; i < al.n; i++) {
        struct sockaddr_storage *ss = &al.v[i];
        if (ss->ss_family == AF_INET)
            ((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
        else
            ((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)port);
        int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        int one = 1;
        const char *what = "socket";
        if (fd >= 0 && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
            what = "setsockopt SO_REUSEADDR";
        else if (fd >= 0 && ss->ss_family == AF_INET6 &&
                 setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0)
            what = "setsockopt IPV6_V6ONLY";
        else if (fd >= 0 && bind(fd, (struct sockaddr *)ss, al.len[i]) < 0)
            what = "bind";
        else if (fd >= 0 && listen(fd, LISTEN_BACKLOG) < 0)
            what = "listen";
        else if (fd >= 0)
            what = NULL;
        if (what) {
            int saved = errno;
            strbuf_printf(err, "%s ", what);
            addr_text(ss, err);
            strbuf_printf(err, ": %s", strerror(saved));
            if (fd >= 0)
                close(fd);
            for (int j = 0; j < *nfds; j++)
                close((*fds)[j]);
            XFREE(*fds);
            *nfds = 0;
            addr_release(&al);
            return -1;
        }
        (*fds)[(*nfds)++] = fd;
    }
    addr_release(&al);
    return 0;
}

/* Run fn with effective ids of mail_owner, so the endpoint is owned by it. */
static int as_owner_begin(strbuf *err)
{
    if (geteuid() != 0)
        return 0; /* not root (tests): create as ourselves */
    const char *owner = config_get("mail_owner");
    struct passwd *pw = getpwnam(owner);
    if (!pw) {
        strbuf_printf(err, "mail_owner \"%s\": no such user", owner);
        return -1;
    }
    if (setegid(pw->pw_gid) < 0) {
        strbuf_printf(err, "setegid(%ld): %m", (long)pw->pw_gid);
        return -1;
    }
    if (seteuid(pw->pw_uid) < 0) {
        strbuf_printf(err, "seteuid(%ld): %m", (long)pw->pw_uid);
        if (setegid(0) < 0)
            msg_fatal("setegid(0): %m");
        return -1;
    }
    return 1;
}

static void as_owner_end(int token)
{
    if (token <= 0)
        return;
    if (seteuid(0) < 0)
        msg_fatal("seteuid(0): %m");
    if (setegid(0) < 0)
        msg_fatal("setegid(0): %m");
}

static int listen_local(const struct master_cf_entry *e, int **fds, int *nfds, strbuf *desc,
                        strbuf *err)
{
    /* Made under a temporary name and renamed into place once it listens:
     * a client (a reload's new service, sendmail's postdrop) never finds a
     * socket that is bound but not yet listening (ECONNREFUSED). */
    const char *dir = e->private_ ? "private" : "public";
    strbuf path = STRBUF_INIT, tmp = STRBUF_INIT;
    strbuf_printf(&path, "%s/%s", dir, e->service);
    strbuf_printf(&tmp, "%s/.%s.new", dir, e->service);
    strbuf_set(desc, path.s);
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    if (e->type != MASTER_CF_FIFO && tmp.len >= sizeof(sun.sun_path)) {
        strbuf_printf(err, "socket path %s is too long", path.s);
        strbuf_release(&path);
        strbuf_release(&tmp);
        return -1;
    }
    int token = as_owner_begin(err);
    if (token < 0) {
        strbuf_release(&path);
        strbuf_release(&tmp);
        return -1;
    }
    int fd = -1;
    const char *what = NULL;
    if (unlink(tmp.s) < 0 && errno != ENOENT) {
        what = "unlink";
    } else if (e->type == MASTER_CF_FIFO) {
        if (mkfifo(tmp.s, 0622) < 0)
            what = "mkfifo";
        else if (chmod(tmp.s, 0622) < 0)
            what = "chmod";
        else if ((fd = open(tmp.s, O_RDWR | O_NONBLOCK | O_CLOEXEC)) < 0)
            what = "open";
    } else {
        int type = e->type == MASTER_CF_UNIX_DGRAM ? SOCK_DGRAM : SOCK_STREAM;
        memcpy(sun.sun_path, tmp.s, tmp.len + 1);
        if ((fd = socket(AF_UNIX, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0)
            what = "socket";
        else if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0)
            what = "bind";
        else if (type == SOCK_STREAM && listen(fd, LISTEN_BACKLOG) < 0)
            what = "listen";
        else if (chmod(tmp.s, 0666) < 0)
            what = "chmod";
    }
    if (!what && rename(tmp.s, path.s) < 0)
        what = "rename";
    if (what) {
        strbuf_printf(err, "%s %s: %m", what, path.s);
        if (fd >= 0)
            close(fd);
        (void)unlink(tmp.s);
    }
    strbuf_release(&tmp);
    as_owner_end(token);
    strbuf_release(&path);
    if (what)
        return -1;
    *fds = xcalloc(1, sizeof(**fds));
    (*fds)[0] = fd;
    *nfds = 1;
    return 0;
}

void master_listen_signature(const struct master_cf_entry *e, strbuf *sig)
{
    strbuf_reset(sig);
    strbuf_printf(sig, "%s %s %d", master_cf_type_name(e->type), e->service, e->private_);
    if (e->type == MASTER_CF_INET)
        strbuf_printf(sig, " %s / %s / %s", config_get("inet_interfaces"),
                      config_get("inet_protocols"), config_get("known_tcp_ports"));
}

int master_listen_create(const struct master_cf_entry *e, int **fds, int *nfds, strbuf *desc,
                         strbuf *err)
{
    strbuf_reset(desc);
    switch (e->type) {
    case MASTER_CF_INET:
        strbuf_set(desc, e->service);
        return listen_inet(e, fds, nfds, err);
    case MASTER_CF_UNIX:
    case MASTER_CF_UNIX_DGRAM:
    case MASTER_CF_FIFO:
        return listen_local(e, fds, nfds, desc, err);
    case MASTER_CF_PASS:
        break;
    }
    strbuf_printf(err, "service type \"%s\" is not supported", master_cf_type_name(e->type));
    return -1;
}

void master_listen_close(struct mservice *s, bool unlink_path)
{
    for (int i = 0; i < s->nfds; i++)
        if (close(s->fds[i]) < 0)
            msg_warn("close listener of %s: %m", s->key);
    XFREE(s->fds);
    s->nfds = 0;
    if (unlink_path && s->type != MASTER_CF_INET && s->listen_desc && unlink(s->listen_desc) < 0 &&
        errno != ENOENT)
        msg_warn("unlink %s: %m", s->listen_desc);
}
