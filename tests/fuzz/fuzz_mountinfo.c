/* libFuzzer harness: the mountinfo parser behind fsync_covers_new_entry.
 * Input: mountinfo text, asked for a few devices, the first two bytes
 * choosing one more. */
#include <stdint.h>
#include <string.h>

#include "fsutil.h"
#include "strbuf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const unsigned devices[][2] = {{0, 0}, {8, 1}, {252, 1}, {4294967295u, 1}};
    strbuf type = STRBUF_INIT;
    for (size_t i = 0; i < sizeof(devices) / sizeof(devices[0]); i++)
        if (mountinfo_fs_type((const char *)data, size, devices[i][0], devices[i][1], &type) == 0 &&
            (type.len == 0 || memchr(type.s, ' ', type.len) || memchr(type.s, '\n', type.len)))
            __builtin_trap();
    if (size >= 2)
        (void)mountinfo_fs_type((const char *)data, size, data[0], data[1], &type);
    strbuf_release(&type);
    return 0;
}
