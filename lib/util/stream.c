#include "stream.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "mem.h"
#include "msg.h"

/* Input buffer size. Lines are copied out as they are scanned, so this only
 * bounds how much one read(2) can take, not the line length. */
#define STREAM_IN_SIZE 16384

struct stream {
    int fd;
    bool is_socket;
    bool is_fifo;
    bool wait_first; /* stream_expect_wait: poll before the next fd read */
    const stream_io *io;
    void *io_ctx;
    unsigned char *in;
    size_t in_pos, in_end; /* unread input is in[in_pos .. in_end) */
    strbuf out;
    int timeout_ms;       /* per operation; < 0: none */
    int64_t deadline;     /* request deadline, absolute ms; < 0: none */
    unsigned min_rate;    /* bytes/s; 0: off */
    uint64_t rate_credit; /* bytes*1000 not yet turned into whole ms */
    int err;              /* errno of the last STREAM_ERROR */
    int wr_fail;          /* sticky write failure, 0 if none */
};

int64_t stream_now_ms(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) < 0)
        msg_panic("clock_gettime(CLOCK_MONOTONIC): %m");
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- default raw I/O: never blocks, whatever the fd's O_NONBLOCK says ---- */

static ssize_t fd_ready(int fd, short events, short *want)
{
    struct pollfd p = {.fd = fd, .events = events};
    int n = poll(&p, 1, 0);
    if (n < 0)
        return -1;
    if (n == 0) {
        *want = events;
        errno = EAGAIN;
        return -1;
    }
    return 0;
}

static ssize_t default_read(void *ctx, int fd, void *buf, size_t len, short *want)
{
    stream *st = ctx;
    *want = POLLIN;
    if (st->is_socket)
        return recv(fd, buf, len, MSG_DONTWAIT);
    /* A blocking pipe read returns what is there once poll says readable. */
    if (fd_ready(fd, POLLIN, want) < 0)
        return -1;
    return read(fd, buf, len);
}

static ssize_t default_write(void *ctx, int fd, const void *buf, size_t len, short *want)
{
    stream *st = ctx;
    *want = POLLOUT;
    if (st->is_socket)
        return send(fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (fd_ready(fd, POLLOUT, want) < 0)
        return -1;
    /* POLLOUT on a pipe promises room for PIPE_BUF bytes, not more: a larger
     * blocking write could stall past the deadline. */
    if (st->is_fifo && len > PIPE_BUF)
        len = PIPE_BUF;
    return write(fd, buf, len);
}

static const stream_io default_io = {default_read, default_write, NULL};

/* ---- life cycle ---- */

static stream *open_kind(int fd, bool known_socket)
{
    if (fd < 0)
        msg_panic("stream_open: bad fd %d", fd);
    stream *st = xmalloc(sizeof(*st));
    st->fd = fd;
    struct stat sb;
    if (known_socket) {
        st->is_socket = true;
    } else if (fstat(fd, &sb) == 0) {
        st->is_socket = S_ISSOCK(sb.st_mode);
        st->is_fifo = S_ISFIFO(sb.st_mode);
    }
    st->io = &default_io;
    st->io_ctx = st;
    st->in = xmalloc(STREAM_IN_SIZE);
    st->timeout_ms = -1;
    st->deadline = -1;
    return st;
}

stream *stream_open(int fd)
{
    return open_kind(fd, false);
}

stream *stream_open_socket(int fd)
{
    return open_kind(fd, true);
}

int stream_release(stream **stp)
{
    stream *st = *stp;
    if (st == NULL)
        return -1;
    int fd = st->fd;
    free(st->in);
    strbuf_release(&st->out);
    free(st);
    *stp = NULL;
    return fd;
}

int stream_close(stream **stp)
{
    if (*stp == NULL)
        return 0;
    int fd = stream_release(stp);
    return close(fd);
}

int stream_fd(const stream *st)
{
    return st->fd;
}

void stream_set_io(stream *st, const stream_io *io, void *ctx)
{
    if (io == NULL) {
        st->io = &default_io;
        st->io_ctx = st;
    } else {
        st->io = io;
        st->io_ctx = ctx;
    }
}

/* ---- deadlines ---- */

void stream_set_timeout(stream *st, int timeout_ms)
{
    st->timeout_ms = timeout_ms < 0 ? -1 : timeout_ms;
}

int stream_timeout(const stream *st)
{
    return st->timeout_ms;
}

void stream_set_deadline(stream *st, int64_t abs_ms)
{
    st->deadline = abs_ms < 0 ? -1 : abs_ms;
    st->rate_credit = 0;
}

void stream_set_deadline_in(stream *st, int64_t ms)
{
    int64_t now = stream_now_ms();
    if (ms < 0)
        ms = 0;
    stream_set_deadline(st, ms > INT64_MAX - now ? INT64_MAX : now + ms);
}

void stream_clear_deadline(stream *st)
{
    stream_set_deadline(st, -1);
}

int64_t stream_deadline(const stream *st)
{
    return st->deadline;
}

void stream_set_min_rate(stream *st, unsigned bytes_per_sec)
{
    st->min_rate = bytes_per_sec;
    st->rate_credit = 0;
}

/* The deadline of one public operation from its per-operation timeout. */
static int64_t op_deadline(const stream *st)
{
    return st->timeout_ms < 0 ? -1 : stream_now_ms() + st->timeout_ms;
}

/* Earlier of the operation deadline and the (possibly moving) request one. */
static int64_t effective_deadline(const stream *st, int64_t op_dl)
{
    if (op_dl < 0)
        return st->deadline;
    if (st->deadline < 0)
        return op_dl;
    return op_dl < st->deadline ? op_dl : st->deadline;
}

static bool expired(const stream *st, int64_t op_dl)
{
    int64_t dl = effective_deadline(st, op_dl);
    return dl >= 0 && stream_now_ms() >= dl;
}

static void credit_rate(stream *st, size_t n)
{
    if (st->min_rate == 0 || st->deadline < 0)
        return;
    st->rate_credit += (uint64_t)n * 1000;
    uint64_t ext = st->rate_credit / st->min_rate;
    st->rate_credit %= st->min_rate;
    st->deadline =
        (uint64_t)(INT64_MAX - st->deadline) < ext ? INT64_MAX : st->deadline + (int64_t)ext;
}

/* Wait until fd is ready for `want` or the deadline passes. */
static int wait_fd(stream *st, short want, int64_t op_dl)
{
    for (;;) {
        int64_t dl = effective_deadline(st, op_dl);
        int tmo = -1;
        if (dl >= 0) {
            int64_t left = dl - stream_now_ms();
            if (left <= 0)
                return STREAM_TIMEOUT;
            tmo = left > INT_MAX ? INT_MAX : (int)left;
        }
        struct pollfd p = {.fd = st->fd, .events = want};
        int n = poll(&p, 1, tmo);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            st->err = errno;
            return STREAM_ERROR;
        }
        if (n == 0)
            continue; /* re-check: the cap at INT_MAX may have cut the wait */
        if (p.revents & POLLNVAL) {
            st->err = EBADF;
            return STREAM_ERROR;
        }
        return 0; /* readable, writable, or POLLERR/POLLHUP that I/O will report */
    }
}

/* One raw read of up to len bytes. The deadline is checked even when data
 * keeps arriving, so a fast flood cannot keep an operation alive forever. */
static ssize_t raw_read(stream *st, void *buf, size_t len, int64_t op_dl)
{
    if (st->wait_first) {
        st->wait_first = false;
        /* Bytes the I/O layer already holds need no wait. */
        if (st->io->pending == NULL || st->io->pending(st->io_ctx) == 0) {
            int r = wait_fd(st, POLLIN, op_dl);
            if (r < 0)
                return r;
        }
    }
    for (;;) {
        if (expired(st, op_dl))
            return STREAM_TIMEOUT;
        short want = POLLIN;
        ssize_t n = st->io->read(st->io_ctx, st->fd, buf, len, &want);
        if (n > 0) {
            credit_rate(st, (size_t)n);
            return n;
        }
        if (n == 0)
            return STREAM_EOF;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            int r = wait_fd(st, want ? want : POLLIN, op_dl);
            if (r < 0)
                return r;
            continue;
        }
        st->err = errno;
        return STREAM_ERROR;
    }
}

static int raw_write_all(stream *st, const unsigned char *buf, size_t len, int64_t op_dl)
{
    size_t off = 0;
    while (off < len) {
        if (expired(st, op_dl))
            return STREAM_TIMEOUT;
        short want = POLLOUT;
        ssize_t n = st->io->write(st->io_ctx, st->fd, buf + off, len - off, &want);
        if (n > 0) {
            off += (size_t)n;
            continue;
        }
        if (n == 0) {
            st->err = EIO; /* a write that moves nothing would loop forever */
            return STREAM_ERROR;
        }
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            int r = wait_fd(st, want ? want : POLLOUT, op_dl);
            if (r < 0)
                return r;
            continue;
        }
        st->err = errno;
        return STREAM_ERROR;
    }
    return 0;
}

/* ---- input ---- */

static size_t avail(const stream *st)
{
    return st->in_end - st->in_pos;
}

/* Read more input into the buffer. Returns bytes added or < 0. */
static ssize_t fill(stream *st, int64_t op_dl)
{
    if (st->in_pos == st->in_end) {
        st->in_pos = st->in_end = 0;
    } else if (st->in_end == STREAM_IN_SIZE) {
        memmove(st->in, st->in + st->in_pos, avail(st));
        st->in_end -= st->in_pos;
        st->in_pos = 0;
    }
    if (st->in_end == STREAM_IN_SIZE)
        msg_panic("stream fill: buffer full");
    ssize_t n = raw_read(st, st->in + st->in_end, STREAM_IN_SIZE - st->in_end, op_dl);
    if (n > 0)
        st->in_end += (size_t)n;
    return n;
}

/* Make at least need (<= buffer size) bytes available. */
static int ensure(stream *st, size_t need, int64_t op_dl)
{
    while (avail(st) < need) {
        ssize_t n = fill(st, op_dl);
        if (n < 0)
            return (int)n;
    }
    return 0;
}

static int finish_line(stream *st, strbuf *line)
{
    (void)st;
    if (line->len > 0 && line->s[line->len - 1] == '\r') {
        strbuf_truncate(line, line->len - 1);
        return STREAM_LINE_CRLF;
    }
    return STREAM_LINE_LF;
}

int stream_read_line(stream *st, strbuf *line, size_t limit)
{
    /* The operation's deadline is read from the clock at its first read
     * from the fd (nothing before that can wait): a line already buffered
     * costs no clock_gettime. */
    bool have_dl = false;
    int64_t op_dl = -1;
    strbuf_reset(line);
    for (;;) {
        if (avail(st) == 0) {
            if (!have_dl) {
                op_dl = op_deadline(st);
                have_dl = true;
            }
            ssize_t n = fill(st, op_dl);
            if (n == STREAM_EOF)
                return line->len ? STREAM_LINE_PARTIAL : STREAM_EOF;
            if (n < 0)
                return (int)n;
        }
        const unsigned char *p = st->in + st->in_pos;
        size_t room = limit - line->len;
        size_t scan = avail(st) < room ? avail(st) : room;
        const unsigned char *lf = scan ? memchr(p, '\n', scan) : NULL;
        if (lf) {
            size_t k = (size_t)(lf - p);
            strbuf_append(line, p, k);
            st->in_pos += k + 1;
            return finish_line(st, line);
        }
        strbuf_append(line, p, scan);
        st->in_pos += scan;
        if (line->len < limit)
            continue;
        /* Content is full: only a terminator may follow ("\n", or "\r\n"
         * when the CR is not already part of the content). */
        int r = ensure(st, 1, op_dl);
        if (r == STREAM_EOF)
            return STREAM_LINE_PARTIAL;
        if (r < 0)
            return r;
        unsigned char c = st->in[st->in_pos];
        if (c == '\n') {
            st->in_pos++;
            return finish_line(st, line);
        }
        if (c == '\r') {
            r = ensure(st, 2, op_dl);
            if (r < 0 && r != STREAM_EOF)
                return r;
            if (r == 0 && st->in[st->in_pos + 1] == '\n') {
                st->in_pos += 2;
                return STREAM_LINE_CRLF;
            }
        }
        return STREAM_LINE_TOOLONG;
    }
}

ssize_t stream_skip_line(stream *st)
{
    int64_t op_dl = op_deadline(st);
    size_t skipped = 0;
    for (;;) {
        if (avail(st) == 0) {
            ssize_t n = fill(st, op_dl);
            if (n < 0)
                return n;
        }
        const unsigned char *p = st->in + st->in_pos;
        const unsigned char *lf = memchr(p, '\n', avail(st));
        size_t k = lf ? (size_t)(lf - p) + 1 : avail(st);
        st->in_pos += k;
        skipped = k > (size_t)SSIZE_MAX - skipped ? (size_t)SSIZE_MAX : skipped + k;
        if (lf)
            return (ssize_t)skipped;
    }
}

static ssize_t read_some(stream *st, void *buf, size_t len, int64_t op_dl)
{
    if (len == 0)
        return 0;
    if (avail(st) == 0) {
        /* Large reads bypass the buffer: no point copying twice. */
        if (len >= STREAM_IN_SIZE)
            return raw_read(st, buf, len, op_dl);
        ssize_t n = fill(st, op_dl);
        if (n < 0)
            return n;
    }
    size_t k = avail(st) < len ? avail(st) : len;
    memcpy(buf, st->in + st->in_pos, k);
    st->in_pos += k;
    return (ssize_t)k;
}

ssize_t stream_read(stream *st, void *buf, size_t len)
{
    if (len > SSIZE_MAX)
        len = SSIZE_MAX;
    return read_some(st, buf, len, op_deadline(st));
}

int stream_read_exact(stream *st, void *buf, size_t len)
{
    if (avail(st) >= len) {
        /* All buffered (an attribute stream's many small fields): no clock
         * read for a deadline that no I/O will need. */
        memcpy(buf, st->in + st->in_pos, len);
        st->in_pos += len;
        return 0;
    }
    int64_t op_dl = op_deadline(st);
    unsigned char *p = buf;
    while (len > 0) {
        ssize_t n = read_some(st, p, len > SSIZE_MAX ? SSIZE_MAX : len, op_dl);
        if (n < 0)
            return (int)n;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int stream_read_append(stream *st, strbuf *sb, size_t len)
{
    if (avail(st) >= len) { /* all buffered: as stream_read_exact */
        strbuf_append(sb, st->in + st->in_pos, len);
        st->in_pos += len;
        return 0;
    }
    int64_t op_dl = op_deadline(st);
    size_t orig = sb->len;
    while (len > 0) {
        /* Grow with the data actually received, not with the announced
         * length: a peer announcing a large value and sending nothing must
         * not make us allocate it. */
        size_t chunk = len < STREAM_IN_SIZE ? len : STREAM_IN_SIZE;
        strbuf_reserve(sb, chunk);
        ssize_t n = read_some(st, sb->s + sb->len, chunk, op_dl);
        if (n < 0) {
            strbuf_truncate(sb, orig);
            return (int)n;
        }
        sb->len += (size_t)n;
        sb->s[sb->len] = '\0';
        len -= (size_t)n;
    }
    return 0;
}

void stream_expect_wait(stream *st)
{
    st->wait_first = true;
}

size_t stream_input_pending(const stream *st)
{
    size_t n = avail(st);
    if (st->io->pending)
        n += st->io->pending(st->io_ctx);
    return n;
}

size_t stream_input_peek(const stream *st, const char **p)
{
    *p = (const char *)st->in + st->in_pos;
    return avail(st);
}

bool stream_input_ready(stream *st, int wait_ms)
{
    if (stream_input_pending(st) > 0)
        return true;
    int64_t end = stream_now_ms() + (wait_ms < 0 ? 0 : wait_ms);
    for (;;) {
        int64_t left = end - stream_now_ms();
        struct pollfd p = {.fd = st->fd, .events = POLLIN};
        int n = poll(&p, 1, left > 0 ? (int)left : 0);
        if (n < 0 && errno == EINTR && left > 0)
            continue;
        return n > 0 && (p.revents & (POLLIN | POLLHUP | POLLERR));
    }
}

size_t stream_discard_input(stream *st)
{
    size_t n = avail(st);
    st->in_pos = st->in_end = 0;
    return n;
}

/* ---- output ---- */

int stream_flush(stream *st)
{
    if (st->wr_fail)
        return st->wr_fail;
    if (st->out.len == 0)
        return 0;
    int r = raw_write_all(st, (const unsigned char *)st->out.s, st->out.len, op_deadline(st));
    strbuf_reset(&st->out);
    if (r < 0)
        st->wr_fail = r;
    return r;
}

static int after_append(stream *st)
{
    return st->out.len >= STREAM_OUT_AUTOFLUSH ? stream_flush(st) : 0;
}

int stream_write(stream *st, const void *data, size_t len)
{
    if (st->wr_fail)
        return st->wr_fail;
    strbuf_append(&st->out, data, len);
    return after_append(st);
}

int stream_puts(stream *st, const char *s)
{
    return stream_write(st, s, strlen(s));
}

int stream_vprintf(stream *st, const char *fmt, va_list ap)
{
    if (st->wr_fail)
        return st->wr_fail;
    strbuf_vprintf(&st->out, fmt, ap);
    return after_append(st);
}

int stream_printf(stream *st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = stream_vprintf(st, fmt, ap);
    va_end(ap);
    return r;
}

size_t stream_output_pending(const stream *st)
{
    return st->out.len;
}

int stream_errno(const stream *st)
{
    return st->err;
}

const char *stream_strerror(const stream *st, int result)
{
    switch (result) {
    case STREAM_EOF:
        return "end of file";
    case STREAM_TIMEOUT:
        return "timeout";
    case STREAM_ERROR:
        return strerror(st->err);
    default:
        return "no error";
    }
}
