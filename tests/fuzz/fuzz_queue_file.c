/* libFuzzer harness: arbitrary bytes as a queue file for the reader.
 *
 * The bytes go into a memfd so the real pread-based reader runs. Every
 * decoded field is touched so the sanitizers see any out-of-bounds view,
 * and a valid file must also survive marking its recipients in place.
 * Seeds: tests/fuzz/seeds/fuzz_queue_file/ (files written by the real writer).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "msg.h"
#include "queue_file.h"
#include "strbuf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t sink;

static void touch(const strbuf *sb)
{
    for (size_t i = 0; i < sb->len; i++)
        sink += (unsigned char)sb->s[i];
    sink += (unsigned char)strbuf_str(sb)[sb->len];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int fd = -1;
    if (fd < 0) {
        msg_init("fuzz_queue_file", false);
        fd = memfd_create("queue_file", 0);
        if (fd < 0)
            abort();
    }
    if (ftruncate(fd, 0) < 0 || (size > 0 && pwrite(fd, data, size, 0) != (ssize_t)size))
        abort();

    strbuf err = STRBUF_INIT;
    queue_file_record rec = QUEUE_FILE_RECORD_INIT;
    queue_file_reader *r = queue_file_reader_open(fd, 1024, &err);
    if (r == NULL)
        abort();
    off_t rcpt[16];
    int nrcpt = 0, n;
    while ((n = queue_file_reader_next(r, &rec, &err)) > 0) {
        touch(&rec.data);
        if (rec.type == QF_REC_ATTR) {
            touch(&rec.name);
            touch(&rec.value);
        } else if (rec.type == QF_REC_RCPT) {
            touch(&rec.address);
            touch(&rec.orig_rcpt);
            touch(&rec.orcpt);
            if (nrcpt < 16)
                rcpt[nrcpt++] = rec.offset;
        }
    }
    /* Every failure carries a reason. */
    if (n < 0 && err.len == 0)
        abort();
    if (n == 0) {
        for (int i = 0; i < nrcpt; i++)
            if (queue_file_mark_recipient(fd, rcpt[i], QF_RCPT_DELIVERED, &err) < 0)
                abort();
        if (queue_file_validate(fd, 1024, &err) != 0)
            abort();
    }
    queue_file_record_release(&rec);
    queue_file_reader_free(&r);
    strbuf_release(&err);
    return 0;
}
