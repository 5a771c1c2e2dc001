/* local_forward - forward a message to an address that is not local (an
 * alias or .forward entry naming another domain): a new message goes
 * through cleanup, with Delivered-To: prepended so a loop is detected when
 * it comes back. */
#include <string.h>

#include "cleanup_client.h"
#include "config.h"
#include "local.h"
#include "queue_file.h"

/* Stream the queued content into cleanup. */
static int copy_content(struct local_message *msg, cleanup_client *cc, strbuf *err)
{
    queue_file_reader *reader =
        queue_file_reader_open_head(&msg->head, local_cfg.record_limit, err);
    if (reader == NULL)
        return -1;
    queue_file_record rec = QUEUE_FILE_RECORD_INIT;
    bool in_content = false;
    int ret;
    while ((ret = queue_file_reader_next(reader, &rec, err)) > 0) {
        if (rec.type == QF_REC_CONTENT)
            in_content = true;
        else if (rec.type == QF_REC_EXTRACT)
            break;
        else if (in_content && (rec.type == QF_REC_LINE || rec.type == QF_REC_PART))
            cleanup_client_content(cc, rec.data.s, rec.data.len, rec.type == QF_REC_LINE);
    }
    queue_file_record_release(&rec);
    queue_file_reader_free(&reader);
    return ret < 0 ? -1 : 0;
}

void local_forward(struct local_attempt *at, const char *recipient, const char *address)
{
    /* Not followed further: that would need a verify copy of its own. */
    if (local_verifying(at)) {
        local_outcome(at, address, DELIVER_SENT, "2.0.0", "forwards to %s", address);
        (void)recipient;
        return;
    }
    const struct deliver_request *req = at->msg->req;
    strbuf queue_id = STRBUF_INIT, reply = STRBUF_INIT, err = STRBUF_INIT;
    int timeout_ms = (int)config_get_time("ipc_timeout") * 1000;
    cleanup_client *cc = cleanup_client_open(local_cfg.queue_directory, CLEANUP_FLAG_NONE,
                                             timeout_ms, &queue_id, &reply);
    if (cc == NULL) {
        local_outcome(at, recipient, DELIVER_DEFERRED, "4.3.0", "cannot forward: %s", reply.s);
        goto out;
    }
    struct cleanup_envelope env = {
        .sender = req->sender,
        .rewrite_context = "local",
        .envid = *req->envid ? req->envid : NULL,
        .ret = *req->ret ? req->ret : NULL,
        .uid = -1,
    };
    const char *orig = *at->rcpt->orig_rcpt ? at->rcpt->orig_rcpt : at->rcpt->address;
    cleanup_client_envelope(cc, &env);
    cleanup_client_rcpt(cc, address, orig, *at->rcpt->orcpt ? at->rcpt->orcpt : NULL,
                        at->rcpt->notify);
    strbuf delivered = STRBUF_INIT;
    strbuf_printf(&delivered, "Delivered-To: %s", recipient);
    cleanup_client_line(cc, delivered.s);
    strbuf_release(&delivered);
    if (copy_content(at->msg, cc, &err) < 0) {
        cleanup_client_abort(&cc);
        local_outcome(at, recipient, DELIVER_DEFERRED, "4.3.0", "cannot read queue file: %s",
                      err.s);
        goto out;
    }
    int code = cleanup_client_finish(&cc, &reply);
    if (code == 250)
        local_outcome(at, recipient, DELIVER_SENT, "2.0.0", "forwarded as %s", queue_id.s);
    else
        local_outcome(at, recipient, code >= 500 ? DELIVER_BOUNCED : DELIVER_DEFERRED,
                      code >= 500 ? "5.3.0" : "4.3.0", "cannot forward: %s", reply.s);
out:
    strbuf_release(&queue_id);
    strbuf_release(&reply);
    strbuf_release(&err);
}
