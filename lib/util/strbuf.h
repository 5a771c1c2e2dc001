/* strbuf - the one growable, length-tracked, NUL-terminated byte buffer.
 *
 * Used for every string built from input. Contents may hold NUL bytes (len is
 * authoritative); s[len] is always '\0' once anything was stored, and
 * strbuf_str() never returns NULL. Growth is overflow-checked. A strbuf that
 * was zero-initialised (STRBUF_INIT) is valid and empty.
 */
#ifndef MTA_STRBUF_H
#define MTA_STRBUF_H
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct strbuf {
    char *s;
    size_t len;
    size_t cap;
} strbuf;

#define STRBUF_INIT {NULL, 0, 0}

void strbuf_reserve(strbuf *sb, size_t extra);
void strbuf_append(strbuf *sb, const void *data, size_t n);
void strbuf_puts(strbuf *sb, const char *s);
void strbuf_putc(strbuf *sb, char c);
void strbuf_printf(strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void strbuf_vprintf(strbuf *sb, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
void strbuf_set(strbuf *sb, const char *s); /* reset + puts */
void strbuf_reset(strbuf *sb);              /* len = 0, keeps memory */
void strbuf_truncate(strbuf *sb, size_t len);
void strbuf_release(strbuf *sb);            /* frees memory, back to STRBUF_INIT */
char *strbuf_detach(strbuf *sb);            /* caller owns the string; sb becomes empty */
const char *strbuf_str(const strbuf *sb);
void strbuf_trim(strbuf *sb);               /* strip leading and trailing ASCII whitespace */
bool strbuf_eq(const strbuf *sb, const char *s);

#endif
