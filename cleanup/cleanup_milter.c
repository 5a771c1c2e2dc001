/* cleanup_milter - milter modifications, and non_smtpd_milters.
 *
 * WHERE MODIFICATIONS ARE APPLIED. Postfix hands smtpd's milter sessions to
 * cleanup, which runs the content phase itself and edits the queue file
 * in place. Here smtpd keeps its sessions: it streams the content to the
 * milters and to cleanup side by side, and at the end of the message sends
 * what the milters asked for to cleanup as request=milter records
 * (lib/global/cleanup_client.h) before request=end. Mail that does not come
 * from smtpd (pickup: sendmail, postsuper -r) gets its non_smtpd_milters
 * session here, at end, from the content already written. Both paths end in
 * the same two functions: cleanup_milter_edit() records a modification,
 * cleanup_milter_apply() applies all of them at end, before the queue file
 * is committed. So there is one implementation of "apply modifications",
 * and no milter session state ever crosses a process boundary.
 *
 * HOW. The content is already in the (incomplete, locked) queue file when
 * the modifications arrive, and our records are streamed, never patched in
 * place. queue_file_restart() turns what was written into a complete
 * scratch image and rewinds the writer (same queue ID, same file, same
 * lock); the image is then copied back record by record with the changes:
 * the new sender (chgfrom), recipients removed (delrcpt) or added
 * (addrcpt: through cleanup_out_recipient, so rewriting and the duplicate
 * filter apply as to any recipient), the header section loaded, edited in
 * the order the milters sent their requests and written, the body copied
 * or replaced (replbody, kept in an unnamed scratch file). Only messages
 * with modifications pay for the copy. Quarantine is a HOLD action.
 *
 * Memory: the header section of one message (each header is bounded by
 * header_size_limit when cleanup first wrote it), the edit list, one record.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "address.h"
#include "cleanup.h"
#include "config.h"
#include "input_transp.h"
#include "mail_queue.h"
#include "mem.h"
#include "milter.h"
#include "msg.h"
#include "resolve.h"

/* Far more than any milter sends (a DKIM signer: 1; rspamd: a few); the
 * bound keeps one message's edit list, and the header work it causes,
 * small whatever the client sends. */
#define MAX_EDITS 10000

struct stored_edit {
    enum milter_edit_kind kind;
    long index;
    char *name, *value;
    bool leadspc;
};

struct cleanup_milter {
    struct stored_edit *v;
    size_t n, cap;
    FILE *body; /* replbody bytes, NULL = body unchanged */
    uint64_t body_len;
    bool body_replaced;
};

static struct cleanup_milter *edits(struct cleanup_state *s)
{
    if (!s->milter)
        s->milter = xcalloc(1, sizeof(*s->milter));
    return s->milter;
}

void cleanup_milter_release(struct cleanup_state *s)
{
    struct cleanup_milter *cm = s->milter;
    if (!cm)
        return;
    for (size_t i = 0; i < cm->n; i++) {
        free(cm->v[i].name);
        free(cm->v[i].value);
    }
    free(cm->v);
    if (cm->body)
        fclose(cm->body);
    free(cm);
    s->milter = NULL;
}

/* "<addr>" or "addr": the bare address, trimmed. */
static void bare_address(strbuf *out, const char *in)
{
    strbuf_set(out, in ? in : "");
    strbuf_trim(out);
    if (out->len >= 2 && out->s[0] == '<' && out->s[out->len - 1] == '>') {
        memmove(out->s, out->s + 1, out->len - 2);
        strbuf_truncate(out, out->len - 2);
    }
}

int cleanup_milter_edit(struct cleanup_state *s, const struct milter_edit *e)
{
    struct cleanup_milter *cm = edits(s);
    if (e->kind == MILTER_EDIT_QUARANTINE) {
        cleanup_act(s, CLEANUP_ACT_HOLD, NULL);
        return 0;
    }
    if (e->kind == MILTER_EDIT_REPLBODY) {
        if (!cm->body && !(cm->body = tmpfile())) {
            msg_warn("%s: milter body replacement: create scratch file: %m",
                     strbuf_str(&s->queue_id));
            cleanup_write_failed(s);
            return -1;
        }
        cm->body_replaced = true;
        cm->body_len += e->body_len;
        if (s->size_limit && cm->body_len > s->size_limit) {
            /* The new body counts against message_size_limit like the old. */
            if (s->error == CLEANUP_OK)
                s->error = CLEANUP_SIZE;
            return -1;
        }
        if (e->body_len && fwrite(e->body, 1, e->body_len, cm->body) != e->body_len) {
            cleanup_write_failed(s);
            return -1;
        }
        return 0;
    }
    if (cm->n >= MAX_EDITS) {
        msg_warn("%s: more than %d milter modifications", strbuf_str(&s->queue_id), MAX_EDITS);
        if (s->error == CLEANUP_OK)
            s->error = CLEANUP_PROTO;
        return -1;
    }
    if (cm->n == cm->cap) {
        cm->cap = cm->cap ? cm->cap * 2 : 8;
        cm->v = xreallocarray(cm->v, cm->cap, sizeof(*cm->v));
    }
    struct stored_edit *se = &cm->v[cm->n++];
    se->kind = e->kind;
    se->index = e->index;
    se->name = xstrdup(e->name ? e->name : "");
    se->value = xstrdup(e->value ? e->value : "");
    se->leadspc = e->leadspc;
    return 0;
}

/* ---- the rewrite ------------------------------------------------------ */

static bool rcpt_deleted(const struct cleanup_milter *cm, const queue_file_record *rec)
{
    strbuf a = STRBUF_INIT;
    bool hit = false;
    for (size_t i = 0; i < cm->n && !hit; i++) {
        if (cm->v[i].kind != MILTER_EDIT_DELRCPT)
            continue;
        bare_address(&a, cm->v[i].name);
        hit = strcasecmp(strbuf_str(&a), strbuf_str(&rec->address)) == 0 ||
              (rec->orig_rcpt.len && strcasecmp(strbuf_str(&a), strbuf_str(&rec->orig_rcpt)) == 0);
    }
    strbuf_release(&a);
    return hit;
}

static void put_rcpt_rec(struct cleanup_state *s, const queue_file_record *rec)
{
    struct queue_file_rcpt_in r = {
        .address = strbuf_str(&rec->address),
        .orig_rcpt = rec->orig_rcpt.len ? strbuf_str(&rec->orig_rcpt) : NULL,
        .orcpt = rec->orcpt.len ? strbuf_str(&rec->orcpt) : NULL,
        .notify = rec->notify,
    };
    if (s->error == CLEANUP_OK && queue_file_put_rcpt(s->qf, &r, NULL) < 0)
        cleanup_write_failed(s);
}

static bool header_start(const char *p, size_t n)
{
    size_t i = 0;
    while (i < n && p[i] != ':' && (unsigned char)p[i] > ' ' && (unsigned char)p[i] < 0x7f)
        i++;
    return i > 0 && i < n && p[i] == ':';
}

static bool name_is(const char *hdr, const char *name)
{
    size_t n = strlen(name);
    if (strncasecmp(hdr, name, n) != 0)
        return false;
    const char *p = hdr + n;
    while (*p == ' ' || *p == '\t')
        p++;
    return *p == ':';
}

/* "Name: value" from a milter's name and value; folds arrive as LF or
 * CRLF and are stored as LF (one queue-file line each). */
static char *make_header(const struct stored_edit *e)
{
    strbuf h = STRBUF_INIT;
    strbuf_printf(&h, "%s:%s", e->name, e->leadspc ? "" : " ");
    for (const char *p = e->value; *p; p++)
        if (!(p[0] == '\r' && p[1] == '\n'))
            strbuf_putc(&h, *p == '\r' ? ' ' : *p);
    return strbuf_detach(&h);
}

static void edit_headers(const struct cleanup_milter *cm, strlist *hdrs)
{
    for (size_t i = 0; i < cm->n; i++) {
        const struct stored_edit *e = &cm->v[i];
        switch (e->kind) {
        case MILTER_EDIT_ADDHEADER:
            strlist_push_owned(hdrs, make_header(e));
            break;
        case MILTER_EDIT_INSHEADER: {
            size_t at = e->index < 0 || (size_t)e->index > hdrs->n ? hdrs->n : (size_t)e->index;
            strlist_push_owned(hdrs, make_header(e)); /* grow, then move into place */
            char *h = hdrs->v[hdrs->n - 1];
            memmove(hdrs->v + at + 1, hdrs->v + at, (hdrs->n - 1 - at) * sizeof(char *));
            hdrs->v[at] = h;
            break;
        }
        case MILTER_EDIT_CHGHEADER: {
            /* The index counts headers of that name from 1 (0 is taken
             * as 1, as libmilter documents). Not found: added, unless it
             * was a delete. */
            long want = e->index < 1 ? 1 : e->index, seen = 0;
            size_t j = 0;
            for (; j < hdrs->n; j++)
                if (name_is(hdrs->v[j], e->name) && ++seen == want)
                    break;
            if (j < hdrs->n) {
                free(hdrs->v[j]);
                if (e->value[0]) {
                    hdrs->v[j] = make_header(e);
                } else {
                    memmove(hdrs->v + j, hdrs->v + j + 1, (hdrs->n - j) * sizeof(char *));
                    hdrs->n--;
                }
            } else if (e->value[0]) {
                strlist_push_owned(hdrs, make_header(e));
            }
            break;
        }
        default:
            break;
        }
    }
}

static void put_lines(struct cleanup_state *s, const char *text)
{
    for (const char *p = text;;) {
        size_t l = strcspn(p, "\n");
        if (s->error == CLEANUP_OK && queue_file_put_text(s->qf, p, l, true) < 0)
            cleanup_write_failed(s);
        if (!p[l])
            break;
        p += l + 1;
    }
}

/* The replacement body: CRLF (or LF) separated lines. */
static void put_new_body(struct cleanup_state *s, FILE *body)
{
    if (fflush(body) != 0 || fseek(body, 0, SEEK_SET) != 0) {
        cleanup_write_failed(s);
        return;
    }
    strbuf err = STRBUF_INIT;
    if (s->error == CLEANUP_OK && queue_file_put_stream(s->qf, body, true, &err) < 0) {
        msg_warn("%s: milter body replacement: %s", strbuf_str(&s->queue_id), strbuf_str(&err));
        cleanup_write_failed(s);
    }
    strbuf_release(&err);
}

/* Copy the image behind `fd` into the rewound writer with every change. */
static void rewrite(struct cleanup_state *s, int fd)
{
    struct cleanup_milter *cm = edits(s);
    strbuf err = STRBUF_INIT, addr = STRBUF_INIT, line = STRBUF_INIT;
    queue_file_reader *r = queue_file_reader_open(fd, mail_queue_record_limit(), &err);
    queue_file_record rec = QUEUE_FILE_RECORD_INIT;
    strlist hdrs = STRLIST_INIT;
    bool in_headers = false, body_started = false, line_open = false;
    const char *new_sender = NULL;
    for (size_t i = 0; i < cm->n; i++)
        if (cm->v[i].kind == MILTER_EDIT_CHGFROM)
            new_sender = cm->v[i].name;
    if (!r)
        goto broken;
    queue_file_set_flags(s->qf, s->qf_flags);
    int rc;
    while ((rc = queue_file_reader_next(r, &rec, &err)) == 1 && s->error == CLEANUP_OK) {
        bool ended = false;
        switch (rec.type) {
        case QF_REC_SIZE:
            break;
        case QF_REC_TIME:
            if (queue_file_put_time(s->qf, &rec.time) < 0)
                cleanup_write_failed(s);
            break;
        case QF_REC_SENDER:
            if (new_sender) {
                bare_address(&addr, new_sender);
                resolve_canonical(&addr);
                strbuf_set(&s->sender, strbuf_str(&addr));
            } else {
                strbuf_reset(&addr);
                strbuf_append(&addr, rec.data.s ? rec.data.s : "", rec.data.len);
            }
            if (queue_file_put_sender(s->qf, strbuf_str(&addr)) < 0)
                cleanup_write_failed(s);
            break;
        case QF_REC_FULLNAME:
            if (queue_file_put_fullname(s->qf, strbuf_str(&rec.data)) < 0)
                cleanup_write_failed(s);
            break;
        case QF_REC_ATTR:
            if (queue_file_put_attr(s->qf, strbuf_str(&rec.name), rec.value.s ? rec.value.s : "",
                                    rec.value.len) < 0)
                cleanup_write_failed(s);
            break;
        case QF_REC_RCPT:
            if (rcpt_deleted(cm, &rec))
                s->rcpt_count--;
            else
                put_rcpt_rec(s, &rec);
            break;
        case QF_REC_CONTENT:
            for (size_t i = 0; i < cm->n; i++) {
                if (cm->v[i].kind == MILTER_EDIT_ADDRCPT ||
                    cm->v[i].kind == MILTER_EDIT_ADDRCPT_PAR) {
                    bare_address(&addr, cm->v[i].name);
                    if (addr.len)
                        cleanup_out_recipient(s, strbuf_str(&addr), NULL, NULL, 0);
                }
            }
            if (s->error == CLEANUP_OK && queue_file_begin_content(s->qf) < 0)
                cleanup_write_failed(s);
            in_headers = true;
            break;
        case QF_REC_LINE:
        case QF_REC_PART:
            ended = rec.type == QF_REC_LINE;
            if (in_headers) {
                strbuf_append(&line, rec.data.s ? rec.data.s : "", rec.data.len);
                if (!ended)
                    break;
                bool fold = line.len > 0 && (line.s[0] == ' ' || line.s[0] == '\t');
                if (fold && hdrs.n > 0) {
                    strbuf h = STRBUF_INIT;
                    strbuf_printf(&h, "%s\n%s", hdrs.v[hdrs.n - 1], strbuf_str(&line));
                    free(hdrs.v[hdrs.n - 1]);
                    hdrs.v[hdrs.n - 1] = strbuf_detach(&h);
                    strbuf_reset(&line);
                    break;
                }
                if (header_start(line.s ? line.s : "", line.len) && !memchr(line.s, 0, line.len)) {
                    strlist_push(&hdrs, strbuf_str(&line));
                    strbuf_reset(&line);
                    break;
                }
                /* The header section ends here: write it, edited. */
                in_headers = false;
                edit_headers(cm, &hdrs);
                for (size_t i = 0; i < hdrs.n; i++)
                    put_lines(s, hdrs.v[i]);
                body_started = true;
                if (cm->body_replaced) {
                    /* The separator stays; the old body goes. */
                    if (s->error == CLEANUP_OK && queue_file_put_text(s->qf, "", 0, true) < 0)
                        cleanup_write_failed(s);
                    put_new_body(s, cm->body);
                } else if (s->error == CLEANUP_OK &&
                           queue_file_put_text(s->qf, line.s, line.len, true) < 0) {
                    cleanup_write_failed(s);
                }
                strbuf_reset(&line);
                break;
            }
            if (!cm->body_replaced && s->error == CLEANUP_OK &&
                queue_file_put_text(s->qf, rec.data.s, rec.data.len, ended) < 0)
                cleanup_write_failed(s);
            line_open = !ended;
            break;
        case QF_REC_EXTRACT:
            if (in_headers) {
                /* Headers only, no body: the section ends with the content. */
                in_headers = false;
                edit_headers(cm, &hdrs);
                for (size_t i = 0; i < hdrs.n; i++)
                    put_lines(s, hdrs.v[i]);
                if (line.len && s->error == CLEANUP_OK &&
                    queue_file_put_text(s->qf, line.s, line.len, true) < 0)
                    cleanup_write_failed(s);
            }
            if (!body_started && cm->body_replaced) {
                if (s->error == CLEANUP_OK && queue_file_put_text(s->qf, "", 0, true) < 0)
                    cleanup_write_failed(s);
                put_new_body(s, cm->body);
            }
            (void)line_open;
            if (s->error == CLEANUP_OK && queue_file_begin_extract(s->qf) < 0)
                cleanup_write_failed(s);
            break;
        default:
            break;
        }
    }
    if (rc < 0)
        goto broken;
    goto out;
broken:
    /* Our own scratch copy is unreadable: a local I/O problem. */
    msg_warn("%s: milter: reread queue file: %s", strbuf_str(&s->queue_id), strbuf_str(&err));
    if (s->error == CLEANUP_OK)
        s->error = CLEANUP_WRITE;
out:
    queue_file_record_release(&rec);
    queue_file_reader_free(&r);
    strlist_release(&hdrs);
    strbuf_release(&err);
    strbuf_release(&addr);
    strbuf_release(&line);
}

static bool has_changes(const struct cleanup_state *s)
{
    return s->milter && (s->milter->n > 0 || s->milter->body_replaced);
}

/* Rewind the writer; returns the scratch image, or -1 (error recorded). */
static int restart(struct cleanup_state *s)
{
    strbuf err = STRBUF_INIT;
    int fd = queue_file_restart(s->qf, &err);
    if (fd < 0) {
        msg_warn("%s: milter: %s", strbuf_str(&s->queue_id), strbuf_str(&err));
        if (s->error == CLEANUP_OK)
            s->error = CLEANUP_WRITE;
    }
    strbuf_release(&err);
    return fd;
}

void cleanup_milter_apply(struct cleanup_state *s)
{
    if (s->error != CLEANUP_OK || !has_changes(s))
        return;
    int fd = restart(s);
    if (fd < 0)
        return;
    rewrite(s, fd);
    (void)close(fd);
}

/* ---- non_smtpd_milters ------------------------------------------------ */

struct local_macros {
    struct cleanup_state *s;
    const char *rcpt;
};

static const char *local_macro(void *ctx, const char *name)
{
    struct local_macros *lm = ctx;
    struct cleanup_state *s = lm->s;
    if (strcmp(name, "i") == 0)
        return strbuf_str(&s->queue_id);
    if (strcmp(name, "j") == 0)
        return config_get("myhostname");
    if (strcmp(name, "_") == 0)
        return "localhost [127.0.0.1]";
    if (strcmp(name, "daemon_name") == 0)
        return config_get("milter_macro_daemon_name");
    if (strcmp(name, "v") == 0)
        return config_get("milter_macro_v");
    if (strcmp(name, "client_addr") == 0)
        return "127.0.0.1";
    if (strcmp(name, "client_name") == 0 || strcmp(name, "client_ptr") == 0)
        return "localhost";
    if (strcmp(name, "mail_addr") == 0)
        return strbuf_str(&s->sender);
    if (strcmp(name, "mail_mailer") == 0)
        return "local";
    if (strcmp(name, "rcpt_addr") == 0)
        return lm->rcpt;
    if (strcmp(name, "rcpt_mailer") == 0)
        return lm->rcpt ? "local" : NULL;
    return NULL;
}

static int local_edit(void *ctx, const struct milter_edit *e)
{
    return cleanup_milter_edit(ctx, e);
}

/* "QID: milter-ACTION: END-OF-MESSAGE from localhost[127.0.0.1]: TEXT;
 * from=<s> to=<r>", Postfix's cleanup wording for local mail. */
static void log_milter(struct cleanup_state *s, const char *action, const char *text)
{
    strbuf from = STRBUF_INIT, to = STRBUF_INIT;
    addr_sanitize(&from, s->sender.s ? s->sender.s : "", s->sender.len, 400, true);
    addr_sanitize(&to, s->first_rcpt.s ? s->first_rcpt.s : "", s->first_rcpt.len, 400, true);
    msg_info("%s: %s: END-OF-MESSAGE from localhost[127.0.0.1]: %s; from=<%s> to=<%s>",
             strbuf_str(&s->queue_id), action, text, strbuf_str(&from), strbuf_str(&to));
    strbuf_release(&from);
    strbuf_release(&to);
}

/* Replay the envelope and the content written so far to the milters. */
static enum milter_verdict replay(struct cleanup_state *s, milter_set *ms, int fd, strbuf *reply)
{
    struct local_macros lm = {s, NULL};
    milter_set_macros(ms, local_macro, &lm);
    enum milter_verdict v = milter_connect_event(ms, "localhost", "127.0.0.1", 0, '4', reply);
    if (v == MILTER_CONTINUE)
        v = milter_helo_event(ms, "localhost", reply);
    strbuf arg = STRBUF_INIT, err = STRBUF_INIT;
    strlist argv = STRLIST_INIT;
    if (v == MILTER_CONTINUE) {
        strbuf_printf(&arg, "<%s>", strbuf_str(&s->sender));
        strlist_push(&argv, strbuf_str(&arg));
        v = milter_mail_event(ms, &argv, reply);
    }
    queue_file_reader *r = queue_file_reader_open(fd, mail_queue_record_limit(), &err);
    queue_file_record rec = QUEUE_FILE_RECORD_INIT;
    bool data_sent = false;
    int rc = r ? 1 : -1;
    while (v == MILTER_CONTINUE && r && (rc = queue_file_reader_next(r, &rec, &err)) == 1) {
        if (rec.type == QF_REC_RCPT) {
            strlist_release(&argv);
            strbuf_reset(&arg);
            strbuf_printf(&arg, "<%s>",
                          strbuf_str(rec.orig_rcpt.len ? &rec.orig_rcpt : &rec.address));
            strlist_push(&argv, strbuf_str(&arg));
            lm.rcpt = strbuf_str(&rec.address);
            v = milter_rcpt_event(ms, &argv, reply);
            lm.rcpt = NULL;
        } else if (rec.type == QF_REC_CONTENT) {
            data_sent = true;
            v = milter_data_event(ms, reply);
        } else if (rec.type == QF_REC_LINE || rec.type == QF_REC_PART) {
            milter_content(ms, rec.data.s ? rec.data.s : "", rec.data.len, rec.type == QF_REC_LINE);
        }
    }
    if (rc < 0 && v == MILTER_CONTINUE) {
        msg_warn("%s: milter: reread queue file: %s", strbuf_str(&s->queue_id), strbuf_str(&err));
        strbuf_set(reply, "451 4.3.0 Error: queue file write error");
        v = MILTER_REJECT;
    }
    if (v == MILTER_CONTINUE && !data_sent)
        v = milter_data_event(ms, reply);
    if (v == MILTER_CONTINUE)
        v = milter_eom_event(ms, local_edit, s, reply);
    else
        milter_abort(ms);
    queue_file_record_release(&rec);
    queue_file_reader_free(&r);
    strlist_release(&argv);
    strbuf_release(&arg);
    strbuf_release(&err);
    return v;
}

void cleanup_milter_run_local(struct cleanup_state *s)
{
    if (s->error != CLEANUP_OK || !s->run_milters || (s->override_flags & INPUT_TRANSP_MILTER))
        return;
    const char *list = config_get("non_smtpd_milters");
    strbuf err = STRBUF_INIT, reply = STRBUF_INIT;
    milter_set *ms = milter_set_create("non_smtpd_milters", list, &err);
    if (!ms)
        msg_fatal("%s", strbuf_str(&err));
    if (milter_set_empty(ms))
        goto out;
    int fd = restart(s);
    if (fd < 0)
        goto out;
    enum milter_verdict v = replay(s, ms, fd, &reply);
    milter_disconnect(ms);
    if (milter_hold_requested(ms) && v == MILTER_CONTINUE)
        cleanup_act(s, CLEANUP_ACT_HOLD, NULL);
    if (s->act_hold && v == MILTER_CONTINUE)
        log_milter(s, "milter-hold", "milter triggers HOLD action");
    switch (v) {
    case MILTER_CONTINUE:
        break;
    case MILTER_DISCARD:
        log_milter(s, "milter-discard", "milter triggers DISCARD action");
        cleanup_act(s, CLEANUP_ACT_DISCARD, NULL);
        break;
    case MILTER_REJECT:
    case MILTER_SHUTDOWN: {
        const char *text = strbuf_str(&reply);
        log_milter(s, "milter-reject", strlen(text) > 4 ? text + 4 : text);
        s->error = CLEANUP_CONTENT;
        strbuf_set(&s->reject_reply, text);
        break;
    }
    }
    /* The writer was rewound: everything goes back, with the changes. */
    rewrite(s, fd);
    (void)close(fd);
out:
    milter_set_free(&ms);
    strbuf_release(&err);
    strbuf_release(&reply);
}
