/* smtp - the SMTP/LMTP delivery agent: shared declarations.
 *
 * smtp.c          service glue: request in, per-recipient results out, logs
 * smtp_dns.c      next hop -> ordered list of (host, address, port)
 * smtp_content.c  queue file content -> SMTP DATA (CRLF, dot-stuffing)
 * smtp_tls.c      STARTTLS settings and log line, on the shared lib/global/tls
 * smtp_sasl.c     SMTP AUTH settings and the password table (smtp/smtp_sasl_client
 *                 does the mechanisms, smtp_proto.c the exchange)
 * smtp_proto.c    one session with one server: greeting .. QUIT
 */
#ifndef MTA_SMTP_SMTP_H
#define MTA_SMTP_SMTP_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "deliver_request.h"
#include "header.h"
#include "maps.h"
#include "smtp_resp.h"
#include "stream.h"
#include "tls.h"
#include "strbuf.h"
#include "strlist.h"

/* ---- configuration (smtp_* or lmtp_* parameters) ------------------------ */

/* Postfix's TLS security levels, weakest first. */
enum smtp_tls_level {
    SMTP_TLS_NONE,
    SMTP_TLS_MAY,
    SMTP_TLS_ENCRYPT,
    SMTP_TLS_DANE,
    SMTP_TLS_DANE_ONLY,
    SMTP_TLS_FINGERPRINT,
    SMTP_TLS_VERIFY,
    SMTP_TLS_SECURE,
};

struct smtp_config {
    bool lmtp;
    const char *queue_directory;
    const char *myhostname;
    const char *helo_name;
    bool dns; /* MX lookups allowed (smtp_host_lookup has dns) */
    const char *fallback_relay;
    int mx_address_limit;   /* 0: unlimited */
    int connect_timeout_ms; /* < 0: none */
    int helo_timeout_ms, mail_timeout_ms, rcpt_timeout_ms, data_init_timeout_ms,
        data_xfer_timeout_ms, data_done_timeout_ms, quit_timeout_ms, starttls_timeout_ms;
    size_t line_limit; /* reply lines */
    enum smtp_tls_level tls_level;
    const char *tls_servername;
    const char *tls_protocols, *tls_ciphers, *tls_exclude_ciphers, *tls_CAfile, *tls_CApath;
    const char *tls_mandatory_protocols, *tls_mandatory_ciphers, *tls_mandatory_exclude_ciphers;
    const char *tls_verify_match, *tls_secure_match, *tls_fingerprint_match;
    const char *tls_fingerprint_digest;
    const char *tls_trust_anchor_file;
    maps *tls_policy; /* *_tls_policy_maps; NULL when empty */
    bool dnssec;      /* *_dns_support_level = dnssec (DANE needs it) */
    const char *dns_support_level;
    bool tls_session_cache; /* *_tls_session_cache_database set, timeout > 0 */
    int family;             /* AF_UNSPEC, AF_INET or AF_INET6 (inet_protocols) */
    bool mime_conversion;   /* !disable_mime_output_conversion */
    struct {
        bool enable;          /* smtp_sasl_auth_enable */
        maps *passwd;         /* smtp_sasl_password_maps */
        strlist filter;       /* smtp_sasl_mechanism_filter */
        unsigned sec_flags;   /* smtp_sasl_security_options (XSASL_SEC_*) */
        unsigned tls_flags;   /* ... once TLS is active */
        unsigned tlsv_flags;  /* ... once TLS is active and the peer verified */
        bool soft_bounce;     /* smtp_sasl_auth_soft_bounce */
        bool dummy_mail_auth; /* smtp_send_dummy_mail_auth */
        bool sender_auth;     /* smtp_sender_dependent_authentication */
    } sasl;
    /* Reuse of a connection for the next message of a batch (qmgr sends
     * batches under *_connection_cache_on_demand). */
    long long reuse_count_limit;   /* *_connection_reuse_count_limit; 0: none */
    long long reuse_time_limit_ms; /* *_connection_reuse_time_limit */
};
extern struct smtp_config smtp_cfg;

/* ---- next hop resolution (smtp_dns.c) ---------------------------------- */

struct smtp_mx {
    char *host;
    unsigned pref;
};

/* Sort by preference; hosts with equal preference are shuffled with
 * rnd(n) returning 0..n-1 (RFC 5321 5.1). */
void smtp_mx_sort(struct smtp_mx *mx, size_t n, size_t (*rnd)(size_t n));
void smtp_mx_free(struct smtp_mx *mx, size_t n);

/* A place to connect to. For LMTP over UNIX sockets `path` is set. */
/* DANE state of one MX host (smtp_dns.c, when the next hop's policy is
 * dane or dane-only). */
enum smtp_dane_status {
    SMTP_DANE_INSECURE = 0, /* not looked up, or the MX/address records are not DNSSEC-valid */
    SMTP_DANE_NOTFOUND,     /* validated, no (validated) TLSA records */
    SMTP_DANE_UNUSABLE,     /* validated TLSA records, none usable for SMTP */
    SMTP_DANE_USABLE,       /* validated, usable TLSA records in tlsa[] */
    SMTP_DANE_ERROR,        /* the TLSA (or address) lookup failed: defer this host */
};
struct smtp_tlsa {
    unsigned char usage, selector, mtype;
    unsigned char *data;
    size_t len;
};

struct smtp_target {
    char *host; /* name for logs: MX host, relay host, or $myhostname */
    char *addr; /* numeric address, or the socket path */
    char *path; /* AF_UNIX path or NULL */
    char *dest; /* the next hop this came from, as written ("[relay]:587") */
    unsigned port;
    struct sockaddr_storage sa;
    socklen_t salen;
    enum smtp_dane_status dane;
    struct smtp_tlsa *tlsa; /* usable records only */
    size_t ntlsa;
};

struct smtp_targets {
    struct smtp_target *v;
    size_t n;
};
void smtp_targets_free(struct smtp_targets *t);

/* Outcome of resolving a next hop. */
enum smtp_resolve_status {
    SMTP_RESOLVE_OK = 0,
    SMTP_RESOLVE_TEMP = -1, /* defer: DNS trouble */
    SMTP_RESOLVE_PERM = -2, /* bounce: no such domain, null MX */
};

/* Parse a next hop ("domain", "[host]", "[host]:port", "host:port",
 * "inet:host:port", "unix:/path" for LMTP) and resolve it into targets,
 * followed by smtp_fallback_relay's. On failure the reason (Postfix
 * wording) and DSN code are set. */
int smtp_resolve_nexthop(const char *nexthop, struct smtp_targets *out, strbuf *reason,
                         const char **dsn);
/* The same, with DNSSEC-validated MX and address lookups and the TLSA
 * records of each host (_port._tcp.host) when `dane` is set (the next
 * hop's TLS policy is dane or dane-only): see enum smtp_dane_status. The
 * fallback relays get no DANE lookups (their own policy is not known). */
int smtp_resolve_nexthop_dane(const char *nexthop, bool dane, struct smtp_targets *out,
                              strbuf *reason, const char **dsn);

/* ---- generic(5) (smtp_generic.c) ------------------------------------------ */

/* smtp_generic_maps (lmtp_generic_maps) on one envelope address: *out is the
 * address to send (addr itself when nothing matches). */
void smtp_generic_map(const char *addr, strbuf *out);
/* True when a generic table is configured: the primary headers then go
 * through smtp_generic_header. */
bool smtp_generic_headers(void);
/* One logical primary header ("Name: value", folded lines joined by "\n"):
 * in an address header (From:, To:, Cc:, Reply-To: ... header_addr.h) each
 * address the table maps is replaced, as Postfix's smtp does. true with the
 * new header in *out, false when it stays as it is. */
bool smtp_generic_header(const char *header, size_t len, enum header_id id, strbuf *out);

/* ---- content (smtp_content.c) ------------------------------------------ */

/* Convert one piece of a content line to the wire: a '.' at the start of a
 * line is doubled, a line end becomes CRLF. *at_bol tracks whether the next
 * piece starts a line. */
void smtp_wire_piece(strbuf *out, const char *data, size_t len, bool line_end, bool *at_bol);

/* What the agent needs from the queue file before talking to anyone. */
struct smtp_message {
    int fd;
    uint64_t content_size;
    bool eight_bit;    /* content has bytes >= 0x80, or BODY=8BITMIME */
    bool content_8bit; /* content has bytes >= 0x80 */
    bool smtputf8;     /* SMTPUTF8 requested at submission */
    bool downgrade;    /* this session: convert 8-bit MIME to 7-bit (smtp/smtp_mime_downgrade.h) */
};
int smtp_message_scan(struct smtp_message *m, strbuf *err);
/* Write the content as DATA (with the final "."), converted to 7-bit when
 * m->downgrade is set; 0 or a negative stream
 * result (reason in err), or -4 for a queue file error (reason in err). */
#define SMTP_CONTENT_FILE_ERROR (-4)
int smtp_content_send(stream *st, const struct smtp_message *m, strbuf *err);

/* ---- TLS (smtp_tls.c, on the shared lib/global/tls) --------------------------- */

/* A level name (any case) -> level; -1 for an unknown name. */
int smtp_tls_level_parse(const char *name, enum smtp_tls_level *out);
const char *smtp_tls_level_name(enum smtp_tls_level level);

/* The TLS policy of a next hop: main.cf's, or a smtp_tls_policy_maps
 * entry "level [match=...] [ciphers=grade] [protocols=...] [exclude=...]
 * [tafile=...]"
 * (Postfix's TLS policy table syntax). NULL members: main.cf's settings. */
struct smtp_tls_policy {
    enum smtp_tls_level level;
    strlist match; /* names/strategies (verify, secure) or fingerprints */
    bool have_match;
    char *protocols, *ciphers, *exclude;
    char *tafile; /* verify, secure: trust anchor file (replaces the CAs) */
};
/* Parse a policy table value. -1 with err for an unknown level or
 * attribute, an attribute the level cannot use, a bad value. */
int smtp_tls_policy_parse(const char *value, struct smtp_tls_policy *out, strbuf *err);
void smtp_tls_policy_release(struct smtp_tls_policy *p);
/* The policy for `nexthop` as written ("[host]:port", "domain"): the
 * table's entry for it (a domain also ".parent" entries, nearest first),
 * else main.cf's level. 0, or -1 with err (table trouble or a bad entry:
 * the caller defers with 4.7.5, as Postfix does). */
int smtp_tls_policy_lookup(const char *nexthop, struct smtp_tls_policy *out, strbuf *err);

/* What one connection to one host must achieve (from the next hop's policy
 * and the host's DANE state). */
struct smtp_tls_session {
    enum smtp_tls_level level; /* effective: DANE only with usable TLSA */
    bool mandatory;            /* no plaintext fallback */
    bool must_match;           /* unverified peer: "Server certificate not verified" */
    strlist names;             /* reference names (verify, secure) */
    struct tls_tlsa *tlsa;     /* DANE records or fingerprints */
    size_t ntlsa;
    strbuf fpt;                       /* owns the fingerprint bytes tlsa[] points to */
    const char *tlsa_base;            /* TLSA base domain (the MX host) */
    strbuf sni;                       /* SNI name; empty: none */
    strbuf protocols, cipherlist, id; /* id: what the session cache keys on */
};
/* 0, or -1 when this host must not be used (dane-only without usable
 * TLSA, a TLSA lookup error, a bad fingerprint): reason and dsn set. */
int smtp_tls_session_init(struct smtp_tls_session *ts, const struct smtp_tls_policy *pol,
                          const char *nexthop, const struct smtp_target *t, strbuf *reason,
                          const char **dsn);
void smtp_tls_session_release(struct smtp_tls_session *ts);

/* The process-wide client context from the smtp_tls_* (lmtp_tls_*)
 * settings, made on first use. NULL with the reason on a bad setting. */
tls_ctx *smtp_tls_context(strbuf *reason);
/* The handshake after STARTTLS with the server `relay` ("host[addr]:port"),
 * offering the session tlsmgr(8) keeps for it and handing tlsmgr the ones
 * the server issues (smtp_tls_session_cache_database). NULL with the
 * reason on failure (a cached session that failed is forgotten). */
tls_conn *smtp_tls_start(tls_ctx *ctx, stream *st, const char *relay,
                         const struct smtp_tls_session *ts, strbuf *reason);
/* "Untrusted TLS connection established to <peer>: TLSv1.3 with cipher
 * TLS_AES_256_GCM_SHA384 (256/256 bits)", Postfix's log line. */
void smtp_tls_describe(const tls_conn *conn, const char *peer, strbuf *out);

/* ---- SASL (smtp_sasl.c) ------------------------------------------------ */

/* Read the smtp_sasl_* (lmtp_sasl_*) settings and open the password table;
 * as root, before the privilege drop (the table is usually root-only).
 * Fatal on a bad setting, like Postfix. */
void smtp_sasl_init(bool lmtp);

/* Password table keys in Postfix's order: with sender-dependent
 * authentication the sender address and then "@domain" (sender may be
 * NULL or empty: skipped), then the server's host name, then the next hop
 * as written in the configuration ("[relay.example]:587"). */
void smtp_sasl_passwd_keys(const char *sender, const char *host, const char *dest, strlist *keys);

/* Find the credentials for a server: MAP_FOUND with user and password
 * (the value "user:password", split at the first ':'), MAP_NOTFOUND (do
 * not authenticate), MAP_TEMPFAIL with the reason in err. */
enum map_result smtp_sasl_passwd_lookup(const char *sender, const char *host, const char *dest,
                                        strbuf *user, strbuf *password, strbuf *err);

/* ---- session (smtp_proto.c) --------------------------------------------- */

enum smtp_session_result {
    SMTP_SESSION_DONE,     /* every recipient has an outcome */
    SMTP_SESSION_TRY_NEXT, /* this host failed as a whole; try the next */
    SMTP_SESSION_TLS_RETRY /* opportunistic TLS failed: retry in plaintext */
};

struct smtp_state {
    struct deliver_request *req;
    struct smtp_message *msg;
    const struct smtp_target *target;
    strbuf relay;       /* "host[addr]:port" for the log */
    strbuf host_addr;   /* "host[addr]" for reasons */
    int64_t start_us;   /* request taken */
    int64_t conn_us;    /* connection set up (greeting, EHLO, TLS done) */
    strbuf last_reason; /* why the last host failed (session-level) */
    const char *last_dsn;
    bool last_permanent; /* the session failure would bounce if it is the last host */
    bool no_tls;         /* plaintext retry after a failed opportunistic handshake */
    const struct smtp_tls_session *tls; /* what TLS this host must give */
    int conn_use;                       /* this message's transaction on its connection */
};

/* A connection that finished a transaction cleanly (the server waits for
 * MAIL FROM), kept for the next message of the same request. */
struct smtp_conn;

/* One session on connected fd (closed or handed over): greeting, EHLO,
 * STARTTLS, AUTH, then s's message. With `keep`, a connection whose
 * transaction ended cleanly is not QUIT but stored in *keep. */
int smtp_session(struct smtp_state *s, int fd, struct smtp_conn **keep);
/* Whether *keep may carry another message (*_connection_reuse_*_limit). */
bool smtp_conn_usable(const struct smtp_conn *c);
/* s's message on the connection in *keep (taken; stored again when the
 * transaction ends cleanly). Undecided recipients after a failure are
 * for a new connection; last_reason says why. */
int smtp_session_again(struct smtp_state *s, struct smtp_conn **keep);
/* QUIT and close *keep, if any. */
void smtp_conn_close(struct smtp_conn **keep);

/* Record recipient i's outcome and log it (smtp.c). */
void smtp_rcpt_done(struct smtp_state *s, size_t i, enum deliver_status status, const char *dsn,
                    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

int64_t smtp_now_us(void);

#endif
