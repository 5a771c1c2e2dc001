/* cidr: tables - "network/prefix result" lines, first match wins. A key
 * that is not an IP address matches nothing. */
#include <ctype.h>
#include <string.h>

#include "cidr_match.h"
#include "maps_rules.h"
#include "mem.h"

static void *cidr_compile(const char *text, const char **rest, strbuf *err)
{
    const char *p = text;
    while (*p && !isspace((unsigned char)*p))
        p++;
    *rest = p;
    if (p == text) {
        strbuf_puts(err, "missing network pattern");
        return NULL;
    }
    char *word = xstrndup(text, (size_t)(p - text));
    struct cidr_net net;
    const char *why = NULL;
    if (cidr_net_parse(word, &net, &why) != 0) {
        strbuf_printf(err, "%s: \"%s\"", why, word);
        free(word);
        return NULL;
    }
    free(word);
    return xmemdup(&net, sizeof(net));
}

static unsigned cidr_groups(const void *pat)
{
    return 0;
}

static void *cidr_begin(const char *key)
{
    struct cidr_addr a;
    if (cidr_addr_parse(key, &a) != 0)
        return NULL;
    return xmemdup(&a, sizeof(a));
}

static void cidr_end(void *state)
{
    free(state);
}

static int cidr_match_rule(const void *pat, const char *key, void *state, strbuf *err)
{
    return state ? cidr_match(pat, state) : 0;
}

static bool cidr_group(const void *pat, const char *key, void *state, unsigned n, const char **s,
                       size_t *len)
{
    return false;
}

static const struct rule_ops cidr_ops = {
    .negation_allowed = true,
    .compile = cidr_compile,
    .groups = cidr_groups,
    .begin = cidr_begin,
    .end = cidr_end,
    .match = cidr_match_rule,
    .group = cidr_group,
    .free = free,
};

int map_open_cidr(map *m, strbuf *err)
{
    return map_rules_open(m, &cidr_ops, err);
}
