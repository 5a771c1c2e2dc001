/* postqueue_format - see postqueue_format.h. */
#include "postqueue_format.h"

#include <string.h>
#include <time.h>

/* Length of a valid UTF-8 sequence at p (at most n bytes), 0 if invalid. */
static size_t utf8_len(const unsigned char *p, size_t n)
{
    size_t len;
    unsigned min;
    unsigned cp;
    if (p[0] >= 0xc2 && p[0] <= 0xdf) {
        len = 2, min = 0x80, cp = p[0] & 0x1f;
    } else if (p[0] >= 0xe0 && p[0] <= 0xef) {
        len = 3, min = 0x800, cp = p[0] & 0x0f;
    } else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
        len = 4, min = 0x10000, cp = p[0] & 0x07;
    } else {
        return 0;
    }
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

/* Printable text: control characters and malformed UTF-8 become '?'. */
static void put_printable(strbuf *out, const char *text)
{
    const unsigned char *p = (const unsigned char *)text;
    size_t n = strlen(text);
    for (size_t i = 0; i < n;) {
        size_t l = p[i] >= 0x80 ? utf8_len(p + i, n - i) : 1;
        if (l == 0 || (l == 1 && (p[i] < 0x20 || p[i] == 0x7f))) {
            strbuf_putc(out, '?');
            i++;
        } else {
            strbuf_append(out, p + i, l);
            i += l;
        }
    }
}

void pq_json_quote(strbuf *out, const char *text)
{
    const unsigned char *p = (const unsigned char *)text;
    size_t n = strlen(text);
    for (size_t i = 0; i < n;) {
        unsigned char c = p[i];
        if (c < 0x20 || c == 0x7f) {
            switch (c) {
            case '\b':
                strbuf_puts(out, "\\b");
                break;
            case '\f':
                strbuf_puts(out, "\\f");
                break;
            case '\n':
                strbuf_puts(out, "\\n");
                break;
            case '\r':
                strbuf_puts(out, "\\r");
                break;
            case '\t':
                strbuf_puts(out, "\\t");
                break;
            default:
                strbuf_printf(out, "\\u%04X", c);
            }
            i++;
        } else if (c == '\\' || c == '"') {
            strbuf_putc(out, '\\');
            strbuf_putc(out, (char)c);
            i++;
        } else if (c >= 0x80) {
            size_t l = utf8_len(p + i, n - i);
            if (l == 0) {
                strbuf_putc(out, '?');
                i++;
            } else {
                strbuf_append(out, p + i, l);
                i += l;
            }
        } else {
            strbuf_putc(out, (char)c);
            i++;
        }
    }
}

static void put_columns(const struct pq_text *t, strbuf *out, const char *a, const char *b,
                        const char *c, const char *d)
{
    if (t->long_ids)
        strbuf_printf(out, "%-17s %8s %-19s ", a, b, c);
    else
        strbuf_printf(out, "%-11s %7s %-20s ", a, b, c);
    put_printable(out, d);
    strbuf_putc(out, '\n');
}

void pq_text_message(struct pq_text *t, const struct pq_message *m, strbuf *out)
{
    if (t->count > 0)
        strbuf_putc(out, '\n');
    else if (t->long_ids)
        put_columns(t, out, "----Queue ID-----", "--Size--", "---Arrival Time----",
                    "--Sender/Recipient------");
    else
        put_columns(t, out, "-Queue ID-", "--Size--", "----Arrival Time----",
                    "-Sender/Recipient-------");

    /* Postfix (showq_compat.c) appends "*" (active) or "!" (hold), then "#"
     * (forced expire), and nothing otherwise: a deferred ID is not
     * followed by a blank, so an 11-character ID ends in column 11. */
    strbuf id = STRBUF_INIT;
    put_printable(&id, m->queue_id);
    if (strcmp(m->queue_name, "active") == 0)
        strbuf_putc(&id, '*');
    else if (strcmp(m->queue_name, "hold") == 0)
        strbuf_putc(&id, '!');
    if (m->forced_expire)
        strbuf_putc(&id, '#');
    time_t when = (time_t)m->arrival_time;
    struct tm tm;
    char date[64] = "";
    /* asctime() layout: "Wed Jun 30 21:49:08 1993\n"; the first 20 bytes show. */
    if (localtime_r(&when, &tm) != NULL)
        strftime(date, sizeof(date), "%a %b %e %H:%M:%S %Y", &tm);
    if (t->long_ids)
        strbuf_printf(out, "%-17s %8ld %19.19s ", strbuf_str(&id), m->message_size, date);
    else
        strbuf_printf(out, "%-11s %7ld %20.20s ", strbuf_str(&id), m->message_size, date);
    put_printable(out, m->sender);
    strbuf_putc(out, '\n');
    strbuf_release(&id);

    const char *prev = "";
    for (size_t i = 0; i < m->nrcpt; i++) {
        const char *why = m->rcpt[i].reason ? m->rcpt[i].reason : "";
        if (strcmp(prev, why) != 0) {
            prev = why;
            const char *show = *why ? why : "reason unavailable";
            strbuf shown = STRBUF_INIT;
            put_printable(&shown, show);
            int pad = 76 - (int)shown.len;
            strbuf_printf(out, "%*s(%s)\n", pad < 0 ? 0 : pad, "", strbuf_str(&shown));
            strbuf_release(&shown);
        }
        put_columns(t, out, "", "", "", m->rcpt[i].address);
    }
    t->count++;
    t->bytes += m->message_size > 0 ? (unsigned long long)m->message_size : 0;
}

void pq_text_finish(const struct pq_text *t, strbuf *out)
{
    if (t->count == 0)
        strbuf_puts(out, "Mail queue is empty\n");
    else
        strbuf_printf(out, "\n-- %llu Kbytes in %lu Request%s.\n", t->bytes / 1024, t->count,
                      t->count == 1 ? "" : "s");
}

void pq_json_message(const struct pq_message *m, strbuf *out)
{
    strbuf_puts(out, "{\"queue_name\": \"");
    pq_json_quote(out, m->queue_name);
    strbuf_puts(out, "\", \"queue_id\": \"");
    pq_json_quote(out, m->queue_id);
    strbuf_printf(out, "\", \"arrival_time\": %ld, \"message_size\": %ld, \"forced_expire\": %s, ",
                  m->arrival_time, m->message_size, m->forced_expire ? "true" : "false");
    strbuf_puts(out, "\"sender\": \"");
    pq_json_quote(out, m->sender);
    strbuf_puts(out, "\", \"recipients\": [");
    for (size_t i = 0; i < m->nrcpt; i++) {
        if (i > 0)
            strbuf_puts(out, ", ");
        strbuf_puts(out, "{\"address\": \"");
        pq_json_quote(out, m->rcpt[i].address);
        strbuf_putc(out, '"');
        if (m->rcpt[i].reason && *m->rcpt[i].reason) {
            strbuf_puts(out, ", \"delay_reason\": \"");
            pq_json_quote(out, m->rcpt[i].reason);
            strbuf_putc(out, '"');
        }
        strbuf_putc(out, '}');
    }
    strbuf_puts(out, "]}\n");
}
