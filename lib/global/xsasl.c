/* xsasl - see xsasl.h. The Dovecot backend lives here (a thin adapter over
 * lib/global/dovecot_auth); Cyrus is in xsasl_cyrus.c. */
#include "xsasl.h"

#include <string.h>
#include <strings.h>

#include "dovecot_auth.h"
#include "mem.h"
#include "msg.h"
#include "strlist.h"

enum backend { BACKEND_NONE, BACKEND_DOVECOT, BACKEND_CYRUS };

static enum backend backend;
static char *dovecot_path;
static dovecot_auth *dovecot_conn; /* cached for the life of the process */

struct xsasl_server {
    struct xsasl_server_params p;
    strbuf mechs;
    void *cyrus;
    bool started; /* a first() happened: next() continues it */
};

int xsasl_parse_security_options(const char *text, unsigned *flags, strbuf *err)
{
    static const struct {
        const char *word;
        unsigned flag;
    } words[] = {
        {"noanonymous", XSASL_SEC_NOANONYMOUS},   {"noplaintext", XSASL_SEC_NOPLAINTEXT},
        {"nodictionary", XSASL_SEC_NODICTIONARY}, {"noactive", XSASL_SEC_NOACTIVE},
        {"mutual_auth", XSASL_SEC_MUTUAL_AUTH},   {"forward_secrecy", XSASL_SEC_FORWARD_SECRECY},
    };
    strlist items = STRLIST_INIT;
    const char *e = NULL;
    *flags = 0;
    if (strlist_split(&items, text, " ,\t\r\n", &e) < 0) {
        strbuf_printf(err, "bad SASL security options \"%s\": %s", text, e);
        return -1;
    }
    int rc = 0;
    for (size_t i = 0; i < items.n; i++) {
        bool found = false;
        for (size_t k = 0; k < sizeof(words) / sizeof(words[0]); k++) {
            if (strcasecmp(items.v[i], words[k].word) == 0) {
                *flags |= words[k].flag;
                found = true;
            }
        }
        if (!found) {
            strbuf_printf(err, "unknown SASL security option \"%s\"", items.v[i]);
            rc = -1;
            break;
        }
    }
    strlist_release(&items);
    return rc;
}

int xsasl_init(const char *type, const char *path, strbuf *err)
{
    if (strcasecmp(type, "dovecot") == 0) {
        backend = BACKEND_DOVECOT;
        free(dovecot_path);
        dovecot_path = xstrdup(path);
        return 0;
    }
    if (strcasecmp(type, "cyrus") == 0) {
        if (xsasl_cyrus_init(path, err) < 0)
            return -1;
        backend = BACKEND_CYRUS;
        return 0;
    }
    strbuf_printf(err, "unsupported SASL server implementation \"%s\" (use dovecot or cyrus)",
                  type);
    return -1;
}

/* Dovecot MECH flags the security options rule out. */
static bool dovecot_mech_allowed(unsigned mflags, unsigned sec)
{
    if (mflags & DOVECOT_MECH_PRIVATE)
        return false;
    if ((sec & XSASL_SEC_NOANONYMOUS) && (mflags & DOVECOT_MECH_ANONYMOUS))
        return false;
    if ((sec & XSASL_SEC_NOPLAINTEXT) && (mflags & DOVECOT_MECH_PLAINTEXT))
        return false;
    if ((sec & XSASL_SEC_NODICTIONARY) && (mflags & DOVECOT_MECH_DICTIONARY))
        return false;
    if ((sec & XSASL_SEC_NOACTIVE) && (mflags & DOVECOT_MECH_ACTIVE))
        return false;
    if ((sec & XSASL_SEC_MUTUAL_AUTH) && !(mflags & DOVECOT_MECH_MUTUAL_AUTH))
        return false;
    if ((sec & XSASL_SEC_FORWARD_SECRECY) && !(mflags & DOVECOT_MECH_FORWARD_SECRECY))
        return false;
    /* Channel binding needs TLS data we do not pass along. */
    if (mflags & DOVECOT_MECH_CHANNEL_BINDING)
        return false;
    return true;
}

/* The cached connection, (re)opened when missing or lost. */
static dovecot_auth *dovecot_connection(int timeout_ms, strbuf *err)
{
    if (dovecot_conn && !dovecot_auth_alive(dovecot_conn))
        dovecot_auth_free(&dovecot_conn);
    if (!dovecot_conn)
        dovecot_conn = dovecot_auth_open(dovecot_path, timeout_ms, err);
    return dovecot_conn;
}

xsasl_server *xsasl_server_new(const struct xsasl_server_params *p, strbuf *err)
{
    if (backend == BACKEND_NONE)
        msg_panic("xsasl_server_new before xsasl_init");
    xsasl_server *s = xcalloc(1, sizeof(*s));
    s->p = *p;
    if (backend == BACKEND_CYRUS) {
        if (!(s->cyrus = xsasl_cyrus_new(p, &s->mechs, err))) {
            xsasl_server_free(&s);
            return NULL;
        }
        return s;
    }
    strbuf cerr = STRBUF_INIT;
    dovecot_auth *da = dovecot_connection(p->timeout_ms, &cerr);
    if (!da) {
        strbuf_printf(err, "SASL: Connect to %s failed: %s", dovecot_path, strbuf_str(&cerr));
        strbuf_release(&cerr);
        xsasl_server_free(&s);
        return NULL;
    }
    strbuf_release(&cerr);
    for (size_t i = 0; i < dovecot_auth_mech_count(da); i++) {
        const struct dovecot_mech *m = dovecot_auth_mech(da, i);
        if (!dovecot_mech_allowed(m->flags, p->sec_flags))
            continue;
        if (s->mechs.len)
            strbuf_putc(&s->mechs, ' ');
        for (const char *c = m->name; *c; c++)
            strbuf_putc(&s->mechs, (char)(*c >= 'a' && *c <= 'z' ? *c - 'a' + 'A' : *c));
    }
    return s;
}

void xsasl_server_free(xsasl_server **sp)
{
    xsasl_server *s = *sp;
    if (!s)
        return;
    if (s->cyrus)
        xsasl_cyrus_free(s->cyrus);
    strbuf_release(&s->mechs);
    XFREE(*sp);
}

const char *xsasl_server_mechs(const xsasl_server *s)
{
    return strbuf_str(&s->mechs);
}

static bool mech_offered(const xsasl_server *s, const char *mech)
{
    const char *p = strbuf_str(&s->mechs);
    size_t ml = strlen(mech);
    while (*p) {
        size_t wl = strcspn(p, " ");
        if (wl == ml && strncasecmp(p, mech, ml) == 0)
            return true;
        p += wl;
        p += strspn(p, " ");
    }
    return false;
}

static enum xsasl_result from_dovecot(enum dovecot_auth_result r)
{
    switch (r) {
    case DOVECOT_AUTH_OK:
        return XSASL_DONE;
    case DOVECOT_AUTH_CONT:
        return XSASL_MORE;
    case DOVECOT_AUTH_FAIL:
        return XSASL_FAIL;
    default:
        return XSASL_TEMP;
    }
}

enum xsasl_result xsasl_server_first(xsasl_server *s, const char *mech, const char *init,
                                     strbuf *reply, strbuf *user)
{
    strbuf_reset(reply);
    strbuf_reset(user);
    if (!mech_offered(s, mech)) {
        strbuf_set(reply, "Invalid authentication mechanism");
        return XSASL_FAIL;
    }
    s->started = true;
    if (s->cyrus)
        return xsasl_cyrus_step(s->cyrus, mech, init, reply, user);
    strbuf err = STRBUF_INIT;
    dovecot_auth *da = dovecot_connection(s->p.timeout_ms, &err);
    if (!da) {
        msg_warn("SASL: Connect to %s failed: %s", dovecot_path, strbuf_str(&err));
        strbuf_release(&err);
        strbuf_set(reply, "Connection lost to authentication server");
        return XSASL_TEMP;
    }
    strbuf_release(&err);
    strbuf out = STRBUF_INIT;
    struct dovecot_auth_request r = {
        .mech = mech,
        .service = s->p.service,
        .local_ip = s->p.local_addr,
        .remote_ip = s->p.remote_addr,
        .secured = s->p.tls,
        .initial_resp = init,
    };
    enum dovecot_auth_result dr = dovecot_auth_start(da, &r, &out, user, reply);
    if (dr == DOVECOT_AUTH_OK || dr == DOVECOT_AUTH_CONT) {
        if (dr == DOVECOT_AUTH_OK) {
            strbuf_set(user, strbuf_str(&out));
            strbuf_reset(reply);
        } else {
            strbuf_set(reply, strbuf_str(&out));
        }
    }
    strbuf_release(&out);
    return from_dovecot(dr);
}

enum xsasl_result xsasl_server_next(xsasl_server *s, const char *resp, strbuf *reply, strbuf *user)
{
    strbuf_reset(reply);
    strbuf_reset(user);
    if (!s->started)
        msg_panic("xsasl_server_next without xsasl_server_first");
    if (s->cyrus)
        return xsasl_cyrus_step(s->cyrus, NULL, resp, reply, user);
    if (!dovecot_conn || !dovecot_auth_alive(dovecot_conn)) {
        strbuf_set(reply, "Connection lost to authentication server");
        return XSASL_TEMP;
    }
    strbuf out = STRBUF_INIT;
    enum dovecot_auth_result dr = dovecot_auth_continue(dovecot_conn, resp, &out, user, reply);
    if (dr == DOVECOT_AUTH_OK) {
        strbuf_set(user, strbuf_str(&out));
        strbuf_reset(reply);
    } else if (dr == DOVECOT_AUTH_CONT) {
        strbuf_set(reply, strbuf_str(&out));
    }
    strbuf_release(&out);
    return from_dovecot(dr);
}
