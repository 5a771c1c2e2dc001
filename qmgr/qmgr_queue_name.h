/* qmgr_queue_name - the destination a recipient is scheduled under.
 *
 * CONTRACT. qmgr_queue_name(out, address, nexthop, delims, per_recipient)
 * replaces `out` with the key of the recipient's destination queue, in
 * lowercase (ASCII):
 *  - per_recipient false (a transport that takes several recipients per
 *    request): the nexthop.
 *  - per_recipient true (<transport>_destination_recipient_limit = 1, e.g.
 *    local): "<local part without its extension>@<nexthop>", as Postfix's
 *    qmgr does, so that local_destination_concurrency_limit holds per user
 *    whatever the extension: user+a and user+b share one queue (and one
 *    delivery batch), not one queue each. The extension is cut at the
 *    first $recipient_delimiter character as address.h's
 *    addr_split_extension does (delims NULL or "": no extensions).
 * The address is the envelope recipient in internal form; one without an
 * '@' is all local part. Nothing here is used as a path or a command: the
 * key only names an in-memory queue.
 */
#ifndef MTA_QMGR_QUEUE_NAME_H
#define MTA_QMGR_QUEUE_NAME_H
#include <stdbool.h>

#include "strbuf.h"

void qmgr_queue_name(strbuf *out, const char *address, const char *nexthop, const char *delims,
                     bool per_recipient);

#endif
