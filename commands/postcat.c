/* postcat - show queue file contents (postcat(1) compatible).
 *
 * Usage: postcat [-bdehoqv] [-c config_dir] [files...]
 *   -e -h -b  envelope, message header, message body (default: all three)
 *   -o -d     prefix each record with its file offset / decimal type
 *   -q        the arguments are queue IDs: search incoming, active,
 *             deferred, hold and maildrop (then corrupt, where a file our
 *             readers refused is kept for the administrator)
 * Without files, standard input is read (copied to a temporary file first
 * when it is not a regular file: the reader works with pread).
 *
 * The file is read through lib/global/queue_file's reader, the same checks
 * qmgr applies (postcat_print.h); a corrupt file is printed up to the
 * broken record, then "postcat: warning: NAME: corrupt queue file: REASON"
 * and exit status 1. An incomplete file (still being written) is reported,
 * not shown: its size record is not final yet.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include "config.h"
#include "mail_log.h"
#include "mail_queue.h"
#include "msg.h"
#include "postcat_print.h"
#include "queue_file.h"
#include "queue_id.h"
#include "strbuf.h"

static const char *const search_queues[] = {"incoming", "active",   "deferred",
                                            "hold",     "maildrop", "corrupt"};

static _Noreturn void usage(void)
{
    msg_fatal_status(EX_USAGE, "usage: postcat [-bdehoqv] [-c config_dir] [files...]");
}

/* 0 printed, 1 corrupt (warned). */
static int show(int fd, const char *name, int flags)
{
    strbuf err = STRBUF_INIT;
    int rc = 0;
    if (postcat_print(fd, name, flags, mail_queue_read_limit(), stdout, &err) < 0) {
        fflush(stdout);
        msg_warn("%s: corrupt queue file: %s", name, strbuf_str(&err));
        rc = 1;
    }
    strbuf_release(&err);
    return rc;
}

static int show_queue_id(const char *id, int flags)
{
    if (!queue_id_valid(id))
        msg_fatal_status(EX_USAGE, "invalid queue ID: \"%s\"", id);
    strbuf err = STRBUF_INIT, name = STRBUF_INIT;
    const char *qdir = config_get("queue_directory");
    bool incomplete = false;
    for (size_t i = 0; i < sizeof(search_queues) / sizeof(search_queues[0]); i++) {
        const char *q = search_queues[i];
        int depth = mail_queue_depth(q);
        int fd = queue_file_open(qdir, q, depth, id, false, &err);
        if (fd == QUEUE_FILE_INCOMPLETE) {
            incomplete = true;
            continue;
        }
        if (fd < 0) {
            if (errno != ENOENT)
                msg_fatal_status(EX_NOINPUT, "open queue file %s: %s", id, strbuf_str(&err));
            continue;
        }
        if (mail_queue_path(&name, q, id) < 0)
            strbuf_printf(&name, "%s/%s", q, id);
        int rc = show(fd, strbuf_str(&name), flags);
        close(fd);
        strbuf_release(&err);
        strbuf_release(&name);
        return rc;
    }
    if (incomplete)
        msg_fatal_status(EX_TEMPFAIL, "queue file %s is still being written; try again later", id);
    msg_fatal_status(EX_NOINPUT, "open queue file %s: No such file or directory", id);
}

/* Standard input as a file the reader can pread. */
static int stdin_file(void)
{
    struct stat st;
    if (fstat(STDIN_FILENO, &st) == 0 && S_ISREG(st.st_mode))
        return STDIN_FILENO;
    FILE *tmp = tmpfile();
    if (!tmp)
        msg_fatal_status(EX_OSERR, "create temporary file: %m");
    char buf[8192];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), stdin)) > 0)
        if (fwrite(buf, 1, n, tmp) != n)
            msg_fatal_status(EX_IOERR, "write temporary file: %m");
    if (ferror(stdin))
        msg_fatal_status(EX_IOERR, "read standard input: %m");
    if (fflush(tmp) != 0)
        msg_fatal_status(EX_IOERR, "write temporary file: %m");
    int fd = dup(fileno(tmp));
    if (fd < 0)
        msg_fatal_status(EX_OSERR, "dup: %m");
    fclose(tmp);
    return fd;
}

int main(int argc, char **argv)
{
    msg_init("postcat", true);
    const char *opt_c = NULL;
    int flags = 0, c;
    bool by_id = false;
    while ((c = getopt(argc, argv, "bc:dehoqv")) != -1) {
        switch (c) {
        case 'b':
            flags |= POSTCAT_BODY;
            break;
        case 'c':
            opt_c = optarg;
            break;
        case 'd':
            flags |= POSTCAT_DECIMAL;
            break;
        case 'e':
            flags |= POSTCAT_ENVELOPE;
            break;
        case 'h':
            flags |= POSTCAT_HEADER;
            break;
        case 'o':
            flags |= POSTCAT_OFFSET;
            break;
        case 'q':
            by_id = true;
            break;
        case 'v':
            msg_verbose++;
            break;
        default:
            usage();
        }
    }
    config_load_or_die(config_choose_dir(opt_c, false));
    (void)mail_log_setup(MAIL_LOG_QUIET);
    int status = 0;
    if (by_id && optind == argc)
        usage();
    if (optind == argc) {
        int fd = stdin_file();
        status |= show(fd, "stdin", flags);
    }
    for (int i = optind; i < argc; i++) {
        if (by_id) {
            status |= show_queue_id(argv[i], flags);
            continue;
        }
        int fd = open(argv[i], O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            msg_fatal_status(EX_NOINPUT, "open %s: %m", argv[i]);
        status |= show(fd, argv[i], flags);
        close(fd);
    }
    if (fflush(stdout) != 0 || ferror(stdout))
        msg_fatal_status(EX_IOERR, "write standard output: %m");
    return status;
}
