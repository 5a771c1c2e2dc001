/* libFuzzer: DATA/BDAT state machine. Invariants: the same bytes fed in
 * one chunk, byte by byte, and in fuzzer-chosen chunks give identical
 * lines, results and consumed counts; DATA ends exactly after the first
 * <CR><LF>.<CR><LF> (or a leading .<CR><LF>) and nowhere else; no line piece
 * exceeds line_length_limit; no emitted line holds a CR, in DATA or BDAT. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtpd_data_scan.h"

static void check(int cond)
{
    if (!cond)
        abort();
}

typedef struct result {
    strbuf out;
    size_t consumed;
    size_t limit;
    bool done;
    enum smtp_data_result res;
    uint64_t size, lines;
} result;

static int collect(void *ctx, const char *line, size_t len, bool complete)
{
    result *r = ctx;
    check(len <= r->limit);
    strbuf_append(&r->out, line, len);
    strbuf_puts(&r->out, complete ? "|C\n" : "|P\n");
    return 0;
}

/* chunks: NULL = one chunk; "" = byte by byte; else sizes from the bytes. */
static void run(result *r, const smtp_data_opts *o, enum smtp_data_mode mode, const uint8_t *in,
                size_t len, const uint8_t *chunks, size_t nchunks)
{
    smtp_data d = {0};
    r->limit = o->line_length_limit;
    smtp_data_begin(&d, o, mode, collect, r);
    size_t off = 0, k = 0;
    while (off < len && !smtp_data_done(&d)) {
        size_t n = len - off;
        if (chunks && nchunks == 0)
            n = 1;
        else if (chunks)
            n = 1 + chunks[k++ % nchunks] % 17;
        if (n > len - off)
            n = len - off;
        size_t used = smtp_data_feed(&d, in + off, n);
        check(used <= n);
        off += used;
        if (used < n)
            break;
    }
    if (mode == SMTP_DATA_MODE_BDAT)
        smtp_data_finish(&d);
    check(d.line.len <= o->line_length_limit);
    r->consumed = off;
    r->done = smtp_data_done(&d);
    r->res = smtp_data_result(&d);
    r->size = d.size;
    r->lines = d.lines;
    smtp_data_release(&d);
}

static void same(const result *a, const result *b)
{
    check(a->consumed == b->consumed && a->done == b->done && a->res == b->res &&
          a->size == b->size && a->lines == b->lines && a->out.len == b->out.len);
    check(a->out.len == 0 || memcmp(a->out.s, b->out.s, a->out.len) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    smtp_data_opts o = {0}; /* lf_line_ends stays off: this is the network's path */
    o.line_length_limit = (data[0] & 0x40) ? 2048 : 1 + (data[0] & 0x3f);
    o.message_size_limit = (data[1] & 0x80) ? (uint64_t)(data[1] & 0x7f) * 4 : 0;
    o.forbid_bare_newline = data[0] & 0x80;
    enum smtp_data_mode mode = (data[1] & 1) ? SMTP_DATA_MODE_BDAT : SMTP_DATA_MODE_DATA;
    size_t nchunks = data[2] % 8;
    if (size < 3 + nchunks)
        return 0;
    const uint8_t *chunks = data + 3;
    const uint8_t *in = data + 3 + nchunks;
    size_t len = size - 3 - nchunks;

    result whole = {0}, bytes = {0}, chunked = {0};
    run(&whole, &o, mode, in, len, NULL, 0);
    run(&bytes, &o, mode, in, len, (const uint8_t *)"", 0);
    run(&chunked, &o, mode, in, len, nchunks ? chunks : (const uint8_t *)"", nchunks);
    same(&whole, &bytes);
    same(&whole, &chunked);

    if (mode == SMTP_DATA_MODE_DATA) {
        size_t want = len;
        bool want_done = false;
        if (len >= 3 && memcmp(in, ".\r\n", 3) == 0) {
            want = 3;
            want_done = true;
        } else {
            const uint8_t *e = memmem(in, len, "\r\n.\r\n", 5);
            if (e) {
                want = (size_t)(e - in) + 5;
                want_done = true;
            }
        }
        check(whole.done == want_done && whole.consumed == want);
    } else {
        check(whole.consumed == len && whole.done);
    }
    /* After normalization no emitted line holds a CR (DATA and BDAT). */
    if (whole.res == SMTP_DATA_OK)
        for (size_t i = 0; i + 2 < whole.out.len; i++)
            check(whole.out.s[i] != '\r');
    strbuf_release(&whole.out);
    strbuf_release(&bytes.out);
    strbuf_release(&chunked.out);
    return 0;
}
