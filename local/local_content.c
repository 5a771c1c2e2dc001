/* local_content - render a queued message for one local destination. */
#include <string.h>
#include <strings.h>

#include "header.h"
#include "local.h"
#include "local_mbox.h"
#include "mem.h"
#include "queue_file.h"

#define RENDER_CHUNK 65536

struct local_render {
    queue_file_reader *reader;
    queue_file_record rec;
    enum local_format fmt;
    strbuf out;
    size_t consumed; /* of out, handed to the caller */
    bool in_content;
    bool at_line_start;
    bool finished;
};

static void put_prefix(struct local_render *r, struct local_message *msg, const char *recipient,
                       const char *orig_rcpt)
{
    const char *sender = msg->req->sender;
    if (r->fmt != FORMAT_MAILDIR)
        mbox_from_line(&r->out, sender, (time_t)(msg->req->arrival_us / 1000000));
    strbuf_printf(&r->out, "Return-Path: <%s>\n", sender);
    if (local_cfg.enable_original_recipient && orig_rcpt && *orig_rcpt)
        strbuf_printf(&r->out, "X-Original-To: %s\n", orig_rcpt);
    strbuf_printf(&r->out, "Delivered-To: %s\n", recipient);
}

struct local_render *local_render_open(struct local_message *msg, enum local_format fmt,
                                       const char *recipient, const char *orig_rcpt, strbuf *err)
{
    queue_file_reader *reader = queue_file_reader_open(msg->fd, local_cfg.record_limit, err);
    if (reader == NULL)
        return NULL;
    struct local_render *r = xmalloc(sizeof(*r));
    r->reader = reader;
    r->fmt = fmt;
    r->at_line_start = true;
    put_prefix(r, msg, recipient, orig_rcpt);
    return r;
}

/* Append one content piece, quoting "From " at line starts for mbox. */
static void put_piece(struct local_render *r, const strbuf *data, bool line_end)
{
    if (r->fmt == FORMAT_MBOX && r->at_line_start && data->len >= 5 &&
        memcmp(data->s, "From ", 5) == 0)
        strbuf_putc(&r->out, '>');
    strbuf_append(&r->out, data->s, data->len);
    if (line_end)
        strbuf_putc(&r->out, '\n');
    r->at_line_start = line_end;
}

ssize_t local_render_next(struct local_render *r, const char **data, strbuf *err)
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

void local_render_close(struct local_render **rp)
{
    struct local_render *r = *rp;
    if (r == NULL)
        return;
    queue_file_reader_free(&r->reader);
    queue_file_record_release(&r->rec);
    strbuf_release(&r->out);
    free(r);
    *rp = NULL;
}

int local_scan_headers(struct local_message *msg, strbuf *err)
{
    queue_file_reader *reader = queue_file_reader_open(msg->fd, local_cfg.record_limit, err);
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
            strlist_pushn(&msg->delivered_to, v, vlen);
        }
    }
    queue_file_record_release(&rec);
    queue_file_reader_free(&reader);
    return ret < 0 ? -1 : 0;
}
