/* smtp_tls - STARTTLS for the SMTP/LMTP client with OpenSSL.
 *
 * Levels "may" and "encrypt" both encrypt without authenticating the
 * server, as Postfix does: no certificate verification decides anything,
 * the verification result is only logged ("Trusted"/"Untrusted"). The
 * socket is switched to non-blocking mode (the agent owns it) so the
 * handshake and every later SSL_read/SSL_write obey the stream deadlines.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <arpa/inet.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "mem.h"
#include "msg.h"
#include "sock.h"
#include "smtp.h"

struct smtp_tls {
    SSL *ssl;
};

static SSL_CTX *client_ctx;

static SSL_CTX *ctx_get(strbuf *reason)
{
    if (client_ctx)
        return client_ctx;
    client_ctx = SSL_CTX_new(TLS_client_method());
    if (client_ctx == NULL) {
        strbuf_printf(reason, "cannot create TLS client context: %s",
                      ERR_reason_error_string(ERR_get_error()));
        return NULL;
    }
    SSL_CTX_set_verify(client_ctx, SSL_VERIFY_NONE, NULL);
    return client_ctx;
}

static ssize_t map_result(SSL *ssl, int n, short *want)
{
    if (n > 0)
        return n;
    switch (SSL_get_error(ssl, n)) {
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
        if (errno == 0)
            return 0; /* peer closed without close_notify */
        return -1;
    default:
        ERR_clear_error();
        errno = EPROTO;
        return -1;
    }
}

static ssize_t tls_read(void *ctx, int fd, void *buf, size_t len, short *want)
{
    (void)fd;
    SSL *ssl = ctx;
    errno = 0;
    return map_result(ssl, SSL_read(ssl, buf, len > INT_MAX ? INT_MAX : (int)len), want);
}

static ssize_t tls_write(void *ctx, int fd, const void *buf, size_t len, short *want)
{
    (void)fd;
    SSL *ssl = ctx;
    errno = 0;
    return map_result(ssl, SSL_write(ssl, buf, len > INT_MAX ? INT_MAX : (int)len), want);
}

static size_t tls_pending(void *ctx)
{
    int n = SSL_pending((SSL *)ctx);
    return n > 0 ? (size_t)n : 0;
}

static const stream_io tls_io = {tls_read, tls_write, tls_pending};

struct smtp_tls *smtp_tls_start(stream *st, const char *servername, int timeout_ms, strbuf *reason)
{
    SSL_CTX *ctx = ctx_get(reason);
    if (ctx == NULL)
        return NULL;
    int fd = stream_fd(st);
    if (sock_set_nonblock(fd, true) < 0) {
        strbuf_printf(reason, "cannot set socket non-blocking: %s", strerror(errno));
        return NULL;
    }
    SSL *ssl = SSL_new(ctx);
    if (ssl == NULL || SSL_set_fd(ssl, fd) != 1) {
        strbuf_printf(reason, "cannot create TLS session: %s",
                      ERR_reason_error_string(ERR_get_error()));
        SSL_free(ssl);
        return NULL;
    }
    unsigned char ip[sizeof(struct in6_addr)];
    if (servername && *servername && inet_pton(AF_INET, servername, ip) != 1 &&
        inet_pton(AF_INET6, servername, ip) != 1)
        SSL_set_tlsext_host_name(ssl, servername);
    /* Plaintext the server pipelined behind its STARTTLS reply must not be
     * read as if it came over TLS (CVE-2011-0411, client side). */
    stream_discard_input(st);
    int64_t deadline = stream_now_ms() + (timeout_ms >= 0 ? timeout_ms : 300000);
    for (;;) {
        ERR_clear_error();
        int n = SSL_connect(ssl);
        if (n == 1)
            break;
        int e = SSL_get_error(ssl, n);
        short ev;
        if (e == SSL_ERROR_WANT_READ)
            ev = POLLIN;
        else if (e == SSL_ERROR_WANT_WRITE)
            ev = POLLOUT;
        else {
            unsigned long ec = ERR_get_error();
            strbuf_printf(
                reason, "TLS handshake failed: %s",
                ec ? ERR_reason_error_string(ec)
                   : (e == SSL_ERROR_SYSCALL && errno ? strerror(errno) : "lost connection"));
            SSL_free(ssl);
            return NULL;
        }
        int64_t left = deadline - stream_now_ms();
        if (left <= 0) {
            strbuf_set(reason, "TLS handshake timed out");
            SSL_free(ssl);
            return NULL;
        }
        struct pollfd pfd = {.fd = fd, .events = ev};
        int pr = poll(&pfd, 1, left > INT_MAX ? INT_MAX : (int)left);
        if (pr < 0 && errno != EINTR) {
            strbuf_printf(reason, "poll: %s", strerror(errno));
            SSL_free(ssl);
            return NULL;
        }
    }
    struct smtp_tls *t = xmalloc(sizeof(*t));
    t->ssl = ssl;
    stream_set_io(st, &tls_io, ssl);
    return t;
}

void smtp_tls_describe(const struct smtp_tls *t, const char *peer, strbuf *out)
{
    const SSL_CIPHER *c = SSL_get_current_cipher(t->ssl);
    int alg = 0;
    int bits = c ? SSL_CIPHER_get_bits(c, &alg) : 0;
    X509 *cert = SSL_get1_peer_certificate(t->ssl);
    const char *trust = cert == NULL                                 ? "Anonymous"
                        : SSL_get_verify_result(t->ssl) == X509_V_OK ? "Trusted"
                                                                     : "Untrusted";
    X509_free(cert);
    strbuf_printf(out, "%s TLS connection established to %s: %s with cipher %s (%d/%d bits)", trust,
                  peer, SSL_get_version(t->ssl), c ? SSL_CIPHER_get_name(c) : "unknown", bits, alg);
}

void smtp_tls_free(struct smtp_tls **tp)
{
    struct smtp_tls *t = *tp;
    if (t == NULL)
        return;
    SSL_free(t->ssl);
    free(t);
    *tp = NULL;
}
