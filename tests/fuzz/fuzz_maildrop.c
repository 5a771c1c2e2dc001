/* libFuzzer harness: arbitrary bytes as a maildrop file for the gate pickup
 * applies (maildrop_load) and its content walk. Seeds: files postdrop wrote
 * (tests/fuzz/seeds/fuzz_maildrop/). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "maildrop.h"
#include "msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t sink;

static int count(void *ctx, const char *d, size_t len, bool line_end)
{
    (void)ctx;
    for (size_t i = 0; i < len; i++)
        sink += (unsigned char)d[i];
    sink += line_end;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int fd = -1;
    if (fd < 0) {
        msg_init("fuzz_maildrop", false);
        fd = memfd_create("maildrop", 0);
        if (fd < 0)
            abort();
    }
    if (ftruncate(fd, 0) < 0 || (size > 0 && pwrite(fd, data, size, 0) != (ssize_t)size))
        abort();
    struct maildrop_msg m = {0};
    strbuf err = STRBUF_INIT;
    if (maildrop_load(fd, 1024, 50, &m, &err) == 0) {
        for (size_t i = 0; i < m.nrcpt; i++)
            sink += m.rcpt[i].address[0] + (m.rcpt[i].orcpt ? 1 : 0);
        if (maildrop_content(fd, 1024, count, NULL, &err) != 0)
            abort(); /* a file that passed the gate must be walkable */
    }
    maildrop_msg_release(&m);
    strbuf_release(&err);
    return 0;
}
