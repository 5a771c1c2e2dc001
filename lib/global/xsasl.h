/* xsasl - server-side SASL for smtpd, one interface over two backends:
 * "dovecot" (Dovecot's auth socket, lib/global/dovecot_auth) and "cyrus"
 * (libsasl2).
 *
 * Contract:
 * - xsasl_init(type, path) once per process, as root before chroot and
 *   privilege drop: validates the type; cyrus loads its plugins here and
 *   reads <app>.conf (app = path, Postfix's smtpd_sasl_path, default
 *   "smtpd") from cyrus_sasl_config_path, or when that is empty from
 *   $config_directory/sasl, /etc/postfix/sasl, /etc/sasl2, /usr/lib/sasl2.
 *   For dovecot, path is the auth socket (relative to the working
 *   directory, which is the queue directory in a daemon).
 * - xsasl_server_new gives one session's authenticator with the mechanisms
 *   the security flags allow (XSASL_SEC_*); NULL + err when the backend is
 *   unreachable (Dovecot down: the caller should not offer AUTH).
 * - Data in and out of first/next is base64 exactly as on the SMTP wire
 *   ("" = empty); the backend validates it again. Results:
 *     XSASL_DONE  user = authenticated name
 *     XSASL_MORE  reply = base64 challenge for "334 "
 *     XSASL_FAIL  reply = reason for "535 5.7.8 Error: authentication
 *                 failed: <reason>"; user = the name tried, if known
 *     XSASL_TEMP  reply = reason for "454 4.7.0"
 *   Passwords and base64 blobs never reach the log from here.
 * - The Dovecot connection is cached per process and reopened once when it
 *   was lost.
 */
#ifndef MTA_XSASL_H
#define MTA_XSASL_H
#include <stdbool.h>

#include "strbuf.h"

#define XSASL_SEC_NOANONYMOUS 0x01
#define XSASL_SEC_NOPLAINTEXT 0x02
#define XSASL_SEC_NODICTIONARY 0x04
#define XSASL_SEC_NOACTIVE 0x08
#define XSASL_SEC_MUTUAL_AUTH 0x10
#define XSASL_SEC_FORWARD_SECRECY 0x20

/* Postfix's smtpd_sasl_security_options words; -1 on an unknown word. */
int xsasl_parse_security_options(const char *text, unsigned *flags, strbuf *err);

int xsasl_init(const char *type, const char *path, strbuf *err);

struct xsasl_server_params {
    const char *service;     /* "smtp" */
    const char *server_fqdn; /* myhostname */
    const char *user_realm;  /* smtpd_sasl_local_domain, may be "" */
    const char *local_addr, *remote_addr;
    unsigned local_port, remote_port;
    unsigned sec_flags;
    bool tls;
    int timeout_ms;
};

typedef struct xsasl_server xsasl_server;

enum xsasl_result { XSASL_DONE, XSASL_MORE, XSASL_FAIL, XSASL_TEMP };

xsasl_server *xsasl_server_new(const struct xsasl_server_params *p, strbuf *err);
void xsasl_server_free(xsasl_server **sp);
/* Space-separated mechanism names, upper case ("PLAIN LOGIN"). */
const char *xsasl_server_mechs(const xsasl_server *s);
enum xsasl_result xsasl_server_first(xsasl_server *s, const char *mech, const char *init,
                                     strbuf *reply, strbuf *user);
enum xsasl_result xsasl_server_next(xsasl_server *s, const char *resp, strbuf *reply, strbuf *user);

/* Backends (xsasl_cyrus.c); used by xsasl.c only. */
int xsasl_cyrus_init(const char *app, strbuf *err);
void *xsasl_cyrus_new(const struct xsasl_server_params *p, strbuf *mechs, strbuf *err);
void xsasl_cyrus_free(void *ctx);
enum xsasl_result xsasl_cyrus_step(void *ctx, const char *mech, const char *data, strbuf *reply,
                                   strbuf *user);

#endif
