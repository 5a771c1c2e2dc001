/* postlog - write a line to the mail log (postlog(1) compatible).
 *
 * Usage: postlog [-iv] [-c config_dir] [-p priority] [-t tag] [text...]
 *   text        one record; without text, one record per line of stdin
 *   -p priority info (default), warn, error, fatal or panic: the record
 *               gets that level's prefix ("warning: " ...); as in Postfix
 *               3.1 and later, fatal and panic do not end the command
 *   -t tag      the record's tag instead of "$syslog_name/postlog"
 *   -i          accepted: every record carries the process ID anyway
 * Records go where the daemons' go (syslog, or maillog_file: lib/global/
 * mail_log) and to stderr when that is a terminal. Control characters in
 * the text become '?' and a record is at most line_length_limit bytes (the
 * rest of a longer stdin line is dropped), so what a user logs cannot forge
 * other records.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "config.h"
#include "mail_log.h"
#include "msg.h"
#include "strbuf.h"

static _Noreturn void usage(void)
{
    msg_fatal_status(EX_USAGE,
                     "usage: postlog [-iv] [-c config_dir] [-p priority] [-t tag] [text...]");
}

static void log_record(const char *priority, const char *text, size_t len, size_t limit)
{
    strbuf sb = STRBUF_INIT;
    if (len > limit)
        len = limit;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        strbuf_putc(&sb, c < 0x20 || c == 0x7f ? '?' : (char)c);
    }
    (void)msg_log_named(priority, strbuf_str(&sb));
    strbuf_release(&sb);
}

int main(int argc, char **argv)
{
    msg_init("postlog", true);
    const char *opt_c = NULL, *priority = "info", *tag = NULL;
    int c;
    while ((c = getopt(argc, argv, "c:ip:t:v")) != -1) {
        switch (c) {
        case 'c':
            opt_c = optarg;
            break;
        case 'i':
            break;
        case 'p':
            priority = optarg;
            break;
        case 't':
            tag = optarg;
            break;
        case 'v':
            msg_verbose++;
            break;
        default:
            usage();
        }
    }
    static const char *const levels[] = {"info", "warn", "error", "fatal", "panic"};
    bool known = false;
    for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++)
        known |= strcmp(priority, levels[i]) == 0;
    if (!known)
        msg_fatal_status(EX_USAGE,
                         "unknown priority value: \"%s\" (expected info, warn, error, "
                         "fatal or panic)",
                         priority);
    if (tag && (!*tag || strlen(tag) > 100))
        msg_fatal_status(EX_USAGE, "bad tag: \"%s\"", tag);
    config_load_or_die(config_choose_dir(opt_c, false));
    (void)mail_log_setup(MAIL_LOG_WARN);
    if (tag)
        msg_set_ident(tag);
    if (!isatty(STDERR_FILENO))
        msg_stderr_warnings(false);
    long long ll = config_get_int("line_length_limit");
    size_t limit = ll > 0 ? (size_t)ll : 2048;
    if (optind < argc) {
        strbuf text = STRBUF_INIT;
        for (int i = optind; i < argc; i++) {
            if (i > optind)
                strbuf_putc(&text, ' ');
            strbuf_puts(&text, argv[i]);
        }
        log_record(priority, text.s, text.len, limit);
        strbuf_release(&text);
        return 0;
    }
    /* Never more than `limit` bytes of a line in memory. */
    strbuf line = STRBUF_INIT;
    int ch;
    bool pending = false;
    while ((ch = getchar()) != EOF) {
        if (ch == '\n') {
            log_record(priority, line.s ? line.s : "", line.len, limit);
            strbuf_reset(&line);
            pending = false;
            continue;
        }
        if (line.len < limit)
            strbuf_putc(&line, (char)ch);
        pending = true;
    }
    if (pending)
        log_record(priority, line.s ? line.s : "", line.len, limit);
    strbuf_release(&line);
    return 0;
}
