/* qmgr_queue_name - see qmgr_queue_name.h. */
#include "qmgr_queue_name.h"

#include <string.h>

#include "address.h"

static void lower(strbuf *b)
{
    for (size_t i = 0; i < b->len; i++)
        if (b->s[i] >= 'A' && b->s[i] <= 'Z')
            b->s[i] = (char)(b->s[i] - 'A' + 'a');
}

void qmgr_queue_name(strbuf *out, const char *address, const char *nexthop, const char *delims,
                     bool per_recipient)
{
    strbuf_reset(out);
    if (per_recipient) {
        size_t len = strlen(address), at;
        size_t local_len = addr_split(address, len, &at) ? at : len;
        size_t base = local_len;
        if (delims && *delims && !addr_split_extension(address, local_len, delims, &base))
            base = local_len;
        strbuf_append(out, address, base);
        strbuf_putc(out, '@');
    }
    strbuf_puts(out, nexthop);
    lower(out);
}
