/* tls - see tls.h. */
#include "tls.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "mem.h"
#include "msg.h"
#include "strlist.h"

struct tls_ctx {
    SSL_CTX *ssl_ctx;
    bool server;
    unsigned char fpt_mtype; /* client: see tls_fingerprint_mtype */
};

struct tls_conn {
    SSL *ssl;
    /* Client: where sessions the server issues go (tls_client_sessions). */
    void (*save)(void *arg, const unsigned char *der, size_t len);
    void *save_arg;
    bool auth;      /* names or TLSA records were given */
    bool dane;      /* ... TLSA records */
    int verify_err; /* first verification error (X509_V_OK: none) */
    int verify_depth;
    char *err_issuer; /* issuer of the certificate that failed, one line */
};

/* Private-use matching type (RFC 6698 PrivMatch) for fingerprints whose
 * digest DANE has no number for. */
#define FPT_PRIVATE_MTYPE 255

/* SSL ex_data slot that leads from an SSL back to its tls_conn. */
static int conn_index(void)
{
    static int index = -1;
    if (index < 0 && (index = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL)) < 0)
        msg_fatal("SSL_get_ex_new_index failed");
    return index;
}

/* A session the server issued (with TLS 1.3 after the handshake, while the
 * application reads): hand it, serialised, to the connection's owner. */
static int client_new_session(SSL *ssl, SSL_SESSION *sess)
{
    tls_conn *c = SSL_get_ex_data(ssl, conn_index());
    if (!c || !c->save || !SSL_SESSION_is_resumable(sess))
        return 0;
    int len = i2d_SSL_SESSION(sess, NULL);
    if (len <= 0 || len > TLS_SESSION_MAX)
        return 0;
    unsigned char *der = xmalloc((size_t)len), *p = der;
    if (i2d_SSL_SESSION(sess, &p) == len)
        c->save(c->save_arg, der, (size_t)len);
    OPENSSL_cleanse(der, (size_t)len);
    free(der);
    return 0; /* we keep no reference to sess */
}

/* OpenSSL needs 16 bytes key name + 32 HMAC + 32 AES for tickets. */
#define TICKET_KEY_LEN 80

/* Append OpenSSL's queued errors ("; error:0A000086:..."), clearing it. */
static void append_ssl_errors(strbuf *err)
{
    unsigned long e;
    char buf[256];
    while ((e = ERR_get_error()) != 0) {
        ERR_error_string_n(e, buf, sizeof(buf));
        strbuf_printf(err, "; %s", buf);
    }
}

/* Verification goes on past errors (SSL_VERIFY_NONE: the caller decides
 * after the handshake), but the first error is what Postfix reports. */
static int verify_cb(int ok, X509_STORE_CTX *store)
{
    SSL *ssl = X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx());
    tls_conn *c = ssl ? SSL_get_ex_data(ssl, conn_index()) : NULL;
    if (!ok && c && c->verify_err == X509_V_OK) {
        c->verify_err = X509_STORE_CTX_get_error(store);
        c->verify_depth = X509_STORE_CTX_get_error_depth(store);
        X509 *cert = X509_STORE_CTX_get_current_cert(store);
        if (cert) {
            char buf[256];
            X509_NAME_oneline(X509_get_issuer_name(cert), buf, sizeof(buf));
            for (char *p = buf; *p; p++) /* a name is the peer's text */
                if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
                    *p = '?';
            c->err_issuer = xstrdup(buf);
        }
    }
    return 1;
}

/* ---- settings ----------------------------------------------------------- */

static const struct {
    const char *name;
    int version;
} protocols[] = {
    {"SSLv2", 0x0002},           {"SSLv3", SSL3_VERSION},     {"TLSv1", TLS1_VERSION},
    {"TLSv1.1", TLS1_1_VERSION}, {"TLSv1.2", TLS1_2_VERSION}, {"TLSv1.3", TLS1_3_VERSION},
};
#define NPROTO (sizeof(protocols) / sizeof(protocols[0]))

static int protocol_index(const char *name)
{
    for (size_t i = 0; i < NPROTO; i++)
        if (strcasecmp(name, protocols[i].name) == 0)
            return (int)i;
    return -1;
}

int tls_parse_protocols(const char *spec, int *min_version, int *max_version, strbuf *err)
{
    strlist items = STRLIST_INIT;
    const char *e = NULL;
    if (strlist_split(&items, spec, " ,:\t\r\n", &e) < 0) {
        strbuf_printf(err, "bad protocol list \"%s\": %s", spec, e);
        return -1;
    }
    bool include[NPROTO] = {false}, exclude[NPROTO] = {false};
    bool any_include = false;
    int lo = 0, hi = (int)NPROTO - 1;
    int rc = 0;
    for (size_t i = 0; i < items.n && rc == 0; i++) {
        const char *it = items.v[i];
        int kind = 0; /* 0 include, 1 exclude, 2 >=, 3 <= */
        if (it[0] == '!') {
            kind = 1;
            it++;
        } else if (strncmp(it, ">=", 2) == 0) {
            kind = 2;
            it += 2;
        } else if (strncmp(it, "<=", 2) == 0) {
            kind = 3;
            it += 2;
        }
        int idx = protocol_index(it);
        if (idx < 0) {
            strbuf_printf(err, "unknown TLS protocol \"%s\" in \"%s\"", it, spec);
            rc = -1;
            break;
        }
        switch (kind) {
        case 0:
            include[idx] = any_include = true;
            break;
        case 1:
            exclude[idx] = true;
            break;
        case 2:
            lo = idx > lo ? idx : lo;
            break;
        default:
            hi = idx < hi ? idx : hi;
        }
    }
    strlist_release(&items);
    if (rc < 0)
        return -1;
    int first = -1, last = -1;
    for (int i = lo; i <= hi; i++) {
        if ((any_include && !include[i]) || exclude[i])
            continue;
        if (first < 0)
            first = i;
        last = i;
    }
    /* SSLv2 does not exist in OpenSSL 3: the lowest real version is SSLv3. */
    if (first == 0)
        first = last >= 1 ? 1 : -1;
    if (first < 0) {
        strbuf_printf(err, "TLS protocol list \"%s\" leaves no protocol enabled", spec);
        return -1;
    }
    *min_version = protocols[first].version;
    /* The newest version we know is no upper bound: later ones stay allowed. */
    *max_version = last == (int)NPROTO - 1 ? 0 : protocols[last].version;
    return 0;
}

int tls_cipherlist(const char *grade, const struct tls_grade_lists *lists, const char *exclude,
                   strbuf *out, strbuf *err)
{
    const struct {
        const char *name, *list;
    } grades[] = {{"high", lists->high},
                  {"medium", lists->medium},
                  {"low", lists->low},
                  {"export", lists->export},
                  {"null", lists->null}};
    const char *list = NULL;
    for (size_t i = 0; i < sizeof(grades) / sizeof(grades[0]); i++)
        if (strcasecmp(grade, grades[i].name) == 0)
            list = grades[i].list ? grades[i].list : "";
    if (!list) {
        strbuf_printf(
            err, "unknown TLS cipher grade \"%s\" (use high, medium, low, export or null)", grade);
        return -1;
    }
    strbuf_set(out, list);
    strlist ex = STRLIST_INIT;
    const char *e = NULL;
    if (exclude && strlist_split(&ex, exclude, " ,:\t\r\n", &e) < 0) {
        strbuf_printf(err, "bad cipher exclusion list: %s", e);
        return -1;
    }
    for (size_t i = 0; i < ex.n; i++)
        strbuf_printf(out, ":!%s", ex.v[i]);
    strlist_release(&ex);
    return 0;
}

/* ---- contexts ----------------------------------------------------------- */

static int common_setup(SSL_CTX *c, const char *proto_spec, const char *cipherlist, strbuf *err)
{
    int minv = 0, maxv = 0;
    if (tls_parse_protocols(proto_spec && *proto_spec ? proto_spec : ">=TLSv1", &minv, &maxv, err) <
        0)
        return -1;
    if (!SSL_CTX_set_min_proto_version(c, minv) || !SSL_CTX_set_max_proto_version(c, maxv)) {
        strbuf_printf(err, "cannot set TLS protocol range from \"%s\"", proto_spec);
        append_ssl_errors(err);
        return -1;
    }
    /* The grade governs TLS <= 1.2 only, as in Postfix: TLS 1.3 suites are
     * all strong and keep OpenSSL's defaults. */
    if (cipherlist && *cipherlist && !SSL_CTX_set_cipher_list(c, cipherlist)) {
        strbuf_printf(err, "invalid cipher list \"%s\"", cipherlist);
        append_ssl_errors(err);
        return -1;
    }
    /* No compression (CRIME), no renegotiation (a client-driven CPU sink),
     * an EOF without close_notify is an ordinary EOF (SMTP has QUIT). */
    SSL_CTX_set_options(c, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                               SSL_OP_IGNORE_UNEXPECTED_EOF);
    SSL_CTX_set_mode(c, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    return 0;
}

static int load_cert_key(SSL_CTX *c, const char *cert, const char *key, strbuf *err)
{
    if (SSL_CTX_use_certificate_chain_file(c, cert) != 1) {
        strbuf_printf(err, "cannot load certificate (chain) from %s", cert);
        append_ssl_errors(err);
        return -1;
    }
    if (SSL_CTX_use_PrivateKey_file(c, key, SSL_FILETYPE_PEM) != 1) {
        strbuf_printf(err, "cannot load private key from %s", key);
        append_ssl_errors(err);
        return -1;
    }
    if (SSL_CTX_check_private_key(c) != 1) {
        strbuf_printf(err, "private key in %s does not match the certificate in %s", key, cert);
        append_ssl_errors(err);
        return -1;
    }
    return 0;
}

static int load_ticket_keys(SSL_CTX *c, const char *path, strbuf *err)
{
    unsigned char keys[TICKET_KEY_LEN];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        strbuf_printf(err, "open %s: %s", path, strerror(errno));
        return -1;
    }
    ssize_t n = read(fd, keys, sizeof(keys));
    int saved = errno;
    (void)close(fd);
    if (n != (ssize_t)sizeof(keys)) {
        strbuf_printf(err, "read %s: %s", path, n < 0 ? strerror(saved) : "short file");
        OPENSSL_cleanse(keys, sizeof(keys));
        return -1;
    }
    long ok = SSL_CTX_set_tlsext_ticket_keys(c, keys, sizeof(keys));
    OPENSSL_cleanse(keys, sizeof(keys));
    if (!ok) {
        strbuf_printf(err, "cannot install session ticket keys from %s", path);
        append_ssl_errors(err);
        return -1;
    }
    return 0;
}

tls_ctx *tls_server_ctx_new(const struct tls_server_settings *set, strbuf *err)
{
    SSL_CTX *c = SSL_CTX_new(TLS_server_method());
    if (!c) {
        strbuf_puts(err, "cannot create TLS server context");
        append_ssl_errors(err);
        return NULL;
    }
    if (common_setup(c, set->protocols, set->cipherlist, err) < 0)
        goto fail;
    bool have_cert = false;
    if (set->cert_file && *set->cert_file) {
        const char *key = set->key_file && *set->key_file ? set->key_file : set->cert_file;
        if (load_cert_key(c, set->cert_file, key, err) < 0)
            goto fail;
        have_cert = true;
    }
    if (set->chain_files && *set->chain_files) {
        /* Each file holds a private key and its certificate chain; several
         * files give several key types (RSA and ECDSA). */
        strlist files = STRLIST_INIT;
        const char *e = NULL;
        if (strlist_split(&files, set->chain_files, " ,\t\r\n", &e) < 0) {
            strbuf_printf(err, "smtpd_tls_chain_files: %s", e);
            goto fail;
        }
        int rc = 0;
        for (size_t i = 0; i < files.n && rc == 0; i++)
            rc = load_cert_key(c, files.v[i], files.v[i], err);
        strlist_release(&files);
        if (rc < 0)
            goto fail;
        have_cert = true;
    }
    if (!have_cert) {
        strbuf_puts(err, "no server certificate configured");
        goto fail;
    }
    if (set->server_preference)
        SSL_CTX_set_options(c, SSL_OP_CIPHER_SERVER_PREFERENCE);
    /* Resumption through tickets only: a per-process session cache would
     * rarely hit (each smtpd serves one client at a time). */
    static const unsigned char sid_ctx[] = "mta-smtpd";
    SSL_CTX_set_session_id_context(c, sid_ctx, sizeof(sid_ctx) - 1);
    SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_timeout(c, set->session_timeout_s > 0 ? set->session_timeout_s : 3600);
    if (set->ticket_key_file && *set->ticket_key_file &&
        load_ticket_keys(c, set->ticket_key_file, err) < 0)
        goto fail;
    tls_ctx *t = xcalloc(1, sizeof(*t));
    t->ssl_ctx = c;
    t->server = true;
    return t;
fail:
    SSL_CTX_free(c);
    return NULL;
}

tls_ctx *tls_client_ctx_new(const struct tls_client_settings *set, strbuf *err)
{
    SSL_CTX *c = SSL_CTX_new(TLS_client_method());
    if (!c) {
        strbuf_puts(err, "cannot create TLS client context");
        append_ssl_errors(err);
        return NULL;
    }
    if (common_setup(c, set->protocols, set->cipherlist, err) < 0)
        goto fail;
    if (set->cert_file && *set->cert_file &&
        load_cert_key(c, set->cert_file,
                      set->key_file && *set->key_file ? set->key_file : set->cert_file, err) < 0)
        goto fail;
    const char *cafile = set->CAfile && *set->CAfile ? set->CAfile : NULL;
    const char *capath = set->CApath && *set->CApath ? set->CApath : NULL;
    if ((cafile || capath) && SSL_CTX_load_verify_locations(c, cafile, capath) != 1) {
        strbuf_printf(err, "cannot load trust anchors (CAfile %s, CApath %s)",
                      cafile ? cafile : "-", capath ? capath : "-");
        append_ssl_errors(err);
        goto fail;
    }
    /* Verification runs and its result is kept (tls_conn_peer_verified);
     * whether an unverified peer is acceptable is the caller's policy. */
    SSL_CTX_set_verify(c, SSL_VERIFY_NONE, verify_cb);
    /* DANE for TLSA records and fingerprints (DANE-EE records of the
     * fingerprint digest). */
    if (SSL_CTX_dane_enable(c) <= 0) {
        strbuf_puts(err, "cannot enable DANE support");
        append_ssl_errors(err);
        goto fail;
    }
    const char *fd =
        set->fingerprint_digest && *set->fingerprint_digest ? set->fingerprint_digest : "sha256";
    unsigned char fpt_mtype;
    if (strcasecmp(fd, "sha256") == 0) {
        fpt_mtype = 1;
    } else if (strcasecmp(fd, "sha512") == 0) {
        fpt_mtype = 2;
    } else {
        static const char *const known[] = {"md5", "sha1", "sha224", "sha384"};
        const EVP_MD *md = NULL;
        for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
            if (strcasecmp(fd, known[i]) == 0)
                md = EVP_get_digestbyname(known[i]);
        if (!md) {
            strbuf_printf(err,
                          "unsupported fingerprint digest \"%s\" (use md5, sha1, sha224, "
                          "sha256, sha384 or sha512)",
                          fd);
            goto fail;
        }
        if (SSL_CTX_dane_mtype_set(c, md, FPT_PRIVATE_MTYPE, 1) <= 0) {
            strbuf_printf(err, "cannot use fingerprint digest \"%s\"", fd);
            append_ssl_errors(err);
            goto fail;
        }
        fpt_mtype = FPT_PRIVATE_MTYPE;
    }
    /* Sessions are resumed only from what the caller keeps (tlsmgr's
     * cache): no OpenSSL-internal client cache. */
    SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(c, client_new_session);
    tls_ctx *t = xcalloc(1, sizeof(*t));
    t->ssl_ctx = c;
    t->fpt_mtype = fpt_mtype;
    return t;
fail:
    SSL_CTX_free(c);
    return NULL;
}

unsigned char tls_fingerprint_mtype(const tls_ctx *ctx)
{
    return ctx->fpt_mtype;
}

void tls_ctx_free(tls_ctx **ctxp)
{
    if (!*ctxp)
        return;
    SSL_CTX_free((*ctxp)->ssl_ctx);
    XFREE(*ctxp);
}

int tls_ticket_key_refresh(const char *path, long max_age_s, strbuf *err)
{
    struct stat sb;
    if (stat(path, &sb) == 0 && sb.st_size == TICKET_KEY_LEN &&
        time(NULL) - sb.st_mtime < (time_t)max_age_s)
        return 0;
    unsigned char keys[TICKET_KEY_LEN];
    if (RAND_priv_bytes(keys, sizeof(keys)) != 1) {
        strbuf_puts(err, "cannot generate session ticket keys");
        append_ssl_errors(err);
        return -1;
    }
    strbuf tmp = STRBUF_INIT;
    strbuf_printf(&tmp, "%s.%ld", path, (long)getpid());
    int rc = -1;
    int fd = open(strbuf_str(&tmp), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        strbuf_printf(err, "create %s: %s", strbuf_str(&tmp), strerror(errno));
        goto out;
    }
    ssize_t n = write(fd, keys, sizeof(keys));
    int saved = errno;
    if (n != (ssize_t)sizeof(keys) || fsync(fd) < 0) {
        strbuf_printf(err, "write %s: %s", strbuf_str(&tmp),
                      n < 0 ? strerror(saved) : "short write");
        (void)close(fd);
        (void)unlink(strbuf_str(&tmp));
        goto out;
    }
    if (close(fd) < 0 || rename(strbuf_str(&tmp), path) < 0) {
        strbuf_printf(err, "install %s: %s", path, strerror(errno));
        (void)unlink(strbuf_str(&tmp));
        goto out;
    }
    rc = 0;
out:
    OPENSSL_cleanse(keys, sizeof(keys));
    strbuf_release(&tmp);
    return rc;
}

/* ---- the socket BIO: never blocks, never touches O_NONBLOCK ------------- */

static BIO_METHOD *sock_method;

static int bio_write(BIO *b, const char *buf, int len)
{
    int fd = (int)(intptr_t)BIO_get_data(b);
    BIO_clear_retry_flags(b);
    ssize_t n = send(fd, buf, (size_t)len, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            BIO_set_retry_write(b);
        return -1;
    }
    return (int)n;
}

static int bio_read(BIO *b, char *buf, int len)
{
    int fd = (int)(intptr_t)BIO_get_data(b);
    BIO_clear_retry_flags(b);
    ssize_t n = recv(fd, buf, (size_t)len, MSG_DONTWAIT);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            BIO_set_retry_read(b);
        return -1;
    }
    return (int)n;
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    (void)b;
    (void)num;
    (void)ptr;
    return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

static int bio_create(BIO *b)
{
    BIO_set_init(b, 1);
    return 1;
}

static BIO *sock_bio(int fd)
{
    if (!sock_method) {
        sock_method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "mta-socket");
        if (!sock_method || !BIO_meth_set_write(sock_method, bio_write) ||
            !BIO_meth_set_read(sock_method, bio_read) ||
            !BIO_meth_set_ctrl(sock_method, bio_ctrl) ||
            !BIO_meth_set_create(sock_method, bio_create))
            msg_fatal("cannot create the OpenSSL socket BIO method");
    }
    BIO *b = BIO_new(sock_method);
    if (!b)
        msg_fatal("BIO_new: out of memory");
    BIO_set_data(b, (void *)(intptr_t)fd);
    return b;
}

/* ---- stream glue -------------------------------------------------------- */

static ssize_t io_result(tls_conn *c, int n, short *want)
{
    switch (SSL_get_error(c->ssl, n)) {
    case SSL_ERROR_WANT_READ:
        *want = POLLIN;
        errno = EAGAIN;
        return -1;
    case SSL_ERROR_WANT_WRITE:
        *want = POLLOUT;
        errno = EAGAIN;
        return -1;
    case SSL_ERROR_ZERO_RETURN:
        return 0;
    case SSL_ERROR_SYSCALL:
        ERR_clear_error();
        if (errno == 0)
            errno = ECONNRESET;
        return -1;
    default: {
        strbuf e = STRBUF_INIT;
        append_ssl_errors(&e);
        if (e.len)
            msg_warn("TLS library problem%s", strbuf_str(&e));
        strbuf_release(&e);
        errno = EPROTO;
        return -1;
    }
    }
}

static ssize_t tls_read(void *ctx, int fd, void *buf, size_t len, short *want)
{
    (void)fd;
    tls_conn *c = ctx;
    ERR_clear_error();
    errno = 0;
    int n = SSL_read(c->ssl, buf, len > INT_MAX ? INT_MAX : (int)len);
    if (n > 0)
        return n;
    return io_result(c, n, want);
}

static ssize_t tls_write(void *ctx, int fd, const void *buf, size_t len, short *want)
{
    (void)fd;
    tls_conn *c = ctx;
    ERR_clear_error();
    errno = 0;
    int n = SSL_write(c->ssl, buf, len > INT_MAX ? INT_MAX : (int)len);
    if (n > 0)
        return n;
    ssize_t r = io_result(c, n, want);
    if (r == 0) { /* peer closed: a write cannot report EOF */
        errno = EPIPE;
        return -1;
    }
    return r;
}

static size_t tls_pending(void *ctx)
{
    tls_conn *c = ctx;
    int n = SSL_pending(c->ssl);
    return n > 0 ? (size_t)n : 0;
}

static const stream_io tls_stream_io = {tls_read, tls_write, tls_pending};

/* Drive the handshake until done, an error, or the deadline. */
static int handshake(tls_conn *c, int fd, int timeout_ms, const char *what, strbuf *err)
{
    int64_t deadline = stream_now_ms() + (timeout_ms > 0 ? timeout_ms : 300000);
    for (;;) {
        ERR_clear_error();
        errno = 0;
        int r = SSL_do_handshake(c->ssl);
        if (r == 1)
            return 0;
        int e = SSL_get_error(c->ssl, r);
        short events;
        if (e == SSL_ERROR_WANT_READ)
            events = POLLIN;
        else if (e == SSL_ERROR_WANT_WRITE)
            events = POLLOUT;
        else {
            int saved = errno;
            strbuf_printf(err, "%s error: %s", what,
                          e == SSL_ERROR_SYSCALL ? (saved ? strerror(saved) : "lost connection")
                          : e == SSL_ERROR_ZERO_RETURN ? "lost connection"
                                                       : "TLS protocol error");
            append_ssl_errors(err);
            return -1;
        }
        for (;;) {
            int64_t left = deadline - stream_now_ms();
            if (left <= 0) {
                strbuf_printf(err, "%s error: timeout", what);
                return -1;
            }
            struct pollfd p = {.fd = fd, .events = events};
            int n = poll(&p, 1, left > INT_MAX ? INT_MAX : (int)left);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0) {
                strbuf_printf(err, "%s error: poll: %s", what, strerror(errno));
                return -1;
            }
            if (n > 0)
                break;
        }
    }
}

static void conn_free(tls_conn *c)
{
    SSL_free(c->ssl);
    free(c->err_issuer);
    free(c);
}

/* The per-connection parts of a client's settings: versions, ciphers,
 * reference names, TLSA records. -1 with err on a bad setting. */
static int client_peer_setup(tls_conn *c, const struct tls_client_peer *peer, strbuf *err)
{
    if (peer->protocols && *peer->protocols) {
        int minv = 0, maxv = 0;
        if (tls_parse_protocols(peer->protocols, &minv, &maxv, err) < 0)
            return -1;
        if (!SSL_set_min_proto_version(c->ssl, minv) || !SSL_set_max_proto_version(c->ssl, maxv)) {
            strbuf_printf(err, "cannot set TLS protocol range from \"%s\"", peer->protocols);
            append_ssl_errors(err);
            return -1;
        }
    }
    if (peer->cipherlist && *peer->cipherlist && !SSL_set_cipher_list(c->ssl, peer->cipherlist)) {
        strbuf_printf(err, "invalid cipher list \"%s\"", peer->cipherlist);
        append_ssl_errors(err);
        return -1;
    }
    if (peer->ntlsa > 0) {
        const char *base = peer->tlsa_base && *peer->tlsa_base ? peer->tlsa_base : NULL;
        if (SSL_dane_enable(c->ssl, base) <= 0) {
            strbuf_puts(err, "cannot enable DANE for the connection");
            append_ssl_errors(err);
            return -1;
        }
        /* Names matter for DANE-TA only; no partial wildcards ("fo*.d"). */
        SSL_dane_set_flags(c->ssl, DANE_FLAG_NO_DANE_EE_NAMECHECKS);
        SSL_set_hostflags(c->ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        int usable = 0;
        for (size_t i = 0; i < peer->ntlsa; i++) {
            const struct tls_tlsa *t = &peer->tlsa[i];
            int r = SSL_dane_tlsa_add(c->ssl, t->usage, t->selector, t->mtype, t->data, t->len);
            if (r > 0)
                usable++;
            ERR_clear_error(); /* an unusable record is skipped, as RFC 7671 says */
        }
        if (usable == 0) {
            strbuf_puts(err, "no usable TLSA records");
            return -1;
        }
        c->auth = c->dane = true;
    }
    if (peer->nnames > 0) {
        SSL_set_hostflags(c->ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        for (size_t i = 0; i < peer->nnames; i++) {
            if (!SSL_add1_host(c->ssl, peer->names[i])) {
                strbuf_printf(err, "bad certificate match name \"%s\"", peer->names[i]);
                append_ssl_errors(err);
                return -1;
            }
        }
        c->auth = true;
    }
    return 0;
}

static tls_conn *start(tls_ctx *ctx, stream *st, const struct tls_client_peer *peer, int timeout_ms,
                       strbuf *err)
{
    const char *servername = peer ? peer->servername : NULL;
    const struct tls_client_sessions *sessions = peer ? peer->sessions : NULL;
    if (stream_input_pending(st) > 0)
        msg_panic("tls start with %zu bytes of plaintext input still buffered",
                  stream_input_pending(st));
    if (stream_output_pending(st) > 0)
        msg_panic("tls start with unflushed plaintext output");
    tls_conn *c = xcalloc(1, sizeof(*c));
    if (!(c->ssl = SSL_new(ctx->ssl_ctx)))
        msg_fatal("SSL_new: out of memory");
    BIO *b = sock_bio(stream_fd(st));
    SSL_set_bio(c->ssl, b, b);
    if (ctx->server) {
        SSL_set_accept_state(c->ssl);
    } else {
        SSL_set_connect_state(c->ssl);
        if (servername && *servername)
            (void)SSL_set_tlsext_host_name(c->ssl, servername);
        if (!SSL_set_ex_data(c->ssl, conn_index(), c))
            msg_fatal("SSL_set_ex_data: out of memory");
        if (peer && client_peer_setup(c, peer, err) < 0) {
            conn_free(c);
            return NULL;
        }
        if (sessions) {
            c->save = sessions->save;
            c->save_arg = sessions->arg;
        }
        if (sessions && sessions->offer) {
            /* A stale or damaged session just means a full handshake. */
            const unsigned char *p = sessions->offer;
            SSL_SESSION *old = sessions->offer_len <= TLS_SESSION_MAX
                                   ? d2i_SSL_SESSION(NULL, &p, (long)sessions->offer_len)
                                   : NULL;
            if (old && !SSL_set_session(c->ssl, old))
                ERR_clear_error();
            SSL_SESSION_free(old);
            ERR_clear_error();
        }
    }
    if (handshake(c, stream_fd(st), timeout_ms, ctx->server ? "SSL_accept" : "SSL_connect", err) <
        0) {
        conn_free(c);
        return NULL;
    }
    stream_set_io(st, &tls_stream_io, c);
    return c;
}

tls_conn *tls_server_start(tls_ctx *ctx, stream *st, int timeout_ms, strbuf *err)
{
    if (!ctx->server)
        msg_panic("tls_server_start with a client context");
    return start(ctx, st, NULL, timeout_ms, err);
}

tls_conn *tls_client_start(tls_ctx *ctx, stream *st, const char *servername, int timeout_ms,
                           strbuf *err)
{
    return tls_client_start_sessions(ctx, st, servername, timeout_ms, NULL, err);
}

tls_conn *tls_client_start_sessions(tls_ctx *ctx, stream *st, const char *servername,
                                    int timeout_ms, const struct tls_client_sessions *sessions,
                                    strbuf *err)
{
    struct tls_client_peer peer = {.servername = servername, .sessions = sessions};
    return tls_client_start_peer(ctx, st, &peer, timeout_ms, err);
}

tls_conn *tls_client_start_peer(tls_ctx *ctx, stream *st, const struct tls_client_peer *peer,
                                int timeout_ms, strbuf *err)
{
    if (ctx->server)
        msg_panic("tls_client_start with a server context");
    return start(ctx, st, peer, timeout_ms, err);
}

void tls_conn_close(tls_conn **connp, stream *st)
{
    tls_conn *c = *connp;
    if (!c)
        return;
    (void)stream_flush(st);
    ERR_clear_error();
    (void)SSL_shutdown(c->ssl); /* one try: close_notify out, no wait for the peer's */
    ERR_clear_error();
    stream_set_io(st, NULL, NULL);
    conn_free(c);
    *connp = NULL;
}

/* ---- what was negotiated ------------------------------------------------ */

const char *tls_conn_protocol(const tls_conn *c)
{
    return SSL_get_version(c->ssl);
}

const char *tls_conn_cipher(const tls_conn *c)
{
    const char *n = SSL_get_cipher_name(c->ssl);
    return n ? n : "unknown";
}

int tls_conn_cipher_bits(const tls_conn *c, int *alg_bits)
{
    int alg = 0;
    int use = SSL_get_cipher_bits(c->ssl, &alg);
    if (alg_bits)
        *alg_bits = alg;
    return use;
}

bool tls_conn_reused(const tls_conn *c)
{
    return SSL_session_reused(c->ssl) == 1;
}

bool tls_conn_peer_verified(const tls_conn *c)
{
    X509 *peer = SSL_get1_peer_certificate(c->ssl);
    bool ok = peer && SSL_get_verify_result(c->ssl) == X509_V_OK;
    X509_free(peer);
    return ok;
}

bool tls_conn_peer_matched(const tls_conn *c)
{
    if (!c->auth || !tls_conn_peer_verified(c))
        return false;
    /* With TLSA records, a verified chain must also be a DANE match (a
     * resumed session was verified when it was made, under the same
     * policy: the caller's cache id names it). */
    if (c->dane && !tls_conn_reused(c)) {
        EVP_PKEY *mspki = NULL;
        X509 *mcert = NULL;
        return SSL_get0_dane_authority(c->ssl, &mcert, &mspki) >= 0;
    }
    return true;
}

bool tls_conn_verify_error(const tls_conn *c, strbuf *out)
{
    int e = c->verify_err;
    if (e == X509_V_OK) {
        long r = SSL_get_verify_result(c->ssl);
        if (r == X509_V_OK)
            return false;
        e = (int)r;
    }
    const char *issuer = c->err_issuer ? c->err_issuer : "";
    switch (e) {
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
        strbuf_printf(out, "untrusted issuer %s", issuer);
        break;
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
        strbuf_puts(out, "self-signed certificate");
        break;
    case X509_V_ERR_CERT_NOT_YET_VALID:
    case X509_V_ERR_ERROR_IN_CERT_NOT_BEFORE_FIELD:
        strbuf_puts(out, "certificate not yet valid");
        break;
    case X509_V_ERR_CERT_HAS_EXPIRED:
    case X509_V_ERR_ERROR_IN_CERT_NOT_AFTER_FIELD:
        strbuf_puts(out, "certificate has expired");
        break;
    case X509_V_ERR_INVALID_PURPOSE:
        strbuf_puts(out, "not designated for use as a server certificate");
        break;
    default:
        strbuf_printf(out, "num=%d:%s", e, X509_verify_cert_error_string(e));
    }
    return true;
}

bool tls_conn_peer_cn(const tls_conn *c, strbuf *out)
{
    X509 *peer = SSL_get1_peer_certificate(c->ssl);
    if (!peer)
        return false;
    char buf[256];
    int n =
        X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, buf, sizeof(buf));
    X509_free(peer);
    if (n < 0)
        return false;
    strbuf_set(out, buf);
    return true;
}

static const char *key_type_name(int nid)
{
    switch (nid) {
    case EVP_PKEY_RSA:
        return "RSA";
    case EVP_PKEY_RSA_PSS:
        return "RSA-PSS";
    case EVP_PKEY_EC:
        return "ECDSA";
    case EVP_PKEY_ED25519:
        return "ED25519";
    case EVP_PKEY_ED448:
        return "ED448";
    default:
        return OBJ_nid2sn(nid);
    }
}

void tls_conn_describe(const tls_conn *c, bool details, const char *line_break, strbuf *out)
{
    int alg = 0;
    int use = tls_conn_cipher_bits(c, &alg);
    strbuf_printf(out, "%s with cipher %s (%d/%d bits)", tls_conn_protocol(c), tls_conn_cipher(c),
                  use, alg);
    if (!details)
        return;
    int group = SSL_get_negotiated_group(c->ssl);
    if (group > 0 && !(group & TLSEXT_nid_unknown))
        strbuf_printf(out, "%skey-exchange %s", line_break, OBJ_nid2sn(group));
    /* The signature our side made (server) or the peer made (client). */
    bool server = SSL_is_server(c->ssl);
    int sig = NID_undef, md = NID_undef;
    EVP_PKEY *key = NULL;
    X509 *peer = NULL;
    if (server) {
        (void)SSL_get_signature_type_nid(c->ssl, &sig);
        (void)SSL_get_signature_nid(c->ssl, &md);
        X509 *own = SSL_get_certificate(c->ssl);
        key = own ? X509_get0_pubkey(own) : NULL;
    } else {
        (void)SSL_get_peer_signature_type_nid(c->ssl, &sig);
        (void)SSL_get_peer_signature_nid(c->ssl, &md);
        peer = SSL_get1_peer_certificate(c->ssl);
        key = peer ? X509_get0_pubkey(peer) : NULL;
    }
    if (sig != NID_undef && key) {
        strbuf_printf(out, " server-signature %s (%d bits)", key_type_name(sig),
                      EVP_PKEY_get_bits(key));
        if (md != NID_undef)
            strbuf_printf(out, " server-digest %s", OBJ_nid2sn(md));
    }
    X509_free(peer);
}
