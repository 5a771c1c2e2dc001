/* pipe_copy - the message as pipe(8) feeds it to a command.
 *
 * Postfix's mail_copy() for pipe: in this order an optional From_ line
 * (F: "From sender asctime"), Return-Path: <sender> (R), X-Original-To:
 * (O), Delivered-To: (D, lowercased), then the queued content with every
 * line ending in `eol`, "From " at a line start quoted as ">From " (>),
 * a line starting with "." doubled (.), and a final empty line (B). The
 * sender is the one pipe(8) uses (the null_sender text for <>); the
 * addresses are quoted like quote_822_local. Produced chunk by chunk, so a
 * large message never sits in memory.
 */
#ifndef MTA_PIPE_COPY_H
#define MTA_PIPE_COPY_H
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include "strbuf.h"

struct pipe_copy_info {
    unsigned flags;       /* PIPE_F_* (pipe_attr.h) */
    const char *eol;      /* record delimiter */
    size_t eol_len;
    const char *sender;   /* envelope sender as pipe(8) shows it */
    const char *orig_rcpt;
    const char *delivered; /* the recipient for Delivered-To: */
    time_t arrival;
    size_t record_limit;
};

struct pipe_copy;
/* Start reading the queue file behind fd; NULL with err. */
struct pipe_copy *pipe_copy_open(int fd, const struct pipe_copy_info *info, strbuf *err);
/* Next chunk (> 0 bytes), 0 at the end, -1 on a queue file error (err). */
ssize_t pipe_copy_next(struct pipe_copy *c, const char **data, strbuf *err);
void pipe_copy_close(struct pipe_copy **c);

/* True when the header section of the queue file behind fd has a
 * Delivered-To: equal (case-insensitively) to addr (pipe's D loop check).
 * -1 on a read error. */
int pipe_copy_delivered_loop(int fd, const char *addr, size_t record_limit, strbuf *err);

#endif
