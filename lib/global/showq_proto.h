/* showq_proto - the showq service protocol (postqueue <-> showq).
 *
 * A UNIX stream connection to $queue_directory/public/showq; every message
 * is an attribute list (attr.h) bounded by showq_attr_limits.
 *
 *   C: request=list
 *   S: type=message queue_name= queue_id= arrival_time=<sec> message_size=
 *      forced_expire=<0|1> sender=<addr, "MAILER-DAEMON" for <>>
 *   S: type=rcpt address= reason=<defer reason or "">      per recipient
 *      ... (more messages) ...
 *   S: type=end
 *
 *   C: request=flush queue_id=<ID>      (postqueue -i: deliver this one now)
 *   S: status=0 | status=1 reason=<text>
 *
 * Listed queues, in this order: maildrop, hold, incoming, active, deferred.
 * Only complete queue files (queue_file_mode_complete) are shown; files that
 * cannot be parsed are skipped. Recipients already delivered are not shown.
 */
#ifndef MTA_SHOWQ_PROTO_H
#define MTA_SHOWQ_PROTO_H
#include "attr.h"

#define SHOWQ_SERVICE "public/showq"

static const attr_limits showq_attr_limits = {
    .max_count = 16, .max_name = 32, .max_value = 8192, .max_total = 40000};

#endif
