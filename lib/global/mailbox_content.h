/* mailbox_content - a queued message as a mailbox stores it, for local(8)
 * and virtual(8) (one way to write a mailbox).
 *
 * RENDERING (lib/global/mail_copy underneath). mailbox_render_open reads the queue file `fd` from its start
 * (records bounded by record_limit) and yields, chunk by chunk, what goes
 * into the mailbox: for MBOX and COMMAND a "From sender date" line first;
 * then Return-Path: <sender>, X-Original-To: <orig_rcpt> (when orig_rcpt
 * is set and not empty: enable_original_recipient), Delivered-To:
 * <recipient>; then the message content with LF line ends (for MBOX, a
 * line starting "From " gets a '>'). The caller's file descriptor is only
 * read, never closed.
 *
 * WRITING. mailbox_render_to_maildir / _to_mbox copy every chunk into an
 * open delivery (mailbox_maildir.h, mailbox_mbox.h); the caller commits.
 * mailbox_size_limit_enter bounds the size of files written until
 * mailbox_size_limit_leave (RLIMIT_FSIZE; the process must ignore SIGXFSZ
 * so that an oversized write fails with EFBIG).
 *
 * OUTCOMES. Nothing here logs or decides a recipient's fate: a failed write
 * returns -1 with errno and the reason, and mailbox_failure() classifies
 * it the way local(8) reports it (Postfix's): EFBIG (over the size limit)
 * bounces with 5.2.2, ENOSPC (disk full) defers with 4.3.0, anything else
 * defers with 4.2.0. Each agent turns that into its own log line.
 */
#ifndef MTA_MAILBOX_CONTENT_H
#define MTA_MAILBOX_CONTENT_H
#include <stdbool.h>
#include <stddef.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <time.h>

#include "deliver_request.h"
#include "mailbox_maildir.h"
#include "mailbox_mbox.h"
#include "queue_file.h"
#include "strbuf.h"
#include "strlist.h"

enum mailbox_format {
    MAILBOX_FORMAT_MAILDIR, /* prepended headers + content */
    MAILBOX_FORMAT_MBOX,    /* From_ line, prepended headers, >From quoting */
    MAILBOX_FORMAT_COMMAND, /* From_ line, prepended headers, content as is */
};

/* What the rendering needs to know about the message and the recipient. */
struct mailbox_message {
    int fd;              /* the queue file */
    size_t record_limit; /* mail_queue_read_limit() */
    const char *sender;  /* internal form; "" for <> */
    time_t arrival;      /* for the From_ line */
    /* Optional: the queue file as read once (fd is then head->fd);
     * renderings take it from there (queue_file_head). */
    const struct queue_file_head *head;
};

struct mailbox_render;
/* NULL with err set when the queue file cannot be read. orig_rcpt NULL or
 * "": no X-Original-To. */
struct mailbox_render *mailbox_render_open(const struct mailbox_message *msg,
                                           enum mailbox_format fmt, const char *recipient,
                                           const char *orig_rcpt, strbuf *err);
/* Next chunk (> 0 bytes, valid until the next call), 0 at the end, -1 on a
 * queue-file error (err). */
ssize_t mailbox_render_next(struct mailbox_render *r, const char **data, strbuf *err);
void mailbox_render_close(struct mailbox_render **r);

/* Everything left in r into the delivery: 0, or -1 with err (errno kept:
 * the write's, or 0 for a queue-file error). */
int mailbox_render_to_maildir(struct mailbox_render *r, struct maildir_delivery *md, strbuf *err);
int mailbox_render_to_mbox(struct mailbox_render *r, struct mbox_delivery *mb, strbuf *err);

/* limit > 0: files written from now on stop at `limit` bytes (EFBIG).
 * Returns what mailbox_size_limit_leave restores. */
struct rlimit mailbox_size_limit_enter(long long limit);
void mailbox_size_limit_leave(struct rlimit old);

/* How a failed mailbox write ends for the recipient (see OUTCOMES). */
struct mailbox_failure {
    enum deliver_status status; /* DELIVER_BOUNCED or DELIVER_DEFERRED */
    const char *dsn;            /* "5.2.2", "4.3.0", "4.2.0" */
};
struct mailbox_failure mailbox_failure(int err_no);

#endif
