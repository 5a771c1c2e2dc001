/* libFuzzer harness: the attr decoder, from a buffer and from a stream.
 *
 * Properties checked beyond "no crash": a decoded message re-encodes to
 * exactly the bytes it was decoded from (the format has one encoding per
 * message), and the stream decoder agrees with the buffer decoder. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "attr.h"
#include "stream.h"
#include "strbuf.h"

static const attr_limits lim = {
    .max_count = 16, .max_name = 32, .max_value = 256, .max_total = 4096};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    attr_list out = ATTR_LIST_INIT;
    strbuf err = STRBUF_INIT, enc = STRBUF_INIT;
    size_t used = 0;
    int r = attr_decode(data, size, &lim, &out, &used, &err);
    if (r == ATTR_OK) {
        if (used > size)
            abort();
        attr_encode(&out, &enc);
        if (enc.len != used || memcmp(enc.s, data, used) != 0)
            abort();
        for (size_t i = 0; i < attr_list_count(&out); i++) {
            const attr *a = attr_list_at(&out, i);
            if (!attr_name_valid(a->name, a->name_len) || a->value[a->value_len] != '\0')
                abort();
        }
    } else if (attr_list_count(&out) != 0 || err.len == 0) {
        abort();
    }

    /* Same bytes through a socketpair (small inputs fit the socket buffer). */
    int sv[2];
    if (size <= 8192 && socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0) {
        if (size == 0 || write(sv[1], data, size) == (ssize_t)size) {
            close(sv[1]);
            stream *st = stream_open(sv[0]);
            stream_set_timeout(st, 1000);
            attr_list out2 = ATTR_LIST_INIT;
            int r2 = attr_recv(st, &lim, &out2, &err);
            /* Buffer TRUNCATED == stream EOF/TRUNCATED; the rest must match. */
            if (r == ATTR_TRUNCATED ? (r2 != ATTR_TRUNCATED && r2 != ATTR_EOF) : r2 != r)
                abort();
            if (r == ATTR_OK && attr_list_count(&out2) != attr_list_count(&out))
                abort();
            attr_list_release(&out2);
            stream_close(&st);
        } else {
            close(sv[0]);
            close(sv[1]);
        }
    }
    attr_list_release(&out);
    strbuf_release(&err);
    strbuf_release(&enc);
    return 0;
}
