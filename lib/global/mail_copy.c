/* mail_copy - render a queued message for a mailbox or a command. */
#include "mail_copy.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "address.h"
#include "header.h"
#include "mem.h"
#include "queue_file.h"

#define COPY_CHUNK 65536

struct mail_copy {
    queue_file_reader *reader;
    queue_file_record rec;
    struct mail_copy_info info;
    strbuf out;
    size_t consumed; /* of out, handed to the caller */
    bool in_content, at_line_start, finished;
};

static void put_eol(struct mail_copy *c)
{
    strbuf_append(&c->out, c->info.eol, c->info.eol_len);
}

void mail_copy_from_line(strbuf *out, const char *sender, time_t when)
{
    struct tm tm;
    char date[64];
    localtime_r(&when, &tm);
    /* asctime layout without the newline: "Tue Nov 24 22:03:10 2026". */
    strftime(date, sizeof(date), "%a %b %e %H:%M:%S %Y", &tm);
    strbuf_printf(out, "From %s  %s\n", *sender ? sender : "MAILER-DAEMON", date);
}

/* An address for a prepended line: quoted when the caller wants it. */
static const char *addr_text(struct mail_copy *c, strbuf *buf, const char *addr)
{
    if (!(c->info.flags & MAIL_COPY_QUOTE_ADDRS))
        return addr;
    strbuf_reset(buf);
    addr_externalize(buf, addr, strlen(addr));
    return strbuf_str(buf);
}

/* One prepended line: text (without "\n") and eol. */
static void put_line(struct mail_copy *c, const strbuf *line)
{
    strbuf_append(&c->out, line->s, line->len);
    put_eol(c);
}

static void put_prefix(struct mail_copy *c)
{
    const struct mail_copy_info *in = &c->info;
    const char *sender = in->sender ? in->sender : "";
    strbuf q = STRBUF_INIT, line = STRBUF_INIT;
    if (in->flags & MAIL_COPY_FROM) {
        mail_copy_from_line(&line, *sender ? addr_text(c, &q, sender) : "", in->from_time);
        strbuf_truncate(&line, line.len - 1); /* its "\n" becomes eol */
        put_line(c, &line);
    }
    if (in->flags & MAIL_COPY_RETURN_PATH) {
        strbuf_reset(&line);
        strbuf_printf(&line, "Return-Path: <%s>", addr_text(c, &q, sender));
        put_line(c, &line);
    }
    if ((in->flags & MAIL_COPY_ORIG_RCPT) && in->orig_rcpt && *in->orig_rcpt) {
        strbuf_reset(&line);
        strbuf_printf(&line, "X-Original-To: %s", addr_text(c, &q, in->orig_rcpt));
        put_line(c, &line);
    }
    if ((in->flags & MAIL_COPY_DELIVERED) && in->delivered) {
        const char *addr = addr_text(c, &q, in->delivered);
        if (addr != q.s)
            strbuf_set(&q, addr);
        if (in->flags & MAIL_COPY_FOLD_DELIVERED)
            for (size_t i = 0; i < q.len; i++)
                if (q.s[i] >= 'A' && q.s[i] <= 'Z')
                    q.s[i] = (char)(q.s[i] - 'A' + 'a');
        strbuf_reset(&line);
        strbuf_printf(&line, "Delivered-To: %s", strbuf_str(&q));
        put_line(c, &line);
    }
    strbuf_release(&q);
    strbuf_release(&line);
}

static struct mail_copy *copy_start(queue_file_reader *reader, const struct mail_copy_info *info);

struct mail_copy *mail_copy_open(int fd, const struct mail_copy_info *info, strbuf *err)
{
    queue_file_reader *reader = queue_file_reader_open(fd, info->record_limit, err);
    return reader ? copy_start(reader, info) : NULL;
}

struct mail_copy *mail_copy_open_head(const struct queue_file_head *head,
                                      const struct mail_copy_info *info, strbuf *err)
{
    queue_file_reader *reader = queue_file_reader_open_head(head, info->record_limit, err);
    return reader ? copy_start(reader, info) : NULL;
}

static struct mail_copy *copy_start(queue_file_reader *reader, const struct mail_copy_info *info)
{
    struct mail_copy *c = xcalloc(1, sizeof(*c));
    c->reader = reader;
    c->info = *info;
    if (!c->info.eol) {
        c->info.eol = "\n";
        c->info.eol_len = 1;
    }
    c->at_line_start = true;
    put_prefix(c);
    return c;
}

static void put_piece(struct mail_copy *c, const strbuf *data, bool line_end)
{
    if (c->at_line_start) {
        if ((c->info.flags & MAIL_COPY_QUOTE) && data->len >= 5 && memcmp(data->s, "From ", 5) == 0)
            strbuf_putc(&c->out, '>');
        if ((c->info.flags & MAIL_COPY_DOT) && data->len >= 1 && data->s[0] == '.')
            strbuf_putc(&c->out, '.');
    }
    strbuf_append(&c->out, data->s, data->len);
    if (line_end)
        put_eol(c);
    c->at_line_start = line_end;
}

static void finish(struct mail_copy *c)
{
    if (!c->at_line_start) /* a last line without newline */
        put_eol(c);
    if (c->info.flags & MAIL_COPY_BLANK)
        put_eol(c);
    c->finished = true;
}

ssize_t mail_copy_next(struct mail_copy *c, const char **data, strbuf *err)
{
    /* Drop what the caller already took, then refill up to a chunk. */
    if (c->consumed > 0) {
        memmove(c->out.s, c->out.s + c->consumed, c->out.len - c->consumed);
        strbuf_truncate(&c->out, c->out.len - c->consumed);
        c->consumed = 0;
    }
    while (!c->finished && c->out.len < COPY_CHUNK) {
        int ret = queue_file_reader_next(c->reader, &c->rec, err);
        if (ret < 0)
            return -1;
        if (ret == 0) {
            finish(c);
            break;
        }
        switch (c->rec.type) {
        case QF_REC_CONTENT:
            c->in_content = true;
            break;
        case QF_REC_LINE:
        case QF_REC_PART:
            if (c->in_content)
                put_piece(c, &c->rec.data, c->rec.type == QF_REC_LINE);
            break;
        case QF_REC_EXTRACT:
            if (c->in_content)
                finish(c);
            break;
        default:
            break;
        }
    }
    *data = c->out.s;
    c->consumed = c->out.len;
    return (ssize_t)c->out.len;
}

void mail_copy_close(struct mail_copy **cp)
{
    struct mail_copy *c = *cp;
    if (c == NULL)
        return;
    queue_file_reader_free(&c->reader);
    queue_file_record_release(&c->rec);
    strbuf_release(&c->out);
    free(c);
    *cp = NULL;
}

static int delivered_to(queue_file_reader *reader, strlist *out, strbuf *err);

int mail_copy_delivered_to(int fd, size_t record_limit, strlist *out, strbuf *err)
{
    queue_file_reader *reader = queue_file_reader_open(fd, record_limit, err);
    return reader ? delivered_to(reader, out, err) : -1;
}

int mail_copy_delivered_to_head(const struct queue_file_head *head, size_t record_limit,
                                strlist *out, strbuf *err)
{
    queue_file_reader *reader = queue_file_reader_open_head(head, record_limit, err);
    return reader ? delivered_to(reader, out, err) : -1;
}

/* Frees reader. */
static int delivered_to(queue_file_reader *reader, strlist *out, strbuf *err)
{
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
