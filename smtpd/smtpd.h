/* smtpd - internal interface between the SMTP server's files.
 *
 * smtpd.c: session, command loop, replies, limits, counters, log lines.
 * smtpd_data.c: DATA and BDAT content to cleanup (smtpd/smtpd_data_scan state
 * machine), Received: header.
 * smtpd_check.c: restrictions (smtpd_*_restrictions), mynetworks,
 * local_recipient_maps, address classes through lib/global/resolve.
 * smtpd_limit.c: per-client connection count and rate limits.
 */
#ifndef SMTPD_SMTPD_H
#define SMTPD_SMTPD_H
#include <stdbool.h>
#include <stdint.h>
#include <sys/time.h>

#include "cleanup_client.h"
#include "maps.h"
#include "smtp_cmd.h"
#include "smtpd_data_scan.h"
#include "stream.h"
#include "strbuf.h"
#include "strlist.h"
#include "tls.h"
#include "xsasl.h"

/* Per-command counters for the "disconnect from" line, Postfix's order. */
enum smtpd_counter {
    CNT_HELO,
    CNT_EHLO,
    CNT_STARTTLS,
    CNT_AUTH,
    CNT_MAIL,
    CNT_RCPT,
    CNT_DATA,
    CNT_BDAT,
    CNT_RSET,
    CNT_NOOP,
    CNT_VRFY,
    CNT_ETRN,
    CNT_QUIT,
    CNT_HELP,
    CNT_UNKNOWN,
    CNT_COUNT
};

struct smtpd_state {
    stream *st;
    /* client */
    strbuf name;          /* verified name or "unknown" */
    strbuf addr;          /* numeric */
    strbuf namaddr;       /* name[addr] */
    strbuf rfc_addr;      /* addr, or IPv6:addr */
    strbuf helo;          /* sanitized; empty until HELO/EHLO */
    const char *protocol; /* "SMTP", "ESMTP" */
    bool extended;        /* EHLO: PIPELINING etc. were offered */
    bool stand_alone;     /* smtpd -S (sendmail -bs): a local pipe, not the network */
    bool ill_pipelining;  /* commands sent ahead where not allowed: reject_unauth_pipelining */
    const char *where;    /* last command, for "timeout after X" */

    /* transaction */
    bool have_mail;
    bool access_denied; /* smtpd_delay_reject = no: client rejected at connect */
    strbuf sender;      /* internal form */
    uint64_t mail_size;
    enum smtp_body body;
    enum smtp_ret ret;
    strbuf envid;
    bool smtputf8;
    struct timeval arrival;
    cleanup_client *cc;
    strbuf queue_id;   /* empty: NOQUEUE (or the open not answered yet) */
    strbuf open_error; /* the queue file could not be opened: the reply */
    int open_code;     /* and its code */
    long rcpt_count;
    long rcpt_overshoot;
    strbuf last_rcpt; /* for "for <x>" in Received: */
    strbuf prepend;   /* PREPEND headers from access tables, one a line */
    /* For check_policy_service (smtpd_policy.c): the "instance" attribute of
     * this transaction, and MAIL FROM's AUTH= (SASL enabled, "<>" not kept). */
    char policy_instance[64];
    strbuf sasl_sender;
    /* Message actions from access tables (HOLD, DISCARD, REDIRECT, FILTER,
     * BCC) for this transaction; sent to cleanup before the end of data
     * (smtpd_check_send_actions), since the queue file may not be open yet
     * when they are found. The last REDIRECT and FILTER win. */
    struct {
        bool hold, discard;
        strbuf redirect, filter;
        strlist bcc;
    } act;
    bool bdat_active;
    smtp_data data;
    uint64_t bdat_total;
    uint64_t data_bytes; /* for "lost connection after DATA (N bytes)" */

    /* TLS (smtpd_tls.c) */
    tls_conn *tls; /* non-NULL once the handshake succeeded */
    unsigned local_port, remote_port;
    strbuf local_addr;

    /* SASL (smtpd_sasl.c) */
    xsasl_server *sasl; /* this session's authenticator, made at EHLO */
    bool sasl_tried;    /* xsasl_server_new was attempted for this TLS state */
    strbuf sasl_mechs;  /* offered in EHLO, after smtpd_sasl_mechanism_filter */
    strbuf sasl_method; /* non-empty once authenticated */
    strbuf sasl_username;

    /* milters (smtpd_milter.c) */
    struct milter_set *milters;  /* NULL: no smtpd_milters */
    strbuf milter_session_reply; /* a connect/HELO-stage rejection */
    strbuf milter_macro;         /* scratch for computed macro values */
    strbuf milter_first_rcpt;    /* to=<> of the END-OF-MESSAGE log line */
    const char *milter_rcpt;     /* {rcpt_addr} during the RCPT event */
    bool milter_hold;

    /* session */
    int error_count;
    int junk_count;
    unsigned cnt_ok[CNT_COUNT], cnt_all[CNT_COUNT];
    bool quit; /* close after the current reply */
    strbuf reply;
};

/* smtpd_milter.c. The bool functions return false when the command was
 * answered (rejected); smtpd_milter_eom returns -1 with the reply to give
 * (the message is not queued), else 0 with the modifications, DISCARD or
 * HOLD already on their way to cleanup (s->act). */
void smtpd_milter_init(void);
void smtpd_milter_connect(struct smtpd_state *s);
bool smtpd_milter_helo(struct smtpd_state *s);
bool smtpd_milter_mail(struct smtpd_state *s, uint64_t size);
bool smtpd_milter_rcpt(struct smtpd_state *s, const char *rcpt);
bool smtpd_milter_data(struct smtpd_state *s, const char *stage);
bool smtpd_milter_unknown(struct smtpd_state *s, const strbuf *line);
void smtpd_milter_content(struct smtpd_state *s, const char *data, size_t len, bool line_end);
int smtpd_milter_eom(struct smtpd_state *s, strbuf *reply);
void smtpd_milter_abort(struct smtpd_state *s);
void smtpd_milter_disconnect(struct smtpd_state *s);

/* configuration read once per process (smtpd.c) */
struct smtpd_params {
    const char *myhostname;
    size_t line_limit;
    uint64_t message_size_limit;
    long recipient_limit;
    long overshoot_limit;
    int soft_error_limit;
    int hard_error_limit;
    int junk_limit;
    long long error_sleep;
    long long timeout_s;
    bool per_request_deadline;
    unsigned min_data_rate;
    bool forbid_bare_reject; /* smtpd_forbid_bare_newline = reject */
    int bare_code;
    bool forbid_unauth_pipelining;
    int pregreet_wait_ms; /* smtpd_pregreet_wait: see smtpd_serve() */
    bool disable_vrfy;
    bool helo_required;
    bool smtputf8_enable;
    bool strict_rfc821;
    uint64_t queue_minfree;
    const char *queue_dir;
    int ipc_timeout_ms;

    /* TLS */
    int tls_level;    /* TLS_LEVEL_* */
    tls_ctx *tls_ctx; /* NULL: no usable certificate (STARTTLS gets 454) */
    bool tls_wrapper; /* smtpd_tls_wrappermode */
    bool tls_auth_only;
    int tls_loglevel;
    bool tls_received_header;
    int starttls_timeout_ms;

    /* SASL */
    bool sasl_enable;
    bool sasl_ready; /* xsasl_init succeeded */
    unsigned sasl_sec_flags, sasl_tls_sec_flags;
    bool broken_auth_clients;
    size_t sasl_response_limit;
    bool sasl_authenticated_header;
};
#define TLS_LEVEL_NONE 0
#define TLS_LEVEL_MAY 1
#define TLS_LEVEL_ENCRYPT 2
extern struct smtpd_params smtpd_params;

/* smtpd.c */
void smtpd_reply(struct smtpd_state *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int smtpd_flush(struct smtpd_state *s);
bool smtpd_open_queue(struct smtpd_state *s);
/* The queue ID, once cleanup has answered the open (waits for that answer
 * the first time); NULL when there is none: no file yet, or it could not be
 * made (s->open_error has the reply, s->cc is gone). */
const char *smtpd_queue_id(struct smtpd_state *s);
/* smtpd_check.c: hand the transaction's message actions to cleanup (queue
 * file open); forget them (transaction reset, session end). */
void smtpd_check_send_actions(struct smtpd_state *s);
void smtpd_check_reset_actions(struct smtpd_state *s);
void smtpd_reset(struct smtpd_state *s);

/* Recompute s->protocol from EHLO/TLS/AUTH state (ESMTP, ESMTPS, ESMTPSA). */
void smtpd_set_protocol(struct smtpd_state *s);

/* smtpd_tls.c */
void smtpd_tls_pre_init(void);                        /* as root: certificates, keys, ticket keys */
bool smtpd_tls_offer(const struct smtpd_state *s);    /* STARTTLS in EHLO */
bool smtpd_tls_required(const struct smtpd_state *s); /* encrypt and not yet TLS */
void smtpd_starttls(struct smtpd_state *s, const smtp_cmd *cmd); /* may set s->quit */
bool smtpd_tls_wrapper_start(struct smtpd_state *s);             /* port 465: false = hang up */
void smtpd_tls_received(struct smtpd_state *s, strbuf *h);       /* "(using ...)" lines */
void smtpd_tls_close(struct smtpd_state *s);

/* smtpd_sasl.c */
void smtpd_sasl_pre_init(void); /* as root (Cyrus loads plugins) */
/* The mechanisms to offer in EHLO now ("" = no AUTH line). */
const char *smtpd_sasl_ehlo(struct smtpd_state *s);
void smtpd_sasl_auth(struct smtpd_state *s, const smtp_cmd *cmd);
void smtpd_sasl_reset(struct smtpd_state *s); /* forget authentication (STARTTLS, end) */
bool smtpd_sasl_authenticated(const struct smtpd_state *s);

/* smtpd_data.c: both return after the final reply was queued. */
void smtpd_data(struct smtpd_state *s);
void smtpd_bdat(struct smtpd_state *s, const smtp_cmd *cmd);

/* smtpd_limit.c: smtpd_client_connection_count_limit and ..._rate_limit.
 * connect: false when over a limit (421 queued, hang up); disconnect at
 * the end of every session. */
void smtpd_limit_pre_init(void); /* as root, outside the chroot */
void smtpd_limit_init(void);
bool smtpd_limit_connect(struct smtpd_state *s, const char *service);
void smtpd_limit_disconnect(void);

/* smtpd_unlisted.c: reject_unlisted_recipient / reject_unlisted_sender.
 * 0 when addr is known (or its class has no table), else the reply code
 * with reply set: "550 5.1.1 <a>: Recipient address rejected: User unknown
 * in virtual mailbox table" (Sender ... for is_sender), or "451 4.3.0 <a>:
 * Temporary lookup failure" when a table cannot answer. Does not log. */
void smtpd_unlisted_init(void);
int smtpd_unlisted_address(struct smtpd_state *s, const char *addr, bool is_sender, strbuf *reply);
/* A table lookup in mail_addr_find order (address, address minus
 * extension, [local part forms when bare_local], else @domain): 1/0/-1. */
int smtpd_unlisted_find(maps *m, const char *param, const char *addr, bool bare_local);

/* smtpd_check.c */
void smtpd_check_init(void);
/* smtpd_delay_reject: true (Postfix's default) evaluates the client, helo
 * and sender restrictions at RCPT; false evaluates them at connect, HELO and
 * MAIL with these (0, or the reply code with the reply in reply, logged). */
bool smtpd_check_delay_reject(void);
int smtpd_check_client(struct smtpd_state *s, strbuf *reply);
int smtpd_check_helo(struct smtpd_state *s, strbuf *reply);
int smtpd_check_mail(struct smtpd_state *s, strbuf *reply);
/* Recipient policy at RCPT (delayed client/helo/sender restrictions
 * included with smtpd_delay_reject). Returns 0 to accept, or the reply code with the reply text in
 * reply ("554 5.7.1 <x>: Relay access denied"); logs the NOQUEUE line. */
int smtpd_check_rcpt(struct smtpd_state *s, const char *rcpt, strbuf *reply);
/* DATA/BDAT: smtpd_data_restrictions (0, or the reply code with the reply
 * in reply, logged). `stage` is "DATA" or "BDAT". */
int smtpd_check_data(struct smtpd_state *s, const char *stage, strbuf *reply);
/* smtpd_data_restrictions has entries (they may log or ask with the queue ID). */
bool smtpd_check_data_configured(void);
/* smtpd_end_of_data_restrictions, after the last byte and before cleanup
 * finishes: 0, or the SMTP code with the reply in `reply` (logged). */
int smtpd_check_eod(struct smtpd_state *s, strbuf *reply);
/* VRFY policy: 0 known, else reply. */
int smtpd_check_vrfy(struct smtpd_state *s, const char *rcpt, strbuf *reply);
/* local_header_rewrite_clients */
bool smtpd_check_rewrite_local(struct smtpd_state *s);
/* The reject log line, Postfix's format. */
void smtpd_log_reject(struct smtpd_state *s, const char *stage, const char *reply_text,
                      const char *to);
/* The same line with another action word ("milter-reject", "milter-hold"). */
void smtpd_log_whatsup(struct smtpd_state *s, const char *what, const char *stage, const char *text,
                       const char *to);

#endif
