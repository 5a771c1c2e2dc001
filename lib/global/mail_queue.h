/* mail_queue - the queue directories: which queues exist, which are hashed
 * and how deep, where a queue ID lives in a queue, and a scan over a queue.
 *
 * CONTRACT
 *  - This is the one place that reads hash_queue_names and hash_queue_depth.
 *    mail_queue_depth() validates them once per process, at its first call:
 *    a depth outside [0, QUEUE_ID_MAX_DEPTH] is fatal (never silently 0).
 *    Names listed that Postfix never hashes (maildrop, corrupt, saved, and
 *    anything unknown) get one warning and are ignored, as in Postfix,
 *    where pickup/postdrop only ever look in maildrop/ itself.
 *  - Hashable queues (Postfix's list): incoming, active, deferred, bounce,
 *    defer, trace, flush, hold. Every reader and writer of those uses the
 *    depth from here, so a hashed queue is hashed for everyone.
 *  - mail_queue_path() never builds a path from a bad queue name or an ID
 *    that is not a well-formed queue ID (queue_id_valid): it returns -1.
 *  - The scan lists each directory level before descending (readdir never
 *    races with renames of the caller into or out of it) and yields only
 *    names that are valid queue IDs at the leaf level, so writers'
 *    temporary names and strays are skipped. Hash directories are the
 *    one-character names at each level above the leaves.
 *  - Record limits (the one policy): whoever writes a queue or maildrop
 *    file from outside input (cleanup, postdrop) bounds its records by
 *    mail_queue_record_limit(); everyone reading a file the mail system
 *    wrote (qmgr, local, smtp, showq, pickup, postsuper) accepts
 *    mail_queue_read_limit(), which is never smaller, so a file written
 *    under an earlier, larger line_length_limit still reads after the
 *    setting was lowered. postsuper -r copies with the read limit, so what
 *    was readable stays readable.
 */
#ifndef MTA_MAIL_QUEUE_H
#define MTA_MAIL_QUEUE_H
#include <stdbool.h>
#include <stddef.h>

#include "queue_id.h"
#include "strbuf.h"

/* True for the queues Postfix allows in hash_queue_names. */
bool mail_queue_hashable(const char *queue);

/* Parsed hash settings; filled by mail_queue_parse. */
struct mail_queue_hash {
    int depth;     /* hash_queue_depth */
    unsigned mask; /* bit i set: hashable queue i (internal order) is hashed */
};

/* Parse hash_queue_names / hash_queue_depth values. Returns -1 with the
 * reason in `err` for a depth outside [0, QUEUE_ID_MAX_DEPTH]; names that
 * cannot be hashed are appended (comma separated) to `ignored` when it is
 * not NULL. */
int mail_queue_parse(struct mail_queue_hash *out, const char *names, long long depth,
                     strbuf *ignored, strbuf *err);

/* Depth of `queue` under `h`: 0 unless hashable and listed. */
int mail_queue_hash_depth(const struct mail_queue_hash *h, const char *queue);

/* Depth of `queue` per this process's configuration (first call
 * validates: fatal on a bad depth, a warning for ignored names). */
int mail_queue_depth(const char *queue);

/* Replace `out` with "<queue>/<hash dirs>/<id>" for the configured depth.
 * Returns -1 (out emptied) for a bad queue name or an invalid ID. */
int mail_queue_path(strbuf *out, const char *queue, const char *id);

/* Append the hash directories of `id` at `depth` ("A/B/", "" at depth 0)
 * to out: the one rule for where an ID lives in a hashed queue (used by
 * mail_queue_path and by queue_file for explicit depths). -1 for a bad
 * depth or ID. */
int mail_queue_hash_dirs(strbuf *out, const char *id, int depth);
/* Create each level of `hash` (as from mail_queue_hash_dirs) below dirfd,
 * mode 0700; existing levels are fine. *created is incremented per new
 * level (their entries in the parent need an fsync). -1 with errno set. */
int mail_queue_make_hash_dirs(int dirfd, const char *hash, int *created);

/* Readers accept records of at least this size whatever the settings. */
#define MAIL_QUEUE_READ_MIN (1024 * 1024)
/* Writers bound records by at least this much (an 8 KiB header line is
 * one record even when line_length_limit is smaller). */
#define MAIL_QUEUE_WRITE_MIN 8192

/* max(line_length_limit, MAIL_QUEUE_WRITE_MIN), at most UINT32_MAX (the
 * queue file format's largest record); pure form for tests. */
size_t mail_queue_record_limit_for(long long line_length_limit);
size_t mail_queue_record_limit(void);
/* max(mail_queue_record_limit(), MAIL_QUEUE_READ_MIN). */
size_t mail_queue_read_limit(void);

/* Iterator over the queue IDs in one queue directory. */
typedef struct mail_queue_scan mail_queue_scan;

/* Start a scan of `queue` (relative to `dirfd`, AT_FDCWD for the current
 * directory) at `depth`. A missing queue directory is an empty scan; any
 * other failure to open it warns and is an empty scan too. */
mail_queue_scan *mail_queue_scan_open(int dirfd, const char *queue, int depth);

/* A scan for repairs (postsuper -s): every hash level down to
 * QUEUE_ID_MAX_DEPTH, yielding IDs at any level, whatever the depth. */
mail_queue_scan *mail_queue_scan_open_all(int dirfd, const char *queue);

/* A scan for crash leftovers: every name (not only queue IDs) at every
 * level down to `depth`, including one-character names that are not
 * directories. Names starting with '.' are never yielded. */
mail_queue_scan *mail_queue_scan_open_names(int dirfd, const char *queue, int depth);

/* Next queue ID, or NULL when done. The string is valid until the next
 * call; mail_queue_scan_dirfd() is the directory holding it. */
const char *mail_queue_scan_next(mail_queue_scan *s);
int mail_queue_scan_dirfd(const mail_queue_scan *s);

/* Replace `out` with the path of `name` (just yielded) relative to the
 * scan's dirfd: "<queue>/<hash dirs>/<name>". */
void mail_queue_scan_path(const mail_queue_scan *s, const char *name, strbuf *out);

void mail_queue_scan_close(mail_queue_scan **sp);

#endif
