/* pickup - move locally submitted mail from maildrop/ into cleanup.
 *
 * A trigger service (master.cf "pickup unix n - n 60 1 pickup"): every
 * wake-up (postdrop's, or master's timer) scans maildrop/. Each complete
 * file is checked with maildrop_load() before anything in it is believed;
 * a forged or corrupt file goes to corrupt/ with a log line. The file
 * owner's uid is the submitter (postdrop writes under the caller's uid),
 * logged as "ID: uid=N from=<sender>" with cleanup's queue ID. The maildrop
 * file is removed only after cleanup answered 250 (the message is then
 * durable in incoming/); a crash in between queues it twice, never zero
 * times. Cleanup down: the file stays and the next wake-up retries.
 *
 * Like Postfix's pickup, the content is prefixed with a trace header that
 * names the submitter's uid, not the login name:
 *     Received: by $myhostname ($mail_name, from userid N)
 *     <TAB>id QUEUEID; <date the maildrop file was written>
 * QUEUEID is cleanup's (the ID the message is logged under), the date the
 * maildrop file's mtime (a time more than two hours ahead is replaced by
 * now, with a warning). Content that begins with white space would read as
 * a continuation of that header, so an empty line goes first, as Postfix
 * does: such content is all body.
 *
 * Runs as root (unpriv n) or mail_owner: postdrop makes maildrop files
 * readable by both.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "address.h"
#include "cleanup_client.h"
#include "content_filter.h"
#include "input_transp.h"
#include "config.h"
#include "mail_date.h"
#include "maildrop.h"
#include "msg.h"
#include "mail_queue.h"
#include "queue_file.h"
#include "queue_id.h"
#include "service.h"

#define MAX_RECIPIENTS 100000

static int ipc_timeout_ms(void)
{
    /* In range (1 .. INT_MAX/1000 s): the table's bounds, checked by the getter. */
    return (int)config_get_time("ipc_timeout") * 1000;
}

struct content_ctx {
    cleanup_client *cc;
    bool first; /* no content piece sent yet */
};

static int send_content(void *ctx, const char *data, size_t len, bool line_end)
{
    struct content_ctx *c = ctx;
    if (c->first) {
        c->first = false;
        if (len > 0 && (data[0] == ' ' || data[0] == '\t') &&
            cleanup_client_content(c->cc, "", 0, true) < 0)
            return 1;
    }
    return cleanup_client_content(c->cc, data, len, line_end) < 0 ? 1 : 0;
}

#define DAY_SECONDS 86400
#define FUTURE_SLACK (2 * 3600) /* clock drift Postfix tolerates */

/* The Received: header of a local submission (top of file). */
static void received_header(cleanup_client *cc, const char *queue_id, const struct stat *st)
{
    time_t now = time(NULL), when = st->st_mtime;
    if (when > now + FUTURE_SLACK) {
        msg_warn("%s: message dated %lld seconds into the future", queue_id,
                 (long long)(when - now));
        when = now;
    } else if (when < now - DAY_SECONDS) {
        msg_warn("%s: message has been queued for %lld days", queue_id,
                 (long long)((now - when) / DAY_SECONDS));
    }
    strbuf h = STRBUF_INIT;
    strbuf_printf(&h, "Received: by %s (%s, from userid %ld)", config_get("myhostname"),
                  config_get("mail_name"), (long)st->st_uid);
    (void)cleanup_client_content(cc, h.s, h.len, true);
    strbuf_reset(&h);
    strbuf_printf(&h, "\tid %s; ", queue_id);
    mail_date_append(&h, when);
    (void)cleanup_client_content(cc, h.s, h.len, true);
    strbuf_release(&h);
}

enum outcome { DONE, RETRY_LATER, CLEANUP_DOWN };

static enum outcome pickup_file(const char *id)
{
    strbuf err = STRBUF_INIT, reply = STRBUF_INIT, new_id = STRBUF_INIT, shown = STRBUF_INIT;
    struct maildrop_msg m = {0};
    enum outcome out = DONE;
    int fd = queue_file_open(".", "maildrop", 0, id, false, &err);
    if (fd == QUEUE_FILE_INCOMPLETE || (fd < 0 && errno == ENOENT)) {
        out = RETRY_LATER; /* still being written, or gone meanwhile */
        goto done;
    }
    if (fd < 0) {
        msg_warn("maildrop/%s: %s", id, strbuf_str(&err));
        out = RETRY_LATER;
        goto done;
    }
    struct stat st;
    if (fstat(fd, &st) < 0)
        msg_fatal("fstat maildrop/%s: %m", id);
    /* A second link would be a file someone placed here by other means. */
    if (!S_ISREG(st.st_mode) || st.st_nlink != 1) {
        queue_file_move_corrupt(".", "maildrop", 0, id, "not a regular file with one link");
        goto done;
    }
    if (maildrop_load(fd, mail_queue_read_limit(), MAX_RECIPIENTS, &m, &err) < 0) {
        queue_file_move_corrupt(".", "maildrop", 0, id, strbuf_str(&err));
        goto done;
    }
    cleanup_client *cc =
        cleanup_client_open(".",
                            ((m.flags & QF_FLAG_VERIFY) ? CLEANUP_FLAG_VERIFY : CLEANUP_FLAG_NONE) |
                                CLEANUP_FLAG_MILTER | CLEANUP_FLAG_BOUNCE | input_transp_cleanup_flags(),
                            ipc_timeout_ms(), &new_id, &reply);
    if (!cc) {
        msg_warn("maildrop/%s: cleanup service unavailable: %s", id, strbuf_str(&reply));
        out = CLEANUP_DOWN;
        goto done;
    }
    addr_sanitize(&shown, m.sender.s ? m.sender.s : "", m.sender.len, 1000, true);
    msg_info("%s: uid=%ld from=<%s>", strbuf_str(&new_id), (long)st.st_uid, strbuf_str(&shown));
    struct cleanup_envelope env = {
        .arrival = m.arrival,
        .sender = strbuf_str(&m.sender),
        .fullname = m.have_fullname ? strbuf_str(&m.fullname) : NULL,
        .rewrite_context = "local",
        .envid = m.envid.len ? strbuf_str(&m.envid) : NULL,
        .ret = m.ret.len ? strbuf_str(&m.ret) : NULL,
        .body = m.body.len ? strbuf_str(&m.body) : NULL,
        .uid = (long)st.st_uid,
    };
    (void)cleanup_client_envelope(cc, &env);
    /* Before the content: a header/body check FILTER in cleanup wins. */
    (void)content_filter_send(cc);
    for (size_t i = 0; i < m.nrcpt; i++)
        (void)cleanup_client_rcpt(cc, m.rcpt[i].address, m.rcpt[i].address, m.rcpt[i].orcpt,
                                  m.rcpt[i].notify);
    received_header(cc, strbuf_str(&new_id), &st);
    struct content_ctx content = {.cc = cc, .first = true};
    if (maildrop_content(fd, mail_queue_read_limit(), send_content, &content, &err) < 0) {
        /* The file validated a moment ago: it changed under us. */
        cleanup_client_abort(&cc);
        queue_file_move_corrupt(".", "maildrop", 0, id, strbuf_str(&err));
        goto done;
    }
    int code = cleanup_client_finish(&cc, &reply);
    if (code == 250) {
        strbuf_reset(&err);
        strbuf_printf(&err, "maildrop/%s", id);
        if (unlink(strbuf_str(&err)) < 0 && errno != ENOENT)
            msg_fatal("remove %s: %m", strbuf_str(&err)); /* else we would queue it twice */
    } else if (code >= 500) {
        /* A content REJECT is returned to the sender (CLEANUP_FLAG_BOUNCE);
         * what is left (no valid recipient, size) is never silently
         * dropped either: an administrator finds it in corrupt/. */
        strbuf_reset(&err);
        strbuf_printf(&err, "rejected by cleanup: %s", strbuf_str(&reply));
        queue_file_move_corrupt(".", "maildrop", 0, id, strbuf_str(&err));
    } else {
        msg_warn("maildrop/%s: %s", id, strbuf_str(&reply));
        out = CLEANUP_DOWN;
    }
done:
    if (fd >= 0 && close(fd) < 0)
        msg_warn("close maildrop/%s: %m", id);
    maildrop_msg_release(&m);
    strbuf_release(&err);
    strbuf_release(&reply);
    strbuf_release(&new_id);
    strbuf_release(&shown);
    return out;
}

static void pickup_scan(void)
{
    /* maildrop/ is never hashed (mail_queue.h): postdrop writes it flat. */
    if (access("maildrop", R_OK | X_OK) < 0)
        msg_fatal("open directory %s/maildrop: %m", config_get("queue_directory"));
    mail_queue_scan *sc = mail_queue_scan_open(AT_FDCWD, "maildrop", 0);
    const char *id;
    while ((id = mail_queue_scan_next(sc)) != NULL)
        if (pickup_file(id) == CLEANUP_DOWN)
            break;
    mail_queue_scan_close(&sc);
}

/* A bad content_filter is fatal at start, before any maildrop file is read. */
static void pickup_init(const char *service, char **args)
{
    (void)content_filter_value();
}

static void pickup_trigger(const char *buf, size_t len, const char *service, char **args)
{
    pickup_scan();
}

int main(int argc, char **argv)
{
    static const struct service_ops ops = {
        .mode = SERVICE_TRIGGER,
        .trigger = pickup_trigger,
        .post_init = pickup_init,
    };
    service_main("pickup", argc, argv, &ops);
}
