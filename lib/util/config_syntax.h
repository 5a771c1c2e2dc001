/* config_syntax - main.cf-style syntax and $name expansion, with no
 * knowledge of which parameters exist or what they mean.
 *
 * Syntax (postconf(5)): "name = value" lines; blank lines and lines whose
 * first non-blank character is '#' are ignored (no inline comments); a line
 * that starts with whitespace continues the previous logical line. NUL bytes
 * are an error. Bytes >= 0x80 are ordinary value bytes.
 *
 * Expansion: $name, ${name}, $(name), $$, ${name?value}, ${name?{value}},
 * ${name:value}, ${name:{value}}, ${name?{v1}:{v2}} and the relational form
 * ${{a} op {b} ? {x} : {y}} (op: == != < <= > >=, numeric when both sides are
 * all digits, or the same with a "level" suffix for compatibility levels).
 * Values are obtained through callbacks (struct config_expand_ops), so the
 * caller decides what a name means, caches and computes lazy values; a
 * lookup callback may itself expand names through the handle it is given
 * (that is how a lazily computed parameter refers to others), and loops
 * across such calls are still detected.
 *
 * Limits: references nest at most CONFIG_SYNTAX_MAX_NESTING deep ($a -> $b
 * -> ...) and {} / ${} constructs at most as deep inside one value; an
 * expanded value is at most CONFIG_SYNTAX_MAX_EXPANSION bytes. Exceeding a
 * limit, a loop, or malformed text is an error (return -1) with a one-line
 * message in *err, prefixed by the origin and name of the innermost name
 * being expanded. Only the first error is kept.
 */
#ifndef MTA_CONFIG_SYNTAX_H
#define MTA_CONFIG_SYNTAX_H
#include <stdbool.h>
#include <stddef.h>

#include "strbuf.h"

#define CONFIG_SYNTAX_MAX_EXPANSION (4u << 20)
#define CONFIG_SYNTAX_MAX_NESTING 100
#define CONFIG_SYNTAX_WHITESPACE " \t\n\v\f\r" /* Postfix's ISSPACE set */

bool config_syntax_is_name_char(char c);
bool config_syntax_is_space(char c);
/* Non-empty and only [A-Za-z0-9_]. */
bool config_syntax_valid_name(const char *name);

/* Called once per "name = value" logical line, in file order; `line` is the
 * logical line's first physical line. A non-zero return stops parsing and
 * is returned (with *err set by the callback). */
typedef int (*config_syntax_entry_fn)(void *ctx, const char *name, const char *value, int line,
                                      strbuf *err);
/* Parse text; errors name `origin` and the line. A continuation line with
 * nothing to continue is warned about (msg_warn) and skipped. */
int config_syntax_parse(const char *origin, const char *text, size_t len,
                        config_syntax_entry_fn fn, void *ctx, strbuf *err);

/* Call fn for every name referenced in text ($name, ${name...}, $(name...),
 * nested ones included); $$ is not a reference. */
void config_syntax_references(const char *text, void (*fn)(void *ctx, const char *name),
                              void *ctx);

struct config_expansion; /* one expansion in progress (opaque) */

struct config_expand_ops {
    void *ctx; /* passed to every callback */
    /* Required: the raw (unexpanded) value of name, *raw NULL when the name
     * is undefined (it expands to nothing). *verbatim: use the raw value
     * as it is, without expanding it. -1 on error (use
     * config_expansion_fail). */
    int (*lookup)(void *ctx, struct config_expansion *x, const char *name, const char **raw,
                  bool *verbatim);
    /* Optional: a variable shadowing names (delivery-time attributes): true
     * when name is one; then *set tells whether it is non-empty and, when
     * out is not NULL, its final value has been appended to out (it is not
     * expanded further, not cached, not part of loop detection). */
    bool (*variable)(void *ctx, const char *name, strbuf *out, bool *set);
    /* Optional: the cached fully expanded value of name, or NULL. */
    const char *(*cached)(void *ctx, const char *name);
    /* Optional: remember the fully expanded value of name. */
    void (*remember)(void *ctx, const char *name, const char *expanded);
    /* Optional: "file, line N" of name for error prefixes, or NULL. */
    const char *(*origin)(void *ctx, const char *name);
};

/* Expand text[0..n) and append to out. */
int config_expand_text(const struct config_expand_ops *ops, const char *text, size_t n,
                       strbuf *out, strbuf *err);
/* Append the fully expanded value of name (what "$name" gives). */
int config_expand_name(const struct config_expand_ops *ops, const char *name, strbuf *out,
                       strbuf *err);
/* The raw value of name through ops->lookup, with name on the expansion
 * stack (so a computed value that refers back to name is a loop error). */
int config_expand_raw(const struct config_expand_ops *ops, const char *name, const char **raw,
                      strbuf *err);

/* Inside a callback: expand name within the same expansion. */
int config_expansion_name(struct config_expansion *x, const char *name, strbuf *out);
/* Inside a callback: report an error (prefixed as above). Returns -1. */
int config_expansion_fail(struct config_expansion *x, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
