/* address - RFC 5321/5322 mailbox syntax, without any I/O or policy.
 *
 * Contract:
 * - Internal form is the unquoted address ("a b@x" for external "\"a b\"@x"),
 *   as Postfix keeps it; the null sender is the empty string. External form is
 *   what goes on the wire and into headers (local part quoted when needed).
 * - No parser here ever accepts a control character (0x00-0x1f, 0x7f) in an
 *   address, not even inside a quoted string or after a backslash: CR, LF and
 *   NUL can never enter an address, so no address can inject a header line,
 *   a log line or a queue-file record.
 * - Bytes >= 0x80 are accepted only with ADDR_F_UTF8, and then only as
 *   well-formed UTF-8.
 * - Every length is bounded by an addr_limits (local part, domain, whole
 *   path); nothing here allocates more than a small multiple of its input.
 * - Functions that can fail return 0 / -1 and put a short reason (no reply
 *   code; the caller owns the SMTP reply) into `err` when it is not NULL.
 */
#ifndef MTA_ADDRESS_H
#define MTA_ADDRESS_H
#include <stdbool.h>
#include <stddef.h>

#include "strbuf.h"

/* RFC 5321 4.5.3.1 sizes. */
#define ADDR_RFC_LOCAL_MAX 64
#define ADDR_RFC_DOMAIN_MAX 255
#define ADDR_RFC_PATH_MAX 256
#define ADDR_LABEL_MAX 63

typedef struct addr_limits {
    size_t local_max;  /* bytes in the internal (unquoted) local part */
    size_t domain_max; /* bytes in the domain, literal brackets included */
    size_t path_max;   /* bytes between < and >, source route included */
} addr_limits;

/* The RFC numbers; and the default, which is lenient like Postfix (long
 * SRS/VERP local parts are common in real mail) yet still bounded. */
extern const addr_limits addr_limits_rfc;
extern const addr_limits addr_limits_lenient;

/* Flags for the parsers. */
#define ADDR_F_STRICT 0x01   /* strict_rfc821_envelopes: path must be <...> */
#define ADDR_F_UTF8 0x02     /* accept UTF-8 in local part and domain */
#define ADDR_F_NO_EMPTY 0x04 /* reject the null path <> (RCPT) */

typedef struct addr_path {
    strbuf addr;       /* internal form; "" for <> */
    bool null;         /* it was <> */
    bool bracketed;    /* it was written inside < > */
    bool source_route; /* an @a,@b: route was stripped */
    bool has_8bit;     /* contains UTF-8 (for SMTPUTF8 decisions) */
} addr_path;

#define ADDR_PATH_INIT                                                                             \
    {                                                                                              \
        STRBUF_INIT, false, false, false, false                                                    \
    }

void addr_path_release(addr_path *p);

/* Parse an SMTP path at the start of text[0..len): "<local@domain>", "<>",
 * "<@r1,@r2:local@domain>", or (without ADDR_F_STRICT) an unbracketed
 * "local@domain". The path ends at the closing '>' (which must be followed by
 * end of input or white space) or, unbracketed, at the first unquoted white
 * space. *consumed gets the number of bytes used. A local part alone
 * ("<postmaster>") is valid: RFC 5321 requires accepting it. */
int addr_parse_path(addr_path *out, const char *text, size_t len, size_t *consumed, unsigned flags,
                    const addr_limits *lim, strbuf *err);

/* External (possibly quoted) mailbox, without brackets, to internal form.
 * Same validation as a path's mailbox; "" yields "". */
int addr_internalize(strbuf *out, const char *ext, size_t len, unsigned flags,
                     const addr_limits *lim, strbuf *err);

/* Internal form to external: quotes the local part when it is not a valid
 * dot-atom (Postfix quote_822_local). Appends to out. */
void addr_externalize(strbuf *out, const char *addr, size_t len);

/* Position of the '@' that separates local part and domain in internal
 * form (the last one), or false when there is none. */
bool addr_split(const char *addr, size_t len, size_t *at);

/* Lowercase the domain (ASCII letters only) of an internal-form address. */
void addr_lowercase_domain(strbuf *addr);

/* recipient_delimiter: find the extension in a local part. On true,
 * local[0..*base_len) is the base and local[*base_len + 1..len) the
 * extension. Like Postfix: the first delimiter character wins; no split when
 * the base would be empty, for postmaster and MAILER-DAEMON, and, when the
 * delimiter is '-', for owner-xxx and xxx-request. */
bool addr_split_extension(const char *local, size_t len, const char *delims, size_t *base_len);

/* Make untrusted text (HELO name, client name, address for a log or a
 * header) safe: control characters, DEL and (without allow_utf8, or when
 * malformed) bytes >= 0x80 become '?'; the result is at most max bytes and
 * never ends inside a UTF-8 sequence. Replaces out's contents. */
void addr_sanitize(strbuf *out, const void *text, size_t len, size_t max, bool allow_utf8);

/* DNS host name syntax (as for reject_invalid_helo_hostname): dot-separated
 * labels of letters, digits, '-' and '_', 1..63 bytes each, no leading or
 * trailing '-', at most 255 bytes, no trailing dot, and the last label not
 * all digits (that is an IP address, not a name). */
bool addr_valid_hostname(const char *name, size_t len);

/* "[1.2.3.4]" or "[IPv6:...]" with a valid address inside. */
bool addr_valid_literal(const char *text, size_t len);

/* reject_non_fqdn_helo_hostname: a valid host name with a dot in it, or an
 * address literal. */
bool addr_helo_is_fqdn(const char *name, size_t len);

/* reject_non_fqdn_sender/recipient on internal form: a domain is present and
 * is a host name with a dot in it, or an address literal. The null address
 * is not judged here (callers skip it). */
bool addr_domain_is_fqdn(const char *addr, size_t len);

/* UTF-8 well-formedness (no overlongs, no surrogates, <= U+10FFFF). */
bool addr_utf8_valid(const unsigned char *s, size_t len);

#endif
