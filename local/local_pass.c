/* local_pass - hand a final mailbox delivery to another transport
 * (mailbox_transport), as Postfix's local(8) does with deliver_pass().
 *
 * "lmtp:unix:private/dovecot-lmtp" names the master.cf service "lmtp" and
 * the nexthop "unix:private/dovecot-lmtp"; without a nexthop the one from
 * qmgr's request is kept. We connect to $queue_directory/private/<service>,
 * send one deliver_request (lib/global/deliver_request.h) for this one recipient
 * and wait for its one reply. The recipient goes with offset 0: the other
 * agent must not mark the queue file, because one queue recipient may
 * expand into several mailboxes here and only local(8) knows when all of
 * them are done. That agent writes the delivery log line (relay=...), so
 * the outcome is counted here without a second line.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "local.h"
#include "msg.h"
#include "sock.h"
#include "stream.h"

/* One request may take as long as qmgr allows a delivery agent. */
static int pass_timeout_ms(void)
{
    long long t = config_get_time("daemon_timeout") + 60;
    return t > 86400 ? 86400 * 1000 : (int)(t * 1000);
}

void local_deliver_pass(struct local_attempt *at, const char *recipient, const char *spec)
{
    /* The other agent would deliver: only say where the mail would go. */
    if (local_verifying(at)) {
        local_outcome(at, recipient, DELIVER_SENT, "2.0.0", "delivers via %s", spec);
        return;
    }
    const struct deliver_request *orig = at->msg->req;
    strbuf service = STRBUF_INIT, path = STRBUF_INIT, err = STRBUF_INIT, name = STRBUF_INIT;
    const char *colon = strchr(spec, ':');
    strbuf_append(&service, spec, colon ? (size_t)(colon - spec) : strlen(spec));
    const char *nexthop = colon && colon[1] ? colon + 1 : orig->nexthop;

    struct deliver_request req = {
        .queue_name = orig->queue_name,
        .queue_id = orig->queue_id,
        .nexthop = (char *)nexthop,
        .sender = orig->sender,
        .envid = orig->envid,
        .ret = orig->ret,
        .arrival_us = orig->arrival_us,
        .active_us = orig->active_us,
        .flags = orig->flags,
    };
    const struct deliver_rcpt *qr = at->rcpt;
    deliver_request_add_rcpt(&req, recipient, *qr->orig_rcpt ? qr->orig_rcpt : qr->address,
                             qr->orcpt, qr->notify, 0);
    attr_list out = ATTR_LIST_INIT, in = ATTR_LIST_INIT;
    stream *st = NULL;
    int fd = -1;

    if (service.len == 0 || strchr(service.s, '/') != NULL) {
        local_count_outcome(at, DELIVER_DEFERRED, "4.3.5", "mail system configuration error");
        msg_warn("mailbox_transport: bad transport name in \"%s\"", spec);
        goto out;
    }
    strbuf_printf(&name, "private/%s", service.s);
    if (sock_unix_path(local_cfg.queue_directory, name.s, &path, &err) < 0 ||
        (fd = sock_unix_connect(path.s, 10000, &err)) < 0) {
        /* What qmgr says for a transport that isn't there. */
        msg_warn("connect to transport %s: %s", name.s, err.s);
        local_outcome(at, recipient, DELIVER_DEFERRED, "4.3.0", "mail transport unavailable");
        goto out;
    }
    st = stream_open(fd);
    stream_set_timeout(st, pass_timeout_ms());
    deliver_request_encode(&req, &out);
    enum attr_result ar = attr_send(st, &out, &err);
    if (ar == ATTR_OK)
        ar = attr_recv(st, &deliver_request_limits, &in, &err);
    if (ar != ATTR_OK || deliver_reply_apply(&in, &req, &err) < 0) {
        msg_warn("%s: transport %s: %s", orig->queue_id, service.s, err.len ? err.s : "no reply");
        local_outcome(at, recipient, DELIVER_DEFERRED, "4.3.0", "unknown mail transport error");
        goto out;
    }
    struct deliver_rcpt *rc = &req.rcpts[0];
    const char *reason = rc->reason.len ? rc->reason.s : "unknown mail transport error";
    switch (rc->status) {
    case DELIVER_SENT:
    case DELIVER_BOUNCED:
        local_count_outcome(at, rc->status, rc->dsn ? rc->dsn : "2.0.0", reason);
        break;
    case DELIVER_DEFERRED:
        local_count_outcome(at, rc->status, rc->dsn ? rc->dsn : "4.0.0", reason);
        break;
    default:
        /* No word on this recipient: retry, and say so in the log. */
        local_outcome(at, recipient, DELIVER_DEFERRED, "4.3.0", "unknown mail transport error");
        break;
    }
out:
    if (st)
        stream_release(&st);
    if (fd >= 0)
        close(fd);
    /* The strings in req are borrowed from orig; only the recipient is ours. */
    for (size_t i = 0; i < req.nrcpt; i++) {
        struct deliver_rcpt *r = &req.rcpts[i];
        free(r->address);
        free(r->orig_rcpt);
        free(r->orcpt);
        free(r->dsn);
        strbuf_release(&r->reason);
    }
    free(req.rcpts);
    attr_list_release(&out);
    attr_list_release(&in);
    strbuf_release(&service);
    strbuf_release(&path);
    strbuf_release(&err);
    strbuf_release(&name);
}
