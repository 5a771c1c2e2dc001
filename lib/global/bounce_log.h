/* bounce_log - per-message, per-recipient logs: bounce/, defer/, trace/.
 *
 * One format and one implementation for the three logs Postfix keeps per
 * queue ID (its "bounce logs"):
 *   defer/<id>   why recipients were deferred in the latest pass (qmgr
 *                rewrites it each pass; mailq shows the reasons)
 *   bounce/<id>  recipients that bounced
 *   trace/<id>   sendmail -bv answers, appended by several processes in any
 *                order (qmgr for routes it decides, local(8) for alias and
 *                .forward expansion); qmgr reads them for the report.
 *
 * FORMAT: records separated by an empty line, one "name=value" per line,
 * in this order (optional fields only when set):
 *   recipient=, original_recipient=?, offset=?, dsn_orig_rcpt=?,
 *   dsn_notify=?, status= (d.s.n), action=, reason=
 * Values never hold newlines (CR/LF are written as spaces). A record is
 * complete only with its empty line: a torn last record (crashed writer)
 * is ignored by the reader.
 *
 * PLACE: <queue_dir>/<log>/<hash dirs>/<id>, hashed as mail_queue says for
 * that log (hash_queue_names may list bounce, defer and trace); the log
 * directory and hash directories are made on demand, 0700.
 *
 * OWNERSHIP: the logs belong to the owner of active/ (mail_owner); a root
 * writer (local) chowns what it creates, so qmgr can read and remove it.
 *
 * CONCURRENCY: bounce_log_append writes a record with ONE write() on an
 * O_APPEND descriptor, so concurrent writers never interleave on a local
 * file system. bounce_log_replace writes a new file under a temporary name
 * and renames it over the old one, so a reader sees the old or the new log.
 *
 * LIMITS: reading is bounded by BOUNCE_LOG_MAX bytes; a longer file is an
 * error (callers say so instead of growing memory).
 */
#ifndef MTA_BOUNCE_LOG_H
#define MTA_BOUNCE_LOG_H
#include <stdbool.h>
#include <stddef.h>

#include "strbuf.h"

#define BOUNCE_LOG_MAX (4 * 1024 * 1024)

/* Log names (queue directory names). */
#define BOUNCE_LOG_BOUNCE "bounce"
#define BOUNCE_LOG_DEFER "defer"
#define BOUNCE_LOG_TRACE "trace"

/* Strings; NULL (or "" for the optional ones) means not set. */
struct bounce_log_entry {
    const char *recipient;
    const char *orig_recipient; /* optional: when different from recipient */
    const char *offset;         /* optional: queue file offset of the R record */
    const char *dsn_orig_rcpt;  /* optional */
    const char *dsn_notify;     /* optional */
    const char *status;         /* enhanced status code */
    const char *action;         /* "delayed", "failed", "deliverable", ... */
    const char *reason;
};

/* True for bounce, defer and trace. */
bool bounce_log_name_valid(const char *log);

/* Append one record. 0, or -1 with the reason in err (also for a bad log
 * name or queue ID). */
int bounce_log_append(const char *queue_dir, const char *log, const char *queue_id,
                      const struct bounce_log_entry *e, strbuf *err);

/* Replace the whole log with `n` records (n == 0: an empty log). */
int bounce_log_replace(const char *queue_dir, const char *log, const char *queue_id,
                       const struct bounce_log_entry *e, size_t n, strbuf *err);

/* Call fn for every complete record with a recipient and an action
 * (strings valid during the call only). A missing file is no records.
 * 0, or -1 with the reason in err. */
typedef void (*bounce_log_fn)(void *ctx, const struct bounce_log_entry *e);
int bounce_log_read(const char *queue_dir, const char *log, const char *queue_id, bounce_log_fn fn,
                    void *ctx, strbuf *err);

/* Remove the log; 0 also when it did not exist, else -1 with errno. */
int bounce_log_remove(const char *queue_dir, const char *log, const char *queue_id);

#endif
