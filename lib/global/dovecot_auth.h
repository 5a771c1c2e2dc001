/* dovecot_auth - client side of Dovecot's authentication protocol (1.x),
 * as an SMTP server uses it to check SASL credentials.
 *
 * Contract:
 * - dovecot_auth_parse_line parses one server line (no LF) into its command,
 *   request id and tab-separated fields, undoing Dovecot's \001 escaping.
 *   It never trusts the peer: bounded input (DOVECOT_AUTH_LINE_MAX), every
 *   number checked, base64 payloads validated. Unknown commands parse as
 *   DOVECOT_LINE_OTHER (the protocol says: ignore them).
 * - dovecot_auth_open connects to the auth-client socket, sends VERSION and
 *   CPID without waiting (newer servers speak only after the client's
 *   VERSION), reads the server's VERSION/MECH/SPID/CUID/COOKIE up to DONE.
 *   Major version must be 1; SPID before any MECH means the socket is not an
 *   auth-client listener (auth-master, auth-userdb) and is refused.
 * - One request at a time: dovecot_auth_start then dovecot_auth_continue
 *   while the result is DOVECOT_AUTH_CONT. Replies for other ids are
 *   skipped. Results:
 *     OK   out = user name (required; an OK with "nologin" or "proxy" is a
 *          failure: we cannot hand the client to a proxy)
 *     CONT out = the server's base64 challenge
 *     FAIL reason = text for the client ("authentication failure" when the
 *          server gave none), user = user= if the server named one
 *     TEMP reason = why (lost connection, timeout, code=temp_fail); after a
 *          lost connection dovecot_auth_alive() is false: reopen.
 *   Responses passed in must be base64 (validated here again).
 * - Every read has the timeout given at open; nothing blocks longer.
 */
#ifndef MTA_DOVECOT_AUTH_H
#define MTA_DOVECOT_AUTH_H
#include <stdbool.h>
#include <stddef.h>

#include "strbuf.h"
#include "strlist.h"

#define DOVECOT_AUTH_LINE_MAX 16384

/* MECH flags */
#define DOVECOT_MECH_ANONYMOUS 0x01
#define DOVECOT_MECH_PLAINTEXT 0x02
#define DOVECOT_MECH_DICTIONARY 0x04
#define DOVECOT_MECH_ACTIVE 0x08
#define DOVECOT_MECH_FORWARD_SECRECY 0x10
#define DOVECOT_MECH_MUTUAL_AUTH 0x20
#define DOVECOT_MECH_PRIVATE 0x40
#define DOVECOT_MECH_CHANNEL_BINDING 0x80

enum dovecot_line_cmd {
    DOVECOT_LINE_OTHER,
    DOVECOT_LINE_VERSION, /* id = major, minor in .minor */
    DOVECOT_LINE_MECH,    /* .name, .flags */
    DOVECOT_LINE_SPID,
    DOVECOT_LINE_CUID,
    DOVECOT_LINE_COOKIE,
    DOVECOT_LINE_DONE,
    DOVECOT_LINE_OK,   /* id, .user, .nologin */
    DOVECOT_LINE_CONT, /* id, .data (base64, validated) */
    DOVECOT_LINE_FAIL, /* id, .user, .reason, .temp */
};

typedef struct dovecot_line {
    enum dovecot_line_cmd cmd;
    unsigned long id; /* request id (OK/CONT/FAIL) or major version */
    unsigned long minor;
    unsigned flags;
    bool nologin; /* OK carried nologin or proxy */
    bool temp;    /* FAIL code=temp_fail */
    bool has_user;
    strbuf name;   /* MECH name */
    strbuf user;   /* user= */
    strbuf reason; /* reason= */
    strbuf data;   /* CONT payload */
} dovecot_line;

void dovecot_line_init(dovecot_line *l);
void dovecot_line_release(dovecot_line *l);
/* 0, or -1 with err set for a malformed line of a known command. */
int dovecot_auth_parse_line(dovecot_line *l, const char *line, size_t len, strbuf *err);

/* Dovecot's tab-escaping of a value (for AUTH parameters). */
void dovecot_auth_escape(strbuf *out, const char *s, size_t len);

typedef struct dovecot_auth dovecot_auth;

struct dovecot_mech {
    char *name;
    unsigned flags;
};

dovecot_auth *dovecot_auth_open(const char *path, int timeout_ms, strbuf *err);
void dovecot_auth_free(dovecot_auth **dap);
bool dovecot_auth_alive(const dovecot_auth *da);
size_t dovecot_auth_mech_count(const dovecot_auth *da);
const struct dovecot_mech *dovecot_auth_mech(const dovecot_auth *da, size_t i);

enum dovecot_auth_result {
    DOVECOT_AUTH_OK,
    DOVECOT_AUTH_CONT,
    DOVECOT_AUTH_FAIL,
    DOVECOT_AUTH_TEMP
};

struct dovecot_auth_request {
    const char *mech;
    const char *service;      /* "smtp" */
    const char *local_ip;     /* lip=, may be NULL */
    const char *remote_ip;    /* rip=, may be NULL */
    bool secured;             /* TLS is active */
    const char *initial_resp; /* base64 or NULL; "" = empty initial response */
};

enum dovecot_auth_result dovecot_auth_start(dovecot_auth *da, const struct dovecot_auth_request *r,
                                            strbuf *out, strbuf *user, strbuf *reason);
enum dovecot_auth_result dovecot_auth_continue(dovecot_auth *da, const char *resp, strbuf *out,
                                               strbuf *user, strbuf *reason);

#endif
