/* trace_log - per-message verification records in trace/<queue_id>.
 *
 * sendmail -bv (QF_FLAG_VERIFY) asks what would happen to each recipient.
 * The answers come from several processes in any order (qmgr for routes it
 * decides itself, local(8) for every alias/.forward expansion), so each is
 * appended to one file per message, as Postfix's trace(8) service does, and
 * qmgr reads them back when it writes the report, then removes the file.
 *
 * FORMAT: records separated by an empty line, one "name=value" per line:
 *   recipient=, original_recipient= (optional), status= (d.s.n),
 *   action= ("deliverable" or "undeliverable"), reason=
 * Values never hold newlines (CR/LF are written as spaces). A record is
 * written with ONE write() on an O_APPEND descriptor, so concurrent writers
 * never interleave on a local file system.
 *
 * OWNERSHIP: trace/ (0700) and its files belong to the owner of active/
 * (mail_owner); a root writer (local) chowns what it creates, so qmgr can
 * read and remove it. Reading is bounded by TRACE_LOG_MAX bytes; a longer
 * file is an error (the report then says so instead of growing memory).
 */
#ifndef MTA_TRACE_LOG_H
#define MTA_TRACE_LOG_H
#include <stddef.h>

#include "strbuf.h"

#define TRACE_LOG_MAX (4 * 1024 * 1024)

struct trace_entry {
    const char *recipient;
    const char *orig_recipient; /* NULL or "" when the same as recipient */
    const char *status;         /* enhanced status code */
    const char *action;         /* "deliverable" / "undeliverable" */
    const char *reason;
};

/* Append one record. 0, or -1 with the reason in err. */
int trace_log_append(const char *queue_dir, const char *queue_id, const struct trace_entry *e,
                     strbuf *err);

/* Call fn for every complete record (strings valid during the call only).
 * A missing file is no records. 0, or -1 with the reason in err. */
typedef void (*trace_log_fn)(void *ctx, const struct trace_entry *e);
int trace_log_read(const char *queue_dir, const char *queue_id, trace_log_fn fn, void *ctx,
                   strbuf *err);

/* Remove the file; 0 also when it did not exist, else -1 with errno. */
int trace_log_remove(const char *queue_dir, const char *queue_id);

#endif
