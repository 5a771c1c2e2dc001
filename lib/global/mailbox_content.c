/* mailbox_content - a queued message as a mailbox stores it (see the header). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "header.h"
#include "mailbox_content.h"
#include "mem.h"
#include "queue_file.h"

#define RENDER_CHUNK 65536

struct mailbox_render {
    queue_file_reader *reader;
    queue_file_record rec;
    enum mailbox_format fmt;
    strbuf out;
    size_t consumed; /* of out, handed to the caller */
    bool in_content;
    bool at_line_start;
    bool finished;
};

static void put_prefix(struct mailbox_render *r, const struct mailbox_message *msg,
                       const char *recipient, const char *orig_rcpt)
{
    if (r->fmt != MAILBOX_FORMAT_MAILDIR)
        mbox_from_line(&r->out, msg->sender, msg->arrival);
    strbuf_printf(&r->out, "Return-Path: <%s>\n", msg->sender);
    if (orig_rcpt && *orig_rcpt)
        strbuf_printf(&r->out, "X-Original-To: %s\n", orig_rcpt);
    strbuf_printf(&r->out, "Delivered-To: %s\n", recipient);
}

struct mailbox_render *mailbox_render_open(const struct mailbox_message *msg,
                                           enum mailbox_format fmt, const char *recipient,
                                           const char *orig_rcpt, strbuf *err)
{
    queue_file_reader *reader = queue_file_reader_open(msg->fd, msg->record_limit, err);
    if (reader == NULL)
        return NULL;
    struct mailbox_render *r = xcalloc(1, sizeof(*r));
    r->reader = reader;
    r->fmt = fmt;
    r->at_line_start = true;
    put_prefix(r, msg, recipient, orig_rcpt);
    return r;
}

/* Append one content piece, quoting "From " at line starts for mbox. */
static void put_piece(struct mailbox_render *r, const strbuf *data, bool line_end)
{
    if (r->fmt == MAILBOX_FORMAT_MBOX && r->at_line_start && data->len >= 5 &&
        memcmp(data->s, "From ", 5) == 0)
        strbuf_putc(&r->out, '>');
    strbuf_append(&r->out, data->s, data->len);
    if (line_end)
        strbuf_putc(&r->out, '\n');
    r->at_line_start = line_end;
}

ssize_t mailbox_render_next(struct mailbox_render *r, const char **data, strbuf *err)
{
    /* Drop what the caller already took, then refill up to a chunk. */
    if (r->consumed > 0) {
        memmove(r->out.s, r->out.s + r->consumed, r->out.len - r->consumed);
        strbuf_truncate(&r->out, r->out.len - r->consumed);
        r->consumed = 0;
    }
    while (!r->finished && r->out.len < RENDER_CHUNK) {
        int ret = queue_file_reader_next(r->reader, &r->rec, err);
        if (ret < 0)
            return -1;
        if (ret == 0) {
            r->finished = true;
            break;
        }
        switch (r->rec.type) {
        case QF_REC_CONTENT:
            r->in_content = true;
            break;
        case QF_REC_LINE:
        case QF_REC_PART:
            if (r->in_content)
                put_piece(r, &r->rec.data, r->rec.type == QF_REC_LINE);
            break;
        case QF_REC_EXTRACT:
            r->finished = true;
            break;
        default:
            break;
        }
    }
    *data = r->out.s;
    r->consumed = r->out.len;
    return (ssize_t)r->out.len;
}

void mailbox_render_close(struct mailbox_render **rp)
{
    struct mailbox_render *r = *rp;
    if (r == NULL)
        return;
    queue_file_reader_free(&r->reader);
    queue_file_record_release(&r->rec);
    strbuf_release(&r->out);
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

int mailbox_scan_delivered_to(int fd, size_t record_limit, strlist *out, strbuf *err)
{
    queue_file_reader *reader = queue_file_reader_open(fd, record_limit, err);
    if (reader == NULL)
        return -1;
    queue_file_record rec = QUEUE_FILE_RECORD_INIT;
    bool in_content = false;
    int ret;
    while ((ret = queue_file_reader_next(reader, &rec, err)) > 0) {
        if (rec.type == QF_REC_CONTENT) {
            in_content = true;
            continue;
        }
        if (!in_content || rec.type == QF_REC_PART)
            continue;
        if (rec.type != QF_REC_LINE || rec.data.len == 0 ||
            (header_name_length(rec.data.s, rec.data.len) == 0 &&
             !header_is_continuation(rec.data.s, rec.data.len)))
            break; /* end of the header section */
        size_t name_len = header_name_length(rec.data.s, rec.data.len);
        if (name_len && header_classify(rec.data.s, name_len) == HDR_DELIVERED_TO) {
            size_t vlen;
            const char *v = header_value(rec.data.s, rec.data.len, &vlen);
            while (vlen > 0 && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
                vlen--;
            strlist_pushn(out, v, vlen);
        }
    }
    queue_file_record_release(&rec);
    queue_file_reader_free(&reader);
    return ret < 0 ? -1 : 0;
}
