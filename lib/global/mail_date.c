#include "mail_date.h"

#include <stdlib.h>

#include "msg.h"

void mail_date_append(strbuf *out, time_t when)
{
    struct tm lt;
    if (localtime_r(&when, &lt) == NULL)
        msg_panic("mail_date_append: localtime_r failed for %lld", (long long)when);
    char text[128];
    /* %e: day of month padded with a space, as Postfix prints it. */
    size_t n = strftime(text, sizeof(text), "%a, %e %b %Y %H:%M:%S ", &lt);
    if (n == 0)
        msg_panic("mail_date_append: strftime overflow");
    strbuf_append(out, text, n);
    long offset_min = lt.tm_gmtoff / 60;
    strbuf_printf(out, "%c%02ld%02ld", offset_min < 0 ? '-' : '+', labs(offset_min) / 60,
                  labs(offset_min) % 60);
    n = strftime(text, sizeof(text), " (%Z)", &lt);
    strbuf_append(out, text, n);
}
