/* Fuzz the DNS list reply filter (rbl_filter): the input is "filter\nanswer"
 * -- the filter is configuration, the answer an A record from the network.
 * No crash; check and match agree on what is malformed; a match needs a
 * well-formed dotted-quad answer. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rbl_filter.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = malloc(size + 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    buf[size] = 0;
    char *nl = strchr(buf, '\n');
    const char *answer = "127.0.0.2";
    if (nl) {
        *nl = 0;
        answer = nl + 1;
    }
    const char *why = NULL;
    int ok = rbl_filter_check(buf, &why);
    int m = rbl_filter_match(buf, answer, &why);
    if ((ok < 0) != (m < 0))
        abort();
    if (m == 1 && strspn(answer, "0123456789.") != strlen(answer))
        abort();
    free(buf);
    return 0;
}
