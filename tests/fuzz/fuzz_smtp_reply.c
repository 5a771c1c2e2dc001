/* Fuzz the SMTP client's reply parser (smtp/smtp_resp): split input into
 * lines, feed them as server replies, and check the bounds the parser
 * promises: limited text, no control characters in what it keeps, a
 * well-formed DSN. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtp_resp.h"

static void check(const smtp_resp *r)
{
    if (r->text.len > SMTP_RESP_MAX_TEXT + SMTP_RESP_MAX_LINES)
        abort();
    for (size_t i = 0; i < r->text.len; i++) {
        unsigned char c = (unsigned char)r->text.s[i];
        if ((c < 0x20 && c != '\t') || c >= 0x7f)
            abort();
    }
    if (r->code && (r->dsn[0] != (char)('0' + r->code / 100) || r->dsn[1] != '.'))
        abort();
    unsigned long long size;
    (void)smtp_ehlo_features(r, &size);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    smtp_resp r = SMTP_RESP_INIT;
    strbuf err = STRBUF_INIT;
    const char *p = (const char *)data, *end = p + size;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
        size_t l = len;
        if (l > 0 && p[l - 1] == '\r')
            l--;
        int ret = smtp_resp_feed(&r, p, l, &err);
        if (ret != SMTP_RESP_MORE) {
            if (ret == SMTP_RESP_DONE)
                check(&r);
            smtp_resp_reset(&r);
        }
        p += len + (nl != NULL);
    }
    smtp_resp_release(&r);
    strbuf_release(&err);
    return 0;
}
