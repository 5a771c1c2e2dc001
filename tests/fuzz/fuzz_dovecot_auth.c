/* libFuzzer harness: the Dovecot auth server-line parser (every line a
 * hostile or broken auth server could send) and the base64 decoder. */
#include <stddef.h>
#include <stdint.h>

#include "base64.h"
#include "dovecot_auth.h"
#include "strbuf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    dovecot_line l;
    dovecot_line_init(&l);
    strbuf err = STRBUF_INIT, out = STRBUF_INIT;
    (void)dovecot_auth_parse_line(&l, (const char *)data, size, &err);
    (void)base64_decode(&out, (const char *)data, size);
    if (l.cmd == DOVECOT_LINE_CONT) {
        strbuf_reset(&out);
        if (base64_decode(&out, l.data.s ? l.data.s : "", l.data.len) != 0)
            __builtin_trap(); /* the parser promised valid base64 */
    }
    dovecot_line_release(&l);
    strbuf_release(&err);
    strbuf_release(&out);
    return 0;
}
