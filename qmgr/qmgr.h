/* qmgr.h - shared state of the queue manager's modules.
 *
 * qmgr.c          the resident process: recovery, triggers, queue scans,
 *                 taking messages into active/ (the event loop owner).
 * qmgr_message.c  one message in active/: reading its queue file once,
 *                 resolving its recipients, and finishing it (defer log,
 *                 back-off into deferred/, bounces, removal).
 * qmgr_deliver.c  transports and destinations: per-transport process and
 *                 per-destination concurrency limits, the non-blocking
 *                 conversation with delivery agents (deliver_request.h).
 * qmgr_bounce.c   non-delivery and delay notices (RFC 3464, lib/global/dsn.h)
 *                 injected through cleanup.
 *
 * Everything runs in one thread on one event loop; no callback blocks
 * except the (bounded, local) cleanup round trip of a bounce notice.
 */
#ifndef MTA_QMGR_H
#define MTA_QMGR_H
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "deliver_request.h"
#include "event.h"
#include "resolve.h"
#include "strbuf.h"

/* Settings read once at start (qmgr is restarted by master on reload). */
struct qmgr_config {
    const char *queue_directory;
    const char *myhostname;
    const char *mail_name;
    const char *default_filter_nexthop; /* a FILTER without nexthop goes there */
    const char *recipient_delimiter;    /* per-user destination queues ignore extensions */
    int incoming_depth, active_depth, deferred_depth, defer_depth, corrupt_depth, hold_depth;
    bool long_ids;
    bool allow_min_user; /* recipients starting with '-' may be delivered */
    long long active_limit;
    long long min_backoff, max_backoff, queue_run_delay;
    long long max_queue_lifetime, bounce_queue_lifetime, delay_warning_time;
    long long transport_retry_time;
    long long ipc_timeout;
    long long agent_timeout; /* bound on one delivery request */
    int default_process_limit;
    size_t record_limit;
};
extern struct qmgr_config qmgr_cfg;
extern event_loop *qmgr_loop;
extern resolve *qmgr_resolve;

/* In-memory recipient outcome during one pass through active/. */
enum qmgr_rcpt_state {
    QR_DONE,     /* delivered or bounced on an earlier pass: skip */
    QR_PENDING,  /* waiting for or in a delivery */
    QR_SENT,     /* delivered (the agent marked it) */
    QR_DEFERRED, /* try again later */
    QR_BOUNCED,  /* undeliverable: notice, then mark BOUNCED */
};

struct qmgr_rcpt {
    char *address, *orig_rcpt, *orcpt;
    int notify;
    off_t offset;
    enum qmgr_rcpt_state state;
    char *dsn;    /* outcome status code */
    char *reason; /* outcome text */
};

struct qmgr_message {
    char *id;
    int fd; /* active/<id>, read-write (BOUNCED marks); open while in active */
    char *sender, *envid, *ret;
    char *redirect, *filter; /* 'A' redirect=/filter= (message actions), or NULL */
    char *reject;            /* 'A' reject=<d.s.n text>: non-SMTP mail cleanup rejected */
    struct timeval arrival;
    int64_t active_us;
    uint64_t size, flags, warn_time;
    uint64_t rcpt_total; /* recipients in the file (the "nrcpt" logged) */
    struct qmgr_rcpt *rcpts;
    size_t nrcpt;
    size_t outstanding;        /* recipients still QR_PENDING */
    struct qmgr_message *next; /* active list */
    struct qmgr_message *prev;
};

/* qmgr.c */
void qmgr_message_finished(struct qmgr_message *m); /* frees m, makes room */
int64_t qmgr_now_us(void);
/* Master went away (reload, stop): no new activations or deliveries. */
bool qmgr_draining(void);
/* Exit if draining and nothing is in flight any more. */
void qmgr_drain_check(void);

/* qmgr_message.c */
/* Take <from>/<id> into active/ and schedule it. The caller counts it as
 * active first. Returns 1 when its recipients are queued for delivery, 0
 * when it was finished at once (qmgr_message_finished already ran), -1 when
 * it was not taken (gone, unreadable, or corrupt and moved to corrupt/). */
int qmgr_message_activate(const char *id, const char *from, int from_depth);
/* A recipient's outcome is known; finishes the message after the last. */
void qmgr_message_outcome(struct qmgr_message *m, struct qmgr_rcpt *r, enum qmgr_rcpt_state st,
                          const char *dsn, const char *reason);
void qmgr_message_free(struct qmgr_message **mp);
/* Log the delivery line for an outcome qmgr decided itself (relay=none). */
void qmgr_log_outcome(const struct qmgr_message *m, const struct qmgr_rcpt *r, const char *status,
                      const char *dsn, const char *reason);

/* qmgr_deliver.c */
void qmgr_deliver_init(void);
/* Queue one recipient for transport:nexthop (grouped into requests there). */
/* True when master.cf has a unix service named `transport` (qmgr then
 * connects to private/<transport> for it). */
bool qmgr_deliver_has_agent(const char *transport);
void qmgr_deliver_enqueue(struct qmgr_message *m, struct qmgr_rcpt *r, const char *transport,
                          const char *nexthop);
/* Start deliveries that fit the limits (called after enqueueing). */
void qmgr_deliver_kick(void);
/* "F" trigger: forget dead transports. */
void qmgr_deliver_flush_dead(void);
size_t qmgr_deliver_in_flight(void);

/* qmgr_bounce.c */
/* Queue a non-delivery notice for m's QR_BOUNCED recipients (or a delay
 * notice for QR_DEFERRED ones with kind DSN_DELAY). Returns 0 when the
 * notice is safely queued or none is due (notify=never, double bounce), -1
 * when it could not be queued (the recipients must stay to do). */
int qmgr_bounce_notify(struct qmgr_message *m, int kind);
/* sendmail -bv (QF_FLAG_VERIFY): queue the "Mail Delivery Status Report"
 * built from trace/<id> (bounce_log.h) to the sender. 0 when queued. */
int qmgr_verify_report(struct qmgr_message *m);

#endif
