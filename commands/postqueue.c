/* postqueue - queue listing and flushing for every user.
 *
 * Installed setgid $setgid_group (postdrop) so it can reach the public/
 * sockets (0710 postfix:postdrop). -p (and mailq, sendmail -bp) prints the
 * Sendmail-style listing, -j JSON lines (postqueue_format.h); both come from
 * the showq service. When master is down (no showq listening) root runs
 * showq -S itself; other users get Postfix's "Queue report unavailable -
 * mail system is down" (EX_UNAVAILABLE). -f wakes qmgr with "FADI" (flush
 * dead destinations, ignore retry times, scan deferred and incoming); -i ID
 * makes one deferred message due now (through showq); -s is not available.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <unistd.h>

#include "config.h"
#include "mail_log.h"
#include "mem.h"
#include "msg.h"
#include "setgid_sanitizer.h"
#include "stdfd.h"
#include "postqueue_format.h"
#include "queue_id.h"
#include "showq_proto.h"
#include "sock.h"
#include "stream.h"
#include "strlist.h"

#define SHOWQ_TIMEOUT_MS 60000

static _Noreturn void usage(void)
{
    msg_fatal_status(EX_USAGE, "usage: postqueue -f | -i queue_id | -j | -p | -s site "
                               "[-c config_dir] [-v]");
}

/* root with master down: run showq on one end of a socketpair. */
static stream *spawn_showq(pid_t *pid)
{
    int sp[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0)
        msg_fatal_status(EX_OSERR, "socketpair: %m");
    strbuf path = STRBUF_INIT;
    strbuf_printf(&path, "%s/showq", config_get("daemon_directory"));
    *pid = fork();
    if (*pid < 0)
        msg_fatal_status(EX_OSERR, "fork: %m");
    if (*pid == 0) {
        if (dup2(sp[1], STDIN_FILENO) < 0)
            _exit(EX_OSERR);
        char *args[] = {"showq", "-S", NULL};
        execv(strbuf_str(&path), args);
        fprintf(stderr, "postqueue: fatal: execute %s: %s\n", strbuf_str(&path), strerror(errno));
        _exit(EX_UNAVAILABLE);
    }
    close(sp[1]);
    strbuf_release(&path);
    stream *st = stream_open(sp[0]);
    stream_set_timeout(st, SHOWQ_TIMEOUT_MS);
    return st;
}

static stream *showq_connect(pid_t *pid)
{
    strbuf err = STRBUF_INIT;
    *pid = -1;
    stream *st = attr_connect(config_get("queue_directory"), SHOWQ_SERVICE, SHOWQ_TIMEOUT_MS, &err);
    if (!st) {
        msg_debug("connect to showq: %s", strbuf_str(&err));
        if (getuid() != 0)
            msg_fatal_status(EX_UNAVAILABLE, "Queue report unavailable - mail system is down");
        st = spawn_showq(pid);
    }
    strbuf_release(&err);
    return st;
}

static void showq_done(stream **st, pid_t pid)
{
    stream_close(st);
    if (pid > 0) {
        int status;
        while (waitpid(pid, &status, 0) < 0)
            if (errno != EINTR)
                break;
    }
}

static _Noreturn void malformed(const strbuf *err)
{
    msg_fatal_status(EX_SOFTWARE, "malformed showq server response: %s", strbuf_str(err));
}

static void write_out(strbuf *out)
{
    if (out->len && fwrite(out->s, 1, out->len, stdout) != out->len)
        msg_fatal_status(EX_IOERR, "write standard output: %m");
    strbuf_reset(out);
}

static void show_queue(bool json)
{
    pid_t pid;
    stream *st = showq_connect(&pid);
    attr_list req = ATTR_LIST_INIT, msg = ATTR_LIST_INIT;
    strbuf err = STRBUF_INIT, out = STRBUF_INIT;
    attr_add_str(&req, "request", "list");
    if (attr_send(st, &req, &err) != ATTR_OK)
        msg_fatal_status(EX_UNAVAILABLE, "showq service: %s", strbuf_str(&err));

    struct pq_text text = {.long_ids = config_get_bool("enable_long_queue_ids")};
    /* One message is held at a time: its header and recipients. */
    attr_list head = ATTR_LIST_INIT;
    struct pq_rcpt *rcpt = NULL;
    strlist addrs = STRLIST_INIT, whys = STRLIST_INIT;
    bool have = false;
    for (;;) {
        const char *type = NULL;
        if (attr_recv(st, &showq_attr_limits, &msg, &err) != ATTR_OK ||
            attr_get_str(&msg, "type", &type, &err) < 0)
            malformed(&err);
        bool is_rcpt = strcmp(type, "rcpt") == 0;
        if (is_rcpt) {
            const char *a, *w;
            if (!have || attr_get_str(&msg, "address", &a, &err) < 0 ||
                attr_get_str(&msg, "reason", &w, &err) < 0)
                malformed(&err);
            strlist_push(&addrs, a);
            strlist_push(&whys, w);
            continue;
        }
        if (have) {
            struct pq_message m = {0};
            int64_t t, sz, fe;
            if (attr_get_str(&head, "queue_name", &m.queue_name, &err) < 0 ||
                attr_get_str(&head, "queue_id", &m.queue_id, &err) < 0 ||
                attr_get_int(&head, "arrival_time", &t, &err) < 0 ||
                attr_get_int(&head, "message_size", &sz, &err) < 0 ||
                attr_get_int(&head, "forced_expire", &fe, &err) < 0 ||
                attr_get_str(&head, "sender", &m.sender, &err) < 0)
                malformed(&err);
            m.arrival_time = (long)t;
            m.message_size = (long)sz;
            m.forced_expire = fe != 0;
            rcpt = xreallocarray(rcpt, addrs.n + 1, sizeof(*rcpt));
            for (size_t i = 0; i < addrs.n; i++)
                rcpt[i] = (struct pq_rcpt){addrs.v[i], whys.v[i]};
            m.rcpt = rcpt;
            m.nrcpt = addrs.n;
            if (json)
                pq_json_message(&m, &out);
            else
                pq_text_message(&text, &m, &out);
            write_out(&out);
            strlist_release(&addrs);
            strlist_release(&whys);
            have = false;
        }
        if (strcmp(type, "end") == 0)
            break;
        if (strcmp(type, "message") != 0)
            malformed(&err);
        /* Keep this header: the next messages reuse `msg`. */
        attr_list_reset(&head);
        for (size_t i = 0; i < attr_list_count(&msg); i++) {
            const attr *a = attr_list_at(&msg, i);
            attr_add_data(&head, a->name, a->value, a->value_len);
        }
        have = true;
    }
    if (!json)
        pq_text_finish(&text, &out);
    write_out(&out);
    if (fflush(stdout) != 0)
        msg_fatal_status(EX_IOERR, "write standard output: %m");
    showq_done(&st, pid);
    free(rcpt);
    attr_list_release(&head);
    attr_list_release(&msg);
    attr_list_release(&req);
    strbuf_release(&err);
    strbuf_release(&out);
}

static void flush_queue(void)
{
    strbuf path = STRBUF_INIT, err = STRBUF_INIT;
    if (sock_unix_path(config_get("queue_directory"), "public/qmgr", &path, &err) < 0 ||
        sock_trigger(strbuf_str(&path), "FADI", 4, 5000, &err) < 0) {
        msg_debug("%s", strbuf_str(&err));
        msg_fatal_status(EX_UNAVAILABLE, "Cannot flush mail queue - mail system is down");
    }
    strbuf_release(&path);
    strbuf_release(&err);
}

static void flush_id(const char *id)
{
    if (!queue_id_valid(id))
        msg_fatal_status(EX_USAGE, "invalid queue ID: \"%s\"", id);
    strbuf err = STRBUF_INIT;
    attr_list req = ATTR_LIST_INIT, resp = ATTR_LIST_INIT;
    attr_add_str(&req, "request", "flush");
    attr_add_str(&req, "queue_id", id);
    int64_t status;
    const char *why = "unknown error";
    int rc = attr_request(config_get("queue_directory"), SHOWQ_SERVICE, SHOWQ_TIMEOUT_MS, &req,
                          &showq_attr_limits, &resp, &err);
    if (rc != ATTR_OK)
        msg_fatal_status(EX_UNAVAILABLE, "Cannot flush mail queue - mail system is down");
    if (attr_get_int(&resp, "status", &status, &err) < 0)
        malformed(&err);
    if (status != 0) {
        (void)attr_get_str(&resp, "reason", &why, NULL);
        msg_fatal_status(EX_UNAVAILABLE, "%s: %s", id, why);
    }
    attr_list_release(&req);
    attr_list_release(&resp);
    strbuf_release(&err);
}

int main(int argc, char **argv)
{
    const char *opt_c = NULL, *opt_i = NULL, *opt_s = NULL;
    char mode = 0;
    int c;
    stdfd_ensure_open(); /* before anything can take fd 0, 1 or 2 */
    msg_init("postqueue", true);
    signal(SIGPIPE, SIG_IGN);
    while ((c = getopt(argc, argv, "c:fi:jps:v")) != -1) {
        switch (c) {
        case 'c':
            opt_c = optarg;
            break;
        case 'f':
        case 'j':
        case 'p':
            if (mode && mode != c)
                usage();
            mode = (char)c;
            break;
        case 'i':
            if (mode && mode != 'i')
                usage();
            mode = 'i';
            opt_i = optarg;
            break;
        case 's':
            if (mode && mode != 's')
                usage();
            mode = 's';
            opt_s = optarg;
            break;
        case 'v':
            msg_verbose++;
            break;
        default:
            usage();
        }
    }
    if (optind != argc || !mode)
        usage();
    /* setgid: only root may point us at an arbitrary configuration. */
    config_load_or_die(config_choose_dir(opt_c, getuid() != 0));
    (void)mail_log_setup(MAIL_LOG_QUIET);
    switch (mode) {
    case 'p':
        show_queue(false);
        break;
    case 'j':
        show_queue(true);
        break;
    case 'f':
        flush_queue();
        break;
    case 'i':
        flush_id(opt_i);
        break;
    case 's':
        msg_fatal_status(EX_UNAVAILABLE,
                         "-s %s: per-site flush needs the fast-flush service, which this MTA does "
                         "not have; use postqueue -f",
                         opt_s);
    }
    return 0;
}
