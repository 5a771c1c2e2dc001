/* qmgr_message - one message in the active queue.
 *
 * Activation renames <queue>/<id> to active/<id>, opens it ONCE (read-write:
 * qmgr marks bounced recipients) and reads it through the queue file reader,
 * which checks the whole file up to its END record; a file that fails goes
 * to corrupt/ with a log line (invariant 6). Recipients already DELIVERED or
 * BOUNCED are skipped, so a restart never repeats a finished recipient.
 *
 * When the last recipient of this pass has an outcome, the message is
 * finished:
 *  - deferred recipients of an expired message (maximal_queue_lifetime, or
 *    bounce_queue_lifetime for the null sender) become bounced;
 *  - bounced recipients get a notice queued through cleanup, and only after
 *    that succeeded are they marked BOUNCED in the file (invariant 3); a
 *    notice that cannot be queued leaves them to do (deferred);
 *  - if anything is still to do, defer/<id> is rewritten with this pass's
 *    reasons (Postfix's bounce-log format, read by mailq), the file's mtime
 *    is set to the next attempt (back-off) and it moves to deferred/;
 *  - otherwise the file and defer/<id> are removed: "ID: removed".
 *
 * Message actions (cleanup_client.h) recorded by cleanup: a file arriving
 * from incoming/ with QF_FLAG_HOLD goes to hold/ unscheduled, the flag
 * cleared in place first so a release (postsuper -H) delivers it; an 'A'
 * record redirect=<addr> replaces every pending recipient by that address
 * (the original stays as orig_to), filter=<transport:nexthop> routes every
 * recipient to that transport without resolving it (filter_route).
 * The last record of each kind wins, as in Postfix. A reject=<d.s.n text>
 * record (non-SMTP mail cleanup rejected, CLEANUP_FLAG_BOUNCE) bounces every
 * recipient with that text.
 *
 * Forced expiration (postsuper -e/-f: the file's group-execute bit, as in
 * Postfix 3.5+): the message is not delivered; every pending recipient is
 * bounced with "message is administratively expired" and the sender gets
 * the notice ("status=force-expired, returned to sender").
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "addr_map.h"
#include "config.h"
#include "delivery_log.h"
#include "dsn.h"
#include "mem.h"
#include "msg.h"
#include "mail_queue.h"
#include "qmgr.h"
#include "queue_file.h"
#include "queue_id.h"
#include "bounce_log.h"

void qmgr_message_free(struct qmgr_message **mp)
{
    struct qmgr_message *m = *mp;
    if (!m)
        return;
    for (size_t i = 0; i < m->nrcpt; i++) {
        struct qmgr_rcpt *r = &m->rcpts[i];
        free(r->address);
        free(r->orig_rcpt);
        free(r->orcpt);
        free(r->dsn);
        free(r->reason);
    }
    free(m->rcpts);
    free(m->id);
    free(m->sender);
    free(m->envid);
    free(m->ret);
    free(m->redirect);
    free(m->filter);
    free(m->reject);
    if (m->fd >= 0)
        close(m->fd);
    XFREE(*mp);
}

void qmgr_log_outcome(const struct qmgr_message *m, const struct qmgr_rcpt *r, const char *status,
                      const char *dsn, const char *reason)
{
    double now = qmgr_now_us() / 1e6;
    double arrival = m->arrival.tv_sec + m->arrival.tv_usec / 1e6;
    struct delivery_record rec = {
        .queue_id = m->id,
        .recipient = r->address,
        .orig_recipient = r->orig_rcpt,
        .relay = "none",
        .times = {arrival, m->active_us / 1e6, now, now, now},
        .dsn = dsn,
        .status = status,
        .text = reason,
    };
    if (m->flags & QF_FLAG_VERIFY) {
        /* sendmail -bv: a verdict, not a delivery; it goes into the report. */
        rec.status = strcmp(status, "sent") == 0 ? "deliverable" : "undeliverable";
        struct bounce_log_entry te = {.recipient = r->address,
                                      .orig_recipient = r->orig_rcpt,
                                      .status = dsn,
                                      .action = rec.status,
                                      .reason = reason};
        strbuf err = STRBUF_INIT;
        if (bounce_log_append(qmgr_cfg.queue_directory, BOUNCE_LOG_TRACE, m->id, &te, &err) < 0)
            msg_warn("%s: cannot record verification result: %s", m->id, err.s);
        strbuf_release(&err);
    }
    delivery_log(&rec);
}

/* ---- reading ----------------------------------------------------------- */

static char *dup_buf(const strbuf *b)
{
    return xstrdup(b->s ? b->s : "");
}

/* The value as a C string (records are binary; ours never hold NUL). */
static const char *dup_tmp(const strbuf *b)
{
    return b->s ? b->s : "";
}

/* Read the envelope; 0, or -1 (corrupt) with the reason in err. */
static int read_message(struct qmgr_message *m, strbuf *err)
{
    queue_file_reader *rd = queue_file_reader_open(m->fd, qmgr_cfg.record_limit, err);
    if (!rd)
        return -1;
    queue_file_record rec = QUEUE_FILE_RECORD_INIT;
    size_t cap = 0;
    bool have_sender = false, have_time = false;
    int rc;
    while ((rc = queue_file_reader_next(rd, &rec, err)) > 0) {
        switch (rec.type) {
        case QF_REC_SIZE:
            m->size = rec.size.content_size;
            m->flags = rec.size.flags;
            m->warn_time = rec.size.warn_time;
            m->rcpt_total = rec.size.rcpt_count;
            break;
        case QF_REC_TIME:
            m->arrival = rec.time;
            have_time = true;
            break;
        case QF_REC_SENDER:
            free(m->sender);
            m->sender = dup_buf(&rec.data);
            have_sender = true;
            break;
        case QF_REC_ATTR:
            if (strcmp(rec.name.s, "envelope_id") == 0) {
                free(m->envid);
                m->envid = dup_buf(&rec.value);
            } else if (strcmp(rec.name.s, "ret_flags") == 0) {
                free(m->ret);
                m->ret = dup_buf(&rec.value);
            } else if (strcmp(rec.name.s, "redirect") == 0 && rec.value.len > 0) {
                free(m->redirect);
                m->redirect = dup_buf(&rec.value);
            } else if (strcmp(rec.name.s, "filter") == 0 && strchr(dup_tmp(&rec.value), ':')) {
                free(m->filter);
                m->filter = dup_buf(&rec.value);
            } else if (strcmp(rec.name.s, "reject") == 0 && rec.value.len > 0) {
                free(m->reject);
                m->reject = dup_buf(&rec.value);
            }
            break;
        case QF_REC_RCPT: {
            if (m->nrcpt == cap) {
                cap = cap ? 2 * cap : 4;
                m->rcpts = xreallocarray(m->rcpts, cap, sizeof(*m->rcpts));
            }
            struct qmgr_rcpt *r = &m->rcpts[m->nrcpt++];
            memset(r, 0, sizeof(*r));
            r->address = dup_buf(&rec.address);
            r->orig_rcpt = dup_buf(&rec.orig_rcpt);
            r->orcpt = dup_buf(&rec.orcpt);
            r->notify = rec.notify;
            r->offset = rec.offset;
            r->state = rec.status == QF_RCPT_TODO ? QR_PENDING : QR_DONE;
            break;
        }
        default:
            break;
        }
    }
    queue_file_record_release(&rec);
    queue_file_reader_free(&rd);
    if (rc < 0)
        return -1;
    if (!have_sender || !have_time) {
        strbuf_set(err, "missing sender or arrival time");
        return -1;
    }
    return 0;
}

/* Postfix's discard(8), done here: the recipient counts as delivered, the
 * nexthop is the reason logged ("status=sent (reason)"), and the recipient
 * is marked done in the queue file before anything else happens, as an
 * agent would (invariant 3). */
static void discard(struct qmgr_message *m, struct qmgr_rcpt *r, const char *nexthop)
{
    char dsn[16];
    const char *text = dsn_split_text(nexthop, dsn, sizeof(dsn), "2.0.0");
    if (dsn[0] != '2')
        snprintf(dsn, sizeof(dsn), "2.0.0");
    strbuf err = STRBUF_INIT;
    if (queue_file_mark_recipient(m->fd, r->offset, QF_RCPT_DELIVERED, &err) < 0) {
        /* Not recorded: better to try again than to lose track. */
        msg_warn("%s: cannot mark recipient done: %s", m->id, err.s);
        qmgr_log_outcome(m, r, "deferred", "4.3.0", "cannot update the queue file");
        qmgr_message_outcome(m, r, QR_DEFERRED, "4.3.0", "cannot update the queue file");
    } else {
        qmgr_log_outcome(m, r, "sent", dsn, text);
        qmgr_message_outcome(m, r, QR_SENT, dsn, text);
    }
    strbuf_release(&err);
}

/* relocated_maps at delivery, as Postfix's trivial-rewrite does for every
 * address class: mail that never met smtpd's RCPT check (sendmail, alias
 * and .forward results) bounces with 5.1.6 "User has moved to <text>"
 * through the error transport below. Lookup order relocated(5): user@domain,
 * user (local domains), @domain; no extension stripping (Postfix ignores
 * the extension here). 1 relocated (nexthop set), 0 not, -1 table failure. */
static int relocated(const char *addr, resolve_route_t *rt, strbuf *err)
{
    static maps *table;
    static bool opened;
    if (!opened) {
        opened = true;
        table = maps_open("relocated_maps", config_get("relocated_maps"), MAP_SURROGATE, err);
        if (!table)
            msg_fatal("%s", strbuf_str(err));
    }
    if (maps_count(table) == 0)
        return 0;
    struct addr_map_ctx ctx = {.delims = NULL, .myorigin = resolve_myorigin(), .res = qmgr_resolve};
    strbuf where = STRBUF_INIT;
    enum map_result r = addr_map_lookup(&ctx, table, addr, false, &where, err);
    if (r == MAP_FOUND) {
        /* Table text into a DSN and a log line: up to its first control. */
        size_t n = 0;
        while (n < where.len && n < 500 && (unsigned char)where.s[n] >= 0x20 && where.s[n] != 0x7f)
            n++;
        strbuf_set(&rt->transport, "error");
        strbuf_reset(&rt->nexthop);
        strbuf_printf(&rt->nexthop, "5.1.6 User has moved to %.*s", (int)n, where.s ? where.s : "");
    }
    strbuf_release(&where);
    return r == MAP_FOUND ? 1 : r == MAP_TEMPFAIL ? -1 : 0;
}

/* FILTER / content_filter transport:nexthop replaces the resolver, as in
 * Postfix's qmgr: no nexthop means $default_filter_nexthop, and when that
 * is empty the recipient's domain ($myhostname for a bare address). Not
 * for sendmail -bv probes, which report the route the mail would take
 * (Postfix bypasses the filter for them as well). */
static void filter_route(const char *filter, const char *rcpt, resolve_route_t *rt)
{
    const char *colon = strchr(filter, ':');
    strbuf_set(&rt->transport, "");
    strbuf_append(&rt->transport, filter, (size_t)(colon - filter));
    const char *nexthop = colon + 1;
    const char *at = strrchr(rcpt, '@');
    if (!*nexthop)
        nexthop = qmgr_cfg.default_filter_nexthop;
    if (!*nexthop)
        nexthop = at && at[1] ? at + 1 : qmgr_cfg.myhostname;
    strbuf_set(&rt->nexthop, nexthop);
    rt->cls = RESOLVE_DEFAULT;
    rt->routed = false;
}

/* Route one recipient: queue it for delivery, or decide here (error, retry
 * and discard transports, table failures). */
static void route(struct qmgr_message *m, struct qmgr_rcpt *r, resolve_route_t *rt)
{
    strbuf err = STRBUF_INIT;
    if (m->filter && !(m->flags & QF_FLAG_VERIFY)) {
        filter_route(m->filter, r->address, rt);
    } else if (resolve_route(qmgr_resolve, r->address, rt, &err) < 0) {
        qmgr_log_outcome(m, r, "deferred", "4.3.0", err.s);
        qmgr_message_outcome(m, r, QR_DEFERRED, "4.3.0", err.s);
        strbuf_release(&err);
        return;
    }
    if (!(m->filter && !(m->flags & QF_FLAG_VERIFY)) && relocated(r->address, rt, &err) < 0) {
        qmgr_log_outcome(m, r, "deferred", "4.3.0", err.s);
        qmgr_message_outcome(m, r, QR_DEFERRED, "4.3.0", err.s);
        strbuf_release(&err);
        return;
    }
    /* Postfix's qmgr: with allow_min_user = no a recipient that starts
     * with '-' goes to the error transport, whatever route or FILTER it
     * has, so no command (pipe, |command) can mistake it for an option. */
    if (!qmgr_cfg.allow_min_user && r->address[0] == '-') {
        strbuf_set(&rt->transport, "error");
        strbuf_set(&rt->nexthop, "5.1.3 bad address syntax");
    }
    /* error, retry and discard go to their agents (error/, discard/) when
     * master.cf runs them, like any transport; without such a service (a
     * master.cf that lacks the stock rows), and for sendmail -bv, qmgr
     * decides as those agents would. */
    bool verify = (m->flags & QF_FLAG_VERIFY) != 0;
    bool in_process = verify || !qmgr_deliver_has_agent(rt->transport.s);
    if (in_process &&
        (strcmp(rt->transport.s, "error") == 0 || strcmp(rt->transport.s, "retry") == 0)) {
        /* Postfix's error(8)/retry: the nexthop is "[d.s.n ]text". */
        bool bounce = rt->transport.s[0] == 'e';
        char dsn[16];
        const char *text = dsn_split_text(rt->nexthop.len ? rt->nexthop.s : "", dsn, sizeof(dsn),
                                          bounce ? "5.0.0" : "4.0.0");
        if (dsn[0] == '2')
            snprintf(dsn, sizeof(dsn), "%s", bounce ? "5.0.0" : "4.0.0");
        if (!*text)
            text = bounce ? "mail for this destination is not accepted" : "delivery deferred";
        bounce = bounce && dsn[0] == '5';
        qmgr_log_outcome(m, r, bounce ? "bounced" : "deferred", dsn, text);
        qmgr_message_outcome(m, r, bounce ? QR_BOUNCED : QR_DEFERRED, dsn, text);
    } else if (verify && strcmp(rt->transport.s, "local") != 0) {
        /* sendmail -bv: only local(8) implements verify requests (an agent
         * that does not would deliver). For other transports we report the
         * route, as far as it is known here, without contacting anyone. */
        strbuf text = STRBUF_INIT;
        strbuf_printf(&text, "delivers via %s to %s", rt->transport.s,
                      rt->nexthop.len ? rt->nexthop.s : "(default)");
        qmgr_log_outcome(m, r, "sent", "2.0.0", text.s);
        qmgr_message_outcome(m, r, QR_SENT, "2.0.0", text.s);
        strbuf_release(&text);
    } else if (in_process && strcmp(rt->transport.s, "discard") == 0) {
        discard(m, r, rt->nexthop.s);
    } else {
        qmgr_deliver_enqueue(m, r, rt->transport.s, rt->nexthop.s);
    }
    strbuf_release(&err);
}

/* Non-SMTP mail that cleanup rejected (header_checks REJECT ...): nobody
 * saw the reply, so, as Postfix's cleanup does, every recipient bounces
 * with the reject text and the sender gets the notice. */
static void return_rejected(struct qmgr_message *m, struct qmgr_rcpt *r)
{
    char dsn[16];
    const char *text = dsn_split_text(m->reject, dsn, sizeof(dsn), "5.7.1");
    if (dsn[0] != '5')
        snprintf(dsn, sizeof(dsn), "5.7.1");
    if (!*text)
        text = "message content rejected";
    qmgr_log_outcome(m, r, "bounced", dsn, text);
    qmgr_message_outcome(m, r, QR_BOUNCED, dsn, text);
}

/* REDIRECT: deliver to the redirect address; the address the sender gave
 * stays the original recipient (orig_to= in the delivery log). */
static void redirect_rcpt(struct qmgr_rcpt *r, const char *to)
{
    if (!r->orig_rcpt || !r->orig_rcpt[0]) {
        free(r->orig_rcpt);
        r->orig_rcpt = r->address;
    } else {
        free(r->address);
    }
    r->address = xstrdup(to);
}

/* HOLD on arrival: park the file in hold/ without scheduling it, then clear
 * the flag in place through the still open descriptor, so a release
 * (postsuper -H) delivers it. In that order a crash in between leaves a
 * held file with the flag (harmless: only incoming/ honours it), never an
 * unflagged file in active/ that a restart would deliver. Returns -1 (not
 * taken). */
static int hold_message(struct qmgr_message *m)
{
    strbuf err = STRBUF_INIT;
    const char *qdir = qmgr_cfg.queue_directory;
    if (queue_file_move(qdir, m->id, "active", qmgr_cfg.active_depth, "hold", qmgr_cfg.hold_depth,
                        true, &err) < 0) {
        /* Left in active/: the next start moves it to incoming/ and it is
         * held then. */
        msg_warn("%s: cannot move from active to hold: %s", m->id, err.s);
    } else if (queue_file_update_flags(m->fd, m->flags & ~(uint64_t)QF_FLAG_HOLD, &err) < 0) {
        msg_warn("%s: cannot clear the hold flag: %s", m->id, err.s);
    }
    qmgr_message_free(&m);
    strbuf_release(&err);
    return -1;
}

int qmgr_message_activate(const char *id, const char *from, int from_depth)
{
    strbuf err = STRBUF_INIT;
    const char *qdir = qmgr_cfg.queue_directory;
    if (queue_file_move(qdir, id, from, from_depth, "active", qmgr_cfg.active_depth, false, &err) <
        0) {
        if (errno != ENOENT)
            msg_warn("%s: cannot move from %s to active: %s", id, from, err.s);
        strbuf_release(&err);
        return -1;
    }
    struct stat st; /* its mode says whether postsuper -e force-expired it */
    int fd = queue_file_open_stat(qdir, "active", qmgr_cfg.active_depth, id, true, &st, &err);
    if (fd < 0) {
        /* Not ours to judge (incomplete, or an open failure): put it back. */
        msg_warn("%s: cannot open active queue file: %s", id, err.s);
        strbuf_reset(&err);
        if (queue_file_move(qdir, id, "active", qmgr_cfg.active_depth, from, from_depth, false,
                            &err) < 0)
            msg_warn("%s: cannot move back to %s: %s", id, from, err.s);
        strbuf_release(&err);
        return -1;
    }
    struct qmgr_message *m = xcalloc(1, sizeof(*m));
    m->id = xstrdup(id);
    m->fd = fd;
    m->active_us = qmgr_now_us();
    if (read_message(m, &err) < 0) {
        qmgr_message_free(&m);
        queue_file_move_corrupt(qdir, "active", qmgr_cfg.active_depth, id, err.s);
        strbuf_release(&err);
        return -1;
    }
    if (!m->envid)
        m->envid = xstrdup("");
    if (!m->ret)
        m->ret = xstrdup("");
    /* A verify pass always starts from scratch (an earlier one may have
     * been cut short by a crash): no stale results in the report. */
    if ((m->flags & QF_FLAG_VERIFY) && bounce_log_remove(qdir, BOUNCE_LOG_TRACE, id) < 0)
        msg_warn("%s: remove trace log: %m", id);
    if ((m->flags & QF_FLAG_HOLD) && strcmp(from, "incoming") == 0)
        return hold_message(m);
    msg_info("%s: from=<%s>, size=%llu, nrcpt=%llu (queue active)", m->id, m->sender,
             (unsigned long long)m->size, (unsigned long long)m->rcpt_total);

    for (size_t i = 0; i < m->nrcpt; i++)
        if (m->rcpts[i].state == QR_PENDING)
            m->outstanding++;
    bool expired = !(m->flags & QF_FLAG_VERIFY) && (st.st_mode & S_IXGRP);
    if (expired)
        msg_info("%s: from=<%s>, status=force-expired, returned to sender", m->id, m->sender);
    /* Hold one extra reference while routing so the message cannot finish
     * (and be freed) under our feet when every recipient is decided here. */
    m->outstanding++;
    resolve_route_t rt = {.transport = STRBUF_INIT, .nexthop = STRBUF_INIT};
    for (size_t i = 0; i < m->nrcpt; i++)
        if (m->rcpts[i].state == QR_PENDING && expired) {
            static const char why[] = "message is administratively expired";
            qmgr_log_outcome(m, &m->rcpts[i], "bounced", "5.4.7", why);
            qmgr_message_outcome(m, &m->rcpts[i], QR_BOUNCED, "5.4.7", why);
        } else if (m->rcpts[i].state == QR_PENDING) {
            if (m->reject)
                return_rejected(m, &m->rcpts[i]);
            else {
                if (m->redirect)
                    redirect_rcpt(&m->rcpts[i], m->redirect);
                route(m, &m->rcpts[i], &rt);
            }
        }
    strbuf_release(&rt.transport);
    strbuf_release(&rt.nexthop);
    strbuf_release(&err);
    m->outstanding--;
    if (m->outstanding == 0) {
        qmgr_message_outcome(m, NULL, QR_DONE, NULL, NULL);
        return 0; /* finished and freed; qmgr_message_finished made room */
    }
    return 1;
}

/* ---- finishing --------------------------------------------------------- */

/* defer/<id>: this pass's deferred recipients, in the bounce-log format. */
static void write_defer_log(struct qmgr_message *m)
{
    struct bounce_log_entry *e = xcalloc(m->nrcpt ? m->nrcpt : 1, sizeof(*e));
    char(*num)[2][32] = xcalloc(m->nrcpt ? m->nrcpt : 1, sizeof(*num));
    size_t n = 0;
    for (size_t i = 0; i < m->nrcpt; i++) {
        struct qmgr_rcpt *r = &m->rcpts[i];
        if (r->state != QR_DEFERRED)
            continue;
        snprintf(num[n][0], sizeof(num[n][0]), "%lld", (long long)r->offset);
        if (r->notify)
            snprintf(num[n][1], sizeof(num[n][1]), "%d", r->notify);
        e[n] = (struct bounce_log_entry){
            .recipient = r->address,
            .orig_recipient = r->orig_rcpt,
            .offset = num[n][0],
            .dsn_orig_rcpt = r->orcpt,
            .dsn_notify = num[n][1],
            .status = r->dsn ? r->dsn : "4.0.0",
            .action = "delayed",
            .reason = r->reason ? r->reason : "unknown",
        };
        n++;
    }
    strbuf err = STRBUF_INIT;
    if (bounce_log_replace(qmgr_cfg.queue_directory, BOUNCE_LOG_DEFER, m->id, e, n, &err) < 0)
        msg_warn("%s: cannot write defer log: %s", m->id, err.s);
    strbuf_release(&err);
    free(num);
    free(e);
}

static void remove_defer_log(const char *id)
{
    if (bounce_log_remove(qmgr_cfg.queue_directory, BOUNCE_LOG_DEFER, id) < 0)
        msg_warn("%s: remove defer log: %m", id);
}

/* sendmail -bv: every recipient has a verdict in this one pass (Postfix
 * reports deferrals as undeliverable too); mail the report, then the probe
 * is gone. Only when the report cannot be queued does it wait in deferred/
 * and run again from the start (nothing was marked). */
/* The absolute path of an active file (hashed per active_depth). */
static void active_path(strbuf *out, const char *id)
{
    strbuf rel = STRBUF_INIT;
    if (mail_queue_path(&rel, "active", id) < 0)
        msg_panic("bad queue id %s", id);
    strbuf_reset(out);
    strbuf_printf(out, "%s/%s", qmgr_cfg.queue_directory, rel.s);
    strbuf_release(&rel);
}

static void finish_verify(struct qmgr_message *m)
{
    const char *qdir = qmgr_cfg.queue_directory;
    strbuf err = STRBUF_INIT;
    bool sent = qmgr_verify_report(m) == 0;
    if (bounce_log_remove(qdir, BOUNCE_LOG_TRACE, m->id) < 0)
        msg_warn("%s: remove trace log: %m", m->id);
    if (sent) {
        active_path(&err, m->id);
        if (unlink(err.s) < 0)
            msg_warn("%s: remove %s: %m", m->id, err.s);
        else
            msg_info("%s: removed", m->id);
        close(m->fd);
        m->fd = -1;
    } else {
        time_t next = time(NULL) + qmgr_cfg.min_backoff;
        struct timespec ts[2] = {{.tv_sec = next}, {.tv_sec = next}};
        if (futimens(m->fd, ts) < 0)
            msg_warn("%s: cannot set the next attempt time: %m", m->id);
        close(m->fd);
        m->fd = -1;
        if (queue_file_move(qdir, m->id, "active", qmgr_cfg.active_depth, "deferred",
                            qmgr_cfg.deferred_depth, false, &err) < 0)
            msg_warn("%s: cannot move to deferred: %s", m->id, err.s);
    }
    strbuf_release(&err);
    qmgr_message_finished(m);
}

static void finish(struct qmgr_message *m)
{
    const char *qdir = qmgr_cfg.queue_directory;
    if (m->flags & QF_FLAG_VERIFY) {
        finish_verify(m);
        return;
    }
    time_t now = time(NULL);
    size_t deferred = 0, bounced = 0;
    for (size_t i = 0; i < m->nrcpt; i++) {
        deferred += m->rcpts[i].state == QR_DEFERRED;
        bounced += m->rcpts[i].state == QR_BOUNCED;
    }

    long long lifetime = *m->sender ? qmgr_cfg.max_queue_lifetime : qmgr_cfg.bounce_queue_lifetime;
    if (deferred && now >= m->arrival.tv_sec + lifetime) {
        msg_info("%s: from=<%s>, status=expired, returned to sender", m->id, m->sender);
        for (size_t i = 0; i < m->nrcpt; i++)
            if (m->rcpts[i].state == QR_DEFERRED) {
                m->rcpts[i].state = QR_BOUNCED;
                bounced++;
                deferred--;
            }
    }

    if (bounced) {
        if (qmgr_bounce_notify(m, DSN_FAILURE) == 0) {
            strbuf err = STRBUF_INIT;
            for (size_t i = 0; i < m->nrcpt; i++)
                if (m->rcpts[i].state == QR_BOUNCED &&
                    queue_file_mark_recipient(m->fd, m->rcpts[i].offset, QF_RCPT_BOUNCED, &err) < 0)
                    msg_warn("%s: cannot mark recipient bounced: %s", m->id, err.s);
            strbuf_release(&err);
        } else {
            /* The notice is not safe yet: keep them to do, try again later. */
            for (size_t i = 0; i < m->nrcpt; i++)
                if (m->rcpts[i].state == QR_BOUNCED) {
                    struct qmgr_rcpt *r = &m->rcpts[i];
                    free(r->reason);
                    r->reason = xstrdup("cannot queue the non-delivery notification");
                    free(r->dsn);
                    r->dsn = xstrdup("4.3.0");
                    r->state = QR_DEFERRED;
                    deferred++;
                }
        }
    }

    strbuf err = STRBUF_INIT;
    if (deferred) {
        if (qmgr_cfg.delay_warning_time > 0 && m->warn_time == 0 &&
            now >= m->arrival.tv_sec + qmgr_cfg.delay_warning_time) {
            /* One delay notice per message; the warn time records it. */
            if (qmgr_bounce_notify(m, DSN_DELAY) == 0 &&
                queue_file_set_warn_time(m->fd, (uint64_t)now, &err) < 0)
                msg_warn("%s: cannot record the delay warning: %s", m->id, err.s);
        }
        write_defer_log(m);
        long long delay = now - m->arrival.tv_sec;
        if (delay < qmgr_cfg.min_backoff)
            delay = qmgr_cfg.min_backoff;
        if (delay > qmgr_cfg.max_backoff)
            delay = qmgr_cfg.max_backoff;
        struct timespec ts[2] = {{.tv_sec = now + delay}, {.tv_sec = now + delay}};
        if (futimens(m->fd, ts) < 0)
            msg_warn("%s: cannot set the next attempt time: %m", m->id);
        close(m->fd);
        m->fd = -1;
        if (queue_file_move(qdir, m->id, "active", qmgr_cfg.active_depth, "deferred",
                            qmgr_cfg.deferred_depth, false, &err) < 0)
            msg_warn("%s: cannot move to deferred: %s", m->id, err.s);
    } else {
        close(m->fd);
        m->fd = -1;
        strbuf path = STRBUF_INIT;
        active_path(&path, m->id);
        if (unlink(path.s) < 0)
            msg_warn("%s: remove %s: %m", m->id, path.s);
        else
            msg_info("%s: removed", m->id);
        strbuf_release(&path);
        remove_defer_log(m->id);
    }
    strbuf_release(&err);
    qmgr_message_finished(m);
}

void qmgr_message_outcome(struct qmgr_message *m, struct qmgr_rcpt *r, enum qmgr_rcpt_state st,
                          const char *dsn, const char *reason)
{
    if (r) {
        if (r->state != QR_PENDING)
            msg_panic("%s: outcome for a recipient that is not pending", m->id);
        r->state = st;
        free(r->dsn);
        free(r->reason);
        r->dsn = dsn ? xstrdup(dsn) : NULL;
        r->reason = reason ? xstrdup(reason) : NULL;
        if (m->outstanding == 0)
            msg_panic("%s: outstanding count underflow", m->id);
        m->outstanding--;
    }
    if (m->outstanding == 0)
        finish(m);
}
