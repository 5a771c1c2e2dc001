/* attr - the internal request/response protocol: a message is a list of
 * named attributes, binary-safe and length-bounded.
 *
 * Wire format (all integers unsigned 32-bit big-endian):
 *
 *     message   = *attribute end
 *     attribute = name_len name value_len value     ; name_len >= 1
 *     end       = 00 00 00 00                       ; name_len 0
 *
 * Names are 1..max_name bytes of [A-Za-z0-9_.-] (so they are safe to print
 * in errors and logs). Values are any bytes, NUL included. Typed values are
 * conventions on top: strings carry no NUL; integers are signed 64-bit in
 * canonical decimal ("0", "-12", never "+1", "007" or " 1"); raw data is
 * anything. Repeated names are allowed; lookups return the first.
 *
 * Decoding is strict and bounded by caller-supplied limits: attribute
 * count, name length, value length, and the total encoded size (end marker
 * included). Every length is checked against the limits BEFORE anything is
 * allocated for it, and values are received into memory only as bytes
 * arrive, so an announced length costs nothing until it is really sent.
 * Truncated, malformed or oversized input is rejected with a reason; the
 * output list is then empty.
 *
 * Postfix's own internal encoding (attr_print0) is "name\0value\0"; ours
 * differs on purpose (explicit lengths make values binary-safe). Only our
 * own programs speak it, so it need not match.
 */
#ifndef MTA_ATTR_H
#define MTA_ATTR_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "stream.h"
#include "strbuf.h"

typedef struct attr {
    char *name; /* NUL-terminated */
    size_t name_len;
    char *value; /* value[value_len] == '\0' for convenience; may hold NULs */
    size_t value_len;
} attr;

typedef struct attr_list {
    attr *v;
    size_t n, cap;
} attr_list;

#define ATTR_LIST_INIT                                                                             \
    {                                                                                              \
        NULL, 0, 0                                                                                 \
    }

typedef struct attr_limits {
    size_t max_count; /* attributes per message */
    size_t max_name;  /* bytes per name */
    size_t max_value; /* bytes per value */
    size_t max_total; /* bytes per encoded message, headers and end marker included */
} attr_limits;

/* Results (negative) of decoding and of the stream operations. */
enum attr_result {
    ATTR_OK = 0,
    ATTR_EOF = -1,       /* stream ended cleanly before the first byte */
    ATTR_TRUNCATED = -2, /* input ended inside a message */
    ATTR_MALFORMED = -3, /* bad name, bad framing */
    ATTR_TOOBIG = -4,    /* a limit was exceeded */
    ATTR_TIMEOUT = -5,   /* stream deadline */
    ATTR_IOERR = -6,     /* stream I/O error, or connect failure */
};

/* ---- building and inspecting lists ---- */

void attr_list_reset(attr_list *al);   /* empty, keeps the array */
void attr_list_release(attr_list *al); /* frees everything, back to INIT */
size_t attr_list_count(const attr_list *al);
const attr *attr_list_at(const attr_list *al, size_t i);

/* A name must be valid (see above): a bad one is a programming error and
 * panics. */
void attr_add_data(attr_list *al, const char *name, const void *data, size_t len);
void attr_add_str(attr_list *al, const char *name, const char *value);
void attr_add_int(attr_list *al, const char *name, int64_t value);

bool attr_name_valid(const char *name, size_t len);

/* First attribute with that name, or NULL. */
const attr *attr_find(const attr_list *al, const char *name);
/* Required lookups: 0, or -1 with "missing attribute NAME" / "attribute
 * NAME: ..." in err. Returned pointers live as long as the list. */
int attr_get_str(const attr_list *al, const char *name, const char **value, strbuf *err);
int attr_get_int(const attr_list *al, const char *name, int64_t *value, strbuf *err);
int attr_get_data(const attr_list *al, const char *name, const void **data, size_t *len,
                  strbuf *err);
/* Strict canonical decimal int64 parse (the integer convention). */
int attr_parse_int(const char *s, size_t len, int64_t *value);

/* ---- wire format ---- */

/* Append the encoding of al to out. */
void attr_encode(const attr_list *al, strbuf *out);
/* Decode one message from buf. On ATTR_OK, *used (if not NULL) is the
 * number of bytes the message took (bytes after it are not looked at).
 * Otherwise out is empty and err says why (ATTR_TRUNCATED: buf ends inside
 * the message; ATTR_MALFORMED; ATTR_TOOBIG). */
int attr_decode(const void *buf, size_t len, const attr_limits *lim, attr_list *out, size_t *used,
                strbuf *err);

/* ---- on a stream ----
 * Deadlines are the stream's: the request deadline, if any, and the
 * per-operation timeout, which bounds each whole message (not each field). */

/* Buffer the encoding (attr_write) or buffer and flush (attr_send).
 * ATTR_OK, ATTR_TIMEOUT or ATTR_IOERR. */
int attr_write(stream *st, const attr_list *al, strbuf *err);
int attr_send(stream *st, const attr_list *al, strbuf *err);
/* Receive one message into out (reset first). Input after the message stays
 * buffered in the stream (protocols may continue with raw data). */
int attr_recv(stream *st, const attr_limits *lim, attr_list *out, strbuf *err);

/* ---- client helpers ---- */

/* Connect to the UNIX socket dir/name ("$queue_directory", "private/cleanup")
 * within timeout_ms; the stream gets timeout_ms as its request deadline.
 * NULL on failure with err set. The fd is non-blocking: use it only through
 * the stream (whose I/O never depends on the mode). */
stream *attr_connect(const char *dir, const char *name, int timeout_ms, strbuf *err);
/* One round trip: connect, send req, receive the reply into reply, close,
 * all within timeout_ms. Returns an enum attr_result. The reply is waited
 * for with poll(2) first (stream_expect_wait): the service has to read and
 * handle the request before it answers. */
int attr_request(const char *dir, const char *name, int timeout_ms, const attr_list *req,
                 const attr_limits *lim, attr_list *reply, strbuf *err);

#endif
