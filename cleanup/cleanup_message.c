/* cleanup_message - header section and content of one message.
 *
 * Missing headers, as Postfix 3.7 does it (cleanup_message.c): Message-ID,
 * Date and From are added at the end of the header section only when the
 * mail is in the "local" rewrite context (local submission, or an SMTP
 * client matching local_header_rewrite_clients, by default
 * permit_inet_interfaces) or always_add_missing_headers = yes. Mail from
 * remote SMTP clients is left alone. The message-id is logged either way
 * ("message-id=<>" when there is none and none was added).
 *
 * Address headers (From, Sender, Reply-To, Errors-To, Resent-From/Sender,
 * Return-Path, Return-Receipt-To as "header_sender"; To, Cc, Bcc,
 * Resent-To/Cc/Bcc, Apparently-To as "header_recipient") get canonical
 * mapping and masquerading in header_emit(), unless
 * receive_override_options has no_address_mappings. Virtual aliasing never
 * touches headers (Postfix).
 * Content checks (cleanup_checks.c): header_emit() hands each logical
 * primary header to header_checks (MIME headers to mime_header_checks);
 * the headers of every multipart body part and of every attached message
 * (message/rfc822, multipart/digest parts), at any depth up to
 * mime_nesting_limit (cleanup_mime.h), go to mime_header_checks (MIME
 * headers) or nested_header_checks (the others); every other body line,
 * within body_checks_size_limit, to body_checks.
 */
#include <string.h>
#include <strings.h>
#include <time.h>

#include "address.h"
#include "cleanup.h"
#include "cleanup_rewrite.h"
#include "config.h"
#include "header_addr.h"
#include "mail_date.h"
#include "msg.h"

static void put_line(struct cleanup_state *s, const char *data, size_t len, bool line_end)
{
    if (s->error != CLEANUP_OK)
        return;
    if (queue_file_put_text(s->qf, data, len, line_end) < 0)
        cleanup_write_failed(s);
}

/* A logical header is "Name: v\n\tmore": one queue-file line per line. */
static void put_header(struct cleanup_state *s, const char *h, size_t len)
{
    while (len > 0) {
        const char *nl = memchr(h, '\n', len);
        size_t n = nl ? (size_t)(nl - h) : len;
        put_line(s, h, n, true);
        if (!nl)
            break;
        h += n + 1;
        len -= n + 1;
    }
}

static void log_message_id(struct cleanup_state *s, const char *value, size_t len)
{
    strbuf_reset(&s->tmp);
    /* Unfold, then make it safe for the log. */
    strbuf clean = STRBUF_INIT;
    for (size_t i = 0; i < len; i++)
        if (value[i] != '\n')
            strbuf_putc(&clean, value[i] == '\t' ? ' ' : value[i]);
    strbuf_trim(&clean);
    addr_sanitize(&s->tmp, clean.s ? clean.s : "", clean.len, 200, true);
    strbuf_release(&clean);
    msg_info("%s: message-id=%s", strbuf_str(&s->queue_id), strbuf_str(&s->tmp));
}

/* The canonical_classes class of an address header, 0 for others. */
static unsigned header_class(enum header_id id)
{
    unsigned c = header_addr_class(id);
    return c == HEADER_ADDR_SENDER ? RW_HDR_SENDER : c == HEADER_ADDR_RCPT ? RW_HDR_RCPT : 0;
}

static bool is_mime_header(const char *h, size_t len);
static void note_type(struct cleanup_state *s, const char *h, size_t len);

/* Write a header kept by the checks; an address header first gets
 * canonical mapping and masquerading (Postfix: checks see the original). */
static void put_address_header(struct cleanup_state *s, const char *header, size_t len,
                               enum header_id id)
{
    unsigned cls = header_class(id);
    if (cls && !(s->override_flags & RW_OVR_NO_ADDRESS_MAPPINGS)) {
        size_t vlen = 0;
        const char *v = header_value(header, len, &vlen);
        strbuf nv = STRBUF_INIT, err = STRBUF_INIT;
        int r = rewrite_header_value(rewrite_config_get(), cls, v, vlen, &nv, &err);
        if (r < 0 && s->error == CLEANUP_OK) {
            msg_warn("%s: canonical map lookup problem in header -- message not accepted, "
                     "try again later: %s",
                     strbuf_str(&s->queue_id), strbuf_str(&err));
            s->error = CLEANUP_DEFER;
        }
        if (r > 0) {
            strbuf h = STRBUF_INIT;
            strbuf_append(&h, header, (size_t)(v - header));
            strbuf_append(&h, nv.s, nv.len);
            put_header(s, h.s, h.len);
            strbuf_release(&h);
        }
        strbuf_release(&nv);
        strbuf_release(&err);
        if (r > 0)
            return;
    }
    put_header(s, header, len);
}

static void header_emit(void *ctx, const char *header, size_t len, enum header_id id,
                        bool truncated)
{
    struct cleanup_state *s = ctx;
    if (id == HDR_MESSAGE_ID && !(s->seen & (1UL << HDR_MESSAGE_ID))) {
        size_t vlen = 0;
        const char *v = header_value(header, len, &vlen);
        log_message_id(s, v, vlen);
    }
    if (truncated)
        msg_info("%s: header exceeds header_size_limit %zu: truncated", strbuf_str(&s->queue_id),
                 s->header_limit);
    s->seen |= 1UL << id;
    /* Content headers go to mime_header_checks (default $header_checks). */
    bool mime = is_mime_header(header, len);
    if (id == HDR_CONTENT_TYPE)
        note_type(s, header, len);
    enum check_verdict v =
        cleanup_check(s, mime ? CHECK_MIME : CHECK_HEADER, header, len, &s->prepend, &s->replace);
    if (s->prepend.len > 0)
        put_header(s, s->prepend.s, s->prepend.len);
    if (v == CHECK_REPLACED)
        put_header(s, s->replace.s, s->replace.len);
    else if (v == CHECK_KEEP)
        put_address_header(s, header, len, id);
}

static bool is_mime_header(const char *h, size_t len)
{
    size_t nl = header_name_length(h, len);
    return (nl >= 8 && strncasecmp(h, "Content-", 8) == 0) ||
           (nl == 12 && strncasecmp(h, "Mime-Version", 12) == 0);
}

/* A Content-Type of the header block being read: what its end opens. */
static void note_type(struct cleanup_state *s, const char *h, size_t len)
{
    size_t vlen = 0;
    const char *v = header_value(h, len, &vlen);
    s->mime_next = mime_content_type(v, vlen, &s->mime_next_boundary);
}

static bool is_content_type(const char *h, size_t len)
{
    return header_name_length(h, len) == 12 && strncasecmp(h, "Content-Type", 12) == 0;
}

static void part_header_emit(void *ctx, const char *header, size_t len, enum header_id id,
                             bool truncated);

/* A header block of a part or an attached message begins; `digest`: a part
 * of a multipart/digest, which is a message unless it says otherwise. */
static void start_part_headers(struct cleanup_state *s, bool digest)
{
    header_collector_release(&s->part_hc);
    header_collector_init(&s->part_hc, s->header_limit, part_header_emit, s);
    s->in_part_headers = true;
    s->mime_next = digest ? MIME_MESSAGE : MIME_OTHER;
}

/* The end of a header block: enter what its Content-Type opened. An
 * attached message's headers follow at once; a multipart's parts come after
 * its boundary. `message_ok` is false when the block ended abnormally (a
 * line too long to be a header): no headers can follow then. */
static void mime_enter(struct cleanup_state *s, bool message_ok)
{
    enum mime_type t = s->mime_next;
    s->mime_next = MIME_OTHER;
    if (t == MIME_MULTIPART || t == MIME_DIGEST) {
        bool was = s->mime.overflowed;
        if (!mime_stack_push(&s->mime, strbuf_str(&s->mime_next_boundary), t == MIME_DIGEST) &&
            !was)
            msg_info("%s: MIME nesting exceeds mime_nesting_limit %zu: deeper parts are "
                     "checked as body text",
                     strbuf_str(&s->queue_id), s->mime.limit);
    } else if (t == MIME_MESSAGE && message_ok) {
        start_part_headers(s, false);
    }
}

static void part_header_emit(void *ctx, const char *header, size_t len, enum header_id id,
                             bool truncated)
{
    (void)id;
    (void)truncated;
    struct cleanup_state *s = ctx;
    if (is_content_type(header, len))
        note_type(s, header, len);
    enum check_verdict v = cleanup_check(s, is_mime_header(header, len) ? CHECK_MIME : CHECK_NESTED,
                                         header, len, &s->prepend, &s->replace);
    if (s->prepend.len > 0)
        put_header(s, s->prepend.s, s->prepend.len);
    if (v == CHECK_REPLACED)
        put_header(s, s->replace.s, s->replace.len);
    else if (v == CHECK_KEEP)
        put_header(s, header, len);
}

static void body_line(struct cleanup_state *s, const char *data, size_t len, bool line_end);

/* A whole line inside the part headers. */
static void part_header_line(struct cleanup_state *s, const char *data, size_t len)
{
    switch (header_collector_feed(&s->part_hc, data, len)) {
    case HEADER_CONSUMED:
        break;
    case HEADER_END_BLANK:
        s->in_part_headers = false;
        mime_enter(s, true);
        put_line(s, "", 0, true);
        break;
    case HEADER_END_BODY:
    case HEADER_NOT_HEADERS:
        s->in_part_headers = false;
        mime_enter(s, true);
        body_line(s, data, len, true);
        break;
    }
}

/* One body line: body_checks over the first body_checks_size_limit bytes. */
static void body_line(struct cleanup_state *s, const char *data, size_t len, bool line_end)
{
    if (s->in_part_headers) {
        if (line_end) {
            part_header_line(s, data, len);
            return;
        }
        /* A line too long to arrive whole is no header: the part's
         * headers end here and the pieces are body text. */
        header_collector_finish(&s->part_hc);
        s->in_part_headers = false;
        mime_enter(s, false);
    }
    bool digest = false, closing = false;
    if (line_end && mime_stack_depth(&s->mime) > 0) {
        if (mime_stack_boundary(&s->mime, data, len, &digest, &closing)) {
            put_line(s, data, len, true);
            start_part_headers(s, digest);
            return;
        }
        if (closing) {
            put_line(s, data, len, true);
            return;
        }
    }
    bool check = s->body_size < s->body_limit;
    s->body_size += len + (line_end ? 1 : 0);
    if (!check || !line_end) {
        /* Partial pieces of an overlong line are not checked (Postfix checks
         * each queue-file record; ours are whole lines). */
        put_line(s, data, len, line_end);
        return;
    }
    enum check_verdict v = cleanup_check(s, CHECK_BODY, data, len, &s->prepend, &s->replace);
    if (s->prepend.len > 0)
        put_line(s, s->prepend.s, s->prepend.len, true);
    if (v == CHECK_REPLACED)
        put_line(s, s->replace.s, s->replace.len, true);
    else if (v == CHECK_KEEP)
        put_line(s, data, len, line_end);
}

static void format_from(struct cleanup_state *s, strbuf *out)
{
    strbuf addr = STRBUF_INIT;
    if (s->sender.len == 0) {
        strbuf_puts(&addr, "MAILER-DAEMON");
    } else {
        addr_externalize(&addr, s->sender.s, s->sender.len);
    }
    strbuf_puts(out, "From: ");
    if (s->fullname.len > 0) {
        /* A display name: quote it unless it is plain words. */
        bool plain = true;
        for (size_t i = 0; i < s->fullname.len; i++) {
            unsigned char c = (unsigned char)s->fullname.s[i];
            if (!(c == ' ' || c >= 0x80 || (c > 0x20 && c < 0x7f && !strchr("()<>[]:;@\\,.\"", c))))
                plain = false;
        }
        strbuf name = STRBUF_INIT;
        addr_sanitize(&name, s->fullname.s, s->fullname.len, 200, true);
        if (plain) {
            strbuf_append(out, name.s, name.len);
        } else {
            strbuf_putc(out, '"');
            for (size_t i = 0; i < name.len; i++) {
                if (name.s[i] == '"' || name.s[i] == '\\')
                    strbuf_putc(out, '\\');
                strbuf_putc(out, name.s[i]);
            }
            strbuf_putc(out, '"');
        }
        strbuf_release(&name);
        strbuf_printf(out, " <%s>", strbuf_str(&addr));
    } else {
        strbuf_append(out, addr.s ? addr.s : "", addr.len);
    }
    strbuf_release(&addr);
}

/* End of the header section: add what is missing. */
static void headers_done(struct cleanup_state *s)
{
    const char *id = strbuf_str(&s->queue_id);
    s->in_headers = false;
    if (!(s->seen & (1UL << HDR_MESSAGE_ID))) {
        if (s->add_missing) {
            strbuf_reset(&s->tmp);
            if (config_get_bool("enable_long_queue_ids")) {
                strbuf_printf(&s->tmp, "<%s@%s>", id, config_get("myhostname"));
            } else {
                struct tm tm;
                time_t t = s->arrival.tv_sec;
                char stamp[32];
                if (!gmtime_r(&t, &tm) || strftime(stamp, sizeof(stamp), "%Y%m%d%H%M%S", &tm) == 0)
                    msg_panic("gmtime/strftime failed for %lld", (long long)t);
                strbuf_printf(&s->tmp, "<%s.%s@%s>", stamp, id, config_get("myhostname"));
            }
            strbuf h = STRBUF_INIT;
            strbuf_printf(&h, "Message-Id: %s", strbuf_str(&s->tmp));
            put_line(s, h.s, h.len, true);
            msg_info("%s: message-id=%s", id, strbuf_str(&s->tmp));
            strbuf_release(&h);
        } else {
            msg_info("%s: message-id=<>", id);
        }
    }
    if (s->add_missing && !(s->seen & (1UL << HDR_DATE))) {
        strbuf h = STRBUF_INIT;
        strbuf_puts(&h, "Date: ");
        mail_date_append(&h, s->arrival.tv_sec);
        put_line(s, h.s, h.len, true);
        strbuf_release(&h);
    }
    if (s->add_missing && !(s->seen & (1UL << HDR_FROM))) {
        strbuf h = STRBUF_INIT;
        format_from(s, &h);
        put_line(s, h.s, h.len, true);
        strbuf_release(&h);
    }
    mime_enter(s, true);
}

void cleanup_message_begin(struct cleanup_state *s)
{
    s->content_started = true;
    s->in_headers = true;
    s->size = 0;
    s->body_size = 0;
    /* receive_override_options: this service's and the client's. */
    s->checks_off = cleanup_checks_disabled() || (s->override_flags & RW_OVR_NO_HEADER_BODY_CHECKS);
    long long bl = config_get_size("body_checks_size_limit");
    s->body_limit = bl > 0 ? (uint64_t)bl : 0;
    header_collector_init(&s->hc, s->header_limit, header_emit, s);
    long long nl = config_get_int("mime_nesting_limit");
    mime_stack_init(&s->mime, nl > 0 ? (size_t)nl : 0);
    s->mime_next = MIME_OTHER;
    if (queue_file_begin_content(s->qf) < 0)
        cleanup_write_failed(s);
}

static void header_line(struct cleanup_state *s)
{
    switch (header_collector_feed(&s->hc, s->line.s ? s->line.s : "", s->line.len)) {
    case HEADER_CONSUMED:
        break;
    case HEADER_END_BLANK:
        headers_done(s);
        put_line(s, "", 0, true);
        break;
    case HEADER_END_BODY:
    case HEADER_NOT_HEADERS:
        headers_done(s);
        body_line(s, s->line.s ? s->line.s : "", s->line.len, true);
        break;
    }
    strbuf_reset(&s->line);
    s->line_trunc = false;
}

void cleanup_message_piece(struct cleanup_state *s, const char *data, size_t len, bool line_end)
{
    /* Count first, overflow-safe: past the limit nothing more is stored. */
    uint64_t add = (uint64_t)len + (line_end ? 1 : 0);
    s->size = s->size > UINT64_MAX - add ? UINT64_MAX : s->size + add;
    if (s->size_limit > 0 && s->size > s->size_limit && s->error == CLEANUP_OK)
        s->error = CLEANUP_SIZE;
    if (s->error != CLEANUP_OK)
        return;
    if (!s->in_headers) {
        body_line(s, data, len, line_end);
        return;
    }
    /* Header section: whole lines, bounded by header_size_limit (the
     * collector truncates the logical header at the same limit). */
    size_t room = s->header_limit + 1 > s->line.len ? s->header_limit + 1 - s->line.len : 0;
    if (len > room) {
        len = room;
        s->line_trunc = true;
    }
    strbuf_append(&s->line, data, len);
    if (line_end)
        header_line(s);
}

void cleanup_message_end(struct cleanup_state *s)
{
    if (!s->content_started)
        cleanup_message_begin(s);
    if (s->in_headers) {
        if (s->line.len > 0)
            header_line(s);
        if (s->in_headers) {
            header_collector_finish(&s->hc);
            headers_done(s);
        }
    }
    if (s->in_part_headers) {
        header_collector_finish(&s->part_hc);
        s->in_part_headers = false;
    }
}

void cleanup_message_release(struct cleanup_state *s)
{
    header_collector_release(&s->hc);
    strbuf_release(&s->line);
    strbuf_release(&s->tmp);
    strbuf_release(&s->prepend);
    strbuf_release(&s->replace);
    strbuf_release(&s->client_name);
    strbuf_release(&s->client_addr);
    strbuf_release(&s->helo);
    strbuf_release(&s->proto);
    strbuf_release(&s->first_rcpt);
    strbuf_release(&s->reject_reply);
    mime_stack_release(&s->mime);
    strbuf_release(&s->mime_next_boundary);
    header_collector_release(&s->part_hc);
}
