#include "queue_id.h"

#include <stdio.h>
#include <string.h>

#include "msg.h"

/* Vowel-free so that IDs never spell words; order fixed by Postfix. */
static const char safe_chars[] = "0123456789BCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxyz";

#define LG_SEC_BASE 52
#define LG_SEC_PAD 6
#define LG_USEC_BASE 52
#define LG_USEC_PAD 4
#define LG_TIME_PAD (LG_SEC_PAD + LG_USEC_PAD)
#define LG_INUM_SEP 'z'
#define LG_INUM_BASE 51
#define LG_MAX_DIGITS 12 /* 52^12 > 2^64: more digits cannot be a 64-bit value */
#define SH_USEC_PAD 5
#define SH_MAX_INUM_DIGITS 16

/* Value of `c` in the safe alphabet restricted to `base`, or -1. */
static int safe_value(char c, int base)
{
    const char *p = c ? memchr(safe_chars, c, sizeof(safe_chars) - 1) : NULL;
    if (p == NULL || p - safe_chars >= base)
        return -1;
    return (int)(p - safe_chars);
}

static int hex_value(char c)
{
    /* Upper case only: Postfix writes %X, and one spelling per ID keeps
     * "is this file already queued?" a plain string comparison. */
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Append `val` in `base`, left-padded with '0' to at least `pad` digits. */
static void append_safe(strbuf *out, uint64_t val, int base, int pad)
{
    char digits[72]; /* 64 bits in base >= 2: at most 64 digits */
    int n = 0;
    do {
        digits[n++] = safe_chars[val % (unsigned)base];
        val /= (unsigned)base;
    } while (val != 0);
    while (n < pad)
        digits[n++] = '0';
    while (n > 0)
        strbuf_putc(out, digits[--n]);
}

/* Decode exactly `len` digits; -1 on a bad digit or 64-bit overflow. */
static int decode_safe(const char *s, size_t len, int base, uint64_t *val)
{
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        int d = safe_value(s[i], base);
        if (d < 0 || v > (UINT64_MAX - (uint64_t)d) / (uint64_t)base)
            return -1;
        v = v * (uint64_t)base + (uint64_t)d;
    }
    *val = v;
    return 0;
}

static int decode_hex(const char *s, size_t len, uint64_t *val)
{
    uint64_t v = 0;
    if (len > SH_MAX_INUM_DIGITS)
        return -1;
    for (size_t i = 0; i < len; i++) {
        int d = hex_value(s[i]);
        if (d < 0)
            return -1;
        v = v * 16 + (uint64_t)d;
    }
    *val = v;
    return 0;
}

void queue_id_make(strbuf *out, bool long_form, const struct timeval *tv, ino_t inode)
{
    if (tv->tv_sec < 0 || tv->tv_usec < 0 || tv->tv_usec > 999999)
        msg_panic("queue_id_make: bad time %lld.%06ld", (long long)tv->tv_sec, (long)tv->tv_usec);
    strbuf_reset(out);
    if (long_form) {
        append_safe(out, (uint64_t)tv->tv_sec, LG_SEC_BASE, LG_SEC_PAD);
        append_safe(out, (uint64_t)tv->tv_usec, LG_USEC_BASE, LG_USEC_PAD);
        strbuf_putc(out, LG_INUM_SEP);
        append_safe(out, (uint64_t)inode, LG_INUM_BASE, 1);
    } else {
        strbuf_printf(out, "%05lX%llX", (unsigned long)tv->tv_usec, (unsigned long long)inode);
    }
}

/* The long-form separator: the last 'z', with room for the time before it. */
static const char *long_separator(const char *id)
{
    const char *z = strrchr(id, LG_INUM_SEP);
    return (z != NULL && z - id >= LG_TIME_PAD) ? z : NULL;
}

int queue_id_decode(const char *id, long long *sec, long *usec, uint64_t *inode)
{
    size_t len = strnlen(id, QUEUE_ID_MAXLEN + 1);
    if (len == 0 || len > QUEUE_ID_MAXLEN)
        return -1;
    uint64_t s = 0, us = 0, ino = 0;
    const char *z = long_separator(id);
    if (z != NULL) {
        size_t sec_len = (size_t)(z - id) - LG_USEC_PAD;
        size_t ino_len = len - (size_t)(z - id) - 1;
        if (sec_len > LG_MAX_DIGITS || ino_len == 0 || ino_len > LG_MAX_DIGITS)
            return -1;
        if (decode_safe(id, sec_len, LG_SEC_BASE, &s) < 0 ||
            decode_safe(z - LG_USEC_PAD, LG_USEC_PAD, LG_USEC_BASE, &us) < 0 ||
            decode_safe(z + 1, ino_len, LG_INUM_BASE, &ino) < 0 || s > (uint64_t)INT64_MAX)
            return -1;
    } else {
        if (len <= SH_USEC_PAD)
            return -1;
        if (decode_hex(id, SH_USEC_PAD, &us) < 0 ||
            decode_hex(id + SH_USEC_PAD, len - SH_USEC_PAD, &ino) < 0)
            return -1;
    }
    if (us > 999999)
        return -1;
    if (sec)
        *sec = z ? (long long)s : -1;
    if (usec)
        *usec = (long)us;
    if (inode)
        *inode = ino;
    return 0;
}

bool queue_id_valid(const char *id)
{
    return queue_id_decode(id, NULL, NULL, NULL) == 0;
}

bool queue_id_is_long(const char *id)
{
    return long_separator(id) != NULL;
}

int queue_id_hash_dir(strbuf *out, const char *id, int depth)
{
    long usec;
    if (depth < 0 || depth > QUEUE_ID_MAX_DEPTH || queue_id_decode(id, NULL, &usec, NULL) < 0)
        return -1;
    /* Both forms hash on the hex microseconds; short IDs start with them. */
    char hex[SH_USEC_PAD + 1];
    snprintf(hex, sizeof(hex), "%05lX", (unsigned long)usec);
    const char *src = queue_id_is_long(id) ? hex : id;
    size_t src_len = strlen(src);
    for (int i = 0; i < depth; i++) {
        strbuf_putc(out, (size_t)i < src_len ? src[i] : '_');
        strbuf_putc(out, '/');
    }
    return 0;
}
