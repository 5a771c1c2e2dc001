/* header - RFC 5322 header section: recognise, classify and collect headers.
 *
 * Message content arrives as lines without terminators. A header_collector
 * groups the header section into logical headers (the "Name:" line plus its
 * continuation lines, joined with '\n') and hands each to a callback. The
 * header section ends at the first empty line, or at the first line that is
 * neither a header nor a continuation (that line then belongs to the body,
 * as Postfix's cleanup treats it). A logical header longer than the limit
 * (header_size_limit) is truncated, never buffered beyond it; the callback
 * is told so.
 */
#ifndef MTA_HEADER_H
#define MTA_HEADER_H
#include <stdbool.h>
#include <stddef.h>

#include "strbuf.h"

enum header_id {
    HDR_OTHER,
    HDR_FROM,
    HDR_SENDER,
    HDR_REPLY_TO,
    HDR_TO,
    HDR_CC,
    HDR_BCC,
    HDR_DATE,
    HDR_MESSAGE_ID,
    HDR_RECEIVED,
    HDR_RETURN_PATH,
    HDR_DELIVERED_TO,
    HDR_SUBJECT,
    HDR_MIME_VERSION,
    HDR_CONTENT_TYPE,
    HDR_CONTENT_TRANSFER_ENCODING,
    HDR_RESENT_FROM,
    HDR_RESENT_SENDER,
    HDR_RESENT_TO,
    HDR_RESENT_CC,
    HDR_RESENT_BCC,
    HDR_RESENT_DATE,
    HDR_RESENT_MESSAGE_ID,
    HDR_APPARENTLY_TO,
    HDR_ERRORS_TO,
    HDR_RETURN_RECEIPT_TO,
};

/* Length of the header name if `line` starts a header ("Name:" where Name
 * is 1 or more printable ASCII characters other than ':' and space;
 * whitespace between name and colon is tolerated as in RFC 822), else 0. */
size_t header_name_length(const char *line, size_t len);

/* Classify a header by name (case-insensitive). */
enum header_id header_classify(const char *name, size_t len);

/* The canonical spelling of a known header ("Message-ID"), NULL for OTHER. */
const char *header_canonical_name(enum header_id id);

/* Pointer to the value of a logical header: after the colon and any
 * leading whitespace. */
const char *header_value(const char *header, size_t len, size_t *value_len);

/* Continuation lines start with a space or tab. */
bool header_is_continuation(const char *line, size_t len);

typedef void (*header_emit_fn)(void *ctx, const char *header, size_t len, enum header_id id,
                               bool truncated);

struct header_collector {
    strbuf current;  /* logical header being assembled */
    size_t limit;    /* header_size_limit */
    bool truncated;  /* current exceeded limit */
    bool in_headers; /* still inside the header section */
    header_emit_fn emit;
    void *ctx;
};

void header_collector_init(struct header_collector *hc, size_t limit, header_emit_fn emit,
                           void *ctx);

enum header_feed_result {
    HEADER_CONSUMED,   /* the line was part of the header section */
    HEADER_END_BLANK,  /* an empty line ended the header section */
    HEADER_END_BODY,   /* a non-header line ended it; the line is body text */
    HEADER_NOT_HEADERS /* already past the header section: the line is body text */
};

/* Feed one content line. Emits any completed logical header first. */
enum header_feed_result header_collector_feed(struct header_collector *hc, const char *line,
                                              size_t len);
/* End of message: emit a pending header. */
void header_collector_finish(struct header_collector *hc);
void header_collector_release(struct header_collector *hc);

#endif
