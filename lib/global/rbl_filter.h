/* rbl_filter - Postfix's DNS list reply filter ("=d.d.d.d").
 *
 * reject_rbl_client, reject_rhsbl_*, permit_dnswl_client take
 * "domain=d.d.d.d" (postconf(5)): the listing counts only when an A answer
 * matches. Each "d" is a number 0-255 or "[...]" holding one or more
 * ";"-separated numbers or "n..m" ranges: 127.0.0.[2..11],
 * 127.0.0.[2;3;10..11]. Nothing else is a filter: a ";" outside brackets
 * (127.0.0.2;127.0.0.3), an empty or reversed range, fewer or more than four
 * parts, a number above 255 are errors, with a reason that says what to
 * write instead. The filter is configuration, the answer is DNS data: both
 * are parsed without trusting their length or form.
 */
#ifndef MTA_RBL_FILTER_H
#define MTA_RBL_FILTER_H

/* 0 when `filter` is well formed, -1 with a static reason in *why. */
int rbl_filter_check(const char *filter, const char **why);

/* 1 when `answer` (a dotted-quad A record) matches `filter`, 0 when it does
 * not (also for an answer that is not a dotted quad), -1 when the filter is
 * malformed (*why as rbl_filter_check). */
int rbl_filter_match(const char *filter, const char *answer, const char **why);

#endif
