#include "delivery_log.h"

#include <stdio.h>
#include <string.h>

#include "msg.h"

void delivery_log_format_time(strbuf *out, double seconds)
{
    if (!(seconds > 0)) { /* also catches NaN and clock steps backwards */
        strbuf_putc(out, '0');
        return;
    }
    if (seconds >= 9.5) {
        strbuf_printf(out, "%.0f", seconds);
        return;
    }
    char text[32];
    snprintf(text, sizeof(text), "%.*f", seconds >= 0.995 ? 1 : 2, seconds);
    /* Drop trailing zeros and a bare decimal point: "0.50" -> "0.5". */
    size_t len = strlen(text);
    while (len > 0 && text[len - 1] == '0')
        len--;
    if (len > 0 && text[len - 1] == '.')
        len--;
    if (len == 0 || (len == 1 && text[0] == '0'))
        strbuf_putc(out, '0');
    else
        strbuf_append(out, text, len);
}

static double span(double from, double to)
{
    return to > from ? to - from : 0;
}

void delivery_log_format(strbuf *out, const struct delivery_record *rec)
{
    const struct delivery_times *t = &rec->times;
    strbuf_printf(out, "%s: to=<%s>, ", rec->queue_id, rec->recipient);
    if (rec->orig_recipient && *rec->orig_recipient &&
        strcmp(rec->orig_recipient, rec->recipient) != 0)
        strbuf_printf(out, "orig_to=<%s>, ", rec->orig_recipient);
    strbuf_printf(out, "relay=%s, ", rec->relay);
    if (rec->conn_use > 1)
        strbuf_printf(out, "conn_use=%d, ", rec->conn_use);
    strbuf_puts(out, "delay=");
    delivery_log_format_time(out, span(t->arrival, t->done));
    strbuf_puts(out, ", delays=");
    delivery_log_format_time(out, span(t->arrival, t->active));
    strbuf_putc(out, '/');
    delivery_log_format_time(out, span(t->active, t->agent_start));
    strbuf_putc(out, '/');
    delivery_log_format_time(out, span(t->agent_start, t->conn_setup));
    strbuf_putc(out, '/');
    delivery_log_format_time(out, span(t->conn_setup, t->done));
    strbuf_printf(out, ", dsn=%s, status=%s (%s)", rec->dsn, rec->status, rec->text);
}

void delivery_log(const struct delivery_record *rec)
{
    strbuf line = STRBUF_INIT;
    delivery_log_format(&line, rec);
    msg_info("%s", line.s);
    strbuf_release(&line);
}
