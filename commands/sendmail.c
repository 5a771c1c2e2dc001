/* sendmail - the Sendmail-compatible submission interface.
 *
 * Not privileged. Delivery mode (the default) reads a message on stdin and
 * hands it to postdrop (setgid postdrop) over a pipe in the stream format of
 * lib/global/maildrop.h; postdrop's exit status is ours. Other modes exec the
 * program that owns the job, as Postfix does: -bs smtpd -S, -bp postqueue
 * -p, -bi postalias $alias_database (or the -oA table), -q postqueue -f,
 * -bd postfix start; each gets one -v per -v given here.
 *
 * mailq and newaliases are links to sendmail: invoked by those names it
 * starts in -bp or -bi mode (options may still change it, as in Postfix).
 * -C names the configuration directory (or a file in it). Modes that take
 * no recipients refuse them (EX_USAGE).
 *
 * Content is kept byte for byte: lines end in LF or CRLF on input (a CR
 * right before LF is the line end, every other CR is data), a final line
 * without newline is still a line, a leading "From " line, dots and 8-bit
 * bytes pass unchanged. Without -i a line holding only "." ends the input.
 *
 * Exit codes are sysexits: 64 usage, 65 bad input, 69 a helper program
 * cannot be run, 71 system error, 75 temporary failure (postdrop/queue).
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <unistd.h>

#include "addr_list.h"
#include "attr.h"
#include "cleanup_client.h"
#include "config.h"
#include "mail_log.h"
#include "fsutil.h"
#include "header.h"
#include "mem.h"
#include "msg.h"
#include "queue_file.h"
#include "smtp_cmd.h"
#include "stdfd.h"
#include "stream.h"
#include "strlist.h"

/* Recipients per submission; more is a usage error, not a memory hazard. */
#define MAX_RECIPIENTS 100000

enum mode { MODE_DELIVER, MODE_SMTP, MODE_PRINT, MODE_NEWALIASES, MODE_FLUSH, MODE_DAEMON };

struct options {
    enum mode mode;
    const char *config_dir;
    const char *sender;
    const char *fullname;
    const char *envid;
    const char *ret;
    const char *body;
    int notify;
    bool dot_ends;        /* no -i */
    bool extract;         /* -t */
    bool verify;          /* -bv: verify the recipients, mail a report, deliver nothing */
    const char *qarg;     /* -q argument after "I"/"R" */
    char qkind;           /* 0, 'I' or 'R' */
    const char *alias_db; /* -oA: -bi builds this instead of $alias_database */
};

static _Noreturn void usage(void)
{
    msg_fatal_status(EX_USAGE, "usage: sendmail [-bm|-bs|-bp|-bi|-bd|-q] [-t] [-i] [-f sender] "
                               "[-F name] [-N dsn] [-R ret] [-V envid] [-B body] [-C config] "
                               "[recipient ...]");
}

static const char *command_path(const char *dir_param, const char *name, strbuf *buf)
{
    strbuf_reset(buf);
    strbuf_printf(buf, "%s/%s", config_get(dir_param), name);
    return strbuf_str(buf);
}

static _Noreturn void exec_helper(const char *dir_param, const char *name, char **args)
{
    strbuf path = STRBUF_INIT;
    const char *p = command_path(dir_param, name, &path);
    execv(p, args);
    msg_fatal_status(EX_UNAVAILABLE, "execute %s: %m", p);
}

/* Exec command_directory/<name> with `first` arguments, one -v per -v we
 * were given (Postfix passes verbosity on), then `rest`. */
static _Noreturn void exec_command(const char *name, const char *const *first, const strlist *rest)
{
    strlist args = STRLIST_INIT;
    strlist_push(&args, name);
    for (size_t i = 0; first && first[i]; i++)
        strlist_push(&args, first[i]);
    for (int i = 0; i < msg_verbose; i++)
        strlist_push(&args, "-v");
    for (size_t i = 0; rest && i < rest->n; i++)
        strlist_push(&args, rest->v[i]);
    exec_helper("command_directory", name, args.v); /* strlist is an argv */
}

/* -bi / newaliases: postalias on each table of $alias_database (or -oA). */
static int newaliases_mode(const struct options *o)
{
    const char *db = o->alias_db ? o->alias_db : config_get("alias_database");
    strlist tables = STRLIST_INIT;
    const char *err = NULL;
    if (strlist_split(&tables, db, ", \t\r\n", &err) < 0)
        msg_fatal_status(EX_CONFIG, "alias_database = %s: %s", db, err);
    if (tables.n == 0)
        return 0; /* nothing to build, as Postfix */
    exec_command("postalias", NULL, &tables);
}

static int parse_notify(const char *s)
{
    if (strcasecmp(s, "never") == 0)
        return QF_NOTIFY_NEVER;
    strlist words = STRLIST_INIT;
    strlist_split(&words, s, ", \t", NULL);
    int bits = 0;
    for (size_t i = 0; i < words.n; i++) {
        if (strcasecmp(words.v[i], "success") == 0)
            bits |= QF_NOTIFY_SUCCESS;
        else if (strcasecmp(words.v[i], "failure") == 0)
            bits |= QF_NOTIFY_FAILURE;
        else if (strcasecmp(words.v[i], "delay") == 0)
            bits |= QF_NOTIFY_DELAY;
        else
            msg_fatal_status(EX_USAGE,
                             "bad -N option value: \"%s\" (expected never or a list "
                             "of success, delay, failure)",
                             s);
    }
    strlist_release(&words);
    if (!bits)
        msg_fatal_status(EX_USAGE, "bad -N option value: \"%s\"", s);
    return bits;
}

/* The xtext-safe subset: printable ASCII without '+', '=' and space. */
static void check_envid(const char *s)
{
    if (!*s || strlen(s) > 100)
        msg_fatal_status(EX_USAGE, "bad -V option value: length must be 1..100");
    for (const char *p = s; *p; p++)
        if (*p < 33 || *p > 126 || *p == '+' || *p == '=')
            msg_fatal_status(EX_USAGE, "bad -V option value: \"%s\"", s);
}

/* -q forms: -q (flush), -qIid, -qRsite, -qSsite, -q<interval> (ignored). */
static void parse_q(struct options *o, const char *arg)
{
    o->mode = MODE_FLUSH;
    if (!arg || !*arg)
        return;
    if (arg[0] == 'I' || arg[0] == 'R') {
        if (!arg[1])
            msg_fatal_status(EX_USAGE, "-q%c needs an argument", arg[0]);
        o->qkind = arg[0];
        o->qarg = arg + 1;
        return;
    }
    if (arg[0] >= '0' && arg[0] <= '9') /* -q30m: Sendmail's queue run interval */
        return;
    msg_fatal_status(EX_USAGE, "-q%c is not implemented", arg[0]);
}

static void parse_b(struct options *o, const char *arg)
{
    if (strcmp(arg, "m") == 0)
        o->mode = MODE_DELIVER;
    else if (strcmp(arg, "s") == 0)
        o->mode = MODE_SMTP;
    else if (strcmp(arg, "p") == 0)
        o->mode = MODE_PRINT;
    else if (strcmp(arg, "i") == 0)
        o->mode = MODE_NEWALIASES;
    else if (strcmp(arg, "d") == 0 || strcmp(arg, "l") == 0)
        o->mode = MODE_DAEMON;
    else if (strcmp(arg, "h") == 0 || strcmp(arg, "H") == 0)
        ; /* Sendmail's host-status commands: Postfix ignores them */
    else if (strcmp(arg, "v") == 0) {
        o->mode = MODE_DELIVER; /* Postfix: a submission with a verify flag */
        o->verify = true;
    } else
        msg_fatal_status(EX_USAGE, "unsupported -b option: -b%s", arg);
}

static void parse_options(struct options *o, int argc, char **argv)
{
    int c;
    opterr = 0;
    /* Sendmail's option letters; the ones Postfix ignores are accepted. */
    while ((c = getopt(argc, argv, "+A:B:C:F:GIL:N:O:R:UV:X:b:c:e:f:h:imno:p:q::r:tvx")) != -1) {
        switch (c) {
        case 'B':
            if (strcasecmp(optarg, "7BIT") != 0 && strcasecmp(optarg, "8BITMIME") != 0)
                msg_fatal_status(EX_USAGE, "-B option needs 7BIT or 8BITMIME");
            o->body = strcasecmp(optarg, "7BIT") == 0 ? "7BIT" : "8BITMIME";
            break;
        case 'C':
        case 'c': {
            /* Sendmail names a file (sendmail.cf); we take its directory. */
            struct stat st;
            if (stat(optarg, &st) == 0 && !S_ISDIR(st.st_mode)) {
                char *copy = xstrdup(optarg);
                o->config_dir = xstrdup(dirname(copy));
                free(copy);
            } else {
                o->config_dir = optarg;
            }
            break;
        }
        case 'F':
            o->fullname = optarg;
            break;
        case 'I':
            o->mode = MODE_NEWALIASES;
            break;
        case 'N':
            o->notify = parse_notify(optarg);
            break;
        case 'R':
            if (strcasecmp(optarg, "full") == 0)
                o->ret = "FULL";
            else if (strcasecmp(optarg, "hdrs") == 0)
                o->ret = "HDRS";
            else
                msg_fatal_status(EX_USAGE, "-R option needs full or hdrs");
            break;
        case 'V':
            check_envid(optarg);
            o->envid = optarg;
            break;
        case 'X':
            if (optarg[0] == 'V')
                msg_fatal_status(EX_UNAVAILABLE, "-XV (VERP) is not supported");
            break; /* -X logfile: Sendmail traffic log, ignored */
        case 'b':
            parse_b(o, optarg);
            break;
        case 'f':
        case 'r':
            o->sender = optarg;
            break;
        case 'i':
            o->dot_ends = false;
            break;
        case 'o':
            if (optarg[0] == 'i')
                o->dot_ends = false;
            if (optarg[0] == 'A') {
                if (!optarg[1])
                    msg_fatal_status(EX_USAGE, "-oA requires pathname");
                o->alias_db = optarg + 1;
            }
            /* -o7, -o8, -om and the rest: ignored as Postfix does. */
            break;
        case 'q':
            parse_q(o, optarg);
            break;
        case 't':
            o->extract = true;
            break;
        case 'v':
            msg_verbose++;
            break;
        case 'A': /* -Am / -Ac: Sendmail's submit.cf selection */
        case 'G': /* gateway submission */
        case 'L': /* syslog label */
        case 'O':
        case 'U': /* initial user submission */
        case 'e':
        case 'h':
        case 'm':
        case 'n':
        case 'p':
        case 'x':
            break;
        default:
            msg_warn("invalid option -%c", optopt);
            usage();
        }
    }
}

/* ---- delivery mode -------------------------------------------------------- */

struct submit {
    stream *out; /* to postdrop */
    attr_list content;
    size_t content_bytes;
    strbuf err;
    bool broken;
};

static void send_msg(struct submit *s, const attr_list *al)
{
    if (!s->broken && attr_write(s->out, al, &s->err) != ATTR_OK)
        s->broken = true; /* postdrop died; its exit status tells why */
}

static void flush_content(struct submit *s)
{
    if (attr_list_count(&s->content) > 1)
        send_msg(s, &s->content);
    attr_list_reset(&s->content);
    attr_add_str(&s->content, "request", "content");
    s->content_bytes = 0;
}

static void put_piece(struct submit *s, const char *data, size_t len, bool line_end)
{
    do {
        if (s->content_bytes >= CLEANUP_CHUNK || attr_list_count(&s->content) >= CLEANUP_CHUNK)
            flush_content(s);
        size_t room = CLEANUP_CHUNK - s->content_bytes;
        size_t n = len < room ? len : room;
        attr_add_data(&s->content, n == len && line_end ? "N" : "L", data, n);
        s->content_bytes += n;
        data += n;
        len -= n;
    } while (len > 0);
}

/* Lines from stdin, delivered in pieces of bounded size: a line of any
 * length never sits in memory whole. */
struct line_reader {
    FILE *in;
    strbuf piece;
    bool pending_cr; /* a CR at the end of the previous piece */
    bool eof;
};

/* Next piece: 1 with *line_end set, 0 at end of input. */
static int read_piece(struct line_reader *lr, bool *line_end)
{
    strbuf_reset(&lr->piece);
    if (lr->pending_cr) {
        strbuf_putc(&lr->piece, '\r');
        lr->pending_cr = false;
    }
    if (lr->eof)
        return 0;
    for (;;) {
        int c = getc(lr->in);
        if (c == EOF) {
            if (ferror(lr->in))
                msg_fatal_status(EX_IOERR, "read message from standard input: %m");
            lr->eof = true;
            *line_end = true; /* a final line without newline is still a line */
            return lr->piece.len > 0 ? 1 : 0;
        }
        if (c == '\n') {
            if (lr->piece.len > 0 && lr->piece.s[lr->piece.len - 1] == '\r')
                strbuf_truncate(&lr->piece, lr->piece.len - 1);
            *line_end = true;
            return 1;
        }
        strbuf_putc(&lr->piece, (char)c);
        if (lr->piece.len >= CLEANUP_CHUNK) {
            /* Keep a trailing CR back: it may be half of a CRLF. */
            if (lr->piece.s[lr->piece.len - 1] == '\r') {
                strbuf_truncate(&lr->piece, lr->piece.len - 1);
                lr->pending_cr = true;
            }
            *line_end = false;
            return 1;
        }
    }
}

/* Header section kept for -t: recipients must precede content. */
struct headers {
    strlist lines; /* logical headers, NUL-free (a header with NUL is body-like data) */
    size_t bytes, limit;
    strlist to, bcc_seen;
    bool resent;
    strlist rcpt, resent_rcpt;
    strbuf err;
};

static void collect_header(void *ctx, const char *header, size_t len, enum header_id id,
                           bool truncated)
{
    struct headers *h = ctx;
    if (truncated)
        msg_fatal_status(EX_DATAERR, "message header exceeds %zu bytes", h->limit);
    strlist *dst = NULL;
    switch (id) {
    case HDR_TO:
    case HDR_CC:
    case HDR_BCC:
        dst = &h->rcpt;
        break;
    case HDR_RESENT_TO:
    case HDR_RESENT_CC:
    case HDR_RESENT_BCC:
        dst = &h->resent_rcpt;
        h->resent = true;
        break;
    default:
        break;
    }
    if (dst) {
        size_t vlen;
        const char *v = header_value(header, len, &vlen);
        if (addr_list_parse(v, vlen, dst, MAX_RECIPIENTS, &h->err) < 0)
            msg_fatal_status(EX_DATAERR, "bad address in message header: %s", strbuf_str(&h->err));
    }
    /* -t: Bcc recipients get the mail but must not see each other. */
    if (id == HDR_BCC || id == HDR_RESENT_BCC)
        return;
    h->bytes += len;
    if (h->bytes > h->limit)
        msg_fatal_status(EX_DATAERR, "message header section exceeds %zu bytes", h->limit);
    strlist_pushn(&h->lines, header, len);
}

static void put_header_lines(struct submit *s, const char *h, size_t len)
{
    for (;;) {
        const char *nl = memchr(h, '\n', len);
        size_t n = nl ? (size_t)(nl - h) : len;
        put_piece(s, h, n, true);
        if (!nl)
            return;
        h += n + 1;
        len -= n + 1;
    }
}

static void add_recipients(strlist *out, const char *arg)
{
    strbuf err = STRBUF_INIT;
    if (addr_list_parse(arg, strlen(arg), out, MAX_RECIPIENTS, &err) < 0)
        msg_fatal_status(EX_USAGE, "bad recipient address \"%s\": %s", arg, strbuf_str(&err));
    strbuf_release(&err);
}

static void default_sender(strbuf *sender)
{
    struct passwd *pw = getpwuid(getuid());
    if (!pw)
        msg_fatal_status(EX_OSERR, "no login name found for user ID %lu", (unsigned long)getuid());
    strbuf_set(sender, pw->pw_name);
}

static pid_t spawn_postdrop(const struct options *o, int *fd)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        msg_fatal_status(EX_OSERR, "pipe: %m");
    strbuf path = STRBUF_INIT;
    command_path("command_directory", "postdrop", &path);
    pid_t pid = fork();
    if (pid < 0)
        msg_fatal_status(EX_OSERR, "fork: %m");
    if (pid == 0) {
        if (dup2(p[0], STDIN_FILENO) < 0)
            _exit(EX_OSERR);
        char *args[] = {"postdrop", "-r", NULL};
        execv(strbuf_str(&path), args);
        fprintf(stderr, "sendmail: fatal: execute %s: %s\n", strbuf_str(&path), strerror(errno));
        _exit(EX_UNAVAILABLE);
    }
    close(p[0]);
    strbuf_release(&path);
    *fd = p[1];
    return pid;
}

static int wait_postdrop(pid_t pid)
{
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            msg_fatal_status(EX_OSERR, "wait for postdrop: %m");
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    msg_warn("postdrop killed by signal %d: message not queued", WTERMSIG(status));
    return EX_TEMPFAIL;
}

static int deliver(const struct options *o, char **rcpt_args)
{
    strbuf sender = STRBUF_INIT;
    if (o->sender) {
        strbuf_set(&sender, o->sender);
        strbuf_trim(&sender);
        /* "<addr>" and "<>" as on an SMTP MAIL FROM line. */
        if (sender.len >= 2 && sender.s[0] == '<' && sender.s[sender.len - 1] == '>') {
            memmove(sender.s, sender.s + 1, sender.len - 2);
            strbuf_truncate(&sender, sender.len - 2);
        }
        if (strpbrk(strbuf_str(&sender), "\r\n") || sender.len > 1000)
            msg_fatal_status(EX_USAGE, "bad sender address \"%s\"", o->sender);
    } else {
        default_sender(&sender);
    }
    const char *fullname = o->fullname ? o->fullname : getenv("NAME");
    if (fullname && (strpbrk(fullname, "\r\n") || strlen(fullname) > 1000))
        fullname = NULL;

    strlist rcpt = STRLIST_INIT;
    for (char **a = rcpt_args; *a; a++)
        add_recipients(&rcpt, *a);
    if (!o->extract && rcpt.n == 0)
        msg_fatal_status(EX_USAGE, "Recipient addresses must be specified on the command line "
                                   "or via the -t option");

    struct line_reader lr = {.in = stdin};
    struct headers h = {0};
    long long msl = config_get_size("message_size_limit");
    h.limit = msl > 0 ? (size_t)msl : (size_t)1 << 30;
    struct header_collector hc;
    header_collector_init(&hc, h.limit, collect_header, &h);

    /* With -t the header section is read before anything is sent. */
    bool line_end = true, at_line_start = true, first = true, done = false;
    strbuf held = STRBUF_INIT; /* the first body line (or leading From_) */
    bool have_held = false, from_line = false;
    if (o->extract) {
        for (;;) {
            int r = read_piece(&lr, &line_end);
            if (r == 0) {
                header_collector_finish(&hc);
                done = true;
                break;
            }
            if (!line_end)
                msg_fatal_status(EX_DATAERR, "message header line exceeds %d bytes", CLEANUP_CHUNK);
            if (o->dot_ends && lr.piece.len == 1 && lr.piece.s[0] == '.') {
                header_collector_finish(&hc);
                done = true;
                break;
            }
            if (first && lr.piece.len >= 5 && memcmp(lr.piece.s, "From ", 5) == 0) {
                strbuf_reset(&held);
                strbuf_append(&held, lr.piece.s, lr.piece.len);
                from_line = true;
                first = false;
                continue;
            }
            first = false;
            if (memchr(lr.piece.s, 0, lr.piece.len)) {
                header_collector_finish(&hc);
                have_held = true;
                break;
            }
            enum header_feed_result fr = header_collector_feed(&hc, lr.piece.s, lr.piece.len);
            if (fr != HEADER_CONSUMED) {
                header_collector_finish(&hc);
                have_held = true; /* the blank line or first body line is in lr.piece */
                break;
            }
        }
        strlist *found = h.resent ? &h.resent_rcpt : &h.rcpt;
        for (size_t i = 0; i < found->n; i++)
            strlist_push(&rcpt, found->v[i]);
        if (rcpt.n == 0)
            msg_fatal_status(EX_DATAERR, "No recipient addresses found in message header");
    }
    if (rcpt.n > MAX_RECIPIENTS)
        msg_fatal_status(EX_USAGE, "too many recipients (more than %d)", MAX_RECIPIENTS);

    int fd;
    pid_t pid = spawn_postdrop(o, &fd);
    struct submit s = {.out = stream_open(fd)};
    attr_list al = ATTR_LIST_INIT;
    attr_add_str(&al, "request", "envelope");
    attr_add_str(&al, "sender", strbuf_str(&sender));
    if (fullname)
        attr_add_str(&al, "fullname", fullname);
    if (o->envid)
        attr_add_str(&al, "envid", o->envid);
    if (o->ret)
        attr_add_str(&al, "ret", o->ret);
    if (o->body)
        attr_add_str(&al, "body", o->body);
    if (o->verify)
        attr_add_int(&al, "flags", QF_FLAG_VERIFY);
    send_msg(&s, &al);
    for (size_t i = 0; i < rcpt.n; i++) {
        attr_list_reset(&al);
        attr_add_str(&al, "request", "rcpt");
        attr_add_str(&al, "address", rcpt.v[i]);
        if (o->notify)
            attr_add_int(&al, "notify", o->notify);
        send_msg(&s, &al);
    }
    attr_add_str(&s.content, "request", "content");
    if (from_line)
        put_piece(&s, held.s, held.len, true);
    for (size_t i = 0; i < h.lines.n; i++)
        put_header_lines(&s, h.lines.v[i], strlen(h.lines.v[i]));
    if (have_held)
        put_piece(&s, lr.piece.s, lr.piece.len, line_end);
    at_line_start = line_end;
    while (!done && !s.broken) {
        int r = read_piece(&lr, &line_end);
        if (r == 0)
            break;
        if (o->dot_ends && at_line_start && line_end && lr.piece.len == 1 && lr.piece.s[0] == '.')
            break;
        put_piece(&s, lr.piece.s, lr.piece.len, line_end);
        at_line_start = line_end;
    }
    flush_content(&s);
    attr_list_reset(&al);
    attr_add_str(&al, "request", "end");
    send_msg(&s, &al);
    if (!s.broken && stream_flush(s.out) < 0)
        s.broken = true;
    stream_close(&s.out);
    int status = wait_postdrop(pid);
    if (status == 0 && s.broken)
        status = EX_TEMPFAIL;
    if (status == 0 && o->verify) /* Postfix's words: scripts expect them */
        printf("Mail Delivery Status Report will be mailed to <%s>.\n", strbuf_str(&sender));
    attr_list_release(&al);
    attr_list_release(&s.content);
    strbuf_release(&s.err);
    strbuf_release(&held);
    strbuf_release(&lr.piece);
    strbuf_release(&sender);
    strlist_release(&rcpt);
    strlist_release(&h.lines);
    strlist_release(&h.rcpt);
    strlist_release(&h.resent_rcpt);
    strbuf_release(&h.err);
    header_collector_release(&hc);
    return status;
}

/* ---- -bs for ordinary users: the SMTP dialog here, postdrop behind it ------- */

/* Postfix runs smtpd -S, which submits through postdrop when it is not
 * privileged. Ours has no such path (smtpd speaks to cleanup), so for a
 * non-root caller sendmail runs the SMTP dialog itself and submits each
 * message exactly as delivery mode does: through postdrop, whose exit
 * status is the verdict. No relay decisions are needed: as with sendmail's
 * command line, whatever the user may submit locally is accepted.
 * Commands are bounded by line_length_limit; the content goes to postdrop
 * in pieces, never whole in memory. */

#define BS_COMMAND_MAX 2048

static void bs_reply(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void bs_reply(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    fputs("\r\n", stdout);
    if (fflush(stdout) == EOF)
        msg_fatal_status(EX_IOERR, "write to standard output: %m");
}

/* One message from DATA to postdrop. Returns postdrop's exit status, or -1
 * when the input ended before the final "." (nothing is queued then). */
static int bs_data(const struct options *o, struct line_reader *lr, const char *sender,
                   const char *body, const strlist *rcpt)
{
    int fd;
    pid_t pid = spawn_postdrop(o, &fd);
    struct submit s = {.out = stream_open(fd)};
    attr_list al = ATTR_LIST_INIT;
    attr_add_str(&al, "request", "envelope");
    attr_add_str(&al, "sender", sender);
    if (*body)
        attr_add_str(&al, "body", body);
    send_msg(&s, &al);
    for (size_t i = 0; i < rcpt->n; i++) {
        attr_list_reset(&al);
        attr_add_str(&al, "request", "rcpt");
        attr_add_str(&al, "address", rcpt->v[i]);
        send_msg(&s, &al);
    }
    attr_add_str(&s.content, "request", "content");
    bool line_end = true, at_line_start = true, complete = false;
    while (read_piece(lr, &line_end) > 0) {
        const char *p = lr->piece.s ? lr->piece.s : "";
        size_t len = lr->piece.len;
        if (at_line_start && line_end && len == 1 && p[0] == '.') {
            complete = true;
            break;
        }
        if (at_line_start && len > 0 && p[0] == '.') { /* RFC 5321 4.5.2 */
            p++;
            len--;
        }
        put_piece(&s, p, len, line_end);
        at_line_start = line_end;
    }
    flush_content(&s);
    attr_list_reset(&al);
    /* Without the final dot the client went away: no "end", so postdrop
     * removes its file ("premature end of input: message not queued"). */
    if (complete) {
        attr_add_str(&al, "request", "end");
        send_msg(&s, &al);
    }
    if (!s.broken && stream_flush(s.out) < 0)
        s.broken = true;
    stream_close(&s.out);
    int status = wait_postdrop(pid);
    if (status == 0 && s.broken)
        status = EX_TEMPFAIL;
    attr_list_release(&al);
    attr_list_release(&s.content);
    strbuf_release(&s.err);
    return complete ? status : -1;
}

static int smtp_submit_mode(const struct options *o)
{
    struct line_reader lr = {.in = stdin};
    const char *host = config_get("myhostname");
    smtp_cmd_opts opts = {.utf8_addresses = true};
    smtp_cmd cmd;
    smtp_cmd_init(&cmd);
    strbuf line = STRBUF_INIT, sender = STRBUF_INIT, reply = STRBUF_INIT;
    const char *body = "";
    strlist rcpt = STRLIST_INIT;
    bool have_sender = false;
    int exit_status = 0;
    signal(SIGPIPE, SIG_IGN);
    bs_reply("220 %s ESMTP %s", host, config_get("mail_name"));
    for (;;) {
        bool line_end = true;
        strbuf_reset(&line);
        bool too_long = false;
        int r;
        while ((r = read_piece(&lr, &line_end)) > 0) {
            if (line.len + lr.piece.len > BS_COMMAND_MAX)
                too_long = true;
            else
                strbuf_append(&line, lr.piece.s, lr.piece.len);
            if (line_end)
                break;
        }
        if (r == 0 && line.len == 0)
            break; /* end of input: like a dropped connection */
        if (too_long) {
            bs_reply("500 5.5.2 Error: line too long");
            continue;
        }
        if (smtp_cmd_parse(&cmd, line.s ? line.s : "", line.len, &opts) < 0) {
            smtp_reply_format(&cmd.reply, &reply);
            bs_reply("%s", reply.s);
            continue;
        }
        switch (cmd.verb) {
        case SMTP_VERB_HELO:
        case SMTP_VERB_EHLO:
            have_sender = false;
            strlist_release(&rcpt);
            if (cmd.verb == SMTP_VERB_HELO) {
                bs_reply("250 %s", host);
            } else {
                printf("250-%s\r\n250-PIPELINING\r\n250-8BITMIME\r\n", host);
                bs_reply("250 ENHANCEDSTATUSCODES");
            }
            break;
        case SMTP_VERB_MAIL:
            if (have_sender) {
                bs_reply("503 5.5.1 Error: nested MAIL command");
                break;
            }
            strbuf_set(&sender, cmd.path.addr.s ? cmd.path.addr.s : "");
            body = cmd.body == SMTP_BODY_8BITMIME ? "8BITMIME"
                   : cmd.body == SMTP_BODY_7BIT   ? "7BIT"
                                                  : "";
            have_sender = true;
            bs_reply("250 2.1.0 Ok");
            break;
        case SMTP_VERB_RCPT:
            if (!have_sender)
                bs_reply("503 5.5.1 Error: need MAIL command");
            else if (rcpt.n >= MAX_RECIPIENTS)
                bs_reply("452 4.5.3 Error: too many recipients");
            else if (cmd.path.null || !cmd.path.addr.len)
                bs_reply("501 5.1.3 Bad recipient address syntax");
            else {
                strlist_push(&rcpt, cmd.path.addr.s);
                bs_reply("250 2.1.5 Ok");
            }
            break;
        case SMTP_VERB_DATA:
            if (!have_sender) {
                bs_reply("503 5.5.1 Error: need MAIL command");
            } else if (rcpt.n == 0) {
                bs_reply("554 5.5.1 Error: no valid recipients");
            } else {
                bs_reply("354 End data with <CR><LF>.<CR><LF>");
                int st = bs_data(o, &lr, sender.s ? sender.s : "", body, &rcpt);
                if (st < 0)
                    goto done;
                if (st == 0)
                    bs_reply("250 2.0.0 Ok: queued");
                else
                    bs_reply("451 4.3.0 Error: queue file write error");
                if (st != 0)
                    exit_status = st;
                have_sender = false;
                strlist_release(&rcpt);
            }
            break;
        case SMTP_VERB_RSET:
            have_sender = false;
            strlist_release(&rcpt);
            bs_reply("250 2.0.0 Ok");
            break;
        case SMTP_VERB_NOOP:
            bs_reply("250 2.0.0 Ok");
            break;
        case SMTP_VERB_VRFY:
            bs_reply("252 2.0.0 %s", cmd.arg.s ? cmd.arg.s : "");
            break;
        case SMTP_VERB_QUIT:
            bs_reply("221 2.0.0 Bye");
            goto done;
        default: /* known to SMTP (words nobody knows fail in smtp_cmd_parse) */
            bs_reply("502 5.5.1 Error: command not implemented");
            break;
        }
    }
done:
    smtp_cmd_release(&cmd);
    strbuf_release(&line);
    strbuf_release(&sender);
    strbuf_release(&reply);
    strbuf_release(&lr.piece);
    strlist_release(&rcpt);
    return exit_status;
}

/* ---- -bs: smtpd on stdin/stdout -------------------------------------------- */

/* smtpd -S talks on one bidirectional fd; stdin and stdout may be two
 * pipes, so we relay between them and a socketpair. */
static int smtp_mode(const struct options *o)
{
    if (getuid() != 0)
        return smtp_submit_mode(o);
    int sp[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0)
        msg_fatal_status(EX_OSERR, "socketpair: %m");
    strbuf path = STRBUF_INIT;
    command_path("daemon_directory", "smtpd", &path);
    pid_t pid = fork();
    if (pid < 0)
        msg_fatal_status(EX_OSERR, "fork: %m");
    if (pid == 0) {
        if (dup2(sp[1], STDIN_FILENO) < 0 || dup2(sp[1], STDOUT_FILENO) < 0)
            _exit(EX_OSERR);
        char *args[] = {"smtpd", "-S", NULL};
        execv(strbuf_str(&path), args);
        fprintf(stderr, "sendmail: fatal: execute %s: %s\n", strbuf_str(&path), strerror(errno));
        _exit(EX_UNAVAILABLE);
    }
    close(sp[1]);
    signal(SIGPIPE, SIG_IGN);
    char buf[8192];
    bool in_open = true;
    for (;;) {
        struct pollfd pfd[2] = {{.fd = sp[0], .events = POLLIN},
                                {.fd = in_open ? STDIN_FILENO : -1, .events = POLLIN}};
        if (poll(pfd, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            msg_fatal_status(EX_OSERR, "poll: %m");
        }
        if (pfd[0].revents) {
            ssize_t n = read(sp[0], buf, sizeof(buf));
            if (n <= 0)
                break; /* smtpd finished */
            if (write_all(STDOUT_FILENO, buf, (size_t)n) < 0)
                break;
        }
        if (in_open && pfd[1].revents) {
            ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));
            if (n <= 0) {
                in_open = false;
                if (shutdown(sp[0], SHUT_WR) < 0)
                    msg_warn("shutdown: %m");
            } else if (write_all(sp[0], buf, (size_t)n) < 0) {
                in_open = false;
            }
        }
    }
    close(sp[0]);
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            msg_fatal_status(EX_OSERR, "wait for smtpd: %m");
    strbuf_release(&path);
    return WIFEXITED(status) ? WEXITSTATUS(status) : EX_SOFTWARE;
}

int main(int argc, char **argv)
{
    stdfd_ensure_open(); /* before anything can take fd 0, 1 or 2 (postdrop inherits them) */
    struct options o = {.mode = MODE_DELIVER, .dot_ends = true};
    char *base = strrchr(argv[0], '/');
    base = base ? base + 1 : argv[0];
    msg_init("sendmail", true);
    /* mailq and newaliases are links to us; options may change the mode. */
    if (strcmp(base, "mailq") == 0)
        o.mode = MODE_PRINT;
    else if (strcmp(base, "newaliases") == 0)
        o.mode = MODE_NEWALIASES;
    parse_options(&o, argc, argv);
    static const char *const no_rcpt[] = {
        [MODE_PRINT] = "display queue mode", [MODE_NEWALIASES] = "alias initialization mode",
        [MODE_FLUSH] = "flush queue mode",   [MODE_DAEMON] = "daemon mode",
        [MODE_SMTP] = "stand-alone mode",
    };
    if (optind < argc && (size_t)o.mode < sizeof(no_rcpt) / sizeof(no_rcpt[0]) && no_rcpt[o.mode])
        msg_fatal_status(EX_USAGE, "%s requires no recipient", no_rcpt[o.mode]);
    if (o.extract && o.mode != MODE_DELIVER)
        msg_fatal_status(EX_USAGE, "-t can be used only in delivery mode");
    if (o.extract && o.verify)
        msg_fatal_status(EX_USAGE, "-t option cannot be used with -bv");

    const char *dir = config_choose_dir(o.config_dir, false);
    config_load_or_die(dir);
    /* Helpers (postdrop, postqueue, smtpd) find the same configuration. */
    if (setenv("MAIL_CONFIG", dir, 1) < 0)
        msg_fatal_status(EX_OSERR, "setenv: %m");
    (void)mail_log_setup(MAIL_LOG_QUIET);

    switch (o.mode) {
    case MODE_DELIVER:
        return deliver(&o, argv + optind);
    case MODE_SMTP:
        return smtp_mode(&o);
    case MODE_PRINT: {
        static const char *const args[] = {"-p", NULL};
        exec_command("postqueue", args, NULL);
    }
    case MODE_NEWALIASES:
        return newaliases_mode(&o);
    case MODE_FLUSH: {
        const char *flush[] = {"-f", NULL};
        const char *one[] = {o.qkind == 'I' ? "-i" : "-s", o.qarg, NULL};
        exec_command("postqueue", o.qkind ? one : flush, NULL);
    }
    case MODE_DAEMON: {
        /* postfix [-v] start: its options come before the command. */
        strlist start = STRLIST_INIT;
        strlist_push(&start, "start");
        exec_command("postfix", NULL, &start);
    }
    }
    msg_panic("sendmail: unknown mode");
}
