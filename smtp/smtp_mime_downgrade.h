/* smtp_mime_downgrade (mime_downgrade_*) - 8-bit MIME content to 7-bit, for a peer without 8BITMIME.
 *
 * What Postfix's smtp(8) does when disable_mime_output_conversion = no:
 * content is fed one line at a time (no terminator, as queue files hold
 * it) and comes out one line at a time through the emit callback.
 * - Every MIME entity's headers are read (the top level, the parts of
 *   multipart bodies at any depth, the message inside message/rfc822).
 * - A leaf entity declaring "Content-Transfer-Encoding: 8bit" or "binary"
 *   gets "Content-Transfer-Encoding: quoted-printable" instead of that
 *   header (continuation lines included) and its body is encoded as
 *   quoted-printable (RFC 2045 6.7: output lines at most 76 characters,
 *   soft breaks "=", trailing blanks encoded, each input line ends in a
 *   hard line break).
 * - A multipart or message/rfc822 entity declaring 8bit or binary is
 *   relabelled "Content-Transfer-Encoding: 7bit" (its parts are converted
 *   one by one).
 * - Everything else passes unchanged, byte for byte: headers (8-bit
 *   header text is not RFC 2047-encoded, as Postfix does not), bodies
 *   declared 7bit, quoted-printable or base64, boundary lines, preambles
 *   and epilogues.
 * - With MIME_DOWNGRADE_UNDECLARED (an extension of ours), a top-level
 *   single-part entity without a Content-Transfer-Encoding header is
 *   treated as 8bit: the caller sets it when it knows the message has 8-bit
 *   bytes; the headers then gain "Content-Transfer-Encoding:
 *   quoted-printable" (and "MIME-Version: 1.0" when missing) so the result
 *   is 7-bit clean and decodes to the original.
 * Nesting deeper than MIME_DOWNGRADE_MAX_DEPTH and boundaries longer than
 * MIME_DOWNGRADE_MAX_BOUNDARY are not followed (the content then passes as
 * is), so hostile input cannot grow state without bound; the header block
 * of one entity is buffered up to MIME_DOWNGRADE_MAX_HEADER bytes, beyond
 * which it is passed on unconverted.
 */
#ifndef MTA_MIME_DOWNGRADE_H
#define MTA_MIME_DOWNGRADE_H
#include <stddef.h>

#define MIME_DOWNGRADE_MAX_DEPTH 100
#define MIME_DOWNGRADE_MAX_BOUNDARY 2048
#define MIME_DOWNGRADE_MAX_HEADER (1024 * 1024)

#define MIME_DOWNGRADE_UNDECLARED 1

/* Called for each output line (no terminator). */
typedef void (*mime_downgrade_emit_fn)(void *ctx, const char *line, size_t len);

typedef struct mime_downgrade mime_downgrade;

mime_downgrade *mime_downgrade_new(int flags, mime_downgrade_emit_fn emit, void *ctx);
void mime_downgrade_line(mime_downgrade *md, const char *line, size_t len);
/* End of content: flushes a header block still buffered. */
void mime_downgrade_finish(mime_downgrade *md);
void mime_downgrade_free(mime_downgrade **mdp);

/* Encode one line of body text as quoted-printable output lines (emitted
 * through emit). Exposed for tests. */
void mime_qp_encode_line(const char *line, size_t len, mime_downgrade_emit_fn emit, void *ctx);

#endif
