/* postfix_lab - see postfix_lab.h. */
#include "postfix_lab.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "config.h"
#include "dns.h"
#include "inet_config.h"
#include "strbuf.h"

#define LAB_MAX_USERS 20 /* mailbox findings reported, at most */

static void add(struct lab_findings *f, const char *problem, const char *fix)
{
    strlist_push(&f->problems, problem);
    strlist_push(&f->fixes, fix);
}

void lab_findings_release(struct lab_findings *f)
{
    strlist_release(&f->problems);
    strlist_release(&f->fixes);
}

/* ---- host and domain names ------------------------------------------ */

static void check_myhostname(struct lab_findings *f)
{
    const char *name = config_get("myhostname");
    strbuf p = STRBUF_INIT, x = STRBUF_INIT;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
    int rc = getaddrinfo(name, NULL, &hints, &res);
    if (rc != 0) {
        strbuf_printf(&p, "myhostname %s does not resolve: %s", name, gai_strerror(rc));
        strbuf_printf(&x, "add \"127.0.1.1 %s\" to /etc/hosts, or an A record for %s to DNS", name,
                      name);
        add(f, p.s, x.s);
    } else {
        freeaddrinfo(res);
    }
    char host[256];
    if (gethostname(host, sizeof(host)) == 0) {
        host[sizeof(host) - 1] = '\0';
        /* The FQDN, as hostname --fqdn finds it. */
        strbuf fqdn = STRBUF_INIT;
        struct addrinfo h2 = {.ai_family = AF_UNSPEC, .ai_flags = AI_CANONNAME};
        if (getaddrinfo(host, NULL, &h2, &res) == 0) {
            if (res->ai_canonname)
                strbuf_set(&fqdn, res->ai_canonname);
            freeaddrinfo(res);
        }
        if (strcasecmp(name, host) != 0 && (!fqdn.len || strcasecmp(name, fqdn.s) != 0)) {
            strbuf_reset(&p);
            strbuf_reset(&x);
            const char *real = fqdn.len && strchr(fqdn.s, '.') ? fqdn.s : host;
            strbuf_printf(&p, "myhostname %s is not this host's name (%s)", name, real);
            strbuf_printf(&x,
                          "postconf -e myhostname=%s, or rename the host: hostnamectl "
                          "set-hostname %s (and list it in /etc/hosts)",
                          real, name);
            add(f, p.s, x.s);
        }
        strbuf_release(&fqdn);
    }
    strbuf_release(&p);
    strbuf_release(&x);
}

static bool list_has(const char *list, const char *word)
{
    strlist v = STRLIST_INIT;
    strlist_split(&v, list, ", \t\r\n", NULL);
    bool found = false;
    for (size_t i = 0; i < v.n && !found; i++)
        found = strcasecmp(v.v[i], word) == 0;
    strlist_release(&v);
    return found;
}

bool postfix_lab_mydestination(const char *mydestination, const char *mydomain,
                               const char *other_domains)
{
    strlist v = STRLIST_INIT;
    strlist_split(&v, mydestination, ", \t\r\n", NULL);
    bool empty = v.n == 0;
    strlist_release(&v);
    return empty || !*mydomain || list_has(mydestination, mydomain) ||
           list_has(other_domains, mydomain);
}

static void check_mydestination(struct lab_findings *f)
{
    const char *dom = config_get("mydomain");
    strbuf others = STRBUF_INIT;
    strbuf_printf(&others, "%s, %s, %s", config_get("virtual_alias_domains"),
                  config_get("virtual_mailbox_domains"), config_get("relay_domains"));
    if (!postfix_lab_mydestination(config_get("mydestination"), dom, others.s)) {
        strbuf p = STRBUF_INIT;
        strbuf_printf(&p,
                      "mydestination does not include $mydomain (%s): mail to user@%s is "
                      "relayed elsewhere, not delivered here",
                      dom, dom);
        add(f, p.s,
            "postconf -e 'mydestination = $myhostname, localhost.$mydomain, localhost, "
            "$mydomain'");
        strbuf_release(&p);
    }
    strbuf_release(&others);
}

/* ---- mailboxes ------------------------------------------------------- */

/* Is the directory or file at `path` (stat in *st) writable by uid/gid? */
static bool writable_by(const struct stat *st, uid_t uid, gid_t gid)
{
    if (st->st_uid == uid)
        return (st->st_mode & S_IWUSR) != 0;
    if (st->st_gid == gid)
        return (st->st_mode & S_IWGRP) != 0;
    return (st->st_mode & S_IWOTH) != 0;
}

static void describe(strbuf *why, const char *path, const struct stat *st, const char *what)
{
    struct passwd *pw = getpwuid(st->st_uid);
    strbuf_printf(why, "%s %s is not writable by its user (owner %s, mode %04o)", what, path,
                  pw ? pw->pw_name : "?", (unsigned)(st->st_mode & 07777));
}

bool postfix_lab_mailbox(const char *home, const char *mailbox, uid_t uid, gid_t gid, strbuf *why)
{
    strbuf path = STRBUF_INIT;
    strbuf_printf(&path, "%s/%s", home, mailbox);
    size_t len = path.len;
    bool maildir = len && path.s[len - 1] == '/';
    while (path.len > 1 && path.s[path.len - 1] == '/')
        strbuf_truncate(&path, path.len - 1);
    struct stat st;
    bool ok = true;
    if (lstat(path.s, &st) == 0) {
        if (maildir && !S_ISDIR(st.st_mode)) {
            strbuf_printf(why, "Maildir %s is not a directory", path.s);
            ok = false;
        } else if (!writable_by(&st, uid, gid)) {
            describe(why, path.s, &st, maildir ? "Maildir" : "mailbox");
            ok = false;
        }
        static const char *const subs[] = {"tmp", "new", "cur"};
        for (size_t i = 0; ok && maildir && i < 3; i++) {
            strbuf sub = STRBUF_INIT;
            strbuf_printf(&sub, "%s/%s", path.s, subs[i]);
            if (lstat(sub.s, &st) == 0 && (!S_ISDIR(st.st_mode) || !writable_by(&st, uid, gid))) {
                describe(why, sub.s, &st, "Maildir directory");
                ok = false;
            }
            strbuf_release(&sub);
        }
    } else if (errno == ENOENT) {
        /* local(8) creates it: its parent must be the user's to write. */
        char *slash = strrchr(path.s, '/');
        if (slash && slash != path.s) {
            *slash = '\0';
            if (stat(path.s, &st) == 0 && !writable_by(&st, uid, gid)) {
                strbuf_printf(why, "%s does not exist and ",
                              maildir ? "the Maildir" : "the mailbox");
                describe(why, path.s, &st, "directory");
                ok = false;
            }
        }
    }
    strbuf_release(&path);
    return ok;
}

static void check_mailboxes(struct lab_findings *f)
{
    const char *mailbox = config_get("home_mailbox");
    if (!*mailbox)
        return;
    size_t reported = 0;
    setpwent();
    struct passwd *pw;
    strbuf why = STRBUF_INIT, p = STRBUF_INIT, x = STRBUF_INIT;
    while ((pw = getpwent()) != NULL && reported < LAB_MAX_USERS) {
        struct stat st;
        /* Login accounts (Debian's and CentOS's first user ID is 1000),
         * with a home directory; nobody is no one's mailbox. */
        if (pw->pw_uid < 1000 || pw->pw_uid == 65534 || !pw->pw_dir || pw->pw_dir[0] != '/' ||
            stat(pw->pw_dir, &st) < 0 || !S_ISDIR(st.st_mode))
            continue;
        strbuf_reset(&why);
        if (postfix_lab_mailbox(pw->pw_dir, mailbox, pw->pw_uid, pw->pw_gid, &why))
            continue;
        strbuf_reset(&p);
        strbuf_reset(&x);
        strbuf_printf(&p, "home_mailbox = %s: mail for %s cannot be delivered: %s", mailbox,
                      pw->pw_name, why.s);
        strbuf_printf(&x, "chown -R %s: %s/%s && chmod -R u+rwX %s/%s", pw->pw_name, pw->pw_dir,
                      mailbox, pw->pw_dir, mailbox);
        add(f, p.s, x.s);
        reported++;
    }
    endpwent();
    strbuf_release(&why);
    strbuf_release(&p);
    strbuf_release(&x);
}

/* ---- Dovecot SASL socket --------------------------------------------- */

static const char * override(const struct master_cf_entry *e, const char *name)
{
    size_t n = strlen(name);
    const char *found = NULL;
    for (size_t i = 0; i < e->overrides.n; i++)
        if (strncmp(e->overrides.v[i], name, n) == 0 && e->overrides.v[i][n] == '=')
            found = e->overrides.v[i] + n + 1;
    return found;
}

static void check_sasl_path(struct lab_findings *f, const char *where, const char *path)
{
    if (strncmp(path, "inet:", 5) == 0)
        return;
    const char *p = strncmp(path, "unix:", 5) == 0 ? path + 5 : path;
    strbuf full = STRBUF_INIT, prob = STRBUF_INIT, fix = STRBUF_INIT;
    if (p[0] == '/')
        strbuf_set(&full, p);
    else
        strbuf_printf(&full, "%s/%s", config_get("queue_directory"), p);
    struct stat st;
    const char *trouble = NULL;
    if (stat(full.s, &st) < 0 || !S_ISSOCK(st.st_mode)) {
        trouble = "no Dovecot auth socket";
    } else {
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (full.len < sizeof(sa.sun_path) && fd >= 0) {
            memcpy(sa.sun_path, full.s, full.len + 1);
            if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
                trouble = "nobody listens on the Dovecot auth socket";
        }
        if (fd >= 0)
            close(fd);
    }
    if (trouble) {
        strbuf_printf(&prob, "%ssmtpd_sasl_type = dovecot: %s at %s", where, trouble, full.s);
        strbuf_printf(&fix,
                      "in Dovecot's conf.d/10-master.conf: service auth { unix_listener %s { "
                      "mode = 0660 user = postfix group = postfix } }, then systemctl restart "
                      "dovecot",
                      full.s);
        add(f, prob.s, fix.s);
    }
    strbuf_release(&full);
    strbuf_release(&prob);
    strbuf_release(&fix);
}

static bool yes(const char *v)
{
    bool b = false;
    return v && config_parse_bool(v, &b) == 0 && b;
}

static void check_sasl(const master_cf *cf, struct lab_findings *f)
{
    const char *type = config_get("smtpd_sasl_type"), *path = config_get("smtpd_sasl_path");
    if (strcmp(type, "dovecot") == 0 && config_get_bool("smtpd_sasl_auth_enable"))
        check_sasl_path(f, "", path);
    for (size_t i = 0; cf && i < cf->n; i++) {
        const struct master_cf_entry *e = cf->entries[i];
        if (!yes(override(e, "smtpd_sasl_auth_enable")) ||
            (config_get_bool("smtpd_sasl_auth_enable") && !override(e, "smtpd_sasl_path") &&
             !override(e, "smtpd_sasl_type")))
            continue; /* disabled, or main.cf's setting already checked */
        const char *t = override(e, "smtpd_sasl_type");
        const char *p = override(e, "smtpd_sasl_path");
        if (strcmp(t ? t : type, "dovecot") != 0)
            continue;
        strbuf where = STRBUF_INIT;
        strbuf_printf(&where, "master.cf service %s: ", e->service);
        check_sasl_path(f, where.s, p ? p : path);
        strbuf_release(&where);
    }
}

/* ---- listening ports -------------------------------------------------- */

/* The process listening on TCP `port` (from /proc/net/tcp{,6} and the
 * processes' descriptors): its name in *out and pid in *pid, or out left
 * empty when not found. */
static void port_owner(unsigned port, strbuf *out, strbuf *pid)
{
    strlist inodes = STRLIST_INIT;
    static const char *const tables[] = {"/proc/net/tcp", "/proc/net/tcp6"};
    for (size_t t = 0; t < 2; t++) {
        FILE *fp = fopen(tables[t], "r");
        if (!fp)
            continue;
        char line[512];
        while (fgets(line, sizeof(line), fp)) {
            char local[128], rem[128];
            unsigned st;
            unsigned long inode;
            if (sscanf(line, " %*d: %127s %127s %x %*s %*s %*s %*s %*s %lu", local, rem, &st,
                       &inode) != 4 ||
                st != 0x0A)
                continue;
            char *colon = strrchr(local, ':');
            if (colon && strtoul(colon + 1, NULL, 16) == port) {
                char buf[64];
                snprintf(buf, sizeof(buf), "socket:[%lu]", inode);
                strlist_push(&inodes, buf);
            }
        }
        fclose(fp);
    }
    DIR *d = inodes.n ? opendir("/proc") : NULL;
    struct dirent *de;
    while (d && !out->len && (de = readdir(d)) != NULL) {
        if (!isdigit((unsigned char)de->d_name[0]))
            continue;
        strbuf fdp = STRBUF_INIT;
        strbuf_printf(&fdp, "/proc/%s/fd", de->d_name);
        DIR *fds = opendir(fdp.s);
        struct dirent *fe;
        while (fds && !out->len && (fe = readdir(fds)) != NULL) {
            char target[128];
            strbuf link = STRBUF_INIT;
            strbuf_printf(&link, "%s/%s", fdp.s, fe->d_name);
            ssize_t n = readlink(link.s, target, sizeof(target) - 1);
            strbuf_release(&link);
            if (n <= 0)
                continue;
            target[n] = '\0';
            if (!strlist_contains(&inodes, target))
                continue;
            char comm[64] = "?";
            strbuf cpath = STRBUF_INIT;
            strbuf_printf(&cpath, "/proc/%s/comm", de->d_name);
            FILE *cf = fopen(cpath.s, "r");
            strbuf_release(&cpath);
            if (cf) {
                if (fgets(comm, sizeof(comm), cf))
                    comm[strcspn(comm, "\n")] = '\0';
                fclose(cf);
            }
            strbuf_set(out, comm);
            strbuf_set(pid, de->d_name);
        }
        if (fds)
            closedir(fds);
        strbuf_release(&fdp);
    }
    if (d)
        closedir(d);
    strlist_release(&inodes);
}

static void check_bind(struct lab_findings *f, const char *service, const char *host, unsigned port)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV},
                    *res = NULL;
    char pbuf[16];
    snprintf(pbuf, sizeof(pbuf), "%u", port);
    if (getaddrinfo(host, pbuf, &hints, &res) != 0)
        return; /* master reports names it cannot use */
    bool busy = false;
    for (struct addrinfo *a = res; a && !busy; a = a->ai_next) {
        int fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, 0);
        if (fd < 0)
            continue;
        int on = 1;
        (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
        if (a->ai_family == AF_INET6)
            (void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on));
        busy = bind(fd, a->ai_addr, a->ai_addrlen) < 0 && errno == EADDRINUSE;
        close(fd);
    }
    freeaddrinfo(res);
    if (!busy)
        return;
    strbuf owner = STRBUF_INIT, pid = STRBUF_INIT, p = STRBUF_INIT, x = STRBUF_INIT;
    port_owner(port, &owner, &pid);
    strbuf_printf(&p, "master.cf service %s: port %u on %s is in use by another process", service,
                  port, host ? host : "all addresses");
    if (owner.len) {
        strbuf_printf(&p, ": %s[%s]", owner.s, pid.s);
        strbuf_printf(&x,
                      "stop it (systemctl disable --now %s, or kill %s), or give the service "
                      "another address in master.cf",
                      owner.s, pid.s);
    } else {
        strbuf_printf(&x, "find it with: ss -ltnp 'sport = :%u', and stop it", port);
    }
    add(f, p.s, x.s);
    strbuf_release(&pid);
    strbuf_release(&owner);
    strbuf_release(&p);
    strbuf_release(&x);
}

static void check_ports(const master_cf *cf, struct lab_findings *f)
{
    struct inet_interfaces ifs = INET_INTERFACES_INIT;
    strbuf err = STRBUF_INIT;
    bool ifs_ok = inet_interfaces_parse(config_get("inet_interfaces"), &ifs, &err) == 0;
    for (size_t i = 0; cf && i < cf->n; i++) {
        const struct master_cf_entry *e = cf->entries[i];
        if (e->type != MASTER_CF_INET)
            continue;
        /* "[host]:port", "host:port" or "port"; port a number or a name. */
        strbuf host = STRBUF_INIT;
        const char *svc = e->service, *colon = strrchr(svc, ':');
        const char *portname = colon ? colon + 1 : svc;
        if (colon) {
            strbuf_append(&host, svc, (size_t)(colon - svc));
            if (host.len >= 2 && host.s[0] == '[' && host.s[host.len - 1] == ']') {
                memmove(host.s, host.s + 1, host.len - 2);
                strbuf_truncate(&host, host.len - 2);
            }
        }
        char *end;
        unsigned long port = strtoul(portname, &end, 10);
        if (*end || !*portname) {
            struct servent *se = getservbyname(portname, "tcp");
            port = se ? ntohs((uint16_t)se->s_port) : 0;
        }
        if (port == 0 || port > 65535) {
            strbuf_release(&host);
            continue;
        }
        if (host.len && strcmp(host.s, "*") != 0)
            check_bind(f, svc, host.s, (unsigned)port);
        else if (!ifs_ok || ifs.all)
            check_bind(f, svc, NULL, (unsigned)port);
        else if (ifs.loopback_only)
            check_bind(f, svc, "127.0.0.1", (unsigned)port);
        else
            for (size_t k = 0; k < ifs.hosts.n; k++) {
                const char *h = ifs.hosts.v[k];
                strbuf hb = STRBUF_INIT;
                strbuf_set(&hb, h);
                if (hb.len >= 2 && hb.s[0] == '[' && hb.s[hb.len - 1] == ']') {
                    memmove(hb.s, hb.s + 1, hb.len - 2);
                    strbuf_truncate(&hb, hb.len - 2);
                }
                check_bind(f, svc, hb.s, (unsigned)port);
                strbuf_release(&hb);
            }
        strbuf_release(&host);
    }
    inet_interfaces_release(&ifs);
    strbuf_release(&err);
}

/* ---- DNS ------------------------------------------------------------- */

static void check_domain_dns(struct lab_findings *f)
{
    const char *dom = config_get("mydomain");
    if (!*dom || !strchr(dom, '.'))
        return; /* "localdomain"-style names are not meant for DNS */
    strbuf name = STRBUF_INIT, why = STRBUF_INIT, p = STRBUF_INIT, x = STRBUF_INIT;
    strbuf_printf(&name, "%s.", dom);
    struct dns_reply r = {0};
    int mx = dns_lookup(name.s, DNS_T_MX, &r, &why);
    dns_reply_free(&r);
    int a = DNS_NOTFOUND;
    if (mx != DNS_OK && mx != DNS_RETRY) {
        a = dns_lookup(name.s, DNS_T_A, &r, &why);
        dns_reply_free(&r);
    }
    if (mx == DNS_RETRY || a == DNS_RETRY) {
        strbuf_printf(&p, "cannot look up $mydomain (%s) in DNS: %s", dom, why.s);
        strbuf_set(&x, "check the nameserver lines of /etc/resolv.conf");
        add(f, p.s, x.s);
    } else if (mx != DNS_OK && a != DNS_OK) {
        strbuf_printf(&p,
                      "no MX or A record for $mydomain (%s) in DNS: other mail servers cannot "
                      "find where to send mail for @%s",
                      dom, dom);
        strbuf_printf(&x, "add to the %s zone: \"%s. IN MX 10 %s.\" and an A record for %s", dom,
                      dom, config_get("myhostname"), config_get("myhostname"));
        add(f, p.s, x.s);
    }
    strbuf_release(&name);
    strbuf_release(&why);
    strbuf_release(&p);
    strbuf_release(&x);
}

void postfix_lab_check(const master_cf *cf, bool master_running, struct lab_findings *out)
{
    check_myhostname(out);
    check_mydestination(out);
    check_mailboxes(out);
    check_sasl(cf, out);
    if (!master_running)
        check_ports(cf, out);
    check_domain_dns(out);
}
