/* strlist - a growable, NULL-terminated vector of owned strings.
 *
 * Doubles as an argv for execv(). strlist_split parses Postfix list values:
 * items separated by any of `delims` (typically ", \t\r\n"), empty items
 * dropped, and text inside {braces} kept as one item with the braces
 * removed (Postfix's `{ value with spaces }` quoting).
 */
#ifndef MTA_STRLIST_H
#define MTA_STRLIST_H
#include <stdbool.h>
#include <stddef.h>

typedef struct strlist {
    char **v; /* v[n] == NULL whenever v != NULL */
    size_t n;
    size_t cap;
} strlist;

#define STRLIST_INIT {NULL, 0, 0}

void strlist_push(strlist *sl, const char *s);
void strlist_pushn(strlist *sl, const char *s, size_t len);
void strlist_push_owned(strlist *sl, char *s);
void strlist_release(strlist *sl); /* frees strings and vector, back to STRLIST_INIT */
bool strlist_contains(const strlist *sl, const char *s);
bool strlist_contains_nocase(const strlist *sl, const char *s);

/* Split `text` into items. Returns -1 (and leaves a partial list) on an
 * unbalanced '{' or '}', with *error set to a static description. */
int strlist_split(strlist *sl, const char *text, const char *delims, const char **error);

#endif
