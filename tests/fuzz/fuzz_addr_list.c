/* Fuzz the RFC 5322 address-list parser: no crash, bounded output, and no
 * control character ever reaches an extracted address. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "addr_list.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    strlist out = STRLIST_INIT;
    strbuf err = STRBUF_INIT;
    addr_list_parse((const char *)data, size, &out, 50, &err);
    if (out.n > 50)
        abort();
    for (size_t i = 0; i < out.n; i++)
        for (const unsigned char *p = (const unsigned char *)out.v[i]; *p; p++)
            if (*p < 0x20 || *p == 0x7f)
                abort();
    strlist_release(&out);
    strbuf_release(&err);
    return 0;
}
