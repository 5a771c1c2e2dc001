/* pipe_attr - pipe(8)'s master.cf command attributes and argv= expansion.
 *
 * The attributes after "pipe" in master.cf, as Postfix 3.7's pipe(8):
 * flags=BDFORXhqu.> user=name[:group] (required) group is the part after
 * ':', directory=path, eol=string (C escapes \a \b \f \n \r \t \v \ddd \\),
 * null_sender=text (default MAILER-DAEMON), size=bytes, and argv=command
 * ... (required, last: everything after it is the command template).
 * Attribute names are case-insensitive as in Postfix. An unknown attribute
 * or flag, a bad size or eol, a missing user= or argv=, and a macro name
 * pipe(8) does not know are errors (-1, reason in err): the caller makes
 * them fatal, naming master.cf and the service.
 *
 * Expansion (pipe_expand_argv) never runs a shell and never re-expands a
 * value: each template element becomes one argv element, or, when it
 * references a recipient macro ($recipient $original_recipient $user
 * $extension $mailbox $domain), one element per recipient (an element
 * whose $user is empty is left out for that recipient, as in Postfix).
 * Macros: ${name}, $name, $(name), $$, and the conditional forms
 * ${name?text} / ${name:text} of lib/util/config_syntax. Every byte of an
 * address is the sender's: whatever it holds (spaces, quotes, $, ;,
 * backticks, a leading '-') stays inside its one element. The q flag
 * quotes the local part of $sender, $recipient and $original_recipient
 * (RFC 822, as Postfix's quote_822_local); u lowercases those local parts,
 * h their domains and all of $domain and $nexthop.
 */
#ifndef MTA_PIPE_ATTR_H
#define MTA_PIPE_ATTR_H
#include <stdbool.h>
#include <stddef.h>

#include "strbuf.h"
#include "strlist.h"

/* flags= letters. */
enum {
    PIPE_F_BLANK = 1 << 0,       /* B: blank line at the end */
    PIPE_F_DELIVERED = 1 << 1,   /* D: Delivered-To: + loop check */
    PIPE_F_FROM = 1 << 2,        /* F: From_ line */
    PIPE_F_ORIG_RCPT = 1 << 3,   /* O: X-Original-To: */
    PIPE_F_RETURN = 1 << 4,      /* R: Return-Path: */
    PIPE_F_FINAL = 1 << 5,       /* X: final delivery (DSN "delivered") */
    PIPE_F_FOLD_HOST = 1 << 6,   /* h */
    PIPE_F_QUOTE = 1 << 7,       /* q */
    PIPE_F_FOLD_USER = 1 << 8,   /* u */
    PIPE_F_DOT = 1 << 9,         /* . */
    PIPE_F_QUOTE_FROM = 1 << 10, /* > */
};

struct pipe_attr {
    unsigned flags;
    char *user;  /* user= name part */
    char *group; /* user=name:group, or NULL */
    char *directory;
    strbuf eol;
    char *null_sender;
    long long size_limit; /* 0: none */
    strlist argv;         /* the template, argv[0] the command */
};

/* Parse args (NULL-terminated). 0, or -1 with err. */
int pipe_attr_parse(char **args, struct pipe_attr *a, strbuf *err);
void pipe_attr_release(struct pipe_attr *a);

/* eol= value: C escapes to bytes. 0, or -1 with err (bad escape). */
int pipe_unescape(const char *in, strbuf *out, strbuf *err);

/* Per-message values; NULL means empty. */
struct pipe_vars {
    const char *sender; /* already the null_sender text when <> */
    const char *nexthop;
    const char *size;
    const char *queue_id;
    const char *client_address, *client_hostname, *client_helo, *client_protocol, *client_port;
    const char *sasl_method, *sasl_username, *sasl_sender;
    const char *delimiter; /* recipient_delimiter */
};

struct pipe_rcpt {
    const char *address;
    const char *orig; /* original recipient; NULL or "": the address */
};

/* Expand the template into out (appended), for these recipients. 0, or
 * -1 with err (an unknown macro or malformed text: mail system
 * configuration error). */
int pipe_expand_argv(const struct pipe_attr *a, const struct pipe_vars *v,
                     const struct pipe_rcpt *rcpts, size_t nrcpt, strlist *out, strbuf *err);

/* An address as the flags want it on the command line: q quotes the local
 * part, u/h fold local part/domain (appends to out). */
void pipe_morph_address(strbuf *out, const char *addr, unsigned flags, bool quote);

#endif
