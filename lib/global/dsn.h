/* dsn - RFC 3464 delivery status notifications (bounces, delay warnings,
 * success notices) as multipart/report messages.
 *
 * The builder writes text with '\n' line ends into a strbuf in two parts so
 * the original message never has to be held in memory:
 *   dsn_begin()  headers, the human-readable part, the message/delivery-status
 *                part, and the headers of the returned-message part;
 *   (caller)     the original message's header lines (text/rfc822-headers,
 *                RET=HDRS, the default) or its whole content (message/rfc822,
 *                RET=FULL), one line at a time through dsn_original_line(),
 *                which keeps MIME boundaries from leaking;
 *   dsn_end()    the closing boundary.
 * All text we generate is 7-bit; values from the envelope are sanitised
 * (control characters replaced) before they are written.
 */
#ifndef MTA_DSN_H
#define MTA_DSN_H
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "strbuf.h"

/* DSN_VERIFY is the "Mail Delivery Status Report" of sendmail -bv: one
 * entry per final destination with action "deliverable" or
 * "undeliverable", and the original's headers attached. */
enum dsn_kind { DSN_FAILURE, DSN_DELAY, DSN_SUCCESS, DSN_VERIFY };

struct dsn_recipient {
    const char *address;       /* final recipient */
    const char *orcpt;         /* DSN ORCPT "rfc822;addr", or NULL */
    const char *action;        /* failed, delayed, delivered, relayed, expanded */
    const char *status;        /* enhanced status code, e.g. 5.1.1 */
    const char *diag_type;     /* "smtp" for a remote reply, else "x-unix" */
    const char *diagnostic;    /* reply text or local reason */
    const char *remote_mta;    /* host name, or NULL */
    const char *expanded_from; /* alias/.forward it came from, or NULL */
};

struct dsn_report {
    enum dsn_kind kind;
    const char *queue_id;   /* of the original message */
    const char *sender;     /* original envelope sender */
    const char *recipient;  /* who receives this notice */
    const char *myhostname; /* Reporting-MTA and From: domain */
    const char *mail_name;  /* "Postfix" */
    const char *envid;      /* DSN ENVID, or NULL */
    time_t arrival;         /* arrival time of the original message */
    time_t now;
    time_t retry_until; /* DSN_DELAY: when we give up; 0 if unknown */
    bool full_message;  /* return the whole message, not only headers */
    const struct dsn_recipient *rcpts;
    size_t nrcpt;
};

/* State of one notice being written; dsn_end releases it. */
struct dsn_writer {
    const struct dsn_report *report;
    strbuf boundary;
};

void dsn_begin(struct dsn_writer *w, const struct dsn_report *r, strbuf *out);
/* One line of the original message (no terminator). */
void dsn_original_line(struct dsn_writer *w, strbuf *out, const char *line, size_t len);
void dsn_end(struct dsn_writer *w, strbuf *out);

/* Split "[d.s.n ]text" (the nexthop of error:, retry: and discard:, as
 * Postfix's dsn_split) into the status code, copied into dsn[size], and
 * the text (returned, pointing into `text`); dsn gets fallback_dsn when
 * the text starts with no code of class 2, 4 or 5. */
const char *dsn_split_text(const char *text, char *dsn, size_t size, const char *fallback_dsn);

#endif
