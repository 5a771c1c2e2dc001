/* queue_id - Postfix-compatible queue IDs and the hashed queue directory forest.
 *
 * A queue ID names one queue file; it is made from the time the file was
 * entered and the file's inode number, which is unique on the queue file
 * system while the file exists (so no two live files share an ID).
 *
 *  - short form (enable_long_queue_ids = no): "%05X" microseconds, then the
 *    inode in upper-case hex ("%lX"), e.g. "4F5A21C0A2D". Repeats over time.
 *  - long form (= yes): seconds in base 52 (at least 6 chars), microseconds
 *    in base 52 (exactly 4 chars), 'z', inode in base 51 (which never uses
 *    'z', so the LAST 'z' is the separator), e.g. "4XgRLb2d3HzJ8P".
 *    Alphabet: digits, then consonants upper then lower case
 *    ("0123456789BCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxyz"); base 51 drops
 *    the final 'z'. Numbers are left-padded with '0'.
 *
 * queue_id_valid() is the gate for IDs that come from users (postsuper,
 * postqueue, file names read from a directory): it accepts only well-formed
 * IDs of either form, so "../x", "", "a/b", over-long strings or characters
 * outside the alphabets never reach a path name.
 *
 * Hashed queues (hash_queue_names, hash_queue_depth): a file lives in
 * <queue>/<c1>/.../<cN>/<id> where c1..cN are the first N characters of the
 * ID's microsecond part written as 5 upper-case hex digits — for short IDs
 * simply the ID's first characters, for long IDs the base-52 microseconds
 * converted back to hex, so both forms share one directory layout, as in
 * Postfix. Depths beyond the 5 hex digits continue with the short ID's inode
 * digits, or '_' for long IDs.
 */
#ifndef MTA_QUEUE_ID_H
#define MTA_QUEUE_ID_H
#include <stdbool.h>
#include <stdint.h>
#include <sys/time.h>
#include <sys/types.h>

#include "strbuf.h"

/* Longest ID either form can produce with 64-bit seconds and inode numbers
 * (long: 12 + 4 + 1 + 12 = 29); anything longer is rejected. */
#define QUEUE_ID_MAXLEN 32

/* hash_queue_depth is accepted in [0, QUEUE_ID_MAX_DEPTH]. */
#define QUEUE_ID_MAX_DEPTH 10

/* Replace `out` with the ID for a file entered at `tv` with inode `inode`.
 * tv->tv_usec must be in [0, 999999] and tv_sec >= 0 (a broken clock is an
 * invariant violation: panics). */
void queue_id_make(strbuf *out, bool long_form, const struct timeval *tv, ino_t inode);

/* True when `id` is a well-formed short or long queue ID. */
bool queue_id_valid(const char *id);

/* True when `id` (assumed valid) is in the long form. */
bool queue_id_is_long(const char *id);

/* Decode a valid ID. Short IDs carry no seconds: *sec is set to -1. Returns
 * -1 when the ID is not valid. Any output pointer may be NULL. */
int queue_id_decode(const char *id, long long *sec, long *usec, uint64_t *inode);

/* Append the hash forest for `id` at `depth` to `out` as "c1/c2/.../" (an
 * empty string for depth 0). Returns -1 (out unchanged) for an invalid ID or
 * a depth outside [0, QUEUE_ID_MAX_DEPTH]. */
int queue_id_hash_dir(strbuf *out, const char *id, int depth);

#endif
