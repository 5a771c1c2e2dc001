/* cleanup_client - see cleanup_client.h for the protocol. */
#include "cleanup_client.h"

#include <stdio.h>
#include <string.h>

#include "mem.h"
#include "msg.h"

#define WRITE_ERROR_REPLY "451 4.3.0 Error: queue file write error"

/* A content message holds CLEANUP_CHUNK bytes of text plus per-piece
 * framing; 16 bytes of framing per piece, and pieces of 1 byte at worst. */
const attr_limits cleanup_attr_limits = {
    .max_count = CLEANUP_CHUNK + 16,
    .max_name = 32,
    .max_value = CLEANUP_CHUNK,
    .max_total = CLEANUP_CHUNK * 18 + 4096,
};

struct cleanup_client {
    stream *st;
    attr_list out;    /* pending content message */
    size_t out_bytes; /* content bytes in it */
    bool broken;      /* sticky: the connection failed */
    bool open_pending; /* "open" sent, its reply not read yet */
    strbuf err;
    strbuf queue_id;
};

static void client_broken(cleanup_client *cc, const char *what)
{
    if (!cc->broken)
        msg_warn("cleanup service: %s: %s", what, strbuf_str(&cc->err));
    cc->broken = true;
}

static int send_list(cleanup_client *cc, const attr_list *al, const char *what)
{
    if (cc->broken)
        return -1;
    strbuf_reset(&cc->err);
    if (attr_write(cc->st, al, &cc->err) != ATTR_OK) {
        client_broken(cc, what);
        return -1;
    }
    return 0;
}

static int flush_content(cleanup_client *cc)
{
    if (attr_list_count(&cc->out) <= 1)
        return cc->broken ? -1 : 0;
    int rc = send_list(cc, &cc->out, "send content");
    attr_list_reset(&cc->out);
    attr_add_str(&cc->out, "request", "content");
    cc->out_bytes = 0;
    return rc;
}

static void reply_from(const attr_list *al, strbuf *reply, const char *fallback)
{
    const char *r = NULL;
    strbuf_reset(reply);
    if (attr_get_str(al, "reason", &r, NULL) == 0 && r[0] >= '2' && r[0] <= '5' && strlen(r) > 4)
        strbuf_puts(reply, r);
    else
        strbuf_puts(reply, fallback);
}

/* The code of a refusal (reply_from made it start with a digit 2-5); a
 * reply that is no 4xx/5xx becomes the generic 451. */
static int reply_code(strbuf *reply)
{
    int code = (int)((reply->s[0] - '0') * 100 + (reply->s[1] - '0') * 10 + (reply->s[2] - '0'));
    if (code < 400 || code > 599) {
        code = 451;
        strbuf_set(reply, WRITE_ERROR_REPLY);
    }
    return code;
}

static void client_free(cleanup_client **ccp)
{
    cleanup_client *cc = *ccp;
    if (!cc)
        return;
    if (cc->st)
        stream_close(&cc->st);
    attr_list_release(&cc->out);
    strbuf_release(&cc->err);
    strbuf_release(&cc->queue_id);
    XFREE(*ccp);
}

cleanup_client *cleanup_client_begin(const char *queue_dir, int flags, int timeout_ms,
                                     strbuf *reply)
{
    cleanup_client *cc = xcalloc(1, sizeof(*cc));
    cc->st = attr_connect(queue_dir, CLEANUP_SERVICE, timeout_ms, &cc->err);
    if (!cc->st) {
        msg_warn("connect to cleanup service %s/%s: %s", queue_dir, CLEANUP_SERVICE,
                 strbuf_str(&cc->err));
        strbuf_set(reply, WRITE_ERROR_REPLY);
        client_free(&cc);
        return NULL;
    }
    /* A message may take as long as its sender; bound each operation, not
     * the whole conversation. */
    stream_clear_deadline(cc->st);
    stream_set_timeout(cc->st, timeout_ms);

    attr_list req = ATTR_LIST_INIT;
    attr_add_str(&req, "request", "open");
    attr_add_int(&req, "flags", flags);
    int rc = attr_send(cc->st, &req, &cc->err);
    attr_list_release(&req);
    if (rc != ATTR_OK) {
        msg_warn("cleanup service: open: %s", strbuf_str(&cc->err));
        strbuf_set(reply, WRITE_ERROR_REPLY);
        client_free(&cc);
        return NULL;
    }
    cc->open_pending = true;
    attr_add_str(&cc->out, "request", "content");
    return cc;
}

int cleanup_client_opened(cleanup_client *cc, strbuf *reply)
{
    if (!cc->open_pending) {
        if (cc->queue_id.len)
            return 0;
        strbuf_set(reply, WRITE_ERROR_REPLY);
        return 451;
    }
    cc->open_pending = false;
    attr_list resp = ATTR_LIST_INIT;
    int64_t status = -1;
    const char *id = NULL;
    int ret = -1;
    strbuf_reset(&cc->err);
    /* cleanup creates the queue file before it answers: poll first. What
     * was streamed meanwhile stays in our buffer (cleanup answers before it
     * reads more, so it never waits for it; a flush here would cost it a
     * wake-up per message). */
    stream_expect_wait(cc->st);
    if (attr_recv(cc->st, &cleanup_attr_limits, &resp, &cc->err) != ATTR_OK ||
        attr_get_int(&resp, "status", &status, &cc->err) < 0) {
        msg_warn("cleanup service: open: %s", strbuf_str(&cc->err));
        strbuf_set(reply, WRITE_ERROR_REPLY);
    } else if (status != 0) {
        reply_from(&resp, reply, WRITE_ERROR_REPLY);
    } else if (attr_get_str(&resp, "queue_id", &id, &cc->err) < 0) {
        msg_warn("cleanup service: open: %s", strbuf_str(&cc->err));
        strbuf_set(reply, WRITE_ERROR_REPLY);
    } else {
        strbuf_set(&cc->queue_id, id);
        ret = 0;
    }
    attr_list_release(&resp);
    if (ret == 0)
        return 0;
    cc->broken = true; /* nothing more to say on this connection */
    return reply_code(reply);
}

bool cleanup_client_open_pending(const cleanup_client *cc)
{
    return cc->open_pending;
}

const char *cleanup_client_queue_id(const cleanup_client *cc)
{
    return strbuf_str(&cc->queue_id);
}

cleanup_client *cleanup_client_open(const char *queue_dir, int flags, int timeout_ms,
                                    strbuf *queue_id, strbuf *reply)
{
    strbuf_reset(queue_id);
    cleanup_client *cc = cleanup_client_begin(queue_dir, flags, timeout_ms, reply);
    if (cc && cleanup_client_opened(cc, reply) != 0)
        client_free(&cc);
    if (cc)
        strbuf_set(queue_id, strbuf_str(&cc->queue_id));
    return cc;
}

static void add_opt(attr_list *al, const char *name, const char *value)
{
    if (value)
        attr_add_str(al, name, value);
}

int cleanup_client_envelope(cleanup_client *cc, const struct cleanup_envelope *env)
{
    attr_list al = ATTR_LIST_INIT;
    attr_add_str(&al, "request", "envelope");
    attr_add_int(&al, "time", (int64_t)env->arrival.tv_sec);
    attr_add_int(&al, "time_usec", (int64_t)env->arrival.tv_usec);
    attr_add_str(&al, "sender", env->sender ? env->sender : "");
    add_opt(&al, "fullname", env->fullname);
    add_opt(&al, "client_name", env->client_name);
    add_opt(&al, "client_addr", env->client_addr);
    add_opt(&al, "client_helo", env->client_helo);
    add_opt(&al, "protocol", env->protocol);
    add_opt(&al, "rewrite_context", env->rewrite_context);
    add_opt(&al, "sasl_username", env->sasl_username);
    add_opt(&al, "sasl_method", env->sasl_method);
    add_opt(&al, "client_port", env->client_port);
    add_opt(&al, "envid", env->envid);
    add_opt(&al, "ret", env->ret);
    add_opt(&al, "body", env->body);
    if (env->smtputf8)
        attr_add_int(&al, "smtputf8", 1);
    if (env->uid >= 0)
        attr_add_int(&al, "uid", env->uid);
    int rc = send_list(cc, &al, "send envelope");
    attr_list_release(&al);
    return rc;
}

int cleanup_client_rcpt(cleanup_client *cc, const char *address, const char *orig_rcpt,
                        const char *orcpt, int notify)
{
    attr_list al = ATTR_LIST_INIT;
    attr_add_str(&al, "request", "rcpt");
    attr_add_str(&al, "address", address);
    add_opt(&al, "orig_rcpt", orig_rcpt);
    add_opt(&al, "orcpt", orcpt);
    if (notify)
        attr_add_int(&al, "notify", notify);
    int rc = send_list(cc, &al, "send recipient");
    attr_list_release(&al);
    return rc;
}

int cleanup_client_content(cleanup_client *cc, const void *data, size_t len, bool line_end)
{
    const char *p = data;
    if (cc->broken)
        return -1;
    /* Split anything bigger than a chunk into pieces. */
    do {
        size_t room = CLEANUP_CHUNK - cc->out_bytes;
        if (room == 0 || attr_list_count(&cc->out) >= CLEANUP_CHUNK) {
            if (flush_content(cc) < 0)
                return -1;
            room = CLEANUP_CHUNK;
        }
        size_t n = len < room ? len : room;
        bool last = n == len;
        attr_add_data(&cc->out, last && line_end ? "N" : "L", p, n);
        cc->out_bytes += n;
        p += n;
        len -= n;
    } while (len > 0);
    return 0;
}

int cleanup_client_line(cleanup_client *cc, const char *line)
{
    return cleanup_client_content(cc, line, strlen(line), true);
}

static const char *const action_names[] = {
    [CLEANUP_ACT_HOLD] = "hold",         [CLEANUP_ACT_DISCARD] = "discard",
    [CLEANUP_ACT_REDIRECT] = "redirect", [CLEANUP_ACT_FILTER] = "filter",
    [CLEANUP_ACT_BCC] = "bcc",
};
#define N_ACTIONS (sizeof(action_names) / sizeof(action_names[0]))

const char *cleanup_action_name(enum cleanup_action kind)
{
    return (unsigned)kind < N_ACTIONS ? action_names[kind] : "unknown";
}

int cleanup_action_parse(const char *name)
{
    for (size_t i = 0; name && i < N_ACTIONS; i++)
        if (strcmp(name, action_names[i]) == 0)
            return (int)i;
    return -1;
}

/* An address as a table gives it: non-empty, no control characters (it
 * goes into a queue file record and log lines), bounded. */
static bool address_ok(const char *v)
{
    size_t n = v ? strlen(v) : 0;
    if (n == 0 || n > 1024)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)v[i] < 0x20 || v[i] == 0x7f || v[i] == ' ' || v[i] == '\t')
            return false;
    return true;
}

bool cleanup_action_value_ok(enum cleanup_action kind, const char *value)
{
    switch (kind) {
    case CLEANUP_ACT_HOLD:
    case CLEANUP_ACT_DISCARD:
        return true;
    case CLEANUP_ACT_REDIRECT:
    case CLEANUP_ACT_BCC:
        return address_ok(value);
    case CLEANUP_ACT_FILTER: {
        const char *colon = value ? strchr(value, ':') : NULL;
        if (!colon || colon == value || strlen(value) > 1024)
            return false;
        for (const char *p = value; p < colon; p++)
            if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
                  (*p >= '0' && *p <= '9') || *p == '.' || *p == '_' || *p == '-'))
                return false;
        for (const char *p = colon + 1; *p; p++)
            if ((unsigned char)*p < 0x20 || *p == 0x7f)
                return false;
        return true;
    }
    }
    return false;
}

int cleanup_client_action(cleanup_client *cc, enum cleanup_action kind, const char *value)
{
    /* Content streamed so far goes first: the action is ordered after it. */
    if (flush_content(cc) < 0)
        return -1;
    attr_list al = ATTR_LIST_INIT;
    attr_add_str(&al, "request", "action");
    attr_add_str(&al, "kind", cleanup_action_name(kind));
    add_opt(&al, "value", value);
    int rc = send_list(cc, &al, "send action");
    attr_list_release(&al);
    return rc;
}

const char *cleanup_milter_edit_name(enum milter_edit_kind kind)
{
    static const char *const names[] = {"addheader", "insheader",   "chgheader",
                                        "addrcpt",   "addrcpt_par", "delrcpt",
                                        "chgfrom",   "replbody",    "quarantine"};
    return (size_t)kind < sizeof(names) / sizeof(names[0]) ? names[kind] : NULL;
}

int cleanup_milter_edit_parse(const char *name)
{
    for (int k = MILTER_EDIT_ADDHEADER; k <= MILTER_EDIT_QUARANTINE; k++)
        if (name && strcmp(name, cleanup_milter_edit_name((enum milter_edit_kind)k)) == 0)
            return k;
    return -1;
}

int cleanup_client_milter_edit(cleanup_client *cc, const struct milter_edit *e)
{
    if (flush_content(cc) < 0)
        return -1;
    size_t nlen = e->name ? strlen(e->name) : 0, vlen = e->value ? strlen(e->value) : 0;
    if (nlen > CLEANUP_CHUNK || vlen > CLEANUP_CHUNK)
        return -1; /* longer than any header or address cleanup would keep */
    int rc = 0;
    size_t at = 0;
    do {
        attr_list al = ATTR_LIST_INIT;
        attr_add_str(&al, "request", "milter");
        attr_add_str(&al, "kind", cleanup_milter_edit_name(e->kind));
        if (e->kind == MILTER_EDIT_REPLBODY) {
            /* A milter's body packet may be larger than one message here. */
            size_t n = e->body_len - at > CLEANUP_CHUNK ? CLEANUP_CHUNK : e->body_len - at;
            attr_add_data(&al, "value", e->body ? e->body + at : (const unsigned char *)"", n);
            at += n;
        } else {
            attr_add_int(&al, "index", e->index);
            add_opt(&al, "name", e->name);
            add_opt(&al, "value", e->value);
            if (e->leadspc)
                attr_add_int(&al, "leadspc", 1);
        }
        rc = send_list(cc, &al, "send milter edit");
        attr_list_release(&al);
    } while (rc == 0 && e->kind == MILTER_EDIT_REPLBODY && at < e->body_len);
    return rc;
}

int cleanup_client_finish(cleanup_client **ccp, strbuf *reply)
{
    cleanup_client *cc = *ccp;
    int code = 451;
    attr_list req = ATTR_LIST_INIT, resp = ATTR_LIST_INIT;
    int64_t status = -1;

    strbuf_set(reply, WRITE_ERROR_REPLY);
    if (cc->open_pending && (code = cleanup_client_opened(cc, reply)) != 0)
        goto done;
    code = 451;
    if (flush_content(cc) < 0)
        goto done;
    attr_add_str(&req, "request", "end");
    if (send_list(cc, &req, "send end") < 0)
        goto done;
    strbuf_reset(&cc->err);
    /* cleanup writes and fsyncs the queue file before it answers. */
    stream_expect_wait(cc->st);
    if (stream_flush(cc->st) < 0 ||
        attr_recv(cc->st, &cleanup_attr_limits, &resp, &cc->err) != ATTR_OK ||
        attr_get_int(&resp, "status", &status, &cc->err) < 0) {
        client_broken(cc, "read reply");
        goto done;
    }
    if (status == 0) {
        code = 250;
        strbuf_reset(reply);
        strbuf_printf(reply, "250 2.0.0 Ok: queued as %s", strbuf_str(&cc->queue_id));
    } else {
        reply_from(&resp, reply, WRITE_ERROR_REPLY);
        code = reply_code(reply);
    }
done:
    attr_list_release(&req);
    attr_list_release(&resp);
    client_free(ccp);
    return code;
}

void cleanup_client_abort(cleanup_client **ccp)
{
    cleanup_client *cc = *ccp;
    if (!cc)
        return;
    if (!cc->broken) {
        attr_list req = ATTR_LIST_INIT;
        attr_add_str(&req, "request", "abort");
        if (send_list(cc, &req, "send abort") == 0)
            (void)stream_flush(cc->st);
        attr_list_release(&req);
    }
    client_free(ccp);
}
