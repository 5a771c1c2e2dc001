/* lineread - read one line from a FILE with a length limit.
 *
 * The newline is removed (and a CR before it when strip_cr). A line longer
 * than `limit` bytes is not stored whole: the rest of it is consumed and
 * LINE_TOO_LONG is returned with the first `limit` bytes in `line`, so a
 * hostile file can never make us allocate more than the limit. NUL bytes are
 * kept in the buffer (strbuf.len counts them); callers that need C strings
 * must check with memchr.
 */
#ifndef MTA_LINEREAD_H
#define MTA_LINEREAD_H
#include <stdbool.h>
#include <stdio.h>

#include "strbuf.h"

enum line_status { LINE_EOF = 0, LINE_OK = 1, LINE_TOO_LONG = 2, LINE_ERROR = -1 };

enum line_status line_read(FILE *fp, strbuf *line, size_t limit, bool strip_cr);

#endif
