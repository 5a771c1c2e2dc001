/* Fuzz the MIME structure content checks follow (cleanup_mime): the input
 * is a message body, each line either a Content-Type value (lines starting
 * "CT:") or a body line checked against the boundary stack. No crash, no
 * leak; the stack never exceeds its limit and every boundary it holds is
 * "--" plus 1..70 bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup_mime.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mime_stack st;
    mime_stack_init(&st, 8);
    strbuf b = STRBUF_INIT;
    const char *p = (const char *)data, *end = p + size;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
        if (len >= 3 && memcmp(p, "CT:", 3) == 0) {
            enum mime_type t = mime_content_type(p + 3, len - 3, &b);
            if (t == MIME_MULTIPART || t == MIME_DIGEST) {
                if (b.len < 3 || b.len > 72 || memcmp(b.s, "--", 2) != 0)
                    abort();
                (void)mime_stack_push(&st, b.s, t == MIME_DIGEST);
            }
        } else {
            bool digest, closing;
            (void)mime_stack_boundary(&st, p, len, &digest, &closing);
        }
        if (mime_stack_depth(&st) > 8)
            abort();
        p += len + (nl ? 1 : 0);
    }
    strbuf_release(&b);
    mime_stack_release(&st);
    return 0;
}
