/* local.h - shared state of the local(8) delivery agent's modules.
 *
 * One request from qmgr names a queue file and the recipients to deliver
 * (local_destination_recipient_limit is 1 by default), or a batch of such
 * messages for one user (local_destination_batch_limit, local.c). For each recipient
 * local_expand.c resolves aliases, .forward and :include: files
 * recursively; local_deliver.c writes to Maildir, mbox, files and commands,
 * with the message rendered by lib/global/mailbox_content (the headers
 * local prepends) and the Maildir and mbox writers of lib/global
 * (mailbox_maildir, mailbox_mbox), which virtual(8) shares.
 */
#ifndef MTA_LOCAL_H
#define MTA_LOCAL_H
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "deliver_request.h"
#include "mailbox_content.h"
#include "maps.h"
#include "match_list.h"
#include "queue_file.h"
#include "strbuf.h"
#include "strlist.h"

/* Settings read once per process. */
struct local_config {
    const char *queue_directory;
    const char *myhostname;
    const char *home_mailbox;
    const char *mail_spool_directory;
    const char *mailbox_command;
    const char *mailbox_transport; /* "transport[:nexthop]" or empty */
    const char *recipient_delimiter;
    /* forward_path split into its elements BEFORE any expansion, so that
     * no expanded value can add an element; each is expanded per
     * recipient by local_forward_expand(). */
    strlist forward_path;
    const char *forward_filter; /* forward_expansion_filter */
    const char *command_filter; /* command_expansion_filter */
    const char *exec_directory; /* command_execution_directory, raw */
    const char *exec_filter;    /* execution_directory_expansion_filter */
    const char *default_privs;
    strlist allow_commands; /* allow_mail_to_commands: alias, forward, include */
    strlist allow_files;
    int lock_methods;
    unsigned command_time_limit;
    long long mailbox_size_limit;
    bool enable_original_recipient;
    maps *alias_maps;
    match_list *mydestination;
    size_t record_limit;
};

extern struct local_config local_cfg;

/* Where a destination came from: decides privileges and what is allowed. */
enum local_origin { ORIGIN_DIRECT, ORIGIN_ALIAS, ORIGIN_FORWARD, ORIGIN_INCLUDE };

/* A log line held back until the batch's Maildir directories are synced
 * (local.c). */
struct local_pending_log;

/* Batch mode (a request with several messages for one user, local.c):
 * Maildir files are written to tmp/ and wait here unsynced; at the end of
 * the batch local_batch_commit() fsyncs them all at once, renames each
 * into new/ and fsyncs each new/ once. */
struct local_batch {
    struct local_waiting_file *files;
    size_t nfiles;
    strlist new_dirs;
};
/* 0, or -1 with the first failure in *failed (every waiting file is then
 * either in new/ or removed; the caller reports the batch deferred). */
int local_batch_commit(struct local_batch *b, strbuf *failed);

/* The message being delivered. */
struct local_message {
    const struct deliver_request *req;
    int fd;                      /* queue file, read-write (to mark recipients) */
    struct queue_file_head head; /* its one read, shared by the renderings */
    strlist delivered_to;        /* Delivered-To: values already in the message */
    int64_t start_us;            /* when this agent took the request */
    /* Batch mode: Maildir deliveries wait in *batch; log lines wait in
     * logs[] and DELIVERED marks wait too, until local_batch_commit().
     * NULL: no batch, every delivery is final at once. */
    struct local_batch *batch;
    bool pending_sync; /* a Maildir file of this message waits in *batch */
    struct local_pending_log *logs;
    size_t nlogs;
};

/* One delivery attempt for one original recipient; expansions share it. */
struct local_attempt {
    struct local_message *msg;
    struct deliver_rcpt *rcpt; /* the queue's recipient */
    strlist path;              /* addresses on the current expansion path */
    strlist done;              /* destinations already delivered (duplicates) */
    int deferred, bounced, sent;
    strbuf first_defer, first_bounce;   /* reasons for the reply */
    char defer_dsn[16], bounce_dsn[16]; /* copies: agents' replies are freed */
};

/* Privileges for a delivery. */
struct local_privs {
    uid_t uid;
    gid_t gid;
    const char *user; /* login name, for the environment */
    const char *home;
    const char *shell;
};

/* local_deliver.c: become p (effective uid and gid, groups just gid) or
 * go back to root. Entering the identity already in effect does nothing,
 * leaving twice neither: a caller that keeps an identity on for the next
 * step (local_expand.c's .forward lookup before a Maildir delivery) saves
 * the switch back and forth. Every path returns to root before anything
 * that needs root (the spool, commands, sockets, the next request).
 * 0, or -1 with errno (still root). */
int local_privs_enter(const struct local_privs *p);
void local_privs_leave(void);

/* local_deliver.c: true when local_deliver_mailbox(at, ..., pw) will write
 * a Maildir as pw and nothing else (no mailbox_transport or
 * mailbox_command, home_mailbox ending in '/', not verifying). */
bool local_mailbox_is_maildir(const struct local_attempt *at);

/* local_expand.c: the default_privs account (nobody when it is missing). */
void local_default_privs(struct local_privs *p);

/* local_deliver.c: the privileges a |command or /file runs with: root's
 * become default_privs', as in Postfix (mail to root's .forward or to
 * mailbox_command for root never runs anything as root). NULL: the
 * default is root too (refused). */
const struct local_privs *local_unprivileged(const struct local_privs *privs,
                                             struct local_privs *storage);

/* The message as lib/global/mailbox_content renders it for `recipient`
 * (X-Original-To per enable_original_recipient); local_deliver.c. */
struct mailbox_render *local_render_open(struct local_message *msg, enum mailbox_format fmt,
                                         const char *recipient, const char *orig_rcpt, strbuf *err);

/* A local recipient as local(8)'s $name expansions see it (Postfix's
 * $local, $domain, $extension, ...). Everything here is the sender's text. */
struct local_recipient {
    const char *address; /* user+ext@domain, local part lower-cased */
    const char *local;   /* user+ext */
    const char *domain;
    const char *extension; /* NULL: none (or empty) */
    char delimiter[2];     /* the delimiter that split it off ("+") */
};
/* Fill *r from an address and its extension; local_part holds r->local. */
void local_recipient_parse(struct local_recipient *r, const char *address, const char *extension,
                           strbuf *local_part);

/* Expand text with the recipient's attributes ($user $home $shell $local
 * $mailbox $domain $recipient $extension $recipient_delimiter) before
 * main.cf parameters. Values are filtered by `filter` (bytes outside it
 * become '_'); those from the address also lose '/', so they never name a
 * directory. 0 and *out; 1: the text uses an attribute this recipient
 * lacks (Postfix skips such a value); -1 with *err on a syntax error. */
int local_expand_attrs(const char *text, const struct local_recipient *r,
                       const struct local_privs *pw, const char *filter, strbuf *out, strbuf *err);

/* One forward_path element: local_expand_attrs with
 * forward_expansion_filter, and the result must be an absolute path with
 * no "." or ".." component (else -1). */
int local_forward_expand(const char *element, const struct local_recipient *r,
                         const struct local_privs *pw, strbuf *path, strbuf *err);

/* local_expand.c: deliver one recipient address, recursively. */
void local_expand_recipient(struct local_attempt *at, const char *address, int depth);

/* local_deliver.c: the mailbox, file and command writers. Each logs the
 * delivery line and counts the outcome in the attempt. */
void local_deliver_mailbox(struct local_attempt *at, const char *recipient,
                           const struct local_privs *pw, const char *extension);
void local_deliver_file(struct local_attempt *at, const char *recipient, const char *path,
                        const struct local_privs *privs);
void local_deliver_command(struct local_attempt *at, const char *recipient, const char *command,
                           const struct local_privs *privs, const char *extension);

/* local_pass.c: mailbox delivery through $mailbox_transport (another
 * delivery agent, e.g. lmtp into Dovecot); that agent logs the line. */
void local_deliver_pass(struct local_attempt *at, const char *recipient, const char *spec);

/* local_forward.c: queue a copy for an address that is not ours. */
void local_forward(struct local_attempt *at, const char *recipient, const char *address);

/* Verify mode (sendmail -bv, DELIVER_FLAG_VERIFY): every writer, command,
 * forward and mailbox_transport hand-off calls this first and, when it is
 * true, reports local_outcome(DELIVER_SENT, "delivers to ...") instead of
 * acting; local_outcome then logs "deliverable"/"undeliverable" and appends
 * to trace/<id> (bounce_log.h) for qmgr's report. */
static inline bool local_verifying(const struct local_attempt *at)
{
    return (at->msg->req->flags & DELIVER_FLAG_VERIFY) != 0;
}

/* Outcome bookkeeping and the log line (local.c). */
void local_outcome(struct local_attempt *at, const char *recipient, enum deliver_status status,
                   const char *dsn, const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* The same without the log line (someone else wrote it). */
void local_count_outcome(struct local_attempt *at, enum deliver_status status, const char *dsn,
                         const char *text);

#endif
