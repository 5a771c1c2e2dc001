/* libFuzzer harness: master.cf parser (master_cf_parse_text). */
#include <stddef.h>
#include <stdint.h>

#include "master_cf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    master_cf *cf = NULL;
    strbuf err = STRBUF_INIT;
    if (master_cf_parse_text("fuzz", (const char *)data, size, &cf, &err) == 0) {
        for (size_t i = 0; i < cf->n; i++)
            (void)master_cf_find(cf, cf->entries[i]->service, cf->entries[i]->type);
        master_cf_free(&cf);
    }
    strbuf_release(&err);
    return 0;
}
