/* cleanup - internal interface between the cleanup daemon's files.
 *
 * One cleanup_state per client connection (one message). cleanup.c owns the
 * protocol (lib/global/cleanup_client.h) and the queue file; cleanup_message.c owns
 * the content: header section through lib/global/header with header_size_limit,
 * the missing-header rules, message size accounting; cleanup_rewrite.c the
 * address rewriting (canonical, masquerading, virtual alias) both use.
 */
#ifndef CLEANUP_CLEANUP_H
#define CLEANUP_CLEANUP_H
#include <stdbool.h>
#include <stdint.h>
#include <sys/time.h>

#include "cleanup_client.h"
#include "cleanup_mime.h"
#include "dup_filter.h"
#include "header.h"
#include "queue_file.h"
#include "strbuf.h"
#include "strlist.h"

/* First problem wins; reported at "end". */
enum cleanup_error {
    CLEANUP_OK = 0,
    CLEANUP_WRITE,   /* 452 4.3.1 Insufficient system storage */
    CLEANUP_SIZE,    /* 552 5.3.4 Message size exceeds fixed limit */
    CLEANUP_PROTO,   /* 451 4.3.0 Error: internal protocol error */
    CLEANUP_NORCPT,  /* 554 5.5.1 Error: no recipients specified */
    CLEANUP_CONTENT, /* header/body check REJECT: reply in reject_reply */
    CLEANUP_TABLE,   /* a check table failed: 451 4.3.0 (deferred) */
    CLEANUP_DEFER,   /* 451 4.3.0 Error: alias expansion error (table failure, limits) */
};

struct cleanup_state {
    queue_file *qf;
    strbuf queue_id;
    struct timeval arrival;
    strbuf sender;
    strbuf fullname;
    bool add_missing; /* local rewrite context or always_add_missing_headers */
    bool have_envelope;
    uint64_t qf_flags; /* QF_FLAG_* for the SIZE record */
    long rcpt_count;   /* recipients written (duplicates dropped) */
    dup_filter *dups;  /* duplicate_filter_limit recipients seen */
    bool dups_orcpt;   /* enable_original_recipient: ORCPT, NOTIFY and the
                        * original address take part in the comparison */
    enum cleanup_error error;
    /* receive_override_options, parsed once per process (RW_OVR_* of
     * cleanup_rewrite.h): other parts test e.g. RW_OVR_NO_HEADER_BODY_CHECKS. */
    unsigned override_flags;

    /* Whole-message actions (cleanup_act), applied at end. */
    bool act_hold, act_discard;
    strbuf act_redirect, act_filter; /* empty: none; the last one wins */
    strlist act_bcc;

    /* milters (cleanup_milter.c): modifications to apply at end, and
     * whether this message gets non_smtpd_milters (CLEANUP_FLAG_MILTER). */
    struct cleanup_milter *milter;
    bool run_milters;

    /* content */
    bool content_started;
    bool in_headers;
    struct header_collector hc;
    strbuf line;        /* a header-section line being assembled */
    bool line_trunc;    /* it passed header_size_limit */
    unsigned long seen; /* 1 << header_id of every header seen */
    uint64_t size;      /* content bytes + 1 per line */
    uint64_t size_limit;
    size_t header_limit;
    strbuf tmp;

    /* content checks (cleanup_checks.c) */
    bool checks_off; /* receive_override_options = no_header_body_checks */
    strbuf client_name, client_addr, helo, proto; /* for the log line */
    strbuf first_rcpt;                            /* "to=<...>" of the log line */
    strbuf reject_reply;                          /* "550 5.7.1 text" of a REJECT */
    bool bounce_rejects;                          /* CLEANUP_FLAG_BOUNCE: see cleanup_reject */
    uint64_t body_size;                           /* body bytes seen, for body_checks_size_limit */
    uint64_t body_limit;
    strbuf prepend, replace;
    /* MIME (cleanup_mime.h): the enclosing multiparts at every level, up to
     * mime_nesting_limit. Part headers (after a "--boundary" line) and the
     * headers of attached messages (message/rfc822, digest parts) go to
     * mime_header_checks (Content-*, Mime-Version) or nested_header_checks
     * (others). mime_next is what the header block being read opens at its
     * end (its Content-Type), mime_next_boundary that multipart's boundary. */
    mime_stack mime;
    enum mime_type mime_next;
    strbuf mime_next_boundary;
    bool in_part_headers;
    struct header_collector part_hc;
};

/* cleanup_message.c */
void cleanup_message_begin(struct cleanup_state *s);
/* One piece of content; line_end ends the line. */
void cleanup_message_piece(struct cleanup_state *s, const char *data, size_t len, bool line_end);
/* End of content: flush the header section if it never ended. */
void cleanup_message_end(struct cleanup_state *s);
void cleanup_message_release(struct cleanup_state *s);

/* cleanup.c: the one function that writes an envelope recipient: canonical
 * (recipient classes), masquerading, virtual alias expansion (unless
 * receive_override_options has no_address_mappings), then the duplicate
 * filter. `address` is as received (resolve_canonical is applied here),
 * `orig` the original recipient (NULL = address), `orcpt` the DSN ORCPT. */
void cleanup_out_recipient(struct cleanup_state *s, const char *address, const char *orig,
                           const char *orcpt, int notify);

/* cleanup_checks.c: a whole-message action (lib/global/cleanup_client.h), from a
 * client's request=action or a header/body check. Buffered and applied at
 * end: HOLD sets QF_FLAG_HOLD, DISCARD drops the file but answers success,
 * REDIRECT/FILTER become 'A' records "redirect="/"filter=" (last wins), BCC
 * one more recipient through cleanup_out_recipient (NOTIFY=NEVER). A bad
 * value is logged and ignored; the protocol code checks before calling. */
void cleanup_act(struct cleanup_state *s, enum cleanup_action kind, const char *value);

/* cleanup_checks.c: a content or policy REJECT with its full reply ("550 5.7.1
 * text"); the caller has logged it. SMTP clients get the reply at end
 * (s->error = CLEANUP_CONTENT). With CLEANUP_FLAG_BOUNCE (non-SMTP mail)
 * the message is queued to be returned to the sender with that text, as
 * Postfix's cleanup does; the first reject wins and later checks are off. */
void cleanup_reject(struct cleanup_state *s, const char *reply);

/* cleanup_checks.c */
enum cleanup_check_class { CHECK_HEADER, CHECK_MIME, CHECK_NESTED, CHECK_BODY, CHECK_CLASSES };
enum check_verdict {
    CHECK_KEEP,     /* write the text (after *prepend, if set) */
    CHECK_DROP,     /* IGNORE: do not write it */
    CHECK_REPLACED, /* write *replace instead */
};
enum check_act {
    ACT_UNKNOWN,
    ACT_REJECT,
    ACT_WARN,
    ACT_IGNORE,
    ACT_REPLACE,
    ACT_PREPEND,
    ACT_DUNNO,
    ACT_HOLD,
    ACT_DISCARD,
    ACT_REDIRECT,
    ACT_FILTER,
    ACT_BCC,
};
/* The action word of a table result (case-insensitive; OK is DUNNO); *arg
 * is the rest after blanks, *word_len the word's length. */
int cleanup_parse_action(const char *value, const char **arg, size_t *word_len);
/* Look `text` up in the class's tables and do what the result says; a
 * REJECT sets s->error = CLEANUP_CONTENT and s->reject_reply. */
enum check_verdict cleanup_check(struct cleanup_state *s, enum cleanup_check_class cls,
                                 const char *text, size_t len, strbuf *prepend, strbuf *replace);
/* receive_override_options has no_header_body_checks. */
bool cleanup_checks_disabled(void);

/* cleanup_milter.c: record one milter modification (from smtpd's
 * request=milter or a local milter session); 0 or -1 (error recorded). */
struct milter_edit;
int cleanup_milter_edit(struct cleanup_state *s, const struct milter_edit *e);
/* At end, content written: run non_smtpd_milters when this message gets
 * them, then apply every recorded modification (see the file's header). */
void cleanup_milter_run_local(struct cleanup_state *s);
void cleanup_milter_apply(struct cleanup_state *s);
void cleanup_milter_release(struct cleanup_state *s);

/* cleanup.c: note a queue-file write failure (first one is logged). */
void cleanup_write_failed(struct cleanup_state *s);

#endif
