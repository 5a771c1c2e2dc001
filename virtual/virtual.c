/* virtual - the virtual(8) mailbox delivery agent.
 *
 * Serves qmgr's delivery requests (lib/global/deliver_request.h) on
 * private/virtual, as Postfix's virtual(8): each recipient is looked up in
 * virtual_mailbox_maps, virtual_uid_maps and virtual_gid_maps (the address,
 * the address without its recipient_delimiter extension, then @domain);
 * the mailbox is $virtual_mailbox_base/<result>, a Maildir when the result
 * ends in "/", else an mbox file locked per virtual_mailbox_lock and
 * limited to virtual_mailbox_limit bytes. The path comes only from the
 * table result, checked by lib/global/virtual_mailbox (never from the
 * address). A uid or gid below virtual_minimum_uid defers with a warning,
 * as Postfix does. Runs as root (unpriv = n) and writes with the table's
 * uid/gid as effective ids.
 *
 * The message is rendered, and written to the Maildir or mbox, by the same
 * lib/global modules local(8) uses (mailbox_content with its Return-Path,
 * X-Original-To and Delivered-To; mailbox_maildir, mailbox_mbox): one way
 * to write a mailbox. virtual does not link local(8)'s code.
 */
#include <errno.h>
#include <grp.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <unistd.h>

#include "address.h"
#include "config.h"
#include "delivery_log.h"
#include "mail_queue.h"
#include "mail_copy.h"
#include "mailbox_content.h"
#include "maps.h"
#include "msg.h"
#include "queue_file.h"
#include "service.h"
#include "virtual_mailbox.h"

static struct {
    maps *mailbox_maps, *uid_maps, *gid_maps;
    const char *base;
    const char *delimiter;
    unsigned long minimum_uid;
    long long limit;
    int lock_methods;
    bool original_recipient; /* enable_original_recipient: X-Original-To */
    size_t record_limit;
} vcfg;

/* The message being delivered. */
struct vmessage {
    const struct deliver_request *req;
    int fd;
    int64_t start_us;
};

static int64_t now_us(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
}

/* Postfix's mail_addr_find for a virtual domain: address, address minus
 * extension, @domain. 1 found (value), 0 not, -1 table failure (err). */
static int find(maps *m, const char *addr, strbuf *value, strbuf *err)
{
    size_t len = strlen(addr), at = len;
    if (!addr_split(addr, len, &at) || at == len)
        return 0;
    size_t base = at;
    bool ext =
        vcfg.delimiter[0] && addr_split_extension(addr, at, vcfg.delimiter, &base) && base < at;
    strbuf key = STRBUF_INIT;
    int result = 0;
    for (int pass = 0; pass < 3 && result == 0; pass++) {
        strbuf_reset(&key);
        if (pass == 0) {
            strbuf_append(&key, addr, len);
        } else if (pass == 1) {
            if (!ext)
                continue;
            strbuf_append(&key, addr, base);
            strbuf_append(&key, addr + at, len - at);
        } else {
            strbuf_append(&key, addr + at, len - at);
        }
        enum map_result r = maps_find(m, key.s, 0, value, err);
        result = r == MAP_FOUND ? 1 : r == MAP_TEMPFAIL ? -1 : 0;
    }
    strbuf_release(&key);
    return result;
}

struct outcome {
    enum deliver_status status;
    char dsn[8];
    strbuf text;
};

static void set(struct outcome *o, enum deliver_status st, const char *dsn, const char *text)
{
    o->status = st;
    snprintf(o->dsn, sizeof(o->dsn), "%s", dsn);
    strbuf_set(&o->text, text);
}

static void mailbox_error(struct outcome *o, int err_no, const char *what, const strbuf *err)
{
    strbuf t = STRBUF_INIT;
    strbuf_printf(&t, "cannot update %s: %s", what, err->s ? err->s : "");
    struct mailbox_failure f = mailbox_failure(err_no); /* as local(8) */
    set(o, f.status, f.dsn, t.s);
    strbuf_release(&t);
}

static void write_mailbox(const struct vmessage *msg, const struct deliver_rcpt *rc,
                          const char *path, bool maildir, uid_t uid, struct outcome *o)
{
    strbuf err = STRBUF_INIT;
    struct rlimit old = mailbox_size_limit_enter(vcfg.limit);
    const struct mailbox_message m = {
        .fd = msg->fd,
        .record_limit = vcfg.record_limit,
        .sender = msg->req->sender,
        .arrival = (time_t)(msg->req->arrival_us / 1000000),
    };
    struct mailbox_render *r =
        mailbox_render_open(&m, maildir ? MAILBOX_FORMAT_MAILDIR : MAILBOX_FORMAT_MBOX, rc->address,
                            vcfg.original_recipient ? rc->orig_rcpt : NULL, &err);
    int ret = -1, err_no = 0;
    if (maildir) {
        struct maildir_delivery md;
        if (r && maildir_begin(&md, path, maildir_local_hostname(), &err) == 0) {
            if (mailbox_render_to_maildir(r, &md, &err) == 0)
                ret = maildir_commit(&md, &err);
            err_no = errno;
            maildir_end(&md);
        } else {
            err_no = errno;
        }
    } else {
        struct mbox_delivery mb;
        if (r && mbox_begin(&mb, path, vcfg.lock_methods, uid, &err) == 0) {
            if (mailbox_render_to_mbox(r, &mb, &err) == 0)
                ret = mbox_commit(&mb, &err);
            err_no = errno;
            mbox_end(&mb);
        } else {
            err_no = errno;
        }
    }
    mailbox_render_close(&r);
    mailbox_size_limit_leave(old);
    if (ret == 0)
        set(o, DELIVER_SENT, "2.0.0", maildir ? "delivered to maildir" : "delivered to mailbox");
    else
        mailbox_error(o, err_no, maildir ? "maildir" : "mailbox", &err);
    strbuf_release(&err);
}

/* One id from its table; 0 ok, else *o says why (deferred). */
static int lookup_id(maps *m, const char *param, const char *kind, const char *addr,
                     unsigned long minimum, unsigned long *id, struct outcome *o)
{
    strbuf v = STRBUF_INIT, err = STRBUF_INIT, t = STRBUF_INIT;
    int rc = find(m, addr, &v, &err);
    if (rc < 0) {
        msg_warn("%s: %s", param, err.s);
        set(o, DELIVER_DEFERRED, "4.3.0", "table lookup failure");
    } else if (rc == 0) {
        msg_warn("recipient %s: not found in %s", addr, param);
        strbuf_printf(&t, "mail system configuration error");
        set(o, DELIVER_DEFERRED, "4.3.5", t.s);
        rc = -1;
    } else if (virtual_mailbox_id(v.s, minimum, id, &err) < 0) {
        /* Postfix's words; the reason follows for the administrator. */
        msg_warn("recipient %s: bad %s %s in %s (%s)", addr, kind, v.s, param, err.s);
        set(o, DELIVER_DEFERRED, "4.3.5", "mail system configuration error");
        rc = -1;
    } else {
        rc = 0;
    }
    strbuf_release(&v);
    strbuf_release(&err);
    strbuf_release(&t);
    return rc;
}

static void deliver_rcpt(const struct vmessage *msg, struct deliver_rcpt *rc, struct outcome *o)
{
    strbuf v = STRBUF_INIT, err = STRBUF_INIT, path = STRBUF_INIT;
    unsigned long uid = 0, gid = 0;
    bool maildir = false;
    int found = find(vcfg.mailbox_maps, rc->address, &v, &err);
    if (found < 0) {
        msg_warn("virtual_mailbox_maps: %s", err.s);
        set(o, DELIVER_DEFERRED, "4.3.0", "table lookup failure");
    } else if (found == 0) {
        strbuf t = STRBUF_INIT;
        strbuf_printf(&t, "unknown user: \"%s\"", rc->address);
        set(o, DELIVER_BOUNCED, "5.1.1", t.s);
        strbuf_release(&t);
    } else if (virtual_mailbox_path(vcfg.base, v.s, &path, &maildir, &err) < 0) {
        msg_warn("recipient %s: %s", rc->address, err.s);
        set(o, DELIVER_DEFERRED, "4.3.5", "mail system configuration error");
    } else if (lookup_id(vcfg.uid_maps, "virtual_uid_maps", "uid", rc->address, vcfg.minimum_uid,
                         &uid, o) == 0 &&
               lookup_id(vcfg.gid_maps, "virtual_gid_maps", "gid", rc->address, 1, &gid, o) == 0) {
        if (msg->req->flags & DELIVER_FLAG_VERIFY) {
            set(o, DELIVER_SENT, "2.0.0", maildir ? "delivers to maildir" : "delivers to mailbox");
        } else if (setegid((gid_t)gid) < 0 || seteuid((uid_t)uid) < 0) {
            strbuf t = STRBUF_INIT;
            strbuf_printf(&t, "cannot switch to uid %lu: %s", uid, strerror(errno));
            set(o, DELIVER_DEFERRED, "4.3.0", t.s);
            strbuf_release(&t);
        } else {
            write_mailbox(msg, rc, path.s, maildir, (uid_t)uid, o);
        }
        if (seteuid(0) < 0 || setegid(0) < 0)
            msg_fatal("cannot restore root privileges: %m");
    }
    strbuf_release(&v);
    strbuf_release(&err);
    strbuf_release(&path);
}

static void process_one(struct deliver_request *req)
{
    strbuf err = STRBUF_INIT;
    struct vmessage msg = {.req = req, .start_us = now_us()};
    msg.fd = queue_file_open(config_get("queue_directory"), req->queue_name,
                             mail_queue_depth(req->queue_name), req->queue_id, true, &err);
    /* The header section is read first, as local(8) does for its loop
     * check: a queue file that cannot be read defers every recipient at
     * once instead of failing each mailbox write. */
    strlist delivered_to = STRLIST_INIT;
    if (msg.fd < 0 ||
        mail_copy_delivered_to(msg.fd, vcfg.record_limit, &delivered_to, &err) < 0) {
        msg_warn("%s: cannot read queue file: %s", req->queue_id, err.s);
        for (size_t i = 0; i < req->nrcpt; i++)
            deliver_rcpt_set(&req->rcpts[i], DELIVER_DEFERRED, "4.3.0",
                             "cannot read queue file: %s", err.s);
    } else {
        for (size_t i = 0; i < req->nrcpt; i++) {
            struct deliver_rcpt *rc = &req->rcpts[i];
            struct outcome o = {.status = DELIVER_DEFERRED};
            deliver_rcpt(&msg, rc, &o);
            bool verify = (req->flags & DELIVER_FLAG_VERIFY) != 0;
            if (o.status == DELIVER_SENT && !verify) {
                strbuf_reset(&err);
                if (queue_file_mark_recipient(msg.fd, rc->offset, QF_RCPT_DELIVERED, &err) < 0)
                    msg_warn("%s: cannot mark recipient done: %s", req->queue_id, err.s);
            }
            int64_t done = now_us();
            struct delivery_record rec = {
                .queue_id = req->queue_id,
                .recipient = rc->address,
                .orig_recipient = *rc->orig_rcpt ? rc->orig_rcpt : rc->address,
                .relay = "virtual",
                .times = {req->arrival_us / 1e6, req->active_us / 1e6, msg.start_us / 1e6,
                          msg.start_us / 1e6, done / 1e6},
                .dsn = o.dsn,
                .status = verify ? (o.status == DELIVER_SENT ? "deliverable" : "undeliverable")
                                 : deliver_status_name(o.status),
                .text = o.text.s,
            };
            delivery_log(&rec);
            deliver_rcpt_set(rc, o.status, o.dsn, "%s", o.text.s);
            strbuf_release(&o.text);
        }
    }
    if (msg.fd >= 0)
        close(msg.fd);
    strlist_release(&delivered_to);
    strbuf_release(&err);
}

static void virtual_serve(int fd, const char *service, char **args)
{
    (void)service;
    (void)args;
    deliver_request_serve_each(fd, process_one);
}

static maps *open_maps(const char *param)
{
    strbuf err = STRBUF_INIT;
    maps *m = maps_open(param, config_get(param), MAP_SURROGATE, &err);
    if (!m)
        msg_fatal("%s", err.s);
    strbuf_release(&err);
    return m;
}

static void virtual_init(const char *service, char **args)
{
    (void)service;
    (void)args;
    if (setgroups(0, NULL) < 0)
        msg_fatal("setgroups: %m");
    signal(SIGXFSZ, SIG_IGN); /* an oversized write fails with EFBIG */
    strbuf err = STRBUF_INIT;
    vcfg.original_recipient = config_get_bool("enable_original_recipient");
    vcfg.record_limit = mail_queue_read_limit();
    vcfg.mailbox_maps = open_maps("virtual_mailbox_maps");
    vcfg.uid_maps = open_maps("virtual_uid_maps");
    vcfg.gid_maps = open_maps("virtual_gid_maps");
    vcfg.base = config_get("virtual_mailbox_base");
    vcfg.delimiter = config_get("recipient_delimiter");
    vcfg.minimum_uid = (unsigned long)config_get_int("virtual_minimum_uid");
    vcfg.limit = config_get_size("virtual_mailbox_limit");
    if (mbox_lock_methods_parse(config_get("virtual_mailbox_lock"), &vcfg.lock_methods, &err) < 0)
        msg_fatal("virtual_mailbox_lock: %s", err.s);
    strbuf_release(&err);
}

int main(int argc, char **argv)
{
    static const struct service_ops ops = {
        .mode = SERVICE_SINGLE,
        .post_init = virtual_init,
        .serve = virtual_serve,
    };
    service_main("virtual", argc, argv, &ops);
}
