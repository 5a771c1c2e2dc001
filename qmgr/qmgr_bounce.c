/* qmgr_bounce - delivery status notices, built in qmgr with lib/global/dsn and
 * queued through cleanup like any other message.
 *
 * Who gets a notice (as Postfix's bounce(8)):
 *  - a message with a sender: the sender, from the null sender <>;
 *  - a message with the null sender (itself a notice): the postmaster
 *    ($2bounce_notice_recipient), from $double_bounce_sender, headers only;
 *  - a message from $double_bounce_sender (a notice to the postmaster that
 *    failed): nobody; it is discarded with a log line, so notices never loop.
 * Recipients with DSN NOTIFY=NEVER (or without FAILURE / DELAY) are left
 * out; when nobody is left, no notice is due.
 *
 * The original message is read from the open queue file (never held in
 * memory as a whole): its header section, or everything with RET=FULL.
 */
#include <string.h>
#include <strings.h>
#include <time.h>

#include "cleanup_client.h"
#include "config.h"
#include "dsn.h"
#include "mem.h"
#include "msg.h"
#include "qmgr.h"
#include "queue_file.h"
#include "resolve.h"
#include "bounce_log.h"

/* One logical line of the original longer than this is cut in the notice. */
#define ORIGINAL_LINE_MAX 65536

/* Send the complete lines in `out` to cleanup, keep a partial one. */
static void flush_lines(cleanup_client *cc, strbuf *out)
{
    size_t start = 0;
    for (size_t i = 0; i < out->len; i++)
        if (out->s[i] == '\n') {
            cleanup_client_content(cc, out->s + start, i - start, true);
            start = i + 1;
        }
    if (start == out->len) {
        strbuf_reset(out);
    } else if (start > 0) {
        memmove(out->s, out->s + start, out->len - start);
        strbuf_truncate(out, out->len - start);
    }
}

/* Copy the original's headers (or all of it) into the notice. */
static int copy_original(struct qmgr_message *m, struct dsn_writer *w, cleanup_client *cc,
                         strbuf *out, bool full, strbuf *err)
{
    queue_file_reader *rd = queue_file_reader_open(m->fd, qmgr_cfg.record_limit, err);
    if (!rd)
        return -1;
    queue_file_record rec = QUEUE_FILE_RECORD_INIT;
    strbuf line = STRBUF_INIT;
    bool in_content = false, done = false;
    int rc;
    while (!done && (rc = queue_file_reader_next(rd, &rec, err)) > 0) {
        if (rec.type == QF_REC_CONTENT) {
            in_content = true;
            continue;
        }
        if (rec.type == QF_REC_EXTRACT)
            break;
        if (!in_content || (rec.type != QF_REC_LINE && rec.type != QF_REC_PART))
            continue;
        size_t room = ORIGINAL_LINE_MAX - line.len;
        strbuf_append(&line, rec.data.s, rec.data.len < room ? rec.data.len : room);
        if (rec.type == QF_REC_PART)
            continue;
        if (!full && line.len == 0) {
            done = true; /* end of the header section */
        } else {
            dsn_original_line(w, out, line.s ? line.s : "", line.len);
            flush_lines(cc, out);
        }
        strbuf_reset(&line);
    }
    if (!done && rc < 0) {
        queue_file_record_release(&rec);
        queue_file_reader_free(&rd);
        strbuf_release(&line);
        return -1;
    }
    queue_file_record_release(&rec);
    queue_file_reader_free(&rd);
    strbuf_release(&line);
    return 0;
}

/* Queue one notice built from `report` (to report->recipient, from
 * `sender`), with the original's headers or content attached. 0 when it is
 * safely queued, else -1 (logged). `who` and `what` are for the log line. */
static int queue_notice(struct qmgr_message *m, const struct dsn_report *report, const char *sender,
                        const char *who, const char *what)
{
    strbuf qid = STRBUF_INIT, reply = STRBUF_INIT, out = STRBUF_INIT, err = STRBUF_INIT;
    int rc = -1;
    cleanup_client *cc = cleanup_client_open(qmgr_cfg.queue_directory, CLEANUP_FLAG_NONE,
                                             (int)qmgr_cfg.ipc_timeout * 1000, &qid, &reply);
    if (!cc) {
        msg_warn("%s: cannot queue %s notification: %s", m->id, what, reply.s);
        goto out;
    }
    struct cleanup_envelope env = {
        .sender = sender,
        .rewrite_context = "local",
        .uid = -1,
    };
    cleanup_client_envelope(cc, &env);
    cleanup_client_rcpt(cc, report->recipient, NULL, NULL, 0);
    struct dsn_writer w;
    dsn_begin(&w, report, &out);
    flush_lines(cc, &out);
    if (copy_original(m, &w, cc, &out, report->full_message, &err) < 0) {
        msg_warn("%s: cannot read the message for the %s notification: %s", m->id, what, err.s);
        dsn_end(&w, &out);
        cleanup_client_abort(&cc);
        goto out;
    }
    dsn_end(&w, &out);
    flush_lines(cc, &out);
    int code = cleanup_client_finish(&cc, &reply);
    if (code != 250) {
        msg_warn("%s: cannot queue %s notification: %s", m->id, what, reply.s);
        goto out;
    }
    msg_info("%s: %s %s notification: %s", m->id, who, what, qid.s);
    rc = 0;
out:
    strbuf_release(&qid);
    strbuf_release(&reply);
    strbuf_release(&out);
    strbuf_release(&err);
    return rc;
}

static bool same_address(const char *a, const char *bare)
{
    if (strcasecmp(a, bare) == 0)
        return true;
    size_t n = strlen(bare);
    return strncasecmp(a, bare, n) == 0 && a[n] == '@' &&
           strcasecmp(a + n + 1, resolve_myorigin()) == 0;
}

int qmgr_bounce_notify(struct qmgr_message *m, int kind)
{
    enum qmgr_rcpt_state want = kind == DSN_DELAY ? QR_DEFERRED : QR_BOUNCED;
    int notify_bit = kind == DSN_DELAY ? QF_NOTIFY_DELAY : QF_NOTIFY_FAILURE;
    const char *double_bounce = config_get("double_bounce_sender");
    const char *what = kind == DSN_DELAY ? "delay" : "non-delivery";

    if (*m->sender && same_address(m->sender, double_bounce)) {
        if (kind != DSN_DELAY)
            msg_info("%s: undeliverable postmaster notification discarded", m->id);
        return 0;
    }
    if (!*m->sender && kind == DSN_DELAY)
        return 0; /* nobody waits for a notice about a notice */

    struct dsn_recipient *list = xcalloc(m->nrcpt ? m->nrcpt : 1, sizeof(*list));
    size_t n = 0;
    for (size_t i = 0; i < m->nrcpt; i++) {
        struct qmgr_rcpt *r = &m->rcpts[i];
        if (r->state != want)
            continue;
        if (*m->sender && r->notify && !(r->notify & notify_bit))
            continue; /* NOTIFY=NEVER, or not this kind */
        list[n++] = (struct dsn_recipient){
            .address = r->address,
            .orcpt = *r->orcpt ? r->orcpt : NULL,
            .action = kind == DSN_DELAY ? "delayed" : "failed",
            .status = r->dsn ? r->dsn : (kind == DSN_DELAY ? "4.0.0" : "5.0.0"),
            .diagnostic = r->reason,
        };
    }
    if (n == 0) {
        free(list);
        return 0;
    }

    bool to_postmaster = !*m->sender;
    strbuf notice_sender = STRBUF_INIT;
    const char *to = to_postmaster ? config_get("2bounce_notice_recipient") : m->sender;
    if (to_postmaster) {
        strbuf_set(&notice_sender, double_bounce);
        resolve_canonical(&notice_sender);
    }
    long long lifetime = *m->sender ? qmgr_cfg.max_queue_lifetime : qmgr_cfg.bounce_queue_lifetime;
    struct dsn_report report = {
        .kind = (enum dsn_kind)kind,
        .queue_id = m->id,
        .sender = m->sender,
        .recipient = to,
        .myhostname = qmgr_cfg.myhostname,
        .mail_name = qmgr_cfg.mail_name,
        .envid = *m->envid ? m->envid : NULL,
        .arrival = m->arrival.tv_sec,
        .now = time(NULL),
        .retry_until = m->arrival.tv_sec + lifetime,
        .full_message = !to_postmaster && strcasecmp(m->ret, "FULL") == 0,
        .rcpts = list,
        .nrcpt = n,
    };

    int rc = queue_notice(m, &report, strbuf_str(&notice_sender),
                          to_postmaster ? "postmaster" : "sender", what);
    free(list);
    strbuf_release(&notice_sender);
    return rc;
}

/* ---- sendmail -bv ------------------------------------------------------- */

struct verify_list {
    struct dsn_recipient *v;
    size_t n, cap;
};

static void verify_add(struct verify_list *l, const char *address, const char *orig,
                       const char *action, const char *status, const char *reason)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 8;
        l->v = xreallocarray(l->v, l->cap, sizeof(*l->v));
    }
    bool expanded = orig && *orig && strcasecmp(orig, address) != 0;
    l->v[l->n++] = (struct dsn_recipient){
        .address = xstrdup(address),
        .action = xstrdup(action),
        .status = xstrdup(status && *status ? status : "5.0.0"),
        .diagnostic = xstrdup(reason ? reason : ""),
        .expanded_from = expanded ? xstrdup(orig) : NULL,
    };
}

static void verify_add_entry(void *ctx, const struct bounce_log_entry *e)
{
    verify_add(ctx, e->recipient, e->orig_recipient, e->action, e->status, e->reason);
}

int qmgr_verify_report(struct qmgr_message *m)
{
    struct verify_list l = {0};
    strbuf err = STRBUF_INIT;
    if (bounce_log_read(qmgr_cfg.queue_directory, BOUNCE_LOG_TRACE, m->id, verify_add_entry, &l,
                        &err) < 0)
        msg_warn("%s: cannot read verification results: %s", m->id, err.s);
    if (l.n == 0) {
        /* No records (a writer could not append): report what the replies
         * said, so the sender still learns something true. */
        for (size_t i = 0; i < m->nrcpt; i++) {
            const struct qmgr_rcpt *r = &m->rcpts[i];
            if (r->state == QR_DONE)
                continue;
            verify_add(&l, r->address, NULL, r->state == QR_SENT ? "deliverable" : "undeliverable",
                       r->dsn ? r->dsn : (r->state == QR_SENT ? "2.0.0" : "5.0.0"),
                       r->reason ? r->reason : "no verification result");
        }
    }
    const char *to = *m->sender ? m->sender : config_get("bounce_notice_recipient");
    struct dsn_report report = {
        .kind = DSN_VERIFY,
        .queue_id = m->id,
        .sender = m->sender,
        .recipient = to,
        .myhostname = qmgr_cfg.myhostname,
        .mail_name = qmgr_cfg.mail_name,
        .envid = *m->envid ? m->envid : NULL,
        .arrival = m->arrival.tv_sec,
        .now = time(NULL),
        .rcpts = l.v,
        .nrcpt = l.n,
    };
    int rc = queue_notice(m, &report, "", *m->sender ? "sender" : "postmaster", "delivery status");
    for (size_t i = 0; i < l.n; i++) {
        free((char *)l.v[i].address);
        free((char *)l.v[i].action);
        free((char *)l.v[i].status);
        free((char *)l.v[i].diagnostic);
        free((char *)l.v[i].expanded_from);
    }
    free(l.v);
    strbuf_release(&err);
    return rc;
}
