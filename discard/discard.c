/* discard - the discard(8) delivery agent.
 *
 * Serves qmgr's delivery requests (lib/global/deliver_request.h) for the
 * transports whose master.cf command is "discard", as Postfix's
 * discard(8): every recipient counts as delivered, with the next hop
 * ("[d.s.n ]text", class 2, else 2.0.0) as the reason logged,
 * "status=sent (text)" with relay=none. Each recipient is marked DELIVERED
 * in the queue file before the reply, as every agent does (invariant 3).
 */
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "config.h"
#include "deliver_request.h"
#include "dsn.h"
#include "mail_queue.h"
#include "msg.h"
#include "queue_file.h"
#include "service.h"

static void process_one(struct deliver_request *req)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    int64_t start = (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
    char dsn[16];
    const char *text = dsn_split_text(req->nexthop ? req->nexthop : "", dsn, sizeof(dsn), "2.0.0");
    if (dsn[0] != '2')
        snprintf(dsn, sizeof(dsn), "2.0.0");
    strbuf err = STRBUF_INIT;
    int fd = queue_file_open(config_get("queue_directory"), req->queue_name,
                             mail_queue_depth(req->queue_name), req->queue_id, true, &err);
    if (fd < 0) {
        /* Without the mark a restart would deliver again: defer instead. */
        msg_warn("%s: cannot open queue file: %s", req->queue_id, err.s);
        deliver_request_finish_all(req, -1, start, "none", DELIVER_DEFERRED, "4.3.0",
                                   "cannot update the queue file");
    } else {
        deliver_request_finish_all(req, fd, start, "none", DELIVER_SENT, dsn, text);
        close(fd);
    }
    strbuf_release(&err);
}

static void discard_serve(int fd, const char *service, char **args)
{
    (void)service;
    (void)args;
    deliver_request_serve_each(fd, process_one);
}

int main(int argc, char **argv)
{
    static const struct service_ops ops = {
        .mode = SERVICE_SINGLE,
        .serve = discard_serve,
    };
    service_main("discard", argc, argv, &ops);
}
