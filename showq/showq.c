/* showq - list the queue for postqueue -p / -j / mailq.
 *
 * Serves lib/global/showq_proto.h on public/showq (master.cf "showq unix n - n - -
 * showq"), or one client on stdin with -S (root's postqueue when master is
 * down). Reads queue files with the queue_file reader only: the listing is
 * built from what is on disk, incomplete files are skipped, and a file that
 * does not parse is left alone (qmgr owns moving it to corrupt/). Delay
 * reasons come from defer/<ID> (Postfix's bounce-log format: blank-line
 * separated blocks of name=value lines, recipient= and reason= used).
 *
 * "request=flush" (postqueue -i) makes one deferred message due now: its
 * mtime (qmgr's next-retry time) is set to the present and qmgr is woken
 * with a deferred-queue scan. This stands in for Postfix's flush service.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "bounce_log.h"
#include "config.h"
#include "mem.h"
#include "msg.h"
#include "queue_file.h"
#include "queue_id.h"
#include "service.h"
#include "mail_queue.h"
#include "showq_proto.h"
#include "sock.h"
#include "strlist.h"

/* Bounds on what one message may make us hold. */
#define FIELD_MAX 8000

static const char *const queues[] = {"maildrop", "hold", "incoming", "active", "deferred"};

struct reasons {
    strlist *rcpt, *why;
};

static void add_reason(void *ctx, const struct bounce_log_entry *e)
{
    struct reasons *r = ctx;
    /* Fields longer than the protocol carries are left out, not clipped. */
    if (strlen(e->recipient) > FIELD_MAX)
        return;
    strlist_push(r->rcpt, e->recipient);
    strlist_push(r->why, e->reason && strlen(e->reason) <= FIELD_MAX ? e->reason : "");
}

/* recipient -> reason pairs from the defer log. */
static void load_reasons(const char *id, strlist *rcpt, strlist *why)
{
    struct reasons r = {rcpt, why};
    strbuf err = STRBUF_INIT;
    if (bounce_log_read(".", BOUNCE_LOG_DEFER, id, add_reason, &r, &err) < 0)
        msg_warn("%s: %s", id, err.s);
    strbuf_release(&err);
}

static const char *reason_for(const strlist *rcpt, const strlist *why, const char *addr)
{
    for (size_t i = rcpt->n; i-- > 0;) /* the latest attempt wins */
        if (strcmp(rcpt->v[i], addr) == 0)
            return why->v[i];
    return "";
}

static int send_list(stream *st, attr_list *al)
{
    strbuf err = STRBUF_INIT;
    int rc = attr_write(st, al, &err);
    if (rc != ATTR_OK)
        msg_warn("showq client: %s", strbuf_str(&err));
    strbuf_release(&err);
    attr_list_reset(al);
    return rc == ATTR_OK ? 0 : -1;
}

/* Clip a field for the protocol's value limit. */
static void add_field(attr_list *al, const char *name, const strbuf *v)
{
    size_t len = v->len > FIELD_MAX ? FIELD_MAX : v->len;
    attr_add_data(al, name, v->s ? v->s : "", len);
}

static int show_file(stream *st, const char *queue, int depth, const char *id)
{
    strbuf err = STRBUF_INIT;
    int fd = queue_file_open(".", queue, depth, id, false, &err);
    if (fd < 0) {
        strbuf_release(&err);
        return 0; /* incomplete, gone, or unreadable: not listed */
    }
    struct stat st_file;
    queue_file_reader *r = queue_file_reader_open(fd, mail_queue_read_limit(), &err);
    queue_file_record rec = QUEUE_FILE_RECORD_INIT;
    strbuf sender = STRBUF_INIT;
    strlist rcpts = STRLIST_INIT;
    long arrival = 0;
    int n = -1, rc = 0;
    while (r && (n = queue_file_reader_next(r, &rec, &err)) > 0) {
        if (rec.type == QF_REC_TIME)
            arrival = (long)rec.time.tv_sec;
        else if (rec.type == QF_REC_SENDER)
            strbuf_set(&sender, strbuf_str(&rec.data));
        else if (rec.type == QF_REC_RCPT && rec.status == QF_RCPT_TODO)
            strlist_push(&rcpts, strbuf_str(&rec.address));
    }
    if (n == 0 && fstat(fd, &st_file) == 0) {
        const struct queue_file_size *sz = queue_file_reader_size(r);
        attr_list al = ATTR_LIST_INIT;
        strlist why_rcpt = STRLIST_INIT, why = STRLIST_INIT;
        if (strcmp(queue, "deferred") == 0)
            load_reasons(id, &why_rcpt, &why);
        if (sender.len == 0)
            strbuf_set(&sender, "MAILER-DAEMON");
        attr_add_str(&al, "type", "message");
        attr_add_str(&al, "queue_name", queue);
        attr_add_str(&al, "queue_id", id);
        attr_add_int(&al, "arrival_time", arrival);
        attr_add_int(&al, "message_size", (int64_t)sz->content_size);
        /* Postfix's forced-expiry mark: group execute bit (postsuper -e). */
        attr_add_int(&al, "forced_expire", (st_file.st_mode & S_IXGRP) ? 1 : 0);
        add_field(&al, "sender", &sender);
        rc = send_list(st, &al);
        for (size_t i = 0; rc == 0 && i < rcpts.n; i++) {
            strbuf a = STRBUF_INIT, w = STRBUF_INIT;
            strbuf_set(&a, rcpts.v[i]);
            strbuf_set(&w, reason_for(&why_rcpt, &why, rcpts.v[i]));
            attr_add_str(&al, "type", "rcpt");
            add_field(&al, "address", &a);
            add_field(&al, "reason", &w);
            rc = send_list(st, &al);
            strbuf_release(&a);
            strbuf_release(&w);
        }
        attr_list_release(&al);
        strlist_release(&why_rcpt);
        strlist_release(&why);
    }
    if (r)
        queue_file_reader_free(&r);
    queue_file_record_release(&rec);
    strbuf_release(&sender);
    strlist_release(&rcpts);
    strbuf_release(&err);
    close(fd);
    return rc;
}

/* Show every message in `queue` (hash directories included). */
static int walk(stream *st, const char *queue, int depth)
{
    mail_queue_scan *sc = mail_queue_scan_open(AT_FDCWD, queue, depth);
    const char *name;
    int rc = 0;
    while (rc == 0 && (name = mail_queue_scan_next(sc)) != NULL)
        rc = show_file(st, queue, depth, name);
    mail_queue_scan_close(&sc);
    return rc;
}

static void list_queue(stream *st)
{
    attr_list al = ATTR_LIST_INIT;
    for (size_t i = 0; i < sizeof(queues) / sizeof(queues[0]); i++)
        if (walk(st, queues[i], mail_queue_depth(queues[i])) < 0)
            return;
    attr_add_str(&al, "type", "end");
    (void)send_list(st, &al);
    attr_list_release(&al);
}

static void flush_one(stream *st, const char *id)
{
    attr_list al = ATTR_LIST_INIT;
    strbuf path = STRBUF_INIT, err = STRBUF_INIT;
    const char *why = NULL;
    if (mail_queue_path(&path, "deferred", id) < 0) {
        why = "invalid queue ID";
    } else {
        /* qmgr's deferred scan takes files whose mtime (next retry) has come. */
        if (utimes(strbuf_str(&path), NULL) < 0)
            why = errno == ENOENT ? "no such message in the deferred queue" : strerror(errno);
    }
    if (!why) {
        strbuf trig = STRBUF_INIT;
        if (sock_unix_path(".", "public/qmgr", &trig, &err) < 0 ||
            sock_trigger(strbuf_str(&trig), "D", 1, 1000, &err) < 0)
            msg_warn("wake up qmgr: %s", strbuf_str(&err));
        strbuf_release(&trig);
        msg_info("%s: flush requested", id);
    }
    attr_add_int(&al, "status", why ? 1 : 0);
    if (why)
        attr_add_str(&al, "reason", why);
    (void)send_list(st, &al);
    attr_list_release(&al);
    strbuf_release(&path);
    strbuf_release(&err);
}

static void showq_serve(int fd, const char *service, char **args)
{
    stream *st = stream_open(fd);
    stream_set_timeout(st, 60000);
    attr_list req = ATTR_LIST_INIT;
    strbuf err = STRBUF_INIT;
    const char *what = NULL, *id = NULL;
    if (attr_recv(st, &showq_attr_limits, &req, &err) != ATTR_OK ||
        attr_get_str(&req, "request", &what, &err) < 0) {
        msg_warn("showq client: %s", strbuf_str(&err));
    } else if (strcmp(what, "list") == 0) {
        list_queue(st);
    } else if (strcmp(what, "flush") == 0 && attr_get_str(&req, "queue_id", &id, &err) == 0) {
        flush_one(st, id);
    } else {
        msg_warn("showq client: bad request");
    }
    (void)stream_flush(st);
    (void)stream_release(&st);
    attr_list_release(&req);
    strbuf_release(&err);
}

int main(int argc, char **argv)
{
    static const struct service_ops ops = {
        .mode = SERVICE_SINGLE,
        .serve = showq_serve,
    };
    service_main("showq", argc, argv, &ops);
}
