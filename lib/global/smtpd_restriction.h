/* smtpd_restriction - Postfix's SMTP access restriction names, which of
 * them our smtpd implements, and which restriction lists it evaluates.
 *
 * The one home of "is this restriction implemented": smtpd_check.c
 * dispatches on the id found here, and `postfix check` and master
 * (config_fidelity.h) report what smtpd would not evaluate.
 *
 * Lists. smtpd evaluates smtpd_client_, _helo_, _sender_, _relay_ and
 * _recipient_restrictions (all at RCPT time, smtpd_delay_reject = yes),
 * smtpd_data_restrictions at DATA/BDAT and smtpd_end_of_data_restrictions
 * after the message. (smtpd_etrn_restrictions is an ordinary unimplemented
 * parameter: ETRN itself gets 502.) A DNS list's "=d.d.d.d" reply filter
 * is checked here too (rbl_filter): a malformed one is reported.
 *
 * Items. A list is split like every Postfix list (", \t\r\n", {braces}).
 * A restriction marked has_argument takes the next item as its argument
 * (check_client_access type:table, reject_rbl_client domain). An item
 * smtpd does not implement -- a Postfix restriction we don't have, a name
 * Postfix does not know either, a restriction class, a "type:table" used
 * directly -- makes smtpd answer 451 4.3.5 when evaluation reaches it
 * (never an accept of what Postfix might have rejected), and is reported
 * by smtpd_restriction_check(); so is a check_policy_service argument that
 * is not a valid service (lib/global/policy_client.h).
 */
#ifndef MTA_SMTPD_RESTRICTION_H
#define MTA_SMTPD_RESTRICTION_H
#include <stdbool.h>
#include <stddef.h>

#include "strlist.h"

enum smtpd_restriction_id {
    SMTPD_R_NOT_IMPLEMENTED, /* a Postfix restriction smtpd does not have */
    SMTPD_R_PERMIT,
    SMTPD_R_DUNNO,
    SMTPD_R_REJECT,
    SMTPD_R_DEFER,
    SMTPD_R_PERMIT_MYNETWORKS,
    SMTPD_R_PERMIT_INET_INTERFACES,
    SMTPD_R_PERMIT_SASL_AUTHENTICATED,
    SMTPD_R_REJECT_SENDER_LOGIN_MISMATCH,
    SMTPD_R_REJECT_AUTHENTICATED_SENDER_LOGIN_MISMATCH,
    SMTPD_R_REJECT_KNOWN_SENDER_LOGIN_MISMATCH,
    SMTPD_R_REJECT_UNAUTHENTICATED_SENDER_LOGIN_MISMATCH,
    SMTPD_R_PERMIT_AUTH_DESTINATION,
    SMTPD_R_REJECT_UNAUTH_DESTINATION,
    SMTPD_R_DEFER_UNAUTH_DESTINATION,
    SMTPD_R_REJECT_NON_FQDN_RECIPIENT,
    SMTPD_R_REJECT_NON_FQDN_SENDER,
    SMTPD_R_REJECT_NON_FQDN_HELO_HOSTNAME,
    SMTPD_R_REJECT_UNLISTED_RECIPIENT,
    SMTPD_R_CHECK_CLIENT_ACCESS,
    SMTPD_R_CHECK_HELO_ACCESS,
    SMTPD_R_CHECK_SENDER_ACCESS,
    SMTPD_R_CHECK_RECIPIENT_ACCESS,
    SMTPD_R_REJECT_INVALID_HELO_HOSTNAME,
    SMTPD_R_DEFER_IF_PERMIT,
    SMTPD_R_DEFER_IF_REJECT,
    SMTPD_R_REJECT_UNLISTED_SENDER,
    SMTPD_R_WARN_IF_REJECT,
    SMTPD_R_REJECT_UNAUTH_PIPELINING,
    SMTPD_R_CHECK_REVERSE_CLIENT_HOSTNAME_ACCESS,
    SMTPD_R_CHECK_POLICY_SERVICE, /* smtpd/smtpd_policy.c */
    /* DNS-based (smtpd/smtpd_dns_check.c); keep this range contiguous. */
    SMTPD_R_REJECT_RBL_CLIENT,
    SMTPD_R_PERMIT_DNSWL_CLIENT,
    SMTPD_R_REJECT_RHSBL_CLIENT,
    SMTPD_R_REJECT_RHSBL_REVERSE_CLIENT,
    SMTPD_R_REJECT_RHSBL_HELO,
    SMTPD_R_REJECT_RHSBL_SENDER,
    SMTPD_R_REJECT_UNKNOWN_HELO_HOSTNAME,
    SMTPD_R_REJECT_UNKNOWN_SENDER_DOMAIN,
    SMTPD_R_REJECT_UNKNOWN_RECIPIENT_DOMAIN,
    SMTPD_R_REJECT_UNKNOWN_CLIENT_HOSTNAME,
    SMTPD_R_REJECT_UNKNOWN_REVERSE_CLIENT_HOSTNAME,
    SMTPD_R_CHECK_SENDER_MX_ACCESS,
    SMTPD_R_CHECK_SENDER_NS_ACCESS,
    SMTPD_R_CHECK_SENDER_A_ACCESS,
    SMTPD_R_CHECK_RECIPIENT_MX_ACCESS,
    SMTPD_R_CHECK_RECIPIENT_NS_ACCESS,
    SMTPD_R_CHECK_RECIPIENT_A_ACCESS,
};

struct smtpd_restriction {
    const char *name;
    enum smtpd_restriction_id id;
    bool has_argument; /* the next list item is its argument */
};

/* The restriction called `name` (exact spelling), or NULL when Postfix has
 * no restriction of that name. */
const struct smtpd_restriction *smtpd_restriction_find(const char *name);

struct smtpd_restriction_list {
    const char *param;
    bool evaluated;          /* false: any content is reported (today every list is) */
    const char *consequence; /* what smtpd does about an item it can't evaluate */
};

/* The restriction lists above, or NULL for any other parameter. */
const struct smtpd_restriction_list *smtpd_restriction_list_find(const char *param);
const struct smtpd_restriction_list *smtpd_restriction_lists(size_t *count);

/* Report every item of the (expanded) list `value` of `list` that smtpd
 * cannot evaluate: report(ctx, item, why) with why a short phrase ("not
 * implemented in this version"). `classes` is the expanded
 * smtpd_restriction_classes (names defined there get a precise message).
 * Returns the number of reports; -1 with *error set when the value does not
 * split (unbalanced braces). */
int smtpd_restriction_check(const struct smtpd_restriction_list *list, const char *value,
                            const char *classes,
                            void (*report)(void *ctx, const char *item, const char *why), void *ctx,
                            const char **error);

#endif
