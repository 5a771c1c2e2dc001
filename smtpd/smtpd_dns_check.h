/* smtpd_dns_check - the DNS-based smtpd restrictions.
 *
 * reject_rbl_client domain[=d.d.d.d], reject_rhsbl_{client,reverse_client,
 * helo,sender} domain[=d.d.d.d], permit_dnswl_client domain[=d.d.d.d],
 * reject_unknown_{helo_hostname,sender_domain,recipient_domain,
 * client_hostname,reverse_client_hostname},
 * check_{sender,recipient}_{mx,ns,a}_access type:table.
 *
 * smtpd_check.c's run_list dispatches these ids here. An access-table
 * action is evaluated by smtpd_check.c through `access` (its return is a
 * smtpd_dns_verdict; a reject has already set the reply). RBL replies come
 * from rbl_reply_maps (key: the domain as written, then the bare domain)
 * or default_rbl_reply, with $rbl_code (maps_rbl_reject_code), $rbl_domain,
 * $rbl_reason (the TXT record), $rbl_what, $rbl_class, $rbl_txt,
 * $client_address, $client_name, $reverse_client_name, $helo_name,
 * $sender, $recipient. A DNS temporary failure of a list lookup counts as
 * "not listed" (the client is not punished for our resolver).
 * reject_unknown_{sender,recipient}_domain answer unknown_address_reject_code
 * for a domain without MX or address, 550 5.7.27 (sender) / 556 5.1.10
 * (recipient) for a null MX, and on a temporary DNS failure "450 4.4.3",
 * at once (defer) or as a defer_if_permit (unknown_address_tempfail_action;
 * reject_unknown_helo_hostname: unknown_helo_hostname_tempfail_action). */
#ifndef MTA_SMTPD_DNS_CHECK_H
#define MTA_SMTPD_DNS_CHECK_H

#include "smtpd.h"
#include "smtpd_restriction.h"
#include "strbuf.h"

/* SMTPD_DNS_DEFER_IF_PERMIT: a temporary failure under *_tempfail_action =
 * defer_if_permit; the reply (in reply) is used only if nothing else
 * rejects. */
enum smtpd_dns_verdict {
    SMTPD_DNS_DUNNO,
    SMTPD_DNS_PERMIT,
    SMTPD_DNS_REJECT,
    SMTPD_DNS_DEFER_IF_PERMIT
};

/* Check the parameters read per request (unknown_address_tempfail_action,
 * unknown_helo_hostname_tempfail_action: defer or defer_if_permit); a bad
 * value is fatal, naming the parameter. */
void smtpd_dns_init(void);

typedef enum smtpd_dns_verdict (*smtpd_dns_access_fn)(void *ctx, const char *table,
                                                      const char *key);

/* True for the ids this module evaluates. */
bool smtpd_dns_handles(enum smtpd_restriction_id id);

/* On SMTPD_DNS_REJECT *code is the reply code and reply the whole reply,
 * unless the reject came from `access` (then *code is 0). */
enum smtpd_dns_verdict smtpd_dns_check(struct smtpd_state *s, enum smtpd_restriction_id id,
                                       const char *arg, const char *rcpt, strbuf *reply, int *code,
                                       smtpd_dns_access_fn access, void *actx);

/* The client address's PTR name, not forward-confirmed (Postfix's
 * reverse_client_name): 1 found (in name), 0 none, -1 temporary failure. */
int smtpd_dns_reverse_name(const char *addr, strbuf *name);

/* Expand a Postfix reply template: $name, ${name}, ${name?text},
 * ${name:text}, $$. lookup returns NULL for an unset name. The result has
 * every control or 8-bit byte replaced by '?' and is cut at 500 bytes. */
void smtpd_dns_expand(const char *tmpl, const char *(*lookup)(void *ctx, const char *name),
                      void *ctx, strbuf *out);

#endif
