/* postqueue_format - the mailq (Sendmail-compatible) and JSON renderings of
 * the queue listing that showq sends.
 *
 * Byte-exact with Postfix 3.7's postqueue: header line and per-message line
 * widths depend on enable_long_queue_ids (not on the shape of the IDs); the
 * status mark after the ID is '#' for forced expiry, '*' for the active
 * queue, '!' for hold; a "(reason)" line, right-aligned so that it ends in
 * column 78, precedes a recipient whose reason differs from the previous
 * recipient's ("(reason unavailable)" when it becomes empty); one blank line
 * between messages; "-- N Kbytes in M Request(s)." or "Mail queue is empty".
 * JSON: one object per line, Postfix's member names and order, strings
 * escaped as Postfix does (control characters as \uXXXX, \n \r \t \b \f).
 */
#ifndef MTA_POSTQUEUE_FORMAT_H
#define MTA_POSTQUEUE_FORMAT_H
#include <stdbool.h>
#include <stddef.h>

#include "strbuf.h"

struct pq_rcpt {
    const char *address;
    const char *reason; /* "" when none */
};

struct pq_message {
    const char *queue_name;
    const char *queue_id;
    long arrival_time;
    long message_size;
    bool forced_expire;
    const char *sender; /* "" is shown as MAILER-DAEMON by showq */
    const struct pq_rcpt *rcpt;
    size_t nrcpt;
};

struct pq_text {
    bool long_ids;
    unsigned long count;
    unsigned long long bytes;
};

/* Append one message (and the header before the first) to out. Arrival
 * times are rendered with localtime(), as Postfix does. */
void pq_text_message(struct pq_text *t, const struct pq_message *m, strbuf *out);
/* Append the closing summary line(s). */
void pq_text_finish(const struct pq_text *t, strbuf *out);

void pq_json_message(const struct pq_message *m, strbuf *out);
/* JSON string body (without quotes) for text. */
void pq_json_quote(strbuf *out, const char *text);

#endif
