/* Unit tests: smtp_data (DATA end-of-data, smuggling variants, chunking
 * independence, bare newline policy, line and size limits, BDAT). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mem.h"
#include "smtpd_data_scan.h"

#define L(x) x, sizeof(x) - 1

/* Everything a run produced, in a comparable form. */
typedef struct run {
    strbuf out; /* each line: bytes, then "|C\n" (complete) or "|P\n" (piece) */
    size_t consumed;
    bool done;
    enum smtp_data_result result;
    uint64_t size;
    uint64_t lines;
    size_t max_piece;
    int stop_after; /* callback fails after this many calls (0: never) */
    int calls;
    bool saw_nul, saw_8bit;
} run;

static int collect(void *ctx, const char *line, size_t len, bool complete)
{
    run *r = ctx;
    strbuf_append(&r->out, line, len);
    strbuf_puts(&r->out, complete ? "|C\n" : "|P\n");
    if (len > r->max_piece)
        r->max_piece = len;
    r->calls++;
    return r->stop_after && r->calls >= r->stop_after ? -1 : 0;
}

static smtp_data_opts mkopts(size_t line_limit, uint64_t size_limit, bool forbid)
{
    smtp_data_opts o = {line_limit, size_limit, forbid, false};
    return o;
}

/* Feed `in` in chunks of `chunk` bytes (0: one chunk), or, when split > 0,
 * in two chunks cut at `split`. */
static void do_run(run *r, const char *in, size_t len, const smtp_data_opts *o,
                   enum smtp_data_mode mode, size_t chunk, size_t split)
{
    smtp_data d = {0};
    int stop_after = r->stop_after;
    memset(r, 0, sizeof(*r));
    r->stop_after = stop_after;
    smtp_data_begin(&d, o, mode, collect, r);
    size_t off = 0;
    while (off < len && !smtp_data_done(&d)) {
        size_t n = len - off;
        if (split > 0)
            n = off < split && split < len ? split - off : len - off;
        else if (chunk > 0 && n > chunk)
            n = chunk;
        size_t used = smtp_data_feed(&d, in + off, n);
        assert_true(used <= n);
        off += used;
        if (used < n)
            break; /* end-of-data inside this chunk */
    }
    if (mode == SMTP_DATA_MODE_BDAT)
        smtp_data_finish(&d);
    r->consumed = off;
    r->done = smtp_data_done(&d);
    r->result = smtp_data_result(&d);
    r->size = d.size;
    r->lines = d.lines;
    r->saw_nul = d.saw_nul;
    r->saw_8bit = d.saw_8bit;
    assert_true(d.line.len <= o->line_length_limit);
    assert_true(smtp_data_feed(&d, "x", r->done && mode == SMTP_DATA_MODE_DATA ? 1 : 0) == 0);
    smtp_data_release(&d);
}

static void run_release(run *r)
{
    strbuf_release(&r->out);
}

/* Run whole, byte by byte, in 3-byte chunks and cut at every position; all
 * must agree exactly. Leaves the whole-input run in *r. */
static void run_all_chunkings(run *r, const char *in, size_t len, const smtp_data_opts *o,
                              enum smtp_data_mode mode)
{
    run other = {0};
    do_run(r, in, len, o, mode, 0, 0);
    for (size_t v = 0; v < len + 3; v++) {
        if (v == 0)
            do_run(&other, in, len, o, mode, 1, 0);
        else if (v == 1)
            do_run(&other, in, len, o, mode, 3, 0);
        else
            do_run(&other, in, len, o, mode, 0, v - 1);
        assert_int_equal(other.consumed, r->consumed);
        assert_int_equal(other.done, r->done);
        assert_int_equal(other.result, r->result);
        assert_int_equal(other.size, r->size);
        assert_int_equal(other.lines, r->lines);
        assert_int_equal(other.out.len, r->out.len);
        assert_memory_equal(other.out.s ? other.out.s : "", r->out.s ? r->out.s : "", r->out.len);
        run_release(&other);
    }
}

static void basic(void **state)
{
    smtp_data_opts o = mkopts(2048, 0, true);
    run r = {0};
    static const char in[] = "Subject: hi\r\n\r\nHello\r\n..dot\r\n.x\r\n...\r\n.\r\nQUIT\r\n";
    run_all_chunkings(&r, in, sizeof(in) - 1, &o, SMTP_DATA_MODE_DATA);
    assert_true(r.done);
    assert_int_equal(r.result, SMTP_DATA_OK);
    assert_int_equal(r.consumed, sizeof(in) - 1 - strlen("QUIT\r\n"));
    assert_string_equal(strbuf_str(&r.out), "Subject: hi|C\n|C\nHello|C\n.dot|C\nx|C\n..|C\n");
    assert_int_equal(r.lines, 6);
    /* 11 + 0 + 5 + 4 + 1 + 2 content bytes + 6 CRLF */
    assert_int_equal(r.size, 23 + 12);
    run_release(&r);

    /* The start of DATA counts as after CRLF. */
    run_all_chunkings(&r, L(".\r\nMAIL FROM:<a@b>\r\n"), &o, SMTP_DATA_MODE_DATA);
    assert_true(r.done);
    assert_int_equal(r.consumed, 3);
    assert_int_equal(r.lines, 0);
    assert_string_equal(strbuf_str(&r.out), "");
    run_release(&r);

    run_all_chunkings(&r, L("\r\n.\r\n"), &o, SMTP_DATA_MODE_DATA);
    assert_true(r.done);
    assert_int_equal(r.consumed, 5);
    assert_string_equal(strbuf_str(&r.out), "|C\n");
    run_release(&r);

    /* No terminator yet: everything consumed, not done. */
    run_all_chunkings(&r, L("abc\r\n.\r"), &o, SMTP_DATA_MODE_DATA);
    assert_false(r.done);
    assert_int_equal(r.consumed, 7);
    run_release(&r);
}

/* Non-standard end-of-data sequences from smtpsmug and friends. */
static const struct {
    const char *seq;
    size_t len;
    enum smtp_data_result forbid; /* expected result with forbid_bare_newline */
} smuggle[] = {
    {L("\n.\n"), SMTP_DATA_BARE_LF},       {L("\r.\r"), SMTP_DATA_BARE_CR},
    {L("\r.\n"), SMTP_DATA_BARE_CR},       {L("\n.\r"), SMTP_DATA_BARE_LF},
    {L("\n.\r\n"), SMTP_DATA_BARE_LF},     {L("\r\n.\n"), SMTP_DATA_BARE_LF},
    {L("\r.\r\n"), SMTP_DATA_BARE_CR},     {L("\r\n.\r"), SMTP_DATA_BARE_CR},
    {L("\r\n\0.\r\n"), SMTP_DATA_OK},      {L("\r\n\0.\r"), SMTP_DATA_BARE_CR},
    {L("\r\n\0.\n"), SMTP_DATA_BARE_LF},   {L("\r\n.\0\r\n"), SMTP_DATA_OK},
    {L("\n\n.\r\n"), SMTP_DATA_BARE_LF},   {L("\r\n.\r\r\r\n"), SMTP_DATA_BARE_CR},
    {L("\r\n.\r\r\n"), SMTP_DATA_BARE_CR}, {L("\r\n.\n\r\n"), SMTP_DATA_BARE_LF},
    {L("\r\n .\r\n"), SMTP_DATA_OK},       {L("\r\n..\r\n"), SMTP_DATA_OK},
};

static void smuggling(void **state)
{
    static const char pre[] = "From: a@example.com\r\nSubject: x\r\n\r\nbody";
    static const char inject[] = "MAIL FROM:<ceo@bank.example>\r\nRCPT TO:<victim@x>\r\nDATA\r\n"
                                 "From: ceo@bank.example\r\n\r\nsmuggled\r\n";
    static const char post[] = "\r\n.\r\nQUIT\r\n";
    for (size_t i = 0; i < sizeof(smuggle) / sizeof(smuggle[0]); i++) {
        strbuf in = STRBUF_INIT;
        strbuf_puts(&in, pre);
        strbuf_append(&in, smuggle[i].seq, smuggle[i].len);
        strbuf_puts(&in, inject);
        /* inject ends in CRLF; drop it so post supplies the only CRLF.CRLF */
        strbuf_truncate(&in, in.len - 2);
        strbuf_puts(&in, post);
        size_t want = in.len - strlen("QUIT\r\n");
        for (int forbid = 0; forbid <= 1; forbid++) {
            smtp_data_opts o = mkopts(2048, 0, forbid);
            run r = {0};
            run_all_chunkings(&r, in.s, in.len, &o, SMTP_DATA_MODE_DATA);
            if (!r.done || r.consumed != want)
                fail_msg("variant %zu forbid=%d: ended at %zu, want %zu", i, forbid, r.consumed,
                         want);
            if (forbid) {
                if (r.result != smuggle[i].forbid)
                    fail_msg("variant %zu: result %d want %d", i, r.result, smuggle[i].forbid);
            } else {
                assert_int_equal(r.result, SMTP_DATA_OK);
            }
            if (r.result == SMTP_DATA_OK) {
                /* Proof: the bytes after the fake terminator are part of the
                 * same message, as content lines. */
                assert_non_null(memmem(r.out.s, r.out.len, "MAIL FROM:<ceo@bank.example>|C\n",
                                       strlen("MAIL FROM:<ceo@bank.example>|C\n")));
                assert_non_null(memmem(r.out.s, r.out.len, "smuggled|C\n", 11));
                /* No line holds a bare CR or LF after normalization. */
                for (size_t k = 0; k < r.out.len; k++)
                    assert_true(r.out.s[k] != '\r');
            }
            run_release(&r);
        }
        strbuf_release(&in);
    }
}

static void bare_newlines(void **state)
{
    smtp_data_opts forbid = mkopts(2048, 0, true), norm = mkopts(2048, 0, false);
    run r = {0};
    run_all_chunkings(&r, L("a\nb\r\n.\r\n"), &forbid, SMTP_DATA_MODE_DATA);
    assert_int_equal(r.result, SMTP_DATA_BARE_LF);
    assert_true(r.done);
    assert_int_equal(r.consumed, 8);
    assert_string_equal(strbuf_str(&r.out), "");
    run_release(&r);

    run_all_chunkings(&r, L("a\nb\r\n.\r\n"), &norm, SMTP_DATA_MODE_DATA);
    assert_int_equal(r.result, SMTP_DATA_OK);
    assert_string_equal(strbuf_str(&r.out), "a|C\nb|C\n");
    run_release(&r);

    run_all_chunkings(&r, L("a\rb\r\r\n.\r\n"), &norm, SMTP_DATA_MODE_DATA);
    assert_int_equal(r.result, SMTP_DATA_OK);
    assert_string_equal(strbuf_str(&r.out), "a|C\nb|C\n|C\n");
    run_release(&r);

    run_all_chunkings(&r, L("ok\r\nx\ry\r\n.\r\n"), &forbid, SMTP_DATA_MODE_DATA);
    assert_int_equal(r.result, SMTP_DATA_BARE_CR);
    assert_string_equal(strbuf_str(&r.out), "ok|C\n");
    run_release(&r);

    /* Bare-LF "." lines are content; after normalization a dot-only line
     * stays "." (a relaying client dot-stuffs it again). */
    run_all_chunkings(&r, L("a\n.\nb\r\n.\r\n"), &norm, SMTP_DATA_MODE_DATA);
    assert_string_equal(strbuf_str(&r.out), "a|C\n.|C\nb|C\n");
    run_release(&r);

    int code;
    const char *dsn, *text;
    smtp_data_reply(SMTP_DATA_BARE_LF, 0, &code, &dsn, &text);
    assert_int_equal(code, 550);
    assert_string_equal(dsn, "5.5.2");
    assert_string_equal(text, "Error: bare <LF> received");
    smtp_data_reply(SMTP_DATA_BARE_CR, 521, &code, &dsn, &text);
    assert_int_equal(code, 521);
    smtp_data_reply(SMTP_DATA_TOO_BIG, 0, &code, &dsn, &text);
    assert_int_equal(code, 552);
    assert_string_equal(dsn, "5.3.4");
    assert_string_equal(text, "Error: message file too big");
    smtp_data_reply(SMTP_DATA_CALLBACK, 0, &code, &dsn, &text);
    assert_int_equal(code, 451);
    smtp_data_reply(SMTP_DATA_OK, 0, &code, &dsn, &text);
    assert_int_equal(code, 250);
}

static void long_lines(void **state)
{
    smtp_data_opts o = mkopts(10, 0, true);
    run r = {0};
    static const char in[] = "xxxxxxxxxxyyyyyyyyyyzzzzz\r\n0123456789\r\n.\r\n";
    run_all_chunkings(&r, in, sizeof(in) - 1, &o, SMTP_DATA_MODE_DATA);
    assert_string_equal(strbuf_str(&r.out), "xxxxxxxxxx|P\nyyyyyyyyyy|P\nzzzzz|C\n0123456789|C\n");
    run_release(&r);

    /* A dot-stuffed long line: the stuffing dot is not counted. */
    run_all_chunkings(&r, L("..........x\r\n.\r\n"), &o, SMTP_DATA_MODE_DATA);
    assert_string_equal(strbuf_str(&r.out), ".........x|C\n");
    run_release(&r);

    /* 1 MB line with Postfix's 2048 limit, fed whole and in odd chunks. */
    size_t n = 1 << 20;
    char *big = xmalloc(n + 5);
    memset(big, 'a', n);
    memcpy(big + n, "\r\n.\r\n", 5);
    smtp_data_opts p = mkopts(2048, 0, true);
    run a = {0}, b = {0};
    do_run(&a, big, n + 5, &p, SMTP_DATA_MODE_DATA, 0, 0);
    do_run(&b, big, n + 5, &p, SMTP_DATA_MODE_DATA, 4093, 0);
    assert_true(a.done);
    assert_int_equal(a.max_piece, 2048);
    assert_int_equal(a.calls, 512);
    assert_int_equal(a.out.len, b.out.len);
    assert_memory_equal(a.out.s, b.out.s, a.out.len);
    run_release(&a);
    run_release(&b);
    free(big);
}

static void size_limit(void **state)
{
    smtp_data_opts o = mkopts(2048, 100, true);
    strbuf in = STRBUF_INIT;
    for (int i = 0; i < 100; i++)
        strbuf_puts(&in, "0123456789\r\n");
    strbuf_puts(&in, ".\r\nRSET\r\n");
    run r = {0};
    run_all_chunkings(&r, in.s, in.len, &o, SMTP_DATA_MODE_DATA);
    assert_true(r.done);
    assert_int_equal(r.result, SMTP_DATA_TOO_BIG);
    assert_int_equal(r.consumed, in.len - 6);
    assert_int_equal(r.size, 1200); /* kept counting */
    assert_true(r.calls <= 9);      /* stopped emitting at the limit */
    run_release(&r);

    /* Exactly at the limit is fine. */
    o.message_size_limit = 1200;
    run_all_chunkings(&r, in.s, in.len, &o, SMTP_DATA_MODE_DATA);
    assert_int_equal(r.result, SMTP_DATA_OK);
    assert_int_equal(r.calls, 100);
    run_release(&r);

    /* Too big first, bare LF later: the first problem wins. */
    o.message_size_limit = 5;
    run_all_chunkings(&r, L("0123456789\r\na\nb\r\n.\r\n"), &o, SMTP_DATA_MODE_DATA);
    assert_int_equal(r.result, SMTP_DATA_TOO_BIG);
    run_release(&r);
    strbuf_release(&in);
}

static void callback_stop(void **state)
{
    smtp_data_opts o = mkopts(2048, 0, true);
    run r = {0};
    r.stop_after = 2;
    do_run(&r, L("a\r\nb\r\nc\r\nd\r\n.\r\nQUIT\r\n"), &o, SMTP_DATA_MODE_DATA, 0, 0);
    assert_int_equal(r.result, SMTP_DATA_CALLBACK);
    assert_true(r.done);
    assert_int_equal(r.consumed, 15);
    assert_int_equal(r.calls, 2);
    run_release(&r);
}

static void binary_bytes(void **state)
{
    smtp_data_opts o = mkopts(2048, 0, true);
    run r = {0};
    run_all_chunkings(&r, L("a\0b\xff\r\n\0\r\n.\r\n"), &o, SMTP_DATA_MODE_DATA);
    assert_true(r.done);
    assert_int_equal(r.result, SMTP_DATA_OK);
    assert_true(r.saw_nul);
    assert_true(r.saw_8bit);
    assert_int_equal(r.out.len, 4 + 3 + 1 + 3);
    assert_memory_equal(r.out.s, "a\0b\xff|C\n\0|C\n", 11);
    run_release(&r);
}

static void bdat(void **state)
{
    /* Bare LF and bare CR are line breaks, as in DATA; dots are content. */
    smtp_data_opts o = mkopts(2048, 0, false);
    run r = {0};
    run_all_chunkings(&r, L("a\r\nb\nc\rd\r\n..\r\n.\r\n\0tail"), &o, SMTP_DATA_MODE_BDAT);
    assert_true(r.done);
    assert_int_equal(r.result, SMTP_DATA_OK);
    assert_int_equal(r.out.len, strlen("a|C\nb|C\nc|C\nd|C\n..|C\n.|C\n") + 8);
    assert_memory_equal(r.out.s, "a|C\nb|C\nc|C\nd|C\n..|C\n.|C\n\0tail|C\n", r.out.len);
    run_release(&r);

    /* The smuggling sequences come out as plain lines, never with a CR. */
    run_all_chunkings(&r, L("x\r.\ry\n.\nz\r\n.\r"), &o, SMTP_DATA_MODE_BDAT);
    assert_int_equal(r.result, SMTP_DATA_OK);
    assert_string_equal(strbuf_str(&r.out), "x|C\n.|C\ny|C\n.|C\nz|C\n.|C\n");
    run_release(&r);

    /* A CR that ends the LAST chunk is a bare CR too. */
    run_all_chunkings(&r, L("x\r"), &o, SMTP_DATA_MODE_BDAT);
    assert_string_equal(strbuf_str(&r.out), "x|C\n");
    run_release(&r);

    run_all_chunkings(&r, L("x\r\n"), &o, SMTP_DATA_MODE_BDAT);
    assert_string_equal(strbuf_str(&r.out), "x|C\n");
    run_release(&r);

    /* forbid_bare_newline: the first bare newline decides, input is still
     * consumed to the end of the chunk. */
    o.forbid_bare_newline = true;
    run_all_chunkings(&r, L("a\r\nb\nc\rd\r\n"), &o, SMTP_DATA_MODE_BDAT);
    assert_true(r.done);
    assert_int_equal(r.result, SMTP_DATA_BARE_LF);
    assert_int_equal(r.consumed, strlen("a\r\nb\nc\rd\r\n"));
    assert_string_equal(strbuf_str(&r.out), "a|C\n");
    run_release(&r);
    run_all_chunkings(&r, L("a\r\nb\rc\nd\r\n"), &o, SMTP_DATA_MODE_BDAT);
    assert_int_equal(r.result, SMTP_DATA_BARE_CR);
    run_release(&r);
    run_all_chunkings(&r, L("a\r\nb\r"), &o, SMTP_DATA_MODE_BDAT);
    assert_int_equal(r.result, SMTP_DATA_BARE_CR);
    run_release(&r);
    run_all_chunkings(&r, L("a\r\nb\r\n"), &o, SMTP_DATA_MODE_BDAT);
    assert_int_equal(r.result, SMTP_DATA_OK);
    run_release(&r);
    o.forbid_bare_newline = false;

    o.line_length_limit = 4;
    run_all_chunkings(&r, L("abcdefghij\n"), &o, SMTP_DATA_MODE_BDAT);
    assert_string_equal(strbuf_str(&r.out), "abcd|P\nefgh|P\nij|C\n");
    run_release(&r);

    o.message_size_limit = 3;
    run_all_chunkings(&r, L("abcdefghij\n"), &o, SMTP_DATA_MODE_BDAT);
    assert_int_equal(r.result, SMTP_DATA_TOO_BIG);
    run_release(&r);

    /* Several BDAT chunks form one message: state carries over. */
    smtp_data d = {0};
    run c = {0};
    smtp_data_opts p = mkopts(2048, 0, true);
    smtp_data_begin(&d, &p, SMTP_DATA_MODE_BDAT, collect, &c);
    assert_int_equal(smtp_data_feed(&d, L("hel")), 3);
    assert_int_equal(smtp_data_feed(&d, L("lo\r")), 3);
    assert_int_equal(smtp_data_feed(&d, L("\nworld")), 6);
    assert_false(smtp_data_done(&d));
    smtp_data_finish(&d);
    assert_true(smtp_data_done(&d));
    assert_string_equal(strbuf_str(&c.out), "hello|C\nworld|C\n");
    /* Reuse the same object for a DATA message. */
    strbuf_set(&c.out, "");
    smtp_data_begin(&d, &p, SMTP_DATA_MODE_DATA, collect, &c);
    assert_int_equal(smtp_data_feed(&d, L("x\r\n.\r\n")), 6);
    assert_string_equal(strbuf_str(&c.out), "x|C\n");
    smtp_data_release(&d);
    run_release(&c);
}

/* Deterministic random streams over a hostile alphabet: every chunking
 * agrees, and the end is exactly the first CRLF.CRLF (or a leading .CRLF). */
static void random_streams(void **state)
{
    static const char alphabet[] = {'\r', '\n', '.', 'a', '\0', '\r', '\n', '.'};
    uint32_t seed = 12345;
    char buf[64];
    for (int iter = 0; iter < 3000; iter++) {
        seed = seed * 1103515245u + 12345u;
        size_t len = (seed >> 16) % sizeof(buf);
        for (size_t i = 0; i < len; i++) {
            seed = seed * 1103515245u + 12345u;
            buf[i] = alphabet[(seed >> 16) % sizeof(alphabet)];
        }
        size_t want = len;
        bool want_done = false;
        if (len >= 3 && memcmp(buf, ".\r\n", 3) == 0) {
            want = 3;
            want_done = true;
        } else {
            const char *e = memmem(buf, len, "\r\n.\r\n", 5);
            if (e) {
                want = (size_t)(e - buf) + 5;
                want_done = true;
            }
        }
        for (int forbid = 0; forbid <= 1; forbid++) {
            smtp_data_opts o = mkopts(1 + (seed >> 20) % 8, (seed >> 8) % 3 ? 0 : 20, forbid);
            run r = {0};
            run_all_chunkings(&r, buf, len, &o, SMTP_DATA_MODE_DATA);
            assert_int_equal(r.done, want_done);
            assert_int_equal(r.consumed, want);
            run_release(&r);
        }
    }
}

/* sendmail -bs's pipe: LF ends lines, "." LF ends DATA, CR stays strict. */
static void lf_line_ends(void **state)
{
    smtp_data_opts o = mkopts(2048, 0, true);
    o.lf_line_ends = true;
    run r = {0};
    run_all_chunkings(&r, L("Subject: x\n\n..dot\nline\r\n.\nQUIT\n"), &o, SMTP_DATA_MODE_DATA);
    assert_true(r.done);
    assert_int_equal(r.result, SMTP_DATA_OK);
    assert_int_equal(r.consumed, strlen("Subject: x\n\n..dot\nline\r\n.\n"));
    assert_string_equal(strbuf_str(&r.out), "Subject: x|C\n|C\n.dot|C\nline|C\n");
    run_release(&r);

    run_all_chunkings(&r, L(".\nMAIL"), &o, SMTP_DATA_MODE_DATA);
    assert_true(r.done);
    assert_int_equal(r.consumed, 2);
    run_release(&r);

    /* A bare CR is still no line end that could let "." end the data. */
    run_all_chunkings(&r, L("a\r.\nb\r\n.\r\n"), &o, SMTP_DATA_MODE_DATA);
    assert_true(r.done);
    assert_int_equal(r.result, SMTP_DATA_BARE_CR);
    assert_int_equal(r.consumed, strlen("a\r.\nb\r\n.\r\n"));
    run_release(&r);
    o.forbid_bare_newline = false;
    run_all_chunkings(&r, L("a\r.\nb\r\n.\r\n"), &o, SMTP_DATA_MODE_DATA);
    assert_int_equal(r.result, SMTP_DATA_OK);
    assert_string_equal(strbuf_str(&r.out), "a|C\n.|C\nb|C\n");
    run_release(&r);
}

/* Random BDAT content: every chunking agrees and no emitted line holds a
 * CR or LF, with and without forbid_bare_newline. */
static void random_bdat(void **state)
{
    static const char alphabet[] = {'\r', '\n', '.', 'a', '\0', '\r'};
    uint32_t seed = 54321;
    char buf[48];
    for (int iter = 0; iter < 2000; iter++) {
        seed = seed * 1103515245u + 12345u;
        size_t len = (seed >> 16) % sizeof(buf);
        for (size_t i = 0; i < len; i++) {
            seed = seed * 1103515245u + 12345u;
            buf[i] = alphabet[(seed >> 16) % sizeof(alphabet)];
        }
        for (int forbid = 0; forbid <= 1; forbid++) {
            smtp_data_opts o = mkopts(1 + (seed >> 20) % 8, 0, forbid);
            run r = {0};
            run_all_chunkings(&r, buf, len, &o, SMTP_DATA_MODE_BDAT);
            assert_true(r.done);
            assert_int_equal(r.consumed, len);
            assert_null(memchr(r.out.s ? r.out.s : "", '\r', r.out.len));
            size_t newlines = 0;
            for (size_t i = 0; i < r.out.len; i++)
                newlines += r.out.s[i] == '\n';
            assert_int_equal(newlines, (size_t)r.calls);
            if (!forbid)
                assert_int_equal(r.result, SMTP_DATA_OK);
            run_release(&r);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(basic),          cmocka_unit_test(smuggling),
        cmocka_unit_test(bare_newlines),  cmocka_unit_test(long_lines),
        cmocka_unit_test(size_limit),     cmocka_unit_test(callback_stop),
        cmocka_unit_test(binary_bytes),   cmocka_unit_test(bdat),
        cmocka_unit_test(random_streams), cmocka_unit_test(random_bdat),
        cmocka_unit_test(lf_line_ends),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
