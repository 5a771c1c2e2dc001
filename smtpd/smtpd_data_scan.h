/* smtpd_data_scan (smtp_data_*) - the DATA and BDAT content state machines, without I/O.
 *
 * Contract (DATA):
 * - Feed raw bytes as they arrive, in any chunking (even one byte at a
 *   time); the result is identical for every chunking of the same stream.
 * - End-of-data is reported ONLY for <CR><LF>.<CR><LF>; the start of DATA
 *   counts as being after <CR><LF>, so ".\r\n" first ends an empty message.
 *   <LF>.<LF>, <CR>.<CR>, <LF>.<CR><LF>, <CR><LF>.<LF> etc. never end it
 *   (SMTP smuggling, CVE-2023-51764): bytes after such a sequence belong to
 *   the same message. smtp_data_feed returns how many bytes it consumed; it
 *   stops right after the terminating LF, so whatever follows (pipelined
 *   commands) stays with the caller.
 * - Lines go to the callback dot-unstuffed (RFC 5321 4.5.2) with the line
 *   terminator removed, `complete` false for a piece of a line longer than
 *   line_length_limit (the rest follows in later calls). No more than
 *   line_length_limit bytes are ever buffered.
 * - Exception: with lf_line_ends (sendmail -bs only) a bare LF is a line end
 *   like <CR><LF>, and "." <LF> after a line end ends the data.
 * - Bare LF or bare CR: with forbid_bare_newline the message is marked
 *   SMTP_DATA_BARE_LF / SMTP_DATA_BARE_CR, nothing more is emitted, and input
 *   is still consumed to the real end-of-data, so the client stays in sync and
 *   one message can never turn into two. Without it, a bare LF or bare CR
 *   ends a line (normalized to an ordinary line break) but a "." line after
 *   it never ends the data.
 * - message_size_limit: bytes are counted as content plus CRLF per line;
 *   past the limit nothing more is emitted, counting and consuming continue,
 *   and the result is SMTP_DATA_TOO_BIG (smtpd replies at the end, like
 *   Postfix's "552 5.3.4 Error: message file too big").
 * - A non-zero return from the callback stops emitting (result
 *   SMTP_DATA_CALLBACK) but not consuming.
 *
 * BDAT (smtp_data_begin with SMTP_DATA_MODE_BDAT): the caller feeds exactly
 * the chunk bytes, chunk after chunk (a <CR><LF> may be split between two);
 * there is no dot-unstuffing and no end-of-data marker. Lines end at <CR><LF>;
 * a bare LF or bare CR (also a CR that ends the LAST chunk) is treated as in
 * DATA: a line break, or with forbid_bare_newline SMTP_DATA_BARE_LF /
 * SMTP_DATA_BARE_CR. So no emitted line ever holds a CR or LF, whichever
 * command carried the content. smtp_data_finish() after the LAST chunk
 * emits a final unterminated line. Line and size limits work as for DATA.
 */
#ifndef MTA_SMTP_DATA_H
#define MTA_SMTP_DATA_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "strbuf.h"

enum smtp_data_mode { SMTP_DATA_MODE_DATA = 0, SMTP_DATA_MODE_BDAT };

/* First problem seen wins. */
enum smtp_data_result {
    SMTP_DATA_OK = 0,
    SMTP_DATA_BARE_LF,
    SMTP_DATA_BARE_CR,
    SMTP_DATA_TOO_BIG,
    SMTP_DATA_CALLBACK,
};

/* Return 0 to continue, non-zero to stop emitting (e.g. a write error). */
typedef int (*smtp_data_line_fn)(void *ctx, const char *line, size_t len, bool complete);

typedef struct smtp_data_opts {
    size_t line_length_limit;    /* >= 1; Postfix default 2048 */
    uint64_t message_size_limit; /* 0 = unlimited */
    bool forbid_bare_newline;    /* reject bare LF / bare CR (default here) */
    /* A bare LF ends a line as <CR><LF> does, so "." LF ends DATA: only for
     * input from a local pipe (sendmail -bs), where no network client can
     * smuggle anything past a next hop. Overrides forbid_bare_newline for LF. */
    bool lf_line_ends;
} smtp_data_opts;

typedef struct smtp_data {
    smtp_data_opts opts;
    enum smtp_data_mode mode;
    smtp_data_line_fn fn;
    void *ctx;
    int state;       /* internal */
    bool after_crlf; /* the current line started after <CR><LF> or at the start */
    bool done;       /* DATA: end-of-data seen; BDAT: finished */
    bool emitting;
    bool saw_nul;
    bool saw_8bit;
    enum smtp_data_result result;
    uint64_t size;  /* content bytes + 2 per line, saturating */
    uint64_t lines; /* complete lines emitted or, after a stop, seen */
    strbuf line;    /* never longer than line_length_limit */
} smtp_data;

/* Start a message. `d` must be zero-initialised (smtp_data d = {0}) before
 * its first use; after that it may be reused for any number of messages
 * (its buffer memory is kept) until smtp_data_release. */
void smtp_data_begin(smtp_data *d, const smtp_data_opts *opts, enum smtp_data_mode mode,
                     smtp_data_line_fn fn, void *ctx);

/* Consume bytes. DATA: returns the number of bytes used, which is less than
 * len only when end-of-data was reached; 0 once done. BDAT: always len. */
size_t smtp_data_feed(smtp_data *d, const void *buf, size_t len);

/* BDAT LAST: flush the final line. Harmless for DATA (does nothing). */
void smtp_data_finish(smtp_data *d);

bool smtp_data_done(const smtp_data *d);
enum smtp_data_result smtp_data_result(const smtp_data *d);

/* Postfix-style reply for a result other than OK: code, enhanced status and
 * text. bare_code is smtpd_forbid_bare_newline_reject_code (Postfix 550; 0
 * selects 550). */
void smtp_data_reply(enum smtp_data_result r, int bare_code, int *code, const char **dsn,
                     const char **text);

void smtp_data_release(smtp_data *d);

#endif
