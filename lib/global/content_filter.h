/* content_filter - this receiver's after-queue content filter.
 *
 * Postfix's content_filter (FILTER_README, "advanced content filter"):
 * smtpd and pickup read content_filter = transport:nexthop (main.cf, or
 * their own master.cf "-o content_filter=..."; the empty value of the
 * re-injection listener turns it off there, which is what keeps filtered
 * mail from being filtered again) and hand it to cleanup as the message
 * action "filter" right after the envelope. cleanup keeps the last filter
 * action it sees, so a FILTER from an access table (sent at DATA) or a
 * header/body check (while the content streams) overrides content_filter,
 * as postconf(5) says; cleanup writes the 'A' record filter= and qmgr
 * sends every recipient to that transport instead of resolving it.
 * Cleanup itself does not read the parameter (nor does Postfix's).
 *
 * The value is checked once per process, the first time it is asked for:
 * one that cleanup would refuse (not transport:nexthop with a transport of
 * [A-Za-z0-9._-]) is fatal, naming where it was set. Postfix ignores such
 * a value per message with a warning, i.e. delivers unfiltered mail.
 */
#ifndef MTA_CONTENT_FILTER_H
#define MTA_CONTENT_FILTER_H

#include "cleanup_client.h"

/* This process's content_filter, or NULL when it is empty. */
const char *content_filter_value(void);
/* Send it as the message's first filter action (nothing when empty).
 * 0, or -1 when the connection broke (sticky, see cleanup_client.h). */
int content_filter_send(cleanup_client *cc);

#endif
