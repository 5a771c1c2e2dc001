/* tls - OpenSSL contexts and TLS under a stream, for smtpd and smtp.
 *
 * Contract:
 * - tls_ctx wraps one SSL_CTX built from Postfix-style settings: a protocol
 *   spec in Postfix syntax (">=TLSv1.2", "!SSLv2, !SSLv3", "TLSv1.2 TLSv1.3"),
 *   an OpenSSL cipher list for TLS <= 1.2 (tls_cipherlist() turns a Postfix
 *   grade into one), certificates and keys. Building fails with -1/NULL and
 *   the reason in err (OpenSSL's error queue text included); never a
 *   half-configured context.
 * - tls_server_start / tls_client_start run the handshake on the stream's fd
 *   within timeout_ms, without changing the fd's O_NONBLOCK flag (the socket
 *   BIO uses MSG_DONTWAIT), then slot the connection under the stream
 *   (stream_set_io): from then on stream reads and writes are TLS records.
 *   The caller must stream_discard_input() and flush output BEFORE starting
 *   (CVE-2011-0411); tls_server_start refuses a stream with buffered input.
 * - tls_conn_close sends close_notify (no wait for the peer's, like Postfix
 *   with tls_fast_shutdown_enable), restores plain I/O on the stream and
 *   frees the connection; the stream and its fd stay open.
 * - Session resumption on the server: RFC 5077 session tickets. With a
 *   ticket key file (tls_ticket_key_load) every process that loads the same
 *   file accepts the others' tickets; without one, tickets work within one
 *   process (OpenSSL's per-context random keys). No server-side cache.
 * - Session resumption on the client: only what the caller keeps
 *   (tls_client_start_sessions: the smtp client's tlsmgr cache); OpenSSL
 *   keeps nothing of its own.
 * - Server authentication on the client (tls_client_start_peer): per
 *   connection, the certificate must chain to the context's trust anchors
 *   and carry one of the reference names (OpenSSL's host check: DNS
 *   subjectAltNames, else the subject CN; "*.d" wildcards on the first
 *   label; a name ".d" accepts any subdomain of d), or match one of the
 *   TLSA records (OpenSSL's DANE: DANE-TA(2) and DANE-EE(3), the caller
 *   filters PKIX usages out; fingerprints are DANE-EE records with the
 *   context's fingerprint matching type). The handshake never fails for
 *   an unverified peer: tls_conn_peer_matched() tells, and
 *   tls_conn_verify_error() gives the first verification error in
 *   Postfix's words; whether that is acceptable is the caller's policy.
 * - Private keys and session secrets never reach the log.
 */
#ifndef MTA_TLS_H
#define MTA_TLS_H
#include <stdbool.h>

#include "stream.h"
#include "strbuf.h"

typedef struct tls_ctx tls_ctx;
typedef struct tls_conn tls_conn;

/* Protocol versions (OpenSSL's TLS1_x_VERSION numbers) allowed by a Postfix
 * protocol spec. Holes ("!TLSv1.1" alone while TLSv1 stays) cannot be
 * expressed as a min/max range: the range then spans the lowest to the
 * highest allowed version. Unknown names are an error. */
int tls_parse_protocols(const char *spec, int *min_version, int *max_version, strbuf *err);

/* The OpenSSL cipher list of each Postfix grade (the tls_<grade>_cipherlist
 * parameters), supplied by the caller: this module reads no configuration. */
struct tls_grade_lists {
    const char *high, *medium, *low, *export, *null;
};
/* OpenSSL cipher list for a Postfix grade (high, medium, low, export,
 * null; any case) taken from `lists`, minus the names in `exclude`
 * (Postfix's *_exclude_ciphers, each appended as ":!name"). -1 for an
 * unknown grade. */
int tls_cipherlist(const char *grade, const struct tls_grade_lists *lists, const char *exclude,
                   strbuf *out, strbuf *err);

struct tls_server_settings {
    const char *cert_file;       /* PEM: certificate then its chain; may be "" */
    const char *key_file;        /* PEM private key for cert_file */
    const char *chain_files;     /* Postfix's smtpd_tls_chain_files: files with key + chain */
    const char *protocols;       /* Postfix syntax */
    const char *cipherlist;      /* OpenSSL syntax (see tls_cipherlist) */
    long session_timeout_s;      /* ticket lifetime */
    const char *ticket_key_file; /* NULL/"": per-process ticket keys */
    bool server_preference;      /* tls_preempt_cipherlist */
};

struct tls_client_settings {
    const char *protocols;
    const char *cipherlist;
    const char *cert_file, *key_file; /* optional client certificate */
    const char *CAfile, *CApath;      /* trust anchors; "" for none */
    /* Digest of the fingerprint level (Postfix's *_tls_fingerprint_digest:
     * md5, sha1, sha224, sha256, sha384, sha512; NULL/"": sha256). */
    const char *fingerprint_digest;
};

tls_ctx *tls_server_ctx_new(const struct tls_server_settings *set, strbuf *err);
tls_ctx *tls_client_ctx_new(const struct tls_client_settings *set, strbuf *err);
void tls_ctx_free(tls_ctx **ctxp);

/* Make sure `path` holds fresh ticket keys (created or replaced when older
 * than max_age_s, mode 0600, atomically by rename). Run as the user that
 * may write it (smtpd's pre_init, as root). */
int tls_ticket_key_refresh(const char *path, long max_age_s, strbuf *err);

/* Handshakes. On failure: NULL, err says why ("SSL_accept error: ..."), the
 * stream keeps plain I/O but its connection is unusable for SMTP. */
tls_conn *tls_server_start(tls_ctx *ctx, stream *st, int timeout_ms, strbuf *err);
tls_conn *tls_client_start(tls_ctx *ctx, stream *st, const char *servername, int timeout_ms,
                           strbuf *err);
/* Client session resumption. `offer` (DER, as given to save() on an
 * earlier connection; NULL for none) is tried; a stale or damaged one only
 * costs a full handshake (tls_conn_reused() says which happened).
 * save(arg, der, len) gets every resumable session the server issues, for
 * as long as the connection lives (with TLS 1.3 they arrive after the
 * handshake, while the caller reads): `arg` must live as long. The DER is
 * secret (it holds the session's master key) and is wiped after the call. */
#define TLS_SESSION_MAX 32768 /* longest DER session accepted or offered */
struct tls_client_sessions {
    const unsigned char *offer;
    size_t offer_len;
    void (*save)(void *arg, const unsigned char *der, size_t len);
    void *arg;
};
tls_conn *tls_client_start_sessions(tls_ctx *ctx, stream *st, const char *servername,
                                    int timeout_ms, const struct tls_client_sessions *sessions,
                                    strbuf *err);

/* One TLSA record (RFC 6698) as DANE matches it; data is not copied. */
struct tls_tlsa {
    unsigned char usage, selector, mtype;
    const unsigned char *data;
    size_t len;
};
/* The matching type under which fingerprints of the context's digest are
 * given as TLSA records (1 for sha256, 2 for sha512, else a private-use
 * number that DNS records never carry past dns_tlsa_check()). */
unsigned char tls_fingerprint_mtype(const tls_ctx *ctx);

/* Everything the client wants of one connection. NULL/0 members: the
 * context's settings, no SNI, no authentication (only reported). */
struct tls_client_peer {
    const char *servername; /* SNI */
    const char *protocols;  /* Postfix syntax; overrides the context's */
    const char *cipherlist; /* OpenSSL syntax; overrides the context's */
    /* Reference names for the chain + name check (verify, secure). */
    const char *const *names;
    size_t nnames;
    /* DANE or fingerprints: TLSA records, and the TLSA base domain (a
     * DANE-TA(2) match checks the certificate's names against it and
     * against `names`; with a NULL base only against `names`, which is how
     * trust anchor files work). */
    const struct tls_tlsa *tlsa;
    size_t ntlsa;
    const char *tlsa_base;
    const struct tls_client_sessions *sessions; /* resumption, as above */
};
tls_conn *tls_client_start_peer(tls_ctx *ctx, stream *st, const struct tls_client_peer *peer,
                                int timeout_ms, strbuf *err);

void tls_conn_close(tls_conn **connp, stream *st);

/* What was negotiated. */
const char *tls_conn_protocol(const tls_conn *conn); /* "TLSv1.3" */
const char *tls_conn_cipher(const tls_conn *conn);   /* "TLS_AES_256_GCM_SHA384" */
int tls_conn_cipher_bits(const tls_conn *conn, int *alg_bits);
bool tls_conn_reused(const tls_conn *conn);
/* Client side: did the server's certificate verify against the trust
 * anchors (chain only; the caller matches names)? Subject CN into out. */
bool tls_conn_peer_verified(const tls_conn *conn);
bool tls_conn_peer_cn(const tls_conn *conn, strbuf *out);
/* Did the authentication asked for in tls_client_start_peer succeed (the
 * chain and a name, or a TLSA record)? false when none was asked for. */
bool tls_conn_peer_matched(const tls_conn *conn);
/* The first certificate verification error in Postfix's words, into out
 * ("untrusted issuer /CN=Test CA", "certificate has expired",
 * "num=62:hostname mismatch", "num=65:no matching DANE TLSA records");
 * false when verification found no error. */
bool tls_conn_verify_error(const tls_conn *conn, strbuf *out);

/* Postfix's description, appended to out:
 *   "TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)"
 * followed, when `details`, by " key-exchange X25519 server-signature
 * RSA-PSS (2048 bits) server-digest SHA256" as far as OpenSSL knows them.
 * `line_break` is put before "key-exchange" (the Received: header folds
 * there; logs pass " "). */
void tls_conn_describe(const tls_conn *conn, bool details, const char *line_break, strbuf *out);

#endif
