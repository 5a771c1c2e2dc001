/* pipe_copy - render a queued message for a pipe(8) command. */
#include "pipe_copy.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "address.h"
#include "header.h"
#include "mem.h"
#include "pipe_attr.h"
#include "queue_file.h"

#define COPY_CHUNK 65536

struct pipe_copy {
    queue_file_reader *reader;
    queue_file_record rec;
    struct pipe_copy_info info;
    strbuf out;
    size_t consumed;
    bool in_content, at_line_start, finished;
};

static void put_eol(struct pipe_copy *c)
{
    strbuf_append(&c->out, c->info.eol, c->info.eol_len);
}

static void put_prefix(struct pipe_copy *c)
{
    const struct pipe_copy_info *in = &c->info;
    strbuf q = STRBUF_INIT;
    const char *sender = in->sender ? in->sender : "";
    if (in->flags & PIPE_F_FROM) {
        /* asctime's 24 characters, as Postfix's "From %s %.24s". */
        struct tm tm;
        char stamp[64];
        time_t t = in->arrival;
        if (localtime_r(&t, &tm) == NULL || strftime(stamp, sizeof(stamp), "%a %b %e %H:%M:%S %Y", &tm) == 0)
            stamp[0] = 0;
        addr_externalize(&q, *sender ? sender : "MAILER-DAEMON", strlen(*sender ? sender : "MAILER-DAEMON"));
        strbuf_printf(&c->out, "From %s %s", q.s, stamp);
        put_eol(c);
    }
    if (in->flags & PIPE_F_RETURN) {
        strbuf_reset(&q);
        addr_externalize(&q, sender, strlen(sender));
        strbuf_printf(&c->out, "Return-Path: <%s>", strbuf_str(&q));
        put_eol(c);
    }
    if ((in->flags & PIPE_F_ORIG_RCPT) && in->orig_rcpt) {
        strbuf_reset(&q);
        addr_externalize(&q, in->orig_rcpt, strlen(in->orig_rcpt));
        strbuf_printf(&c->out, "X-Original-To: %s", strbuf_str(&q));
        put_eol(c);
    }
    if ((in->flags & PIPE_F_DELIVERED) && in->delivered) {
        strbuf_reset(&q);
        addr_externalize(&q, in->delivered, strlen(in->delivered));
        for (size_t i = 0; i < q.len; i++)
            if (q.s[i] >= 'A' && q.s[i] <= 'Z')
                q.s[i] = (char)(q.s[i] - 'A' + 'a');
        strbuf_printf(&c->out, "Delivered-To: %s", strbuf_str(&q));
        put_eol(c);
    }
    strbuf_release(&q);
}

struct pipe_copy *pipe_copy_open(int fd, const struct pipe_copy_info *info, strbuf *err)
{
    queue_file_reader *reader = queue_file_reader_open(fd, info->record_limit, err);
    if (reader == NULL)
        return NULL;
    struct pipe_copy *c = xcalloc(1, sizeof(*c));
    c->reader = reader;
    c->info = *info;
    c->at_line_start = true;
    put_prefix(c);
    return c;
}

static void put_piece(struct pipe_copy *c, const strbuf *data, bool line_end)
{
    if (c->at_line_start) {
        if ((c->info.flags & PIPE_F_QUOTE_FROM) && data->len >= 5 && memcmp(data->s, "From ", 5) == 0)
            strbuf_putc(&c->out, '>');
        if ((c->info.flags & PIPE_F_DOT) && data->len >= 1 && data->s[0] == '.')
            strbuf_putc(&c->out, '.');
    }
    strbuf_append(&c->out, data->s, data->len);
    if (line_end)
        put_eol(c);
    c->at_line_start = line_end;
}

static void finish(struct pipe_copy *c)
{
    if (!c->at_line_start) /* a last line without newline */
        put_eol(c);
    if (c->info.flags & PIPE_F_BLANK)
        put_eol(c);
    c->finished = true;
}

ssize_t pipe_copy_next(struct pipe_copy *c, const char **data, strbuf *err)
{
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

void pipe_copy_close(struct pipe_copy **cp)
{
    struct pipe_copy *c = *cp;
    if (c == NULL)
        return;
    queue_file_reader_free(&c->reader);
    queue_file_record_release(&c->rec);
    strbuf_release(&c->out);
    free(c);
    *cp = NULL;
}

int pipe_copy_delivered_loop(int fd, const char *addr, size_t record_limit, strbuf *err)
{
    queue_file_reader *reader = queue_file_reader_open(fd, record_limit, err);
    if (reader == NULL)
        return -1;
    queue_file_record rec = QUEUE_FILE_RECORD_INIT;
    bool in_content = false;
    int ret, found = 0;
    size_t alen = strlen(addr);
    while (!found && (ret = queue_file_reader_next(reader, &rec, err)) > 0) {
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
            if (vlen == alen && strncasecmp(v, addr, alen) == 0)
                found = 1;
        }
    }
    queue_file_record_release(&rec);
    queue_file_reader_free(&reader);
    return ret < 0 && !found ? -1 : found;
}
