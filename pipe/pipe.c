/* pipe - the pipe(8) delivery agent: deliver to an external command.
 *
 * Serves qmgr's delivery requests (lib/global/deliver_request.h) on
 * private/<service>, as Postfix 3.7's pipe(8). The master.cf attributes
 * (flags=, user=, argv=, ...: pipe/pipe_attr.h) are parsed once at start;
 * a bad one is fatal, naming master.cf and the service. One command runs
 * per request, for all its recipients ($recipient and friends expand into
 * one argv element per recipient; <service>_destination_recipient_limit = 1
 * gives one recipient per command). The command is executed directly (no
 * shell), as user= (never root, mail_owner or the setgid group: refused at
 * start as Postfix does), in directory= (default: queue_directory), with
 * the export_environment variables and PATH=/usr/bin:/bin, for at most
 * <service>_time_limit ($command_time_limit) seconds; its stdin is the
 * message (lib/global/mail_copy, with the lines the flags ask for), its
 * output (bounded) goes into the reason.
 *
 * Outcomes, as Postfix's pipe_command(): exit 0 is sent ("delivered via
 * <service> service"); output that starts with a 4.X.X/5.X.X enhanced
 * status decides over the exit status; a <sysexits.h> status gets its
 * enhanced code and text (EX_TEMPFAIL and EX_OSERR defer, the others
 * bounce, e.g. EX_NOUSER 5.1.1 "user unknown"); any other status bounces
 * 5.3.0 "Command died with status N: "cmd""; death by a signal defers
 * 4.3.0; the time limit bounces 5.3.0 "Command time limit exceeded". The
 * recipient is marked DELIVERED in the queue file before the reply; the
 * log line's relay= is the service name.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "command_run.h"
#include "config.h"
#include "deliver_request.h"
#include "mail_copy.h"
#include "mail_queue.h"
#include "mem.h"
#include "msg.h"
#include "pipe_attr.h"
#include "queue_file.h"
#include "service.h"
#include "strlist.h"

#define PIPE_OUTPUT_LIMIT 2048 /* command output kept for the reason */

static struct {
    const char *service;
    struct pipe_attr attr;
    uid_t uid;
    gid_t gid;
    unsigned time_limit;
    const char *delimiter;
    const char *queue_directory;
    size_t record_limit;
    strlist env;
} pcfg;

static int64_t now_us(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
}

/* The envelope attributes the macros need, from the queue file. */
struct envelope {
    strbuf client_address, client_hostname, client_helo, client_protocol, client_port;
    strbuf sasl_method, sasl_username, sasl_sender;
    unsigned long long size;
};

static int read_envelope(int fd, struct envelope *env, strbuf *err)
{
    queue_file_reader *r = queue_file_reader_open(fd, pcfg.record_limit, err);
    if (!r)
        return -1;
    queue_file_record rec = QUEUE_FILE_RECORD_INIT;
    int ret;
    while ((ret = queue_file_reader_next(r, &rec, err)) > 0) {
        if (rec.type == QF_REC_CONTENT)
            break;
        if (rec.type != QF_REC_ATTR)
            continue;
        static const struct {
            const char *name;
            size_t off;
        } map[] = {
            {"client_address", offsetof(struct envelope, client_address)},
            {"client_name", offsetof(struct envelope, client_hostname)},
            {"helo_name", offsetof(struct envelope, client_helo)},
            {"protocol_name", offsetof(struct envelope, client_protocol)},
            {"client_port", offsetof(struct envelope, client_port)},
            {"sasl_method", offsetof(struct envelope, sasl_method)},
            {"sasl_username", offsetof(struct envelope, sasl_username)},
            {"sasl_sender", offsetof(struct envelope, sasl_sender)},
        };
        for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
            if (strbuf_eq(&rec.name, map[i].name)) {
                strbuf *dst = (strbuf *)((char *)env + map[i].off);
                /* A NUL would cut the argv element short: keep what is
                 * before it. */
                strbuf_set(dst, rec.value.s ? rec.value.s : "");
            }
        }
    }
    if (ret >= 0)
        env->size = queue_file_reader_size(r)->content_size;
    queue_file_record_release(&rec);
    queue_file_reader_free(&r);
    return ret < 0 ? -1 : 0;
}

static void envelope_release(struct envelope *e)
{
    strbuf *all[] = {&e->client_address,  &e->client_hostname, &e->client_helo,
                     &e->client_protocol, &e->client_port,     &e->sasl_method,
                     &e->sasl_username,   &e->sasl_sender};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        strbuf_release(all[i]);
}

struct copy_input {
    struct mail_copy *copy;
    strbuf *err;
};

static ssize_t copy_input(void *ctx, const char **data)
{
    struct copy_input *in = ctx;
    return mail_copy_next(in->copy, data, in->err);
}

/* flags= letters that shape the content, as mail_copy flags; pipe(8)
 * quotes the addresses and lowercases Delivered-To, as Postfix's does. */
static unsigned copy_flags(unsigned f)
{
    static const struct {
        unsigned pipe, copy;
    } map[] = {
        {PIPE_F_FROM, MAIL_COPY_FROM},           {PIPE_F_RETURN, MAIL_COPY_RETURN_PATH},
        {PIPE_F_ORIG_RCPT, MAIL_COPY_ORIG_RCPT}, {PIPE_F_DELIVERED, MAIL_COPY_DELIVERED},
        {PIPE_F_QUOTE_FROM, MAIL_COPY_QUOTE},    {PIPE_F_DOT, MAIL_COPY_DOT},
        {PIPE_F_BLANK, MAIL_COPY_BLANK},
    };
    unsigned out = MAIL_COPY_QUOTE_ADDRS | MAIL_COPY_FOLD_DELIVERED;
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (f & map[i].pipe)
            out |= map[i].copy;
    return out;
}

/* Command output for a reason text: tabs and newlines become spaces, other
 * unprintable bytes '_', as Postfix's pipe_command(). */
static void printable_output(const strbuf *out, strbuf *dst)
{
    for (size_t i = 0; i < out->len; i++) {
        unsigned char c = (unsigned char)out->s[i];
        if (c == '\t' || c == '\n')
            c = ' ';
        else if (c < 0x20 || c >= 0x7f)
            c = '_';
        strbuf_putc(dst, (char)c);
    }
}

/* "4.X.X text" / "5.X.X text" at the start of the output: its length. */
static size_t output_dsn(const char *s, size_t len)
{
    if (len < 5 || (s[0] != '4' && s[0] != '5') || s[1] != '.')
        return 0;
    size_t i = 2, digits = 0;
    while (i < len && s[i] >= '0' && s[i] <= '9' && digits < 3)
        i++, digits++;
    if (digits == 0 || i >= len || s[i] != '.')
        return 0;
    i++;
    digits = 0;
    while (i < len && s[i] >= '0' && s[i] <= '9' && digits < 3)
        i++, digits++;
    if (digits == 0 || (i < len && s[i] != ' '))
        return 0;
    return i;
}

struct verdict {
    enum deliver_status status;
    char dsn[16];
    strbuf text;
};

static void verdict_set(struct verdict *v, enum deliver_status st, const char *dsn, const char *fmt,
                        ...) __attribute__((format(printf, 4, 5)));
static void verdict_set(struct verdict *v, enum deliver_status st, const char *dsn, const char *fmt,
                        ...)
{
    v->status = st;
    snprintf(v->dsn, sizeof(v->dsn), "%s", dsn);
    strbuf_reset(&v->text);
    va_list ap;
    va_start(ap, fmt);
    strbuf_vprintf(&v->text, fmt, ap);
    va_end(ap);
}

static void judge(const struct command_result *res, const char *command, struct verdict *v)
{
    strbuf out = STRBUF_INIT;
    printable_output(&res->output, &out);
    const char *o = strbuf_str(&out);
    const char *sep = out.len ? ". Command output: " : "";
    const char *dsn, *text;
    bool temporary;
    size_t dlen;
    if (res->input_error) {
        verdict_set(v, DELIVER_DEFERRED, "4.3.0", "cannot read queue file");
    } else if (res->timed_out) {
        verdict_set(v, DELIVER_BOUNCED, "5.3.0", "Command time limit exceeded: \"%s\"%s%s", command,
                    sep, o);
    } else if (res->signal > 0) {
        verdict_set(v, DELIVER_DEFERRED, "4.3.0", "Command died with signal %d: \"%s\"%s%s",
                    res->signal, command, sep, o);
    } else if (res->exit_status == 0) {
        verdict_set(v, DELIVER_SENT, "2.0.0", "delivered via %s service", pcfg.service);
    } else if ((dlen = output_dsn(out.s, out.len)) > 0) {
        char code[16];
        snprintf(code, sizeof(code), "%.*s", (int)dlen, out.s);
        const char *rest = out.s + dlen;
        rest += strspn(rest, " ");
        verdict_set(v, code[0] == '4' ? DELIVER_DEFERRED : DELIVER_BOUNCED, code, "%s", rest);
    } else if (command_sysexit_info(res->exit_status, &dsn, &text, &temporary)) {
        verdict_set(v, dsn[0] == '4' ? DELIVER_DEFERRED : DELIVER_BOUNCED, dsn, "%s%s%s", text, sep,
                    o);
    } else {
        verdict_set(v, DELIVER_BOUNCED, "5.3.0", "Command died with status %d: \"%s\"%s%s",
                    res->exit_status, command, sep, o);
    }
    strbuf_release(&out);
}

/* Postfix runs argv[0] with execvp and PATH=/usr/bin:/bin; the same
 * search, done once here. */
static char *command_path(const char *cmd)
{
    if (strchr(cmd, '/'))
        return xstrdup(cmd);
    static const char *const dirs[] = {"/usr/bin", "/bin"};
    strbuf p = STRBUF_INIT;
    for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
        strbuf_reset(&p);
        strbuf_printf(&p, "%s/%s", dirs[i], cmd);
        if (access(p.s, X_OK) == 0)
            return strbuf_detach(&p);
    }
    strbuf_release(&p);
    return xstrdup(cmd); /* execve fails: EX_OSERR, deferred */
}

static void run_command(struct deliver_request *req, int fd, const struct envelope *env,
                        struct verdict *v)
{
    const struct pipe_attr *a = &pcfg.attr;
    strbuf err = STRBUF_INIT, size = STRBUF_INIT, sender = STRBUF_INIT;
    const char *raw_sender = *req->sender ? req->sender : a->null_sender;
    /* A non-empty null_sender text is quoted like an address (q); "" not. */
    pipe_morph_address(&sender, raw_sender, a->flags & PIPE_F_QUOTE, true);
    strbuf_printf(&size, "%llu", env->size);
    struct pipe_vars vars = {
        .sender = strbuf_str(&sender),
        .nexthop = req->nexthop,
        .size = size.s,
        .queue_id = req->queue_id,
        .client_address = strbuf_str(&env->client_address),
        .client_hostname = strbuf_str(&env->client_hostname),
        .client_helo = strbuf_str(&env->client_helo),
        .client_protocol = strbuf_str(&env->client_protocol),
        .client_port = strbuf_str(&env->client_port),
        .sasl_method = strbuf_str(&env->sasl_method),
        .sasl_username = strbuf_str(&env->sasl_username),
        .sasl_sender = strbuf_str(&env->sasl_sender),
        .delimiter = pcfg.delimiter,
    };
    struct pipe_rcpt *rcpts = xcalloc(req->nrcpt, sizeof(*rcpts));
    for (size_t i = 0; i < req->nrcpt; i++)
        rcpts[i] = (struct pipe_rcpt){req->rcpts[i].address, req->rcpts[i].orig_rcpt};
    strlist argv = STRLIST_INIT;
    char *command = NULL;
    if (pipe_expand_argv(a, &vars, rcpts, req->nrcpt, &argv, &err) < 0) {
        msg_warn("file %s/master.cf: service %s: %s", config_directory(), pcfg.service, err.s);
        verdict_set(v, DELIVER_DEFERRED, "4.3.5", "mail system configuration error");
        goto out;
    }
    if (argv.n == 0 || !*argv.v[0]) {
        msg_warn("file %s/master.cf: service %s: the command name expands to nothing",
                 config_directory(), pcfg.service);
        verdict_set(v, DELIVER_DEFERRED, "4.3.5", "mail system configuration error");
        goto out;
    }
    /* Reports name the command as written (Postfix: as given to execvp). */
    command = argv.v[0];
    argv.v[0] = command_path(command);
    const struct deliver_rcpt *first = &req->rcpts[0];
    struct mail_copy_info info = {
        .flags = copy_flags(a->flags),
        .eol = a->eol.s,
        .eol_len = a->eol.len,
        .sender = raw_sender,
        .orig_rcpt = *first->orig_rcpt ? first->orig_rcpt : first->address,
        .delivered = first->address,
        .from_time = (time_t)(req->arrival_us / 1000000),
        .record_limit = pcfg.record_limit,
    };
    struct mail_copy *copy = mail_copy_open(fd, &info, &err);
    if (!copy) {
        verdict_set(v, DELIVER_DEFERRED, "4.3.0", "cannot read queue file: %s", err.s);
        goto out;
    }
    struct copy_input in = {copy, &err};
    struct command_request creq = {
        .argv = argv.v,
        .env = pcfg.env.v,
        .cwd = a->directory ? a->directory : pcfg.queue_directory,
        .set_ids = true,
        .uid = pcfg.uid,
        .gid = pcfg.gid,
        .time_limit = pcfg.time_limit,
        .output_limit = PIPE_OUTPUT_LIMIT,
        .input = copy_input,
        .input_ctx = &in,
    };
    struct command_result res;
    if (command_run(&creq, &res, &err) < 0)
        verdict_set(v, DELIVER_DEFERRED, "4.3.0", "cannot run command: %s", err.s);
    else
        judge(&res, command, v);
    command_result_release(&res);
    mail_copy_close(&copy);
out:
    strlist_release(&argv);
    free(command);
    free(rcpts);
    strbuf_release(&err);
    strbuf_release(&size);
    strbuf_release(&sender);
}

/* The checks before running anything (Postfix's deliver_message order). */
static bool precheck(struct deliver_request *req, int fd, const struct envelope *env,
                     struct verdict *v)
{
    const struct pipe_attr *a = &pcfg.attr;
    if ((a->flags & (PIPE_F_DELIVERED | PIPE_F_ORIG_RCPT)) && req->nrcpt > 1) {
        msg_warn("pipe flag `%c' requires %s_destination_recipient_limit = 1",
                 (a->flags & PIPE_F_DELIVERED) ? 'D' : 'O', pcfg.service);
        verdict_set(v, DELIVER_DEFERRED, "4.3.5", "mail system configuration error");
        return false;
    }
    if (a->size_limit > 0 && env->size > (unsigned long long)a->size_limit) {
        verdict_set(v, DELIVER_BOUNCED, "5.2.3", "message too large");
        return false;
    }
    if (a->flags & PIPE_F_DELIVERED) {
        strbuf err = STRBUF_INIT;
        strlist seen = STRLIST_INIT;
        int loop = mail_copy_delivered_to(fd, pcfg.record_limit, &seen, &err);
        if (loop == 0)
            loop = strlist_contains_nocase(&seen, req->rcpts[0].address);
        strlist_release(&seen);
        if (loop < 0)
            verdict_set(v, DELIVER_DEFERRED, "4.3.0", "cannot read queue file: %s", err.s);
        else if (loop > 0)
            verdict_set(v, DELIVER_BOUNCED, "5.4.6", "mail forwarding loop for %s",
                        req->rcpts[0].address);
        strbuf_release(&err);
        if (loop != 0)
            return false;
    }
    return true;
}

static void process_one(struct deliver_request *req)
{
    int64_t start = now_us();
    strbuf err = STRBUF_INIT;
    struct verdict v = {.status = DELIVER_DEFERRED};
    struct envelope env = {0};
    bool verify = (req->flags & DELIVER_FLAG_VERIFY) != 0;
    int fd = queue_file_open(pcfg.queue_directory, req->queue_name,
                             mail_queue_depth(req->queue_name), req->queue_id, true, &err);
    if (fd < 0 || read_envelope(fd, &env, &err) < 0) {
        msg_warn("%s: cannot read queue file: %s", req->queue_id, err.s);
        verdict_set(&v, DELIVER_DEFERRED, "4.3.0", "cannot read queue file: %s", err.s);
    } else if (req->nrcpt == 0) {
        verdict_set(&v, DELIVER_DEFERRED, "4.3.0", "no recipients");
    } else if (precheck(req, fd, &env, &v)) {
        if (verify)
            verdict_set(&v, DELIVER_SENT, "2.0.0", "delivers to command: %s", pcfg.attr.argv.v[0]);
        else
            run_command(req, fd, &env, &v);
    }
    deliver_request_finish_all(req, fd, start, pcfg.service, v.status, v.dsn, strbuf_str(&v.text));
    if (fd >= 0)
        close(fd);
    envelope_release(&env);
    strbuf_release(&v.text);
    strbuf_release(&err);
}

static void pipe_serve(int fd, const char *service, char **args)
{
    (void)service;
    (void)args;
    deliver_request_serve_each(fd, process_one);
}

static _Noreturn void config_fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static _Noreturn void config_fatal(const char *fmt, ...)
{
    strbuf t = STRBUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    strbuf_vprintf(&t, fmt, ap);
    va_end(ap);
    msg_fatal("file %s/master.cf: service %s: %s", config_directory(), pcfg.service, t.s);
}

/* user=name[:group]: Postfix's refusals, at start instead of at the first
 * delivery. */
static void resolve_user(void)
{
    const struct pipe_attr *a = &pcfg.attr;
    struct passwd *pw = getpwnam(a->user);
    if (!pw)
        config_fatal("user= attribute: unknown username: %s", a->user);
    pcfg.uid = pw->pw_uid;
    pcfg.gid = pw->pw_gid;
    if (a->group) {
        struct group *gr = getgrnam(a->group);
        if (!gr)
            config_fatal("user= attribute: unknown group: %s", a->group);
        pcfg.gid = gr->gr_gid;
    }
    const char *owner = config_get("mail_owner");
    struct passwd *opw = getpwnam(owner);
    struct group *sgr = getgrnam(config_get("setgid_group"));
    if (pcfg.uid == 0)
        config_fatal("user= command-line attribute specifies root privileges");
    if (opw && pcfg.uid == opw->pw_uid)
        config_fatal("user= command-line attribute specifies mail system owner %s", owner);
    if (pcfg.gid == 0)
        config_fatal("user= command-line attribute specifies privileged group id 0");
    if (opw && pcfg.gid == opw->pw_gid)
        config_fatal("user= command-line attribute specifies mail system owner %s group id %ld",
                     owner, (long)pcfg.gid);
    if (sgr && pcfg.gid == sgr->gr_gid)
        config_fatal("user= command-line attribute specifies mail system %s group id %ld",
                     config_get("setgid_group"), (long)pcfg.gid);
}

/* export_environment: "NAME" takes our value, "NAME=value" sets it. */
static void build_env(void)
{
    strlist names = STRLIST_INIT;
    const char *error = NULL;
    strlist_split(&names, config_get("export_environment"), ", \t\r\n", &error);
    strbuf e = STRBUF_INIT;
    for (size_t i = 0; i < names.n; i++) {
        const char *n = names.v[i];
        if (strncmp(n, "PATH", 4) == 0 && (n[4] == 0 || n[4] == '='))
            continue;
        if (strchr(n, '=')) {
            strlist_push(&pcfg.env, n);
        } else if (getenv(n)) {
            strbuf_reset(&e);
            strbuf_printf(&e, "%s=%s", n, getenv(n));
            strlist_push(&pcfg.env, e.s);
        }
    }
    strlist_push(&pcfg.env, "PATH=/usr/bin:/bin");
    strbuf_release(&e);
    strlist_release(&names);
}

static void pipe_init(const char *service, char **args)
{
    pcfg.service = service;
    strbuf err = STRBUF_INIT;
    if (pipe_attr_parse(args, &pcfg.attr, &err) < 0)
        config_fatal("%s", err.s);
    strbuf_release(&err);
    resolve_user();
    strbuf name = STRBUF_INIT;
    strbuf_printf(&name, "%s_time_limit", service);
    long long limit = config_is_defined(name.s) && *config_get(name.s)
                          ? config_get_time(name.s)
                          : config_get_time("command_time_limit");
    strbuf_release(&name);
    pcfg.time_limit = limit > 0 ? (unsigned)limit : 0;
    pcfg.delimiter = config_get("recipient_delimiter");
    pcfg.queue_directory = config_get("queue_directory");
    pcfg.record_limit = mail_queue_read_limit();
    build_env();
}

int main(int argc, char **argv)
{
    static const struct service_ops ops = {
        .mode = SERVICE_SINGLE,
        .post_init = pipe_init,
        .serve = pipe_serve,
    };
    service_main("pipe", argc, argv, &ops);
}
