/* Fuzz the 8-bit to 7-bit MIME converter. Two runs per input:
 * 1. the input as a whole message (arbitrary MIME structure): no crash, no
 *    leak, output lines bounded by input;
 * 2. the input as the body of a "Content-Transfer-Encoding: 8bit" message:
 *    every body line out is 7-bit, at most 76 characters, and decoding the
 *    quoted-printable gives back the input lines exactly. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtp_mime_downgrade.h"
#include "strbuf.h"

struct out {
    strbuf text;
    size_t lines;
};

static void collect(void *ctx, const char *line, size_t len)
{
    struct out *o = ctx;
    strbuf_append(&o->text, line, len);
    strbuf_putc(&o->text, '\n');
    o->lines++;
}

static void feed(mime_downgrade *md, const char *p, size_t size, size_t *nlines)
{
    const char *end = p + size;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
        mime_downgrade_line(md, p, len);
        (*nlines)++;
        p += len + (nl != NULL);
    }
}

static int unhex(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    abort(); /* we only ever write upper-case hex */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct out o = {STRBUF_INIT, 0};
    size_t in_lines = 0;
    mime_downgrade *md = mime_downgrade_new(MIME_DOWNGRADE_UNDECLARED, collect, &o);
    feed(md, (const char *)data, size, &in_lines);
    mime_downgrade_finish(md);
    mime_downgrade_free(&md);
    /* QP expands a line into at most 3*len/75+1 lines; headers add 2 */
    if (o.lines > 3 * (size + in_lines) + 3)
        abort();
    strbuf_release(&o.text);

    struct out q = {STRBUF_INIT, 0};
    in_lines = 0;
    md = mime_downgrade_new(0, collect, &q);
    static const char hdr[] = "Content-Transfer-Encoding: 8bit";
    mime_downgrade_line(md, hdr, sizeof(hdr) - 1);
    mime_downgrade_line(md, "", 0);
    feed(md, (const char *)data, size, &in_lines);
    mime_downgrade_finish(md);
    mime_downgrade_free(&md);
    const char *p = q.text.s, *end = q.text.s + q.text.len;
    static const char want[] = "Content-Transfer-Encoding: quoted-printable\n\n";
    if (q.text.len < sizeof(want) - 1 || memcmp(p, want, sizeof(want) - 1) != 0)
        abort();
    p += sizeof(want) - 1;
    strbuf decoded = STRBUF_INIT;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = (size_t)(nl - p);
        if (len > 76)
            abort();
        bool soft = len > 0 && p[len - 1] == '=';
        size_t stop = soft ? len - 1 : len;
        for (size_t i = 0; i < stop; i++) {
            unsigned char c = (unsigned char)p[i];
            if (c >= 0x80 || (c < 32 && c != '\t'))
                abort();
            if (c == '=') {
                if (i + 2 >= stop)
                    abort();
                strbuf_putc(&decoded, (char)(unhex(p[i + 1]) * 16 + unhex(p[i + 2])));
                i += 2;
            } else {
                strbuf_putc(&decoded, (char)c);
            }
        }
        if (!soft)
            strbuf_putc(&decoded, '\n');
        p = nl + 1;
    }
    /* The input's lines, each with '\n' (a final unterminated one too). */
    strbuf orig = STRBUF_INIT;
    strbuf_append(&orig, (const char *)data, size);
    if (size > 0 && data[size - 1] != '\n')
        strbuf_putc(&orig, '\n');
    if (orig.len != decoded.len || (orig.len && memcmp(orig.s, decoded.s, orig.len) != 0))
        abort();
    strbuf_release(&orig);
    strbuf_release(&decoded);
    strbuf_release(&q.text);
    return 0;
}
