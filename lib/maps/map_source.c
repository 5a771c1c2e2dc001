#include "map_source.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "lineread.h"
#include "mem.h"
#include "msg.h"

struct map_source {
    FILE *fp;
    bool own_fp;
    char *origin;
    enum map_source_format fmt;
    size_t lineno;     /* physical lines read so far */
    size_t rec_lineno; /* first line of the last logical line */
    strbuf phys;       /* lookahead physical line */
    bool have_phys;
    size_t phys_lineno;
    bool eof;
    size_t warnings;
    void (*warn)(void *ctx, const char *text);
    void *warn_ctx;
};

static void default_warn(void *ctx, const char *text)
{
    msg_warn("%s", text);
}

map_source *map_source_stream(FILE *fp, const char *origin, enum map_source_format fmt)
{
    map_source *src = xcalloc(1, sizeof(*src));
    src->fp = fp;
    src->origin = xstrdup(origin);
    src->fmt = fmt;
    src->warn = default_warn;
    return src;
}

map_source *map_source_open(const char *path, enum map_source_format fmt, strbuf *err)
{
    FILE *fp = fopen(path, "re");
    if (!fp) {
        strbuf_printf(err, "open %s: %m", path);
        return NULL;
    }
    map_source *src = map_source_stream(fp, path, fmt);
    src->own_fp = true;
    return src;
}

void map_source_set_warn(map_source *src, void (*warn)(void *ctx, const char *text), void *ctx)
{
    src->warn = warn;
    src->warn_ctx = ctx;
}

size_t map_source_lineno(const map_source *src)
{
    return src->rec_lineno;
}

const char *map_source_origin(const map_source *src)
{
    return src->origin;
}

size_t map_source_warnings(const map_source *src)
{
    return src->warnings;
}

void map_source_close(map_source **srcp)
{
    map_source *src = *srcp;
    if (!src)
        return;
    if (src->own_fp && fclose(src->fp) != 0)
        msg_warn("close %s: %m", src->origin);
    strbuf_release(&src->phys);
    free(src->origin);
    XFREE(*srcp);
}

static void warnf(map_source *src, size_t line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void warnf(map_source *src, size_t line, const char *fmt, ...)
{
    src->warnings++;
    if (!src->warn)
        return;
    strbuf text = STRBUF_INIT;
    strbuf_printf(&text, "%s, line %zu: ", src->origin, line);
    va_list ap;
    va_start(ap, fmt);
    strbuf_vprintf(&text, fmt, ap);
    va_end(ap);
    src->warn(src->warn_ctx, strbuf_str(&text));
    strbuf_release(&text);
}

/* One physical line into src->phys: 1, 0 at EOF, -1 on error. */
static int read_physical(map_source *src, strbuf *err)
{
    if (src->eof)
        return 0;
    enum line_status st = line_read(src->fp, &src->phys, MAP_SOURCE_LINE_MAX, true);
    if (st == LINE_EOF) {
        src->eof = true;
        return 0;
    }
    src->lineno++;
    src->phys_lineno = src->lineno;
    if (st == LINE_ERROR) {
        strbuf_printf(err, "%s, line %zu: read error: %m", src->origin, src->lineno);
        return -1;
    }
    if (st == LINE_TOO_LONG) {
        strbuf_printf(err, "%s, line %zu: line too long (more than %d bytes)", src->origin,
                      src->lineno, MAP_SOURCE_LINE_MAX);
        return -1;
    }
    if (memchr(src->phys.s ? src->phys.s : "", '\0', src->phys.len)) {
        strbuf_printf(err, "%s, line %zu: NUL byte in input", src->origin, src->lineno);
        return -1;
    }
    return 1;
}

static bool is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

/* Blank or comment line: ignored everywhere, even inside a continuation. */
static bool is_ignorable(const strbuf *line)
{
    for (size_t i = 0; i < line->len; i++) {
        if (line->s[i] == '#')
            return true;
        if (!is_ws(line->s[i]))
            return false;
    }
    return true;
}

int map_source_logical_line(map_source *src, strbuf *line, strbuf *err)
{
    strbuf_reset(line);
    for (;;) {
        if (!src->have_phys) {
            int r = read_physical(src, err);
            if (r <= 0)
                return r;
        }
        src->have_phys = false;
        if (!is_ignorable(&src->phys))
            break;
    }
    src->rec_lineno = src->phys_lineno;
    strbuf_append(line, src->phys.s, src->phys.len);
    for (;;) {
        int r = read_physical(src, err);
        if (r < 0)
            return -1;
        if (r == 0)
            break;
        if (is_ignorable(&src->phys))
            continue;
        if (!is_ws(src->phys.s[0])) {
            src->have_phys = true;
            break;
        }
        if (line->len + src->phys.len > MAP_SOURCE_LINE_MAX) {
            strbuf_printf(err, "%s, line %zu: logical line too long (more than %d bytes)",
                          src->origin, src->rec_lineno, MAP_SOURCE_LINE_MAX);
            return -1;
        }
        strbuf_append(line, src->phys.s, src->phys.len);
    }
    strbuf_trim(line);
    return 1;
}

/* "name" with backslash escapes; *pp points after the opening quote. */
static bool parse_quoted(const char **pp, strbuf *out)
{
    const char *p = *pp;
    while (*p && *p != '"') {
        if (*p == '\\' && p[1])
            p++;
        strbuf_putc(out, *p++);
    }
    if (*p != '"')
        return false;
    *pp = p + 1;
    return true;
}

/* RFC 822 specials, as Postfix's address tokenizer sees them. */
static bool is_special(char c)
{
    return c != '\0' && strchr("()<>@,;:\\\".[]", c) != NULL;
}

/* Copy a comment (nested parentheses) or a [domain literal] verbatim;
 * backslash escapes are kept. An unterminated one runs to the end. */
static const char *copy_delimited(const char *p, strbuf *out)
{
    char open = *p, close = open == '(' ? ')' : ']';
    int depth = 0;
    do {
        if (*p == '\\' && p[1]) {
            strbuf_append(out, p, 2);
            p += 2;
            continue;
        }
        if (*p == open)
            depth++;
        else if (*p == close)
            depth--;
        strbuf_putc(out, *p++);
    } while (*p && depth > 0);
    return p;
}

/* Rewrite an alias value the way Postfix's postalias stores it: RFC 822
 * tokens, whitespace collapsed, no blanks around specials, ", " after
 * each comma, backslash escapes outside quotes resolved (an atom that then
 * holds a special character or blank is quoted). */
static void normalize_alias_value(const char *p, strbuf *out)
{
    enum { NONE, WORD, SPECIAL } prev = NONE;
    char prev_ch = 0;
    strbuf atom = STRBUF_INIT;
    while (*p) {
        if (is_ws(*p)) {
            p++;
            continue;
        }
        bool word = *p == '"' || *p == '(' || *p == '[' || !is_special(*p) || *p == '\\';
        /* blank between tokens, decided by what came before */
        if (prev == SPECIAL && prev_ch == ',')
            strbuf_putc(out, ' ');
        else if (prev == WORD && (word || *p == '<'))
            strbuf_putc(out, ' ');
        else if (prev == SPECIAL && prev_ch == '>' && word)
            strbuf_putc(out, ' ');
        if (*p == '"' || *p == '(' || *p == '[') {
            if (*p == '"') {
                /* quoted string: from quote to unescaped quote */
                strbuf_putc(out, *p++);
                while (*p && *p != '"') {
                    if (*p == '\\' && p[1])
                        strbuf_putc(out, *p++);
                    strbuf_putc(out, *p++);
                }
                strbuf_putc(out, '"');
                if (*p)
                    p++;
            } else {
                p = copy_delimited(p, out);
            }
            prev = WORD;
            continue;
        }
        if (word) {
            bool quote = false;
            strbuf_reset(&atom);
            while (*p && !is_ws(*p) && (*p == '\\' || !is_special(*p))) {
                if (*p == '\\') {
                    if (!p[1]) {
                        p++;
                        break;
                    }
                    p++;
                    if (is_special(*p) || is_ws(*p))
                        quote = true;
                }
                strbuf_putc(&atom, *p++);
            }
            if (quote) {
                strbuf_putc(out, '"');
                for (size_t i = 0; i < atom.len; i++) {
                    if (atom.s[i] == '"' || atom.s[i] == '\\')
                        strbuf_putc(out, '\\');
                    strbuf_putc(out, atom.s[i]);
                }
                strbuf_putc(out, '"');
            } else {
                strbuf_append(out, atom.s ? atom.s : "", atom.len);
            }
            prev = WORD;
            continue;
        }
        prev_ch = *p;
        strbuf_putc(out, *p++);
        prev = SPECIAL;
    }
    if (prev == SPECIAL && prev_ch == ',')
        strbuf_putc(out, ' '); /* Postfix keeps it too */
    strbuf_release(&atom);
}

static int parse_alias(map_source *src, const strbuf *line, strbuf *key, strbuf *value)
{
    const char *p = line->s;
    if (*p == '"') {
        p++;
        if (!parse_quoted(&p, key)) {
            warnf(src, src->rec_lineno, "missing '\"' in alias name");
            return 0;
        }
        while (is_ws(*p))
            p++;
        if (*p != ':') {
            warnf(src, src->rec_lineno, "need name:value pair");
            return 0;
        }
    } else {
        const char *colon = strchr(p, ':');
        if (!colon) {
            warnf(src, src->rec_lineno, "need name:value pair");
            return 0;
        }
        const char *end = colon;
        while (end > p && is_ws(end[-1]))
            end--;
        for (const char *q = p; q < end; q++) {
            if (is_ws(*q)) {
                warnf(src, src->rec_lineno, "whitespace in alias name; quote it: \"%.*s\"",
                      (int)(end - p), p);
                return 0;
            }
        }
        strbuf_append(key, p, (size_t)(end - p));
        if (memchr(p, '@', (size_t)(end - p))) {
            warnf(src, src->rec_lineno, "name must be local");
            return 0;
        }
        p = colon;
    }
    p++; /* ':' */
    while (is_ws(*p))
        p++;
    if (key->len == 0) {
        warnf(src, src->rec_lineno, "empty alias name");
        return 0;
    }
    if (*p == '\0') {
        warnf(src, src->rec_lineno, "need name:value pair");
        return 0;
    }
    normalize_alias_value(p, value);
    return 1;
}

static int parse_postmap(map_source *src, const strbuf *line, strbuf *key, strbuf *value)
{
    const char *p = line->s;
    const char *k = p;
    while (*p && !is_ws(*p))
        p++;
    strbuf_append(key, k, (size_t)(p - k));
    while (is_ws(*p))
        p++;
    if (*p == '\0') {
        warnf(src, src->rec_lineno, "expected format: key whitespace value");
        return 0;
    }
    strbuf_puts(value, p);
    return 1;
}

int map_source_next(map_source *src, strbuf *key, strbuf *value, strbuf *err)
{
    strbuf line = STRBUF_INIT;
    int r;
    for (;;) {
        r = map_source_logical_line(src, &line, err);
        if (r <= 0)
            break;
        strbuf_reset(key);
        strbuf_reset(value);
        if (src->fmt == MAP_SOURCE_ALIAS)
            r = parse_alias(src, &line, key, value);
        else
            r = parse_postmap(src, &line, key, value);
        if (r == 1)
            break;
    }
    strbuf_release(&line);
    return r;
}
