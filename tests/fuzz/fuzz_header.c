/* Fuzz the header collector: split input into lines, feed them, and check
 * that no emitted logical header exceeds the size limit. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "header.h"

#define LIMIT 512

static void check(void *ctx, const char *hdr, size_t len, enum header_id id, bool truncated)
{
    (void)ctx;
    (void)id;
    (void)truncated;
    if (len > LIMIT || header_name_length(hdr, len) == 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct header_collector hc;
    header_collector_init(&hc, LIMIT, check, NULL);
    const char *p = (const char *)data, *end = p + size;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
        header_collector_feed(&hc, p, len);
        p += len + (nl != NULL);
    }
    header_collector_finish(&hc);
    header_collector_release(&hc);
    return 0;
}
