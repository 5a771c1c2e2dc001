/* postkick - send a request to a mail system service (postkick(1)).
 *
 * Usage: postkick [-c config_dir] [-v] [-t timeout] class service request
 *   class    "public" or "private" (the socket directory under
 *            queue_directory)
 *   service  the socket's name there (qmgr, pickup, ...)
 *   request  the bytes to send, e.g. "W" (wake up), "I" (scan incoming),
 *            "D" (scan deferred), "F" (flush dead destinations), "A"
 *            (ignore retry times): Postfix's trigger codes, read by qmgr
 *            and pickup. A service that is not listening fails with exit
 *            status 69 (EX_UNAVAILABLE), as Postfix's mail_trigger does.
 * Class and service are checked to be plain names, so the request never
 * goes anywhere but a socket of this mail system.
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
#include "sock.h"
#include "strbuf.h"

static _Noreturn void usage(void)
{
    msg_fatal_status(EX_USAGE,
                     "usage: postkick [-c config_dir] [-v] [-t timeout] class service request");
}

static bool plain_name(const char *s)
{
    if (!*s || strlen(s) > 100)
        return false;
    for (; *s; s++)
        if (!(*s >= 'a' && *s <= 'z') && !(*s >= 'A' && *s <= 'Z') && !(*s >= '0' && *s <= '9') &&
            *s != '-' && *s != '_' && *s != '.')
            return false;
    return true;
}

int main(int argc, char **argv)
{
    msg_init("postkick", true);
    const char *opt_c = NULL;
    long timeout_s = 10;
    int c;
    while ((c = getopt(argc, argv, "c:t:v")) != -1) {
        switch (c) {
        case 'c':
            opt_c = optarg;
            break;
        case 't': {
            char *end;
            timeout_s = strtol(optarg, &end, 10);
            if (*end || timeout_s <= 0 || timeout_s > 3600)
                msg_fatal_status(EX_USAGE, "bad timeout: \"%s\"", optarg);
            break;
        }
        case 'v':
            msg_verbose++;
            break;
        default:
            usage();
        }
    }
    if (argc - optind != 3)
        usage();
    const char *class = argv[optind], *service = argv[optind + 1], *request = argv[optind + 2];
    if (strcmp(class, "public") != 0 && strcmp(class, "private") != 0)
        msg_fatal_status(EX_USAGE, "bad class: \"%s\" (expected public or private)", class);
    if (!plain_name(service) || service[0] == '.')
        msg_fatal_status(EX_USAGE, "bad service name: \"%s\"", service);
    if (!*request)
        msg_fatal_status(EX_USAGE, "empty request");
    config_load_or_die(config_choose_dir(opt_c, false));
    (void)mail_log_setup(MAIL_LOG_QUIET);
    strbuf rel = STRBUF_INIT, path = STRBUF_INIT, err = STRBUF_INIT;
    strbuf_printf(&rel, "%s/%s", class, service);
    if (sock_unix_path(config_get("queue_directory"), rel.s, &path, &err) < 0)
        msg_fatal_status(EX_USAGE, "%s", strbuf_str(&err));
    if (sock_trigger(path.s, request, strlen(request), (int)(timeout_s * 1000), &err) < 0)
        msg_fatal_status(EX_UNAVAILABLE, "%s service not available: %s", rel.s, strbuf_str(&err));
    strbuf_release(&rel);
    strbuf_release(&path);
    strbuf_release(&err);
    return 0;
}
