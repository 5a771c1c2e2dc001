/* mail_date - RFC 5322 date-time strings as Postfix writes them.
 *
 * "Tue, 24 Nov 2026 22:03:10 +0000 (UTC)"; the day of month is space-padded
 * ("Thu,  5 Mar 2020 ...") exactly like Postfix's Date: and Received: headers.
 */
#ifndef MTA_MAIL_DATE_H
#define MTA_MAIL_DATE_H
#include <time.h>

#include "strbuf.h"

/* Append the local-time date of `when` to `out`. */
void mail_date_append(strbuf *out, time_t when);

#endif
