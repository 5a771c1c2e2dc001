/* base64 - RFC 4648 base64 (standard alphabet, '=' padding) for SASL.
 *
 * Contract:
 * - base64_encode appends the encoding of data[0..len) to out.
 * - base64_decode appends the decoded bytes of text[0..len) to out and
 *   returns 0, or returns -1 (out restored to its previous length) when the
 *   text is not canonical base64: a length that is not a multiple of 4, a
 *   character outside the alphabet, '=' anywhere but the last one or two
 *   positions. The empty text decodes to nothing. Callers bound len first.
 * - base64_valid answers the same question without decoding.
 */
#ifndef MTA_BASE64_H
#define MTA_BASE64_H
#include <stdbool.h>
#include <stddef.h>

#include "strbuf.h"

void base64_encode(strbuf *out, const void *data, size_t len);
int base64_decode(strbuf *out, const char *text, size_t len);
bool base64_valid(const char *text, size_t len);

#endif
