#include "deliver_request.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "mem.h"
#include "msg.h"
#include "stream.h"

const attr_limits deliver_request_limits = {
    .max_count = 16 + 5 * 1000 * 2,
    .max_name = 64,
    .max_value = 64 * 1024,
    .max_total = 16 * 1024 * 1024,
};

/* Recipient attribute name "r<i>.<field>". */
static const char *rname(char *buf, size_t size, size_t i, const char *field)
{
    snprintf(buf, size, "r%zu.%s", i, field);
    return buf;
}

void deliver_request_encode(const struct deliver_request *req, attr_list *out)
{
    char name[64];
    attr_add_str(out, "queue_name", req->queue_name);
    attr_add_str(out, "queue_id", req->queue_id);
    attr_add_str(out, "nexthop", req->nexthop ? req->nexthop : "");
    attr_add_str(out, "sender", req->sender ? req->sender : "");
    attr_add_str(out, "envid", req->envid ? req->envid : "");
    attr_add_str(out, "ret", req->ret ? req->ret : "");
    attr_add_int(out, "arrival_us", req->arrival_us);
    attr_add_int(out, "active_us", req->active_us);
    attr_add_int(out, "flags", req->flags);
    attr_add_int(out, "rcpt_count", (int64_t)req->nrcpt);
    for (size_t i = 0; i < req->nrcpt; i++) {
        const struct deliver_rcpt *rc = &req->rcpts[i];
        attr_add_str(out, rname(name, sizeof(name), i, "addr"), rc->address);
        attr_add_str(out, rname(name, sizeof(name), i, "orig"), rc->orig_rcpt ? rc->orig_rcpt : "");
        attr_add_str(out, rname(name, sizeof(name), i, "orcpt"), rc->orcpt ? rc->orcpt : "");
        attr_add_int(out, rname(name, sizeof(name), i, "notify"), rc->notify);
        attr_add_int(out, rname(name, sizeof(name), i, "offset"), (int64_t)rc->offset);
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

int deliver_request_decode(const attr_list *in, struct deliver_request *req, strbuf *err)
{
    memset(req, 0, sizeof(*req));
    int64_t count;
    if (get_dup(in, "queue_name", &req->queue_name, err) < 0 ||
        get_dup(in, "queue_id", &req->queue_id, err) < 0 ||
        get_dup(in, "nexthop", &req->nexthop, err) < 0 ||
        get_dup(in, "sender", &req->sender, err) < 0 ||
        get_dup(in, "envid", &req->envid, err) < 0 || get_dup(in, "ret", &req->ret, err) < 0 ||
        attr_get_int(in, "arrival_us", &req->arrival_us, err) < 0 ||
        attr_get_int(in, "active_us", &req->active_us, err) < 0 ||
        attr_get_int(in, "flags", &req->flags, err) < 0 ||
        attr_get_int(in, "rcpt_count", &count, err) < 0)
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

struct deliver_rcpt *deliver_request_add_rcpt(struct deliver_request *req, const char *address,
                                              const char *orig_rcpt, const char *orcpt,
                                              int notify, off_t offset)
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

void deliver_reply_encode(const struct deliver_request *req, attr_list *out)
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
    if (req->site_failure)
        attr_add_str(out, "site_failure", "1");
}

int deliver_reply_apply(const attr_list *in, struct deliver_request *req, strbuf *err)
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
