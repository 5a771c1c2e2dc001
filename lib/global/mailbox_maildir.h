/* mailbox_maildir (maildir_*) - durable delivery of one message into a Maildir
 * (local(8) and virtual(8)).
 *
 * The caller has already switched to the recipient's uid/gid. maildir_begin
 * creates <maildir>/{tmp,new,cur} when missing (mode 0700) and a uniquely
 * named file in tmp/; the caller writes the message with maildir_write (bytes
 * exactly as they should appear, LF line ends); maildir_commit flushes,
 * fsyncs the file, renames it into new/ (never replacing) under its final unique name
 * (<sec>.V<dev>I<ino>M<usec>.<host>, the form Postfix uses and Dovecot
 * accepts), removes the tmp name and fsyncs new/.
 *
 * Where the file system commits a rename with the renamed file's own fsync
 * (ext4, xfs: fsync_covers_new_entry; md->sync_after_rename), one journal
 * commit does instead of two: the data is written out and waited for
 * (sync_file_range, no commit), the file renamed into new/, then fsynced.
 * A reader sees the complete file at once; after a crash before that fsync
 * the file is in tmp/, or complete in new/ (its blocks and size were
 * journaled before the rename, and a journal commits in order), never
 * empty in new/, and it was not reported delivered. Only a 0 return from
 * maildir_commit means delivered (DESIGN.md §3 invariant 2). On any error
 * the tmp file is removed, -1 is returned with the reason in *err, and
 * errno is left describing the failure (ENOSPC/EDQUOT: mailbox full) so the
 * caller can pick a status code. After a successful commit, final_path
 * names the delivered file until maildir_end(), which every delivery must
 * call last (it also cleans up after a failure; calling it twice is safe).
 */
#ifndef MTA_MAILBOX_MAILDIR_H
#define MTA_MAILBOX_MAILDIR_H
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "strbuf.h"

struct maildir_delivery {
    int fd;
    strbuf dir;      /* maildir path without trailing slash */
    strbuf tmp_path; /* tmp/ file being written */
    strbuf buffer;   /* pending output, flushed in large writes */
    strbuf final_path;
    strbuf host;          /* host name part of file names, '/' and ':' escaped */
    long long size_limit; /* > 0: maildir_set_size_limit */
    long long size;       /* bytes given to maildir_write so far */
    dev_t dev;            /* the file's, for its name in new/ */
    ino_t ino;
    bool sync_after_rename; /* rename, then one fsync (see above) */
};

/* The name of this machine (gethostname), for maildir_begin's hostname:
 * what Postfix's local(8) puts into Maildir file names (its get_hostname(),
 * not $myhostname). Cached. */
const char *maildir_local_hostname(void);

int maildir_begin(struct maildir_delivery *md, const char *maildir, const char *hostname,
                  strbuf *err);
int maildir_write(struct maildir_delivery *md, const void *data, size_t len, strbuf *err);
/* After maildir_begin: limit > 0 makes a maildir_write that would take the
 * file past `limit` bytes fail with EFBIG, as RLIMIT_FSIZE would
 * (mailbox_size_limit), without the two setrlimit calls per message. */
void maildir_set_size_limit(struct maildir_delivery *md, long long limit);
int maildir_commit(struct maildir_delivery *md, strbuf *err);
/* maildir_commit in steps, for callers that sync several messages
 * together (local(8)'s batches, local_destination_batch_limit), each step
 * over every file before the next:
 *   1. maildir_finish_write writes what is buffered, md->fd stays open;
 *   2. with md->sync_after_rename, maildir_write_out; without, the caller
 *      fsyncs md->fd (fsync_all);
 *   3. maildir_publish renames the file into new/;
 *   4. the caller fsyncs md->fd again (sync_after_rename; fsync_all) or
 *      "<md->dir>/new" (without).
 * The message is NOT delivered before step 4 succeeded. Each returns -1
 * with *err set and the tmp/ file removed on failure. */
int maildir_finish_write(struct maildir_delivery *md, strbuf *err);
int maildir_write_out(struct maildir_delivery *md, strbuf *err);
/* Between steps 1 and 2: with sync_after_rename, start writing the data
 * out without waiting, so that it overlaps the caller's next messages. */
void maildir_start_write_out(struct maildir_delivery *md);
int maildir_publish(struct maildir_delivery *md, strbuf *err);
/* Finish: remove an uncommitted tmp file and free everything. */
void maildir_end(struct maildir_delivery *md);

#endif
