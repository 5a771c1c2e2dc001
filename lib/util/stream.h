/* stream - buffered bidirectional I/O on one file descriptor, with deadlines.
 *
 * Contract:
 * - Every public operation finishes by a deadline. The effective deadline of
 *   an operation is the earlier of (a) its start + the stream's per-operation
 *   timeout (stream_set_timeout) and (b) the stream's request deadline
 *   (stream_set_deadline*), either of which may be off. Waiting is done with
 *   poll(2) against that absolute CLOCK_MONOTONIC time, so a peer that
 *   trickles one byte at a time cannot keep an operation alive past it (a
 *   per-read-syscall timeout would be reset by every byte).
 * - Minimum data rate (Postfix's smtpd_min_data_rate): with a rate R set and
 *   a request deadline active, every N bytes received push the request
 *   deadline N/R seconds later (exact, no rounding loss). A client sending at
 *   least R bytes/s therefore never runs out of time; a slower one does.
 * - Results: byte counts / line kinds are >= 0; failures are the negative
 *   STREAM_EOF, STREAM_TIMEOUT, STREAM_ERROR (errno kept, stream_errno()),
 *   reported distinctly. Read failures are not sticky (after a timeout the
 *   caller may still write "421 ... timeout" and retry reads with a new
 *   deadline); a write failure is sticky: buffered output is dropped and every
 *   later write/flush returns the same failure.
 * - Output is buffered until stream_flush (or until the buffer passes
 *   STREAM_OUT_AUTOFLUSH bytes). stream_flush writes everything, retrying
 *   short writes, EINTR and EAGAIN until the deadline.
 * - SIGPIPE: on sockets the default I/O uses send(MSG_NOSIGNAL), so a peer
 *   that went away yields EPIPE, never a signal. On pipes/FIFOs there is no
 *   such flag: daemons must ignore SIGPIPE (every daemon does at start-up).
 * - The fd's O_NONBLOCK flag is never changed (it may be shared with other
 *   processes): sockets are read with MSG_DONTWAIT, other fds only after
 *   poll(2) reports them ready, and pipe writes in chunks of at most PIPE_BUF.
 *
 * TLS seam: all raw I/O goes through a stream_io vtable (default: plain fd).
 * A TLS layer installs its own with stream_set_io() after the handshake:
 * read/write wrap SSL_read/SSL_write and translate SSL_ERROR_WANT_READ /
 * WANT_WRITE into -1/EAGAIN with *want = POLLIN / POLLOUT (a TLS read may
 * need the socket writable and vice versa); pending() wraps SSL_pending so
 * stream_input_pending() still sees decrypted-but-unread bytes. Before
 * switching, the caller must stream_discard_input() (CVE-2011-0411: plaintext
 * pipelined behind STARTTLS must not be read as if it came over TLS).
 */
#ifndef MTA_STREAM_H
#define MTA_STREAM_H
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "strbuf.h"

typedef struct stream stream;

/* Negative results. */
#define STREAM_EOF (-1)     /* orderly end of input (or of a partial read) */
#define STREAM_TIMEOUT (-2) /* deadline reached */
#define STREAM_ERROR (-3)   /* I/O error; see stream_errno() */

/* What ended a line returned by stream_read_line (all >= 0). */
enum stream_line {
    STREAM_LINE_CRLF = 0,    /* "...\r\n"; terminator removed */
    STREAM_LINE_LF = 1,      /* bare "...\n"; terminator removed */
    STREAM_LINE_TOOLONG = 2, /* `limit` bytes returned, no terminator within them;
                                the rest of the line is still unread */
    STREAM_LINE_PARTIAL = 3, /* input ended after some bytes without a terminator */
};

/* Raw I/O vtable. read/write return bytes moved (> 0), 0 at EOF (read only),
 * or -1 with errno. -1/EAGAIN means "not ready": set *want to POLLIN or
 * POLLOUT (what to wait for on the fd) and the stream polls until the
 * deadline, then calls again. Implementations must never block. */
typedef struct stream_io {
    ssize_t (*read)(void *ctx, int fd, void *buf, size_t len, short *want);
    ssize_t (*write)(void *ctx, int fd, const void *buf, size_t len, short *want);
    size_t (*pending)(void *ctx); /* bytes readable without touching the fd; may be NULL */
} stream_io;

/* Above this many buffered output bytes, writes flush by themselves. */
#define STREAM_OUT_AUTOFLUSH 65536

/* Monotonic clock in milliseconds (the time base of all deadlines). */
int64_t stream_now_ms(void);

/* Wrap fd (socket, pipe or file). The stream owns nothing until
 * stream_close. No timeout and no deadline are set initially. */
stream *stream_open(int fd);
/* The same for an fd the caller knows to be a socket (it connected or
 * accepted it, or getpeername(2) succeeded on it): no fstat(2) to find out. */
stream *stream_open_socket(int fd);
/* Close the fd and free; *stp becomes NULL. Returns close(2)'s result.
 * Unflushed output is discarded: flush first if it matters. */
int stream_close(stream **stp);
/* Free the stream but keep the fd open (hand it to someone else). */
int stream_release(stream **stp);
int stream_fd(const stream *st);

/* Replace the raw I/O (TLS). io must outlive the stream; NULL restores the
 * default fd I/O. */
void stream_set_io(stream *st, const stream_io *io, void *ctx);

/* Per-operation timeout in ms (< 0: none). */
void stream_set_timeout(stream *st, int timeout_ms);
int stream_timeout(const stream *st);
/* Request deadline: absolute stream_now_ms() time, or relative from now.
 * stream_clear_deadline turns it off (and resets min-rate credit). */
void stream_set_deadline(stream *st, int64_t abs_ms);
void stream_set_deadline_in(stream *st, int64_t ms);
void stream_clear_deadline(stream *st);
/* The current request deadline, or -1 when none. */
int64_t stream_deadline(const stream *st);
/* Minimum data rate in bytes/second (0: off). Only extends an active request
 * deadline; the per-operation timeout is unaffected. */
void stream_set_min_rate(stream *st, unsigned bytes_per_sec);

/* Read one line of at most `limit` content bytes (terminator not counted)
 * into `line` (reset first; NUL bytes kept, line->len authoritative).
 * Returns an enum stream_line, or STREAM_EOF when input ended before any
 * byte, STREAM_TIMEOUT or STREAM_ERROR (bytes read so far stay in `line`). */
int stream_read_line(stream *st, strbuf *line, size_t limit);
/* Consume input up to and including the next LF (after STREAM_LINE_TOOLONG).
 * Returns the number of bytes skipped (terminator included), or < 0. */
ssize_t stream_skip_line(stream *st);

/* Read 1..len bytes (whatever is buffered or arrives first). Returns the
 * count, STREAM_EOF, STREAM_TIMEOUT or STREAM_ERROR. len 0 returns 0. */
ssize_t stream_read(stream *st, void *buf, size_t len);
/* Read exactly len bytes. Returns 0, or STREAM_EOF if input ended early,
 * STREAM_TIMEOUT, STREAM_ERROR. The bytes read before a failure are lost. */
int stream_read_exact(stream *st, void *buf, size_t len);
/* Append exactly len bytes to sb (caller bounds len). 0 or < 0 as above;
 * on failure sb is restored to its previous length. */
int stream_read_append(stream *st, strbuf *sb, size_t len);

/* The caller knows that input is not there yet (it just sent a request the
 * peer has to work on first: open a file, commit a message): the next read
 * that needs bytes from the fd waits in poll(2) first, instead of trying a
 * read that would fail with EAGAIN and then polling (one system call less
 * per reply). Once only: that next fd read clears it. Buffered input, and
 * bytes the TLS layer holds (io->pending), are used first, as always;
 * results and deadlines do not change. Not for input that is usually
 * already there (SMTP commands): there it would add a poll per read. */
void stream_expect_wait(stream *st);

/* Bytes of input already received but not yet consumed by the caller:
 * buffered here plus io->pending. No system call. Used for pipelining
 * checks ("data after DATA/STARTTLS/before greeting"). */
size_t stream_input_pending(const stream *st);
/* The input buffered here and not yet consumed (*p, the count returned),
 * for logging what a client sent ahead; it stays unread. */
size_t stream_input_peek(const stream *st, const char **p);
/* True when input is pending or arrives within wait_ms (0: just look).
 * EOF counts as input (the next read reports it). */
bool stream_input_ready(stream *st, int wait_ms);
/* Drop all buffered input (not io->pending). Returns the count dropped. */
size_t stream_discard_input(stream *st);

/* Buffered output. Return 0 or a negative result (only when an automatic
 * flush happened and failed, or a previous write failed). */
int stream_write(stream *st, const void *data, size_t len);
int stream_puts(stream *st, const char *s);
int stream_printf(stream *st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int stream_vprintf(stream *st, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
/* Write everything buffered. 0, STREAM_TIMEOUT or STREAM_ERROR. */
int stream_flush(stream *st);
size_t stream_output_pending(const stream *st);

/* The errno of the last STREAM_ERROR (0 if none). */
int stream_errno(const stream *st);
/* Text for a negative result: "end of file", "timeout", or strerror. */
const char *stream_strerror(const stream *st, int result);

#endif
