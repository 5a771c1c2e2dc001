#include "addr_list.h"

#include <stdbool.h>

struct addr_parser {
    strbuf plain; /* text outside angle brackets */
    strbuf angle; /* text inside angle brackets */
    bool in_angle;
    bool had_angle;
    strlist *out;
    size_t max;
};

static strbuf *target(struct addr_parser *ap)
{
    return ap->in_angle ? &ap->angle : &ap->plain;
}

/* One address is complete: keep the angle part if there was one. */
static int finish_address(struct addr_parser *ap, strbuf *err)
{
    strbuf *src = ap->had_angle ? &ap->angle : &ap->plain;
    int ret = 0;
    if (src->len > 0) {
        if (ap->out->n >= ap->max) {
            strbuf_printf(err, "more than %zu addresses", ap->max);
            ret = -1;
        } else {
            strlist_pushn(ap->out, src->s, src->len);
        }
    }
    strbuf_reset(&ap->plain);
    strbuf_reset(&ap->angle);
    ap->had_angle = ap->in_angle = false;
    return ret;
}

static bool is_control(unsigned char c)
{
    return c < 0x20 || c == 0x7f;
}

/* Copy a quoted string or domain literal starting at value[*i] (the opening
 * character); returns false when unterminated. */
static bool copy_delimited(struct addr_parser *ap, const char *value, size_t len, size_t *i,
                           char close)
{
    strbuf *t = target(ap);
    strbuf_putc(t, value[*i]);
    for (size_t j = *i + 1; j < len; j++) {
        unsigned char c = (unsigned char)value[j];
        if (c == '\\' && j + 1 < len) {
            if (!is_control((unsigned char)value[j + 1])) {
                strbuf_putc(t, '\\');
                strbuf_putc(t, value[j + 1]);
            }
            j++;
            continue;
        }
        if (is_control(c))
            continue;
        strbuf_putc(t, (char)c);
        if (c == (unsigned char)close) {
            *i = j;
            return true;
        }
    }
    return false;
}

/* Skip a comment starting at value[*i] == '('; false when unterminated. */
static bool skip_comment(const char *value, size_t len, size_t *i)
{
    int depth = 0;
    for (size_t j = *i; j < len; j++) {
        if (value[j] == '\\') {
            j++;
        } else if (value[j] == '(') {
            depth++;
        } else if (value[j] == ')' && --depth == 0) {
            *i = j;
            return true;
        }
    }
    return false;
}

int addr_list_parse(const char *value, size_t len, strlist *out, size_t max_addresses, strbuf *err)
{
    struct addr_parser ap = {STRBUF_INIT, STRBUF_INIT, false, false, out, max_addresses};
    const char *problem = NULL;
    for (size_t i = 0; i < len && problem == NULL; i++) {
        unsigned char c = (unsigned char)value[i];
        switch (c) {
        case '(':
            if (!skip_comment(value, len, &i))
                problem = "unterminated comment";
            break;
        case '"':
            if (!copy_delimited(&ap, value, len, &i, '"'))
                problem = "unterminated quoted string";
            break;
        case '[':
            if (!copy_delimited(&ap, value, len, &i, ']'))
                problem = "unterminated domain literal";
            break;
        case '<':
            if (ap.in_angle) {
                problem = "nested '<'";
                break;
            }
            ap.in_angle = ap.had_angle = true;
            strbuf_reset(&ap.angle);
            break;
        case '>':
            if (!ap.in_angle)
                problem = "unexpected '>'";
            ap.in_angle = false;
            break;
        case ':':
            if (ap.in_angle) {
                /* End of an obsolete source route "@a,@b:" - drop it. */
                if (ap.angle.len > 0 && ap.angle.s[0] == '@')
                    strbuf_reset(&ap.angle);
                else
                    strbuf_putc(&ap.angle, ':');
            } else {
                /* "group-name:" - the name is not an address. */
                strbuf_reset(&ap.plain);
            }
            break;
        case ',':
        case ';':
            if (ap.in_angle && c == ',') {
                strbuf_putc(&ap.angle, ',');
            } else if (ap.in_angle) {
                problem = "unterminated '<'";
            } else if (finish_address(&ap, err) < 0) {
                problem = "";
            }
            break;
        case ' ':
        case '\t':
        case '\r':
        case '\n':
            break;
        default:
            if (!is_control(c))
                strbuf_putc(target(&ap), (char)c);
            break;
        }
    }
    if (problem == NULL && ap.in_angle)
        problem = "unterminated '<'";
    if (problem == NULL && finish_address(&ap, err) < 0)
        problem = "";
    if (problem && *problem)
        strbuf_printf(err, "%s", problem);
    strbuf_release(&ap.plain);
    strbuf_release(&ap.angle);
    return problem ? -1 : 0;
}
