/* smtp_cmd - parse one SMTP command line, without I/O or policy.
 *
 * Contract:
 * - Input is one command line, already split from the stream by the caller
 *   (CRLF removed, length bounded by line_length_limit). It may contain any
 *   byte; a NUL, CR or LF inside it makes the command fail with
 *   "500 5.5.2 Error: bad syntax" (they would otherwise reach logs, headers
 *   or queue records).
 * - The verb is matched case-insensitively. MAIL/RCPT addresses go through
 *   address.h (internal form, never containing control characters); ESMTP
 *   parameters are decoded (xtext, RFC 3461) and validated; SIZE and BDAT
 *   counts are parsed without integer overflow.
 * - On error, cmd->reply holds the SMTP reply that smtpd should send, with
 *   Postfix's code, enhanced status and text. cmd->reply.close says the
 *   connection cannot continue: a malformed BDAT command (no count, a count
 *   that is not plain decimal or overflows, anything but "LAST" after it, a
 *   NUL/CR/LF in the line, or a line the caller had to cut) answers
 *   "521 5.5.4 Syntax: BDAT count [LAST]", because the chunk after it has an
 *   unknown length and must never be read as commands.
 * - Decisions that need session state or policy (command order, whether
 *   DSN/AUTH/SMTPUTF8/BINARYMIME were offered, restrictions) are smtpd's;
 *   this module only reports what the client sent.
 * - Work is linear in the line length; nothing is allocated beyond a small
 *   multiple of it.
 */
#ifndef MTA_SMTP_CMD_H
#define MTA_SMTP_CMD_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "address.h"
#include "strbuf.h"
#include "strlist.h"

enum smtp_verb {
    SMTP_VERB_UNKNOWN = 0,
    SMTP_VERB_HELO,
    SMTP_VERB_EHLO,
    SMTP_VERB_LHLO,
    SMTP_VERB_MAIL,
    SMTP_VERB_RCPT,
    SMTP_VERB_DATA,
    SMTP_VERB_BDAT,
    SMTP_VERB_RSET,
    SMTP_VERB_NOOP,
    SMTP_VERB_QUIT,
    SMTP_VERB_HELP,
    SMTP_VERB_VRFY,
    SMTP_VERB_EXPN,
    SMTP_VERB_ETRN,
    SMTP_VERB_AUTH,
    SMTP_VERB_STARTTLS,
    SMTP_VERB_XCLIENT,
    SMTP_VERB_XFORWARD,
};

enum smtp_body { SMTP_BODY_NONE = 0, SMTP_BODY_7BIT, SMTP_BODY_8BITMIME, SMTP_BODY_BINARYMIME };
enum smtp_ret { SMTP_RET_NONE = 0, SMTP_RET_FULL, SMTP_RET_HDRS };

/* NOTIFY= bits (RFC 3461); NEVER is exclusive. */
#define SMTP_NOTIFY_NEVER 0x01
#define SMTP_NOTIFY_SUCCESS 0x02
#define SMTP_NOTIFY_FAILURE 0x04
#define SMTP_NOTIFY_DELAY 0x08

/* Which parameters were present (cmd->params). */
#define SMTP_PARAM_SIZE 0x001
#define SMTP_PARAM_BODY 0x002
#define SMTP_PARAM_SMTPUTF8 0x004
#define SMTP_PARAM_RET 0x008
#define SMTP_PARAM_ENVID 0x010
#define SMTP_PARAM_AUTH 0x020
#define SMTP_PARAM_NOTIFY 0x040
#define SMTP_PARAM_ORCPT 0x080

/* RFC 3461 bounds on the decoded values. */
#define SMTP_ENVID_MAX 100
#define SMTP_ORCPT_MAX 500

typedef struct smtp_reply {
    int code;        /* 0: no reply pending */
    const char *dsn; /* "5.5.4", or NULL for replies Postfix sends without one */
    strbuf text;     /* "Syntax: MAIL FROM:<address>" */
    bool close;      /* smtpd must disconnect after sending it */
} smtp_reply;

typedef struct smtp_cmd_opts {
    bool strict_rfc821;          /* strict_rfc821_envelopes: MAIL/RCPT need <> */
    bool utf8_addresses;         /* accept UTF-8 addresses (smtputf8_enable) */
    uint64_t message_size_limit; /* SIZE= above this: 552 5.3.4; 0 = no limit */
    const addr_limits *limits;   /* NULL: addr_limits_lenient */
    bool truncated;              /* the caller cut the line at its length limit */
} smtp_cmd_opts;

typedef struct smtp_cmd {
    enum smtp_verb verb;
    strbuf word; /* the verb as sent (sanitized, max 100 bytes), for logs */
    strbuf arg;  /* text after the verb, outer white space removed (HELO name,
                    AUTH mechanism and response, VRFY/ETRN/HELP argument) */

    /* MAIL and RCPT */
    addr_path path;
    strbuf path_text; /* the path as sent (sanitized), for logs */
    unsigned params;  /* SMTP_PARAM_* seen */
    uint64_t size;
    enum smtp_body body;
    enum smtp_ret ret;
    strbuf envid; /* decoded xtext */
    strbuf auth;  /* decoded xtext, "<>" allowed */
    unsigned notify;
    strbuf orcpt_type; /* "rfc822" */
    strbuf orcpt_addr; /* decoded xtext */

    /* BDAT */
    uint64_t bdat_size;
    bool bdat_last;

    smtp_reply reply; /* set when smtp_cmd_parse fails */
} smtp_cmd;

void smtp_cmd_init(smtp_cmd *cmd);
void smtp_cmd_release(smtp_cmd *cmd);

/* Parse line[0..len). Returns 0, or -1 with cmd->reply set. The verb is
 * filled in even when the arguments are bad (for per-command counters). */
int smtp_cmd_parse(smtp_cmd *cmd, const char *line, size_t len, const smtp_cmd_opts *opts);

/* Upper-case name of a verb ("MAIL"); "UNKNOWN" for SMTP_VERB_UNKNOWN. */
const char *smtp_verb_name(enum smtp_verb verb);

/* smtpd_forbidden_commands for an unrecognized command word: true when the
 * word matches one of `words` case-insensitively (a list item may end in
 * ':'), when it looks like a mail or HTTP header name ("Host:"), or, with
 * nonletter_start, when it does not start with an ASCII letter (Postfix's
 * default regexp:{{/^[^A-Z]/ Bogus}}, which is case-insensitive). The reply
 * Postfix sends is SMTP_FORBIDDEN_REPLY, then it closes. */
bool smtp_cmd_forbidden(const char *word, size_t len, const strlist *words, bool nonletter_start);
#define SMTP_FORBIDDEN_REPLY "221 2.7.0 Error: I can break rules, too. Goodbye."

/* "code dsn text" (no CRLF) into out (replaced). */
void smtp_reply_format(const smtp_reply *r, strbuf *out);

/* RFC 3461 xtext. decode: '+' must be followed by two hex digits, other
 * bytes must be printable ASCII other than '+', '=' and space; returns -1 on
 * malformed input. The output may contain any byte: callers check. */
int smtp_xtext_decode(strbuf *out, const char *in, size_t len);
void smtp_xtext_encode(strbuf *out, const void *in, size_t len);

/* A decimal count: one or more ASCII digits, no sign or space, whose value
 * fits in int64 (off_t). Returns 0, -1 for bad syntax, -2 for overflow. */
int smtp_parse_count(const char *s, size_t len, uint64_t *out);

#endif
