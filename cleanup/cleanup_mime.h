/* cleanup_mime - the MIME structure content checks follow.
 *
 * header_checks(5): mime_header_checks apply to MIME headers (Content-*,
 * Mime-Version) at every level, nested_header_checks to the other headers
 * of attached messages (message/rfc822 parts, and parts of a
 * multipart/digest without a Content-Type) and of multipart body parts.
 * This module knows only the structure: which Content-Type opens what, and
 * which body line is a boundary of which enclosing multipart. It holds no
 * message text beyond the boundaries (each at most 70 bytes, RFC 2046) and
 * at most `limit` levels (mime_nesting_limit); deeper structure is body text
 * to it, so hostile nesting costs bounded memory and time per line.
 */
#ifndef MTA_CLEANUP_MIME_H
#define MTA_CLEANUP_MIME_H
#include <stdbool.h>
#include <stddef.h>

#include "strbuf.h"
#include "strlist.h"

enum mime_type {
    MIME_OTHER,     /* a leaf: text, image, ... */
    MIME_MULTIPART, /* any other multipart type with a usable boundary */
    MIME_DIGEST,    /* multipart/digest: parts default to message/rfc822 */
    MIME_MESSAGE,   /* message/rfc822 (or message/global): headers follow */
};

/* The value of a Content-Type header (after "Content-Type:", may be folded);
 * for a multipart the boundary, as "--boundary", in `boundary`. A
 * multipart without a boundary, or with an empty or over-long one, is
 * MIME_OTHER (it cannot be followed). */
enum mime_type mime_content_type(const char *value, size_t len, strbuf *boundary);

typedef struct {
    strlist levels; /* innermost last; each "d" or "m" + "--boundary" */
    size_t limit;
    bool overflowed; /* a level beyond `limit` was refused */
} mime_stack;

void mime_stack_init(mime_stack *st, size_t limit);
void mime_stack_release(mime_stack *st);
/* Enter a multipart. false (nothing changes) beyond the limit. */
bool mime_stack_push(mime_stack *st, const char *boundary, bool digest);
/* Is the line (no terminator) a boundary of an enclosing multipart? The
 * innermost match wins and closes every level inside it; a final boundary
 * ("--b--") closes its own level too. Returns true for a boundary that
 * opens a part (*digest: that multipart's parts default to
 * message/rfc822), false for anything else; *closing is set for a final
 * boundary (the line is still part of the structure, not body text). */
bool mime_stack_boundary(mime_stack *st, const char *line, size_t len, bool *digest, bool *closing);
size_t mime_stack_depth(const mime_stack *st);

#endif
