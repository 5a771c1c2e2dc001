/* regexp: (POSIX regcomp) and pcre: (PCRE2) tables.
 *
 * A pattern is written /text/flags: the first character is the delimiter,
 * a backslash keeps the next character (delimiter included) in the pattern
 * text as is. Matching is case-insensitive unless the 'i' flag toggles it.
 * regexp flags: i, x (toggle extended syntax, on by default), m (toggle
 * REG_NEWLINE). pcre flags: i, m, s, x, A (anchored), E (dollar end only),
 * U (ungreedy), X (PCRE1's "extra" strictness: PCRE2 always has it, so it
 * is accepted and changes nothing). */
#include <ctype.h>
#include <regex.h>
#include <stdio.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "maps_rules.h"
#include "mem.h"
#include "msg.h"

#define MAX_GROUPS 10 /* $0..$9 */

/* Split "/text/flags" into its parts: pattern text (allocated), flags. */
static char *split_delimited(const char *text, const char **flags, const char **rest, strbuf *err)
{
    char delim = text[0];
    if (delim == '\0' || isspace((unsigned char)delim) || isalnum((unsigned char)delim) ||
        delim == '\\') {
        strbuf_puts(err, "pattern must be enclosed in delimiters, e.g. /pattern/");
        return NULL;
    }
    const char *p = text + 1;
    while (*p && *p != delim) {
        if (*p == '\\' && p[1])
            p++;
        p++;
    }
    if (*p != delim) {
        strbuf_printf(err, "missing closing delimiter '%c'", delim);
        return NULL;
    }
    char *pattern = xstrndup(text + 1, (size_t)(p - text - 1));
    p++;
    *flags = p;
    while (*p && !isspace((unsigned char)*p))
        p++;
    *rest = p;
    return pattern;
}

/* ---- regexp ---- */

struct re_pat {
    regex_t re;
};

static void *regexp_compile(const char *text, const char **rest, strbuf *err)
{
    const char *flags;
    char *pattern = split_delimited(text, &flags, rest, err);
    if (!pattern)
        return NULL;
    int cflags = REG_EXTENDED | REG_ICASE;
    for (const char *f = flags; f < *rest; f++) {
        switch (*f) {
        case 'i':
            cflags ^= REG_ICASE;
            break;
        case 'x':
            cflags ^= REG_EXTENDED;
            break;
        case 'm':
            cflags ^= REG_NEWLINE;
            break;
        default:
            strbuf_printf(err, "unknown regexp flag '%c'", *f);
            free(pattern);
            return NULL;
        }
    }
    struct re_pat *rp = xcalloc(1, sizeof(*rp));
    int rc = regcomp(&rp->re, pattern, cflags);
    if (rc != 0) {
        size_t n = regerror(rc, &rp->re, NULL, 0);
        char *msg = xmalloc(n + 1);
        regerror(rc, &rp->re, msg, n + 1);
        strbuf_printf(err, "bad regular expression /%s/: %s", pattern, msg);
        free(msg);
        free(pattern);
        free(rp);
        return NULL;
    }
    free(pattern);
    return rp;
}

static unsigned regexp_groups(const void *pat)
{
    const struct re_pat *rp = pat;
    return rp->re.re_nsub > 9 ? 9 : (unsigned)rp->re.re_nsub;
}

static void *regexp_begin(const char *key)
{
    return xcalloc(MAX_GROUPS, sizeof(regmatch_t));
}

static void regexp_end(void *state)
{
    free(state);
}

static int regexp_match(const void *pat, const char *key, void *state, strbuf *err)
{
    const struct re_pat *rp = pat;
    int rc = regexec(&rp->re, key, MAX_GROUPS, state, 0);
    if (rc == 0)
        return 1;
    if (rc == REG_NOMATCH)
        return 0;
    strbuf_printf(err, "regexec failed (%d)", rc);
    return -1;
}

static bool regexp_group(const void *pat, const char *key, void *state, unsigned n, const char **s,
                         size_t *len)
{
    const regmatch_t *pm = state;
    if (n >= MAX_GROUPS || pm[n].rm_so < 0 || pm[n].rm_eo < pm[n].rm_so)
        return false;
    *s = key + pm[n].rm_so;
    *len = (size_t)(pm[n].rm_eo - pm[n].rm_so);
    return true;
}

static void regexp_free(void *pat)
{
    struct re_pat *rp = pat;
    regfree(&rp->re);
    free(rp);
}

static const struct rule_ops regexp_ops = {
    .negation_allowed = true,
    .substitutes = true,
    .compile = regexp_compile,
    .groups = regexp_groups,
    .begin = regexp_begin,
    .end = regexp_end,
    .match = regexp_match,
    .group = regexp_group,
    .free = regexp_free,
};

int map_open_regexp(map *m, strbuf *err)
{
    return map_rules_open(m, &regexp_ops, err);
}

/* ---- pcre ---- */

static void *pcre_compile_pat(const char *text, const char **rest, strbuf *err)
{
    const char *flags;
    char *pattern = split_delimited(text, &flags, rest, err);
    if (!pattern)
        return NULL;
    uint32_t options = PCRE2_CASELESS | PCRE2_DOTALL; /* Postfix: "s" turns DOTALL off */
    for (const char *f = flags; f < *rest; f++) {
        switch (*f) {
        case 'i':
            options ^= PCRE2_CASELESS;
            break;
        case 'm':
            options ^= PCRE2_MULTILINE;
            break;
        case 's':
            options ^= PCRE2_DOTALL;
            break;
        case 'x':
            options ^= PCRE2_EXTENDED;
            break;
        case 'A':
            options ^= PCRE2_ANCHORED;
            break;
        case 'E':
            options ^= PCRE2_DOLLAR_ENDONLY;
            break;
        case 'U':
            options ^= PCRE2_UNGREEDY;
            break;
        case 'X':
            break;
        default:
            strbuf_printf(err, "unknown pcre flag '%c'", *f);
            free(pattern);
            return NULL;
        }
    }
    int errcode;
    PCRE2_SIZE erroff;
    pcre2_code *code =
        pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, options, &errcode, &erroff, NULL);
    if (!code) {
        PCRE2_UCHAR msg[256];
        if (pcre2_get_error_message(errcode, msg, sizeof(msg)) < 0)
            snprintf((char *)msg, sizeof(msg), "unknown error");
        strbuf_printf(err, "bad regular expression /%s/: %s at offset %zu", pattern,
                      (const char *)msg, (size_t)erroff);
        free(pattern);
        return NULL;
    }
    free(pattern);
    return code;
}

static unsigned pcre_groups(const void *pat)
{
    uint32_t n = 0;
    if (pcre2_pattern_info(pat, PCRE2_INFO_CAPTURECOUNT, &n) != 0)
        return 0;
    return n > 9 ? 9 : (unsigned)n;
}

static void *pcre_begin(const char *key)
{
    pcre2_match_data *md = pcre2_match_data_create(MAX_GROUPS, NULL);
    if (!md)
        msg_fatal("pcre2_match_data_create: out of memory");
    return md;
}

static void pcre_end(void *state)
{
    pcre2_match_data_free(state);
}

static int pcre_match_pat(const void *pat, const char *key, void *state, strbuf *err)
{
    int rc = pcre2_match(pat, (PCRE2_SPTR)key, strlen(key), 0, 0, state, NULL);
    if (rc >= 0) /* 0: more groups than the ovector holds; still a match */
        return 1;
    if (rc == PCRE2_ERROR_NOMATCH)
        return 0;
    PCRE2_UCHAR msg[256];
    if (pcre2_get_error_message(rc, msg, sizeof(msg)) < 0)
        snprintf((char *)msg, sizeof(msg), "unknown error");
    strbuf_printf(err, "pcre match failed: %s", (const char *)msg);
    return -1;
}

static bool pcre_group(const void *pat, const char *key, void *state, unsigned n, const char **s,
                       size_t *len)
{
    if (n >= pcre2_get_ovector_count(state))
        return false;
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(state);
    if (ov[2 * n] == PCRE2_UNSET || ov[2 * n + 1] < ov[2 * n])
        return false;
    *s = key + ov[2 * n];
    *len = ov[2 * n + 1] - ov[2 * n];
    return true;
}

static void pcre_free_pat(void *pat)
{
    pcre2_code_free(pat);
}

static const struct rule_ops pcre_ops = {
    .negation_allowed = true,
    .substitutes = true,
    .compile = pcre_compile_pat,
    .groups = pcre_groups,
    .begin = pcre_begin,
    .end = pcre_end,
    .match = pcre_match_pat,
    .group = pcre_group,
    .free = pcre_free_pat,
};

int map_open_pcre(map *m, strbuf *err)
{
    return map_rules_open(m, &pcre_ops, err);
}
