/* maildrop - local submission: the sendmail -> postdrop stream and the
 * maildrop/ file that pickup reads.
 *
 * CONTRACT
 *  - sendmail (unprivileged) execs postdrop (setgid postdrop) and writes the
 *    message to postdrop's stdin as attribute lists (attr.h), the same
 *    requests as the cleanup protocol (cleanup_client.h) minus "open":
 *        request=envelope sender= [fullname=] [envid=] [ret=] [body=]
 *                         [flags=]  (MAILDROP_FLAGS bits only: sendmail -bv)
 *        request=rcpt address= [orcpt=] [notify=]     (>= 1)
 *        request=content (N=<line> | L=<piece>)...
 *        request=end
 *    bounded by cleanup_attr_limits. postdrop writes maildrop/<ID> with
 *    queue_file (0600 while incomplete, committed 0700 + fsync of file and
 *    directory) and exits 0 only after the commit; anything else removes the
 *    file and exits non-zero. No reply channel: the exit status is the reply.
 *  - The file owner IS the submitter: postdrop keeps the caller's uid, and
 *    maildrop/ is 0730 postfix:postdrop, so users can neither list it nor
 *    reach each other's files (they never hold the postdrop group
 *    themselves). Nothing inside the file claims an identity.
 *  - maildrop_load() is the strict gate pickup applies before trusting a
 *    file: only the records postdrop writes, each at most once where that
 *    applies, only the attributes in MAILDROP_ATTRS, recipients not yet
 *    delivered, no NUL/CR/LF in addresses or names, an END record, at most
 *    max_rcpt recipients. Anything else is "forged or corrupt" (-1 with a
 *    reason): pickup moves such a file to corrupt/.
 */
#ifndef MTA_MAILDROP_H
#define MTA_MAILDROP_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/time.h>

#include "queue_file.h"
#include "strbuf.h"

/* Attribute records a maildrop file may carry (queue-file names, as cleanup
 * writes them): DSN ENVID, DSN RET, BODY= encoding. */
#define MAILDROP_ATTR_ENVID "envelope_id"
#define MAILDROP_ATTR_RET "ret_flags"
#define MAILDROP_ATTR_BODY "encoding"

/* Queue-file flags a maildrop file may carry (in its SIZE record); they
 * concern only the submitter's own message. */
#define MAILDROP_FLAGS QF_FLAG_VERIFY

/* Longest sender, recipient, full name or attribute value accepted. */
#define MAILDROP_FIELD_MAX 4096

struct maildrop_rcpt {
    char *address;
    char *orcpt; /* NULL when absent */
    int notify;
};

struct maildrop_msg {
    struct timeval arrival;
    strbuf sender; /* "" for the null sender */
    strbuf fullname;
    bool have_fullname;
    strbuf envid, ret, body; /* empty when absent */
    uint64_t flags;          /* MAILDROP_FLAGS bits */
    struct maildrop_rcpt *rcpt;
    size_t nrcpt;
};

/* Validate the whole file behind fd and fill *m (which must be zeroed or
 * released before). 0 = valid; -1 = corrupt or forged, reason in err. */
int maildrop_load(int fd, size_t record_limit, size_t max_rcpt, struct maildrop_msg *m,
                  strbuf *err);
void maildrop_msg_release(struct maildrop_msg *m);

/* Call fn for every content piece of a file maildrop_load accepted (line_end
 * ends a line). Stops at fn's first non-zero return and returns it; -1 with
 * a reason when the file changed under us. */
typedef int (*maildrop_content_fn)(void *ctx, const char *data, size_t len, bool line_end);
int maildrop_content(int fd, size_t record_limit, maildrop_content_fn fn, void *ctx, strbuf *err);

#endif
