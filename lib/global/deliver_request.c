#include "deliver_request.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>

#include "config.h"
#include "delivery_log.h"
#include "mem.h"
#include "msg.h"
#include "stream.h"

const attr_limits deliver_request_limits = {
    .max_count = 16 + 5 * 1000 * 2,
    .max_name = 64,
    .max_value = 64 * 1024,
    .max_total = 16 * 1024 * 1024,
};

/* Attribute names of message j of a request: message 0 (the only one of a
 * single-message request) has the plain names, message j >= 1 of a batch
 * the same names prefixed with "m<j>.". */
static const char *mname(char *buf, size_t size, const char *pfx, const char *field)
{
    snprintf(buf, size, "%s%s", pfx, field);
    return buf;
}

/* Recipient attribute name "[m<j>.]r<i>.<field>". */
static const char *rname_p(char *buf, size_t size, const char *pfx, size_t i, const char *field)
{
    snprintf(buf, size, "%sr%zu.%s", pfx, i, field);
    return buf;
}

#define rname(buf, size, i, field) rname_p(buf, size, pfx, i, field)

static void encode_one(const struct deliver_request *req, const char *pfx, attr_list *out)
{
    char name[64], n2[64];
    attr_add_str(out, mname(n2, sizeof(n2), pfx, "queue_name"), req->queue_name);
    attr_add_str(out, mname(n2, sizeof(n2), pfx, "queue_id"), req->queue_id);
    attr_add_str(out, mname(n2, sizeof(n2), pfx, "nexthop"), req->nexthop ? req->nexthop : "");
    attr_add_str(out, mname(n2, sizeof(n2), pfx, "sender"), req->sender ? req->sender : "");
    attr_add_str(out, mname(n2, sizeof(n2), pfx, "envid"), req->envid ? req->envid : "");
    attr_add_str(out, mname(n2, sizeof(n2), pfx, "ret"), req->ret ? req->ret : "");
    attr_add_int(out, mname(n2, sizeof(n2), pfx, "arrival_us"), req->arrival_us);
    attr_add_int(out, mname(n2, sizeof(n2), pfx, "active_us"), req->active_us);
    attr_add_int(out, mname(n2, sizeof(n2), pfx, "flags"), req->flags);
    attr_add_int(out, mname(n2, sizeof(n2), pfx, "rcpt_count"), (int64_t)req->nrcpt);
    for (size_t i = 0; i < req->nrcpt; i++) {
        const struct deliver_rcpt *rc = &req->rcpts[i];
        attr_add_str(out, rname(name, sizeof(name), i, "addr"), rc->address);
        attr_add_str(out, rname(name, sizeof(name), i, "orig"), rc->orig_rcpt ? rc->orig_rcpt : "");
        attr_add_str(out, rname(name, sizeof(name), i, "orcpt"), rc->orcpt ? rc->orcpt : "");
        attr_add_int(out, rname(name, sizeof(name), i, "notify"), rc->notify);
        attr_add_int(out, rname(name, sizeof(name), i, "offset"), (int64_t)rc->offset);
    }
}

void deliver_request_encode(const struct deliver_request *req, attr_list *out)
{
    encode_one(req, "", out);
    if (req->nbatch == 0)
        return; /* no batch_count: what every agent understands */
    attr_add_int(out, "batch_count", (int64_t)req->nbatch + 1);
    char pfx[32];
    for (size_t j = 0; j < req->nbatch; j++) {
        snprintf(pfx, sizeof(pfx), "m%zu.", j + 1);
        encode_one(&req->batch[j], pfx, out);
    }
}

static int get_dup(const attr_list *in, const char *name, char **out, strbuf *err)
{
    const char *value;
    if (attr_get_str(in, name, &value, err) < 0)
        return -1;
    *out = xstrdup(value);
    return 0;
}

static int decode_one(const attr_list *in, const char *pfx, struct deliver_request *req,
                      strbuf *err)
{
    memset(req, 0, sizeof(*req));
    int64_t count;
    char n[64];
    if (get_dup(in, mname(n, sizeof(n), pfx, "queue_name"), &req->queue_name, err) < 0 ||
        get_dup(in, mname(n, sizeof(n), pfx, "queue_id"), &req->queue_id, err) < 0 ||
        get_dup(in, mname(n, sizeof(n), pfx, "nexthop"), &req->nexthop, err) < 0 ||
        get_dup(in, mname(n, sizeof(n), pfx, "sender"), &req->sender, err) < 0 ||
        get_dup(in, mname(n, sizeof(n), pfx, "envid"), &req->envid, err) < 0 ||
        get_dup(in, mname(n, sizeof(n), pfx, "ret"), &req->ret, err) < 0 ||
        attr_get_int(in, mname(n, sizeof(n), pfx, "arrival_us"), &req->arrival_us, err) < 0 ||
        attr_get_int(in, mname(n, sizeof(n), pfx, "active_us"), &req->active_us, err) < 0 ||
        attr_get_int(in, mname(n, sizeof(n), pfx, "flags"), &req->flags, err) < 0 ||
        attr_get_int(in, mname(n, sizeof(n), pfx, "rcpt_count"), &count, err) < 0)
        return -1;
    if (count < 0 || count > 1000) {
        strbuf_printf(err, "bad rcpt_count %lld", (long long)count);
        return -1;
    }
    char name[64];
    for (size_t i = 0; i < (size_t)count; i++) {
        const char *addr, *orig, *orcpt;
        int64_t notify, offset;
        if (attr_get_str(in, rname(name, sizeof(name), i, "addr"), &addr, err) < 0 ||
            attr_get_str(in, rname(name, sizeof(name), i, "orig"), &orig, err) < 0 ||
            attr_get_str(in, rname(name, sizeof(name), i, "orcpt"), &orcpt, err) < 0 ||
            attr_get_int(in, rname(name, sizeof(name), i, "notify"), &notify, err) < 0 ||
            attr_get_int(in, rname(name, sizeof(name), i, "offset"), &offset, err) < 0)
            return -1;
        deliver_request_add_rcpt(req, addr, orig, orcpt, (int)notify, (off_t)offset);
    }
    return 0;
}

int deliver_request_decode(const attr_list *in, struct deliver_request *req, strbuf *err)
{
    if (decode_one(in, "", req, err) < 0)
        return -1;
    if (attr_find(in, "batch_count") == NULL)
        return 0;
    int64_t count;
    if (attr_get_int(in, "batch_count", &count, err) < 0)
        return -1;
    if (count < 1 || count > DELIVER_BATCH_MAX) {
        strbuf_printf(err, "bad batch_count %lld", (long long)count);
        return -1;
    }
    req->batch = xcalloc((size_t)count, sizeof(*req->batch));
    char pfx[32];
    for (size_t j = 0; j + 1 < (size_t)count; j++) {
        snprintf(pfx, sizeof(pfx), "m%zu.", j + 1);
        /* Counted before decoding so release frees a partial entry. */
        req->nbatch++;
        if (decode_one(in, pfx, &req->batch[j], err) < 0)
            return -1;
    }
    return 0;
}

struct deliver_rcpt *deliver_request_add_rcpt(struct deliver_request *req, const char *address,
                                              const char *orig_rcpt, const char *orcpt, int notify,
                                              off_t offset)
{
    req->rcpts = xreallocarray(req->rcpts, req->nrcpt + 1, sizeof(*req->rcpts));
    struct deliver_rcpt *rc = &req->rcpts[req->nrcpt++];
    memset(rc, 0, sizeof(*rc));
    rc->address = xstrdup(address);
    rc->orig_rcpt = xstrdup(orig_rcpt ? orig_rcpt : "");
    rc->orcpt = xstrdup(orcpt ? orcpt : "");
    rc->notify = notify;
    rc->offset = offset;
    return rc;
}

void deliver_rcpt_set(struct deliver_rcpt *rc, enum deliver_status status, const char *dsn,
                      const char *reason_fmt, ...)
{
    rc->status = status;
    free(rc->dsn);
    rc->dsn = xstrdup(dsn);
    strbuf_reset(&rc->reason);
    va_list ap;
    va_start(ap, reason_fmt);
    strbuf_vprintf(&rc->reason, reason_fmt, ap);
    va_end(ap);
}

const char *deliver_status_name(enum deliver_status s)
{
    switch (s) {
    case DELIVER_SENT:
        return "sent";
    case DELIVER_DEFERRED:
        return "deferred";
    case DELIVER_BOUNCED:
        return "bounced";
    default:
        return "pending";
    }
}

static void reply_encode_one(const struct deliver_request *req, const char *pfx, attr_list *out)
{
    char name[64];
    for (size_t i = 0; i < req->nrcpt; i++) {
        const struct deliver_rcpt *rc = &req->rcpts[i];
        if (rc->status == DELIVER_PENDING)
            continue;
        attr_add_str(out, rname(name, sizeof(name), i, "status"), deliver_status_name(rc->status));
        attr_add_str(out, rname(name, sizeof(name), i, "dsn"), rc->dsn ? rc->dsn : "");
        attr_add_str(out, rname(name, sizeof(name), i, "reason"), strbuf_str(&rc->reason));
    }
}

void deliver_reply_encode(const struct deliver_request *req, attr_list *out)
{
    reply_encode_one(req, "", out);
    char pfx[32];
    for (size_t j = 0; j < req->nbatch; j++) {
        snprintf(pfx, sizeof(pfx), "m%zu.", j + 1);
        reply_encode_one(&req->batch[j], pfx, out);
    }
    if (req->site_failure)
        attr_add_str(out, "site_failure", "1");
}

static int reply_apply_one(const attr_list *in, const char *pfx, struct deliver_request *req,
                           strbuf *err)
{
    char name[64];
    for (size_t i = 0; i < req->nrcpt; i++) {
        const attr *status = attr_find(in, rname(name, sizeof(name), i, "status"));
        if (status == NULL)
            continue;
        enum deliver_status s;
        if (strcmp(status->value, "sent") == 0)
            s = DELIVER_SENT;
        else if (strcmp(status->value, "deferred") == 0)
            s = DELIVER_DEFERRED;
        else if (strcmp(status->value, "bounced") == 0)
            s = DELIVER_BOUNCED;
        else {
            strbuf_printf(err, "bad status \"%s\" for recipient %zu", status->value, i);
            return -1;
        }
        const char *dsn, *reason;
        if (attr_get_str(in, rname(name, sizeof(name), i, "dsn"), &dsn, err) < 0 ||
            attr_get_str(in, rname(name, sizeof(name), i, "reason"), &reason, err) < 0)
            return -1;
        deliver_rcpt_set(&req->rcpts[i], s, dsn, "%s", reason);
    }
    return 0;
}

int deliver_reply_apply(const attr_list *in, struct deliver_request *req, strbuf *err)
{
    if (reply_apply_one(in, "", req, err) < 0)
        return -1;
    char pfx[32];
    for (size_t j = 0; j < req->nbatch; j++) {
        snprintf(pfx, sizeof(pfx), "m%zu.", j + 1);
        if (reply_apply_one(in, pfx, &req->batch[j], err) < 0)
            return -1;
    }
    const attr *site = attr_find(in, "site_failure");
    req->site_failure = site && strcmp(site->value, "1") == 0;
    return 0;
}

void deliver_request_release(struct deliver_request *req)
{
    free(req->queue_name);
    free(req->queue_id);
    free(req->nexthop);
    free(req->sender);
    free(req->envid);
    free(req->ret);
    for (size_t i = 0; i < req->nrcpt; i++) {
        free(req->rcpts[i].address);
        free(req->rcpts[i].orig_rcpt);
        free(req->rcpts[i].orcpt);
        free(req->rcpts[i].dsn);
        strbuf_release(&req->rcpts[i].reason);
    }
    free(req->rcpts);
    for (size_t j = 0; j < req->nbatch; j++)
        deliver_request_release(&req->batch[j]);
    free(req->batch);
    memset(req, 0, sizeof(*req));
}

void deliver_request_serve(int fd, void (*process)(struct deliver_request *req))
{
    stream *st = stream_open(fd);
    stream_set_timeout(st, (int)config_get_time("ipc_timeout") * 1000);
    attr_list in = ATTR_LIST_INIT, out = ATTR_LIST_INIT;
    strbuf err = STRBUF_INIT;
    struct deliver_request req;
    if (attr_recv(st, &deliver_request_limits, &in, &err) != ATTR_OK) {
        msg_warn("bad delivery request: %s", err.s);
    } else if (deliver_request_decode(&in, &req, &err) < 0) {
        msg_warn("bad delivery request: %s", err.s);
        deliver_request_release(&req);
    } else {
        process(&req);
        deliver_reply_encode(&req, &out);
        if (attr_send(st, &out, &err) != ATTR_OK)
            msg_warn("%s: cannot send reply to qmgr: %s", req.queue_id, err.s);
        deliver_request_release(&req);
    }
    attr_list_release(&in);
    attr_list_release(&out);
    strbuf_release(&err);
    stream_release(&st);
}

/* One request at a time per process (SERVICE_SINGLE), so a static holds
 * the callback. */
static void (*serve_each_fn)(struct deliver_request *msg);

static void serve_each(struct deliver_request *req)
{
    serve_each_fn(req);
    for (size_t j = 0; j < req->nbatch; j++)
        serve_each_fn(&req->batch[j]);
}

void deliver_request_serve_each(int fd, void (*process_one)(struct deliver_request *msg))
{
    serve_each_fn = process_one;
    deliver_request_serve(fd, serve_each);
}

void deliver_request_finish_all(struct deliver_request *req, int fd, int64_t start_us,
                                const char *relay, enum deliver_status status, const char *dsn,
                                const char *text)
{
    bool verify = (req->flags & DELIVER_FLAG_VERIFY) != 0;
    struct timeval tv;
    gettimeofday(&tv, NULL);
    double done = (double)tv.tv_sec + tv.tv_usec / 1e6;
    strbuf err = STRBUF_INIT;
    for (size_t i = 0; i < req->nrcpt; i++) {
        struct deliver_rcpt *rc = &req->rcpts[i];
        if (status == DELIVER_SENT && !verify && fd >= 0 && rc->offset > 0) {
            strbuf_reset(&err);
            /* Not recorded: the recipient would be delivered again after
             * a restart, which invariant 4 allows; say so. */
            if (queue_file_mark_recipient(fd, rc->offset, QF_RCPT_DELIVERED, &err) < 0)
                msg_warn("%s: cannot mark recipient done: %s", req->queue_id, err.s);
        }
        struct delivery_record rec = {
            .queue_id = req->queue_id,
            .recipient = rc->address,
            .orig_recipient = *rc->orig_rcpt ? rc->orig_rcpt : rc->address,
            .relay = relay,
            .times = {req->arrival_us / 1e6, req->active_us / 1e6, start_us / 1e6, start_us / 1e6,
                      done},
            .dsn = dsn,
            .status = verify ? (status == DELIVER_SENT ? "deliverable" : "undeliverable")
                             : deliver_status_name(status),
            .text = text,
        };
        delivery_log(&rec);
        deliver_rcpt_set(rc, status, dsn, "%s", text);
    }
    strbuf_release(&err);
}
