/* queue_file - the on-disk queue file: format, durable creation, reading,
 * in-place recipient marking, moves between queues.
 *
 * CONTRACT (DESIGN.md §3)
 *  - queue_file_create() + queue_file_commit() is the ONE way a queue file
 *    comes into existence. The file is created 0600 (incomplete) under a
 *    temporary name with O_CREAT|O_EXCL, renamed to its queue ID, written,
 *    and committed: buffers written, size record updated, fchmod 0700
 *    (complete marker), fsync(file), fsync(directory), close. Only when
 *    commit returns 0 may anyone say "250" / exit 0. Any error (ENOSPC, EIO,
 *    EFBIG, short write, ...) makes commit return -1 with errno and a reason,
 *    and the half-written file is removed.
 *  - Readers open files with queue_file_open(), which refuses incomplete
 *    files (owner bits not rwx), and must also see the END record
 *    (queue_file_reader_next() returning 0) before trusting anything.
 *  - Every length in a file is checked against the file size and against the
 *    caller's `record_limit` before memory is allocated, so a hostile or
 *    corrupt file costs at most record_limit bytes per field.
 *
 * FILE FORMAT (version 1). Not byte-compatible with Postfix; same properties.
 * A file is a sequence of records:
 *
 *      type: 1 byte | length: 4 bytes, unsigned big-endian | payload: length bytes
 *
 * Payloads are binary-safe (may hold NUL and 8-bit bytes). Records appear in
 * segments, in this order; anything else is corrupt:
 *
 *   'C' SIZE     first record, fixed 48-byte payload: six unsigned 64-bit
 *                big-endian fields, rewritten in place at commit:
 *                [0] magic QUEUE_FILE_MAGIC (format and version)
 *                [1] content size: bytes of the content with "\n" line ends
 *                [2] content offset: file offset of the first record after 'M'
 *                [3] recipient count (all 'R' records)
 *                [4] flags (the caller's, e.g. qmgr or SMTPUTF8 flags)
 *                [5] warn time (delay_warning_time; updatable later)
 *   envelope segment, in any order:
 *   'T' TIME     exactly once: arrival time, 2 × u64 BE (seconds, microseconds)
 *   'S' SENDER   exactly once: envelope sender, empty for the null sender <>
 *   'F' FULLNAME at most once
 *   'A' ATTR     "name=value": name non-empty, printable ASCII without '=';
 *                value binary. Client name/address/helo/protocol, SASL
 *                username, submitting uid, DSN envid and ret, ...
 *   'R' RCPT     one per recipient:
 *                  status: 1 byte  QF_RCPT_TODO 'T' | QF_RCPT_DELIVERED 'D' |
 *                                  QF_RCPT_BOUNCED 'B' -- rewritten IN PLACE
 *                  notify: 1 byte  DSN NOTIFY bits (QF_NOTIFY_*), 0 = unset
 *                  3 × (u32 BE length, bytes): address, original recipient,
 *                  DSN ORCPT; the lengths must add up to the payload exactly.
 *                The status byte sits at record offset + 5 (QF_RCPT_STATUS_AT).
 *   'M' CONTENT  empty; starts the content segment:
 *   'N' LINE     a content line (or the last piece of one), without newline
 *   'L' PART     a piece of a long line that continues in the next record,
 *                which must be 'L' or 'N'. A line of n bytes with limit m is
 *                split into ceil(n/m) records.
 *   'X' EXTRACT  empty; starts the extracted segment: 'R' and 'A' records
 *                learned while reading the content (e.g. sendmail -t)
 *   'E' END      empty; last record, nothing may follow it.
 * The reader also checks the SIZE fields against what it read (recipient
 * count, content offset and size), so a file whose size record was never
 * rewritten (crash between write and commit) is corrupt, not misread.
 *
 * Per-recipient "last defer reason" is deliberately not here: it changes on
 * every retry and is only for people, so it belongs in defer/<id> (Postfix's
 * bounce-log format, appended by the bounce service) where mailq reads it.
 *
 * Status marks are NOT fsynced (like Postfix's R->D): losing one to a crash
 * re-delivers that recipient once, which invariant 4 allows. Callers that
 * want more call fdatasync(fd) themselves.
 *
 * DIRECTORY FSYNC POLICY. Commit fsyncs the directory (the entry must survive
 * a crash before "250"; Postfix skips this). Later moves are atomic renames:
 * after a crash the file is in the old or the new queue, and every queue a
 * file can be left in is scanned again (active/ goes back to incoming/ at
 * qmgr start), so incoming->active, active->deferred, ->incoming and
 * ->corrupt need no directory fsync for the promises (queue_file_move with
 * sync = false). Use sync = true where someone is told the move happened:
 * postsuper -h/-H (an administrator's hold must not silently revert).
 *
 * CRASH LEFTOVERS. A writer holds an exclusive flock(2) on its file from
 * the moment it creates it (under the temporary name, before the rename to
 * the queue ID) until commit or abort closes it; the kernel drops the lock
 * however the writer dies. queue_file_purge_abandoned() removes incomplete
 * files nobody holds that lock on, so a SIGKILLed cleanup or postdrop leaves
 * nothing behind for long, and a live writer's file is never touched however
 * slow it is. (Postfix has no such lock: its postsuper -p, run by "postfix
 * start", removes incomplete files only once they are 7 days old.)
 *
 * COST: one committed message = 2 fsyncs (the file, its queue directory).
 * In a hashed queue of depth d: d + 2 (the file, each hash level from the
 * leaf up, the queue directory that held the temporary name). A writer
 * that may not read the directory (postdrop: maildrop/ is 0730) cannot
 * fsync it; it gets syncfs() on the file system instead (1 fsync + 1
 * syncfs): slower, same promise.
 */
#ifndef MTA_QUEUE_FILE_H
#define MTA_QUEUE_FILE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/types.h>

#include "strbuf.h"

/* Record types. */
enum {
    QF_REC_SIZE = 'C',
    QF_REC_TIME = 'T',
    QF_REC_SENDER = 'S',
    QF_REC_FULLNAME = 'F',
    QF_REC_ATTR = 'A',
    QF_REC_RCPT = 'R',
    QF_REC_CONTENT = 'M',
    QF_REC_LINE = 'N',
    QF_REC_PART = 'L',
    QF_REC_EXTRACT = 'X',
    QF_REC_END = 'E',
};

#define QF_HDR_LEN 5 /* type + 4 length bytes */
#define QF_SIZE_FIELDS 6
#define QF_SIZE_LEN (QF_SIZE_FIELDS * 8)
#define QF_RCPT_STATUS_AT QF_HDR_LEN           /* status byte: record offset + 5 */
#define QUEUE_FILE_MAGIC 0x4d54415146000001ULL /* "MTAQF", version 1 */

/* Smallest record_limit a reader or writer accepts (an attribute, an address
 * or a content piece may be that long). */
#define QF_MIN_RECORD_LIMIT 64

/* Recipient status byte. */
enum { QF_RCPT_TODO = 'T', QF_RCPT_DELIVERED = 'D', QF_RCPT_BOUNCED = 'B' };

/* DSN NOTIFY bits (RFC 3461); 0 means "not specified". */
enum { QF_NOTIFY_NEVER = 1, QF_NOTIFY_SUCCESS = 2, QF_NOTIFY_FAILURE = 4, QF_NOTIFY_DELAY = 8 };
#define QF_NOTIFY_MASK 0x0f

/* Bits of the SIZE record's flags field, shared by every queue (maildrop
 * files too) and passed unchanged to delivery agents as the request flags
 * (deliver_request.h). */
#define QF_FLAG_SMTPUTF8 0x01 /* the message needs SMTPUTF8 */
#define QF_FLAG_VERIFY                                                                             \
    0x02 /* sendmail -bv: verify the recipients and mail a                                         \
          * report to the sender; deliver nothing */
/* A HOLD action (access table, header/body check): qmgr moves the file
 * from incoming/ to hold/ instead of scheduling it, clearing this bit in
 * place first so that a release (postsuper -H) delivers it normally. */
#define QF_FLAG_HOLD 0x04
#define QF_FLAG_MASK 0x07

/* The SIZE record. */
struct queue_file_size {
    uint64_t content_size;
    uint64_t content_offset;
    uint64_t rcpt_count;
    uint64_t flags;
    uint64_t warn_time;
};

/* One recipient as written; the strings are NUL-terminated C strings for
 * the writer (addresses never legitimately contain NUL). NULL = empty. */
struct queue_file_rcpt_in {
    const char *address;
    const char *orig_rcpt; /* before alias/virtual expansion */
    const char *orcpt;     /* DSN ORCPT, e.g. "rfc822;user@example.org" */
    int notify;            /* QF_NOTIFY_* bits */
};

/* ---- Writing ------------------------------------------------------------ */

typedef struct queue_file queue_file;

/* Create <queue_dir>/<queue>/[hash/]<id> (mode 0600, incomplete) and return
 * the writer, or NULL with errno set and the reason in `err`. `queue` must be
 * a plain name ("incoming", "maildrop"); its hash depth is the queue
 * module's (mail_queue_depth: hash_queue_names/hash_queue_depth, fatal when
 * bad; a queue Postfix never hashes, such as maildrop, is flat without
 * reading them). record_limit bounds every record the writer will produce
 * (long content lines are split at it) and must be <= the limit readers
 * will use. */
queue_file *queue_file_create(const char *queue_dir, const char *queue, bool long_id,
                              size_t record_limit, strbuf *err);

const char *queue_file_id(const queue_file *qf);
const char *queue_file_path(const queue_file *qf);
/* The time the ID was made from: use it as the arrival time. */
const struct timeval *queue_file_ctime(const queue_file *qf);

/* Envelope. All return 0, or -1 on a write error or an over-limit field
 * (the error is sticky: every later call and commit fail, so callers may
 * check only commit's result). Calling them in the wrong segment is a
 * programming error (panic). */
int queue_file_put_time(queue_file *qf, const struct timeval *tv);
int queue_file_put_sender(queue_file *qf, const char *sender);
int queue_file_put_fullname(queue_file *qf, const char *fullname);
int queue_file_put_attr(queue_file *qf, const char *name, const void *value, size_t value_len);
int queue_file_put_attr_str(queue_file *qf, const char *name, const char *value);
/* Allowed in the envelope and extracted segments. *offset (may be NULL)
 * receives the record offset for queue_file_mark_recipient. */
int queue_file_put_rcpt(queue_file *qf, const struct queue_file_rcpt_in *rcpt, off_t *offset);

/* Content. begin_content writes 'M' (once). put_text appends `len` bytes to
 * the current line and, when line_end, ends it: a line may arrive in any
 * number of pieces, and is never held in memory. */
int queue_file_begin_content(queue_file *qf);
int queue_file_put_text(queue_file *qf, const void *data, size_t len, bool line_end);
/* Copy a whole stream of "\n"-terminated lines (a final line without "\n"
 * counts as a line); with strip_cr a CR right before LF is dropped. Returns
 * -1 on a read error (reason in err) or a write error. */
int queue_file_put_stream(queue_file *qf, FILE *in, bool strip_cr, strbuf *err);

/* Start the extracted segment ('X'); optional, commit adds it. */
int queue_file_begin_extract(queue_file *qf);

void queue_file_set_flags(queue_file *qf, uint64_t flags);

/* Group/other read bits (S_IRGRP|S_IROTH only) that commit adds to 0700.
 * postdrop uses 0044 so pickup (mail_owner) can read maildrop files written
 * under the submitter's uid, as Postfix's 0744 maildrop files; maildrop/
 * itself (0730) keeps other users out. */
void queue_file_set_read_bits(queue_file *qf, mode_t bits);

/* Finish and make durable (see CONTRACT). Frees *qfp and clears it either
 * way. Returns 0 when the message is safely queued; -1 with errno set (EFBIG
 * means "too big", anything else a temporary local error) and the reason in
 * err; the file is then gone. Missing TIME or SENDER is a programming error. */
int queue_file_commit(queue_file **qfp, strbuf *err);

/* Start over, keeping the queue ID, the file and its lock: what was written
 * so far becomes a complete, valid queue-file image in an unnamed scratch
 * file (returned fd, offset 0, readable with queue_file_reader_open; the
 * caller closes it), and the writer is back where queue_file_create left
 * it. For rewriting a message whose envelope or content must change after
 * it was streamed (milter modifications). The flags set with
 * queue_file_set_flags are cleared too. -1 with the reason on error (the
 * error is sticky: commit fails too). */
int queue_file_restart(queue_file *qf, strbuf *err);

/* Give up: remove the file, free *qfp and clear it. */
void queue_file_abort(queue_file **qfp);

/* ---- Reading ------------------------------------------------------------ */

/* A record as read. `data` holds the raw payload; for the typed records the
 * decoded fields below are filled (others keep stale values). All strbufs
 * are NUL-terminated, their len is authoritative (payloads may hold NUL). */
typedef struct queue_file_record {
    int type;
    off_t offset; /* of the type byte; for 'R' the handle for marking */
    strbuf data;
    struct queue_file_size size; /* 'C' */
    struct timeval time;         /* 'T' */
    strbuf name, value;          /* 'A' */
    int status, notify;          /* 'R' */
    strbuf address, orig_rcpt, orcpt;
} queue_file_record;

#define QUEUE_FILE_RECORD_INIT                                                                     \
    {                                                                                              \
        0                                                                                          \
    }
void queue_file_record_release(queue_file_record *rec);

typedef struct queue_file_reader queue_file_reader;

/* Read the file behind `fd` from offset 0 with pread (the fd's file position
 * is not used, so the caller may mark recipients meanwhile). NULL with the
 * reason in err when fstat fails or the fd is not a regular file. */
queue_file_reader *queue_file_reader_open(int fd, size_t record_limit, strbuf *err);

/* A queue file read once for several readers (local(8): the Delivered-To
 * scan, then one rendering per recipient): its size at open and its
 * first bytes (up to 64 KiB: a whole ordinary message), from ONE pread.
 * Readers opened on it take those bytes from memory and pread only
 * what lies beyond. The file may change under it only where every reader
 * may already see either value (recipient status bytes, the SIZE record's
 * warn time): it is an earlier read of the same file, no more. */
struct queue_file_head {
    int fd;
    off_t size;          /* st_size when loaded */
    unsigned char *data; /* bytes [0, len) of the file */
    size_t len;
};
/* Load from fd (st: its fstat, e.g. from queue_file_open_stat). 0, or -1
 * with the reason (err; *h is then empty). */
int queue_file_head_load(struct queue_file_head *h, int fd, const struct stat *st, strbuf *err);
void queue_file_head_release(struct queue_file_head *h);
/* queue_file_reader_open on h->fd without an fstat or a read of what h
 * already holds. */
queue_file_reader *queue_file_reader_open_head(const struct queue_file_head *h, size_t record_limit,
                                               strbuf *err);
/* queue_file_mark_recipient on h->fd, and the same byte in h's copy; a
 * record inside the copy is checked there (no pread), one beyond it on
 * the file. */
int queue_file_head_mark_recipient(struct queue_file_head *h, off_t offset, int status,
                                   strbuf *err);

/* Next record: 1 = a record in *rec (every type, SIZE and the segment
 * markers included, END excluded); 0 = the END record was reached, the file
 * ends there and is consistent; -1 = corrupt or unreadable, reason in err
 * ("bad record type", "truncated record", "record length over limit",
 * "missing END record", "record out of segment order", ...). After 0 or -1
 * further calls return the same. */
int queue_file_reader_next(queue_file_reader *r, queue_file_record *rec, strbuf *err);

/* The SIZE record (valid once the first record was read). */
const struct queue_file_size *queue_file_reader_size(const queue_file_reader *r);

void queue_file_reader_free(queue_file_reader **rp);

/* Read the whole file and check it: 0 valid, -1 corrupt (reason in err). */
int queue_file_validate(int fd, size_t record_limit, strbuf *err);

/* ---- Queue operations --------------------------------------------------- */

/* queue_file_open's result for an incomplete file: skip it, it is not mail
 * yet (or a writer died; queue_file_purge_abandoned cleans those). */
#define QUEUE_FILE_INCOMPLETE (-2)

/* True when a stat result says "complete queue file": a regular file whose
 * owner bits are rwx (group bits are Postfix's expire/unthrottle flags). */
bool queue_file_mode_complete(const struct stat *st);

/* Open <queue_dir>/<queue>/[hash/]<id> read-only, or read-write when
 * `writable` (to mark recipients). The ID and queue name are validated, so
 * user input can be passed straight through. Returns the fd; -1 with the
 * reason (errno set; ENOENT: no such message); QUEUE_FILE_INCOMPLETE for an
 * incomplete file. */
int queue_file_open(const char *queue_dir, const char *queue, int hash_depth, const char *id,
                    bool writable, strbuf *err);
/* The same, and the fstat it made in *st (for queue_file_head_load). */
int queue_file_open_stat(const char *queue_dir, const char *queue, int hash_depth, const char *id,
                         bool writable, struct stat *st, strbuf *err);

/* Set the status byte of the 'R' record at `offset` with pwrite, after
 * checking that a recipient record is really there. -1 with the reason on
 * error. Not fsynced (see above). */
int queue_file_mark_recipient(int fd, off_t offset, int status, strbuf *err);

/* Update the warn time in the SIZE record in place. */
int queue_file_set_warn_time(int fd, uint64_t warn_time, strbuf *err);
/* Update the flags (QF_FLAG_*) in the SIZE record in place; not fsynced. */
int queue_file_update_flags(int fd, uint64_t flags, strbuf *err);

/* Rename <from>/[hash/]<id> to <to>/[hash/]<id>, creating hash directories
 * on demand, never replacing an existing file. With `sync`, fsync the
 * destination then the source directory (see DIRECTORY FSYNC POLICY). */
int queue_file_move(const char *queue_dir, const char *id, const char *from, int from_depth,
                    const char *to, int to_depth, bool sync, strbuf *err);

/* Move a file that failed to parse to corrupt/ (flat) and log why, so mail
 * is never silently dropped. Returns what queue_file_move returned (and logs
 * a warning on failure too). */
int queue_file_move_corrupt(const char *queue_dir, const char *queue, int hash_depth,
                            const char *id, const char *reason);

/* Remove from <queue_dir>/<queue>/[hash/] every regular file that is not a
 * complete queue file and has no live writer (CRASH LEFTOVERS): an
 * incomplete file with a queue ID whose writer lock is free; a temporary
 * name whose lock is free and whose creator has exited (or, creator pid
 * alive -- pid reuse -- after 60 s). With stale_age > 0, entries that cannot
 * be judged that way (the caller may not open them: a user's maildrop
 * file; a name no writer of ours makes) go once their mtime is stale_age
 * seconds old; stale_age <= 0 leaves them. Each removal is logged as
 * "warning: incoming/<ID>: removed incomplete queue file (its writer is
 * gone)". Returns the number removed. */
unsigned long queue_file_purge_abandoned(const char *queue_dir, const char *queue, int hash_depth,
                                         long stale_age);

/* queue_minfree: 0 when the queue file system has room for a message of
 * `msg_size` bytes (0 if unknown) while keeping `minfree` bytes free, and
 * no more than half the free space goes to one message; -1 with a reason
 * otherwise (also when statvfs fails). Callers answer QUEUE_NOSPACE_REPLY. */
int queue_space_check(const char *queue_dir, uint64_t minfree, uint64_t msg_size, strbuf *err);
#define QUEUE_NOSPACE_REPLY "452 4.3.1 Insufficient system storage"

/* True when `name` is a plain queue name (letters and digits only). */
bool queue_name_valid(const char *name);

#endif
