/* libFuzzer harness: the table source reader (postmap and postalias
 * formats: logical lines, continuations, comments, key/value splitting,
 * alias name quoting and value normalisation). */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "map_source.h"

static void parse(const uint8_t *data, size_t size, enum map_source_format fmt)
{
    if (size == 0)
        return;
    FILE *fp = fmemopen((void *)data, size, "r");
    if (!fp)
        return;
    map_source *src = map_source_stream(fp, "fuzz", fmt);
    map_source_set_warn(src, NULL, NULL);
    strbuf key = STRBUF_INIT, value = STRBUF_INIT, err = STRBUF_INIT;
    while (map_source_next(src, &key, &value, &err) == 1) {
        /* records are C strings without NUL bytes inside */
        if (strlen(key.s) != key.len || strlen(value.s) != value.len || key.len == 0)
            __builtin_trap();
    }
    map_source_close(&src);
    fclose(fp);
    strbuf_release(&key);
    strbuf_release(&value);
    strbuf_release(&err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    parse(data, size, MAP_SOURCE_POSTMAP);
    parse(data, size, MAP_SOURCE_ALIAS);
    return 0;
}
