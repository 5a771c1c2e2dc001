#include "attr.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "mem.h"
#include "msg.h"
#include "sock.h"

static void set_err(strbuf *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void set_err(strbuf *err, const char *fmt, ...)
{
    if (err == NULL)
        return;
    strbuf_reset(err);
    va_list ap;
    va_start(ap, fmt);
    strbuf_vprintf(err, fmt, ap);
    va_end(ap);
}

/* ---- lists ---- */

void attr_list_reset(attr_list *al)
{
    for (size_t i = 0; i < al->n; i++) {
        XFREE(al->v[i].name);
        XFREE(al->v[i].value);
    }
    al->n = 0;
}

void attr_list_release(attr_list *al)
{
    attr_list_reset(al);
    XFREE(al->v);
    al->cap = 0;
}

size_t attr_list_count(const attr_list *al)
{
    return al->n;
}

const attr *attr_list_at(const attr_list *al, size_t i)
{
    return i < al->n ? &al->v[i] : NULL;
}

bool attr_name_valid(const char *name, size_t len)
{
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-'))
            return false;
    }
    return true;
}

/* Takes ownership of name and value (both NUL-terminated at their len). */
static void push(attr_list *al, char *name, size_t name_len, char *value, size_t value_len)
{
    if (al->n == al->cap) {
        size_t cap = al->cap ? al->cap * 2 : 8;
        al->v = xreallocarray(al->v, cap, sizeof(*al->v));
        al->cap = cap;
    }
    al->v[al->n++] = (attr){name, name_len, value, value_len};
}

void attr_add_data(attr_list *al, const char *name, const void *data, size_t len)
{
    size_t nl = strlen(name);
    if (!attr_name_valid(name, nl) || nl > UINT32_MAX)
        msg_panic("attr_add: bad attribute name \"%.100s\"", name);
    if (len > UINT32_MAX)
        msg_panic("attr_add: attribute %s: value of %zu bytes", name, len);
    if (len == SIZE_MAX)
        msg_panic("attr_add: length overflow");
    char *v = xmalloc(len + 1);
    if (len)
        memcpy(v, data, len);
    push(al, xstrndup(name, nl), nl, v, len);
}

void attr_add_str(attr_list *al, const char *name, const char *value)
{
    attr_add_data(al, name, value, strlen(value));
}

void attr_add_int(attr_list *al, const char *name, int64_t value)
{
    char buf[32];
    int n = snprintf(buf, sizeof(buf), "%" PRId64, value);
    attr_add_data(al, name, buf, (size_t)n);
}

const attr *attr_find(const attr_list *al, const char *name)
{
    for (size_t i = 0; i < al->n; i++)
        if (strcmp(al->v[i].name, name) == 0)
            return &al->v[i];
    return NULL;
}

int attr_get_data(const attr_list *al, const char *name, const void **data, size_t *len,
                  strbuf *err)
{
    const attr *a = attr_find(al, name);
    if (a == NULL) {
        set_err(err, "missing attribute %s", name);
        return -1;
    }
    *data = a->value;
    *len = a->value_len;
    return 0;
}

int attr_get_str(const attr_list *al, const char *name, const char **value, strbuf *err)
{
    const attr *a = attr_find(al, name);
    if (a == NULL) {
        set_err(err, "missing attribute %s", name);
        return -1;
    }
    /* A NUL inside would silently cut the string for C code downstream. */
    if (memchr(a->value, '\0', a->value_len) != NULL) {
        set_err(err, "attribute %s: string contains a NUL byte", name);
        return -1;
    }
    *value = a->value;
    return 0;
}

int attr_parse_int(const char *s, size_t len, int64_t *value)
{
    size_t i = 0;
    bool neg = false;
    if (len > 0 && s[0] == '-') {
        neg = true;
        i = 1;
    }
    size_t digits = len - i;
    if (digits == 0 || digits > 19)
        return -1;
    if (s[i] == '0' && (digits > 1 || neg)) /* canonical: no "007", no "-0" */
        return -1;
    uint64_t v = 0;
    for (; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (uint64_t)(s[i] - '0'); /* 19 digits cannot overflow uint64 */
    }
    if (neg) {
        if (v > (uint64_t)INT64_MAX + 1)
            return -1;
        *value = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
    } else {
        if (v > (uint64_t)INT64_MAX)
            return -1;
        *value = (int64_t)v;
    }
    return 0;
}

int attr_get_int(const attr_list *al, const char *name, int64_t *value, strbuf *err)
{
    const attr *a = attr_find(al, name);
    if (a == NULL) {
        set_err(err, "missing attribute %s", name);
        return -1;
    }
    if (attr_parse_int(a->value, a->value_len, value) < 0) {
        set_err(err, "attribute %s: not a valid integer", name);
        return -1;
    }
    return 0;
}

/* ---- encoding ---- */

static void put_u32(strbuf *out, size_t v)
{
    unsigned char b[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 8), (unsigned char)v};
    strbuf_append(out, b, 4);
}

void attr_encode(const attr_list *al, strbuf *out)
{
    for (size_t i = 0; i < al->n; i++) {
        put_u32(out, al->v[i].name_len);
        strbuf_append(out, al->v[i].name, al->v[i].name_len);
        put_u32(out, al->v[i].value_len);
        strbuf_append(out, al->v[i].value, al->v[i].value_len);
    }
    put_u32(out, 0);
}

/* ---- decoding: one strict decoder over two byte sources ---- */

typedef struct attr_source {
    /* Read exactly n bytes into buf, or append exactly n bytes to sb.
     * 0, or a negative enum attr_result. */
    int (*get)(struct attr_source *src, void *buf, size_t n);
    int (*append)(struct attr_source *src, strbuf *sb, size_t n);
    size_t offset; /* bytes consumed so far */
    /* buffer source */
    const unsigned char *buf;
    size_t len;
    /* stream source */
    stream *st;
    int stream_result; /* the STREAM_* behind ATTR_TIMEOUT / ATTR_IOERR */
} attr_source;

static int buf_get(attr_source *src, void *buf, size_t n)
{
    if (src->len - src->offset < n)
        return ATTR_TRUNCATED;
    memcpy(buf, src->buf + src->offset, n);
    src->offset += n;
    return 0;
}

static int buf_append(attr_source *src, strbuf *sb, size_t n)
{
    if (src->len - src->offset < n)
        return ATTR_TRUNCATED;
    strbuf_append(sb, src->buf + src->offset, n);
    src->offset += n;
    return 0;
}

static int map_stream(attr_source *src, int r)
{
    src->stream_result = r;
    switch (r) {
    case STREAM_EOF:
        return src->offset == 0 ? ATTR_EOF : ATTR_TRUNCATED;
    case STREAM_TIMEOUT:
        return ATTR_TIMEOUT;
    default:
        return ATTR_IOERR;
    }
}

static int st_get(attr_source *src, void *buf, size_t n)
{
    int r = stream_read_exact(src->st, buf, n);
    if (r < 0)
        return map_stream(src, r);
    src->offset += n;
    return 0;
}

static int st_append(attr_source *src, strbuf *sb, size_t n)
{
    int r = stream_read_append(src->st, sb, n);
    if (r < 0)
        return map_stream(src, r);
    src->offset += n;
    return 0;
}

static int get_u32(attr_source *src, size_t *v)
{
    unsigned char b[4];
    int r = src->get(src, b, 4);
    if (r < 0)
        return r;
    *v = ((size_t)b[0] << 24) | ((size_t)b[1] << 16) | ((size_t)b[2] << 8) | (size_t)b[3];
    return 0;
}

/* Would reading `more` bytes push the message past max_total? Checked
 * before every read, so nothing beyond the limit is ever read or stored. */
static bool over_total(const attr_source *src, const attr_limits *lim, size_t more)
{
    return more > lim->max_total || src->offset > lim->max_total - more;
}

static int decode(attr_source *src, const attr_limits *lim, attr_list *out, strbuf *err)
{
    strbuf name = STRBUF_INIT, value = STRBUF_INIT;
    int r;
    attr_list_reset(out);
    for (;;) {
        size_t nl, vl;
        if (over_total(src, lim, 4)) {
            set_err(err, "message longer than %zu bytes", lim->max_total);
            r = ATTR_TOOBIG;
            goto fail;
        }
        if ((r = get_u32(src, &nl)) < 0)
            goto io_fail;
        if (nl == 0)
            break;
        if (out->n >= lim->max_count) {
            set_err(err, "more than %zu attributes", lim->max_count);
            r = ATTR_TOOBIG;
            goto fail;
        }
        if (nl > lim->max_name) {
            set_err(err, "attribute name of %zu bytes (limit %zu)", nl, lim->max_name);
            r = ATTR_TOOBIG;
            goto fail;
        }
        /* Name, then the value's length field. */
        if (nl > SIZE_MAX - 4 || over_total(src, lim, nl + 4)) {
            set_err(err, "message longer than %zu bytes", lim->max_total);
            r = ATTR_TOOBIG;
            goto fail;
        }
        strbuf_reset(&name);
        if ((r = src->append(src, &name, nl)) < 0)
            goto io_fail;
        if (!attr_name_valid(name.s, name.len)) {
            set_err(err, "invalid attribute name (attribute #%zu)", out->n + 1);
            r = ATTR_MALFORMED;
            goto fail;
        }
        if ((r = get_u32(src, &vl)) < 0)
            goto io_fail;
        if (vl > lim->max_value) {
            set_err(err, "attribute %s: value of %zu bytes (limit %zu)", name.s, vl,
                    lim->max_value);
            r = ATTR_TOOBIG;
            goto fail;
        }
        if (over_total(src, lim, vl)) {
            set_err(err, "message longer than %zu bytes", lim->max_total);
            r = ATTR_TOOBIG;
            goto fail;
        }
        strbuf_reset(&value);
        if ((r = src->append(src, &value, vl)) < 0)
            goto io_fail;
        size_t name_len = name.len, value_len = value.len;
        char *n = strbuf_detach(&name);
        char *v = strbuf_detach(&value);
        push(out, n, name_len, v, value_len);
    }
    strbuf_release(&name);
    strbuf_release(&value);
    return ATTR_OK;
io_fail:
    switch (r) {
    case ATTR_EOF:
        set_err(err, "end of input");
        break;
    case ATTR_TRUNCATED:
        set_err(err, "message truncated after %zu bytes", src->offset);
        break;
    case ATTR_TIMEOUT:
        set_err(err, "timeout");
        break;
    default:
        set_err(err, "%s", src->st ? stream_strerror(src->st, src->stream_result) : "I/O error");
        break;
    }
fail:
    strbuf_release(&name);
    strbuf_release(&value);
    attr_list_reset(out);
    return r;
}

int attr_decode(const void *buf, size_t len, const attr_limits *lim, attr_list *out, size_t *used,
                strbuf *err)
{
    attr_source src = {.get = buf_get, .append = buf_append, .buf = buf, .len = len};
    int r = decode(&src, lim, out, err);
    if (r == ATTR_EOF) /* an empty buffer is a truncated message */
        r = ATTR_TRUNCATED;
    if (r == ATTR_OK && used)
        *used = src.offset;
    return r;
}

/* ---- on a stream ---- */

static int stream_fail(stream *st, int r, const char *what, strbuf *err)
{
    set_err(err, "%s: %s", what, stream_strerror(st, r));
    return r == STREAM_TIMEOUT ? ATTR_TIMEOUT : ATTR_IOERR;
}

/* A message is made of many stream operations; make the whole of it one
 * operation, bounded by the per-operation timeout, so a peer trickling one
 * field per timeout cannot stretch a message to count * timeout. */
static int64_t whole_message_begin(stream *st)
{
    int64_t saved = stream_deadline(st);
    int tmo = stream_timeout(st);
    if (tmo >= 0) {
        int64_t dl = stream_now_ms() + tmo;
        if (saved < 0 || dl < saved)
            stream_set_deadline(st, dl);
    }
    return saved;
}

static void whole_message_end(stream *st, int64_t saved)
{
    if (stream_deadline(st) != saved)
        stream_set_deadline(st, saved);
}

int attr_write(stream *st, const attr_list *al, strbuf *err)
{
    strbuf enc = STRBUF_INIT;
    attr_encode(al, &enc);
    int r = stream_write(st, enc.s, enc.len);
    strbuf_release(&enc);
    return r < 0 ? stream_fail(st, r, "write", err) : ATTR_OK;
}

int attr_send(stream *st, const attr_list *al, strbuf *err)
{
    int r = attr_write(st, al, err);
    if (r < 0)
        return r;
    int64_t saved = whole_message_begin(st);
    r = stream_flush(st);
    whole_message_end(st, saved);
    return r < 0 ? stream_fail(st, r, "write", err) : ATTR_OK;
}

int attr_recv(stream *st, const attr_limits *lim, attr_list *out, strbuf *err)
{
    attr_source src = {.get = st_get, .append = st_append, .st = st};
    int64_t saved = whole_message_begin(st);
    int r = decode(&src, lim, out, err);
    whole_message_end(st, saved);
    return r;
}

/* ---- client helpers ---- */

stream *attr_connect(const char *dir, const char *name, int timeout_ms, strbuf *err)
{
    strbuf path = STRBUF_INIT;
    stream *st = NULL;
    int64_t start = stream_now_ms();
    if (sock_unix_path(dir, name, &path, err) == 0) {
        /* Non-blocking and known to be a socket: no fcntl pair to make it
         * blocking (the stream never relies on the mode), no fstat. */
        int fd = sock_unix_connect_nonblock(strbuf_str(&path), timeout_ms, err);
        if (fd >= 0) {
            st = stream_open_socket(fd);
            if (timeout_ms >= 0)
                stream_set_deadline(st, start + timeout_ms);
        }
    }
    strbuf_release(&path);
    return st;
}

int attr_request(const char *dir, const char *name, int timeout_ms, const attr_list *req,
                 const attr_limits *lim, attr_list *reply, strbuf *err)
{
    attr_list_reset(reply);
    stream *st = attr_connect(dir, name, timeout_ms, err);
    if (st == NULL)
        return ATTR_IOERR;
    strbuf why = STRBUF_INIT;
    int r = attr_send(st, req, &why);
    if (r == ATTR_OK) {
        stream_expect_wait(st);
        r = attr_recv(st, lim, reply, &why);
        if (r == ATTR_EOF)
            r = ATTR_TRUNCATED; /* the service hung up without replying */
    }
    if (r != ATTR_OK)
        set_err(err, "%s/%s: %s", dir, name, strbuf_str(&why));
    strbuf_release(&why);
    (void)stream_close(&st); /* read-side socket: nothing buffered to lose */
    return r;
}
