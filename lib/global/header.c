#include "header.h"

#include <string.h>
#include <strings.h>

static const struct {
    const char *name;
    enum header_id id;
} known_headers[] = {
    {"From", HDR_FROM},
    {"Sender", HDR_SENDER},
    {"Reply-To", HDR_REPLY_TO},
    {"To", HDR_TO},
    {"Cc", HDR_CC},
    {"Bcc", HDR_BCC},
    {"Date", HDR_DATE},
    {"Message-ID", HDR_MESSAGE_ID},
    {"Received", HDR_RECEIVED},
    {"Return-Path", HDR_RETURN_PATH},
    {"Delivered-To", HDR_DELIVERED_TO},
    {"Subject", HDR_SUBJECT},
    {"MIME-Version", HDR_MIME_VERSION},
    {"Content-Type", HDR_CONTENT_TYPE},
    {"Content-Transfer-Encoding", HDR_CONTENT_TRANSFER_ENCODING},
    {"Resent-From", HDR_RESENT_FROM},
    {"Resent-Sender", HDR_RESENT_SENDER},
    {"Resent-To", HDR_RESENT_TO},
    {"Resent-Cc", HDR_RESENT_CC},
    {"Resent-Bcc", HDR_RESENT_BCC},
    {"Resent-Date", HDR_RESENT_DATE},
    {"Resent-Message-ID", HDR_RESENT_MESSAGE_ID},
    {"Apparently-To", HDR_APPARENTLY_TO},
    {"Errors-To", HDR_ERRORS_TO},
    {"Return-Receipt-To", HDR_RETURN_RECEIPT_TO},
};

size_t header_name_length(const char *line, size_t len)
{
    size_t i = 0;
    while (i < len && line[i] > ' ' && line[i] < 127 && line[i] != ':')
        i++;
    if (i == 0)
        return 0;
    size_t name_len = i;
    while (i < len && (line[i] == ' ' || line[i] == '\t'))
        i++;
    return i < len && line[i] == ':' ? name_len : 0;
}

enum header_id header_classify(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof(known_headers) / sizeof(known_headers[0]); i++)
        if (strlen(known_headers[i].name) == len &&
            strncasecmp(known_headers[i].name, name, len) == 0)
            return known_headers[i].id;
    return HDR_OTHER;
}

const char *header_canonical_name(enum header_id id)
{
    for (size_t i = 0; i < sizeof(known_headers) / sizeof(known_headers[0]); i++)
        if (known_headers[i].id == id)
            return known_headers[i].name;
    return NULL;
}

const char *header_value(const char *header, size_t len, size_t *value_len)
{
    const char *colon = memchr(header, ':', len);
    const char *p = colon ? colon + 1 : header + len;
    const char *end = header + len;
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n'))
        p++;
    *value_len = (size_t)(end - p);
    return p;
}

bool header_is_continuation(const char *line, size_t len)
{
    return len > 0 && (line[0] == ' ' || line[0] == '\t');
}

void header_collector_init(struct header_collector *hc, size_t limit, header_emit_fn emit,
                           void *ctx)
{
    memset(hc, 0, sizeof(*hc));
    hc->limit = limit;
    hc->emit = emit;
    hc->ctx = ctx;
    hc->in_headers = true;
}

static void flush_current(struct header_collector *hc)
{
    if (hc->current.len == 0)
        return;
    size_t name_len = header_name_length(hc->current.s, hc->current.len);
    hc->emit(hc->ctx, hc->current.s, hc->current.len, header_classify(hc->current.s, name_len),
             hc->truncated);
    strbuf_reset(&hc->current);
    hc->truncated = false;
}

/* Append within the limit; whatever does not fit is dropped. */
static void append_bounded(struct header_collector *hc, const char *data, size_t len)
{
    size_t room = hc->limit > hc->current.len ? hc->limit - hc->current.len : 0;
    if (len > room) {
        len = room;
        hc->truncated = true;
    }
    strbuf_append(&hc->current, data, len);
}

enum header_feed_result header_collector_feed(struct header_collector *hc, const char *line,
                                              size_t len)
{
    if (!hc->in_headers)
        return HEADER_NOT_HEADERS;
    if (header_is_continuation(line, len) && hc->current.len > 0) {
        append_bounded(hc, "\n", 1);
        append_bounded(hc, line, len);
        return HEADER_CONSUMED;
    }
    flush_current(hc);
    if (len == 0) {
        hc->in_headers = false;
        return HEADER_END_BLANK;
    }
    if (header_name_length(line, len) == 0) {
        hc->in_headers = false;
        return HEADER_END_BODY;
    }
    append_bounded(hc, line, len);
    return HEADER_CONSUMED;
}

void header_collector_finish(struct header_collector *hc)
{
    flush_current(hc);
    hc->in_headers = false;
}

void header_collector_release(struct header_collector *hc)
{
    strbuf_release(&hc->current);
}
