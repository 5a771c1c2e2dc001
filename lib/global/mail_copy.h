/* mail_copy - render a queued message for a mailbox or a command, as
 * Postfix's mail_copy(): the one renderer of local(8)'s Maildir, mbox and
 * |command deliveries, virtual(8)'s mailboxes and pipe(8)'s commands.
 *
 * In this order: an optional From_ line (MAIL_COPY_FROM: "From sender
 * asctime", MAILER-DAEMON for <>), Return-Path: <sender> (RETURN_PATH),
 * X-Original-To: orig (ORIG_RCPT, when orig_rcpt is set), Delivered-To:
 * recipient (DELIVERED), then the queued content with every line ending in
 * `eol` ("\n" when NULL), "From " at a line start quoted as ">From "
 * (QUOTE), a line starting with "." doubled (DOT), and a final empty line
 * (BLANK). pipe(8) also wants the addresses of those lines quoted like
 * quote_822_local (QUOTE_ADDRS) and Delivered-To lowercased
 * (FOLD_DELIVERED), as Postfix's pipe does; local(8) writes them as they
 * are. Produced chunk by chunk (at most ~64 KB held), so a large message
 * never sits in memory; the queue file is read with pread, so the caller
 * may mark recipients meanwhile.
 */
#ifndef MTA_MAIL_COPY_H
#define MTA_MAIL_COPY_H
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include "queue_file.h"
#include "strbuf.h"
#include "strlist.h"

enum {
    MAIL_COPY_FROM = 1 << 0,
    MAIL_COPY_RETURN_PATH = 1 << 1,
    MAIL_COPY_ORIG_RCPT = 1 << 2,
    MAIL_COPY_DELIVERED = 1 << 3,
    MAIL_COPY_QUOTE = 1 << 4,
    MAIL_COPY_DOT = 1 << 5,
    MAIL_COPY_BLANK = 1 << 6,
    MAIL_COPY_QUOTE_ADDRS = 1 << 7,
    MAIL_COPY_FOLD_DELIVERED = 1 << 8,
};

struct mail_copy_info {
    unsigned flags;
    const char *eol; /* NULL: "\n" */
    size_t eol_len;
    const char *sender;
    const char *orig_rcpt; /* NULL or "": no X-Original-To: */
    const char *delivered;
    time_t from_time; /* for the From_ line */
    size_t record_limit;
};

struct mail_copy;
/* Start reading the queue file behind fd; NULL with err. */
struct mail_copy *mail_copy_open(int fd, const struct mail_copy_info *info, strbuf *err);
/* The same on a queue file already read once (queue_file_head): no fstat,
 * no second read of what the head holds. */
struct mail_copy *mail_copy_open_head(const struct queue_file_head *head,
                                      const struct mail_copy_info *info, strbuf *err);
/* Next chunk (> 0 bytes), 0 at the end, -1 on a queue file error (err). */
ssize_t mail_copy_next(struct mail_copy *c, const char **data, strbuf *err);
void mail_copy_close(struct mail_copy **c);

/* The From_ line (with "\n"): "From sender  asctime" (MAILER-DAEMON for
 * an empty sender). */
void mail_copy_from_line(strbuf *out, const char *sender, time_t when);

/* Append the values of the Delivered-To: headers in the header section of
 * the queue file behind fd to *out (loop detection). 0, or -1 with err. */
int mail_copy_delivered_to(int fd, size_t record_limit, strlist *out, strbuf *err);
int mail_copy_delivered_to_head(const struct queue_file_head *head, size_t record_limit,
                                strlist *out, strbuf *err);

#endif
