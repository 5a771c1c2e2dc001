/* dovecot_auth - see dovecot_auth.h. */
#include "dovecot_auth.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base64.h"
#include "mem.h"
#include "msg.h"
#include "sock.h"
#include "stream.h"

#define MECH_MAX 64 /* more MECH lines than any real server sends */

struct dovecot_auth {
    stream *st;
    struct dovecot_mech *mechs;
    size_t nmech;
    unsigned long next_id;
    unsigned long cur_id; /* request in progress, 0 if none */
    bool dead;
};

/* ---- line parser ---------------------------------------------------------- */

void dovecot_line_init(dovecot_line *l)
{
    memset(l, 0, sizeof(*l));
}

void dovecot_line_release(dovecot_line *l)
{
    strbuf_release(&l->name);
    strbuf_release(&l->user);
    strbuf_release(&l->reason);
    strbuf_release(&l->data);
}

static void unescape(strbuf *out, const char *s, size_t len)
{
    strbuf_reset(out);
    for (size_t i = 0; i < len; i++) {
        if (s[i] != '\001' || i + 1 == len) {
            strbuf_putc(out, s[i]);
            continue;
        }
        char c = s[++i];
        switch (c) {
        case '0':
            strbuf_putc(out, '\0');
            break;
        case '1':
            strbuf_putc(out, '\001');
            break;
        case 't':
            strbuf_putc(out, '\t');
            break;
        case 'r':
            strbuf_putc(out, '\r');
            break;
        case 'n':
        case 'l': /* the 2.3 documentation's spelling of LF */
            strbuf_putc(out, '\n');
            break;
        default:
            strbuf_putc(out, c);
        }
    }
}

void dovecot_auth_escape(strbuf *out, const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        switch (s[i]) {
        case '\0':
            strbuf_puts(out, "\0010");
            break;
        case '\001':
            strbuf_puts(out, "\0011");
            break;
        case '\t':
            strbuf_puts(out, "\001t");
            break;
        case '\r':
            strbuf_puts(out, "\001r");
            break;
        case '\n':
            strbuf_puts(out, "\001n");
            break;
        default:
            strbuf_putc(out, s[i]);
        }
    }
}

/* Decimal without sign or overflow; 0 or -1. */
static int parse_number(const char *s, size_t len, unsigned long *out)
{
    unsigned long v = 0;
    if (len == 0 || len > 10)
        return -1;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (unsigned long)(s[i] - '0');
    }
    if (v > 0xffffffffUL)
        return -1;
    *out = v;
    return 0;
}

static bool field_is(const char *f, size_t len, const char *word)
{
    size_t wl = strlen(word);
    return len == wl && memcmp(f, word, wl) == 0;
}

/* name=value field: true (value span set) when f starts with name=. */
static bool field_value(const char *f, size_t len, const char *name, const char **v, size_t *vlen)
{
    size_t nl = strlen(name);
    if (len <= nl || memcmp(f, name, nl) != 0 || f[nl] != '=')
        return false;
    *v = f + nl + 1;
    *vlen = len - nl - 1;
    return true;
}

int dovecot_auth_parse_line(dovecot_line *l, const char *line, size_t len, strbuf *err)
{
    l->cmd = DOVECOT_LINE_OTHER;
    l->id = l->minor = 0;
    l->flags = 0;
    l->nologin = l->temp = l->has_user = false;
    strbuf_reset(&l->name);
    strbuf_reset(&l->user);
    strbuf_reset(&l->reason);
    strbuf_reset(&l->data);
    if (len > DOVECOT_AUTH_LINE_MAX) {
        strbuf_printf(err, "server line longer than %d bytes", DOVECOT_AUTH_LINE_MAX);
        return -1;
    }
    /* Fields: [start, end) spans split at TAB. */
    const char *f[64];
    size_t fl[64];
    size_t n = 0;
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i == len || line[i] == '\t') {
            if (n == sizeof(f) / sizeof(f[0])) {
                strbuf_puts(err, "too many fields in server line");
                return -1;
            }
            f[n] = line + start;
            fl[n] = i - start;
            n++;
            start = i + 1;
        }
    }
    const char *cmd = f[0];
    size_t cl = fl[0];
    if (field_is(cmd, cl, "VERSION")) {
        if (n < 3 || parse_number(f[1], fl[1], &l->id) < 0 ||
            parse_number(f[2], fl[2], &l->minor) < 0)
            goto bad;
        l->cmd = DOVECOT_LINE_VERSION;
    } else if (field_is(cmd, cl, "MECH")) {
        if (n < 2 || fl[1] == 0)
            goto bad;
        for (size_t i = 0; i < fl[1]; i++) {
            char c = f[1][i];
            if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '_'))
                goto bad;
        }
        strbuf_append(&l->name, f[1], fl[1]);
        static const struct {
            const char *word;
            unsigned flag;
        } flags[] = {
            {"anonymous", DOVECOT_MECH_ANONYMOUS},
            {"plaintext", DOVECOT_MECH_PLAINTEXT},
            {"dictionary", DOVECOT_MECH_DICTIONARY},
            {"active", DOVECOT_MECH_ACTIVE},
            {"forward-secrecy", DOVECOT_MECH_FORWARD_SECRECY},
            {"mutual-auth", DOVECOT_MECH_MUTUAL_AUTH},
            {"private", DOVECOT_MECH_PRIVATE},
            {"channel-binding", DOVECOT_MECH_CHANNEL_BINDING},
        };
        for (size_t i = 2; i < n; i++)
            for (size_t k = 0; k < sizeof(flags) / sizeof(flags[0]); k++)
                if (field_is(f[i], fl[i], flags[k].word))
                    l->flags |= flags[k].flag;
        l->cmd = DOVECOT_LINE_MECH;
    } else if (field_is(cmd, cl, "SPID")) {
        l->cmd = DOVECOT_LINE_SPID;
    } else if (field_is(cmd, cl, "CUID")) {
        l->cmd = DOVECOT_LINE_CUID;
    } else if (field_is(cmd, cl, "COOKIE")) {
        l->cmd = DOVECOT_LINE_COOKIE;
    } else if (field_is(cmd, cl, "DONE")) {
        l->cmd = DOVECOT_LINE_DONE;
    } else if (field_is(cmd, cl, "OK") || field_is(cmd, cl, "FAIL") || field_is(cmd, cl, "CONT")) {
        if (n < 2 || parse_number(f[1], fl[1], &l->id) < 0)
            goto bad;
        if (cmd[0] == 'C') {
            /* CONT id base64 (possibly empty) */
            const char *d = n >= 3 ? f[2] : "";
            size_t dl = n >= 3 ? fl[2] : 0;
            if (!base64_valid(d, dl))
                goto bad;
            strbuf_append(&l->data, d, dl);
            l->cmd = DOVECOT_LINE_CONT;
            return 0;
        }
        for (size_t i = 2; i < n; i++) {
            const char *v;
            size_t vl;
            if (field_value(f[i], fl[i], "user", &v, &vl)) {
                unescape(&l->user, v, vl);
                l->has_user = true;
            } else if (field_value(f[i], fl[i], "reason", &v, &vl)) {
                unescape(&l->reason, v, vl);
            } else if (field_value(f[i], fl[i], "code", &v, &vl)) {
                l->temp = vl == 9 && memcmp(v, "temp_fail", 9) == 0;
            } else if (field_is(f[i], fl[i], "temp")) { /* Dovecot 2.2's spelling */
                l->temp = true;
            } else if (field_is(f[i], fl[i], "nologin") || field_is(f[i], fl[i], "proxy")) {
                l->nologin = true;
            }
        }
        l->cmd = cmd[0] == 'O' ? DOVECOT_LINE_OK : DOVECOT_LINE_FAIL;
    }
    return 0;
bad:
    strbuf_printf(err, "malformed %.*s line from authentication server", (int)(cl > 20 ? 20 : cl),
                  cmd);
    return -1;
}

/* ---- connection ----------------------------------------------------------- */

/* Read one line; -1 (connection dead, reason set) on EOF/timeout/junk. */
static int read_line(dovecot_auth *da, strbuf *line, strbuf *reason)
{
    int rc = stream_read_line(da->st, line, DOVECOT_AUTH_LINE_MAX);
    if (rc == STREAM_LINE_CRLF || rc == STREAM_LINE_LF)
        return 0;
    da->dead = true;
    if (rc == STREAM_TIMEOUT)
        strbuf_set(reason, "Timeout from authentication server");
    else if (rc == STREAM_LINE_TOOLONG)
        strbuf_set(reason, "Overlong line from authentication server");
    else
        strbuf_set(reason, "Connection lost to authentication server");
    return -1;
}

dovecot_auth *dovecot_auth_open(const char *path, int timeout_ms, strbuf *err)
{
    int fd = sock_unix_connect(path, timeout_ms, err);
    if (fd < 0)
        return NULL;
    dovecot_auth *da = xcalloc(1, sizeof(*da));
    da->st = stream_open(fd);
    da->next_id = 1;
    stream_set_timeout(da->st, timeout_ms);
    if (stream_printf(da->st, "VERSION\t1\t0\nCPID\t%ld\n", (long)getpid()) < 0 ||
        stream_flush(da->st) < 0) {
        strbuf_printf(err, "write to %s: %s", path, strerror(stream_errno(da->st)));
        dovecot_auth_free(&da);
        return NULL;
    }
    strbuf line = STRBUF_INIT, perr = STRBUF_INIT;
    dovecot_line l;
    dovecot_line_init(&l);
    bool version = false;
    for (;;) {
        if (read_line(da, &line, err) < 0) {
            strbuf_printf(err, " (%s, during handshake)", path);
            goto fail;
        }
        strbuf_reset(&perr);
        if (dovecot_auth_parse_line(&l, line.s, line.len, &perr) < 0) {
            strbuf_printf(err, "%s: %s", path, strbuf_str(&perr));
            goto fail;
        }
        if (l.cmd == DOVECOT_LINE_VERSION) {
            if (l.id != 1) {
                strbuf_printf(err, "%s: authentication server protocol version %lu, not 1", path,
                              l.id);
                goto fail;
            }
            version = true;
        } else if (l.cmd == DOVECOT_LINE_MECH) {
            if (da->nmech < MECH_MAX) {
                da->mechs = xreallocarray(da->mechs, da->nmech + 1, sizeof(*da->mechs));
                da->mechs[da->nmech].name = xstrdup(strbuf_str(&l.name));
                da->mechs[da->nmech].flags = l.flags;
                da->nmech++;
            }
        } else if (l.cmd == DOVECOT_LINE_SPID && da->nmech == 0) {
            strbuf_printf(err,
                          "%s: SPID before any MECH: not an auth-client socket (auth-master or "
                          "auth-userdb?)",
                          path);
            goto fail;
        } else if (l.cmd == DOVECOT_LINE_DONE) {
            break;
        }
    }
    if (!version) {
        strbuf_printf(err, "%s: no VERSION from authentication server", path);
        goto fail;
    }
    dovecot_line_release(&l);
    strbuf_release(&line);
    strbuf_release(&perr);
    return da;
fail:
    dovecot_line_release(&l);
    strbuf_release(&line);
    strbuf_release(&perr);
    dovecot_auth_free(&da);
    return NULL;
}

void dovecot_auth_free(dovecot_auth **dap)
{
    dovecot_auth *da = *dap;
    if (!da)
        return;
    if (da->st)
        (void)stream_close(&da->st);
    for (size_t i = 0; i < da->nmech; i++)
        free(da->mechs[i].name);
    free(da->mechs);
    XFREE(*dap);
}

bool dovecot_auth_alive(const dovecot_auth *da)
{
    return da && !da->dead;
}

size_t dovecot_auth_mech_count(const dovecot_auth *da)
{
    return da->nmech;
}

const struct dovecot_mech *dovecot_auth_mech(const dovecot_auth *da, size_t i)
{
    return i < da->nmech ? &da->mechs[i] : NULL;
}

/* Wait for the reply to the current request. */
static enum dovecot_auth_result await_reply(dovecot_auth *da, strbuf *out, strbuf *user,
                                            strbuf *reason)
{
    strbuf line = STRBUF_INIT, perr = STRBUF_INIT;
    dovecot_line l;
    dovecot_line_init(&l);
    enum dovecot_auth_result res = DOVECOT_AUTH_TEMP;
    if (stream_flush(da->st) < 0) {
        da->dead = true;
        strbuf_set(reason, "Connection lost to authentication server");
        goto out;
    }
    for (;;) {
        if (read_line(da, &line, reason) < 0)
            goto out;
        strbuf_reset(&perr);
        if (dovecot_auth_parse_line(&l, line.s, line.len, &perr) < 0) {
            /* A server that sends junk cannot be trusted with the session. */
            msg_warn("%s", strbuf_str(&perr));
            da->dead = true;
            strbuf_set(reason, "Invalid reply from authentication server");
            goto out;
        }
        if ((l.cmd != DOVECOT_LINE_OK && l.cmd != DOVECOT_LINE_CONT &&
             l.cmd != DOVECOT_LINE_FAIL) ||
            l.id != da->cur_id)
            continue;
        break;
    }
    strbuf_reset(out);
    strbuf_reset(user);
    strbuf_reset(reason);
    if (l.cmd == DOVECOT_LINE_CONT) {
        strbuf_append(out, l.data.s ? l.data.s : "", l.data.len);
        res = DOVECOT_AUTH_CONT;
        goto out;
    }
    da->cur_id = 0;
    if (l.has_user)
        strbuf_append(user, l.user.s ? l.user.s : "", l.user.len);
    if (l.cmd == DOVECOT_LINE_OK) {
        if (l.nologin) {
            strbuf_set(reason, "Login refused by authentication server (nologin/proxy)");
            res = DOVECOT_AUTH_FAIL;
        } else if (!l.has_user || l.user.len == 0) {
            strbuf_set(reason, "missing Dovecot server OK username field");
            res = DOVECOT_AUTH_FAIL;
        } else {
            strbuf_append(out, l.user.s, l.user.len);
            res = DOVECOT_AUTH_OK;
        }
    } else {
        if (l.reason.len)
            strbuf_append(reason, l.reason.s, l.reason.len);
        else
            strbuf_set(reason, "authentication failure");
        res = l.temp ? DOVECOT_AUTH_TEMP : DOVECOT_AUTH_FAIL;
    }
out:
    dovecot_line_release(&l);
    strbuf_release(&line);
    strbuf_release(&perr);
    return res;
}

enum dovecot_auth_result dovecot_auth_start(dovecot_auth *da, const struct dovecot_auth_request *r,
                                            strbuf *out, strbuf *user, strbuf *reason)
{
    strbuf_reset(reason);
    if (da->dead) {
        strbuf_set(reason, "Connection lost to authentication server");
        return DOVECOT_AUTH_TEMP;
    }
    bool known = false;
    for (size_t i = 0; i < da->nmech; i++)
        if (strcasecmp(da->mechs[i].name, r->mech) == 0)
            known = true;
    if (!known) {
        strbuf_set(reason, "Invalid authentication mechanism");
        return DOVECOT_AUTH_FAIL;
    }
    if (r->initial_resp && !base64_valid(r->initial_resp, strlen(r->initial_resp))) {
        strbuf_set(reason, "Invalid base64 data in initial response");
        return DOVECOT_AUTH_FAIL;
    }
    da->cur_id = da->next_id++;
    if (da->next_id > 0xffffffffUL)
        da->next_id = 1;
    strbuf req = STRBUF_INIT;
    strbuf_printf(&req, "AUTH\t%lu\t", da->cur_id);
    dovecot_auth_escape(&req, r->mech, strlen(r->mech));
    strbuf_puts(&req, "\tservice=");
    dovecot_auth_escape(&req, r->service, strlen(r->service));
    strbuf_puts(&req, "\tnologin");
    if (r->local_ip && *r->local_ip) {
        strbuf_puts(&req, "\tlip=");
        dovecot_auth_escape(&req, r->local_ip, strlen(r->local_ip));
    }
    if (r->remote_ip && *r->remote_ip) {
        strbuf_puts(&req, "\trip=");
        dovecot_auth_escape(&req, r->remote_ip, strlen(r->remote_ip));
    }
    if (r->secured)
        strbuf_puts(&req, "\tsecured");
    /* resp= must be the last parameter (the protocol ignores what follows). */
    if (r->initial_resp) {
        strbuf_puts(&req, "\tresp=");
        strbuf_puts(&req, r->initial_resp);
    }
    strbuf_putc(&req, '\n');
    (void)stream_write(da->st, req.s, req.len);
    strbuf_release(&req);
    return await_reply(da, out, user, reason);
}

enum dovecot_auth_result dovecot_auth_continue(dovecot_auth *da, const char *resp, strbuf *out,
                                               strbuf *user, strbuf *reason)
{
    strbuf_reset(reason);
    if (da->dead || da->cur_id == 0) {
        strbuf_set(reason, da->dead ? "Connection lost to authentication server"
                                    : "No authentication in progress");
        return DOVECOT_AUTH_TEMP;
    }
    if (!base64_valid(resp, strlen(resp))) {
        da->cur_id = 0; /* the server still waits; a new AUTH starts afresh */
        strbuf_set(reason, "Invalid base64 data in continued response");
        return DOVECOT_AUTH_FAIL;
    }
    (void)stream_printf(da->st, "CONT\t%lu\t%s\n", da->cur_id, resp);
    return await_reply(da, out, user, reason);
}
