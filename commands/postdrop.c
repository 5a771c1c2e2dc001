/* postdrop - write one locally submitted message into maildrop/.
 *
 * Installed setgid $setgid_group (postdrop) and run by sendmail, never by
 * hand: it reads the submission stream of lib/global/maildrop.h on stdin, writes
 * maildrop/<ID> through queue_file (durable before exit 0), and wakes pickup.
 * It runs with the caller's uid, so the file owner records the submitter;
 * the group only grants "create a file in maildrop/" (mode 0730).
 *
 * Exit: 0 queued; 64 usage; 65 malformed input or message too big; 75
 * temporary failure (disk, queue, write error). The file is gone on any
 * non-zero exit.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include "attr.h"
#include "cleanup_client.h"
#include "config.h"
#include "mail_log.h"
#include "maildrop.h"
#include "mail_queue.h"
#include "msg.h"
#include "setgid_sanitizer.h"
#include "stdfd.h"
#include "queue_file.h"
#include "sock.h"
#include "stream.h"

static queue_file *current;

static void remove_current(void)
{
    if (current)
        queue_file_abort(&current);
}

static void usage(void)
{
    msg_fatal_status(EX_USAGE, "usage: postdrop [-rv] [-c config_dir]");
}

/* A string attribute: no NUL/CR/LF, bounded; NULL when absent. */
static const char *str_attr(const attr_list *al, const char *name, bool required)
{
    const attr *a = attr_find(al, name);
    if (!a) {
        if (required)
            msg_fatal_status(EX_DATAERR, "malformed input: missing %s", name);
        return NULL;
    }
    if (a->value_len > MAILDROP_FIELD_MAX || memchr(a->value, 0, a->value_len) ||
        strpbrk(a->value, "\r\n"))
        msg_fatal_status(EX_DATAERR, "malformed input: bad %s", name);
    return a->value;
}

static void write_failed(void)
{
    /* The writer's error is sticky; commit reports the reason. */
}

static void put_envelope(queue_file *qf, const attr_list *al)
{
    const char *sender = str_attr(al, "sender", true);
    const char *fullname = str_attr(al, "fullname", false);
    static const char *const map[][2] = {
        {"envid", MAILDROP_ATTR_ENVID}, {"ret", MAILDROP_ATTR_RET}, {"body", MAILDROP_ATTR_BODY}};
    if (queue_file_put_time(qf, queue_file_ctime(qf)) < 0 || queue_file_put_sender(qf, sender) < 0)
        write_failed();
    if (fullname && queue_file_put_fullname(qf, fullname) < 0)
        write_failed();
    int64_t flags = 0;
    if (attr_find(al, "flags") &&
        (attr_get_int(al, "flags", &flags, NULL) < 0 || (flags & ~(int64_t)MAILDROP_FLAGS) != 0))
        msg_fatal_status(EX_DATAERR, "malformed input: bad flags");
    queue_file_set_flags(qf, (uint64_t)flags);
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        const char *v = str_attr(al, map[i][0], false);
        if (v && *v && queue_file_put_attr_str(qf, map[i][1], v) < 0)
            write_failed();
    }
}

static void put_rcpt(queue_file *qf, const attr_list *al)
{
    int64_t notify = 0;
    const char *address = str_attr(al, "address", true);
    if (!*address)
        msg_fatal_status(EX_DATAERR, "malformed input: empty recipient");
    if (attr_find(al, "notify") &&
        (attr_get_int(al, "notify", &notify, NULL) < 0 || notify < 0 || notify > QF_NOTIFY_MASK))
        msg_fatal_status(EX_DATAERR, "malformed input: bad notify");
    struct queue_file_rcpt_in r = {
        .address = address, .orcpt = str_attr(al, "orcpt", false), .notify = (int)notify};
    if (queue_file_put_rcpt(qf, &r, NULL) < 0)
        write_failed();
}

static void wake_pickup(const char *qdir)
{
    strbuf path = STRBUF_INIT, err = STRBUF_INIT;
    /* Best effort: pickup also scans maildrop/ on its own timer. */
    if (sock_unix_path(qdir, "public/pickup", &path, &err) == 0)
        (void)sock_trigger(strbuf_str(&path), "W", 1, 1000, &err);
    strbuf_release(&path);
    strbuf_release(&err);
}

int main(int argc, char **argv)
{
    const char *opt_c = NULL;
    int c;

    stdfd_ensure_open(); /* before anything can take fd 0, 1 or 2 */
    msg_init("postdrop", true);
    /* Terminal signals hit sendmail and us together; sendmail's death shows
     * up as EOF on stdin, and we then remove the file ourselves. */
    signal(SIGINT, SIG_IGN);
    signal(SIGQUIT, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    signal(SIGPIPE, SIG_IGN);
    umask(077);
    while ((c = getopt(argc, argv, "c:rv")) != -1) {
        switch (c) {
        case 'c':
            opt_c = optarg;
            break;
        case 'r': /* the sendmail stream is the only input format */
            break;
        case 'v':
            msg_verbose++;
            break;
        default:
            usage();
        }
    }
    if (optind != argc)
        usage();
    /* setgid: only root may point us at an arbitrary configuration. */
    config_load_or_die(config_choose_dir(opt_c, getuid() != 0));
    (void)mail_log_setup(MAIL_LOG_QUIET);

    const char *qdir = config_get("queue_directory");
    strbuf err = STRBUF_INIT;
    if (queue_space_check(qdir, (uint64_t)config_get_size("queue_minfree"), 0, &err) < 0)
        msg_fatal_status(EX_TEMPFAIL, "%s", strbuf_str(&err));
    size_t record_limit = mail_queue_record_limit();
    long long msl = config_get_size("message_size_limit");
    uint64_t size_limit = msl > 0 ? (uint64_t)msl : 0, size = 0;

    current = queue_file_create(qdir, "maildrop", config_get_bool("enable_long_queue_ids"),
                                record_limit, &err);
    if (!current)
        msg_fatal_status(EX_TEMPFAIL, "create file in %s/maildrop: %s", qdir, strbuf_str(&err));
    msg_set_cleanup(remove_current);
    /* Readable by pickup (mail_owner); maildrop/ 0730 keeps users out. */
    queue_file_set_read_bits(current, S_IRGRP | S_IROTH);

    stream *in = stream_open(STDIN_FILENO);
    attr_list al = ATTR_LIST_INIT;
    bool have_envelope = false, have_rcpt = false, in_content = false;
    for (;;) {
        int rc = attr_recv(in, &cleanup_attr_limits, &al, &err);
        if (rc == ATTR_EOF)
            msg_fatal_status(EX_DATAERR, "premature end of input: message not queued");
        if (rc != ATTR_OK)
            msg_fatal_status(EX_DATAERR, "malformed input: %s", strbuf_str(&err));
        const char *req = str_attr(&al, "request", true);
        if (strcmp(req, "envelope") == 0 && !have_envelope) {
            put_envelope(current, &al);
            have_envelope = true;
        } else if (strcmp(req, "rcpt") == 0 && have_envelope && !in_content) {
            put_rcpt(current, &al);
            have_rcpt = true;
        } else if (strcmp(req, "content") == 0 && have_rcpt) {
            if (!in_content && queue_file_begin_content(current) < 0)
                write_failed();
            in_content = true;
            for (size_t i = 0; i < attr_list_count(&al); i++) {
                const attr *a = attr_list_at(&al, i);
                if (strcmp(a->name, "request") == 0)
                    continue;
                bool n = strcmp(a->name, "N") == 0;
                if (!n && strcmp(a->name, "L") != 0)
                    msg_fatal_status(EX_DATAERR, "malformed input: bad content attribute");
                size += a->value_len + n;
                if (size_limit && size > size_limit)
                    msg_fatal_status(EX_DATAERR, "message size exceeds message_size_limit = %llu",
                                     (unsigned long long)size_limit);
                if (queue_file_put_text(current, a->value, a->value_len, n) < 0)
                    write_failed();
            }
        } else if (strcmp(req, "end") == 0 && have_rcpt) {
            break;
        } else {
            msg_fatal_status(EX_DATAERR, "malformed input: unexpected request \"%.30s\"", req);
        }
    }
    if (!in_content && queue_file_begin_content(current) < 0)
        write_failed();
    strbuf id = STRBUF_INIT;
    strbuf_set(&id, queue_file_id(current));
    if (queue_file_commit(&current, &err) < 0)
        msg_fatal_status(errno == EFBIG ? EX_DATAERR : EX_TEMPFAIL, "%s/maildrop/%s: %s", qdir,
                         strbuf_str(&id), strbuf_str(&err));
    msg_debug("queued maildrop/%s", strbuf_str(&id));
    wake_pickup(qdir);
    attr_list_release(&al);
    stream_release(&in);
    strbuf_release(&id);
    strbuf_release(&err);
    return 0;
}
