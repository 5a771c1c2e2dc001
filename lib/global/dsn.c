#include "dsn.h"

#include <stdio.h>
#include <string.h>

#include "mail_date.h"

/* Envelope values end up in headers: never let CR/LF/NUL/8-bit through. */
static void put_sanitised(strbuf *out, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        strbuf_putc(out, (*p < 0x20 || *p >= 0x7f) ? '?' : (char)*p);
}

static void make_boundary(const struct dsn_report *r, strbuf *out)
{
    strbuf_printf(out, "%s.%lld/", r->queue_id, (long long)r->now);
    put_sanitised(out, r->myhostname);
}

static const char *subject_for(enum dsn_kind kind)
{
    switch (kind) {
    case DSN_DELAY:
        return "Delayed Mail (still being retried)";
    case DSN_SUCCESS:
        return "Successful Mail Delivery Report";
    case DSN_VERIFY:
        return "Mail Delivery Status Report";
    default:
        return "Undelivered Mail Returned to Sender";
    }
}

static void put_headers(const struct dsn_report *r, strbuf *out, const char *boundary)
{
    strbuf_puts(out, "From: MAILER-DAEMON@");
    put_sanitised(out, r->myhostname);
    strbuf_puts(out, " (Mail Delivery System)\nTo: ");
    put_sanitised(out, r->recipient);
    strbuf_printf(out, "\nSubject: %s\nDate: ", subject_for(r->kind));
    mail_date_append(out, r->now);
    strbuf_printf(out,
                  "\nAuto-Submitted: auto-replied\nMIME-Version: 1.0\n"
                  "Content-Type: multipart/report; report-type=delivery-status;\n"
                  "\tboundary=\"%s\"\n"
                  "Content-Transfer-Encoding: 7bit\n\n"
                  "This is a MIME-encapsulated message.\n\n",
                  boundary);
}

static void put_human_part(const struct dsn_report *r, strbuf *out, const char *boundary)
{
    strbuf_printf(out,
                  "--%s\nContent-Description: Notification\n"
                  "Content-Type: text/plain; charset=us-ascii\n\n",
                  boundary);
    strbuf_puts(out, "This is the mail system at host ");
    put_sanitised(out, r->myhostname);
    strbuf_puts(out, ".\n\n");
    switch (r->kind) {
    case DSN_FAILURE:
        strbuf_puts(out, "Your message could not be delivered to one or more recipients.\n"
                         "The details are below; the returned message is attached.\n\n"
                         "To reach a person, write to postmaster and include this report.\n");
        break;
    case DSN_DELAY:
        strbuf_puts(out, "Your message has not been delivered yet to one or more recipients.\n"
                         "Delivery will be retried; no action is needed from you now.\n");
        if (r->retry_until) {
            strbuf_puts(out, "Delivery attempts stop on ");
            mail_date_append(out, r->retry_until);
            strbuf_puts(out, ".\n");
        }
        break;
    case DSN_SUCCESS:
        strbuf_puts(out, "Your message was delivered to the recipients listed below,\n"
                         "as you asked with a delivery status notification request.\n");
        break;
    case DSN_VERIFY:
        /* Postfix's wording: scripts grep for it. */
        strbuf_puts(out, "Enclosed is the mail delivery report that you requested.\n\n"
                         "                   The mail system\n");
        break;
    }
    strbuf_putc(out, '\n');
    for (size_t i = 0; i < r->nrcpt; i++) {
        const struct dsn_recipient *rc = &r->rcpts[i];
        strbuf_putc(out, '<');
        put_sanitised(out, rc->address);
        strbuf_putc(out, '>');
        if (rc->expanded_from) {
            strbuf_puts(out, " (expanded from <");
            put_sanitised(out, rc->expanded_from);
            strbuf_putc(out, '>');
            strbuf_putc(out, ')');
        }
        strbuf_puts(out, ": ");
        put_sanitised(out, rc->diagnostic ? rc->diagnostic : rc->status);
        strbuf_puts(out, "\n\n");
    }
}

static void put_status_part(const struct dsn_report *r, strbuf *out, const char *boundary)
{
    strbuf_printf(out,
                  "--%s\nContent-Description: Delivery report\n"
                  "Content-Type: message/delivery-status\n\n",
                  boundary);
    strbuf_puts(out, "Reporting-MTA: dns; ");
    put_sanitised(out, r->myhostname);
    strbuf_puts(out, "\nX-Postfix-Queue-ID: ");
    put_sanitised(out, r->queue_id);
    strbuf_puts(out, "\nX-Postfix-Sender: rfc822; ");
    put_sanitised(out, r->sender);
    if (r->envid) {
        strbuf_puts(out, "\nOriginal-Envelope-Id: ");
        put_sanitised(out, r->envid);
    }
    strbuf_puts(out, "\nArrival-Date: ");
    mail_date_append(out, r->arrival);
    strbuf_putc(out, '\n');
    for (size_t i = 0; i < r->nrcpt; i++) {
        const struct dsn_recipient *rc = &r->rcpts[i];
        strbuf_puts(out, "\nFinal-Recipient: rfc822; ");
        put_sanitised(out, rc->address);
        if (rc->orcpt) {
            strbuf_puts(out, "\nOriginal-Recipient: ");
            put_sanitised(out, rc->orcpt);
        }
        strbuf_puts(out, "\nAction: ");
        put_sanitised(out, rc->action);
        strbuf_puts(out, "\nStatus: ");
        put_sanitised(out, rc->status);
        if (rc->remote_mta) {
            strbuf_puts(out, "\nRemote-MTA: dns; ");
            put_sanitised(out, rc->remote_mta);
        }
        if (rc->diagnostic) {
            strbuf_puts(out, "\nDiagnostic-Code: ");
            put_sanitised(out, rc->diag_type ? rc->diag_type : "x-unix");
            strbuf_puts(out, "; ");
            put_sanitised(out, rc->diagnostic);
        }
        if (r->kind == DSN_DELAY && r->retry_until) {
            strbuf_puts(out, "\nWill-Retry-Until: ");
            mail_date_append(out, r->retry_until);
        }
        strbuf_putc(out, '\n');
    }
    strbuf_putc(out, '\n');
}

void dsn_begin(struct dsn_writer *w, const struct dsn_report *r, strbuf *out)
{
    w->report = r;
    w->boundary = (strbuf)STRBUF_INIT;
    make_boundary(r, &w->boundary);
    put_headers(r, out, w->boundary.s);
    put_human_part(r, out, w->boundary.s);
    put_status_part(r, out, w->boundary.s);
    strbuf_printf(out, "--%s\nContent-Description: %s\nContent-Type: %s\n\n", w->boundary.s,
                  r->kind == DSN_VERIFY
                      ? (r->full_message ? "Message" : "Message Headers")
                      : (r->full_message ? "Undelivered Message" : "Undelivered Message Headers"),
                  r->full_message ? "message/rfc822" : "text/rfc822-headers");
}

void dsn_original_line(struct dsn_writer *w, strbuf *out, const char *line, size_t len)
{
    /* The boundary holds the queue ID and time; an original line that
     * matches it would end our MIME part early: defuse it. */
    const strbuf *b = &w->boundary;
    if (len >= 2 + b->len && line[0] == '-' && line[1] == '-' &&
        memcmp(line + 2, b->s, b->len) == 0)
        strbuf_putc(out, ' ');
    strbuf_append(out, line, len);
    strbuf_putc(out, '\n');
}

void dsn_end(struct dsn_writer *w, strbuf *out)
{
    strbuf_printf(out, "\n--%s--\n", w->boundary.s);
    strbuf_release(&w->boundary);
}

const char *dsn_split_text(const char *text, char *dsn, size_t size, const char *fallback_dsn)
{
    snprintf(dsn, size, "%s", fallback_dsn);
    if ((text[0] == '2' || text[0] == '4' || text[0] == '5') && text[1] == '.') {
        size_t n = strcspn(text, " ");
        if (n < size) {
            memcpy(dsn, text, n);
            dsn[n] = 0;
            text += n;
            text += strspn(text, " ");
        }
    }
    return text;
}
