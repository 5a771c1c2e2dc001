/* maps_rules - internal: ordered "pattern result" tables (cidr, regexp,
 * pcre) with if/endif blocks, first match wins. Not for use outside
 * lib/maps_*.c.
 *
 * File syntax (map_source logical lines, # comments, continuation lines):
 *   pattern result          a rule; "!pattern result" negates (no $n then)
 *   if pattern / if !pattern ... endif   rules inside apply only when the
 *                           key matches (does not match) the pattern
 * The type supplies how a pattern is written, compiled and matched, and
 * how $1..$9 in a result are expanded. Every problem in the file is an
 * error "TYPE table FILE, line N: reason": we refuse to use a table whose
 * author meant something we did not understand.
 */
#ifndef MTA_MAPS_RULES_H
#define MTA_MAPS_RULES_H
#include <stdbool.h>

#include "maps_impl.h"

struct rule_ops {
    bool negation_allowed; /* "!pattern" syntax */
    bool substitutes;      /* results may use $1..$9 ($$ is a literal $) */
    /* Parse and compile the pattern at the start of `text`; *rest gets the
     * text after it. NULL with *err set (reason only) on failure. */
    void *(*compile)(const char *text, const char **rest, strbuf *err);
    /* Number of $n groups a result may refer to (for the open-time check). */
    unsigned (*groups)(const void *pat);
    /* Per-lookup state from the key (NULL is fine). */
    void *(*begin)(const char *key);
    void (*end)(void *state);
    /* 1 match, 0 no match, -1 error (*err set). */
    int (*match)(const void *pat, const char *key, void *state, strbuf *err);
    /* Text of group n (1..9) from the last successful match, or NULL. */
    bool (*group)(const void *pat, const char *key, void *state, unsigned n, const char **s,
                  size_t *len);
    void (*free)(void *pat);
};

int map_rules_open(map *m, const struct rule_ops *ops, strbuf *err);

#endif
