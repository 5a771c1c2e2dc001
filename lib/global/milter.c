/* milter - milter sessions: connections, negotiation, events, replies.
 * The contract is in milter.h; the packet decoder in milter_packet.c.
 */
#include "milter.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <strings.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "config.h"
#include "mem.h"
#include "msg.h"
#include "sock.h"
#include "stream.h"

#define TEMPFAIL_REPLY "451 4.7.1 Service unavailable - try again later"
#define REJECT_REPLY "550 5.7.1 Command rejected"
#define SHUTDOWN_REPLY "421 4.7.0 Server closing connection"

/* What this client implements, per protocol version (Postfix's masks). */
#define ACTIONS_V2 (SMFIF_ADDHDRS | SMFIF_CHGBODY | SMFIF_ADDRCPT | SMFIF_DELRCPT | SMFIF_CHGHDRS)
#define ACTIONS_V4 (ACTIONS_V2 | SMFIF_QUARANTINE)
#define ACTIONS_V6 (ACTIONS_V4 | SMFIF_CHGFROM | SMFIF_ADDRCPT_PAR | SMFIF_SETSYMLIST)
#define PROTO_V2                                                                                   \
    (SMFIP_NOCONNECT | SMFIP_NOHELO | SMFIP_NOMAIL | SMFIP_NORCPT | SMFIP_NOBODY | SMFIP_NOHDRS)
#define PROTO_V3 (PROTO_V2 | SMFIP_NOEOH)
#define PROTO_V4 (PROTO_V3 | SMFIP_NR_HDR | SMFIP_NOUNKNOWN)
#define PROTO_V6                                                                                   \
    (PROTO_V4 | SMFIP_NODATA | SMFIP_SKIP | SMFIP_NR_CONN | SMFIP_NR_HELO | SMFIP_NR_MAIL |        \
     SMFIP_NR_RCPT | SMFIP_NR_DATA | SMFIP_NR_UNKN | SMFIP_NR_EOH | SMFIP_NR_BODY |                \
     SMFIP_HDR_LEADSPC)

enum milter_state {
    M_CLOSED,      /* not connected yet */
    M_READY,       /* connected and negotiated */
    M_ACCEPT_CONN, /* ACCEPT at connect/helo: silent for the session */
    M_ACCEPT_MSG,  /* ACCEPT during a message: silent until it ends */
    M_FAILED,      /* unreachable or broken: default_action from now on */
};

struct milter {
    char *spec;
    enum milter_default def;
    int conn_ms, cmd_ms, content_ms;
    int version;
    strbuf macros[MILTER_M_COUNT];
    stream *st;
    uint32_t actions, proto;
    enum milter_state state;
    bool skip_body; /* SMFIR_SKIP: no more body for this message */
    bool in_message;
};

struct milter_set {
    char *param;
    struct milter *v;
    size_t n;
    milter_macro_fn macro_fn;
    void *macro_ctx;
    /* content */
    bool content_started, in_body, eoh_sent;
    strbuf hdr; /* the logical header being assembled */
    bool hdr_pending;
    bool line_part; /* the previous piece did not end its line */
    strbuf body;    /* body bytes not sent yet */
    size_t header_limit;
    enum milter_verdict content_verdict;
    strbuf content_reply;
    bool hold;
};

int milter_default_parse(const char *word)
{
    static const char *const names[] = {"accept", "tempfail", "reject", "quarantine"};
    for (int i = 0; i < 4; i++)
        if (word && strcasecmp(word, names[i]) == 0)
            return i;
    return -1;
}

/* ---- configuration ---------------------------------------------------- */

static const char *const macro_params[MILTER_M_COUNT] = {
    "milter_connect_macros",       "milter_helo_macros",
    "milter_mail_macros",          "milter_rcpt_macros",
    "milter_data_macros",          "milter_end_of_data_macros",
    "milter_end_of_header_macros", "milter_unknown_command_macros",
};

static int time_ms(const char *param, const char *text, int *out, strbuf *err)
{
    long long s;
    if (config_parse_time(text, 's', &s) < 0 || s < 1 || s > 86400) {
        strbuf_printf(err, "bad %s value \"%s\"", param, text);
        return -1;
    }
    *out = (int)(s * 1000);
    return 0;
}

static int spec_ok(const char *spec)
{
    return strncmp(spec, "inet:", 5) == 0 || strncmp(spec, "unix:", 5) == 0 ||
           strncmp(spec, "local:", 6) == 0;
}

static int milter_init(struct milter *m, const char *item, strbuf *err)
{
    strlist parts = STRLIST_INIT;
    const char *perr = NULL;
    int ret = -1;
    if (strlist_split(&parts, item, ", \t\r\n", &perr) < 0 || parts.n == 0) {
        strbuf_printf(err, "malformed milter entry \"%s\"", item);
        goto out;
    }
    if (!spec_ok(parts.v[0])) {
        strbuf_printf(err,
                      "unsupported milter endpoint \"%s\" (inet:host:port, unix:path "
                      "or local:path)",
                      parts.v[0]);
        goto out;
    }
    m->spec = xstrdup(parts.v[0]);
    int d = milter_default_parse(config_get("milter_default_action"));
    if (d < 0) {
        strbuf_printf(err, "bad milter_default_action value \"%s\"",
                      config_get("milter_default_action"));
        goto out;
    }
    m->def = (enum milter_default)d;
    if (time_ms("milter_connect_timeout", config_get("milter_connect_timeout"), &m->conn_ms, err) <
            0 ||
        time_ms("milter_command_timeout", config_get("milter_command_timeout"), &m->cmd_ms, err) <
            0 ||
        time_ms("milter_content_timeout", config_get("milter_content_timeout"), &m->content_ms,
                err) < 0)
        goto out;
    const char *proto = config_get("milter_protocol");
    for (size_t i = 1; i <= parts.n; i++) {
        const char *kv = i < parts.n ? parts.v[i] : NULL;
        if (!kv)
            break;
        const char *eq = strchr(kv, '=');
        if (!eq || eq == kv) {
            strbuf_printf(err, "malformed milter setting \"%s\" in \"%s\"", kv, item);
            goto out;
        }
        size_t nl = (size_t)(eq - kv);
        const char *val = eq + 1;
        if (nl == 15 && strncmp(kv, "connect_timeout", nl) == 0) {
            if (time_ms("connect_timeout", val, &m->conn_ms, err) < 0)
                goto out;
        } else if (nl == 15 && strncmp(kv, "command_timeout", nl) == 0) {
            if (time_ms("command_timeout", val, &m->cmd_ms, err) < 0)
                goto out;
        } else if (nl == 15 && strncmp(kv, "content_timeout", nl) == 0) {
            if (time_ms("content_timeout", val, &m->content_ms, err) < 0)
                goto out;
        } else if (nl == 14 && strncmp(kv, "default_action", nl) == 0) {
            if ((d = milter_default_parse(val)) < 0) {
                strbuf_printf(err, "bad default_action value \"%s\" in \"%s\"", val, item);
                goto out;
            }
            m->def = (enum milter_default)d;
        } else if (nl == 8 && strncmp(kv, "protocol", nl) == 0) {
            proto = val;
        } else {
            strbuf_printf(err, "unknown milter setting \"%.*s\" in \"%s\"", (int)nl, kv, item);
            goto out;
        }
    }
    if (strcmp(proto, "2") == 0 || strcmp(proto, "3") == 0 || strcmp(proto, "4") == 0 ||
        strcmp(proto, "6") == 0) {
        m->version = proto[0] - '0';
    } else {
        strbuf_printf(err, "unsupported milter protocol version \"%s\" (2, 3, 4 or 6)", proto);
        goto out;
    }
    for (int i = 0; i < MILTER_M_COUNT; i++)
        strbuf_set(&m->macros[i], config_get(macro_params[i]));
    ret = 0;
out:
    strlist_release(&parts);
    return ret;
}

milter_set *milter_set_create(const char *param, const char *value, strbuf *err)
{
    strlist items = STRLIST_INIT;
    const char *perr = NULL;
    strbuf why = STRBUF_INIT;
    if (strlist_split(&items, value, ", \t\r\n", &perr) < 0) {
        strbuf_reset(err);
        strbuf_printf(err, "%s: %s", param, perr);
        strlist_release(&items);
        return NULL;
    }
    milter_set *ms = xcalloc(1, sizeof(*ms));
    ms->param = xstrdup(param);
    ms->v = items.n ? xcalloc(items.n, sizeof(*ms->v)) : NULL;
    long long hsl = config_get_size("header_size_limit");
    ms->header_limit = hsl > 0 ? (size_t)hsl : 102400;
    for (size_t i = 0; i < items.n; i++) {
        ms->n++;
        if (milter_init(&ms->v[i], items.v[i], &why) < 0) {
            strbuf_reset(err);
            strbuf_printf(err, "%s: %s", param, strbuf_str(&why));
            milter_set_free(&ms);
            break;
        }
    }
    strlist_release(&items);
    strbuf_release(&why);
    return ms;
}

static void milter_close(struct milter *m)
{
    if (m->st)
        (void)stream_close(&m->st);
}

void milter_set_free(milter_set **msp)
{
    milter_set *ms = *msp;
    if (!ms)
        return;
    *msp = NULL;
    for (size_t i = 0; i < ms->n; i++) {
        milter_close(&ms->v[i]);
        free(ms->v[i].spec);
        for (int j = 0; j < MILTER_M_COUNT; j++)
            strbuf_release(&ms->v[i].macros[j]);
    }
    free(ms->v);
    free(ms->param);
    strbuf_release(&ms->hdr);
    strbuf_release(&ms->body);
    strbuf_release(&ms->content_reply);
    free(ms);
}

void milter_set_macros(milter_set *ms, milter_macro_fn fn, void *ctx)
{
    ms->macro_fn = fn;
    ms->macro_ctx = ctx;
}

bool milter_set_empty(const milter_set *ms)
{
    return !ms || ms->n == 0;
}

bool milter_hold_requested(const milter_set *ms)
{
    return ms && ms->hold;
}

/* ---- wire ------------------------------------------------------------- */

static void put_u32(strbuf *b, uint32_t v)
{
    unsigned char p[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 8), (unsigned char)v};
    strbuf_append(b, p, 4);
}

static void put_str(strbuf *b, const char *s)
{
    strbuf_append(b, s, strlen(s) + 1);
}

static const char *cmd_name(int cmd)
{
    switch (cmd) {
    case SMFIC_OPTNEG:
        return "SMFIC_OPTNEG";
    case SMFIC_CONNECT:
        return "SMFIC_CONNECT";
    case SMFIC_HELO:
        return "SMFIC_HELO";
    case SMFIC_MAIL:
        return "SMFIC_MAIL";
    case SMFIC_RCPT:
        return "SMFIC_RCPT";
    case SMFIC_DATA:
        return "SMFIC_DATA";
    case SMFIC_HEADER:
        return "SMFIC_HEADER";
    case SMFIC_EOH:
        return "SMFIC_EOH";
    case SMFIC_BODY:
        return "SMFIC_BODY";
    case SMFIC_BODYEOB:
        return "SMFIC_BODYEOB";
    case SMFIC_UNKNOWN:
        return "SMFIC_UNKNOWN";
    default:
        return "command";
    }
}

/* The milter is broken from now on: log once, close, default action. */
static void fail(struct milter *m, const char *why, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fail(struct milter *m, const char *why, const char *fmt, ...)
{
    strbuf text = STRBUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    strbuf_vprintf(&text, fmt, ap);
    va_end(ap);
    msg_warn("milter %s: %s: %s", m->spec, strbuf_str(&text), why);
    strbuf_release(&text);
    milter_close(m);
    m->state = M_FAILED;
}

/* With `flush` false the packet waits in the buffer for the next one (a
 * macro packet goes out with its command in one segment: two small writes
 * before a reply meet Nagle and the peer's delayed ACK, 40 ms each). */
static int queue_packet(struct milter *m, int cmd, const void *data, size_t len, int timeout_ms,
                        bool flush)
{
    strbuf b = STRBUF_INIT;
    put_u32(&b, (uint32_t)len + 1);
    strbuf_putc(&b, (char)cmd);
    strbuf_append(&b, data, len);
    stream_set_timeout(m->st, timeout_ms);
    int rc = stream_write(m->st, b.s, b.len);
    if (rc == 0 && flush)
        rc = stream_flush(m->st);
    strbuf_release(&b);
    if (rc < 0) {
        fail(m, stream_strerror(m->st, rc), "can't send %s packet", cmd_name(cmd));
        return -1;
    }
    return 0;
}

static int send_packet(struct milter *m, int cmd, const void *data, size_t len, int timeout_ms)
{
    return queue_packet(m, cmd, data, len, timeout_ms, true);
}

/* Read one packet: *cmd and payload in buf. */
static int read_packet(struct milter *m, int for_cmd, int timeout_ms, int *cmd, strbuf *buf)
{
    unsigned char hdr[4];
    stream_set_timeout(m->st, timeout_ms);
    int rc = stream_read_exact(m->st, hdr, 4);
    if (rc < 0) {
        fail(m, rc == STREAM_TIMEOUT ? "Connection timed out" : stream_strerror(m->st, rc),
             "can't read %s reply packet header", cmd_name(for_cmd));
        return -1;
    }
    uint32_t len = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 | hdr[3];
    if (len < 1 || len > MILTER_MAX_PACKET) {
        fail(m, len < 1 ? "zero" : "too long", "bad %s reply packet length", cmd_name(for_cmd));
        return -1;
    }
    unsigned char c;
    strbuf_reset(buf);
    if ((rc = stream_read_exact(m->st, &c, 1)) < 0 ||
        (len > 1 && (rc = stream_read_append(m->st, buf, len - 1)) < 0)) {
        fail(m, rc == STREAM_TIMEOUT ? "Connection timed out" : stream_strerror(m->st, rc),
             "can't read %s reply packet body", cmd_name(for_cmd));
        return -1;
    }
    *cmd = c;
    return 0;
}

static int do_connect(struct milter *m)
{
    strbuf err = STRBUF_INIT, host = STRBUF_INIT;
    int fd = -1;
    const char *colon = strchr(m->spec, ':');
    const char *where = colon + 1;
    if (strncmp(m->spec, "inet:", 5) == 0) {
        /* Postfix's inet:host:port; the port is after the last colon. */
        const char *last = strrchr(where, ':');
        unsigned port = 0;
        if (!last || last == where) {
            strbuf_set(&err, "missing host or port");
        } else {
            strbuf_append(&host, where, (size_t)(last - where));
            if (host.len > 2 && host.s[0] == '[' && host.s[host.len - 1] == ']') {
                memmove(host.s, host.s + 1, host.len - 2);
                strbuf_truncate(&host, host.len - 2);
            }
            if (sock_parse_port(last + 1, &port, &err) == 0)
                fd = sock_inet_connect(strbuf_str(&host), port, AF_UNSPEC, m->conn_ms, &err);
        }
    } else {
        fd = sock_unix_connect(where, m->conn_ms, &err);
    }
    if (fd < 0) {
        /* The reason ends with strerror, e.g. "Connection refused". */
        const char *why = strbuf_str(&err);
        const char *p = strrchr(why, ':');
        msg_warn("connect to Milter service %s: %s", m->spec, p ? p + 2 : why);
        m->state = M_FAILED;
        strbuf_release(&err);
        strbuf_release(&host);
        return -1;
    }
    strbuf_release(&err);
    strbuf_release(&host);
    if (strncmp(m->spec, "inet:", 5) == 0) {
        /* Request/reply in small packets: never wait for an ACK. */
        int one = 1;
        if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0)
            msg_warn("milter %s: setsockopt TCP_NODELAY: %m", m->spec);
    }
    m->st = stream_open(fd);

    uint32_t my_actions = m->version >= 6 ? ACTIONS_V6 : m->version >= 4 ? ACTIONS_V4 : ACTIONS_V2;
    uint32_t my_proto = m->version >= 6   ? PROTO_V6
                        : m->version >= 4 ? PROTO_V4
                        : m->version >= 3 ? PROTO_V3
                                          : PROTO_V2;
    strbuf b = STRBUF_INIT;
    put_u32(&b, (uint32_t)m->version);
    put_u32(&b, my_actions);
    put_u32(&b, my_proto);
    int rc = send_packet(m, SMFIC_OPTNEG, b.s, b.len, m->cmd_ms);
    strbuf_release(&b);
    if (rc < 0)
        return -1;
    int cmd;
    strbuf buf = STRBUF_INIT, why = STRBUF_INIT;
    struct milter_packet p = {0};
    if (read_packet(m, SMFIC_OPTNEG, m->cmd_ms, &cmd, &buf) < 0)
        goto bad;
    if (cmd != SMFIC_OPTNEG) {
        fail(m, "not an SMFIC_OPTNEG packet", "unexpected %s reply", "SMFIC_OPTNEG");
        goto bad;
    }
    if (milter_packet_parse(cmd, (const unsigned char *)buf.s, buf.len, &p, &why) < 0) {
        fail(m, strbuf_str(&why), "%s", "SMFIC_OPTNEG reply");
        goto bad;
    }
    if (p.version < 2 || p.version > 6) {
        fail(m, "unsupported protocol version", "%s", "SMFIC_OPTNEG reply");
        goto bad;
    }
    /* A milter may not ask for more than was offered; what it asks for
     * beyond that is ignored, as Postfix does (with a warning). */
    if ((p.actions & ~my_actions) || (p.proto & ~my_proto))
        msg_warn("milter %s: ignoring unsupported actions 0x%x protocol 0x%x", m->spec,
                 p.actions & ~my_actions, p.proto & ~my_proto);
    m->actions = p.actions & my_actions;
    m->proto = p.proto & my_proto;
    if (m->actions & SMFIF_SETSYMLIST)
        for (int i = 0; i < MILTER_M_UNKNOWN; i++)
            if (p.have_macros[i])
                strbuf_set(&m->macros[i], strbuf_str(&p.macros[i]));
    m->state = M_READY;
    milter_packet_release(&p);
    strbuf_release(&buf);
    strbuf_release(&why);
    return 0;
bad:
    milter_packet_release(&p);
    strbuf_release(&buf);
    strbuf_release(&why);
    return -1;
}

/* Send SMFIC_MACRO for `stage` before event `cmd`, if anything is defined. */
static int send_macros(milter_set *ms, struct milter *m, enum milter_stage stage, int cmd,
                       int timeout_ms)
{
    if (!ms->macro_fn || m->macros[stage].len == 0)
        return 0;
    strlist names = STRLIST_INIT;
    const char *perr = NULL;
    (void)strlist_split(&names, strbuf_str(&m->macros[stage]), ", \t\r\n", &perr);
    strbuf b = STRBUF_INIT, key = STRBUF_INIT;
    strbuf_putc(&b, (char)cmd);
    size_t start = b.len;
    for (size_t i = 0; i < names.n; i++) {
        /* strlist_split removed the braces of "{name}": a one-letter name
         * is sent bare, longer ones in braces, as Sendmail writes them. */
        const char *n = names.v[i];
        const char *v = ms->macro_fn(ms->macro_ctx, n);
        if (!v)
            continue;
        strbuf_reset(&key);
        if (strlen(n) == 1)
            strbuf_puts(&key, n);
        else
            strbuf_printf(&key, "{%s}", n);
        put_str(&b, strbuf_str(&key));
        put_str(&b, v);
    }
    int rc = 0;
    if (b.len > start)
        rc = queue_packet(m, SMFIC_MACRO, b.s, b.len, timeout_ms, false);
    strbuf_release(&b);
    strbuf_release(&key);
    strlist_release(&names);
    return rc;
}

/* The verdict a failed milter stands for. */
static enum milter_verdict default_verdict(milter_set *ms, struct milter *m, strbuf *reply)
{
    switch (m->def) {
    case MILTER_DEF_ACCEPT:
        return MILTER_CONTINUE;
    case MILTER_DEF_QUARANTINE:
        ms->hold = true;
        return MILTER_CONTINUE;
    case MILTER_DEF_TEMPFAIL:
        strbuf_set(reply, TEMPFAIL_REPLY);
        return MILTER_REJECT;
    case MILTER_DEF_REJECT:
        strbuf_set(reply, REJECT_REPLY);
        return MILTER_REJECT;
    }
    return MILTER_CONTINUE;
}

struct event {
    int cmd;
    enum milter_stage stage; /* macros; MILTER_M_COUNT = none */
    uint32_t skip, noreply;  /* SMFIP_NO* and SMFIP_NR_* bits of this step */
    bool content;            /* content_timeout instead of command_timeout */
    bool eom;
    milter_edit_fn edit;
    void *edit_ctx;
};

static int edit_one(struct milter *m, const struct event *ev, const struct milter_packet *p)
{
    static const struct {
        int cmd;
        uint32_t action;
        enum milter_edit_kind kind;
    } map[] = {
        {SMFIR_ADDHEADER, SMFIF_ADDHDRS, MILTER_EDIT_ADDHEADER},
        {SMFIR_INSHEADER, SMFIF_ADDHDRS, MILTER_EDIT_INSHEADER},
        {SMFIR_CHGHEADER, SMFIF_CHGHDRS, MILTER_EDIT_CHGHEADER},
        {SMFIR_ADDRCPT, SMFIF_ADDRCPT, MILTER_EDIT_ADDRCPT},
        {SMFIR_ADDRCPT_PAR, SMFIF_ADDRCPT_PAR, MILTER_EDIT_ADDRCPT_PAR},
        {SMFIR_DELRCPT, SMFIF_DELRCPT, MILTER_EDIT_DELRCPT},
        {SMFIR_CHGFROM, SMFIF_CHGFROM, MILTER_EDIT_CHGFROM},
        {SMFIR_REPLBODY, SMFIF_CHGBODY, MILTER_EDIT_REPLBODY},
        {SMFIR_QUARANTINE, SMFIF_QUARANTINE, MILTER_EDIT_QUARANTINE},
    };
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        if (map[i].cmd != p->cmd)
            continue;
        if (!ev->eom || !(m->actions & map[i].action)) {
            fail(m, ev->eom ? "action not negotiated" : "modification before end of message",
                 "unexpected '%s' request", (const char[]){(char)p->cmd, 0});
            return -1;
        }
        struct milter_edit e = {
            .kind = map[i].kind,
            .index = (long)p->index,
            .name = strbuf_str(&p->name),
            .value = strbuf_str(&p->value),
            .body = p->body,
            .body_len = p->body_len,
            .leadspc = (m->proto & SMFIP_HDR_LEADSPC) != 0,
        };
        if (ev->edit && ev->edit(ev->edit_ctx, &e) < 0)
            return -2;
        return 0;
    }
    return 1; /* not a modification */
}

/* One event to one milter. */
static enum milter_verdict one(milter_set *ms, struct milter *m, const struct event *ev,
                               const void *data, size_t len, strbuf *reply)
{
    if (m->state == M_FAILED)
        return default_verdict(ms, m, reply);
    if (m->state != M_READY || (m->proto & ev->skip))
        return MILTER_CONTINUE;
    if (ev->cmd == SMFIC_BODY && m->skip_body)
        return MILTER_CONTINUE;
    int tmo = ev->content ? m->content_ms : m->cmd_ms;
    if (ev->stage < MILTER_M_COUNT && send_macros(ms, m, ev->stage, ev->cmd, tmo) < 0)
        return default_verdict(ms, m, reply);
    if (send_packet(m, ev->cmd, data, len, tmo) < 0)
        return default_verdict(ms, m, reply);
    m->in_message |= ev->stage >= MILTER_M_MAIL;
    if (m->proto & ev->noreply)
        return MILTER_CONTINUE;
    strbuf buf = STRBUF_INIT, why = STRBUF_INIT;
    struct milter_packet p = {0};
    enum milter_verdict v = MILTER_CONTINUE;
    for (;;) {
        int cmd;
        if (read_packet(m, ev->cmd, tmo, &cmd, &buf) < 0) {
            v = default_verdict(ms, m, reply);
            break;
        }
        if (milter_packet_parse(cmd, (const unsigned char *)buf.s, buf.len, &p, &why) < 0) {
            fail(m, strbuf_str(&why), "bad %s reply", cmd_name(ev->cmd));
            v = default_verdict(ms, m, reply);
            break;
        }
        int e = edit_one(m, ev, &p);
        if (e == 0)
            continue;
        if (e == -1) {
            v = default_verdict(ms, m, reply);
            break;
        }
        if (e == -2) {
            strbuf_set(reply, "451 4.3.0 Error: queue file write error");
            v = MILTER_REJECT;
            break;
        }
        switch (cmd) {
        case SMFIR_PROGRESS:
            continue;
        case SMFIR_CONTINUE:
            break;
        case SMFIR_ACCEPT:
            m->state = ev->stage <= MILTER_M_HELO ? M_ACCEPT_CONN : M_ACCEPT_MSG;
            break;
        case SMFIR_SKIP:
            if (ev->cmd == SMFIC_BODY)
                m->skip_body = true;
            break;
        case SMFIR_REJECT:
            strbuf_set(reply, REJECT_REPLY);
            v = MILTER_REJECT;
            break;
        case SMFIR_TEMPFAIL:
            strbuf_set(reply, TEMPFAIL_REPLY);
            v = MILTER_REJECT;
            break;
        case SMFIR_REPLYCODE:
            strbuf_set(reply, strbuf_str(&p.value));
            v = MILTER_REJECT;
            break;
        case SMFIR_DISCARD:
            v = MILTER_DISCARD;
            break;
        case SMFIR_SHUTDOWN:
        case SMFIR_CONN_FAIL:
            strbuf_set(reply, SHUTDOWN_REPLY);
            v = MILTER_SHUTDOWN;
            break;
        default:
            fail(m, "bad reply code", "unexpected %s reply", cmd_name(ev->cmd));
            v = default_verdict(ms, m, reply);
            break;
        }
        break;
    }
    milter_packet_release(&p);
    strbuf_release(&buf);
    strbuf_release(&why);
    return v;
}

/* One event to every milter; the first verdict other than CONTINUE wins.
 * `leadspc_data` is the payload for milters that negotiated
 * SMFIP_HDR_LEADSPC (headers only). */
static enum milter_verdict all(milter_set *ms, const struct event *ev, const void *data, size_t len,
                               const void *leadspc_data, size_t leadspc_len, strbuf *reply)
{
    if (!ms)
        return MILTER_CONTINUE;
    for (size_t i = 0; i < ms->n; i++) {
        struct milter *m = &ms->v[i];
        bool lead = leadspc_data && (m->proto & SMFIP_HDR_LEADSPC);
        enum milter_verdict v =
            one(ms, m, ev, lead ? leadspc_data : data, lead ? leadspc_len : len, reply);
        if (v != MILTER_CONTINUE)
            return v;
    }
    return MILTER_CONTINUE;
}

/* ---- events ----------------------------------------------------------- */

enum milter_verdict milter_connect_event(milter_set *ms, const char *name, const char *addr,
                                         unsigned port, int family, strbuf *reply)
{
    if (!ms)
        return MILTER_CONTINUE;
    for (size_t i = 0; i < ms->n; i++)
        if (ms->v[i].state == M_CLOSED)
            (void)do_connect(&ms->v[i]);
    strbuf b = STRBUF_INIT;
    put_str(&b, name);
    strbuf_putc(&b, (char)family);
    if (family != 'U') {
        unsigned char p[2] = {(unsigned char)(port >> 8), (unsigned char)port};
        strbuf_append(&b, p, 2);
        put_str(&b, addr);
    }
    struct event ev = {.cmd = SMFIC_CONNECT,
                       .stage = MILTER_M_CONNECT,
                       .skip = SMFIP_NOCONNECT,
                       .noreply = SMFIP_NR_CONN};
    enum milter_verdict v = all(ms, &ev, b.s, b.len, NULL, 0, reply);
    strbuf_release(&b);
    return v;
}

/* An event whose payload is one string. */
static enum milter_verdict str_event(milter_set *ms, const struct event *ev, const char *text,
                                     strbuf *reply)
{
    strbuf b = STRBUF_INIT;
    put_str(&b, text);
    enum milter_verdict v = all(ms, ev, b.s, b.len, NULL, 0, reply);
    strbuf_release(&b);
    return v;
}

enum milter_verdict milter_helo_event(milter_set *ms, const char *helo, strbuf *reply)
{
    struct event ev = {
        .cmd = SMFIC_HELO, .stage = MILTER_M_HELO, .skip = SMFIP_NOHELO, .noreply = SMFIP_NR_HELO};
    return str_event(ms, &ev, helo, reply);
}

static void reset_message(milter_set *ms)
{
    if (!ms)
        return;
    for (size_t i = 0; i < ms->n; i++) {
        if (ms->v[i].state == M_ACCEPT_MSG)
            ms->v[i].state = M_READY;
        ms->v[i].skip_body = false;
        ms->v[i].in_message = false;
    }
    ms->content_started = ms->in_body = ms->eoh_sent = ms->hdr_pending = ms->line_part = false;
    strbuf_reset(&ms->hdr);
    strbuf_reset(&ms->body);
    strbuf_reset(&ms->content_reply);
    ms->content_verdict = MILTER_CONTINUE;
    ms->hold = false;
}

static enum milter_verdict argv_event(milter_set *ms, int cmd, enum milter_stage stage,
                                      uint32_t skip, uint32_t nr, const strlist *argv,
                                      strbuf *reply)
{
    strbuf b = STRBUF_INIT;
    for (size_t i = 0; i < argv->n; i++)
        put_str(&b, argv->v[i]);
    struct event ev = {.cmd = cmd, .stage = stage, .skip = skip, .noreply = nr};
    enum milter_verdict v = all(ms, &ev, b.s, b.len, NULL, 0, reply);
    strbuf_release(&b);
    return v;
}

enum milter_verdict milter_mail_event(milter_set *ms, const strlist *argv, strbuf *reply)
{
    reset_message(ms);
    return argv_event(ms, SMFIC_MAIL, MILTER_M_MAIL, SMFIP_NOMAIL, SMFIP_NR_MAIL, argv, reply);
}

enum milter_verdict milter_rcpt_event(milter_set *ms, const strlist *argv, strbuf *reply)
{
    return argv_event(ms, SMFIC_RCPT, MILTER_M_RCPT, SMFIP_NORCPT, SMFIP_NR_RCPT, argv, reply);
}

enum milter_verdict milter_data_event(milter_set *ms, strbuf *reply)
{
    struct event ev = {
        .cmd = SMFIC_DATA, .stage = MILTER_M_DATA, .skip = SMFIP_NODATA, .noreply = SMFIP_NR_DATA};
    return all(ms, &ev, "", 0, NULL, 0, reply);
}

enum milter_verdict milter_unknown_event(milter_set *ms, const char *command, strbuf *reply)
{
    struct event ev = {.cmd = SMFIC_UNKNOWN,
                       .stage = MILTER_M_UNKNOWN,
                       .skip = SMFIP_NOUNKNOWN,
                       .noreply = SMFIP_NR_UNKN};
    return str_event(ms, &ev, command, reply);
}

/* ---- content ---------------------------------------------------------- */

static void content_result(milter_set *ms, enum milter_verdict v, strbuf *reply)
{
    if (v != MILTER_CONTINUE && ms->content_verdict == MILTER_CONTINUE) {
        ms->content_verdict = v;
        strbuf_set(&ms->content_reply, strbuf_str(reply));
    }
}

static void send_header(milter_set *ms)
{
    if (!ms->hdr_pending)
        return;
    ms->hdr_pending = false;
    if (ms->content_verdict != MILTER_CONTINUE)
        return;
    const char *h = strbuf_str(&ms->hdr);
    const char *colon = memchr(h, ':', ms->hdr.len);
    size_t nlen = colon ? (size_t)(colon - h) : ms->hdr.len;
    while (nlen > 0 && (h[nlen - 1] == ' ' || h[nlen - 1] == '\t'))
        nlen--;
    const char *val = colon ? colon + 1 : h + ms->hdr.len;
    strbuf plain = STRBUF_INIT, lead = STRBUF_INIT;
    strbuf_append(&plain, h, nlen);
    strbuf_putc(&plain, 0);
    strbuf_append(&lead, plain.s, plain.len);
    /* Without SMFIP_HDR_LEADSPC the milter gets the value without the one
     * space that usually follows the colon (Sendmail's behaviour). */
    const char *v2 = *val == ' ' ? val + 1 : val;
    strbuf_append(&plain, v2, strlen(v2) + 1);
    strbuf_append(&lead, val, strlen(val) + 1);
    struct event ev = {.cmd = SMFIC_HEADER,
                       .stage = MILTER_M_COUNT,
                       .skip = SMFIP_NOHDRS,
                       .noreply = SMFIP_NR_HDR,
                       .content = true};
    strbuf reply = STRBUF_INIT;
    content_result(ms, all(ms, &ev, plain.s, plain.len, lead.s, lead.len, &reply), &reply);
    strbuf_release(&reply);
    strbuf_release(&plain);
    strbuf_release(&lead);
}

static void send_eoh(milter_set *ms)
{
    send_header(ms);
    if (ms->eoh_sent)
        return;
    ms->eoh_sent = true;
    ms->in_body = true;
    if (ms->content_verdict != MILTER_CONTINUE)
        return;
    struct event ev = {.cmd = SMFIC_EOH,
                       .stage = MILTER_M_EOH,
                       .skip = SMFIP_NOEOH,
                       .noreply = SMFIP_NR_EOH,
                       .content = true};
    strbuf reply = STRBUF_INIT;
    content_result(ms, all(ms, &ev, "", 0, NULL, 0, &reply), &reply);
    strbuf_release(&reply);
}

static void send_body(milter_set *ms, bool all_of_it)
{
    while (ms->body.len >= MILTER_CHUNK || (all_of_it && ms->body.len > 0)) {
        size_t n = ms->body.len < MILTER_CHUNK ? ms->body.len : MILTER_CHUNK;
        if (ms->content_verdict == MILTER_CONTINUE) {
            struct event ev = {.cmd = SMFIC_BODY,
                               .stage = MILTER_M_COUNT,
                               .skip = SMFIP_NOBODY,
                               .noreply = SMFIP_NR_BODY,
                               .content = true};
            strbuf reply = STRBUF_INIT;
            content_result(ms, all(ms, &ev, ms->body.s, n, NULL, 0, &reply), &reply);
            strbuf_release(&reply);
        }
        memmove(ms->body.s, ms->body.s + n, ms->body.len - n);
        strbuf_truncate(&ms->body, ms->body.len - n);
    }
}

static bool header_start_ok(const char *s, size_t n)
{
    size_t i = 0;
    while (i < n && s[i] != ':' && (unsigned char)s[i] > ' ' && (unsigned char)s[i] < 0x7f)
        i++;
    return i > 0 && i < n && s[i] == ':';
}

void milter_content(milter_set *ms, const char *data, size_t len, bool line_end)
{
    if (milter_set_empty(ms))
        return;
    ms->content_started = true;
    bool continuing = ms->line_part;
    ms->line_part = !line_end;
    if (!ms->in_body) {
        if (!continuing) {
            bool folded = len > 0 && (data[0] == ' ' || data[0] == '\t');
            if (len == 0 && line_end) {
                send_eoh(ms);
                return;
            }
            if (folded && ms->hdr_pending) {
                strbuf_putc(&ms->hdr, '\n');
            } else if (header_start_ok(data, len) || (!line_end && len > 0 && !folded)) {
                send_header(ms);
                strbuf_reset(&ms->hdr);
                ms->hdr_pending = true;
            } else {
                /* Not a header: the body starts here, as in cleanup. */
                send_eoh(ms);
                goto body;
            }
        }
        if (ms->hdr.len + len <= ms->header_limit)
            strbuf_append(&ms->hdr, data, len);
        /* NUL bytes cannot travel in a header packet. */
        for (size_t i = 0; i < ms->hdr.len; i++)
            if (ms->hdr.s[i] == 0)
                ms->hdr.s[i] = ' ';
        return;
    }
body:
    strbuf_append(&ms->body, data, len);
    if (line_end)
        strbuf_append(&ms->body, "\r\n", 2);
    send_body(ms, false);
}

enum milter_verdict milter_eom_event(milter_set *ms, milter_edit_fn edit, void *ctx, strbuf *reply)
{
    if (milter_set_empty(ms))
        return MILTER_CONTINUE;
    if (!ms->in_body)
        send_eoh(ms);
    send_body(ms, true);
    enum milter_verdict v = ms->content_verdict;
    if (v != MILTER_CONTINUE) {
        strbuf_set(reply, strbuf_str(&ms->content_reply));
        return v;
    }
    struct event ev = {.cmd = SMFIC_BODYEOB,
                       .stage = MILTER_M_EOM,
                       .skip = 0,
                       .noreply = 0,
                       .content = true,
                       .eom = true,
                       .edit = edit,
                       .edit_ctx = ctx};
    v = all(ms, &ev, "", 0, NULL, 0, reply);
    /* The milters are done with this message whatever they said. */
    for (size_t i = 0; i < ms->n; i++)
        ms->v[i].in_message = false;
    return v;
}

void milter_abort(milter_set *ms)
{
    if (!ms)
        return;
    for (size_t i = 0; i < ms->n; i++) {
        struct milter *m = &ms->v[i];
        if (m->in_message && (m->state == M_READY || m->state == M_ACCEPT_MSG))
            (void)send_packet(m, SMFIC_ABORT, "", 0, m->cmd_ms);
    }
    reset_message(ms);
}

void milter_disconnect(milter_set *ms)
{
    if (!ms)
        return;
    for (size_t i = 0; i < ms->n; i++) {
        struct milter *m = &ms->v[i];
        if (m->st && m->state != M_FAILED)
            (void)send_packet(m, SMFIC_QUIT, "", 0, m->cmd_ms);
        milter_close(m);
        if (m->state != M_FAILED)
            m->state = M_CLOSED;
    }
}
