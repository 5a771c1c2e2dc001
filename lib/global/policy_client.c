/* policy_client - Postfix policy delegation client; see policy_client.h. */
#include "policy_client.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "mem.h"
#include "msg.h"
#include "sock.h"
#include "stream.h"
#include "strlist.h"

/* ---- settings ---- */

static void copy_strings(struct policy_settings *out, const struct policy_settings *in)
{
    out->transport = NULL;
    out->endpoint = NULL;
    out->default_action = xstrdup(in->default_action ? in->default_action : "");
    out->policy_context = xstrdup(in->policy_context ? in->policy_context : "");
}

void policy_settings_release(struct policy_settings *s)
{
    XFREE(s->transport);
    XFREE(s->endpoint);
    XFREE(s->default_action);
    XFREE(s->policy_context);
}

/* "transport:endpoint" */
static int parse_endpoint(const char *item, struct policy_settings *out, strbuf *err)
{
    const char *colon = strchr(item, ':');
    if (!colon || colon == item || !colon[1]) {
        strbuf_printf(err, "policy service \"%s\": need transport:endpoint", item);
        return -1;
    }
    size_t tl = (size_t)(colon - item);
    if ((tl == 4 && memcmp(item, "inet", 4) == 0)) {
        strbuf host = STRBUF_INIT;
        unsigned port = 0;
        int r = sock_parse_hostport(colon + 1, &host, &port, err);
        bool empty_host = host.len == 0;
        strbuf_release(&host);
        if (r < 0 || empty_host) {
            if (r == 0)
                strbuf_printf(err, "policy service \"%s\": need inet:host:port", item);
            return -1;
        }
        out->transport = xstrdup("inet");
    } else if ((tl == 4 && memcmp(item, "unix", 4) == 0) ||
               (tl == 5 && memcmp(item, "local", 5) == 0)) {
        out->transport = xstrdup("unix");
    } else {
        strbuf_printf(err, "policy service \"%s\": unknown transport \"%.*s\" (inet or unix)", item,
                      (int)tl, item);
        return -1;
    }
    out->endpoint = xstrdup(colon + 1);
    return 0;
}

/* One "name=value" override (Postfix's attr_override, the
 * smtpd_policy_service_ prefix dropped). */
static int parse_override(const char *item, struct policy_settings *out, strbuf *err)
{
    const char *eq = strchr(item, '=');
    if (!eq) {
        strbuf_printf(err, "policy service setting \"%s\": need name=value", item);
        return -1;
    }
    strbuf name = STRBUF_INIT, value = STRBUF_INIT;
    strbuf_append(&name, item, (size_t)(eq - item));
    strbuf_trim(&name);
    strbuf_set(&value, eq + 1);
    strbuf_trim(&value);
    const char *n = strbuf_str(&name), *v = strbuf_str(&value);
    static const struct {
        const char *name;
        char kind; /* 't'ime, 'i'nt, 's'tring */
        long long min;
        size_t offset;
    } names[] = {
        {"timeout", 't', 1, offsetof(struct policy_settings, timeout_s)},
        {"max_idle", 't', 1, offsetof(struct policy_settings, max_idle_s)},
        {"max_ttl", 't', 1, offsetof(struct policy_settings, max_ttl_s)},
        {"retry_delay", 't', 1, offsetof(struct policy_settings, retry_delay_s)},
        {"request_limit", 'i', 0, offsetof(struct policy_settings, request_limit)},
        {"try_limit", 'i', 1, offsetof(struct policy_settings, try_limit)},
        {"default_action", 's', 1, offsetof(struct policy_settings, default_action)},
        {"policy_context", 's', 1, offsetof(struct policy_settings, policy_context)},
    };
    int rc = -1;
    size_t i = 0;
    while (i < sizeof(names) / sizeof(names[0]) && strcmp(names[i].name, n) != 0)
        i++;
    if (i == sizeof(names) / sizeof(names[0])) {
        strbuf_printf(err, "policy service setting \"%s\": unknown name \"%s\"", item, n);
        goto out;
    }
    char *field = (char *)out + names[i].offset;
    long long num = 0;
    switch (names[i].kind) {
    case 't':
    case 'i':
        if ((names[i].kind == 't' ? config_parse_time(v, 's', &num) : config_parse_int(v, &num)) <
                0 ||
            num < names[i].min) {
            strbuf_printf(err, "policy service setting \"%s\": bad value \"%s\" (%s >= %lld)", item,
                          v, names[i].kind == 't' ? "a time" : "a number", names[i].min);
            goto out;
        }
        memcpy(field, &num, sizeof(num));
        break;
    default: {
        if (!*v) {
            strbuf_printf(err, "policy service setting \"%s\": empty value", item);
            goto out;
        }
        char **sp = (char **)(void *)field;
        free(*sp);
        *sp = xstrdup(v);
    }
    }
    rc = 0;
out:
    strbuf_release(&name);
    strbuf_release(&value);
    return rc;
}

int policy_settings_parse(const char *spec, const struct policy_settings *defaults,
                          struct policy_settings *out, strbuf *err)
{
    *out = *defaults;
    copy_strings(out, defaults);
    strbuf_reset(err);
    strlist items = STRLIST_INIT;
    const char *e = NULL;
    int rc = -1;
    if (strlist_split(&items, spec, ", \t\r\n", &e) < 0) {
        strbuf_printf(err, "policy service \"%s\": %s", spec, e);
        goto out;
    }
    if (items.n == 0) {
        strbuf_printf(err, "empty policy service: \"%s\"", spec);
        goto out;
    }
    if (parse_endpoint(items.v[0], out, err) < 0)
        goto out;
    for (size_t i = 1; i < items.n; i++)
        if (parse_override(items.v[i], out, err) < 0)
            goto out;
    rc = 0;
out:
    strlist_release(&items);
    if (rc < 0)
        policy_settings_release(out);
    return rc;
}

int policy_spec_check(const char *spec, strbuf *err)
{
    static const struct policy_settings any = {
        .timeout_s = 1, .max_idle_s = 1, .max_ttl_s = 1, .try_limit = 1, .line_limit = 1};
    struct policy_settings s;
    if (policy_settings_parse(spec, &any, &s, err) < 0)
        return -1;
    policy_settings_release(&s);
    return 0;
}

/* ---- requests and replies ---- */

void policy_request_add(strbuf *req, const char *name, const char *value)
{
    strbuf_puts(req, name);
    strbuf_putc(req, '=');
    for (const char *p = value ? value : ""; *p; p++)
        strbuf_putc(req, *p == '\n' || *p == '\r' ? '?' : *p);
    strbuf_putc(req, '\n');
}

void policy_reply_release(struct policy_reply *r)
{
    strbuf_release(&r->action);
    r->have_action = false;
    r->lines = 0;
}

enum policy_reply_status policy_reply_line(struct policy_reply *r, const char *line, size_t len,
                                           size_t line_limit, strbuf *err)
{
    if (len == 0) {
        if (!r->have_action) {
            strbuf_set(err, "missing attribute action");
            return POLICY_REPLY_ERROR;
        }
        return POLICY_REPLY_DONE;
    }
    if (++r->lines > POLICY_REPLY_LINES_MAX) {
        strbuf_printf(err, "more than %d attributes", POLICY_REPLY_LINES_MAX);
        return POLICY_REPLY_ERROR;
    }
    if (len > line_limit) {
        strbuf_printf(err, "attribute longer than %zu bytes", line_limit);
        return POLICY_REPLY_ERROR;
    }
    if (memchr(line, 0, len)) {
        strbuf_set(err, "NUL byte in attribute");
        return POLICY_REPLY_ERROR;
    }
    const char *eq = memchr(line, '=', len);
    if (!eq || eq == line) {
        strbuf_printf(err, "malformed attribute \"%.*s\"", (int)(len > 100 ? 100 : len), line);
        return POLICY_REPLY_ERROR;
    }
    size_t nl = (size_t)(eq - line);
    if (nl == 6 && memcmp(line, "action", 6) == 0 && !r->have_action) {
        strbuf_reset(&r->action);
        strbuf_append(&r->action, eq + 1, len - nl - 1);
        r->have_action = true;
    }
    return POLICY_REPLY_MORE;
}

int policy_reply_parse(const char *buf, size_t len, size_t line_limit, strbuf *action, strbuf *err)
{
    struct policy_reply r = POLICY_REPLY_INIT;
    size_t pos = 0;
    int rc = -1;
    strbuf_reset(err);
    while (pos < len) {
        const char *nl = memchr(buf + pos, '\n', len - pos);
        if (!nl) {
            strbuf_set(err, "reply ends without an empty line");
            goto out;
        }
        size_t l = (size_t)(nl - (buf + pos));
        if (l > 0 && buf[pos + l - 1] == '\r')
            l--;
        enum policy_reply_status st = policy_reply_line(&r, buf + pos, l, line_limit, err);
        pos = (size_t)(nl - buf) + 1;
        if (st == POLICY_REPLY_ERROR)
            goto out;
        if (st == POLICY_REPLY_DONE) {
            if (pos != len) {
                strbuf_set(err, "data after the end of the reply");
                goto out;
            }
            strbuf_set(action, strbuf_str(&r.action));
            rc = 0;
            goto out;
        }
    }
    strbuf_set(err, "reply ends without an empty line");
out:
    policy_reply_release(&r);
    return rc;
}

/* ---- the connection ---- */

struct policy_client {
    struct policy_settings set;
    stream *st;
    int64_t opened_ms, used_ms;
    long long requests; /* on this connection */
};

policy_client *policy_client_new(const struct policy_settings *s)
{
    policy_client *pc = xcalloc(1, sizeof(*pc));
    pc->set = *s;
    copy_strings(&pc->set, s);
    pc->set.transport = xstrdup(s->transport);
    pc->set.endpoint = xstrdup(s->endpoint);
    return pc;
}

static void disconnect(policy_client *pc)
{
    if (pc->st)
        (void)stream_close(&pc->st);
    pc->requests = 0;
}

void policy_client_free(policy_client **pcp)
{
    policy_client *pc = *pcp;
    if (!pc)
        return;
    disconnect(pc);
    policy_settings_release(&pc->set);
    free(pc);
    *pcp = NULL;
}

const struct policy_settings *policy_client_settings(const policy_client *pc)
{
    return &pc->set;
}

static int timeout_ms(const policy_client *pc)
{
    return pc->set.timeout_s > INT32_MAX / 1000 ? INT32_MAX : (int)(pc->set.timeout_s * 1000);
}

/* Connect when there is no usable connection. -1: reason in why. */
static int ensure_connected(policy_client *pc, strbuf *why, bool *quiet)
{
    int64_t now = stream_now_ms();
    if (pc->st && (now - pc->used_ms > pc->set.max_idle_s * 1000 ||
                   now - pc->opened_ms > pc->set.max_ttl_s * 1000))
        disconnect(pc);
    /* Input before a request: the server closed (or babbles); either way
     * this connection's next reply would not be ours. */
    if (pc->st && stream_input_ready(pc->st, 0))
        disconnect(pc);
    if (pc->st)
        return 0;
    int fd;
    strbuf err = STRBUF_INIT;
    if (strcmp(pc->set.transport, "unix") == 0) {
        fd = sock_unix_connect(pc->set.endpoint, timeout_ms(pc), &err);
    } else {
        strbuf host = STRBUF_INIT;
        unsigned port = 0;
        fd = sock_parse_hostport(pc->set.endpoint, &host, &port, &err);
        if (fd == 0)
            fd = sock_inet_connect(strbuf_str(&host), port, AF_UNSPEC, timeout_ms(pc), &err);
        strbuf_release(&host);
    }
    if (fd < 0) {
        /* sock's reasons name the object; Postfix's line names the endpoint
         * and then the system's reason: keep the text after the last ": ". */
        const char *e = strbuf_str(&err), *tail = strrchr(e, ':');
        strbuf_set(why, tail && tail[1] == ' ' ? tail + 2 : e);
        *quiet = strbuf_eq(why, strerror(ENOENT)); /* not there yet: Postfix retries quietly */
        msg_warn("connect to %s: %s", pc->set.endpoint, strbuf_str(why));
        strbuf_release(&err);
        return -1;
    }
    strbuf_release(&err);
    pc->st = stream_open(fd);
    stream_set_timeout(pc->st, timeout_ms(pc));
    pc->opened_ms = pc->used_ms = now;
    pc->requests = 0;
    return 0;
}

/* One attempt. 0 ok; -1 with why set, and *quiet telling whether the
 * failure is one Postfix retries without a warning: the server went away. */
static int attempt(policy_client *pc, const strbuf *request, strbuf *action, strbuf *why,
                   bool *quiet)
{
    *quiet = false;
    if (ensure_connected(pc, why, quiet) < 0)
        return -1;
    int64_t deadline = stream_now_ms() + timeout_ms(pc);
    stream_set_deadline(pc->st, deadline);
    int r = stream_write(pc->st, request->s ? request->s : "", request->len);
    if (r == 0)
        r = stream_write(pc->st, "\n", 1);
    if (r == 0)
        r = stream_flush(pc->st);
    struct policy_reply rep = POLICY_REPLY_INIT;
    strbuf line = STRBUF_INIT;
    enum policy_reply_status st = POLICY_REPLY_MORE;
    while (r == 0 && st == POLICY_REPLY_MORE) {
        int k = stream_read_line(pc->st, &line, pc->set.line_limit);
        if (k == STREAM_LINE_TOOLONG) {
            strbuf_printf(why, "attribute longer than %zu bytes", pc->set.line_limit);
            msg_warn("malformed reply from %s: %s", pc->set.endpoint, strbuf_str(why));
            st = POLICY_REPLY_ERROR;
        } else if (k == STREAM_LINE_PARTIAL) {
            r = STREAM_EOF;
        } else if (k < 0) {
            r = k;
        } else {
            st = policy_reply_line(&rep, line.s ? line.s : "", line.len, pc->set.line_limit, why);
            if (st == POLICY_REPLY_ERROR)
                msg_warn("malformed reply from %s: %s", pc->set.endpoint, strbuf_str(why));
        }
    }
    if (r < 0) {
        int e = r == STREAM_TIMEOUT ? ETIMEDOUT : r == STREAM_EOF ? 0 : stream_errno(pc->st);
        *quiet = e == EPIPE || e == ECONNRESET || e == 0;
        strbuf_set(why, r == STREAM_EOF ? "lost connection" : strerror(e));
    }
    if (r == 0 && st == POLICY_REPLY_DONE)
        strbuf_set(action, strbuf_str(&rep.action));
    policy_reply_release(&rep);
    strbuf_release(&line);
    if (r < 0 || st != POLICY_REPLY_DONE) {
        disconnect(pc);
        return -1;
    }
    stream_clear_deadline(pc->st);
    pc->used_ms = stream_now_ms();
    if (pc->set.request_limit > 0 && ++pc->requests >= pc->set.request_limit)
        disconnect(pc);
    return 0;
}

int policy_client_query(policy_client *pc, const strbuf *request, strbuf *action)
{
    strbuf why = STRBUF_INIT;
    int rc = -1;
    for (long long count = 0;;) {
        bool quiet = false;
        strbuf_reset(&why);
        if (attempt(pc, request, action, &why, &quiet) == 0) {
            rc = 0;
            break;
        }
        /* Postfix's attr_clnt: the last failure is always logged, earlier
         * ones unless the server merely went away (it may have restarted). */
        ++count;
        if (count >= pc->set.try_limit || !quiet)
            msg_warn("problem talking to server %s: %s", pc->set.endpoint, strbuf_str(&why));
        if (count >= pc->set.try_limit)
            break;
        if (pc->set.retry_delay_s > 0)
            sleep(pc->set.retry_delay_s > 3600 ? 3600 : (unsigned)pc->set.retry_delay_s);
    }
    strbuf_release(&why);
    return rc;
}
