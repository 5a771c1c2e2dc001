/* local_content - render a queued message for one local destination
 * (lib/global/mail_copy with local(8)'s choice of prepended lines). */
#include "local.h"
#include "mail_copy.h"
#include "mem.h"

struct local_render {
    struct mail_copy *copy;
};

struct local_render *local_render_open(struct local_message *msg, enum local_format fmt,
                                       const char *recipient, const char *orig_rcpt, strbuf *err)
{
    unsigned flags = MAIL_COPY_RETURN_PATH | MAIL_COPY_DELIVERED;
    if (fmt != FORMAT_MAILDIR)
        flags |= MAIL_COPY_FROM;
    if (fmt == FORMAT_MBOX)
        flags |= MAIL_COPY_QUOTE;
    if (local_cfg.enable_original_recipient)
        flags |= MAIL_COPY_ORIG_RCPT;
    const struct mail_copy_info info = {
        .flags = flags,
        .sender = msg->req->sender,
        .orig_rcpt = orig_rcpt,
        .delivered = recipient,
        .from_time = (time_t)(msg->req->arrival_us / 1000000),
        .record_limit = local_cfg.record_limit,
    };
    struct mail_copy *copy = mail_copy_open(msg->fd, &info, err);
    if (copy == NULL)
        return NULL;
    struct local_render *r = xmalloc(sizeof(*r));
    r->copy = copy;
    return r;
}

ssize_t local_render_next(struct local_render *r, const char **data, strbuf *err)
{
    return mail_copy_next(r->copy, data, err);
}

void local_render_close(struct local_render **rp)
{
    struct local_render *r = *rp;
    if (r == NULL)
        return;
    mail_copy_close(&r->copy);
    free(r);
    *rp = NULL;
}

int local_scan_headers(struct local_message *msg, strbuf *err)
{
    return mail_copy_delivered_to(msg->fd, local_cfg.record_limit, &msg->delivered_to, err);
}
