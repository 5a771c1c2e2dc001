/* Fuzz the SMTP client's SASL side (smtp/smtp_sasl_client): the first input
 * byte picks the offered mechanisms and security flags, the rest is split
 * into lines fed as server challenges (the text after "334 "). Checks the
 * promises: bounded responses, never the password in an error reason. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtp_sasl_client.h"

#define PASSWORD "fuzz-Secret-pw"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *offers[] = {"PLAIN", "LOGIN", "CRAM-MD5", "PLAIN LOGIN CRAM-MD5"};
    if (size == 0)
        return 0;
    strbuf err = STRBUF_INIT, out = STRBUF_INIT;
    sasl_client *c = sasl_client_new(offers[data[0] & 3], (unsigned)(data[0] >> 2) & 0x3f, "user",
                                     PASSWORD, &err);
    if (c) {
        sasl_client_first(c, &out);
        const char *p = (const char *)data + 1, *end = (const char *)data + size;
        while (p < end) {
            const char *nl = memchr(p, '\n', (size_t)(end - p));
            size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
            strbuf_reset(&err);
            if (sasl_client_next(c, p, len, &out, &err) < 0) {
                if (strstr(err.s, PASSWORD))
                    abort();
                break;
            }
            /* user + ' ' + 32 hex digits, or the PLAIN triple, base64'd */
            if (out.len > 128)
                abort();
            p += len + (nl != NULL);
        }
    }
    sasl_client_free(&c);
    strbuf_release(&err);
    strbuf_release(&out);
    return 0;
}
