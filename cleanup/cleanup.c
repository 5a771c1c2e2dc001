/* cleanup - the only writer of new queue files.
 *
 * Serves the protocol of lib/global/cleanup_client.h on public/cleanup, one message
 * per connection: creates incoming/<ID> through queue_file_create (0600,
 * incomplete), writes envelope records as they arrive and content through
 * cleanup_message.c, and on "end" commits (fchmod 0700, fsync file and
 * directory) before replying status 0. Any failure removes the file and
 * replies 4xx/5xx; a client that goes away gets its file removed.
 *
 * Envelope attributes are written as 'A' records with Postfix's names:
 * client_name, client_address, helo_name, protocol_name, rewrite_context,
 * sasl_username, envelope_id (DSN ENVID), ret_flags (FULL/HDRS),
 * encoding (7BIT/8BITMIME), smtputf8 (1), uid (local submissions).
 * Bare envelope addresses ("user") get "@$myorigin" (resolve_canonical).
 *
 * Duplicate recipients are written once, as Postfix's cleanup does
 * (cleanup_out_recipient with been_here, BH_FLAG_FOLD): a recipient equal,
 * ignoring ASCII case, to an earlier one of the same message is dropped.
 * With enable_original_recipient = yes (the default) "equal" covers the DSN
 * ORCPT, the NOTIFY bits, the address as the client gave it and the
 * address as rewritten; with "no", the rewritten address only. The first
 * one's DSN attributes survive. At most duplicate_filter_limit recipients
 * are remembered (0 = no limit); past that, repeats are no longer caught.
 *
 * Address rewriting (cleanup_rewrite.c), in Postfix's order: the sender gets
 * canonical then masquerading; every recipient goes through
 * cleanup_out_recipient(): canonical, masquerading, virtual alias
 * expansion, then the duplicate filter (Postfix filters on the rewritten
 * address). A table that fails, or an expansion past its limits, defers the
 * whole message (451 4.3.0), as Postfix does. always_bcc, sender_bcc_maps
 * and recipient_bcc_maps add recipients with NOTIFY=NEVER; not for the
 * null sender (bounces) or address verification probes.
 * receive_override_options=no_address_mappings turns all of that off.
 *
 * Message actions (request=action from smtpd's access tables, or
 * cleanup_checks.c) are buffered and applied at end, see cleanup_act().
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cleanup.h"
#include "cleanup_client.h"
#include "cleanup_rewrite.h"
#include "address.h"
#include "config.h"
#include "mem.h"
#include "mail_queue.h"
#include "msg.h"
#include "resolve.h"
#include "service.h"
#include "sock.h"
#include "stream.h"

static struct cleanup_state *current; /* for msg_fatal cleanup */

static void remove_current(void)
{
    if (current && current->qf)
        queue_file_abort(&current->qf);
}

void cleanup_write_failed(struct cleanup_state *s)
{
    if (s->error == CLEANUP_OK) {
        msg_warn("%s: write queue file: %m", strbuf_str(&s->queue_id));
        s->error = errno == EFBIG ? CLEANUP_SIZE : CLEANUP_WRITE;
    }
}

static const char *error_reply(enum cleanup_error e)
{
    switch (e) {
    case CLEANUP_OK:
        return "250 2.0.0 Ok";
    case CLEANUP_WRITE:
        return QUEUE_NOSPACE_REPLY;
    case CLEANUP_SIZE:
        return "552 5.3.4 Message size exceeds fixed limit";
    case CLEANUP_PROTO:
        return "451 4.3.0 Error: internal protocol error";
    case CLEANUP_NORCPT:
        return "554 5.5.1 Error: no recipients specified";
    case CLEANUP_DEFER:
        return "451 4.3.0 Error: alias expansion error";
    case CLEANUP_CONTENT:
        return "550 5.7.1 message content rejected";
    case CLEANUP_TABLE:
        return "451 4.3.0 Error: queue file write error";
    }
    return "451 4.3.0 Error: internal error";
}

static int reply(stream *st, int status, const char *text, const char *id)
{
    attr_list al = ATTR_LIST_INIT;
    strbuf err = STRBUF_INIT;
    attr_add_int(&al, "status", status);
    if (id)
        attr_add_str(&al, "queue_id", id);
    if (text)
        attr_add_str(&al, "reason", text);
    int rc = attr_send(st, &al, &err);
    if (rc != ATTR_OK)
        msg_warn("send reply to cleanup client: %s", strbuf_str(&err));
    attr_list_release(&al);
    strbuf_release(&err);
    return rc;
}

static const char *opt(const attr_list *al, const char *name)
{
    const attr *a = attr_find(al, name);
    /* Strings never carry NUL; a value that does is refused. */
    if (!a || memchr(a->value, 0, a->value_len))
        return NULL;
    return a->value;
}

static void put_attr(struct cleanup_state *s, const char *name, const char *value)
{
    if (value && s->error == CLEANUP_OK && queue_file_put_attr_str(s->qf, name, value) < 0)
        cleanup_write_failed(s);
}

static bool mappings(const struct cleanup_state *s)
{
    return !(s->override_flags & RW_OVR_NO_ADDRESS_MAPPINGS);
}

/* A table failed or a limit was passed: the message is not accepted now. */
static void defer(struct cleanup_state *s, const char *what, const char *addr, strbuf *err)
{
    strbuf safe = STRBUF_INIT;
    addr_sanitize(&safe, addr, strlen(addr), 256, true);
    msg_warn("%s: %s lookup problem for %s%s%s -- message not accepted, try again later",
             strbuf_str(&s->queue_id), what, strbuf_str(&safe), err && err->len ? ": " : "",
             err ? strbuf_str(err) : "");
    strbuf_release(&safe);
    if (s->error == CLEANUP_OK)
        s->error = CLEANUP_DEFER;
}

static void envelope(struct cleanup_state *s, const attr_list *al)
{
    int64_t t = 0, us = 0, uid = -1;
    const char *sender = opt(al, "sender");
    if (s->have_envelope || !sender || attr_get_int(al, "time", &t, NULL) < 0 ||
        attr_get_int(al, "time_usec", &us, NULL) < 0 || us < 0 || us > 999999 || t < 0) {
        s->error = s->error ? s->error : CLEANUP_PROTO;
        return;
    }
    s->have_envelope = true;
    if (t > 0) {
        s->arrival.tv_sec = (time_t)t;
        s->arrival.tv_usec = (suseconds_t)us;
    }
    strbuf_set(&s->sender, sender);
    resolve_canonical(&s->sender);
    if (mappings(s)) {
        struct rewrite_config *rc = rewrite_config_get();
        strbuf err = STRBUF_INIT;
        if (rewrite_canonical(rc, RW_ENV_SENDER, &s->sender, &err) < 0)
            defer(s, "canonical", sender, &err);
        rewrite_masquerade(rc, RW_ENV_SENDER, &s->sender);
        strbuf_release(&err);
    }
    const char *ctx = opt(al, "rewrite_context");
    s->add_missing =
        (ctx && strcmp(ctx, "local") == 0) || config_get_bool("always_add_missing_headers");
    if (s->error != CLEANUP_OK)
        return;
    if (queue_file_put_time(s->qf, &s->arrival) < 0 ||
        queue_file_put_sender(s->qf, strbuf_str(&s->sender)) < 0) {
        cleanup_write_failed(s);
        return;
    }
    const char *fullname = opt(al, "fullname");
    if (fullname) {
        strbuf_set(&s->fullname, fullname);
        if (queue_file_put_fullname(s->qf, fullname) < 0)
            cleanup_write_failed(s);
    }
    strbuf_set(&s->client_name, opt(al, "client_name") ? opt(al, "client_name") : "");
    strbuf_set(&s->client_addr, opt(al, "client_addr") ? opt(al, "client_addr") : "");
    strbuf_set(&s->helo, opt(al, "client_helo") ? opt(al, "client_helo") : "");
    strbuf_set(&s->proto, opt(al, "protocol") ? opt(al, "protocol") : "");
    put_attr(s, "client_name", opt(al, "client_name"));
    put_attr(s, "client_address", opt(al, "client_addr"));
    put_attr(s, "helo_name", opt(al, "client_helo"));
    put_attr(s, "protocol_name", opt(al, "protocol"));
    put_attr(s, "rewrite_context", ctx);
    put_attr(s, "sasl_username", opt(al, "sasl_username"));
    /* For pipe(8)'s ${sasl_method} and ${client_port}. */
    put_attr(s, "sasl_method", opt(al, "sasl_method"));
    put_attr(s, "client_port", opt(al, "client_port"));
    put_attr(s, "envelope_id", opt(al, "envid"));
    put_attr(s, "ret_flags", opt(al, "ret"));
    put_attr(s, "encoding", opt(al, "body"));
    if (attr_find(al, "smtputf8")) {
        put_attr(s, "smtputf8", "1");
        s->qf_flags |= QF_FLAG_SMTPUTF8;
        queue_file_set_flags(s->qf, s->qf_flags);
    }
    if (attr_get_int(al, "uid", &uid, NULL) == 0) {
        char buf[32];
        snprintf(buf, sizeof(buf), "%lld", (long long)uid);
        put_attr(s, "uid", buf);
    }
}

/* One length-prefixed part of a duplicate-filter key: parts never run
 * into each other, whatever bytes they hold. */
static void key_part(strbuf *key, const char *v)
{
    size_t len = v ? strlen(v) : 0;
    strbuf_printf(key, "%zu:", len);
    strbuf_append(key, v ? v : "", len);
}

/* True when an equal recipient was already written (see the top). */
static bool duplicate_rcpt(struct cleanup_state *s, const struct queue_file_rcpt_in *r)
{
    strbuf key = STRBUF_INIT;
    if (s->dups_orcpt) {
        key_part(&key, r->orcpt);
        strbuf_printf(&key, "%d;", r->notify);
        key_part(&key, r->orig_rcpt);
    }
    key_part(&key, r->address);
    bool seen = dup_filter_seen(s->dups, key.s, key.len);
    strbuf_release(&key);
    return seen;
}

/* Write one final recipient (after every rewrite), unless a duplicate. */
static void write_rcpt(struct cleanup_state *s, const char *address, const char *orig,
                       const char *orcpt, int notify)
{
    struct queue_file_rcpt_in r = {
        .address = address,
        .orig_rcpt = orig,
        .orcpt = orcpt,
        .notify = notify,
    };
    if (!duplicate_rcpt(s, &r)) {
        s->rcpt_count++;
        if (s->first_rcpt.len == 0)
            strbuf_set(&s->first_rcpt, r.orig_rcpt);
        if (s->error == CLEANUP_OK && queue_file_put_rcpt(s->qf, &r, NULL) < 0)
            cleanup_write_failed(s);
    }
}

void cleanup_out_recipient(struct cleanup_state *s, const char *address, const char *orig,
                           const char *orcpt, int notify)
{
    strbuf addr = STRBUF_INIT, err = STRBUF_INIT;
    strbuf_set(&addr, address);
    resolve_canonical(&addr);
    if (!orig)
        orig = address;
    if (!mappings(s)) {
        write_rcpt(s, strbuf_str(&addr), orig, orcpt, notify);
        goto out;
    }
    struct rewrite_config *rc = rewrite_config_get();
    if (rewrite_canonical(rc, RW_ENV_RCPT, &addr, &err) < 0) {
        defer(s, "canonical", address, &err);
        goto out;
    }
    rewrite_masquerade(rc, RW_ENV_RCPT, &addr);
    strlist list = STRLIST_INIT;
    switch (rewrite_virtual(rc, strbuf_str(&addr), &list, &err)) {
    case RW_VIRT_OK:
        for (size_t i = 0; i < list.n; i++)
            write_rcpt(s, list.v[i], orig, orcpt, notify);
        break;
    case RW_VIRT_TEMPFAIL:
        defer(s, "virtual_alias_maps map", strbuf_str(&addr), &err);
        break;
    case RW_VIRT_EXPANSION:
        msg_warn("%s: unreasonable virtual_alias_maps map expansion size for %s -- "
                 "message not accepted, try again later",
                 strbuf_str(&s->queue_id), strbuf_str(&addr));
        s->error = s->error ? s->error : CLEANUP_DEFER;
        break;
    case RW_VIRT_RECURSION:
        msg_warn("%s: unreasonable virtual_alias_maps map nesting for %s -- "
                 "message not accepted, try again later",
                 strbuf_str(&s->queue_id), strbuf_str(&addr));
        s->error = s->error ? s->error : CLEANUP_DEFER;
        break;
    }
    strlist_release(&list);
out:
    strbuf_release(&addr);
    strbuf_release(&err);
}

/* A BCC recipient from a table or always_bcc: NOTIFY=NEVER (Postfix). */
static void add_bcc(struct cleanup_state *s, const char *value)
{
    strbuf a = STRBUF_INIT;
    strbuf_set(&a, value);
    strbuf_trim(&a);
    if (a.len > 0 && a.len < 4096 && !strpbrk(strbuf_str(&a), "\r\n"))
        cleanup_out_recipient(s, strbuf_str(&a), NULL, NULL, QF_NOTIFY_NEVER);
    strbuf_release(&a);
}

static bool bcc_ok(const struct cleanup_state *s)
{
    return mappings(s) && s->sender.len > 0 && !(s->qf_flags & QF_FLAG_VERIFY);
}

/* Table lookup for the BCC maps; a failure defers like other tables. */
static void bcc_lookup(struct cleanup_state *s, maps *ms, const char *param, const char *addr)
{
    struct rewrite_config *rc = rewrite_config_get();
    strbuf v = STRBUF_INIT, err = STRBUF_INIT;
    enum map_result r = rewrite_lookup(rc, ms, addr, false, &v, &err);
    if (r == MAP_FOUND)
        add_bcc(s, strbuf_str(&v));
    else if (r == MAP_TEMPFAIL)
        defer(s, param, addr, &err);
    strbuf_release(&v);
    strbuf_release(&err);
}

/* End of the envelope: always_bcc and sender_bcc_maps (once). */
static void envelope_bccs(struct cleanup_state *s)
{
    if (!bcc_ok(s) || s->rcpt_count == 0)
        return;
    struct rewrite_config *rc = rewrite_config_get();
    if (rc->always_bcc)
        add_bcc(s, rc->always_bcc);
    bcc_lookup(s, rc->sender_bcc, "sender_bcc_maps", strbuf_str(&s->sender));
}

static void envelope_rcpt(struct cleanup_state *s, const attr_list *al)
{
    const char *address = opt(al, "address");
    int64_t notify = 0;
    if (!s->have_envelope || s->content_started || !address || !address[0]) {
        s->error = s->error ? s->error : CLEANUP_PROTO;
        return;
    }
    if (attr_find(al, "notify") &&
        (attr_get_int(al, "notify", &notify, NULL) < 0 || notify < 0 || notify > QF_NOTIFY_MASK)) {
        s->error = s->error ? s->error : CLEANUP_PROTO;
        return;
    }
    cleanup_out_recipient(s, address, opt(al, "orig_rcpt"), opt(al, "orcpt"), (int)notify);
    if (bcc_ok(s)) {
        /* recipient_bcc_maps is keyed on the canonical form (Postfix). */
        struct rewrite_config *rc = rewrite_config_get();
        strbuf a = STRBUF_INIT, err = STRBUF_INIT;
        strbuf_set(&a, address);
        resolve_canonical(&a);
        if (rewrite_canonical(rc, RW_ENV_RCPT, &a, &err) == 0) {
            rewrite_masquerade(rc, RW_ENV_RCPT, &a);
            bcc_lookup(s, rc->recipient_bcc, "recipient_bcc_maps", strbuf_str(&a));
        }
        strbuf_release(&a);
        strbuf_release(&err);
    }
}

static void content(struct cleanup_state *s, const attr_list *al)
{
    if (!s->have_envelope) {
        s->error = s->error ? s->error : CLEANUP_PROTO;
        return;
    }
    if (!s->content_started) {
        envelope_bccs(s);
        cleanup_message_begin(s);
    }
    for (size_t i = 0; i < attr_list_count(al); i++) {
        const attr *a = attr_list_at(al, i);
        if (strcmp(a->name, "N") == 0)
            cleanup_message_piece(s, a->value, a->value_len, true);
        else if (strcmp(a->name, "L") == 0)
            cleanup_message_piece(s, a->value, a->value_len, false);
    }
}

/* request=action: a bad kind or value is the client's protocol error. */
static void action_request(struct cleanup_state *s, const attr_list *al)
{
    int kind = cleanup_action_parse(opt(al, "kind"));
    const char *value = opt(al, "value");
    if (!s->have_envelope || kind < 0 ||
        !cleanup_action_value_ok((enum cleanup_action)kind, value)) {
        msg_warn("%s: cleanup client: bad action request", strbuf_str(&s->queue_id));
        s->error = s->error ? s->error : CLEANUP_PROTO;
        return;
    }
    cleanup_act(s, (enum cleanup_action)kind, value);
}

/* request=milter: one modification from smtpd's milters. */
static void milter_request(struct cleanup_state *s, const attr_list *al)
{
    int kind = cleanup_milter_edit_parse(opt(al, "kind"));
    int64_t index = 0, leadspc = 0;
    const attr *value = attr_find(al, "value");
    struct milter_edit e = {0};
    if (!s->have_envelope || kind < 0 ||
        (attr_find(al, "index") && attr_get_int(al, "index", &index, NULL) < 0) ||
        (attr_find(al, "leadspc") && attr_get_int(al, "leadspc", &leadspc, NULL) < 0) ||
        index < 0 || index > INT32_MAX || (attr_find(al, "name") && !opt(al, "name")) ||
        (kind != MILTER_EDIT_REPLBODY && value && !opt(al, "value"))) {
        msg_warn("%s: cleanup client: bad milter request", strbuf_str(&s->queue_id));
        s->error = s->error ? s->error : CLEANUP_PROTO;
        return;
    }
    e.kind = (enum milter_edit_kind)kind;
    e.index = (long)index;
    e.name = opt(al, "name");
    e.leadspc = leadspc != 0;
    if (kind == MILTER_EDIT_REPLBODY) {
        e.body = value ? (const unsigned char *)value->value : NULL;
        e.body_len = value ? value->value_len : 0;
    } else {
        e.value = opt(al, "value");
    }
    bool header = kind == MILTER_EDIT_ADDHEADER || kind == MILTER_EDIT_INSHEADER ||
                  kind == MILTER_EDIT_CHGHEADER;
    bool address = kind == MILTER_EDIT_ADDRCPT || kind == MILTER_EDIT_ADDRCPT_PAR ||
                   kind == MILTER_EDIT_DELRCPT || kind == MILTER_EDIT_CHGFROM;
    if ((header || address) && (!e.name || !e.name[0])) {
        msg_warn("%s: cleanup client: bad milter request", strbuf_str(&s->queue_id));
        s->error = s->error ? s->error : CLEANUP_PROTO;
        return;
    }
    if (header) {
        /* The same shape rules as for a milter's own packet. */
        for (const char *p = e.name; *p; p++)
            if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f || *p == ':') {
                msg_warn("%s: cleanup client: bad milter header name", strbuf_str(&s->queue_id));
                s->error = s->error ? s->error : CLEANUP_PROTO;
                return;
            }
    }
    (void)cleanup_milter_edit(s, &e);
}

/* A non-SMTP message that was rejected: the reject text for qmgr, which
 * bounces every recipient with it. The other actions are moot. */
static void apply_reject(struct cleanup_state *s)
{
    const char *text = strbuf_str(&s->reject_reply);
    text += strspn(text, "0123456789");
    text += strspn(text, " ");
    if (queue_file_begin_extract(s->qf) < 0) {
        cleanup_write_failed(s);
        return;
    }
    put_attr(s, "reject", text);
}

/* At end, content written: what the buffered actions add to the file.
 * Recipients and attributes now belong in the extracted segment. */
static void apply_actions(struct cleanup_state *s)
{
    if (s->act_bcc.n == 0 && s->act_redirect.len == 0 && s->act_filter.len == 0 && !s->act_hold)
        return;
    if (s->act_bcc.n || s->act_redirect.len || s->act_filter.len) {
        if (queue_file_begin_extract(s->qf) < 0) {
            cleanup_write_failed(s);
            return;
        }
    }
    for (size_t i = 0; i < s->act_bcc.n; i++)
        cleanup_out_recipient(s, s->act_bcc.v[i], NULL, NULL, QF_NOTIFY_NEVER);
    if (s->act_redirect.len) {
        /* A bare "user" gets @$myorigin, as every envelope address. */
        resolve_canonical(&s->act_redirect);
        put_attr(s, "redirect", strbuf_str(&s->act_redirect));
    }
    if (s->act_filter.len)
        put_attr(s, "filter", strbuf_str(&s->act_filter));
    if (s->act_hold) {
        s->qf_flags |= QF_FLAG_HOLD;
        queue_file_set_flags(s->qf, s->qf_flags);
    }
}

static void wake_qmgr(const char *qdir)
{
    strbuf path = STRBUF_INIT, err = STRBUF_INIT;
    /* Best effort: no qmgr listening must neither block nor fail the mail;
     * qmgr's periodic scan finds the file anyway. */
    if (sock_unix_path(qdir, "public/qmgr", &path, &err) == 0 &&
        sock_wakeup(strbuf_str(&path), &err) < 0)
        msg_debug("wake up qmgr: %s", strbuf_str(&err));
    strbuf_release(&path);
    strbuf_release(&err);
}

static void finish(struct cleanup_state *s, stream *st, const char *qdir)
{
    const char *id = strbuf_str(&s->queue_id);
    if (!s->have_envelope)
        s->error = s->error ? s->error : CLEANUP_PROTO;
    else if (!s->content_started)
        envelope_bccs(s);
    if (s->error == CLEANUP_OK && s->rcpt_count == 0)
        s->error = CLEANUP_NORCPT;
    if (s->error == CLEANUP_OK)
        cleanup_message_end(s);
    cleanup_milter_run_local(s);
    cleanup_milter_apply(s);
    if (s->error == CLEANUP_OK && s->rcpt_count <= 0)
        s->error = CLEANUP_NORCPT;
    if (s->act_discard && s->have_envelope &&
        (s->error == CLEANUP_OK || s->error == CLEANUP_CONTENT || s->error == CLEANUP_SIZE ||
         s->error == CLEANUP_NORCPT)) {
        /* DISCARD: Postfix pretends success; the check that asked for it
         * logged the "discard:" line, nothing reaches the queue. */
        queue_file_abort(&s->qf);
        strbuf text = STRBUF_INIT;
        strbuf_printf(&text, "250 2.0.0 Ok: queued as %s", id);
        (void)reply(st, 0, strbuf_str(&text), id);
        strbuf_release(&text);
        return;
    }
    if (s->error == CLEANUP_OK && s->reject_reply.len)
        apply_reject(s);
    else if (s->error == CLEANUP_OK)
        apply_actions(s);
    if (s->error != CLEANUP_OK) {
        if (s->error == CLEANUP_SIZE)
            msg_info("%s: reject: message size exceeds fixed limit", id);
        queue_file_abort(&s->qf);
        (void)reply(st, 1,
                    s->error == CLEANUP_CONTENT && s->reject_reply.len > 0
                        ? strbuf_str(&s->reject_reply)
                        : error_reply(s->error),
                    NULL);
        return;
    }
    strbuf err = STRBUF_INIT;
    if (queue_file_commit(&s->qf, &err) < 0) {
        int e = errno;
        msg_warn("%s: commit queue file: %s", id, strbuf_str(&err));
        (void)reply(st, 1, error_reply(e == EFBIG ? CLEANUP_SIZE : CLEANUP_WRITE), NULL);
    } else {
        strbuf text = STRBUF_INIT;
        strbuf_printf(&text, "250 2.0.0 Ok: queued as %s", id);
        (void)reply(st, 0, strbuf_str(&text), id);
        strbuf_release(&text);
        wake_qmgr(qdir);
    }
    strbuf_release(&err);
}

static bool open_file(struct cleanup_state *s, stream *st, const attr_list *al, const char *qdir)
{
    const char *req = opt(al, "request");
    int64_t flags = 0;
    strbuf err = STRBUF_INIT;
    if (!req || strcmp(req, "open") != 0 || attr_get_int(al, "flags", &flags, NULL) < 0 ||
        (flags & ~(int64_t)CLEANUP_FLAG_MASK)) {
        msg_warn("cleanup client: bad open request");
        (void)reply(st, 1, error_reply(CLEANUP_PROTO), NULL);
        return false;
    }
    long long minfree = config_get_size("queue_minfree");
    if (queue_space_check(qdir, (uint64_t)minfree, 0, &err) < 0) {
        msg_warn("%s", strbuf_str(&err));
        (void)reply(st, 1, QUEUE_NOSPACE_REPLY, NULL);
        strbuf_release(&err);
        return false;
    }
    s->qf = queue_file_create(qdir, "incoming", config_get_bool("enable_long_queue_ids"),
                              mail_queue_record_limit(), &err);
    if (!s->qf) {
        msg_warn("create queue file: %s", strbuf_str(&err));
        (void)reply(st, 1, QUEUE_NOSPACE_REPLY, NULL);
        strbuf_release(&err);
        return false;
    }
    if (flags & CLEANUP_FLAG_NO_MAPS)
        s->override_flags |= INPUT_TRANSP_ADDRESS_MAPPING;
    if (flags & CLEANUP_FLAG_NO_HBC)
        s->override_flags |= INPUT_TRANSP_HEADER_BODY;
    if (flags & CLEANUP_FLAG_NO_MILTERS)
        s->override_flags |= INPUT_TRANSP_MILTER;
    s->run_milters = (flags & CLEANUP_FLAG_MILTER) != 0;
    s->bounce_rejects = flags & CLEANUP_FLAG_BOUNCE;
    if (flags & CLEANUP_FLAG_VERIFY) {
        s->qf_flags |= QF_FLAG_VERIFY;
        queue_file_set_flags(s->qf, s->qf_flags);
    }
    strbuf_set(&s->queue_id, queue_file_id(s->qf));
    s->arrival = *queue_file_ctime(s->qf);
    strbuf_release(&err);
    return reply(st, 0, NULL, strbuf_str(&s->queue_id)) == ATTR_OK;
}

static void cleanup_serve(int fd, const char *service, char **args)
{
    /* The skeleton has changed (and maybe chrooted) to queue_directory. */
    const char *qdir = ".";
    stream *st = stream_open(fd);
    /* The getter keeps ipc_timeout within 1 .. INT_MAX/1000 seconds. */
    stream_set_timeout(st, (int)config_get_time("ipc_timeout") * 1000);

    struct cleanup_state s;
    memset(&s, 0, sizeof(s));
    long long hsl = config_get_size("header_size_limit");
    s.header_limit = hsl > 0 ? (size_t)hsl : 102400;
    long long msl = config_get_size("message_size_limit");
    s.size_limit = msl > 0 ? (uint64_t)msl : 0;
    long long dfl = config_get_int("duplicate_filter_limit");
    s.dups = dup_filter_create(dfl > 0 && dfl < LONG_MAX ? (long)dfl : 0, true);
    s.dups_orcpt = config_get_bool("enable_original_recipient");
    /* This service's own receive_override_options; the client's are
     * added at open. */
    s.override_flags = input_transp_flags();
    current = &s;

    attr_list al = ATTR_LIST_INIT;
    strbuf err = STRBUF_INIT;
    int rc = attr_recv(st, &cleanup_attr_limits, &al, &err);
    if (rc != ATTR_OK) {
        if (rc != ATTR_EOF)
            msg_warn("cleanup client: %s", strbuf_str(&err));
        goto done;
    }
    if (!open_file(&s, st, &al, qdir))
        goto done;
    for (;;) {
        rc = attr_recv(st, &cleanup_attr_limits, &al, &err);
        if (rc != ATTR_OK) {
            /* The client went away (or spoke nonsense): nothing is queued. */
            if (rc != ATTR_EOF)
                msg_warn("%s: cleanup client: %s", strbuf_str(&s.queue_id), strbuf_str(&err));
            queue_file_abort(&s.qf);
            break;
        }
        const char *req = opt(&al, "request");
        if (!req) {
            s.error = s.error ? s.error : CLEANUP_PROTO;
        } else if (strcmp(req, "envelope") == 0) {
            envelope(&s, &al);
        } else if (strcmp(req, "rcpt") == 0) {
            envelope_rcpt(&s, &al);
        } else if (strcmp(req, "content") == 0) {
            content(&s, &al);
        } else if (strcmp(req, "action") == 0) {
            action_request(&s, &al);
        } else if (strcmp(req, "milter") == 0) {
            milter_request(&s, &al);
        } else if (strcmp(req, "end") == 0) {
            finish(&s, st, qdir);
            break;
        } else if (strcmp(req, "abort") == 0) {
            queue_file_abort(&s.qf);
            break;
        } else {
            msg_warn("%s: cleanup client: unknown request \"%.50s\"", strbuf_str(&s.queue_id), req);
            s.error = s.error ? s.error : CLEANUP_PROTO;
        }
    }
done:
    if (s.qf)
        queue_file_abort(&s.qf);
    current = NULL;
    (void)stream_flush(st);
    (void)stream_release(&st); /* the skeleton closes fd */
    attr_list_release(&al);
    strbuf_release(&err);
    strbuf_release(&s.queue_id);
    strbuf_release(&s.sender);
    strbuf_release(&s.fullname);
    dup_filter_free(&s.dups);
    strbuf_release(&s.act_redirect);
    strbuf_release(&s.act_filter);
    strlist_release(&s.act_bcc);
    cleanup_milter_release(&s);
    cleanup_message_release(&s);
}

int main(int argc, char **argv)
{
    static const struct service_ops ops = {
        .mode = SERVICE_SINGLE,
        .serve = cleanup_serve,
    };
    signal(SIGPIPE, SIG_IGN);
    msg_set_cleanup(remove_current);
    service_main("cleanup", argc, argv, &ops);
}
