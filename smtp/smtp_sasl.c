/* smtp_sasl - SMTP AUTH settings and the password table for the client.
 *
 * Only the client implementation Postfix calls "cyrus" exists for its SMTP
 * client (smtp_sasl_type); ours does PLAIN, LOGIN and CRAM-MD5 itself
 * (smtp/smtp_sasl_client), so smtp_sasl_path (a Cyrus config name) has no use.
 */
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "msg.h"
#include "smtp.h"
#include "xsasl.h"

static const char *sasl_param(bool lmtp, const char *name)
{
    strbuf full = STRBUF_INIT;
    strbuf_set(&full, lmtp ? "lmtp_" : "smtp_");
    strbuf_puts(&full, name);
    const char *v = config_get(full.s);
    strbuf_release(&full);
    return v;
}

static bool sasl_bool(bool lmtp, const char *name)
{
    strbuf full = STRBUF_INIT;
    strbuf_set(&full, lmtp ? "lmtp_" : "smtp_");
    strbuf_puts(&full, name);
    bool v = config_get_bool(full.s);
    strbuf_release(&full);
    return v;
}

static unsigned sec_flags(bool lmtp, const char *name)
{
    unsigned flags = 0;
    strbuf err = STRBUF_INIT;
    if (xsasl_parse_security_options(sasl_param(lmtp, name), &flags, &err) < 0)
        msg_fatal("%s%s: %s", lmtp ? "lmtp_" : "smtp_", name, err.s);
    strbuf_release(&err);
    return flags;
}

void smtp_sasl_init(bool lmtp)
{
    const char *pfx = lmtp ? "lmtp_" : "smtp_";
    smtp_cfg.sasl.enable = sasl_bool(lmtp, "sasl_auth_enable");
    if (!smtp_cfg.sasl.enable)
        return;
    const char *type = sasl_param(lmtp, "sasl_type");
    if (strcasecmp(type, "cyrus") != 0)
        msg_fatal("unsupported SASL client implementation: %s", type);
    if (*sasl_param(lmtp, "sasl_auth_cache_name"))
        msg_fatal("%ssasl_auth_cache_name is not supported; leave it empty", pfx);
    const char *list = sasl_param(lmtp, "sasl_password_maps");
    if (*list == 0)
        msg_fatal("specify a password table via the `%ssasl_password_maps' configuration "
                  "parameter",
                  pfx);
    strbuf err = STRBUF_INIT;
    strbuf name = STRBUF_INIT;
    strbuf_printf(&name, "%ssasl_password_maps", pfx);
    /* A broken table defers mail (MAP_SURROGATE) instead of killing every
     * delivery agent, as Postfix does. */
    smtp_cfg.sasl.passwd = maps_open(name.s, list, MAP_SURROGATE, &err);
    if (smtp_cfg.sasl.passwd == NULL)
        msg_fatal("%s", err.s);
    const char *e = NULL;
    if (strlist_split(&smtp_cfg.sasl.filter, sasl_param(lmtp, "sasl_mechanism_filter"), ", \t\r\n",
                      &e) < 0)
        msg_fatal("%ssasl_mechanism_filter: %s", pfx, e);
    for (size_t i = 0; i < smtp_cfg.sasl.filter.n; i++)
        if (strchr(smtp_cfg.sasl.filter.v[i], ':') || smtp_cfg.sasl.filter.v[i][0] == '/')
            msg_fatal("%ssasl_mechanism_filter: tables and files (\"%s\") are not supported; "
                      "list mechanism names",
                      pfx, smtp_cfg.sasl.filter.v[i]);
    smtp_cfg.sasl.sec_flags = sec_flags(lmtp, "sasl_security_options");
    smtp_cfg.sasl.tls_flags = sec_flags(lmtp, "sasl_tls_security_options");
    smtp_cfg.sasl.tlsv_flags = sec_flags(lmtp, "sasl_tls_verified_security_options");
    smtp_cfg.sasl.soft_bounce = sasl_bool(lmtp, "sasl_auth_soft_bounce");
    smtp_cfg.sasl.dummy_mail_auth = sasl_bool(lmtp, "send_dummy_mail_auth");
    /* Postfix looks up the sender for SMTP only. */
    smtp_cfg.sasl.sender_auth = !lmtp && sasl_bool(lmtp, "sender_dependent_authentication");
    strbuf_release(&name);
    strbuf_release(&err);
}

void smtp_sasl_passwd_keys(const char *sender, const char *host, const char *dest, strlist *keys)
{
    if (sender && *sender) {
        strlist_push(keys, sender);
        const char *at = strrchr(sender, '@');
        if (at && at[1])
            strlist_push(keys, at);
    }
    if (host && *host && !strlist_contains_nocase(keys, host))
        strlist_push(keys, host);
    if (dest && *dest && !strlist_contains_nocase(keys, dest))
        strlist_push(keys, dest);
}

enum map_result smtp_sasl_passwd_lookup(const char *sender, const char *host, const char *dest,
                                        strbuf *user, strbuf *password, strbuf *err)
{
    strlist keys = STRLIST_INIT;
    strbuf value = STRBUF_INIT;
    enum map_result r = MAP_NOTFOUND;
    smtp_sasl_passwd_keys(smtp_cfg.sasl.sender_auth ? sender : NULL, host, dest, &keys);
    for (size_t i = 0; i < keys.n && r == MAP_NOTFOUND; i++)
        r = maps_find(smtp_cfg.sasl.passwd, keys.v[i], 0, &value, err);
    if (r == MAP_FOUND) {
        const char *colon = strchr(value.s, ':');
        strbuf_reset(user);
        strbuf_append(user, value.s, colon ? (size_t)(colon - value.s) : value.len);
        strbuf_set(password, colon ? colon + 1 : "");
        OPENSSL_cleanse(value.s, value.len);
    }
    strbuf_release(&value);
    strlist_release(&keys);
    return r;
}
