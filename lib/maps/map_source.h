/* map_source - reader for table source files (postmap(1), postalias(1)).
 *
 * Logical lines: blank lines and lines whose first non-blank character is
 * '#' are ignored; a line starting with whitespace continues the previous
 * logical line (the leading whitespace is kept, the newline dropped); a
 * trailing CR is removed. A record is then
 *   postmap format:  key whitespace value     (key: first word)
 *   alias format:    name: value              (name may be "quoted")
 * with surrounding whitespace trimmed. Records without a value are skipped
 * with a warning "file, line N: expected format: ..." through the warning
 * handler (msg_warn by default), like Postfix.
 *
 * Hard errors (return -1, *err = "file, line N: reason"): a NUL byte, a
 * physical or logical line longer than MAP_SOURCE_LINE_MAX bytes, a read
 * error. Nothing is ever allocated beyond that limit per record.
 */
#ifndef MTA_MAP_SOURCE_H
#define MTA_MAP_SOURCE_H
#include <stddef.h>
#include <stdio.h>

#include "strbuf.h"

#define MAP_SOURCE_LINE_MAX (1024 * 1024)

enum map_source_format { MAP_SOURCE_POSTMAP, MAP_SOURCE_ALIAS };

typedef struct map_source map_source;

/* Open `path` for reading; NULL with *err = "open PATH: reason". */
map_source *map_source_open(const char *path, enum map_source_format fmt, strbuf *err);
/* Read from an open stream (stdin, fmemopen); `origin` names it in
 * messages. The stream is not closed by map_source_close. */
map_source *map_source_stream(FILE *fp, const char *origin, enum map_source_format fmt);
/* Replace the warning handler (NULL silences warnings). */
void map_source_set_warn(map_source *src, void (*warn)(void *ctx, const char *text), void *ctx);

/* Next record: 1 with key/value set, 0 at end of input, -1 on error. */
int map_source_next(map_source *src, strbuf *key, strbuf *value, strbuf *err);
/* First physical line number of the record last returned. */
size_t map_source_lineno(const map_source *src);
const char *map_source_origin(const map_source *src);
/* Number of warnings issued so far. */
size_t map_source_warnings(const map_source *src);

/* Read one logical line (the layer under map_source_next, also used by the
 * cidr/regexp/pcre readers): 1 with the text in `line`, 0 at end, -1 on
 * error. */
int map_source_logical_line(map_source *src, strbuf *line, strbuf *err);

void map_source_close(map_source **src);

#endif
