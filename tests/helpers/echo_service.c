/* echo_service - a test-only daemon built on lib/global/service, for e2e tests of
 * master: proves spawning, limits, triggers and reloads without real daemons.
 *
 * master.cf arguments choose the flavour: "mode=single" (default) greets
 * with "hello <service> <pid>" and echoes lines until EOF or "quit";
 * "mode=trigger" and "mode=resident" log every wake-up as
 * "trigger <service>: <bytes>". "-o echo_greeting=..." is not needed: the
 * greeting includes $service_name as seen through config, proving -o works
 * when main.cf sets echo_extra or an override does ("extra=<value>").
 * A line "stderr TEXT" also writes TEXT to the daemon's stderr.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "lineread.h"
#include "msg.h"
#include "service.h"

static void serve(int fd, const char *service, char **args)
{
    FILE *fp = fdopen(fd, "r+");
    if (!fp)
        msg_fatal("fdopen: %m");
    msg_info("connection on %s", service);
    fprintf(fp, "hello %s %ld uid=%ld extra=%s\n", service, (long)getpid(), (long)getuid(),
            /* A user-defined parameter, set only by some tests. */
            config_is_defined("echo_extra") ? config_get("echo_extra") : "");
    fflush(fp);
    strbuf line = STRBUF_INIT;
    while (line_read(fp, &line, 4096, true) == LINE_OK) {
        if (strbuf_eq(&line, "quit"))
            break;
        /* "stderr TEXT": where does a daemon's stderr go (sanitizer reports)? */
        if (strncmp(strbuf_str(&line), "stderr ", 7) == 0) {
            fprintf(stderr, "%s\n", strbuf_str(&line) + 7);
            fflush(stderr);
        }
        fprintf(fp, "echo: %s\n", strbuf_str(&line));
        fflush(fp);
    }
    strbuf_release(&line);
    /* The skeleton closes fd; give it a private copy to close. */
    int keep = dup(fd);
    fclose(fp);
    if (keep >= 0 && dup2(keep, fd) >= 0)
        close(keep);
}

static void trigger(const char *buf, size_t len, const char *service, char **args)
{
    msg_info("trigger %s: %.*s", service, (int)len, buf);
}

static void run(const char *service, char **args)
{
    strbuf t = STRBUF_INIT;
    for (;;) {
        if (service_wait_trigger(-1, &t) > 0)
            msg_info("trigger %s: %.*s", service, (int)t.len, t.s);
    }
}

int main(int argc, char **argv)
{
    struct service_ops ops = {.mode = SERVICE_SINGLE, .serve = serve};
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "mode=trigger") == 0) {
            ops.mode = SERVICE_TRIGGER;
            ops.trigger = trigger;
        } else if (strcmp(argv[i], "mode=resident") == 0) {
            ops.mode = SERVICE_RESIDENT;
            ops.run = run;
            ops.unlimited = true;
        }
    }
    service_main("echo_service", argc, argv, &ops);
}
