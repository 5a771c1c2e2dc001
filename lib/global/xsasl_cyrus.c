/* xsasl_cyrus - the Cyrus SASL (libsasl2) backend of xsasl.h.
 *
 * Where the configuration is looked for: <dir>/<app>.conf with app =
 * smtpd_sasl_path ("smtpd") and dir from cyrus_sasl_config_path, or when
 * that is empty from "$config_directory/sasl:/etc/postfix/sasl:/etc/sasl2:
 * /usr/lib/sasl2" (Debian's Postfix looks in /etc/postfix/sasl). A typical
 * smtpd.conf: "pwcheck_method: auxprop", "auxprop_plugin: sasldb",
 * "sasldb_path: /etc/sasldb2", "mech_list: PLAIN LOGIN" -- or
 * "pwcheck_method: saslauthd". Plugins load in xsasl_init (as root, before
 * any chroot); files they open per authentication (sasldb, the saslauthd
 * socket) must be reachable from the smtpd process.
 */
#include <sasl/sasl.h>
#include <stdio.h>
#include <string.h>

#include "base64.h"
#include "config.h"
#include "mem.h"
#include "msg.h"
#include "xsasl.h"

struct cyrus_ctx {
    sasl_conn_t *conn;
};

static char *conf_path;

static int log_cb(void *context, int level, const char *message)
{
    (void)context;
    if (!message)
        return SASL_OK;
    switch (level) {
    case SASL_LOG_ERR:
    case SASL_LOG_FAIL:
        msg_warn("SASL authentication problem: %s", message);
        break;
    case SASL_LOG_WARN:
        msg_warn("SASL authentication info: %s", message);
        break;
    default:
        break; /* NOTE/DEBUG/TRACE/PASS: too chatty (PASS may hold secrets) */
    }
    return SASL_OK;
}

static int getconfpath_cb(void *context, const char **path)
{
    (void)context;
    *path = conf_path;
    return SASL_OK;
}

typedef int (*sasl_cb_fn)(void);

static sasl_callback_t callbacks[] = {
    {SASL_CB_LOG, (sasl_cb_fn)(void (*)(void))log_cb, NULL},
    {SASL_CB_GETCONFPATH, (sasl_cb_fn)(void (*)(void))getconfpath_cb, NULL},
    {SASL_CB_LIST_END, NULL, NULL},
};

int xsasl_cyrus_init(const char *app, strbuf *err)
{
    static bool done;
    if (done)
        return 0;
    const char *configured = config_get("cyrus_sasl_config_path");
    strbuf p = STRBUF_INIT;
    if (configured && *configured)
        strbuf_set(&p, configured);
    else
        strbuf_printf(&p, "%s/sasl:/etc/postfix/sasl:/etc/sasl2:/usr/lib/sasl2",
                      config_directory());
    free(conf_path);
    conf_path = strbuf_detach(&p);
    int rc = sasl_server_init(callbacks, app && *app ? app : "smtpd");
    if (rc != SASL_OK) {
        strbuf_printf(err, "SASL per-process initialization failed: %s",
                      sasl_errstring(rc, NULL, NULL));
        return -1;
    }
    done = true;
    return 0;
}

void *xsasl_cyrus_new(const struct xsasl_server_params *p, strbuf *mechs, strbuf *err)
{
    char local[128], remote[128];
    snprintf(local, sizeof(local), "%s;%u", p->local_addr ? p->local_addr : "", p->local_port);
    snprintf(remote, sizeof(remote), "%s;%u", p->remote_addr ? p->remote_addr : "", p->remote_port);
    struct cyrus_ctx *c = xcalloc(1, sizeof(*c));
    int rc = sasl_server_new(
        p->service, p->server_fqdn, p->user_realm && *p->user_realm ? p->user_realm : NULL,
        p->local_addr ? local : NULL, p->remote_addr ? remote : NULL, NULL, 0, &c->conn);
    if (rc != SASL_OK) {
        strbuf_printf(err, "SASL per-connection server initialization: %s",
                      sasl_errstring(rc, NULL, NULL));
        free(c);
        return NULL;
    }
    sasl_security_properties_t sec;
    memset(&sec, 0, sizeof(sec));
    sec.maxbufsize = 0;
    sec.max_ssf = 0; /* no SASL security layer: TLS does that job */
    if (p->sec_flags & XSASL_SEC_NOANONYMOUS)
        sec.security_flags |= SASL_SEC_NOANONYMOUS;
    if (p->sec_flags & XSASL_SEC_NOPLAINTEXT)
        sec.security_flags |= SASL_SEC_NOPLAINTEXT;
    if (p->sec_flags & XSASL_SEC_NODICTIONARY)
        sec.security_flags |= SASL_SEC_NODICTIONARY;
    if (p->sec_flags & XSASL_SEC_NOACTIVE)
        sec.security_flags |= SASL_SEC_NOACTIVE;
    if (p->sec_flags & XSASL_SEC_MUTUAL_AUTH)
        sec.security_flags |= SASL_SEC_MUTUAL_AUTH;
    if (p->sec_flags & XSASL_SEC_FORWARD_SECRECY)
        sec.security_flags |= SASL_SEC_FORWARD_SECRECY;
    if ((rc = sasl_setprop(c->conn, SASL_SEC_PROPS, &sec)) != SASL_OK) {
        strbuf_printf(err, "SASL security properties: %s", sasl_errdetail(c->conn));
        xsasl_cyrus_free(c);
        return NULL;
    }
    const char *list = NULL;
    unsigned len = 0;
    int count = 0;
    if ((rc = sasl_listmech(c->conn, NULL, "", " ", "", &list, &len, &count)) != SASL_OK) {
        strbuf_printf(err, "SASL mechanism list: %s", sasl_errdetail(c->conn));
        xsasl_cyrus_free(c);
        return NULL;
    }
    strbuf_reset(mechs);
    strbuf_append(mechs, list, len);
    return c;
}

void xsasl_cyrus_free(void *ctx)
{
    struct cyrus_ctx *c = ctx;
    if (c->conn)
        sasl_dispose(&c->conn);
    free(c);
}

enum xsasl_result xsasl_cyrus_step(void *ctx, const char *mech, const char *data, strbuf *reply,
                                   strbuf *user)
{
    struct cyrus_ctx *c = ctx;
    strbuf dec = STRBUF_INIT;
    if (data && base64_decode(&dec, data, strlen(data)) < 0) {
        strbuf_release(&dec);
        strbuf_set(reply, "Invalid base64 data in response");
        return XSASL_FAIL;
    }
    const char *out = NULL;
    unsigned outlen = 0;
    int rc;
    if (mech)
        rc = sasl_server_start(c->conn, mech, data ? (dec.s ? dec.s : "") : NULL,
                               data ? (unsigned)dec.len : 0, &out, &outlen);
    else
        rc = sasl_server_step(c->conn, dec.s ? dec.s : "", (unsigned)dec.len, &out, &outlen);
    strbuf_release(&dec);
    const void *name = NULL;
    if (rc == SASL_OK || rc == SASL_CONTINUE || rc == SASL_BADAUTH || rc == SASL_NOUSER) {
        if (sasl_getprop(c->conn, SASL_USERNAME, &name) == SASL_OK && name)
            strbuf_set(user, name);
    }
    switch (rc) {
    case SASL_OK:
        if (!name) {
            strbuf_set(reply, "no user name from SASL library");
            return XSASL_FAIL;
        }
        return XSASL_DONE;
    case SASL_CONTINUE:
        base64_encode(reply, out ? out : "", out ? outlen : 0);
        return XSASL_MORE;
    case SASL_TRYAGAIN:
    case SASL_UNAVAIL:
    case SASL_NOMEM:
        strbuf_set(reply, sasl_errstring(rc, NULL, NULL));
        return XSASL_TEMP;
    default:
        /* sasl_errstring, not sasl_errdetail: the detail may name the
         * user's stored password scheme; "authentication failure" is what
         * Postfix's logs show. */
        strbuf_set(reply, sasl_errstring(rc, NULL, NULL));
        return XSASL_FAIL;
    }
}
