/* smtp_resp - reading and parsing SMTP/LMTP server replies. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "smtp_resp.h"

void smtp_resp_reset(smtp_resp *r)
{
    r->code = 0;
    r->dsn[0] = 0;
    strbuf_reset(&r->text);
    strlist_release(&r->lines);
    r->nlines = 0;
}

void smtp_resp_release(smtp_resp *r)
{
    strbuf_release(&r->text);
    strlist_release(&r->lines);
    r->code = 0;
    r->dsn[0] = 0;
    r->nlines = 0;
}

int smtp_resp_class(const smtp_resp *r)
{
    return r->code / 100;
}

static void put_sanitised(strbuf *out, const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        strbuf_putc(out, (c < 0x20 && c != '\t') || c >= 0x7f ? '?' : (char)c);
    }
}

/* "x.y.z" with x the reply class, y 1-3 digits, z 1-3 digits, followed by
 * a space or the end. Returns its length, 0 if there is none. */
static size_t enhanced_code(const char *s, size_t len, int cls)
{
    size_t i = 0;
    if (len < 5 || s[0] != (char)('0' + cls) || s[1] != '.')
        return 0;
    i = 2;
    for (int part = 0; part < 2; part++) {
        size_t start = i;
        while (i < len && i - start < 4 && isdigit((unsigned char)s[i]))
            i++;
        if (i == start || i - start > 3)
            return 0;
        if (part == 0) {
            if (i >= len || s[i] != '.')
                return 0;
            i++;
        }
    }
    if (i < len && s[i] != ' ')
        return 0;
    return i;
}

int smtp_resp_feed(smtp_resp *r, const char *line, size_t len, strbuf *err)
{
    if (len < 3 || !isdigit((unsigned char)line[0]) || !isdigit((unsigned char)line[1]) ||
        !isdigit((unsigned char)line[2]) || line[0] < '1' || line[0] > '5') {
        strbuf_set(err, "malformed reply: no status code");
        return SMTP_RESP_BAD;
    }
    if (len > 3 && line[3] != ' ' && line[3] != '-') {
        strbuf_set(err, "malformed reply: bad separator after status code");
        return SMTP_RESP_BAD;
    }
    int code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
    if (r->nlines > 0 && code != r->code) {
        strbuf_set(err, "malformed reply: status code changed within a multi-line reply");
        return SMTP_RESP_BAD;
    }
    if (r->nlines >= SMTP_RESP_MAX_LINES) {
        strbuf_set(err, "malformed reply: too many lines");
        return SMTP_RESP_BAD;
    }
    bool last = len == 3 || line[3] == ' ';
    const char *body = len > 4 ? line + 4 : "";
    size_t body_len = len > 4 ? len - 4 : 0;
    if (r->nlines == 0) {
        r->code = code;
        size_t n = enhanced_code(body, body_len, code / 100);
        if (n > 0 && n < sizeof(r->dsn)) {
            memcpy(r->dsn, body, n);
            r->dsn[n] = 0;
        } else {
            snprintf(r->dsn, sizeof(r->dsn), "%d.0.0", code / 100);
        }
    }
    r->nlines++;
    /* Keep what fits; a reply never needs more than this for a reason. */
    if (r->text.len < SMTP_RESP_MAX_TEXT) {
        size_t room = SMTP_RESP_MAX_TEXT - r->text.len;
        size_t n = len < room ? len : room;
        if (r->text.len > 0)
            strbuf_putc(&r->text, ' ');
        put_sanitised(&r->text, line, n);
        strbuf tmp = STRBUF_INIT;
        size_t bn = body_len < room ? body_len : room;
        put_sanitised(&tmp, body, bn);
        strlist_pushn(&r->lines, tmp.s ? tmp.s : "", tmp.len);
        strbuf_release(&tmp);
    }
    return last ? SMTP_RESP_DONE : SMTP_RESP_MORE;
}

int smtp_resp_read(stream *st, smtp_resp *r, size_t line_limit, strbuf *err)
{
    strbuf line = STRBUF_INIT;
    int ret;
    smtp_resp_reset(r);
    for (;;) {
        int kind = stream_read_line(st, &line, line_limit);
        if (kind < 0) {
            strbuf_set(err, stream_strerror(st, kind));
            ret = kind;
            break;
        }
        if (kind == STREAM_LINE_PARTIAL) {
            strbuf_set(err, "end of file");
            ret = STREAM_EOF;
            break;
        }
        if (kind == STREAM_LINE_TOOLONG) {
            ssize_t skipped = stream_skip_line(st);
            if (skipped < 0) {
                strbuf_set(err, stream_strerror(st, (int)skipped));
                ret = (int)skipped;
                break;
            }
        }
        ret = smtp_resp_feed(r, line.s ? line.s : "", line.len, err);
        if (ret != SMTP_RESP_MORE)
            break;
    }
    strbuf_release(&line);
    return ret;
}

unsigned smtp_ehlo_features(const smtp_resp *r, unsigned long long *size_limit)
{
    static const struct {
        const char *name;
        unsigned bit;
    } known[] = {
        {"PIPELINING", SMTP_EXT_PIPELINING},
        {"SIZE", SMTP_EXT_SIZE},
        {"8BITMIME", SMTP_EXT_8BITMIME},
        {"DSN", SMTP_EXT_DSN},
        {"SMTPUTF8", SMTP_EXT_SMTPUTF8},
        {"STARTTLS", SMTP_EXT_STARTTLS},
        {"ENHANCEDSTATUSCODES", SMTP_EXT_ENHANCEDSTATUSCODES},
    };
    unsigned features = 0;
    *size_limit = 0;
    for (size_t i = 1; i < r->lines.n; i++) {
        const char *kw = r->lines.v[i];
        size_t kwlen = strcspn(kw, " =");
        for (size_t k = 0; k < sizeof(known) / sizeof(known[0]); k++) {
            if (strlen(known[k].name) == kwlen && strncasecmp(kw, known[k].name, kwlen) == 0)
                features |= known[k].bit;
        }
        if (kwlen == 4 && strncasecmp(kw, "SIZE", 4) == 0 && kw[4] == ' ') {
            const char *num = kw + 5;
            unsigned long long v = 0;
            bool ok = isdigit((unsigned char)*num);
            for (; ok && isdigit((unsigned char)*num); num++) {
                if (v > (~0ULL - 9) / 10) {
                    ok = false; /* absurd: treat as no limit */
                    break;
                }
                v = v * 10 + (unsigned)(*num - '0');
            }
            *size_limit = ok ? v : 0;
        }
    }
    return features;
}
