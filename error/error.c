/* error - the error(8) and retry delivery agent.
 *
 * Serves qmgr's delivery requests (lib/global/deliver_request.h) for the
 * transports whose master.cf command is "error", as Postfix's error(8):
 * the next hop is "[d.s.n ]text" (transport_maps "x.example
 * error:5.7.1 no mail here", an access FILTER error:..., resolve's
 * "User unknown in virtual alias table"). Served as any service name but
 * "retry", every recipient bounces with that status (class 5; another
 * class becomes 5.0.0, as Postfix's bounce_append insists); as "retry"
 * (stock master.cf: "retry unix ... error") every recipient is deferred
 * (class 4, else 4.0.0). The log line has relay=none. Nothing is
 * contacted and nothing is read from the queue file, so the agent runs as
 * mail_owner (unpriv = y in the stock master.cf).
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>

#include "deliver_request.h"
#include "dsn.h"
#include "service.h"

static bool retry_mode;

static void process_one(struct deliver_request *req)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    int64_t start = (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
    char dsn[16];
    const char *fallback = retry_mode ? "4.0.0" : "5.0.0";
    const char *text = dsn_split_text(req->nexthop ? req->nexthop : "", dsn, sizeof(dsn), fallback);
    if (dsn[0] != fallback[0])
        snprintf(dsn, sizeof(dsn), "%s", fallback);
    if (!*text)
        text = retry_mode ? "delivery deferred" : "mail for this destination is not accepted";
    deliver_request_finish_all(req, -1, start, "none",
                               retry_mode ? DELIVER_DEFERRED : DELIVER_BOUNCED, dsn, text);
}

static void error_serve(int fd, const char *service, char **args)
{
    (void)service;
    (void)args;
    deliver_request_serve_each(fd, process_one);
}

static void error_init(const char *service, char **args)
{
    (void)args;
    retry_mode = strcmp(service, "retry") == 0;
}

int main(int argc, char **argv)
{
    static const struct service_ops ops = {
        .mode = SERVICE_SINGLE,
        .post_init = error_init,
        .serve = error_serve,
    };
    service_main("error", argc, argv, &ops);
}
