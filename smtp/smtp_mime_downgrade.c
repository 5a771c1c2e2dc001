#include "smtp_mime_downgrade.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "header.h"
#include "mem.h"
#include "strbuf.h"

/* RFC 2045 6.7 (5): encoded lines are at most 76 characters, the soft
 * line break "=" included. */
#define QP_LINE_MAX 76

enum md_state { MD_HEADERS, MD_BODY };
enum md_mode { MD_PASS, MD_QP };

struct mime_downgrade {
    int flags;
    mime_downgrade_emit_fn emit;
    void *ctx;
    enum md_state state;
    enum md_mode mode;
    bool top;      /* the entity being read is the message itself */
    bool overflow; /* header block too big: passed on as is */
    int message_nesting;
    /* the current entity's header lines, as received */
    strbuf *hdr;
    size_t nhdr, hdr_cap, hdr_bytes;
    /* boundaries of the enclosing multiparts, innermost last */
    strbuf *bound;
    size_t nbound, bound_cap;
};

static const char hex[] = "0123456789ABCDEF";

void mime_qp_encode_line(const char *line, size_t len, mime_downgrade_emit_fn emit, void *ctx)
{
    strbuf out = STRBUF_INIT;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)line[i];
        char tok[3];
        size_t n = 1;
        bool last = i + 1 == len;
        if ((c >= 33 && c <= 126 && c != '=') || ((c == ' ' || c == '\t') && !last)) {
            tok[0] = (char)c;
        } else {
            tok[0] = '=';
            tok[1] = hex[c >> 4];
            tok[2] = hex[c & 15];
            n = 3;
        }
        /* The last token may use the whole line; others leave room for the
         * soft break. */
        size_t room = last ? QP_LINE_MAX : QP_LINE_MAX - 1;
        if (out.len + n > room) {
            strbuf_putc(&out, '=');
            emit(ctx, out.s, out.len);
            strbuf_reset(&out);
        }
        strbuf_append(&out, tok, n);
    }
    emit(ctx, out.s ? out.s : "", out.len);
    strbuf_release(&out);
}

mime_downgrade *mime_downgrade_new(int flags, mime_downgrade_emit_fn emit, void *ctx)
{
    mime_downgrade *md = xcalloc(1, sizeof(*md));
    md->flags = flags;
    md->emit = emit;
    md->ctx = ctx;
    md->state = MD_HEADERS;
    md->top = true;
    return md;
}

static void hdr_clear(mime_downgrade *md)
{
    for (size_t i = 0; i < md->nhdr; i++)
        strbuf_release(&md->hdr[i]);
    md->nhdr = 0;
    md->hdr_bytes = 0;
}

void mime_downgrade_free(mime_downgrade **mdp)
{
    mime_downgrade *md = *mdp;
    if (md == NULL)
        return;
    hdr_clear(md);
    free(md->hdr);
    for (size_t i = 0; i < md->nbound; i++)
        strbuf_release(&md->bound[i]);
    free(md->bound);
    free(md);
    *mdp = NULL;
}

static void emit_str(mime_downgrade *md, const char *s)
{
    md->emit(md->ctx, s, strlen(s));
}

/* Unfolded value of the logical header starting at hdr[i]; returns the
 * index after its last continuation line. */
static size_t header_unfold(const mime_downgrade *md, size_t i, strbuf *value)
{
    size_t vlen;
    const char *v = header_value(md->hdr[i].s, md->hdr[i].len, &vlen);
    strbuf_append(value, v, vlen);
    for (i++; i < md->nhdr && header_is_continuation(md->hdr[i].s, md->hdr[i].len); i++)
        strbuf_append(value, md->hdr[i].s, md->hdr[i].len);
    return i;
}

/* The first token of a header value, lowercased: "text/plain" from
 * " Text/Plain; charset=x", "8bit" from "8BIT (comment)". */
static void first_token(const char *v, size_t len, strbuf *out)
{
    size_t i = 0;
    while (i < len && isspace((unsigned char)v[i]))
        i++;
    for (; i < len && !isspace((unsigned char)v[i]) && v[i] != ';' && v[i] != '('; i++)
        strbuf_putc(out, (char)tolower((unsigned char)v[i]));
}

/* The boundary parameter of a Content-Type value, quoted or not. */
static bool find_boundary(const char *v, size_t len, strbuf *out)
{
    const char *end = v + len;
    for (const char *p = v; p < end; p++) {
        if (*p == '"') { /* skip quoted strings outside parameter names */
            for (p++; p < end && *p != '"'; p++)
                if (*p == '\\' && p + 1 < end)
                    p++;
            continue;
        }
        if (*p != ';')
            continue;
        const char *q = p + 1;
        while (q < end && isspace((unsigned char)*q))
            q++;
        if ((size_t)(end - q) < 9 || strncasecmp(q, "boundary", 8) != 0)
            continue;
        q += 8;
        while (q < end && isspace((unsigned char)*q))
            q++;
        if (q >= end || *q != '=')
            continue;
        q++;
        while (q < end && isspace((unsigned char)*q))
            q++;
        strbuf_reset(out);
        if (q < end && *q == '"') {
            for (q++; q < end && *q != '"'; q++) {
                if (*q == '\\' && q + 1 < end)
                    q++;
                strbuf_putc(out, *q);
            }
        } else {
            for (; q < end && *q != ';' && !isspace((unsigned char)*q); q++)
                strbuf_putc(out, *q);
        }
        return out->len > 0 && out->len <= MIME_DOWNGRADE_MAX_BOUNDARY;
    }
    return false;
}

static void push_boundary(mime_downgrade *md, const strbuf *b)
{
    if (md->nbound == md->bound_cap) {
        md->bound_cap = md->bound_cap ? 2 * md->bound_cap : 4;
        md->bound = xreallocarray(md->bound, md->bound_cap, sizeof(*md->bound));
    }
    strbuf *nb = &md->bound[md->nbound++];
    *nb = (strbuf)STRBUF_INIT;
    strbuf_append(nb, b->s, b->len);
}

static void pop_boundaries(mime_downgrade *md, size_t keep)
{
    while (md->nbound > keep)
        strbuf_release(&md->bound[--md->nbound]);
}

/* The header block is complete: decide what this entity becomes, and emit
 * its headers accordingly. Returns true when its body is a nested entity
 * (message/rfc822) whose headers follow. */
static bool headers_done(mime_downgrade *md)
{
    strbuf ctype = STRBUF_INIT, cte = STRBUF_INIT, value = STRBUF_INIT, boundary = STRBUF_INIT;
    bool have_cte = false, have_mime_version = false, have_boundary = false;
    for (size_t i = 0; i < md->nhdr;) {
        size_t nlen = header_name_length(md->hdr[i].s, md->hdr[i].len);
        if (nlen == 0) {
            i++;
            continue;
        }
        enum header_id id = header_classify(md->hdr[i].s, nlen);
        strbuf_reset(&value);
        size_t next = header_unfold(md, i, &value);
        if (id == HDR_CONTENT_TYPE) {
            strbuf_reset(&ctype);
            first_token(value.s ? value.s : "", value.len, &ctype);
            have_boundary = find_boundary(value.s ? value.s : "", value.len, &boundary);
        } else if (id == HDR_CONTENT_TRANSFER_ENCODING) {
            strbuf_reset(&cte);
            first_token(value.s ? value.s : "", value.len, &cte);
            have_cte = true;
        } else if (id == HDR_MIME_VERSION) {
            have_mime_version = true;
        }
        i = next;
    }
    bool enc8 = have_cte && (strbuf_eq(&cte, "8bit") || strbuf_eq(&cte, "binary"));
    bool multipart = ctype.len > 10 && strncmp(ctype.s, "multipart/", 10) == 0 && have_boundary &&
                     md->nbound < MIME_DOWNGRADE_MAX_DEPTH;
    bool message =
        strbuf_eq(&ctype, "message/rfc822") && md->message_nesting < MIME_DOWNGRADE_MAX_DEPTH;
    const char *new_cte = NULL;
    bool add_headers = false;
    md->mode = MD_PASS;
    if (multipart || message) {
        if (enc8)
            new_cte = "Content-Transfer-Encoding: 7bit";
    } else if (enc8) {
        new_cte = "Content-Transfer-Encoding: quoted-printable";
        md->mode = MD_QP;
    } else if (!have_cte && md->top && (md->flags & MIME_DOWNGRADE_UNDECLARED) &&
               (ctype.len == 0 || strncmp(ctype.s, "multipart/", 10) != 0)) {
        add_headers = true;
        md->mode = MD_QP;
    }

    bool replaced = false;
    for (size_t i = 0; i < md->nhdr;) {
        size_t nlen = header_name_length(md->hdr[i].s, md->hdr[i].len);
        if (new_cte && nlen > 0 &&
            header_classify(md->hdr[i].s, nlen) == HDR_CONTENT_TRANSFER_ENCODING) {
            /* The whole logical header goes; one replacement stands in for
             * the first (a duplicate header is dropped with it). */
            if (!replaced)
                emit_str(md, new_cte);
            replaced = true;
            for (i++; i < md->nhdr && header_is_continuation(md->hdr[i].s, md->hdr[i].len); i++)
                ;
            continue;
        }
        md->emit(md->ctx, md->hdr[i].s ? md->hdr[i].s : "", md->hdr[i].len);
        i++;
    }
    if (add_headers) {
        if (!have_mime_version)
            emit_str(md, "MIME-Version: 1.0");
        emit_str(md, "Content-Transfer-Encoding: quoted-printable");
    }
    hdr_clear(md);
    md->top = false;
    if (multipart)
        push_boundary(md, &boundary);
    if (message)
        md->message_nesting++;
    strbuf_release(&ctype);
    strbuf_release(&cte);
    strbuf_release(&value);
    strbuf_release(&boundary);
    return message;
}

/* Is the line a delimiter of an enclosing multipart? Returns the index of
 * that multipart + 1 (0: no), with *close set for the closing "--b--". */
static size_t match_boundary(const mime_downgrade *md, const char *line, size_t len, bool *close)
{
    if (len < 3 || line[0] != '-' || line[1] != '-')
        return 0;
    for (size_t k = md->nbound; k-- > 0;) {
        const strbuf *b = &md->bound[k];
        if (len - 2 < b->len || memcmp(line + 2, b->s, b->len) != 0)
            continue;
        size_t rest = 2 + b->len;
        *close = len - rest >= 2 && line[rest] == '-' && line[rest + 1] == '-';
        if (*close)
            rest += 2;
        /* Only trailing white space may follow (RFC 2046 5.1.1). */
        while (rest < len && (line[rest] == ' ' || line[rest] == '\t'))
            rest++;
        if (rest == len)
            return k + 1;
    }
    return 0;
}

static void body_line(mime_downgrade *md, const char *line, size_t len)
{
    if (md->mode == MD_QP)
        mime_qp_encode_line(line, len, md->emit, md->ctx);
    else
        md->emit(md->ctx, line, len);
}

void mime_downgrade_line(mime_downgrade *md, const char *line, size_t len)
{
    bool close = false;
    size_t k = md->nbound ? match_boundary(md, line, len, &close) : 0;
    if (k > 0) {
        if (md->state == MD_HEADERS) {
            /* A part that ends inside its headers: pass them as they are. */
            for (size_t i = 0; i < md->nhdr; i++)
                md->emit(md->ctx, md->hdr[i].s ? md->hdr[i].s : "", md->hdr[i].len);
            hdr_clear(md);
        }
        pop_boundaries(md, close ? k - 1 : k);
        md->emit(md->ctx, line, len);
        md->overflow = false;
        md->mode = MD_PASS;
        /* After an opening delimiter a part's headers follow; after the
         * closing one, the enclosing body continues (the epilogue). */
        md->state = close ? MD_BODY : MD_HEADERS;
        return;
    }
    if (md->state == MD_BODY) {
        body_line(md, line, len);
        return;
    }
    /* MD_HEADERS */
    bool is_header =
        header_name_length(line, len) > 0 || (md->nhdr > 0 && header_is_continuation(line, len));
    if (is_header && !md->overflow) {
        if (md->hdr_bytes + len > MIME_DOWNGRADE_MAX_HEADER) {
            /* Too big to judge: pass everything on unconverted. */
            for (size_t i = 0; i < md->nhdr; i++)
                md->emit(md->ctx, md->hdr[i].s ? md->hdr[i].s : "", md->hdr[i].len);
            hdr_clear(md);
            md->overflow = true;
        } else {
            if (md->nhdr == md->hdr_cap) {
                md->hdr_cap = md->hdr_cap ? 2 * md->hdr_cap : 16;
                md->hdr = xreallocarray(md->hdr, md->hdr_cap, sizeof(*md->hdr));
            }
            strbuf *h = &md->hdr[md->nhdr++];
            *h = (strbuf)STRBUF_INIT;
            strbuf_append(h, line, len);
            md->hdr_bytes += len;
            return;
        }
    }
    if (md->overflow) {
        md->emit(md->ctx, line, len);
        if (len == 0) {
            md->overflow = false;
            md->top = false;
            md->mode = MD_PASS;
            md->state = MD_BODY;
        }
        return;
    }
    /* The header block ends at an empty line, or at a line that is not a
     * header (which then belongs to the body). */
    bool nested = headers_done(md);
    if (len == 0) {
        md->emit(md->ctx, line, len);
        md->state = nested ? MD_HEADERS : MD_BODY;
        return;
    }
    md->state = nested ? MD_HEADERS : MD_BODY;
    mime_downgrade_line(md, line, len);
}

void mime_downgrade_finish(mime_downgrade *md)
{
    if (md->state == MD_HEADERS && md->nhdr > 0)
        (void)headers_done(md);
}
