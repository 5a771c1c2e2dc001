/* rbl_filter - DNS list reply filters; see rbl_filter.h. */
#include "rbl_filter.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

/* One octet's accepted values. */
typedef struct {
    uint64_t bits[4];
} octet_set;

static void set_range(octet_set *o, unsigned lo, unsigned hi)
{
    for (unsigned v = lo; v <= hi; v++)
        o->bits[v / 64] |= (uint64_t)1 << (v % 64);
}

static bool in_set(const octet_set *o, unsigned v)
{
    return (o->bits[v / 64] >> (v % 64)) & 1;
}

/* A decimal number 0-255 at *p (1-3 digits); advances *p. */
static int number(const char **p, unsigned *out)
{
    unsigned v = 0;
    int n = 0;
    while (**p >= '0' && **p <= '9') {
        if (++n > 3)
            return -1;
        v = v * 10 + (unsigned)(**p - '0');
        (*p)++;
    }
    if (n == 0 || v > 255)
        return -1;
    *out = v;
    return 0;
}

static int parse(const char *filter, octet_set set[4], const char **why)
{
    const char *p = filter;
    memset(set, 0, 4 * sizeof(*set));
    if (!p || !*p) {
        *why = "empty filter (write e.g. 127.0.0.2 or 127.0.0.[2..11])";
        return -1;
    }
    for (int i = 0; i < 4; i++) {
        unsigned lo, hi;
        if (*p == '[') {
            p++;
            for (;;) {
                if (number(&p, &lo) < 0) {
                    *why = "expected a number 0-255 inside [] (e.g. [2;3] or [2..11])";
                    return -1;
                }
                hi = lo;
                if (p[0] == '.' && p[1] == '.') {
                    p += 2;
                    if (number(&p, &hi) < 0) {
                        *why = "expected a number 0-255 after \"..\"";
                        return -1;
                    }
                    if (hi < lo) {
                        *why = "range n..m with n greater than m";
                        return -1;
                    }
                }
                set_range(&set[i], lo, hi);
                if (*p == ';') {
                    p++;
                    continue;
                }
                if (*p == ']') {
                    p++;
                    break;
                }
                *why = "missing \"]\" (inside [], separate values with \";\")";
                return -1;
            }
        } else {
            if (number(&p, &lo) < 0) {
                *why = "expected four parts, each a number 0-255 or [list] (e.g. 127.0.0.[2..11])";
                return -1;
            }
            set_range(&set[i], lo, lo);
        }
        if (i < 3) {
            if (*p != '.') {
                *why = *p == ';' ? "\";\" is allowed only inside [] (write 127.0.0.[2;3])"
                                 : "expected four dot-separated parts (e.g. 127.0.0.2)";
                return -1;
            }
            p++;
        }
    }
    if (*p) {
        *why = *p == ';' ? "\";\" is allowed only inside [] (write 127.0.0.[2;3])"
                         : "unexpected text after the fourth part";
        return -1;
    }
    return 0;
}

int rbl_filter_check(const char *filter, const char **why)
{
    octet_set set[4];
    return parse(filter, set, why);
}

int rbl_filter_match(const char *filter, const char *answer, const char **why)
{
    octet_set set[4];
    if (parse(filter, set, why) < 0)
        return -1;
    const char *p = answer ? answer : "";
    for (int i = 0; i < 4; i++) {
        unsigned v;
        if (number(&p, &v) < 0 || !in_set(&set[i], v))
            return 0;
        if (i < 3 && *p++ != '.')
            return 0;
    }
    return *p == 0;
}
