/* qmgr_deliver - scheduling recipients onto delivery agents.
 *
 * Recipients are queued per transport and destination. A destination is the
 * nexthop, or the recipient's local part without its extension @ nexthop
 * when the transport takes one recipient per request
 * (<transport>_destination_recipient_limit = 1, e.g. local), so that
 * local_destination_concurrency_limit is per user as in Postfix
 * (qmgr_queue_name.h).
 * Consecutive recipients of one message for one destination share a request
 * up to the recipient limit.
 *
 * Batches: a transport with <transport>_destination_batch_limit K > 1 (our
 * extension; local_destination_batch_limit, default 8) and one recipient
 * per request gets up to K waiting requests of the same destination (for
 * local: the same user) in one delivery request (deliver_request.h), so
 * local(8) can fsync the Maildir's new/ once for all of them. The batch is
 * one delivery for the limits and the feedback below, so the per-user
 * concurrency limit still holds. Verify requests are never batched.
 *
 * Limits: a transport runs at most its master.cf maxproc requests at once
 * ($default_process_limit for "-" or 0), a destination at most
 * <transport>_destination_concurrency_limit (default
 * $default_destination_concurrency_limit). Destinations with work take turns
 * (round robin) for the transport's free slots.
 *
 * One delivery = one connection to private/<transport>, driven without
 * blocking on the event loop: non-blocking connect, request written as the
 * socket accepts it, reply read as it arrives and decoded when complete, all
 * under one deadline. A transport whose socket is missing or refuses
 * connections is "dead" for $transport_retry_time (or until an 'F' trigger):
 * its recipients are deferred at once ("mail transport unavailable") and
 * nothing else waits for it.
 *
 * Within those limits each destination has a concurrency window driven by
 * delivery feedback (qmgr_feedback.h): it grows with deliveries that reach
 * the destination and shrinks with those that could not (the agent's
 * site_failure); after too many failed cohorts the destination is dead for
 * $minimal_backoff_time (Postfix's choice, qmgr_queue.c): its mail is
 * deferred at once with "delivery temporarily suspended: <reason>" while
 * other destinations keep flowing. With <transport>_destination_rate_delay
 * a destination gets one delivery at a time and a pause after each.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "attr.h"
#include "config.h"
#include "master_cf.h"
#include "mem.h"
#include "msg.h"
#include "qmgr.h"
#include "qmgr_queue_name.h"
#include "qmgr_feedback.h"
#include "sock.h"
#include "stream.h"

#define DEST_HASH_SIZE 1024
#define BUSY_RETRY_MS 20 /* a full listen backlog: try again soon */

struct entry {
    struct qmgr_message *m;
    struct qmgr_rcpt **rcpts;
    size_t n, cap;
    struct entry *next;
};

struct transport;

struct dest {
    char *key;
    char *nexthop;
    struct transport *t;
    struct entry *head, *tail; /* waiting requests */
    int in_flight;
    bool ready; /* on the transport's round-robin list */
    struct qmgr_window w;
    /* A timer holds the destination: the end of its dead time, or of the
     * pause after a delivery when rate-limited (suspended). */
    uint64_t timer;
    bool suspended;
    bool forget;    /* the damaged window's memory timer ran out */
    char *dead_dsn; /* while dead: why, for the deferrals */
    strbuf dead_reason;
    struct dest *rnext, *hnext;
};

struct transport {
    char *name;
    int proc_limit, dest_limit, rcpt_limit;
    int batch_limit; /* requests per delivery (1: no batching) */
    int in_flight;
    int64_t dead_until_ms;
    struct qmgr_sched_params sp;
    struct dest *rhead, *rtail;
    struct dest *hash[DEST_HASH_SIZE];
    struct transport *next;
};

struct delivery {
    int fd;
    struct transport *t;
    struct dest *d;
    struct entry *e; /* the batch: a list through e->next */
    strbuf wbuf, rbuf;
    size_t woff;
    uint64_t timer;
};

static struct transport *transports;
static master_cf *mcf;
static size_t in_flight_total;
static bool busy_timer_pending;

size_t qmgr_deliver_in_flight(void)
{
    return in_flight_total;
}

void qmgr_deliver_init(void)
{
    strbuf path = STRBUF_INIT, err = STRBUF_INIT;
    strbuf_printf(&path, "%s/master.cf", config_directory());
    if (master_cf_load(path.s, &mcf, &err) < 0) {
        msg_warn("%s; using $default_process_limit for every transport", err.s);
        mcf = NULL;
    } else {
        /* <transport>_destination_concurrency_limit and friends get their
         * per-service defaults ($default_destination_concurrency_limit). */
        master_cf_register_config(mcf);
    }
    strbuf_release(&path);
    strbuf_release(&err);
}

bool qmgr_deliver_has_agent(const char *transport)
{
    return mcf && master_cf_find(mcf, transport, MASTER_CF_UNIX) != NULL;
}

static int int_param(const char *transport, const char *suffix, const char *fallback)
{
    strbuf name = STRBUF_INIT;
    strbuf_printf(&name, "%s_%s", transport, suffix);
    /* A transport not in master.cf has no such parameter: use the
     * default_ one. A malformed value is fatal, naming file and line. */
    long long v = config_is_defined(name.s) && *config_get(name.s) ? config_get_int(name.s)
                                                                   : config_get_int(fallback);
    strbuf_release(&name);
    if (v < 1)
        v = 1;
    return v > 100000 ? 100000 : (int)v;
}

/* Master.cf entry `me`'s -o override of main.cf parameter `param`, or
 * NULL. */
static const char *entry_override(const struct master_cf_entry *me, const char *param)
{
    size_t len = strlen(param);
    const char *value = NULL;
    for (size_t i = 0; me && i < me->overrides.n; i++)
        if (strncmp(me->overrides.v[i], param, len) == 0 && me->overrides.v[i][len] == '=')
            value = me->overrides.v[i] + len + 1;
    return value;
}

/* Boolean and integer `param` as the agent of entry `me` sees it: its -o
 * override (a malformed one is warned about and ignored), else main.cf. */
static bool entry_bool(const struct master_cf_entry *me, const char *param)
{
    const char *o = entry_override(me, param);
    bool v;
    if (o && config_parse_bool(o, &v) == 0)
        return v;
    if (o)
        msg_warn("master.cf service %s: -o %s=%s: not a boolean; using main.cf's", me->service,
                 param, o);
    return config_get_bool(param);
}

static long long entry_int(const struct master_cf_entry *me, const char *param)
{
    const char *o = entry_override(me, param);
    long long v;
    if (o && config_parse_int(o, &v) == 0)
        return v;
    if (o)
        msg_warn("master.cf service %s: -o %s=%s: not a number; using main.cf's", me->service,
                 param, o);
    return config_get_int(param);
}

/* Messages per delivery request. local: <transport>_destination_batch_limit
 * (our extension; only with one recipient per delivery), the messages of
 * one user made durable together. The smtp and lmtp agents, with
 * <agent>_connection_cache_on_demand (Postfix: reuse a connection while a
 * destination has a backlog): the messages waiting for the next hop when
 * a delivery starts go over one connection, at most
 * <agent>_connection_reuse_count_limit (0: no limit) of them. Only a
 * backlog makes a batch: a delivery starts as soon as a message is ready
 * and the destination's concurrency allows, so parallel connections come
 * first. */
static int batch_limit(const char *transport, const struct master_cf_entry *me, int rcpt_limit)
{
    const char *agent = me && me->argv.n ? me->argv.v[0] : "";
    const char *base = strrchr(agent, '/');
    agent = base ? base + 1 : agent;
    if (strcmp(agent, "smtp") == 0 || strcmp(agent, "lmtp") == 0) {
        /* -o smtp_connection_cache_on_demand=no on an lmtp entry is not
         * what it reads: the agent's own prefix (and lmtp runs as smtp
         * with -t lmtp or as a service named lmtp). */
        bool lmtp = strcmp(agent, "lmtp") == 0 || strcmp(transport, "lmtp") == 0;
        bool cache = entry_bool(me, lmtp ? "lmtp_connection_cache_on_demand"
                                         : "smtp_connection_cache_on_demand");
        long long count = entry_int(me, lmtp ? "lmtp_connection_reuse_count_limit"
                                             : "smtp_connection_reuse_count_limit");
        if (!cache)
            return 1;
        return count > 0 && count < DELIVER_BATCH_MAX ? (int)count : DELIVER_BATCH_MAX;
    }
    strbuf name = STRBUF_INIT;
    strbuf_printf(&name, "%s_destination_batch_limit", transport);
    int limit = config_is_defined(name.s) && *config_get(name.s) && rcpt_limit == 1
                    ? (int)config_get_int(name.s)
                    : 1;
    strbuf_release(&name);
    return limit;
}

static struct transport *transport_find(const char *name)
{
    for (struct transport *t = transports; t; t = t->next)
        if (strcmp(t->name, name) == 0)
            return t;
    struct transport *t = xcalloc(1, sizeof(*t));
    t->name = xstrdup(name);
    t->proc_limit = qmgr_cfg.default_process_limit;
    const struct master_cf_entry *me = mcf ? master_cf_find(mcf, name, MASTER_CF_UNIX) : NULL;
    if (me && me->maxproc > 0)
        t->proc_limit = me->maxproc;
    t->dest_limit =
        int_param(name, "destination_concurrency_limit", "default_destination_concurrency_limit");
    t->rcpt_limit =
        int_param(name, "destination_recipient_limit", "default_destination_recipient_limit");
    qmgr_sched_params_load(&t->sp, name, t->dest_limit);
    /* A rate delay spaces messages: a batch would send them together. */
    t->batch_limit = t->sp.rate_delay_ms > 0 ? 1 : batch_limit(name, me, t->rcpt_limit);
    if (t->batch_limit < 1)
        t->batch_limit = 1;
    if (t->batch_limit > DELIVER_BATCH_MAX)
        t->batch_limit = DELIVER_BATCH_MAX;
    t->next = transports;
    transports = t;
    return t;
}

static unsigned hash_key(const char *s)
{
    unsigned h = 5381;
    for (; *s; s++)
        h = h * 33 + (unsigned char)*s;
    return h % DEST_HASH_SIZE;
}

static struct dest *dest_find(struct transport *t, const char *key, const char *nexthop)
{
    unsigned h = hash_key(key);
    for (struct dest *d = t->hash[h]; d; d = d->hnext)
        if (strcmp(d->key, key) == 0)
            return d;
    struct dest *d = xcalloc(1, sizeof(*d));
    d->key = xstrdup(key);
    d->nexthop = xstrdup(nexthop);
    d->t = t;
    qmgr_window_init(&d->w, &t->sp);
    d->hnext = t->hash[h];
    t->hash[h] = d;
    return d;
}

static void dest_timer(event_loop *loop, void *ctx);

/* Failed deliveries narrowed the window or count toward a dead cohort. */
static bool dest_damaged(const struct dest *d)
{
    return d->w.window < d->t->sp.init || d->w.fail_cohorts > 0;
}

/* Free a destination with nothing waiting and nothing in flight. */
static void dest_maybe_free(struct dest *d)
{
    if (d->head || d->in_flight || d->ready || d->timer)
        return;
    if (dest_damaged(d) && !d->forget) {
        /* Postfix forgets an idle destination's window at once, so a down
         * site that gets one message at a time costs a connection per
         * message and is never found dead. Remember a damaged window for
         * $transport_retry_time instead (bounded: then it is freed). */
        d->timer = event_timer_add(qmgr_loop, qmgr_cfg.transport_retry_time * 1000, dest_timer, d);
        return;
    }
    struct dest **pp = &d->t->hash[hash_key(d->key)];
    while (*pp != d)
        pp = &(*pp)->hnext;
    *pp = d->hnext;
    free(d->key);
    free(d->nexthop);
    free(d->dead_dsn);
    strbuf_release(&d->dead_reason);
    free(d);
}

static void ready_push(struct dest *d)
{
    struct transport *t = d->t;
    if (d->ready || !d->head)
        return;
    /* A dead destination is ready whenever it has mail: to defer it. */
    if (!qmgr_window_dead(&d->w) &&
        (d->suspended || d->in_flight >= qmgr_window_allowed(&d->w, &t->sp)))
        return;
    d->ready = true;
    d->rnext = NULL;
    if (t->rtail)
        t->rtail->rnext = d;
    else
        t->rhead = d;
    t->rtail = d;
}

static struct dest *ready_pop(struct transport *t)
{
    struct dest *d = t->rhead;
    if (d) {
        t->rhead = d->rnext;
        if (!t->rhead)
            t->rtail = NULL;
        d->ready = false;
        d->rnext = NULL;
    }
    return d;
}

void qmgr_deliver_enqueue(struct qmgr_message *m, struct qmgr_rcpt *r, const char *transport,
                          const char *nexthop)
{
    struct transport *t = transport_find(transport);
    strbuf key = STRBUF_INIT;
    qmgr_queue_name(&key, r->address, nexthop, qmgr_cfg.recipient_delimiter, t->rcpt_limit == 1);
    struct dest *d = dest_find(t, key.s, nexthop);
    strbuf_release(&key);
    struct entry *e = d->tail;
    if (!e || e->m != m || e->n >= (size_t)t->rcpt_limit) {
        e = xcalloc(1, sizeof(*e));
        e->m = m;
        if (d->tail)
            d->tail->next = e;
        else
            d->head = e;
        d->tail = e;
    }
    if (e->n == e->cap) {
        e->cap = e->cap ? 2 * e->cap : 1;
        e->rcpts = xreallocarray(e->rcpts, e->cap, sizeof(*e->rcpts));
    }
    e->rcpts[e->n++] = r;
    ready_push(d);
}

static struct entry *dest_take(struct dest *d)
{
    struct entry *e = d->head;
    d->head = e->next;
    if (!d->head)
        d->tail = NULL;
    e->next = NULL;
    return e;
}

/* The next delivery's requests: the first waiting one and, up to the
 * transport's batch limit, those behind it (none in verify mode). Parallel
 * deliveries come first: what waits is shared out over the deliveries the
 * destination and the transport could still start now, so a backlog
 * fills every free slot rather than the first one. */
static struct entry *dest_take_batch(struct dest *d)
{
    struct transport *t = d->t;
    struct entry *first = dest_take(d), *last = first;
    if (first->m->flags & QF_FLAG_VERIFY || t->batch_limit <= 1)
        return first;
    int free_dest = qmgr_window_allowed(&d->w, &t->sp) - d->in_flight;
    int free_proc = t->proc_limit - t->in_flight;
    int slots = free_dest < free_proc ? free_dest : free_proc;
    if (slots < 1)
        slots = 1;
    /* Count what waits, as far as it could matter. */
    long waiting = 1, cap = (long)t->batch_limit * slots;
    for (struct entry *x = d->head; x && waiting < cap; x = x->next)
        waiting++;
    long share = (waiting + slots - 1) / slots;
    int n_max = share < t->batch_limit ? (int)share : t->batch_limit;
    for (int n = 1; n < n_max && d->head && !(d->head->m->flags & QF_FLAG_VERIFY); n++) {
        last->next = dest_take(d);
        last = last->next;
    }
    return first;
}

static void entry_free(struct entry **ep)
{
    free((*ep)->rcpts);
    XFREE(*ep);
}

/* Free the entry but keep its recipients (returned, with their message and
 * count): outcomes come after, because the last one may finish and free
 * the message. */
static struct qmgr_rcpt **entry_release(struct entry *e, struct qmgr_message **m, size_t *n)
{
    struct qmgr_rcpt **rcpts = e->rcpts;
    *m = e->m;
    *n = e->n;
    e->rcpts = NULL;
    entry_free(&e);
    return rcpts;
}

/* Every recipient of the entry gets the same qmgr-made outcome. */
static void entry_defer(struct entry *e, const char *dsn, const char *reason)
{
    struct qmgr_message *m;
    size_t n;
    struct qmgr_rcpt **rcpts = entry_release(e, &m, &n);
    for (size_t i = 0; i < n; i++) {
        qmgr_log_outcome(m, rcpts[i], "deferred", dsn, reason);
        qmgr_message_outcome(m, rcpts[i], QR_DEFERRED, dsn, reason);
    }
    free(rcpts);
}

/* A dead transport: defer everything waiting for it. */
static void transport_defer_all(struct transport *t)
{
    struct dest *d;
    while ((d = ready_pop(t)) != NULL) {
        while (d->head) {
            struct entry *e = dest_take(d);
            entry_defer(e, "4.3.0", "mail transport unavailable");
        }
        dest_maybe_free(d);
    }
}

/* A dead destination: defer what waits for it without connecting, with
 * Postfix's wording. */
static void dest_defer_todo(struct dest *d)
{
    strbuf reason = STRBUF_INIT;
    strbuf_printf(&reason, "delivery temporarily suspended: %s", d->dead_reason.s);
    while (d->head) {
        struct entry *e = dest_take(d);
        entry_defer(e, d->dead_dsn, reason.s);
    }
    strbuf_release(&reason);
}

/* ---- per-destination feedback ------------------------------------------ */

static void dispatch(struct transport *t);

static void dest_timer(event_loop *loop, void *ctx)
{
    struct dest *d = ctx;
    struct transport *t = d->t;
    d->timer = 0;
    if (qmgr_window_dead(&d->w)) {
        msg_info("%s: resuming delivery to %s after %llds", t->name, d->key,
                 (long long)qmgr_cfg.min_backoff);
        qmgr_window_revive(&d->w, &t->sp, d->in_flight, d->key);
    } else if (!d->suspended) {
        d->forget = true; /* only an idle destination gets here freed */
    }
    d->suspended = false;
    ready_push(d);
    if (!d->forget || d->head || d->in_flight || d->ready)
        d->forget = false; /* in use again: keep the window */
    dest_maybe_free(d);    /* frees a forgotten one; d is gone then */
    dispatch(t);
}

static void dest_hold(struct dest *d, int64_t ms)
{
    if (d->timer)
        event_timer_cancel(qmgr_loop, d->timer);
    d->timer = event_timer_add(qmgr_loop, ms, dest_timer, d);
}

/* Feed one completed delivery into d's window. `site_failure`: the agent
 * could not reach the destination at all (reason/dsn: what it said). */
static void dest_feedback(struct dest *d, bool site_failure, const char *dsn, const char *reason)
{
    struct transport *t = d->t;
    if (!site_failure) {
        qmgr_window_success(&d->w, &t->sp, d->in_flight, d->key);
    } else if (qmgr_window_failure(&d->w, &t->sp, d->key)) {
        free(d->dead_dsn);
        d->dead_dsn = xstrdup(dsn && *dsn == '4' ? dsn : "4.4.1");
        strbuf_set(&d->dead_reason, reason);
        if (t->sp.rate_delay_ms <= 0) {
            msg_info("%s: destination %s is dead for %llds: %s", t->name, d->key,
                     (long long)qmgr_cfg.min_backoff, reason);
            dest_hold(d, qmgr_cfg.min_backoff * 1000);
        }
        dest_defer_todo(d);
    }
    if (t->sp.rate_delay_ms > 0) {
        /* As Postfix: a rate-limited destination does not stay dead; it
         * pauses like after any delivery and then tries again. */
        if (qmgr_window_dead(&d->w))
            qmgr_window_revive(&d->w, &t->sp, d->in_flight, d->key);
        d->suspended = true;
        dest_hold(d, t->sp.rate_delay_ms);
    }
}

/* ---- one delivery ------------------------------------------------------ */

/* Outcomes of one request (entry) of a delivery (see entry_release). */
static void entry_outcomes(struct entry *e, struct deliver_request *req, const char *failure)
{
    struct qmgr_message *m;
    size_t n;
    struct qmgr_rcpt **rcpts = entry_release(e, &m, &n);
    for (size_t i = 0; i < n; i++) {
        struct deliver_rcpt *rc = &req->rcpts[i];
        enum qmgr_rcpt_state st = QR_DEFERRED;
        const char *dsn = rc->dsn ? rc->dsn : "4.3.0";
        const char *reason = rc->reason.len ? rc->reason.s : "unknown mail transport error";
        if (failure || rc->status == DELIVER_PENDING) {
            /* The agent said nothing (it died, or a broken reply): the
             * recipient may be delivered and marked already; qmgr reads the
             * mark next time and never repeats it. */
            reason = failure ? failure : "unknown mail transport error";
            dsn = "4.3.0";
            qmgr_log_outcome(m, rcpts[i], "deferred", dsn, reason);
        } else if (rc->status == DELIVER_SENT) {
            st = QR_SENT;
        } else if (rc->status == DELIVER_BOUNCED) {
            st = QR_BOUNCED;
        }
        qmgr_message_outcome(m, rcpts[i], st, dsn, reason);
    }
    free(rcpts);
}

static bool batch_message_untouched(const struct deliver_request *msg)
{
    for (size_t i = 0; i < msg->nrcpt; i++)
        if (msg->rcpts[i].status != DELIVER_PENDING)
            return false;
    return msg->nrcpt > 0;
}

static void delivery_end(struct delivery *dv, const attr_list *reply, const char *failure)
{
    struct transport *t = dv->t;
    struct dest *d = dv->d;
    struct entry *e = dv->e;
    event_unwatch(qmgr_loop, dv->fd);
    close(dv->fd);
    if (dv->timer)
        event_timer_cancel(qmgr_loop, dv->timer);
    strbuf_release(&dv->wbuf);
    strbuf_release(&dv->rbuf);
    free(dv);
    t->in_flight--;
    d->in_flight--;
    in_flight_total--;

    /* Outcomes. The request copy carries the reply (message j of the batch
     * is the j-th entry); pointers into the messages stay valid until
     * their last recipient's outcome. */
    struct deliver_request req = {0};
    strbuf err = STRBUF_INIT;
    for (size_t i = 0; i < e->n; i++)
        deliver_request_add_rcpt(&req, "", "", "", 0, 0);
    for (struct entry *x = e->next; x; x = x->next)
        req.nbatch++;
    if (req.nbatch) {
        req.batch = xcalloc(req.nbatch, sizeof(*req.batch));
        size_t j = 0;
        for (struct entry *x = e->next; x; x = x->next, j++)
            for (size_t i = 0; i < x->n; i++)
                deliver_request_add_rcpt(&req.batch[j], "", "", "", 0, 0);
    }
    if (!failure && deliver_reply_apply(reply, &req, &err) < 0) {
        msg_warn("malformed reply from transport %s: %s", t->name, err.s);
        failure = "unknown mail transport error";
    }
    /* An agent that died or timed out says nothing about the destination
     * (the transport's trouble); everything else is feedback. Before the
     * outcomes: a destination declared dead defers its waiting mail now. */
    if (!failure) {
        bool site = req.site_failure && req.nrcpt > 0;
        dest_feedback(d, site, site ? req.rcpts[0].dsn : NULL,
                      site && req.rcpts[0].reason.len ? req.rcpts[0].reason.s
                                                      : "unknown mail transport error");
    }
    /* A batch message the agent left untouched (no recipient with an
     * outcome) was not attempted: the agent stopped after the destination
     * failed. Back to the front of the queue, in order, where the
     * feedback above decides its fate (a dead destination defers it
     * without a connection). Message 0 always gets outcomes. */
    struct entry **rest = xcalloc(req.nbatch + 1, sizeof(*rest));
    bool *back = xcalloc(req.nbatch + 1, sizeof(*back));
    size_t j = 0;
    for (struct entry *x = e->next; x; x = x->next, j++) {
        rest[j] = x;
        back[j] = !failure && batch_message_untouched(&req.batch[j]);
    }
    e->next = NULL;
    for (size_t k = req.nbatch; k-- > 0;) {
        rest[k]->next = NULL;
        if (back[k]) {
            rest[k]->next = d->head;
            d->head = rest[k];
            if (!d->tail)
                d->tail = rest[k];
        }
    }
    ready_push(d);
    /* Start the next delivery before the bookkeeping of this one: the
     * outcomes of a batch mean up to 8 queue-file removals, and the agent
     * that just answered would wait for them. */
    dispatch(t);
    entry_outcomes(e, &req, failure);
    for (size_t k = 0; k < req.nbatch; k++)
        if (!back[k])
            entry_outcomes(rest[k], &req.batch[k], failure);
    free(rest);
    free(back);
    deliver_request_release(&req);
    strbuf_release(&err);
    dest_maybe_free(d);
    dispatch(t);
    qmgr_drain_check();
}

static void on_timeout(event_loop *loop, void *ctx)
{
    struct delivery *dv = ctx;
    dv->timer = 0;
    msg_warn("delivery agent %s: no reply within %llds", dv->t->name,
             (long long)qmgr_cfg.agent_timeout);
    delivery_end(dv, NULL, "delivery agent timed out");
}

static void on_io(event_loop *loop, int fd, unsigned events, void *ctx)
{
    struct delivery *dv = ctx;
    if (dv->woff < dv->wbuf.len) {
        ssize_t n = write(fd, dv->wbuf.s + dv->woff, dv->wbuf.len - dv->woff);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        if (n < 0) {
            msg_warn("write to transport %s: %m", dv->t->name);
            delivery_end(dv, NULL, "unknown mail transport error");
            return;
        }
        dv->woff += (size_t)n;
        if (dv->woff == dv->wbuf.len)
            event_watch(qmgr_loop, fd, EVENT_READ, on_io, dv);
        return;
    }
    char buf[4096];
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        if (n < 0)
            msg_warn("read from transport %s: %m", dv->t->name);
        delivery_end(dv, NULL, "unknown mail transport error");
        return;
    }
    strbuf_append(&dv->rbuf, buf, (size_t)n);
    attr_list reply = ATTR_LIST_INIT;
    strbuf err = STRBUF_INIT;
    int rc = attr_decode(dv->rbuf.s, dv->rbuf.len, &deliver_request_limits, &reply, NULL, &err);
    if (rc == ATTR_OK) {
        delivery_end(dv, &reply, NULL);
    } else if (rc != ATTR_TRUNCATED) {
        msg_warn("bad reply from transport %s: %s", dv->t->name, err.s);
        delivery_end(dv, NULL, "unknown mail transport error");
    }
    attr_list_release(&reply);
    strbuf_release(&err);
}

static void busy_retry(event_loop *loop, void *ctx)
{
    busy_timer_pending = false;
    qmgr_deliver_kick();
}

/* Connect without blocking: the fd, -1 for "busy, try again soon", -2 for
 * "transport unavailable" (reason in err). */
static int agent_connect(struct transport *t, strbuf *err)
{
    strbuf name = STRBUF_INIT, path = STRBUF_INIT;
    strbuf_printf(&name, "private/%s", t->name);
    int fd = -2;
    if (sock_unix_path(qmgr_cfg.queue_directory, name.s, &path, err) < 0)
        goto out;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    memcpy(sa.sun_path, path.s, path.len + 1);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        msg_fatal("socket: %m");
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 || errno == EINPROGRESS)
        goto out;
    int saved = errno;
    close(fd);
    if (saved == EAGAIN || saved == EINTR) {
        fd = -1;
    } else {
        strbuf_printf(err, "connect to transport %s: %s", name.s, strerror(saved));
        fd = -2;
    }
out:
    strbuf_release(&name);
    strbuf_release(&path);
    return fd;
}

/* The request for one entry (the message's strings are borrowed). */
static void entry_request(const struct dest *d, const struct entry *e, struct deliver_request *req)
{
    struct qmgr_message *m = e->m;
    *req = (struct deliver_request){
        .queue_name = "active",
        .queue_id = m->id,
        .nexthop = d->nexthop,
        .sender = m->sender,
        .envid = m->envid,
        .ret = m->ret,
        .arrival_us = (int64_t)m->arrival.tv_sec * 1000000 + m->arrival.tv_usec,
        .active_us = m->active_us,
        .flags = (int64_t)m->flags,
    };
    struct deliver_request copy = {0};
    for (size_t i = 0; i < e->n; i++) {
        struct qmgr_rcpt *r = e->rcpts[i];
        deliver_request_add_rcpt(&copy, r->address, r->orig_rcpt, r->orcpt, r->notify, r->offset);
    }
    req->rcpts = copy.rcpts;
    req->nrcpt = copy.nrcpt;
}

static void entry_request_release(struct deliver_request *req)
{
    struct deliver_request copy = {.rcpts = req->rcpts, .nrcpt = req->nrcpt};
    deliver_request_release(&copy);
}

static void start(struct transport *t, struct dest *d, struct entry *e, int fd)
{
    struct deliver_request req;
    entry_request(d, e, &req);
    for (struct entry *x = e->next; x; x = x->next)
        req.nbatch++;
    if (req.nbatch) {
        req.batch = xcalloc(req.nbatch, sizeof(*req.batch));
        size_t j = 0;
        for (struct entry *x = e->next; x; x = x->next)
            entry_request(d, x, &req.batch[j++]);
    }
    attr_list al = ATTR_LIST_INIT;
    deliver_request_encode(&req, &al);
    entry_request_release(&req);
    for (size_t j = 0; j < req.nbatch; j++)
        entry_request_release(&req.batch[j]);
    free(req.batch);

    struct delivery *dv = xcalloc(1, sizeof(*dv));
    dv->fd = fd;
    dv->t = t;
    dv->d = d;
    dv->e = e;
    attr_encode(&al, &dv->wbuf);
    attr_list_release(&al);
    t->in_flight++;
    d->in_flight++;
    in_flight_total++;
    dv->timer = event_timer_add(qmgr_loop, qmgr_cfg.agent_timeout * 1000, on_timeout, dv);
    event_watch(qmgr_loop, fd, EVENT_WRITE, on_io, dv);
}

static void dispatch(struct transport *t)
{
    /* A draining qmgr starts nothing: what waits stays in active/ for the
     * next qmgr, which moves it back to incoming/ (qmgr.c). */
    if (qmgr_draining())
        return;
    if (t->dead_until_ms && stream_now_ms() < t->dead_until_ms) {
        transport_defer_all(t);
        return;
    }
    t->dead_until_ms = 0;
    while (t->in_flight < t->proc_limit) {
        struct dest *d = ready_pop(t);
        if (!d)
            return;
        if (qmgr_window_dead(&d->w)) {
            dest_defer_todo(d);
            dest_maybe_free(d);
            continue;
        }
        /* Feedback since it was queued may have emptied, paused or
         * narrowed it; completions and its timer queue it again. */
        if (!d->head || d->suspended || d->in_flight >= qmgr_window_allowed(&d->w, &t->sp)) {
            dest_maybe_free(d);
            continue;
        }
        strbuf err = STRBUF_INIT;
        int fd = agent_connect(t, &err);
        if (fd == -1) {
            /* Backlog full: master is starting agents. Keep our place. */
            ready_push(d);
            if (!busy_timer_pending) {
                busy_timer_pending = true;
                event_timer_add(qmgr_loop, BUSY_RETRY_MS, busy_retry, NULL);
            }
            strbuf_release(&err);
            return;
        }
        if (fd == -2) {
            msg_warn("%s", err.s);
            strbuf_release(&err);
            t->dead_until_ms = stream_now_ms() + qmgr_cfg.transport_retry_time * 1000;
            ready_push(d);
            transport_defer_all(t);
            return;
        }
        strbuf_release(&err);
        start(t, d, dest_take_batch(d), fd);
        ready_push(d); /* to the back: the others take their turn */
    }
}

void qmgr_deliver_kick(void)
{
    for (struct transport *t = transports; t; t = t->next)
        if (t->rhead)
            dispatch(t);
}

void qmgr_deliver_flush_dead(void)
{
    /* As Postfix's flush: dead destinations get another chance too. */
    for (struct transport *t = transports; t; t = t->next) {
        t->dead_until_ms = 0;
        for (size_t h = 0; h < DEST_HASH_SIZE; h++) {
            struct dest *next;
            for (struct dest *d = t->hash[h]; d; d = next) {
                next = d->hnext;
                if (!qmgr_window_dead(&d->w))
                    continue;
                if (d->timer)
                    event_timer_cancel(qmgr_loop, d->timer);
                d->timer = 0;
                qmgr_window_revive(&d->w, &t->sp, d->in_flight, d->key);
                ready_push(d);
                dest_maybe_free(d);
            }
        }
    }
}
