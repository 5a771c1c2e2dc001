/* smtpd_policy - check_policy_service: smtpd's side of Postfix's policy
 * delegation (lib/global/policy_client speaks the protocol).
 *
 * One policy_client per distinct service spec, made on first use and kept
 * for the life of the process, so a connection serves every request of a
 * session and of the sessions after it (Postfix's policy_clnt_table). The
 * smtpd_policy_service_* parameters are the defaults; a braced spec
 * overrides them per service. A bad spec is logged and answered with
 * 451 4.3.5 where evaluation reaches it, like any restriction smtpd cannot
 * evaluate; `postfix check` reports it (smtpd_restriction_check).
 *
 * The request carries every attribute of Postfix 3.7's request (plus 3.8's
 * compatibility_level and mail_version), in Postfix's order; attributes we
 * cannot know are sent empty: ccert_* (smtpd asks no client certificate),
 * etrn_domain (no ETRN). sasl_sender is MAIL FROM's AUTH= xtext-decoded
 * (Postfix sends it as received; the same unless it has +XX escapes).
 * The action comes back as text for smtpd_check to evaluate exactly as an
 * access table value.
 */
#ifndef SMTPD_SMTPD_POLICY_H
#define SMTPD_SMTPD_POLICY_H
#include "smtpd.h"
#include "strbuf.h"

/* Ask the service `spec` about the current command. `stage` is where
 * smtpd_check is ("CONNECT", "HELO", "MAIL", "RCPT", "DATA", "BDAT",
 * "END-OF-MESSAGE"); rcpt the recipient being checked or NULL. Returns 0
 * with the server's action, 1 with the service's default action (server
 * unreachable, slow or malformed: the warnings are logged), -1 when spec
 * is not a valid service (logged; the caller answers 451 4.3.5). */
int smtpd_policy_query(struct smtpd_state *s, const char *spec, const char *stage, const char *rcpt,
                       strbuf *action);

/* A new transaction (MAIL): its "instance" attribute, Postfix's format. */
void smtpd_policy_new_instance(struct smtpd_state *s);

#endif
