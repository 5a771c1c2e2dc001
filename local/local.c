/* local - the local delivery agent.
 *
 * Runs as root (master.cf unpriv = n) and serves one qmgr delivery request
 * per connection on private/local (lib/global/deliver_request.h). Each recipient is
 * resolved through aliases, .forward and :include: and delivered with the
 * privileges of the user concerned (local_deliver.c). A recipient finally
 * delivered is marked in the queue file before the reply, so a crash after
 * this point never repeats the delivery; every other outcome goes back to
 * qmgr, which records it.
 *
 * A request may carry a batch of messages for the same user
 * (local_destination_batch_limit, deliver_request.h). They are delivered in
 * order, each Maildir file written; then the files are made durable
 * together (mailbox_maildir.h: fsynced, renamed into new/, each new/
 * directory fsynced ONCE; or, where the file system commits a rename with
 * the file's fsync, written out, renamed, and fsynced all at once), and
 * only then are the messages' recipients marked DELIVERED and their log
 * lines written (DESIGN.md §3 invariant 2: nothing is reported before
 * new/ is durable). Syncs shared by the batch instead of made per
 * message are the point.
 */
#include <errno.h>
#include <grp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "config.h"
#include "delivery_log.h"
#include "fsutil.h"
#include "local.h"
#include "mailbox_mbox.h"
#include "mem.h"
#include "msg.h"
#include "mail_queue.h"
#include "mail_copy.h"
#include "queue_file.h"
#include "service.h"
#include "bounce_log.h"

struct local_config local_cfg;

struct local_pending_log {
    char *recipient, *orig_recipient, *dsn, *status, *text;
    struct delivery_times times;
};

static int64_t now_us(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
}

void local_outcome(struct local_attempt *at, const char *recipient, enum deliver_status status,
                   const char *dsn, const char *fmt, ...)
{
    strbuf text = STRBUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    strbuf_vprintf(&text, fmt, ap);
    va_end(ap);

    const struct deliver_request *req = at->msg->req;
    bool verify = (req->flags & DELIVER_FLAG_VERIFY) != 0;
    int64_t done = now_us();
    struct delivery_record rec = {
        .queue_id = req->queue_id,
        .recipient = recipient,
        .orig_recipient = *at->rcpt->orig_rcpt ? at->rcpt->orig_rcpt : at->rcpt->address,
        .relay = "local",
        .times = {req->arrival_us / 1e6, req->active_us / 1e6, at->msg->start_us / 1e6,
                  at->msg->start_us / 1e6, done / 1e6},
        .dsn = dsn,
        .status = verify ? (status == DELIVER_SENT ? "deliverable" : "undeliverable")
                         : deliver_status_name(status),
        .text = text.s,
    };
    if (at->msg->batch) {
        /* Batch: logged after new/ is synced (flush_logs). */
        struct local_message *msg = at->msg;
        msg->logs = xreallocarray(msg->logs, msg->nlogs + 1, sizeof(*msg->logs));
        msg->logs[msg->nlogs++] = (struct local_pending_log){
            .recipient = xstrdup(rec.recipient),
            .orig_recipient = xstrdup(rec.orig_recipient),
            .dsn = xstrdup(dsn),
            .status = xstrdup(rec.status),
            .text = xstrdup(text.s),
            .times = rec.times,
        };
    } else {
        delivery_log(&rec);
    }
    if (verify) {
        /* The report names what each final destination would get. */
        const char *queued = at->rcpt->address;
        struct bounce_log_entry te = {
            .recipient = recipient,
            .orig_recipient = strcasecmp(recipient, queued) != 0 ? queued : at->rcpt->orig_rcpt,
            .status = dsn,
            .action = rec.status,
            .reason = text.s,
        };
        strbuf err = STRBUF_INIT;
        if (bounce_log_append(local_cfg.queue_directory, BOUNCE_LOG_TRACE, req->queue_id, &te,
                              &err) < 0)
            msg_warn("%s: cannot record verification result: %s", req->queue_id, err.s);
        strbuf_release(&err);
    }
    local_count_outcome(at, status, dsn, text.s);
    strbuf_release(&text);
}

void local_count_outcome(struct local_attempt *at, enum deliver_status status, const char *dsn,
                         const char *text)
{
    switch (status) {
    case DELIVER_SENT:
        at->sent++;
        break;
    case DELIVER_DEFERRED:
        if (at->deferred++ == 0) {
            strbuf_set(&at->first_defer, text);
            snprintf(at->defer_dsn, sizeof(at->defer_dsn), "%s", dsn);
        }
        break;
    default:
        if (at->bounced++ == 0) {
            strbuf_set(&at->first_bounce, text);
            snprintf(at->bounce_dsn, sizeof(at->bounce_dsn), "%s", dsn);
        }
        break;
    }
}

/* Deliver one queue recipient and fold the expansion's outcomes into one:
 * anything deferred defers the recipient (it is retried as a whole, like
 * Postfix); otherwise a bounce bounces it; otherwise it was delivered. */
static void deliver_one(struct local_message *msg, struct deliver_rcpt *rcpt)
{
    struct local_attempt at = {.msg = msg, .rcpt = rcpt};
    local_expand_recipient(&at, rcpt->address, 0);
    local_privs_leave(); /* root again, whatever path was taken (no-op) */
    if (at.deferred)
        deliver_rcpt_set(rcpt, DELIVER_DEFERRED, at.defer_dsn, "%s", at.first_defer.s);
    else if (at.bounced)
        deliver_rcpt_set(rcpt, DELIVER_BOUNCED, at.bounce_dsn, "%s", at.first_bounce.s);
    else
        deliver_rcpt_set(rcpt, DELIVER_SENT, "2.0.0", "delivered");
    strlist_release(&at.path);
    strlist_release(&at.done);
    strbuf_release(&at.first_defer);
    strbuf_release(&at.first_bounce);
}

static void defer_all(struct deliver_request *req, const char *what, const char *detail)
{
    for (size_t i = 0; i < req->nrcpt; i++)
        deliver_rcpt_set(&req->rcpts[i], DELIVER_DEFERRED, "4.3.0", "%s: %s", what, detail);
}

static void process_batch(struct deliver_request *req);

/* Open msg->req's queue file, read it once (msg->head: every recipient's
 * rendering reuses that read) and collect its Delivered-To: values. 0, or
 * -1 with every recipient deferred (msg->fd may be open: the caller closes
 * it). */
static int open_message(struct local_message *msg, struct deliver_request *req, strbuf *err)
{
    struct stat st;
    msg->fd =
        queue_file_open_stat(local_cfg.queue_directory, req->queue_name,
                             mail_queue_depth(req->queue_name), req->queue_id, true, &st, err);
    if (msg->fd < 0) {
        msg_warn("%s: cannot open queue file: %s", req->queue_id, err->s);
        defer_all(req, "cannot open queue file", err->s);
        return -1;
    }
    if (queue_file_head_load(&msg->head, msg->fd, &st, err) < 0 ||
        mail_copy_delivered_to_head(&msg->head, local_cfg.record_limit, &msg->delivered_to, err) <
            0) {
        msg_warn("%s: corrupt queue file: %s", req->queue_id, err->s);
        defer_all(req, "cannot read queue file", err->s);
        return -1;
    }
    return 0;
}

static void process_request(struct deliver_request *req)
{
    if (req->nbatch > 0) {
        process_batch(req);
        return;
    }
    strbuf err = STRBUF_INIT;
    struct local_message msg = {.req = req, .start_us = now_us()};
    if (open_message(&msg, req, &err) == 0) {
        for (size_t i = 0; i < req->nrcpt; i++) {
            deliver_one(&msg, &req->rcpts[i]);
            if (req->rcpts[i].status == DELIVER_SENT && !(req->flags & DELIVER_FLAG_VERIFY)) {
                strbuf_reset(&err);
                if (queue_file_head_mark_recipient(&msg.head, req->rcpts[i].offset,
                                                   QF_RCPT_DELIVERED, &err) < 0)
                    msg_warn("%s: cannot mark recipient done: %s", req->queue_id, err.s);
            }
        }
    }
    if (msg.fd >= 0)
        close(msg.fd);
    queue_file_head_release(&msg.head);
    strlist_release(&msg.delivered_to);
    strbuf_release(&err);
}

/* Batch: log the held-back lines of one message. `failed`: new/ could not
 * be synced, so what was delivered to a Maildir is reported deferred. The
 * end of the "d" delay is now, when the delivery became durable. */
static void flush_logs(struct local_message *msg, const char *failed)
{
    const struct deliver_request *req = msg->req;
    double done = now_us() / 1e6;
    for (size_t i = 0; i < msg->nlogs; i++) {
        struct local_pending_log *pl = &msg->logs[i];
        bool demote = failed && strcmp(pl->status, "sent") == 0;
        struct delivery_record rec = {
            .queue_id = req->queue_id,
            .recipient = pl->recipient,
            .orig_recipient = pl->orig_recipient,
            .relay = "local",
            .times = pl->times,
            .dsn = demote ? "4.3.0" : pl->dsn,
            .status = demote ? "deferred" : pl->status,
            .text = demote ? failed : pl->text,
        };
        if (msg->pending_sync)
            rec.times.done = done;
        delivery_log(&rec);
        free(pl->recipient);
        free(pl->orig_recipient);
        free(pl->dsn);
        free(pl->status);
        free(pl->text);
    }
    XFREE(msg->logs);
    msg->nlogs = 0;
}

static void mark_delivered(struct local_message *msg, strbuf *err)
{
    const struct deliver_request *req = msg->req;
    if (msg->fd < 0 || (req->flags & DELIVER_FLAG_VERIFY))
        return;
    for (size_t i = 0; i < req->nrcpt; i++) {
        if (req->rcpts[i].status != DELIVER_SENT)
            continue;
        strbuf_reset(err);
        if (queue_file_head_mark_recipient(&msg->head, req->rcpts[i].offset, QF_RCPT_DELIVERED,
                                           err) < 0)
            msg_warn("%s: cannot mark recipient done: %s", req->queue_id, err->s);
    }
}

/* A request with several messages (all for one user). */
static void process_batch(struct deliver_request *req)
{
    size_t n = 1 + req->nbatch;
    struct deliver_request **reqs = xcalloc(n, sizeof(*reqs));
    struct local_message *msgs = xcalloc(n, sizeof(*msgs));
    struct local_batch batch = {.new_dirs = STRLIST_INIT};
    strbuf err = STRBUF_INIT;
    msg_debug("batch of %zu messages for %s", n, req->nrcpt ? req->rcpts[0].address : "(none)");
    reqs[0] = req;
    for (size_t j = 1; j < n; j++)
        reqs[j] = &req->batch[j - 1];
    for (size_t j = 0; j < n; j++) {
        struct local_message *msg = &msgs[j];
        *msg = (struct local_message){.req = reqs[j], .start_us = now_us(), .batch = &batch};
        strbuf_reset(&err);
        if (open_message(msg, reqs[j], &err) < 0)
            continue;
        for (size_t i = 0; i < reqs[j]->nrcpt; i++)
            deliver_one(msg, &reqs[j]->rcpts[i]);
        if (!msg->pending_sync) {
            /* Nothing of it waits for a directory fsync (mbox, command,
             * forward, failure): final now, as without batching. */
            mark_delivered(msg, &err);
            flush_logs(msg, NULL);
        }
    }
    /* The files fsynced together, then one fsync per new/ directory. */
    strbuf failed = STRBUF_INIT;
    if (local_batch_commit(&batch, &failed) < 0)
        msg_warn("%s", failed.s);
    for (size_t j = 0; j < n; j++) {
        struct local_message *msg = &msgs[j];
        if (msg->pending_sync) {
            if (failed.len) {
                /* In new/ but not provably durable: defer (a retry may
                 * duplicate, never lose), as maildir_commit does alone. */
                for (size_t i = 0; i < reqs[j]->nrcpt; i++)
                    if (reqs[j]->rcpts[i].status == DELIVER_SENT)
                        deliver_rcpt_set(&reqs[j]->rcpts[i], DELIVER_DEFERRED, "4.3.0", "%s",
                                         failed.s);
            } else {
                mark_delivered(msg, &err);
            }
            flush_logs(msg, failed.len ? failed.s : NULL);
        }
        if (msg->fd >= 0 && close(msg->fd) < 0)
            msg_warn("%s: close queue file: %m", reqs[j]->queue_id);
        queue_file_head_release(&msg->head);
        strlist_release(&msg->delivered_to);
    }
    strbuf_release(&failed);
    strlist_release(&batch.new_dirs);
    strbuf_release(&err);
    free(msgs);
    free(reqs);
}

static void local_serve(int fd, const char *service, char **args)
{
    (void)service;
    (void)args;
    deliver_request_serve(fd, process_request);
}

static void split_param(const char *name, strlist *out)
{
    strlist_split(out, config_get(name), ", \t\r\n", NULL);
}

static void local_init(const char *service, char **args)
{
    /* Effective ids are switched per delivery; start from no extra groups. */
    if (setgroups(0, NULL) < 0)
        msg_fatal("setgroups: %m");
    signal(SIGXFSZ, SIG_IGN);
    strbuf err = STRBUF_INIT;
    local_cfg.queue_directory = config_get("queue_directory");
    local_cfg.myhostname = config_get("myhostname");
    local_cfg.home_mailbox = config_get("home_mailbox");
    local_cfg.mail_spool_directory = config_get("mail_spool_directory");
    local_cfg.mailbox_command = config_get("mailbox_command");
    local_cfg.recipient_delimiter = config_get("recipient_delimiter");
    /* Raw: split first, then each element is expanded per recipient. */
    strlist_split(&local_cfg.forward_path, config_get_raw("forward_path"), ", \t\r\n", NULL);
    local_cfg.forward_filter = config_get("forward_expansion_filter");
    local_cfg.command_filter = config_get("command_expansion_filter");
    local_cfg.exec_directory = config_get_raw("command_execution_directory");
    local_cfg.exec_filter = config_get("execution_directory_expansion_filter");
    local_cfg.default_privs = config_get("default_privs");
    local_cfg.command_time_limit = (unsigned)config_get_time("command_time_limit");
    local_cfg.mailbox_size_limit = config_get_size("mailbox_size_limit");
    local_cfg.enable_original_recipient = config_get_bool("enable_original_recipient");
    local_cfg.record_limit = mail_queue_read_limit();
    split_param("allow_mail_to_commands", &local_cfg.allow_commands);
    split_param("allow_mail_to_files", &local_cfg.allow_files);
    local_cfg.mailbox_transport = config_get("mailbox_transport");
    if (*config_get("mailbox_transport_maps"))
        msg_fatal("mailbox_transport_maps is not supported by this local(8); "
                  "use mailbox_transport");
    if (mbox_lock_methods_parse(config_get("mailbox_delivery_lock"), &local_cfg.lock_methods,
                                &err) < 0)
        msg_fatal("mailbox_delivery_lock: %s", err.s);
    local_cfg.alias_maps =
        maps_open("alias_maps", config_get("alias_maps"), MAP_SURROGATE | MAP_NO_REGSUB, &err);
    if (local_cfg.alias_maps == NULL)
        msg_fatal("%s", err.s);
    local_cfg.mydestination =
        match_list_compile("mydestination", config_get("mydestination"), 0, &err);
    if (local_cfg.mydestination == NULL)
        msg_fatal("%s", err.s);
    strbuf_release(&err);
}

int main(int argc, char **argv)
{
    static const struct service_ops ops = {
        .mode = SERVICE_SINGLE,
        .post_init = local_init,
        .serve = local_serve,
    };
    service_main("local", argc, argv, &ops);
}
