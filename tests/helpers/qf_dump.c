/* qf_dump - test helper: validate a queue file with lib/global/queue_file's reader
 * and print it, one record per line, for end-to-end tests.
 *
 *   qf_dump FILE
 *
 * Output lines: "T sec", "S sender", "F name", "A name=value",
 * "R status notify address|orig|orcpt", "M", "N text" (a content line, long
 * lines joined), "X", then "E" when the END record was reached. Control
 * characters in text are printed as \xNN. Exit 0 for a valid file, 1 for a
 * corrupt one (reason on stderr), 2 for usage or open errors.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "msg.h"
#include "queue_file.h"
#include "strbuf.h"

static void put(const strbuf *sb)
{
    for (size_t i = 0; i < sb->len; i++) {
        unsigned char c = (unsigned char)sb->s[i];
        if ((c < 0x20 && c != 0x09) || c == 0x7f || c == 0x5c)
            printf("\\x%02X", c);
        else
            putchar(c);
    }
}

int main(int argc, char **argv)
{
    msg_init("qf_dump", true);
    if (argc != 2) {
        fprintf(stderr, "usage: qf_dump FILE\n");
        return 2;
    }
    int fd = open(argv[1], O_RDONLY);
    if (fd < 0) {
        perror(argv[1]);
        return 2;
    }
    strbuf err = STRBUF_INIT, line = STRBUF_INIT;
    queue_file_reader *r = queue_file_reader_open(fd, 1 << 20, &err);
    if (!r) {
        fprintf(stderr, "%s\n", strbuf_str(&err));
        return 2;
    }
    queue_file_record rec = QUEUE_FILE_RECORD_INIT;
    int rc;
    while ((rc = queue_file_reader_next(r, &rec, &err)) == 1) {
        switch (rec.type) {
        case QF_REC_TIME:
            printf("T %ld\n", (long)rec.time.tv_sec);
            break;
        case QF_REC_SENDER:
        case QF_REC_FULLNAME:
            printf("%c ", rec.type);
            put(&rec.data);
            putchar('\n');
            break;
        case QF_REC_ATTR:
            printf("A ");
            put(&rec.name);
            putchar('=');
            put(&rec.value);
            putchar('\n');
            break;
        case QF_REC_RCPT:
            printf("R %c %d ", rec.status, rec.notify);
            put(&rec.address);
            putchar('|');
            put(&rec.orig_rcpt);
            putchar('|');
            put(&rec.orcpt);
            putchar('\n');
            break;
        case QF_REC_CONTENT:
        case QF_REC_EXTRACT:
            printf("%c\n", rec.type);
            break;
        case QF_REC_PART:
            strbuf_append(&line, rec.data.s, rec.data.len);
            break;
        case QF_REC_LINE:
            strbuf_append(&line, rec.data.s, rec.data.len);
            printf("N ");
            put(&line);
            putchar('\n');
            strbuf_reset(&line);
            break;
        default:
            break;
        }
    }
    if (rc < 0) {
        fprintf(stderr, "corrupt: %s\n", strbuf_str(&err));
        return 1;
    }
    printf("E\n");
    queue_file_record_release(&rec);
    queue_file_reader_free(&r);
    close(fd);
    return 0;
}
