/* smtp_sasl_client - PLAIN, LOGIN and CRAM-MD5 for the SMTP client. */
#include "smtp_sasl_client.h"

#include <openssl/crypto.h>
#include <openssl/hmac.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base64.h"
#include "mem.h"
#include "xsasl.h"

enum mech { MECH_PLAIN, MECH_LOGIN, MECH_CRAM_MD5 };

static const struct {
    const char *name;
    enum mech mech;
    unsigned props;    /* XSASL_SEC_* the mechanism satisfies (Cyrus' flags) */
    unsigned strength; /* Cyrus' order: no plaintext password beats plaintext */
} mechs[] = {
    {"CRAM-MD5", MECH_CRAM_MD5, XSASL_SEC_NOANONYMOUS | XSASL_SEC_NOPLAINTEXT, 2},
    {"PLAIN", MECH_PLAIN, XSASL_SEC_NOANONYMOUS, 1},
    {"LOGIN", MECH_LOGIN, XSASL_SEC_NOANONYMOUS, 1},
};
#define NMECHS (sizeof(mechs) / sizeof(mechs[0]))

struct sasl_client {
    size_t idx; /* into mechs[] */
    char *user;
    char *password;
    unsigned steps; /* challenges answered */
};

static const char SPACE[] = " \t\r\n";

static bool filter_passes(const strlist *filter, const char *mech, size_t len)
{
    if (filter == NULL || filter->n == 0)
        return true;
    for (size_t i = 0; i < filter->n; i++) {
        const char *it = filter->v[i];
        bool neg = it[0] == '!';
        if (neg)
            it++;
        if (strlen(it) == len && strncasecmp(it, mech, len) == 0)
            return !neg;
    }
    return false;
}

void sasl_client_filter(const char *offered, const strlist *filter, strbuf *out)
{
    strbuf_reset(out);
    strbuf_puts(out, ""); /* a valid empty string even when nothing passes */
    for (const char *p = offered; *p;) {
        p += strspn(p, SPACE);
        size_t len = strcspn(p, SPACE);
        if (len == 0)
            break;
        if (filter_passes(filter, p, len)) {
            if (out->len)
                strbuf_putc(out, ' ');
            strbuf_append(out, p, len);
        }
        p += len;
    }
}

sasl_client *sasl_client_new(const char *offered, unsigned sec_flags, const char *user,
                             const char *password, strbuf *err)
{
    size_t best = NMECHS;
    for (const char *p = offered; *p;) {
        p += strspn(p, SPACE);
        size_t len = strcspn(p, SPACE);
        if (len == 0)
            break;
        for (size_t k = 0; k < NMECHS; k++) {
            if (strlen(mechs[k].name) != len || strncasecmp(mechs[k].name, p, len) != 0)
                continue;
            if ((sec_flags & ~mechs[k].props) != 0)
                continue;
            if (best == NMECHS || mechs[k].strength > mechs[best].strength)
                best = k;
        }
        p += len;
    }
    if (best == NMECHS) {
        strbuf_set(err, "no mechanism available");
        return NULL;
    }
    sasl_client *c = xcalloc(1, sizeof(*c));
    c->idx = best;
    c->user = xstrdup(user);
    c->password = xstrdup(password);
    return c;
}

const char *sasl_client_mech(const sasl_client *c)
{
    return mechs[c->idx].name;
}

void sasl_client_first(sasl_client *c, strbuf *initial)
{
    strbuf_reset(initial);
    strbuf_puts(initial, "");
    if (mechs[c->idx].mech != MECH_PLAIN)
        return;
    /* RFC 4616: authzid NUL authcid NUL passwd; an empty authzid means
     * "act as the authenticated user", which is what Postfix sends. */
    strbuf raw = STRBUF_INIT;
    strbuf_putc(&raw, '\0');
    strbuf_puts(&raw, c->user);
    strbuf_putc(&raw, '\0');
    strbuf_puts(&raw, c->password);
    base64_encode(initial, raw.s, raw.len);
    OPENSSL_cleanse(raw.s, raw.len);
    strbuf_release(&raw);
}

static void hex_hmac_md5(const char *key, const char *data, size_t len, strbuf *out)
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    if (HMAC(EVP_md5(), key, (int)strlen(key), (const unsigned char *)data, len, mac, &maclen) ==
        NULL)
        maclen = 0; /* MD5 disabled (FIPS): the server will refuse the empty digest */
    static const char hex[] = "0123456789abcdef";
    for (unsigned i = 0; i < maclen; i++) {
        strbuf_putc(out, hex[mac[i] >> 4]);
        strbuf_putc(out, hex[mac[i] & 15]);
    }
    OPENSSL_cleanse(mac, sizeof(mac));
}

int sasl_client_next(sasl_client *c, const char *challenge, size_t len, strbuf *response,
                     strbuf *err)
{
    strbuf_reset(response);
    strbuf_puts(response, "");
    while (len > 0 && strchr(SPACE, challenge[len - 1]))
        len--;
    if (len > (SASL_CLIENT_CHALLENGE_MAX + 2) / 3 * 4) {
        strbuf_set(err, "server challenge is too long");
        return -1;
    }
    strbuf decoded = STRBUF_INIT;
    if (base64_decode(&decoded, challenge, len) < 0) {
        strbuf_release(&decoded);
        strbuf_set(err, "malformed server challenge (not base64)");
        return -1;
    }
    strbuf raw = STRBUF_INIT;
    int rc = 0;
    unsigned step = ++c->steps;
    switch (mechs[c->idx].mech) {
    case MECH_PLAIN:
        /* The whole exchange went in the initial response; a server that
         * asks for more gets an empty answer once (RFC 4954 allows "334 "
         * when it ignored the initial response) and nothing after. */
        if (step == 1 && decoded.len == 0) {
            strbuf_putc(&raw, '\0');
            strbuf_puts(&raw, c->user);
            strbuf_putc(&raw, '\0');
            strbuf_puts(&raw, c->password);
        } else {
            rc = -1;
        }
        break;
    case MECH_LOGIN:
        /* The prompts ("Username:", "Password:") are not standardised;
         * like Cyrus, answer by position. */
        if (step == 1)
            strbuf_puts(&raw, c->user);
        else if (step == 2)
            strbuf_puts(&raw, c->password);
        else
            rc = -1;
        break;
    case MECH_CRAM_MD5:
        if (step == 1 && decoded.len > 0) {
            strbuf_puts(&raw, c->user);
            strbuf_putc(&raw, ' ');
            hex_hmac_md5(c->password, decoded.s, decoded.len, &raw);
        } else {
            rc = -1;
        }
        break;
    }
    if (rc < 0)
        strbuf_printf(err, "unexpected server challenge in step %u of %s", step,
                      mechs[c->idx].name);
    else
        base64_encode(response, raw.s ? raw.s : "", raw.len);
    if (raw.s)
        OPENSSL_cleanse(raw.s, raw.len);
    strbuf_release(&raw);
    strbuf_release(&decoded);
    return rc;
}

void sasl_client_free(sasl_client **cp)
{
    sasl_client *c = *cp;
    if (c == NULL)
        return;
    OPENSSL_cleanse(c->password, strlen(c->password));
    free(c->password);
    free(c->user);
    free(c);
    *cp = NULL;
}
