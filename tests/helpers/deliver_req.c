/* deliver_req - test helper: play qmgr for one delivery request.
 *
 *   deliver_req QUEUE_DIR TRANSPORT NEXTHOP SENDER RCPT... < message
 *
 * Queues the message (LF or CRLF lines) as incoming/<id> with lib/global/queue_file
 * (owned by mail_owner "postfix" so the agent can mark recipients), sends a
 * lib/global/deliver_request to QUEUE_DIR/private/TRANSPORT, and prints the
 * agent's reply, one line per recipient:
 *   "<rcpt> <status> <dsn> <mark> <reason>"
 * where mark is the recipient's status byte in the queue file afterwards
 * (T todo, D delivered). The first line is "id <queue id>". Exit 0 when a
 * reply came back, 1 otherwise.
 */
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "attr.h"
#include "deliver_request.h"
#include "msg.h"
#include "queue_file.h"
#include "sock.h"
#include "stream.h"

#define LIMIT (1024 * 1024)

int main(int argc, char **argv)
{
    msg_init("deliver_req", true);
    if (argc < 6) {
        fprintf(stderr, "usage: deliver_req QUEUE_DIR TRANSPORT NEXTHOP SENDER RCPT...\n");
        return 2;
    }
    const char *qdir = argv[1], *transport = argv[2], *nexthop = argv[3], *sender = argv[4];
    strbuf err = STRBUF_INIT;
    queue_file *qf = queue_file_create(qdir, "incoming", false, LIMIT, &err);
    if (qf == NULL)
        msg_fatal("create: %s", err.s);
    struct deliver_request req = {0};
    req.queue_name = strdup("incoming");
    req.queue_id = strdup(queue_file_id(qf));
    req.nexthop = strdup(nexthop);
    req.sender = strdup(sender);
    req.envid = strdup("");
    req.ret = strdup("");
    struct timeval now;
    gettimeofday(&now, NULL);
    req.arrival_us = req.active_us = (int64_t)now.tv_sec * 1000000 + now.tv_usec;
    queue_file_put_time(qf, &now);
    queue_file_put_sender(qf, sender);
    for (int i = 5; i < argc; i++) {
        struct queue_file_rcpt_in in = {.address = argv[i]};
        off_t off = 0;
        queue_file_put_rcpt(qf, &in, &off);
        deliver_request_add_rcpt(&req, argv[i], "", "", 0, off);
    }
    queue_file_begin_content(qf);
    if (queue_file_put_stream(qf, stdin, true, &err) < 0)
        msg_fatal("content: %s", err.s);
    strbuf path = STRBUF_INIT;
    strbuf_set(&path, queue_file_path(qf));
    if (queue_file_commit(&qf, &err) < 0)
        msg_fatal("commit: %s", err.s);
    struct passwd *pw = getpwnam("postfix");
    if (pw && chown(path.s, pw->pw_uid, pw->pw_gid) < 0)
        msg_fatal("chown %s: %m", path.s);
    printf("id %s\n", req.queue_id);
    fflush(stdout);

    strbuf sockpath = STRBUF_INIT;
    strbuf_printf(&sockpath, "%s/private/%s", qdir, transport);
    int fd = sock_unix_connect(sockpath.s, 10000, &err);
    if (fd < 0)
        msg_fatal("connect: %s", err.s);
    stream *st = stream_open(fd);
    stream_set_timeout(st, 600000);
    attr_list out = ATTR_LIST_INIT, in = ATTR_LIST_INIT;
    deliver_request_encode(&req, &out);
    if (attr_send(st, &out, &err) != ATTR_OK)
        msg_fatal("send: %s", err.s);
    if (attr_recv(st, &deliver_request_limits, &in, &err) != ATTR_OK)
        msg_fatal("no reply: %s", err.s);
    if (deliver_reply_apply(&in, &req, &err) < 0)
        msg_fatal("bad reply: %s", err.s);
    int qfd = queue_file_open(qdir, "incoming", 0, req.queue_id, false, &err);
    for (size_t i = 0; i < req.nrcpt; i++) {
        char mark = '?';
        if (qfd >= 0 && pread(qfd, &mark, 1, req.rcpts[i].offset + QF_RCPT_STATUS_AT) != 1)
            mark = '?';
        printf("%s %s %s %c %s\n", req.rcpts[i].address, deliver_status_name(req.rcpts[i].status),
               req.rcpts[i].dsn ? req.rcpts[i].dsn : "-", mark, req.rcpts[i].reason.s);
    }
    stream_close(&st);
    return 0;
}
