/* delivery_log - the per-recipient delivery log line every agent writes.
 *
 * Postfix's format, which pflogsumm and fail2ban parse field by field:
 *   ID: to=<rcpt>, [orig_to=<orig>, ]relay=R, [conn_use=N, ]delay=D,
 *       delays=a/b/c/d, dsn=X.Y.Z, status=S (text)
 * Times are rounded like Postfix with delay_logging_resolution_limit = 2:
 * values of 10 s and more as whole seconds, smaller ones to two significant
 * digits with at most two decimals, trailing zeros dropped, "0" for nothing.
 * The delays are: before the active queue, in the active queue, connection
 * setup, and transmission.
 */
#ifndef MTA_DELIVERY_LOG_H
#define MTA_DELIVERY_LOG_H

#include "strbuf.h"

struct delivery_times {
    double arrival;     /* when the message entered the queue (epoch seconds) */
    double active;      /* when qmgr moved it to active/ */
    double agent_start; /* when the delivery agent took the request */
    double conn_setup;  /* when the connection/mailbox was ready */
    double done;        /* when the outcome was known */
};

struct delivery_record {
    const char *queue_id;
    const char *recipient;
    const char *orig_recipient; /* logged only when set and different */
    const char *relay;          /* "local", "host[addr]:port", "none" */
    int conn_use;               /* > 1 to log conn_use= */
    struct delivery_times times;
    const char *dsn;    /* "2.0.0" */
    const char *status; /* sent, deferred, bounced, expired, ... */
    const char *text;   /* "delivered to maildir" */
};

/* Append one formatted time value (Postfix rounding). */
void delivery_log_format_time(strbuf *out, double seconds);
/* Build the whole line (without the "postfix/x[pid]: " prefix). */
void delivery_log_format(strbuf *out, const struct delivery_record *rec);
/* Format and log it with msg_info. */
void delivery_log(const struct delivery_record *rec);

#endif
