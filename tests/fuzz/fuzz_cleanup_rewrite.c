/* Fuzz cleanup's header address rewriting (canonical + masquerading of
 * From/To/... values): no crash, the output only grows by the mapped
 * addresses, and no control character appears that the input lacked. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup_rewrite.h"
#include "mem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct rewrite_config rc;
    static bool ready;
    if (!ready) {
        strbuf err = STRBUF_INIT;
        rc.canonical = maps_open("canonical_maps",
                                 "inline:{ a@b.test=Long.Name@c.test, @d.test=@e.test }", 0, &err);
        if (!rc.canonical)
            abort();
        rc.canonical_classes = RW_HDR_SENDER | RW_HDR_RCPT;
        rc.masq_classes = RW_HDR_SENDER | RW_HDR_RCPT;
        const char *e = NULL;
        (void)strlist_split(&rc.masq_domains, "!x.f.test, f.test", ", ", &e);
        rc.delims = xstrdup("+");
        rc.myorigin = xstrdup("b.test");
        rc.expansion_limit = rc.recursion_limit = 1000;
        strbuf_release(&err);
        ready = true;
    }
    strbuf out = STRBUF_INIT, err = STRBUF_INIT;
    int r = rewrite_header_value(&rc, RW_HDR_RCPT, (const char *)data, size, &out, &err);
    if (r > 0) {
        /* Each replaced token is at most "Long.Name@c.test"-sized bigger. */
        if (out.len > size * 17 + 64)
            abort();
        for (size_t i = 0; i < out.len; i++) {
            unsigned char c = (unsigned char)out.s[i];
            if ((c < 0x20 || c == 0x7f) && !memchr(data, c, size))
                abort();
        }
    }
    strbuf_release(&out);
    strbuf_release(&err);
    return 0;
}
