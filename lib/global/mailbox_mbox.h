/* mailbox_mbox (mbox_*) - durable, locked append of one message to a UNIX
 * mailbox file (local(8) and virtual(8)).
 *
 * mbox_begin takes the locks named by `lock_methods` (MBOX_LOCK_FCNTL,
 * MBOX_LOCK_FLOCK, MBOX_LOCK_DOTLOCK: Postfix's mailbox_delivery_lock
 * "fcntl, dotlock" is what mutt, mailx and Dovecot expect), opens or creates
 * the file (mode 0600) for appending and remembers its size. The caller
 * writes a "From " line (mail_copy_from_line) and the message through
 * mbox_write_line, which escapes body lines starting with "From " as
 * ">From "; mbox_commit adds the blank separator line, flushes and fsyncs.
 * mbox_end must always be called: if the delivery was not committed it
 * truncates the file back to its original size so a failed delivery leaves
 * no partial message, then releases the locks. Errors return -1 with the
 * reason in *err and errno preserved (ENOSPC/EDQUOT: mailbox full; EAGAIN:
 * mailbox locked by someone else for too long).
 */
#ifndef MTA_MAILBOX_MBOX_H
#define MTA_MAILBOX_MBOX_H
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include "strbuf.h"

enum {
    MBOX_LOCK_FCNTL = 1 << 0,
    MBOX_LOCK_FLOCK = 1 << 1,
    MBOX_LOCK_DOTLOCK = 1 << 2,
};

/* Parse a mailbox_delivery_lock value ("fcntl, dotlock"); -1 on an unknown
 * method (named in *err). */
int mbox_lock_methods_parse(const char *value, int *methods, strbuf *err);

struct mbox_delivery {
    int fd;
    off_t orig_size;
    bool committed;
    bool dotlocked;
    strbuf path;
    strbuf lock_path;
    strbuf buffer;
};

/* `owner`: the uid the mailbox must belong to, or (uid_t)-1 for any. The
 * file must be a regular file with one link, and the one lstat saw before
 * opening (no symlink, FIFO or device; EPERM otherwise). */
int mbox_begin(struct mbox_delivery *mb, const char *path, int lock_methods, uid_t owner,
               strbuf *err);
int mbox_write(struct mbox_delivery *mb, const void *data, size_t len, strbuf *err);
/* One content line without terminator: escaped and followed by '\n'. */
int mbox_write_line(struct mbox_delivery *mb, const char *line, size_t len, strbuf *err);
int mbox_commit(struct mbox_delivery *mb, strbuf *err);
void mbox_end(struct mbox_delivery *mb);

#endif
