/* deliver_request - the protocol between qmgr and delivery agents.
 *
 * qmgr connects to $queue_directory/private/<transport> (local, smtp, ...)
 * and sends ONE request as an attr message; the agent delivers and answers
 * with ONE reply; the connection then closes. The agent opens the queue
 * file itself (queue_name/queue_id) and reads the content from it.
 *
 * Request attributes:
 *   queue_name, queue_id, nexthop, sender, envid (may be empty), ret
 *   ("", "FULL" or "HDRS"), arrival_us (arrival time, epoch microseconds),
 *   active_us (when qmgr took it into the active queue), flags (the queue
 *   file's QF_FLAG_* bits, queue_file.h), rcpt_count;
 *   then for each recipient i = 0..rcpt_count-1:
 *   r<i>.addr, r<i>.orig, r<i>.orcpt, r<i>.notify (QF_NOTIFY_* bits),
 *   r<i>.offset (its 'R' record in the queue file; 0 when another agent
 *   passes the recipient on, as local(8) does for mailbox_transport: then
 *   the receiving agent must not mark the queue file, the caller does).
 * Reply attributes: for each recipient i: r<i>.status ("sent", "deferred",
 *   "bounced"), r<i>.dsn (enhanced status code), r<i>.reason (text for
 *   logs, mailq and DSNs); optionally site_failure "1" when the agent could
 *   not talk to the destination at all (no host accepted a connection or
 *   completed the handshake), as opposed to per-recipient 4xx replies. qmgr
 *   feeds it into the destination's concurrency window (qmgr_feedback.h);
 *   absent means 0, so agents with no such notion (local) say nothing.
 *
 * BATCHES (additive; qmgr sends them only to transports with
 * <transport>_destination_batch_limit > 1, i.e. local, and to smtp and lmtp
 * agents under *_connection_cache_on_demand, which deliver them over one
 * connection): a request may carry several messages for the same
 * destination. Message 0 uses the attributes
 * above; then batch_count N (absent: 1, a single-message request as
 * before), and messages j = 1..N-1 with the same attributes prefixed
 * "m<j>." (m1.queue_id, m1.r0.addr, ...). The reply likewise: message 0's
 * r<i>.* and message j's m<j>.r<i>.*; site_failure is for the whole
 * request. A message j >= 1 none of whose recipients has an outcome was
 * not attempted (smtp stops after the destination failed as a whole):
 * qmgr puts it back into the destination's queue. Each message has its own outcomes, log lines and queue-file
 * marks; agents that do not batch never see batch_count.
 *
 * VERIFY MODE (flags & DELIVER_FLAG_VERIFY, from sendmail -bv): the agent
 * resolves each recipient as for a delivery (aliases, .forward, user
 * lookup) but writes no mailbox, runs no command, forwards nothing and
 * marks nothing in the queue file. For every final destination it logs
 * "status=deliverable (what would happen)" or "status=undeliverable
 * (why)" and appends a record to trace/<queue_id> (bounce_log.h), from which
 * qmgr builds the report to the sender; the reply still carries one
 * outcome per request recipient (sent = deliverable). qmgr only sends
 * verify requests to agents that implement this (local); for every other
 * transport it reports the route itself (bounce_log.h).
 *
 * Division of labour (DESIGN.md §3): the agent marks a recipient DELIVERED
 * in the queue file as soon as that delivery is final (before it replies),
 * so a crash after delivery repeats nothing; qmgr records everything else:
 * defer reasons, and bounces (it queues the DSN first and only then marks
 * the recipient BOUNCED). The agent also writes the delivery log line.
 */
#ifndef MTA_DELIVER_REQUEST_H
#define MTA_DELIVER_REQUEST_H
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "attr.h"
#include "queue_file.h"
#include "strbuf.h"

/* Limits for decoding requests and replies. */
extern const attr_limits deliver_request_limits;

/* Most messages in one request (batch_count). */
#define DELIVER_BATCH_MAX 64

/* Request flag bits (the queue file's, queue_file.h). */
#define DELIVER_FLAG_VERIFY QF_FLAG_VERIFY

enum deliver_status { DELIVER_PENDING = 0, DELIVER_SENT, DELIVER_DEFERRED, DELIVER_BOUNCED };

struct deliver_rcpt {
    char *address;
    char *orig_rcpt;
    char *orcpt;
    int notify;
    off_t offset;
    /* outcome */
    enum deliver_status status;
    char *dsn;
    strbuf reason;
};

struct deliver_request {
    char *queue_name;
    char *queue_id;
    char *nexthop;
    char *sender;
    char *envid;
    char *ret;
    int64_t arrival_us;
    int64_t active_us;
    int64_t flags;
    struct deliver_rcpt *rcpts;
    size_t nrcpt;
    /* Further messages of a batch (messages 1..nbatch), each with its own
     * queue file and recipients; nexthop is message 0's. */
    struct deliver_request *batch;
    size_t nbatch;
    /* outcome: the destination itself failed (reply attribute site_failure) */
    int site_failure;
};

/* Encode / decode a request. decode returns -1 with err set on a missing
 * or malformed attribute. */
void deliver_request_encode(const struct deliver_request *req, attr_list *out);
int deliver_request_decode(const attr_list *in, struct deliver_request *req, strbuf *err);
void deliver_request_release(struct deliver_request *req);

/* Add a recipient to a request being built (strings are copied). */
struct deliver_rcpt *deliver_request_add_rcpt(struct deliver_request *req, const char *address,
                                              const char *orig_rcpt, const char *orcpt, int notify,
                                              off_t offset);

/* Record an outcome for recipient i (agent side). */
void deliver_rcpt_set(struct deliver_rcpt *rc, enum deliver_status status, const char *dsn,
                      const char *reason_fmt, ...) __attribute__((format(printf, 4, 5)));

/* Encode the outcomes (agent) / apply a reply to the request (qmgr).
 * apply returns -1 on a malformed reply; recipients the reply does not
 * mention stay DELIVER_PENDING (qmgr treats them as deferred). */
void deliver_reply_encode(const struct deliver_request *req, attr_list *out);
int deliver_reply_apply(const attr_list *in, struct deliver_request *req, strbuf *err);

const char *deliver_status_name(enum deliver_status s);

/* Agent side of one connection: read a request from fd (within
 * ipc_timeout), let `process` fill in every recipient's outcome, send the
 * reply. Malformed requests are logged and dropped (qmgr then defers). The
 * caller keeps ownership of fd. */
void deliver_request_serve(int fd, void (*process)(struct deliver_request *req));
/* The same for agents that treat each message of a batch on its own:
 * process_one gets message 0, then each message of req->batch. */
void deliver_request_serve_each(int fd, void (*process_one)(struct deliver_request *msg));

/* Agent side, one outcome for every recipient of a message (pipe, error,
 * discard): when `status` is SENT (and not verify mode) each recipient
 * with an offset is marked DELIVERED in the queue file behind fd first
 * (fd < 0: the caller could not open it; nothing is marked), then the
 * delivery log line is written (relay=`relay`, the agent took the request
 * at start_us) and the outcome recorded for the reply. */
void deliver_request_finish_all(struct deliver_request *req, int fd, int64_t start_us,
                                const char *relay, enum deliver_status status, const char *dsn,
                                const char *text);

#endif
