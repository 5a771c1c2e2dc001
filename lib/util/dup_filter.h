/* dup_filter - "have I seen this before?" for a bounded number of keys.
 *
 * CONTRACT
 *  - dup_filter_seen() answers true when an equal key was remembered
 *    before; otherwise it remembers the key (while fewer than `limit` keys
 *    are remembered) and answers false. Past the limit new keys are no
 *    longer remembered, so later repeats of them pass as new: the filter
 *    never costs more than `limit` keys of memory, and never drops a key
 *    it has not seen. limit <= 0 means no limit (Postfix's been_here(3)
 *    semantics, as for duplicate_filter_limit).
 *  - Keys are byte strings (may hold NUL); with `fold_case`, ASCII letters
 *    compare case-insensitively (Postfix's BH_FLAG_FOLD, C locale).
 *  - Lookups are O(1) on average (hash table), so a message with tens of
 *    thousands of recipients costs linear time.
 */
#ifndef MTA_DUP_FILTER_H
#define MTA_DUP_FILTER_H
#include <stdbool.h>
#include <stddef.h>

typedef struct dup_filter dup_filter;

dup_filter *dup_filter_create(long limit, bool fold_case);
bool dup_filter_seen(dup_filter *f, const void *key, size_t len);
/* Number of keys remembered. */
size_t dup_filter_count(const dup_filter *f);
void dup_filter_free(dup_filter **fp);

#endif
