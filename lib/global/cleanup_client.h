/* cleanup_client - hand one message to the cleanup service.
 *
 * Every program that injects mail (smtpd, pickup, bounce, local forwarding)
 * uses this client; cleanup is the only writer of new queue files.
 *
 * PROTOCOL. A UNIX stream connection to $queue_directory/public/cleanup
 * (master.cf "cleanup unix n - y - 0 cleanup": private = n). Every message
 * on it is an attribute list (attr.h). "request" names the kind; replies
 * come only for "open" and "end", so the client streams envelope, recipients
 * and content without round trips.
 *
 *   C: request=open flags=<int>                CLEANUP_FLAG_* bits
 *   S: status=0 queue_id=<ID>                 the file exists in incoming/
 *   S: status=<code> reason=<full SMTP reply>  e.g. "452 4.3.1 Insufficient
 *                                             system storage"; connection ends
 *   C: request=envelope time=<sec> time_usec=<usec> sender=<addr>
 *      [fullname=] [client_name=] [client_addr=] [client_helo=]
 *      [protocol=] [rewrite_context=local|remote] [sasl_username=]
 *      [envid=] [ret=FULL|HDRS] [body=7BIT|8BITMIME] [smtputf8=1] [uid=<int>]
 *                                             exactly once, before recipients
 *   C: request=rcpt address= [orig_rcpt=] [orcpt=] [notify=<QF_NOTIFY_* bits>]
 *                                             one per recipient, >= 1 in total
 *   C: request=content (N=<line> | L=<piece>)...
 *                                             content in order: N ends a line,
 *                                             L is a piece of a line that goes
 *                                             on in the next N/L. Lines carry
 *                                             no terminator. One message holds
 *                                             at most CLEANUP_CHUNK bytes.
 *   C: request=action kind=hold|discard|redirect|filter|bcc [value=<text>]
 *                                             a whole-message action (access
 *                                             table, header/body check), any
 *                                             time after the envelope and
 *                                             before end; cleanup applies it
 *                                             at end: hold = QF_FLAG_HOLD,
 *                                             discard = no file but status 0,
 *                                             redirect/filter = 'A' record
 *                                             "redirect="/"filter=" (the last
 *                                             one wins), bcc = one more
 *                                             recipient (NOTIFY=NEVER).
 *                                             redirect and bcc need a non-empty
 *                                             address, filter "transport:nexthop"
 *                                             with transport of [A-Za-z0-9._-];
 *                                             anything else is a protocol error
 *   C: request=milter kind=<edit> [index=<int>] [name=] [value=] [leadspc=1]
 *                                             a milter modification (milter.h
 *                                             milter_edit; kind is addheader,
 *                                             insheader, chgheader, addrcpt,
 *                                             addrcpt_par, delrcpt, chgfrom,
 *                                             replbody, quarantine), after the
 *                                             content and before end, in the
 *                                             order the milters sent them.
 *                                             replbody: value = the next piece
 *                                             of the new body (CRLF line ends).
 *                                             cleanup applies them at end
 *                                             (cleanup/cleanup_milter.c).
 *   C: request=end
 *   S: status=0 queue_id=<ID> reason=<"250 2.0.0 Ok: queued as ID">
 *   S: status=<4xx|5xx> reason=<full SMTP reply>
 *   C: request=abort (or simply closing the connection): cleanup removes the
 *      file; nothing is queued.
 *
 * status=0 after "end" means: queue file complete, fsynced, directory entry
 * fsynced (queue_file_commit). Any other outcome leaves no queue file.
 * Errors while streaming are sticky on both sides: cleanup keeps reading to
 * "end" and then reports the first problem; the client remembers a broken
 * connection and cleanup_client_finish() turns it into a 451.
 *
 * Memory: neither side ever holds more than CLEANUP_CHUNK bytes of content
 * (plus one logical header of at most header_size_limit in cleanup).
 */
#ifndef MTA_CLEANUP_CLIENT_H
#define MTA_CLEANUP_CLIENT_H
#include <stdbool.h>
#include <stddef.h>
#include <sys/time.h>

#include "attr.h"
#include "milter.h"
#include "strbuf.h"

#define CLEANUP_SERVICE "public/cleanup"
/* Most content bytes per "content" message. */
#define CLEANUP_CHUNK 65536

/* open flags */
#define CLEANUP_FLAG_NONE 0x00
/* sendmail -bv: the queue file gets QF_FLAG_VERIFY (verify, report, deliver
 * nothing). Only pickup sets it, from a maildrop file that carries it. */
#define CLEANUP_FLAG_VERIFY 0x01
/* receive_override_options of the receiving program (input_transp.h). */
#define CLEANUP_FLAG_NO_MAPS 0x02    /* no_address_mappings */
#define CLEANUP_FLAG_NO_HBC 0x04     /* no_header_body_checks */
#define CLEANUP_FLAG_NO_MILTERS 0x08 /* no_milters */
/* The client does not run milters itself: cleanup runs non_smtpd_milters
 * (pickup sets it, as Postfix's pickup sets CLEANUP_FLAG_MILTER). */
#define CLEANUP_FLAG_MILTER 0x10
/* Non-SMTP mail (pickup: sendmail, postdrop), as Postfix's
 * CLEANUP_FLAG_BOUNCE: nobody is there to read a reject reply, so a content
 * or policy REJECT does not fail the request. cleanup queues the whole
 * message with an 'A' record reject=<d.s.n text>, answers status 0, and
 * qmgr returns it to the sender: every recipient bounced with that text.
 * Failures that are not rejections (I/O, size, protocol) still fail. */
#define CLEANUP_FLAG_BOUNCE 0x20
#define CLEANUP_FLAG_MASK 0x3f /* unknown bits are refused */

/* Limits the server applies to every message it reads. */
extern const attr_limits cleanup_attr_limits;

/* The envelope. NULL strings are "not present". */
struct cleanup_envelope {
    struct timeval arrival; /* tv_sec 0: the queue file's creation time */
    const char *sender;     /* internal form; "" for <> */
    const char *fullname;
    const char *client_name;
    const char *client_addr;
    const char *client_helo;
    const char *protocol;        /* "ESMTP", "SMTP", "UTF8SMTP", ... */
    const char *rewrite_context; /* "local" or "remote" (local_header_rewrite_clients) */
    const char *sasl_username;
    const char *sasl_method; /* the AUTH mechanism */
    const char *client_port; /* decimal */
    const char *envid;       /* DSN ENVID */
    const char *ret;         /* "FULL", "HDRS" */
    const char *body;        /* "7BIT", "8BITMIME" */
    bool smtputf8;
    long uid; /* submitting uid for local submissions; -1 = none */
};

typedef struct cleanup_client cleanup_client;

/* Connect and open a queue file. Returns the client and the queue ID in
 * queue_id, or NULL with a full SMTP reply in reply ("451 4.3.0 Error:
 * queue file write error" when cleanup cannot be reached, or cleanup's own
 * reason). timeout_ms bounds each I/O operation (ipc_timeout). */
cleanup_client *cleanup_client_open(const char *queue_dir, int flags, int timeout_ms,
                                    strbuf *queue_id, strbuf *reply);

/* The same in two halves, so that the caller can go on while cleanup
 * creates the file (smtpd answers RCPT at once). begin connects and sends
 * the open request: NULL with a reply as above when that fails. Streaming
 * (envelope, recipients, content) may follow at once: cleanup reads it after
 * its answer. opened waits for that answer (once; later calls give the
 * same verdict, a refusal as the generic 451): 0 with the ID in
 * cleanup_client_queue_id, or the 4xx/5xx code with the reply, after which
 * the client only aborts. finish waits for it itself. */
cleanup_client *cleanup_client_begin(const char *queue_dir, int flags, int timeout_ms,
                                     strbuf *reply);
int cleanup_client_opened(cleanup_client *cc, strbuf *reply);
bool cleanup_client_open_pending(const cleanup_client *cc);
const char *cleanup_client_queue_id(const cleanup_client *cc); /* "" before opened */

/* Streaming. Return 0, or -1 once the connection broke (sticky; the caller
 * may keep calling and learn the outcome from finish). */
int cleanup_client_envelope(cleanup_client *cc, const struct cleanup_envelope *env);
int cleanup_client_rcpt(cleanup_client *cc, const char *address, const char *orig_rcpt,
                        const char *orcpt, int notify);
/* `len` bytes of the current content line; line_end ends the line. */
int cleanup_client_content(cleanup_client *cc, const void *data, size_t len, bool line_end);
/* A whole line given as a C string. */
int cleanup_client_line(cleanup_client *cc, const char *line);

/* Whole-message actions (see the protocol above). */
enum cleanup_action {
    CLEANUP_ACT_HOLD,     /* value: unused; the message goes to hold/ */
    CLEANUP_ACT_DISCARD,  /* the message is accepted (250) and dropped */
    CLEANUP_ACT_REDIRECT, /* value: address; delivery goes to it instead of every recipient */
    CLEANUP_ACT_FILTER,   /* value: transport:nexthop; every recipient is routed there */
    CLEANUP_ACT_BCC,      /* value: address; one more recipient (NOTIFY=NEVER) */
};
/* The protocol word of an action ("hold", ...), and back: -1 = unknown. */
const char *cleanup_action_name(enum cleanup_action kind);
int cleanup_action_parse(const char *name);
/* True when `value` is acceptable for `kind` (the rules above). Shared by
 * the server (a bad value is a protocol error) and callers that want to
 * warn before sending. */
bool cleanup_action_value_ok(enum cleanup_action kind, const char *value);
/* Any time after the envelope and before finish. 0, or -1 (connection
 * broken, sticky). The value is not checked here: cleanup refuses a bad
 * one at end (451 4.3.0 internal protocol error). */
int cleanup_client_action(cleanup_client *cc, enum cleanup_action kind, const char *value);

/* A milter modification (request=milter above). 0, or -1 (connection
 * broken, sticky; or a name/value longer than CLEANUP_CHUNK). */
int cleanup_client_milter_edit(cleanup_client *cc, const struct milter_edit *e);
/* The protocol word of an edit kind, and back (-1 = unknown). */
const char *cleanup_milter_edit_name(enum milter_edit_kind kind);
int cleanup_milter_edit_parse(const char *name);

/* End the message and wait for the verdict. Returns the SMTP code (250 when
 * the message is safely queued, else 4xx/5xx) with the full reply text in
 * reply, e.g. "250 2.0.0 Ok: queued as 4F5A21C0A2D". Frees *ccp. */
int cleanup_client_finish(cleanup_client **ccp, strbuf *reply);

/* Give up: the file is removed. Frees *ccp. */
void cleanup_client_abort(cleanup_client **ccp);

#endif
