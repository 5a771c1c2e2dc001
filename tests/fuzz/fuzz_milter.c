/* Fuzz the milter packet decoder (lib/global/milter_packet): the first
 * byte is the command, the rest the payload. Checks the promises made to
 * the code that writes headers, addresses and SMTP replies: header names
 * are printable without ':', reply codes are 4xx/5xx with consistent
 * lines, strings hold no NUL and stay inside the input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "milter.h"

static void check_reply(const strbuf *v)
{
    if (v->len < 3 || (v->s[0] != '4' && v->s[0] != '5'))
        abort();
    for (size_t i = 0; i < v->len; i++) {
        unsigned char c = (unsigned char)v->s[i];
        if (c == '\r' || (c < 0x20 && c != '\t' && c != '\n'))
            abort();
        if (i > 0 && v->s[i - 1] == '\n' && memcmp(v->s + i, v->s, 3) != 0)
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    struct milter_packet p = {0};
    strbuf err = STRBUF_INIT;
    if (milter_packet_parse(data[0], data + 1, size - 1, &p, &err) == 0) {
        if (memchr(p.name.s ? p.name.s : "", 0, p.name.len) ||
            memchr(p.value.s ? p.value.s : "", 0, p.value.len))
            abort();
        if (p.name.len > size || p.value.len > size)
            abort();
        switch (data[0]) {
        case SMFIR_ADDHEADER:
        case SMFIR_INSHEADER:
        case SMFIR_CHGHEADER:
            if (p.name.len == 0 || strpbrk(p.name.s, ": \t\r\n"))
                abort();
            break;
        case SMFIR_REPLYCODE:
            check_reply(&p.value);
            break;
        case SMFIR_REPLBODY:
            if (p.body != data + 1 || p.body_len != size - 1)
                abort();
            break;
        default:
            break;
        }
    } else if (err.len == 0) {
        abort(); /* a refusal always says why */
    }
    milter_packet_release(&p);
    strbuf_release(&err);
    return 0;
}
