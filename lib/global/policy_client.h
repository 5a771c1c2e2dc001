/* policy_client - the client side of Postfix's SMTPD access policy
 * delegation protocol (SMTPD_POLICY_README), one connection per service.
 *
 * Service specs (check_policy_service's argument, braces already removed
 * by the list split): "inet:host:port", "unix:path" ("local:path" is the
 * same; a relative path is relative to the current directory, which in a
 * daemon is the queue directory: "unix:private/policy"), or the Postfix 3.0
 * per-service form "inet:host:port, name=value, { name = value with
 * spaces }, ..." with the names timeout, max_idle, max_ttl, retry_delay
 * (time, at least 1s), request_limit (>= 0), try_limit (>= 1),
 * default_action and policy_context (text, not empty): the
 * smtpd_policy_service_* parameters without their prefix. Anything else --
 * an unknown name, a bad value, a transport other than inet/unix/local, an
 * empty endpoint -- is an error naming the item.
 *
 * Requests: "name=value\n" lines and one empty line (policy_request_add
 * makes a value safe to send: a newline, CR or NUL in it would end the
 * attribute or the request early, so each becomes '?').
 * Replies: "name=value" lines (LF or CRLF) up to an empty line. The one
 * attribute that counts is action=; it must be there, its first
 * occurrence wins, other attributes are ignored. Every reply is bounded:
 * at most `line_limit` bytes per line and POLICY_REPLY_LINES_MAX lines;
 * NUL bytes, a line without '=' or with an empty name, an over-long line
 * or too many lines make the reply malformed (the connection is then
 * closed, since the rest of the stream cannot be trusted).
 *
 * Connections (policy_client_query): opened on first use and kept for later
 * requests -- of this and later SMTP sessions of the same process -- until
 * max_idle seconds pass without a request, max_ttl seconds after it was
 * opened, request_limit requests were made on it, or the server closed it
 * (input waiting before we send counts as closed, and is retried at once
 * on a fresh connection). Connect, write and read each finish within
 * `timeout`. A failed attempt closes the connection, logs Postfix's
 * "warning: problem talking to server ENDPOINT: reason" (and "connect to
 * ENDPOINT: reason" when the connect failed), sleeps retry_delay and tries
 * again, up to try_limit attempts in total; then the caller applies
 * default_action. Idle limits are checked when the next request comes (no
 * timer: smtpd's own max_idle ends an idle process sooner than Postfix's
 * 300s default for these connections).
 */
#ifndef MTA_POLICY_CLIENT_H
#define MTA_POLICY_CLIENT_H
#include <stdbool.h>
#include <stddef.h>

#include "strbuf.h"

#define POLICY_REPLY_LINES_MAX 64

struct policy_settings {
    char *transport; /* "inet" or "unix" ("local" becomes "unix") */
    char *endpoint;  /* "127.0.0.1:10023", "private/policy": what warnings name */
    long long timeout_s, max_idle_s, max_ttl_s, retry_delay_s;
    long long request_limit, try_limit;
    char *default_action, *policy_context;
    size_t line_limit; /* bytes per reply line */
};

/* Parse `spec` on top of `defaults` (whose strings are copied; transport
 * and endpoint there are ignored). 0, or -1 with the reason in err. */
int policy_settings_parse(const char *spec, const struct policy_settings *defaults,
                          struct policy_settings *out, strbuf *err);
void policy_settings_release(struct policy_settings *s);
/* Is spec valid whatever the defaults (postfix check)? 0, or -1 with err. */
int policy_spec_check(const char *spec, strbuf *err);

/* One reply being read line by line. */
struct policy_reply {
    strbuf action;
    bool have_action;
    size_t lines;
};
#define POLICY_REPLY_INIT                                                                          \
    {                                                                                              \
        .action = STRBUF_INIT                                                                      \
    }
enum policy_reply_status {
    POLICY_REPLY_MORE,  /* a line taken, the reply goes on */
    POLICY_REPLY_DONE,  /* the empty line: action is set */
    POLICY_REPLY_ERROR, /* malformed; err says why */
};
/* Feed one line (terminator removed, len authoritative, NULs possible). */
enum policy_reply_status policy_reply_line(struct policy_reply *r, const char *line, size_t len,
                                           size_t line_limit, strbuf *err);
void policy_reply_release(struct policy_reply *r);
/* A whole reply in buf[0..len) (for tests and the fuzz harness): 0 with the
 * action set when it ends with the empty line and nothing follows it, else
 * -1 with err set. */
int policy_reply_parse(const char *buf, size_t len, size_t line_limit, strbuf *action, strbuf *err);

/* Append "name=value\n" to a request, value made safe (see above). */
void policy_request_add(strbuf *req, const char *name, const char *value);

typedef struct policy_client policy_client;
/* Copies the settings; connects lazily. */
policy_client *policy_client_new(const struct policy_settings *s);
void policy_client_free(policy_client **pcp);
const struct policy_settings *policy_client_settings(const policy_client *pc);
/* Send `request` (attribute lines, without the final empty line) and read
 * the reply: 0 with the action in `action`, or -1 after try_limit failed
 * attempts (each logged). */
int policy_client_query(policy_client *pc, const strbuf *request, strbuf *action);

#endif
