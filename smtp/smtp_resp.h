/* smtp_resp - reading and parsing SMTP/LMTP server replies (client side).
 *
 * Contract:
 * - A reply is one or more lines "NNN-text" ... "NNN text" (or a bare
 *   "NNN"). smtp_resp_feed() is the pure parser: it takes one line without
 *   its terminator and says whether the reply is complete, needs more lines,
 *   or is malformed (no three-digit code, a bad separator, codes that change
 *   between lines, too many lines). It never trusts the peer: the number of
 *   lines is capped at SMTP_RESP_MAX_LINES and the text kept at
 *   SMTP_RESP_MAX_TEXT bytes (the rest is dropped), so a hostile server
 *   costs bounded memory.
 * - Text is sanitised as it is stored: control characters (NUL, CR, bare
 *   LF, DEL, ...) and bytes >= 0x80 become '?', so reply text can go into
 *   log lines, defer logs and DSNs without injecting anything
 *   (CVE-2020-8794 class).
 * - `text` is every line joined with one space, codes included, the way
 *   Postfix quotes a reply in a reason ("550-5.1.1 a 550 5.1.1 b");
 *   `lines` holds each line's text after the code (EHLO keywords).
 * - `dsn` is the enhanced status code of the first line when it is present
 *   and its class agrees with the reply code, else the code's class with
 *   ".0.0" (Postfix does the same).
 * - smtp_resp_read() reads one reply from a stream; lines longer than
 *   line_limit are truncated (the remainder is skipped, not parsed).
 */
#ifndef MTA_SMTP_RESP_H
#define MTA_SMTP_RESP_H
#include <stdbool.h>
#include <stddef.h>

#include "stream.h"
#include "strbuf.h"
#include "strlist.h"

#define SMTP_RESP_MAX_LINES 100
#define SMTP_RESP_MAX_TEXT 4096
#define SMTP_RESP_DSN_MAX 12 /* "5.123.123" plus NUL, with room */

typedef struct smtp_resp {
    int code;                    /* 100..599 once parsed, 0 before */
    char dsn[SMTP_RESP_DSN_MAX]; /* "4.2.1" */
    strbuf text;                 /* whole reply, sanitised, lines joined by ' ' */
    strlist lines;               /* per line text after "NNN-", sanitised */
    size_t nlines;               /* lines fed, including dropped ones */
} smtp_resp;

#define SMTP_RESP_INIT                                                                             \
    {                                                                                              \
        0, {0}, STRBUF_INIT, STRLIST_INIT, 0                                                       \
    }

/* SMTP_RESP_BAD is apart from the stream results (STREAM_EOF is -1): a
 * peer that hangs up is "lost connection", not a malformed reply. */
enum { SMTP_RESP_MORE = 1, SMTP_RESP_DONE = 0, SMTP_RESP_BAD = -16 };

/* Forget the previous reply (keeps memory). */
void smtp_resp_reset(smtp_resp *r);
void smtp_resp_release(smtp_resp *r);

/* Feed one line (no CRLF). SMTP_RESP_MORE, _DONE, or _BAD with the reason
 * in err (the reply is then unusable). */
int smtp_resp_feed(smtp_resp *r, const char *line, size_t len, strbuf *err);

/* Read a whole reply. 0 on success; on failure a negative stream result
 * (STREAM_EOF, STREAM_TIMEOUT, STREAM_ERROR) or SMTP_RESP_BAD, with a
 * reason in err. */
int smtp_resp_read(stream *st, smtp_resp *r, size_t line_limit, strbuf *err);

/* Class of the code: 2, 3, 4 or 5 (0 when unset). */
int smtp_resp_class(const smtp_resp *r);

/* EHLO/LHLO keywords the client uses. */
enum {
    SMTP_EXT_PIPELINING = 1 << 0,
    SMTP_EXT_SIZE = 1 << 1,
    SMTP_EXT_8BITMIME = 1 << 2,
    SMTP_EXT_DSN = 1 << 3,
    SMTP_EXT_SMTPUTF8 = 1 << 4,
    SMTP_EXT_STARTTLS = 1 << 5,
    SMTP_EXT_ENHANCEDSTATUSCODES = 1 << 6,
};

/* Keywords of a 250 EHLO reply (its first line is the greeting and is
 * skipped). *size_limit gets SIZE's argument (0: none or unlimited). */
unsigned smtp_ehlo_features(const smtp_resp *r, unsigned long long *size_limit);

#endif
