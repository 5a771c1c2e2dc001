/* smtpd_data_scan - DATA/BDAT content state machines (see smtpd_data_scan.h). */
#include "smtpd_data_scan.h"

#include <string.h>

#include "msg.h"

/* Parser states. Pending bytes (a '.' at the start of a line, a '\r') live
 * only in the state, never in the line buffer, so the buffer bound is exact. */
enum {
    S_BOL = 0, /* start of a line */
    S_DOT,     /* DATA: "." at the start of a line */
    S_DOT_CR,  /* DATA: ".\r" at the start of a line */
    S_TEXT,    /* inside a line */
    S_CR,      /* "\r" seen inside (or at the start of) a line */
};

void smtp_data_begin(smtp_data *d, const smtp_data_opts *opts, enum smtp_data_mode mode,
                     smtp_data_line_fn fn, void *ctx)
{
    if (!opts || opts->line_length_limit == 0 || !fn)
        msg_panic("smtp_data_begin: bad arguments");
    strbuf keep = d->line;
    memset(d, 0, sizeof(*d));
    d->line = keep;
    strbuf_set(&d->line, "");
    d->opts = *opts;
    d->mode = mode;
    d->fn = fn;
    d->ctx = ctx;
    d->state = S_BOL;
    d->after_crlf = true; /* DATA's 354 counts as the CRLF before ".\r\n" */
    d->emitting = true;
    d->result = SMTP_DATA_OK;
}

void smtp_data_release(smtp_data *d)
{
    strbuf_release(&d->line);
    memset(d, 0, sizeof(*d));
}

static void stop(smtp_data *d, enum smtp_data_result why)
{
    if (d->result == SMTP_DATA_OK)
        d->result = why;
    d->emitting = false;
    strbuf_reset(&d->line);
}

static void count(smtp_data *d, uint64_t n)
{
    d->size = d->size > UINT64_MAX - n ? UINT64_MAX : d->size + n;
    if (d->opts.message_size_limit > 0 && d->size > d->opts.message_size_limit && d->emitting)
        stop(d, SMTP_DATA_TOO_BIG);
}

static void emit(smtp_data *d, bool complete)
{
    if (d->emitting && d->fn(d->ctx, d->line.s ? d->line.s : "", d->line.len, complete) != 0)
        stop(d, SMTP_DATA_CALLBACK);
    strbuf_reset(&d->line);
}

static void put(smtp_data *d, unsigned char c)
{
    if (c == 0)
        d->saw_nul = true;
    else if (c >= 0x80)
        d->saw_8bit = true;
    count(d, 1);
    if (!d->emitting)
        return;
    if (d->line.len >= d->opts.line_length_limit)
        emit(d, false);
    if (d->emitting)
        strbuf_putc(&d->line, (char)c);
}

/* put() for each of n bytes that hold no CR and no LF, with the same
 * result byte for byte (the size limit and the line length limit cut where
 * put() would), a copy per run instead of a call per byte. */
static void put_span(smtp_data *d, const unsigned char *p, size_t n)
{
    if (!d->saw_nul && memchr(p, 0, n))
        d->saw_nul = true;
    if (!d->saw_8bit)
        for (size_t k = 0; k < n; k++)
            if (p[k] >= 0x80) {
                d->saw_8bit = true;
                break;
            }
    const size_t limit = d->opts.line_length_limit;
    while (n > 0) {
        if (!d->emitting) {
            count(d, n);
            return;
        }
        if (d->line.len >= limit) {
            put(d, *p++);
            n--;
            continue;
        }
        size_t take = n < limit - d->line.len ? n : limit - d->line.len;
        if (d->opts.message_size_limit > 0) {
            uint64_t room =
                d->size >= d->opts.message_size_limit ? 0 : d->opts.message_size_limit - d->size;
            if (take > room)
                take = (size_t)room;
        }
        if (take == 0) { /* the next byte goes past the size limit */
            put(d, *p++);
            n--;
            continue;
        }
        count(d, take);
        strbuf_append(&d->line, p, take);
        p += take;
        n -= take;
    }
}

/* Bytes p[i..) up to the first CR or LF (or len). */
static size_t text_run_end(const unsigned char *p, size_t i, size_t len)
{
    const unsigned char *lf = memchr(p + i, '\n', len - i);
    size_t end = lf ? (size_t)(lf - p) : len;
    const unsigned char *cr = memchr(p + i, '\r', end - i);
    return cr ? (size_t)(cr - p) : end;
}

/* A line ends; crlf says whether it ended with a real <CR><LF>. */
static void end_line(smtp_data *d, bool crlf)
{
    count(d, 2);
    emit(d, true);
    d->lines++;
    d->after_crlf = crlf;
    d->state = S_BOL;
}

static void bare(smtp_data *d, enum smtp_data_result which)
{
    if (d->opts.forbid_bare_newline)
        stop(d, which);
}

/* A LF that no CR preceded. */
static void lf_line_end(smtp_data *d)
{
    if (!d->opts.lf_line_ends)
        bare(d, SMTP_DATA_BARE_LF);
    end_line(d, d->opts.lf_line_ends);
}

/* One DATA byte. Returns false when the byte must be looked at again in
 * the new state (it was not consumed). */
static bool data_byte(smtp_data *d, unsigned char c)
{
    switch (d->state) {
    case S_BOL:
        if (c == '.')
            d->state = S_DOT;
        else if (c == '\r')
            d->state = S_CR;
        else if (c == '\n')
            lf_line_end(d);
        else {
            put(d, c);
            d->state = S_TEXT;
        }
        return true;
    case S_DOT:
        if (c == '\r') {
            d->state = S_DOT_CR;
            return true;
        }
        if (c == '\n') {
            if (d->opts.lf_line_ends && d->after_crlf) {
                d->done = true;
                return true;
            }
            /* "." then bare LF: content, never end-of-data. */
            put(d, '.');
            lf_line_end(d);
            return true;
        }
        /* The leading dot was stuffing; drop it (RFC 5321 4.5.2). */
        d->state = S_TEXT;
        return false;
    case S_DOT_CR:
        if (c == '\n') {
            if (d->after_crlf) {
                d->done = true;
                return true;
            }
            /* <bare newline>.<CR><LF>: a "." line of content. */
            put(d, '.');
            end_line(d, true);
            return true;
        }
        bare(d, SMTP_DATA_BARE_CR);
        put(d, '.');
        end_line(d, false);
        return false;
    case S_TEXT:
        if (c == '\r')
            d->state = S_CR;
        else if (c == '\n')
            lf_line_end(d);
        else
            put(d, c);
        return true;
    case S_CR:
        if (c == '\n') {
            end_line(d, true);
            return true;
        }
        /* Bare CR: normalized to a line break (or rejected), so it can never
         * be passed on to a next hop that might treat it as one. */
        bare(d, SMTP_DATA_BARE_CR);
        end_line(d, false);
        return false;
    }
    msg_panic("smtp_data: bad state %d", d->state);
}

/* One BDAT byte. No dots and no end marker, but bare CR and bare LF are
 * what they are in DATA: line breaks, or (forbid_bare_newline) refused. */
static bool bdat_byte(smtp_data *d, unsigned char c)
{
    if (d->state == S_CR) {
        if (c == '\n') {
            end_line(d, true);
            return true;
        }
        bare(d, SMTP_DATA_BARE_CR);
        end_line(d, false);
        return false;
    }
    if (c == '\r')
        d->state = S_CR;
    else if (c == '\n')
        lf_line_end(d);
    else {
        put(d, c);
        d->state = S_TEXT;
    }
    return true;
}

size_t smtp_data_feed(smtp_data *d, const void *buf, size_t len)
{
    const unsigned char *p = buf;
    size_t i = 0;
    if (d->done)
        return 0;
    if (d->mode == SMTP_DATA_MODE_BDAT) {
        while (i < len) {
            /* Fast path: text up to the next CR or LF (no dots in BDAT). */
            if (d->state != S_CR) {
                size_t j = text_run_end(p, i, len);
                if (j > i) {
                    put_span(d, p + i, j - i);
                    d->state = S_TEXT;
                    i = j;
                    if (i == len)
                        break;
                }
            }
            if (bdat_byte(d, p[i]))
                i++;
        }
        return len;
    }
    while (i < len && !d->done) {
        /* Fast path: plain text inside a line. */
        if (d->state == S_TEXT) {
            size_t j = text_run_end(p, i, len);
            put_span(d, p + i, j - i);
            i = j;
            if (i == len)
                break;
        }
        if (data_byte(d, p[i]))
            i++;
    }
    return i;
}

void smtp_data_finish(smtp_data *d)
{
    if (d->mode != SMTP_DATA_MODE_BDAT || d->done)
        return;
    if (d->state == S_CR) { /* a CR that no LF will ever follow */
        bare(d, SMTP_DATA_BARE_CR);
        end_line(d, false);
    }
    if (d->state != S_BOL) {
        emit(d, true);
        d->lines++;
    }
    d->state = S_BOL;
    d->done = true;
}

bool smtp_data_done(const smtp_data *d)
{
    return d->done;
}

enum smtp_data_result smtp_data_result(const smtp_data *d)
{
    return d->result;
}

void smtp_data_reply(enum smtp_data_result r, int bare_code, int *code, const char **dsn,
                     const char **text)
{
    switch (r) {
    case SMTP_DATA_OK:
        *code = 250, *dsn = "2.0.0", *text = "Ok";
        return;
    case SMTP_DATA_BARE_LF:
        *code = bare_code ? bare_code : 550, *dsn = "5.5.2", *text = "Error: bare <LF> received";
        return;
    case SMTP_DATA_BARE_CR:
        *code = bare_code ? bare_code : 550, *dsn = "5.5.2", *text = "Error: bare <CR> received";
        return;
    case SMTP_DATA_TOO_BIG:
        *code = 552, *dsn = "5.3.4", *text = "Error: message file too big";
        return;
    case SMTP_DATA_CALLBACK:
        *code = 451, *dsn = "4.3.0", *text = "Error: queue file write error";
        return;
    }
    msg_panic("smtp_data_reply: bad result %d", (int)r);
}
