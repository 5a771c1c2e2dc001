/* mailbox_content - a queued message as a mailbox stores it (see the header). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mail_copy.h"
#include "mailbox_content.h"
#include "mem.h"

/* The rendering is lib/global/mail_copy's, with the lines a mailbox wants. */
struct mailbox_render {
    struct mail_copy *copy;
};

struct mailbox_render *mailbox_render_open(const struct mailbox_message *msg,
                                           enum mailbox_format fmt, const char *recipient,
                                           const char *orig_rcpt, strbuf *err)
{
    unsigned flags = MAIL_COPY_RETURN_PATH | MAIL_COPY_DELIVERED | MAIL_COPY_ORIG_RCPT;
    if (fmt != MAILBOX_FORMAT_MAILDIR)
        flags |= MAIL_COPY_FROM;
    if (fmt == MAILBOX_FORMAT_MBOX)
        flags |= MAIL_COPY_QUOTE;
    const struct mail_copy_info info = {
        .flags = flags,
        .sender = msg->sender,
        .orig_rcpt = orig_rcpt,
        .delivered = recipient,
        .from_time = msg->arrival,
        .record_limit = msg->record_limit,
    };
    struct mail_copy *copy = msg->head ? mail_copy_open_head(msg->head, &info, err)
                                       : mail_copy_open(msg->fd, &info, err);
    if (copy == NULL)
        return NULL;
    struct mailbox_render *r = xmalloc(sizeof(*r));
    r->copy = copy;
    return r;
}

ssize_t mailbox_render_next(struct mailbox_render *r, const char **data, strbuf *err)
{
    return mail_copy_next(r->copy, data, err);
}

void mailbox_render_close(struct mailbox_render **rp)
{
    struct mailbox_render *r = *rp;
    if (r == NULL)
        return;
    mail_copy_close(&r->copy);
    free(r);
    *rp = NULL;
}

int mailbox_render_to_maildir(struct mailbox_render *r, struct maildir_delivery *md, strbuf *err)
{
    const char *data;
    ssize_t n;
    errno = 0;
    while ((n = mailbox_render_next(r, &data, err)) > 0)
        if (maildir_write(md, data, (size_t)n, err) < 0)
            return -1;
    return n == 0 ? 0 : -1;
}

int mailbox_render_to_mbox(struct mailbox_render *r, struct mbox_delivery *mb, strbuf *err)
{
    const char *data;
    ssize_t n;
    errno = 0;
    while ((n = mailbox_render_next(r, &data, err)) > 0)
        if (mbox_write(mb, data, (size_t)n, err) < 0)
            return -1;
    return n == 0 ? 0 : -1;
}

struct rlimit mailbox_size_limit_enter(long long limit)
{
    struct rlimit old = {RLIM_INFINITY, RLIM_INFINITY};
    getrlimit(RLIMIT_FSIZE, &old);
    if (limit > 0) {
        struct rlimit lim = old;
        lim.rlim_cur = (rlim_t)limit;
        if (lim.rlim_max != RLIM_INFINITY && lim.rlim_cur > lim.rlim_max)
            lim.rlim_cur = lim.rlim_max;
        setrlimit(RLIMIT_FSIZE, &lim);
    }
    return old;
}

void mailbox_size_limit_leave(struct rlimit old)
{
    setrlimit(RLIMIT_FSIZE, &old);
}

struct mailbox_failure mailbox_failure(int err_no)
{
    if (err_no == EFBIG)
        return (struct mailbox_failure){DELIVER_BOUNCED, "5.2.2"};
    return (struct mailbox_failure){DELIVER_DEFERRED, err_no == ENOSPC ? "4.3.0" : "4.2.0"};
}
