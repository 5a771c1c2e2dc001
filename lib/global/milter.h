/* milter - the client side of the Sendmail milter protocol (version 6, and
 * the older 2, 3, 4 as Postfix speaks them), for smtpd_milters and
 * non_smtpd_milters.
 *
 * CONTRACT
 *  - A milter_set is the list of one parameter value (smtpd_milters,
 *    non_smtpd_milters or a -o override): "inet:host:port", "unix:/path",
 *    "local:/path", each optionally as "{ spec, name=value, ... }" with the
 *    per-milter settings connect_timeout, command_timeout, content_timeout,
 *    default_action, protocol (Postfix 3.0). A bad value fails loudly
 *    (milter_set_create returns NULL with a reason naming the parameter).
 *  - Events go to every milter in list order, each only when it asked for
 *    the step (SMFIC_OPTNEG: the SMFIP_NO* bits are honoured, SMFIP_NR_*
 *    events are sent without waiting for a reply). The first milter whose
 *    reply ends the step decides (reject, tempfail, discard); ACCEPT makes
 *    that milter silent for the rest of the message (connect stage: of the
 *    session).
 *  - A milter that cannot be reached, times out or breaks the protocol is
 *    logged once ("warning: connect to Milter service inet:...: Connection
 *    refused", "warning: milter inet:...: can't read SMFIC_... reply packet
 *    header: ...") and from then on answers with its default_action
 *    (milter_default_action): accept = ignored, tempfail = "451 4.7.1
 *    Service unavailable - try again later", reject = "550 5.7.1 Command
 *    rejected", quarantine = the message is held.
 *  - Modifications (end of message only) are not applied here: each one is
 *    handed to the caller's milter_edit_fn in the order the milter sent
 *    them. cleanup/cleanup_milter.c is the one place that applies them (to
 *    the queue file), whether they came from smtpd over the cleanup
 *    protocol or from a non_smtpd_milters session inside cleanup.
 *  - Every packet from a milter is hostile input: milter_packet_parse()
 *    checks lengths, NUL termination, header names and reply codes before
 *    anything is used; packets are bounded by MILTER_MAX_PACKET.
 *  - Macros: the milter_*_macros parameters (or the lists the milter asks
 *    for in its SMFIC_OPTNEG reply, which replace them for that milter)
 *    name the macros sent before each event; values come from the caller's
 *    milter_macro_fn, and undefined ones are left out.
 */
#ifndef MTA_MILTER_H
#define MTA_MILTER_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "strbuf.h"
#include "strlist.h"

/* Commands, MTA to milter (libmilter's mfdef.h). */
#define SMFIC_ABORT 'A'
#define SMFIC_BODY 'B'
#define SMFIC_CONNECT 'C'
#define SMFIC_MACRO 'D'
#define SMFIC_BODYEOB 'E'
#define SMFIC_HELO 'H'
#define SMFIC_QUIT_NC 'K'
#define SMFIC_HEADER 'L'
#define SMFIC_MAIL 'M'
#define SMFIC_EOH 'N'
#define SMFIC_OPTNEG 'O'
#define SMFIC_QUIT 'Q'
#define SMFIC_RCPT 'R'
#define SMFIC_DATA 'T'
#define SMFIC_UNKNOWN 'U'

/* Replies and modification requests, milter to MTA. */
#define SMFIR_ADDRCPT '+'
#define SMFIR_DELRCPT '-'
#define SMFIR_ADDRCPT_PAR '2'
#define SMFIR_SHUTDOWN '4'
#define SMFIR_ACCEPT 'a'
#define SMFIR_REPLBODY 'b'
#define SMFIR_CONTINUE 'c'
#define SMFIR_DISCARD 'd'
#define SMFIR_CHGFROM 'e'
#define SMFIR_CONN_FAIL 'f'
#define SMFIR_ADDHEADER 'h'
#define SMFIR_INSHEADER 'i'
#define SMFIR_SETSYMLIST 'l'
#define SMFIR_CHGHEADER 'm'
#define SMFIR_PROGRESS 'p'
#define SMFIR_QUARANTINE 'q'
#define SMFIR_REJECT 'r'
#define SMFIR_SKIP 's'
#define SMFIR_TEMPFAIL 't'
#define SMFIR_REPLYCODE 'y'

/* Actions (what the milter may modify). */
#define SMFIF_ADDHDRS 0x01
#define SMFIF_CHGBODY 0x02
#define SMFIF_ADDRCPT 0x04
#define SMFIF_DELRCPT 0x08
#define SMFIF_CHGHDRS 0x10
#define SMFIF_QUARANTINE 0x20
#define SMFIF_CHGFROM 0x40
#define SMFIF_ADDRCPT_PAR 0x80
#define SMFIF_SETSYMLIST 0x100

/* Protocol steps. */
#define SMFIP_NOCONNECT 0x01
#define SMFIP_NOHELO 0x02
#define SMFIP_NOMAIL 0x04
#define SMFIP_NORCPT 0x08
#define SMFIP_NOBODY 0x10
#define SMFIP_NOHDRS 0x20
#define SMFIP_NOEOH 0x40
#define SMFIP_NR_HDR 0x80
#define SMFIP_NOUNKNOWN 0x100
#define SMFIP_NODATA 0x200
#define SMFIP_SKIP 0x400
#define SMFIP_RCPT_REJ 0x800
#define SMFIP_NR_CONN 0x1000
#define SMFIP_NR_HELO 0x2000
#define SMFIP_NR_MAIL 0x4000
#define SMFIP_NR_RCPT 0x8000
#define SMFIP_NR_DATA 0x10000
#define SMFIP_NR_UNKN 0x20000
#define SMFIP_NR_EOH 0x40000
#define SMFIP_NR_BODY 0x80000
#define SMFIP_HDR_LEADSPC 0x100000

/* Macro stages of the SMFIC_OPTNEG reply (SMFIM_*). */
enum milter_stage {
    MILTER_M_CONNECT,
    MILTER_M_HELO,
    MILTER_M_MAIL,
    MILTER_M_RCPT,
    MILTER_M_DATA,
    MILTER_M_EOM,
    MILTER_M_EOH,
    MILTER_M_UNKNOWN, /* ours: milter_unknown_command_macros (not negotiable) */
    MILTER_M_COUNT
};

/* Largest packet accepted from a milter, and the largest body chunk sent. */
#define MILTER_MAX_PACKET (1024 * 1024 * 2)
#define MILTER_CHUNK 65535

/* ---- Packet parsing (hostile input) ------------------------------------ */

/* One decoded packet from a milter. Strings are NUL-free C strings. */
struct milter_packet {
    int cmd;
    uint32_t index;            /* SMFIR_INSHEADER, SMFIR_CHGHEADER */
    strbuf name;               /* header name; address (rcpt/from) */
    strbuf value;              /* header value; ESMTP args; reason; reply text */
    const unsigned char *body; /* SMFIR_REPLBODY: points into the input */
    size_t body_len;
    uint32_t version, actions, proto; /* SMFIC_OPTNEG */
    strbuf macros[MILTER_M_COUNT];    /* SMFIC_OPTNEG: requested macro lists */
    bool have_macros[MILTER_M_COUNT];
};
void milter_packet_release(struct milter_packet *p);

/* Decode the payload (after the command byte) of a packet with command
 * `cmd`. 0, or -1 with a reason in err (unknown command, missing NUL,
 * bad header name, bad reply code, ...). SMFIR_REPLYCODE text is checked
 * to be a 4xx/5xx SMTP reply whose lines all carry the same code and whose
 * optional enhanced status code has the same class; the result is the
 * reply with lines separated by "\n". */
int milter_packet_parse(int cmd, const unsigned char *data, size_t len, struct milter_packet *p,
                        strbuf *err);

/* ---- Sessions --------------------------------------------------------- */

enum milter_default {
    MILTER_DEF_ACCEPT,
    MILTER_DEF_TEMPFAIL,
    MILTER_DEF_REJECT,
    MILTER_DEF_QUARANTINE
};
/* "accept" ... "quarantine" (case-insensitive); -1 otherwise. */
int milter_default_parse(const char *word);

/* The outcome of an event for the caller. */
enum milter_verdict {
    MILTER_CONTINUE, /* go on */
    MILTER_REJECT,   /* reply holds a full 4xx/5xx SMTP reply */
    MILTER_DISCARD,  /* accept the message, deliver nothing */
    MILTER_SHUTDOWN, /* 421: end the session */
};

/* A modification request, in the milter's own terms. */
enum milter_edit_kind {
    MILTER_EDIT_ADDHEADER,   /* name, value */
    MILTER_EDIT_INSHEADER,   /* index (0 = top), name, value */
    MILTER_EDIT_CHGHEADER,   /* index (1 = first of that name), name, value ("" = delete) */
    MILTER_EDIT_ADDRCPT,     /* name = address */
    MILTER_EDIT_ADDRCPT_PAR, /* name = address, value = ESMTP args */
    MILTER_EDIT_DELRCPT,     /* name = address */
    MILTER_EDIT_CHGFROM,     /* name = address, value = ESMTP args */
    MILTER_EDIT_REPLBODY,    /* body bytes (CRLF line ends), in order; may come in pieces */
    MILTER_EDIT_QUARANTINE,  /* value = reason: hold the message */
};
struct milter_edit {
    enum milter_edit_kind kind;
    long index;
    const char *name, *value;
    const unsigned char *body;
    size_t body_len;
    bool leadspc; /* header value keeps its leading space (SMFIP_HDR_LEADSPC) */
};
/* Return 0, or -1 to stop (the message then fails with a 451). */
typedef int (*milter_edit_fn)(void *ctx, const struct milter_edit *edit);

/* Macro values: NULL = undefined (not sent). */
typedef const char *(*milter_macro_fn)(void *ctx, const char *name);

typedef struct milter_set milter_set;

/* Parse a list parameter (param names it in messages). Connections are made
 * by milter_set_connect_event. Timeouts, default action, protocol version
 * and macro lists come from main.cf unless a milter overrides them. */
milter_set *milter_set_create(const char *param, const char *value, strbuf *err);
void milter_set_free(milter_set **msp);
void milter_set_macros(milter_set *ms, milter_macro_fn fn, void *ctx);
bool milter_set_empty(const milter_set *ms);

/* Events. `reply` receives the SMTP reply for MILTER_REJECT/SHUTDOWN.
 * family: 'L' (local), '4', '6' or 'U' (unknown); port in host order. */
enum milter_verdict milter_connect_event(milter_set *ms, const char *name, const char *addr,
                                         unsigned port, int family, strbuf *reply);
enum milter_verdict milter_helo_event(milter_set *ms, const char *helo, strbuf *reply);
/* argv[0] is "<address>", the rest ESMTP parameters. */
enum milter_verdict milter_mail_event(milter_set *ms, const strlist *argv, strbuf *reply);
enum milter_verdict milter_rcpt_event(milter_set *ms, const strlist *argv, strbuf *reply);
enum milter_verdict milter_data_event(milter_set *ms, strbuf *reply);
enum milter_verdict milter_unknown_event(milter_set *ms, const char *command, strbuf *reply);
/* Content, one line at a time without its terminator (line_end false: a
 * piece that continues). The header section is split into headers (one
 * SMFIC_HEADER per logical header, continuation lines joined with "\n"),
 * the empty line gives SMFIC_EOH, body lines are sent with CRLF in chunks
 * of at most MILTER_CHUNK bytes. The verdict of a step that ends the
 * message is kept and returned by milter_eom_event. */
void milter_content(milter_set *ms, const char *data, size_t len, bool line_end);
/* End of message: modifications go to `edit` before the verdict. */
enum milter_verdict milter_eom_event(milter_set *ms, milter_edit_fn edit, void *ctx, strbuf *reply);
/* The message ends (RSET, a reject, the end of the transaction): tell the
 * milters (SMFIC_ABORT) and forget the per-message state. */
void milter_abort(milter_set *ms);
/* True when a milter failed with default_action = quarantine during this
 * message (the caller holds the message). */
bool milter_hold_requested(const milter_set *ms);
/* End of session: SMFIC_QUIT and close. */
void milter_disconnect(milter_set *ms);

#endif
