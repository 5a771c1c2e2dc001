/* postcat_print - see postcat_print.h. */
#include "postcat_print.h"

#include <stdbool.h>
#include <string.h>
#include <time.h>

#include "header.h"
#include "queue_file.h"

/* Envelope text with control characters (and DEL) replaced: a sender's
 * address or attribute value must not drive the terminal. */
static void put_safe(FILE *out, const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        fputc(c < 0x20 || c == 0x7f ? '?' : c, out);
    }
}

static void put_label(FILE *out, const queue_file_record *rec, int flags, const char *label)
{
    if (flags & POSTCAT_OFFSET)
        fprintf(out, "%9lld ", (long long)rec->offset);
    if (flags & POSTCAT_DECIMAL)
        fprintf(out, "%3d ", rec->type);
    fprintf(out, "%s: ", label);
}

static void put_field(FILE *out, const queue_file_record *rec, int flags, const char *label,
                      const strbuf *value)
{
    put_label(out, rec, flags, label);
    put_safe(out, value->s ? value->s : "", value->len);
    fputc('\n', out);
}

/* asctime-style local time, as Postfix's postcat prints times. */
static void put_time(FILE *out, const queue_file_record *rec, int flags, const char *label,
                     time_t when)
{
    struct tm tm;
    char buf[64];
    put_label(out, rec, flags, label);
    if (localtime_r(&when, &tm) && strftime(buf, sizeof(buf), "%a %b %e %H:%M:%S %Y", &tm) > 0)
        fprintf(out, "%s\n", buf);
    else
        fprintf(out, "%lld\n", (long long)when);
}

static void put_notify(FILE *out, const queue_file_record *rec, int flags)
{
    static const struct {
        int bit;
        const char *name;
    } names[] = {{QF_NOTIFY_NEVER, "NEVER"},
                 {QF_NOTIFY_SUCCESS, "SUCCESS"},
                 {QF_NOTIFY_FAILURE, "FAILURE"},
                 {QF_NOTIFY_DELAY, "DELAY"}};
    put_label(out, rec, flags, "dsn_notify_flags");
    fprintf(out, "%d", rec->notify);
    const char *sep = " (";
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (rec->notify & names[i].bit) {
            fprintf(out, "%s%s", sep, names[i].name);
            sep = ",";
        }
    fputs(*sep == ',' ? ")\n" : "\n", out);
}

static void put_envelope(FILE *out, const queue_file_record *rec, int flags)
{
    switch (rec->type) {
    case QF_REC_SIZE:
        put_label(out, rec, flags, "message_size");
        fprintf(out, "%15llu %15llu %15llu\n", (unsigned long long)rec->size.content_size,
                (unsigned long long)rec->size.content_offset,
                (unsigned long long)rec->size.rcpt_count);
        put_label(out, rec, flags, "queue_file_flags");
        fprintf(out, "%llu\n", (unsigned long long)rec->size.flags);
        if (rec->size.warn_time)
            put_time(out, rec, flags, "warning_message_time", (time_t)rec->size.warn_time);
        break;
    case QF_REC_TIME:
        put_time(out, rec, flags, "message_arrival_time", rec->time.tv_sec);
        break;
    case QF_REC_SENDER:
        put_field(out, rec, flags, "sender", &rec->data);
        break;
    case QF_REC_FULLNAME:
        put_field(out, rec, flags, "sender_fullname", &rec->data);
        break;
    case QF_REC_ATTR:
        put_label(out, rec, flags, "named_attribute");
        put_safe(out, rec->name.s ? rec->name.s : "", rec->name.len);
        fputc('=', out);
        put_safe(out, rec->value.s ? rec->value.s : "", rec->value.len);
        fputc('\n', out);
        break;
    case QF_REC_RCPT:
        if (rec->orcpt.len)
            put_field(out, rec, flags, "dsn_original_recipient", &rec->orcpt);
        if (rec->notify)
            put_notify(out, rec, flags);
        if (rec->orig_rcpt.len)
            put_field(out, rec, flags, "original_recipient", &rec->orig_rcpt);
        put_field(out, rec, flags,
                  rec->status == QF_RCPT_DELIVERED ? "done_recipient"
                  : rec->status == QF_RCPT_BOUNCED ? "bounced_recipient"
                                                   : "recipient",
                  &rec->address);
        break;
    default:
        break;
    }
}

int postcat_print(int fd, const char *name, int flags, size_t record_limit, FILE *out, strbuf *err)
{
    if (!(flags & (POSTCAT_ENVELOPE | POSTCAT_HEADER | POSTCAT_BODY)))
        flags |= POSTCAT_ENVELOPE | POSTCAT_HEADER | POSTCAT_BODY;
    queue_file_reader *r = queue_file_reader_open(fd, record_limit, err);
    if (!r)
        return -1;
    queue_file_record rec = QUEUE_FILE_RECORD_INIT;
    bool envelope = flags & POSTCAT_ENVELOPE;
    bool in_header = true, seen_header = false, at_line_start = true, show_line = false;
    int n;
    if (envelope)
        fprintf(out, "*** ENVELOPE RECORDS %s ***\n", name);
    while ((n = queue_file_reader_next(r, &rec, err)) > 0) {
        switch (rec.type) {
        case QF_REC_CONTENT:
            if (flags & (POSTCAT_HEADER | POSTCAT_BODY))
                fprintf(out, "*** MESSAGE CONTENTS %s ***\n", name);
            break;
        case QF_REC_LINE:
        case QF_REC_PART: {
            const char *s = rec.data.s ? rec.data.s : "";
            if (at_line_start) {
                /* The header section ends at the first line that is neither
                 * a header nor a continuation of one (an empty line too);
                 * that line is the body's first, as -b promises. */
                if (in_header) {
                    if (header_name_length(s, rec.data.len) > 0)
                        seen_header = true;
                    else if (!(seen_header && header_is_continuation(s, rec.data.len)))
                        in_header = false;
                }
                show_line = (flags & (in_header ? POSTCAT_HEADER : POSTCAT_BODY)) != 0;
                if (show_line && (flags & POSTCAT_OFFSET))
                    fprintf(out, "%9lld ", (long long)rec.offset);
                if (show_line && (flags & POSTCAT_DECIMAL))
                    fprintf(out, "%3d ", rec.type);
            }
            if (show_line) {
                fwrite(s, 1, rec.data.len, out);
                if (rec.type == QF_REC_LINE)
                    fputc('\n', out);
            }
            at_line_start = rec.type == QF_REC_LINE;
            break;
        }
        case QF_REC_EXTRACT:
            if (envelope)
                fprintf(out, "*** HEADER EXTRACTED %s ***\n", name);
            break;
        default:
            if (envelope)
                put_envelope(out, &rec, flags);
            break;
        }
    }
    if (n == 0 && envelope)
        fprintf(out, "*** MESSAGE FILE END %s ***\n", name);
    queue_file_record_release(&rec);
    queue_file_reader_free(&r);
    return n == 0 ? 0 : -1;
}
