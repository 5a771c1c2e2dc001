/* libFuzzer harness: arbitrary bytes as a queue file for postcat's
 * printer (commands/postcat_print), with the section and prefix options
 * taken from the first byte. The bytes go into a memfd (the reader uses
 * pread); output goes to /dev/null. What must hold: no crash or
 * out-of-bounds access whatever the file, and the printer accepts exactly
 * the files queue_file_validate accepts.
 * Seeds: tests/fuzz/seeds/fuzz_postcat_print/ (files written by the real
 * writer). */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "msg.h"
#include "postcat_print.h"
#include "queue_file.h"
#include "strbuf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int fd = -1;
    static FILE *out;
    if (fd < 0) {
        msg_init("fuzz_postcat_print", false);
        fd = memfd_create("postcat", 0);
        out = fopen("/dev/null", "w");
        if (fd < 0 || !out)
            abort();
    }
    int flags = size ? data[0] & 0x1f : 0;
    if (size) {
        data++;
        size--;
    }
    if (ftruncate(fd, 0) < 0 || (size > 0 && pwrite(fd, data, size, 0) != (ssize_t)size))
        abort();
    strbuf err = STRBUF_INIT;
    int rc = postcat_print(fd, "fuzz", flags, 4096, out, &err);
    int valid = queue_file_validate(fd, 4096, &err);
    if (rc != valid)
        abort();
    strbuf_release(&err);
    return 0;
}
