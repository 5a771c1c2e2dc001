/* base64 - see base64.h. */
#include "base64.h"

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void base64_encode(strbuf *out, const void *data, size_t len)
{
    const unsigned char *p = data;
    strbuf_reserve(out, (len + 2) / 3 * 4);
    for (size_t i = 0; i < len; i += 3) {
        unsigned v = (unsigned)p[i] << 16;
        if (i + 1 < len)
            v |= (unsigned)p[i + 1] << 8;
        if (i + 2 < len)
            v |= p[i + 2];
        strbuf_putc(out, alphabet[(v >> 18) & 63]);
        strbuf_putc(out, alphabet[(v >> 12) & 63]);
        strbuf_putc(out, i + 1 < len ? alphabet[(v >> 6) & 63] : '=');
        strbuf_putc(out, i + 2 < len ? alphabet[v & 63] : '=');
    }
}

static int value_of(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* Decode into out when out != NULL; 0 or -1 either way. */
static int decode(strbuf *out, const char *text, size_t len)
{
    if (len % 4 != 0)
        return -1;
    for (size_t i = 0; i < len; i += 4) {
        bool last = i + 4 == len;
        int v[4];
        int pad = 0;
        for (int k = 0; k < 4; k++) {
            char c = text[i + k];
            if (c == '=' && last && k >= 2) {
                v[k] = 0;
                pad++;
                continue;
            }
            if (pad > 0) /* data after '=' */
                return -1;
            if ((v[k] = value_of(c)) < 0)
                return -1;
        }
        unsigned w =
            (unsigned)v[0] << 18 | (unsigned)v[1] << 12 | (unsigned)v[2] << 6 | (unsigned)v[3];
        if (out) {
            strbuf_putc(out, (char)(w >> 16));
            if (pad < 2)
                strbuf_putc(out, (char)(w >> 8));
            if (pad < 1)
                strbuf_putc(out, (char)w);
        }
    }
    return 0;
}

int base64_decode(strbuf *out, const char *text, size_t len)
{
    size_t old = out->len;
    if (decode(out, text, len) < 0) {
        strbuf_truncate(out, old);
        return -1;
    }
    return 0;
}

bool base64_valid(const char *text, size_t len)
{
    return decode(NULL, text, len) == 0;
}
