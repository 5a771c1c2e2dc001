/* smtp_content - the queued message as SMTP DATA.
 *
 * Queue files hold content lines without terminators, a long line split
 * into 'L' pieces ended by an 'N' record. On the wire every line ends in
 * CRLF and a line starting with '.' gets another '.' (RFC 5321 4.5.2), so
 * no content can end DATA early (the SMTP smuggling class needs a bare
 * "<LF>.<LF>" to survive; it cannot, because LF only ever comes out of here
 * as part of CRLF).
 */
#include <stdint.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "header.h"
#include "mail_queue.h"
#include "smtp_mime_downgrade.h"
#include "queue_file.h"
#include "smtp.h"

#define WIRE_CHUNK 65536

void smtp_wire_piece(strbuf *out, const char *data, size_t len, bool line_end, bool *at_bol)
{
    if (*at_bol && len > 0 && data[0] == '.')
        strbuf_putc(out, '.');
    if (*at_bol && len == 0 && !line_end)
        return; /* an empty piece changes nothing */
    strbuf_append(out, data, len);
    if (line_end)
        strbuf_append(out, "\r\n", 2);
    *at_bol = line_end;
}

static bool has_8bit(const strbuf *sb)
{
    for (size_t i = 0; i < sb->len; i++)
        if ((unsigned char)sb->s[i] >= 0x80)
            return true;
    return false;
}

int smtp_message_scan(struct smtp_message *m, strbuf *err)
{
    queue_file_reader *r = queue_file_reader_open(m->fd, mail_queue_read_limit(), err);
    if (r == NULL)
        return -1;
    queue_file_record rec = QUEUE_FILE_RECORD_INIT;
    bool in_content = false;
    int ret;
    while ((ret = queue_file_reader_next(r, &rec, err)) > 0) {
        switch (rec.type) {
        case QF_REC_SIZE:
            m->content_size = rec.size.content_size;
            break;
        case QF_REC_ATTR:
            if (strbuf_eq(&rec.name, "encoding") && strbuf_eq(&rec.value, "8BITMIME"))
                m->eight_bit = true;
            else if (strbuf_eq(&rec.name, "smtputf8") && strbuf_eq(&rec.value, "1"))
                m->smtputf8 = true;
            break;
        case QF_REC_CONTENT:
            in_content = true;
            break;
        case QF_REC_EXTRACT:
            in_content = false;
            break;
        case QF_REC_LINE:
        case QF_REC_PART:
            if (in_content && !m->content_8bit && has_8bit(&rec.data))
                m->eight_bit = m->content_8bit = true;
            break;
        default:
            break;
        }
    }
    queue_file_record_release(&rec);
    queue_file_reader_free(&r);
    return ret < 0 ? -1 : 0;
}

/* Where whole lines go: the 7-bit downgrade, or straight to the wire. */
struct wire {
    strbuf *out;
    bool *at_bol;
    mime_downgrade *md;
};

static void wire_line(void *ctx, const char *line, size_t len)
{
    struct wire *w = ctx;
    smtp_wire_piece(w->out, line, len, true, w->at_bol);
}

static void sink_line(struct wire *w, const char *line, size_t len)
{
    if (w->md)
        mime_downgrade_line(w->md, line, len);
    else
        wire_line(w, line, len);
}

/* smtp_generic_maps on a primary header, then its lines out. */
static void header_out(void *ctx, const char *header, size_t len, enum header_id id, bool truncated)
{
    (void)truncated;
    struct wire *w = ctx;
    strbuf mapped = STRBUF_INIT;
    if (smtp_generic_header(header, len, id, &mapped)) {
        header = mapped.s;
        len = mapped.len;
    }
    while (len > 0) {
        const char *nl = memchr(header, '\n', len);
        size_t n = nl ? (size_t)(nl - header) : len;
        sink_line(w, header, n);
        if (!nl)
            break;
        header += n + 1;
        len -= n + 1;
    }
    strbuf_release(&mapped);
}

int smtp_content_send(stream *st, const struct smtp_message *m, strbuf *err)
{
    queue_file_reader *r = queue_file_reader_open(m->fd, mail_queue_read_limit(), err);
    if (r == NULL)
        return SMTP_CONTENT_FILE_ERROR;
    queue_file_record rec = QUEUE_FILE_RECORD_INIT;
    strbuf out = STRBUF_INIT;
    bool in_content = false, at_bol = true, done = false;
    int ret = 0;
    /* Downgrading works on whole lines: pieces of a long line gather in
     * `line` (bounded by the queue file's record limit per piece). */
    struct wire w = {&out, &at_bol, NULL};
    mime_downgrade *md =
        m->downgrade
            ? mime_downgrade_new(m->content_8bit ? MIME_DOWNGRADE_UNDECLARED : 0, wire_line, &w)
            : NULL;
    w.md = md;
    /* smtp_generic_maps: the primary header section, logical header by
     * logical header (cleanup bounded each to header_size_limit). */
    bool headers = smtp_generic_headers();
    struct header_collector hc;
    header_collector_init(&hc, SIZE_MAX, header_out, &w);
    strbuf line = STRBUF_INIT;
    while (!done) {
        int n = queue_file_reader_next(r, &rec, err);
        if (n < 0) {
            ret = SMTP_CONTENT_FILE_ERROR;
            break;
        }
        if (n == 0)
            break;
        switch (rec.type) {
        case QF_REC_CONTENT:
            in_content = true;
            break;
        case QF_REC_EXTRACT:
            done = true;
            break;
        case QF_REC_LINE:
        case QF_REC_PART:
            if (in_content && headers) {
                strbuf_append(&line, rec.data.s ? rec.data.s : "", rec.data.len);
                if (rec.type == QF_REC_PART)
                    break;
                switch (header_collector_feed(&hc, line.s ? line.s : "", line.len)) {
                case HEADER_CONSUMED:
                    break;
                case HEADER_END_BLANK:
                    headers = false;
                    sink_line(&w, "", 0);
                    break;
                case HEADER_END_BODY:
                case HEADER_NOT_HEADERS:
                    headers = false;
                    sink_line(&w, line.s ? line.s : "", line.len);
                    break;
                }
                strbuf_reset(&line);
            } else if (in_content && md) {
                strbuf_append(&line, rec.data.s ? rec.data.s : "", rec.data.len);
                if (rec.type == QF_REC_LINE) {
                    mime_downgrade_line(md, line.s ? line.s : "", line.len);
                    strbuf_reset(&line);
                }
            } else if (in_content) {
                smtp_wire_piece(&out, rec.data.s ? rec.data.s : "", rec.data.len,
                                rec.type == QF_REC_LINE, &at_bol);
            }
            break;
        default:
            break;
        }
        if (out.len >= WIRE_CHUNK) {
            if ((ret = stream_write(st, out.s, out.len)) < 0)
                break;
            strbuf_reset(&out);
        }
    }
    if (headers && ret == 0) {
        if (line.len > 0)
            (void)header_collector_feed(&hc, line.s, line.len);
        header_collector_finish(&hc);
        strbuf_reset(&line);
    }
    header_collector_release(&hc);
    if (md) {
        if (ret == 0 && line.len > 0)
            mime_downgrade_line(md, line.s, line.len);
        mime_downgrade_finish(md);
        mime_downgrade_free(&md);
    }
    strbuf_release(&line);
    if (ret == 0) {
        if (!at_bol)
            strbuf_append(&out, "\r\n", 2);
        strbuf_append(&out, ".\r\n", 3);
        ret = stream_write(st, out.s, out.len);
        if (ret == 0)
            ret = stream_flush(st);
    }
    if (ret < 0 && ret != SMTP_CONTENT_FILE_ERROR)
        strbuf_set(err, stream_strerror(st, ret));
    strbuf_release(&out);
    queue_file_record_release(&rec);
    queue_file_reader_free(&r);
    return ret;
}
