/* smtpd_restriction - restriction names and lists; see smtpd_restriction.h. */
#include "smtpd_restriction.h"

#include <stdio.h>
#include <string.h>

#include "rbl_filter.h"
#include "strbuf.h"
#include "policy_client.h"

/* clang-format off */
#define IMPL(n, id) {n, SMTPD_R_##id, false}
#define IMPL_ARG(n, id) {n, SMTPD_R_##id, true}
#define TODO(n) {n, SMTPD_R_NOT_IMPLEMENTED, false}
#define TODO_ARG(n) {n, SMTPD_R_NOT_IMPLEMENTED, true}
/* clang-format on */

/* Postfix 3.7's restriction names (postconf(5), smtpd_*_restrictions),
 * including the old spellings it still accepts. */
static const struct smtpd_restriction restrictions[] = {
    /* Implemented (smtpd/smtpd_check.c). */
    IMPL("permit", PERMIT),
    IMPL("dunno", DUNNO),
    IMPL("reject", REJECT),
    IMPL("defer", DEFER),
    IMPL("permit_mynetworks", PERMIT_MYNETWORKS),
    IMPL("permit_inet_interfaces", PERMIT_INET_INTERFACES),
    IMPL("permit_sasl_authenticated", PERMIT_SASL_AUTHENTICATED),
    IMPL("reject_sender_login_mismatch", REJECT_SENDER_LOGIN_MISMATCH),
    IMPL("reject_authenticated_sender_login_mismatch", REJECT_AUTHENTICATED_SENDER_LOGIN_MISMATCH),
    IMPL("reject_known_sender_login_mismatch", REJECT_KNOWN_SENDER_LOGIN_MISMATCH),
    IMPL("reject_unauthenticated_sender_login_mismatch",
         REJECT_UNAUTHENTICATED_SENDER_LOGIN_MISMATCH),
    IMPL("permit_auth_destination", PERMIT_AUTH_DESTINATION),
    IMPL("reject_unauth_destination", REJECT_UNAUTH_DESTINATION),
    IMPL("defer_unauth_destination", DEFER_UNAUTH_DESTINATION),
    IMPL("reject_non_fqdn_recipient", REJECT_NON_FQDN_RECIPIENT),
    IMPL("reject_non_fqdn_sender", REJECT_NON_FQDN_SENDER),
    IMPL("reject_non_fqdn_helo_hostname", REJECT_NON_FQDN_HELO_HOSTNAME),
    IMPL("reject_non_fqdn_hostname", REJECT_NON_FQDN_HELO_HOSTNAME), /* old name */
    IMPL("reject_unlisted_recipient", REJECT_UNLISTED_RECIPIENT),
    IMPL("check_recipient_maps", REJECT_UNLISTED_RECIPIENT), /* old name */
    IMPL_ARG("check_client_access", CHECK_CLIENT_ACCESS),
    IMPL_ARG("check_helo_access", CHECK_HELO_ACCESS),
    IMPL_ARG("check_sender_access", CHECK_SENDER_ACCESS),
    IMPL_ARG("check_recipient_access", CHECK_RECIPIENT_ACCESS),

    /* Not implemented. Those that need DNS (the unknown_* checks, RBLs,
     * the _a_/_mx_/_ns_ access variants), address verification,
     * client certificates, restriction modifiers. */
    IMPL("defer_if_permit", DEFER_IF_PERMIT),
    IMPL("defer_if_reject", DEFER_IF_REJECT),
    IMPL("warn_if_reject", WARN_IF_REJECT),
    TODO_ARG("sleep"),
    IMPL_ARG("check_policy_service", CHECK_POLICY_SERVICE),
    TODO_ARG("check_ccert_access"),
    TODO_ARG("check_sasl_access"),
    TODO_ARG("check_client_a_access"),
    TODO_ARG("check_client_mx_access"),
    TODO_ARG("check_client_ns_access"),
    IMPL_ARG("check_reverse_client_hostname_access", CHECK_REVERSE_CLIENT_HOSTNAME_ACCESS),
    TODO_ARG("check_reverse_client_hostname_a_access"),
    TODO_ARG("check_reverse_client_hostname_mx_access"),
    TODO_ARG("check_reverse_client_hostname_ns_access"),
    TODO_ARG("check_helo_a_access"),
    TODO_ARG("check_helo_mx_access"),
    TODO_ARG("check_helo_ns_access"),
    IMPL_ARG("check_sender_a_access", CHECK_SENDER_A_ACCESS),
    IMPL_ARG("check_sender_mx_access", CHECK_SENDER_MX_ACCESS),
    IMPL_ARG("check_sender_ns_access", CHECK_SENDER_NS_ACCESS),
    IMPL_ARG("check_recipient_a_access", CHECK_RECIPIENT_A_ACCESS),
    IMPL_ARG("check_recipient_mx_access", CHECK_RECIPIENT_MX_ACCESS),
    IMPL_ARG("check_recipient_ns_access", CHECK_RECIPIENT_NS_ACCESS),
    IMPL_ARG("permit_dnswl_client", PERMIT_DNSWL_CLIENT),
    TODO_ARG("permit_rhswl_client"),
    IMPL_ARG("reject_rbl_client", REJECT_RBL_CLIENT),
    IMPL_ARG("reject_rhsbl_client", REJECT_RHSBL_CLIENT),
    IMPL_ARG("reject_rhsbl_reverse_client", REJECT_RHSBL_REVERSE_CLIENT),
    IMPL_ARG("reject_rhsbl_helo", REJECT_RHSBL_HELO),
    IMPL_ARG("reject_rhsbl_sender", REJECT_RHSBL_SENDER),
    TODO_ARG("reject_rhsbl_recipient"),
    TODO("reject_maps_rbl"),
    TODO("permit_tls_clientcerts"),
    TODO("permit_tls_all_clientcerts"),
    TODO("reject_plaintext_session"),
    IMPL("reject_unknown_client_hostname", REJECT_UNKNOWN_CLIENT_HOSTNAME),
    IMPL("reject_unknown_client", REJECT_UNKNOWN_CLIENT_HOSTNAME),
    IMPL("reject_unknown_reverse_client_hostname", REJECT_UNKNOWN_REVERSE_CLIENT_HOSTNAME),
    IMPL("reject_invalid_helo_hostname", REJECT_INVALID_HELO_HOSTNAME),
    IMPL("reject_invalid_hostname", REJECT_INVALID_HELO_HOSTNAME), /* old name */
    IMPL("reject_unknown_helo_hostname", REJECT_UNKNOWN_HELO_HOSTNAME),
    IMPL("reject_unknown_hostname", REJECT_UNKNOWN_HELO_HOSTNAME),
    IMPL("reject_unknown_sender_domain", REJECT_UNKNOWN_SENDER_DOMAIN),
    IMPL("reject_unknown_recipient_domain", REJECT_UNKNOWN_RECIPIENT_DOMAIN),
    IMPL("reject_unlisted_sender", REJECT_UNLISTED_SENDER),
    TODO("reject_unverified_sender"),
    TODO("reject_unverified_recipient"),
    TODO("reject_multi_recipient_bounce"),
    IMPL("reject_unauth_pipelining", REJECT_UNAUTH_PIPELINING),
    TODO("permit_mx_backup"),
    TODO("permit_naked_ip_address"),
};

static const struct smtpd_restriction_list lists[] = {
    {"smtpd_client_restrictions", true, "smtpd answers 451 4.3.5 when evaluation gets there"},
    {"smtpd_helo_restrictions", true, "smtpd answers 451 4.3.5 when evaluation gets there"},
    {"smtpd_sender_restrictions", true, "smtpd answers 451 4.3.5 when evaluation gets there"},
    {"smtpd_relay_restrictions", true, "smtpd answers 451 4.3.5 when evaluation gets there"},
    {"smtpd_recipient_restrictions", true, "smtpd answers 451 4.3.5 when evaluation gets there"},
    {"smtpd_data_restrictions", true, "smtpd answers 451 4.3.5 when evaluation gets there"},
    {"smtpd_end_of_data_restrictions", true, "smtpd answers 451 4.3.5 when evaluation gets there"},
};

const struct smtpd_restriction *smtpd_restriction_find(const char *name)
{
    for (size_t i = 0; i < sizeof(restrictions) / sizeof(restrictions[0]); i++)
        if (strcmp(restrictions[i].name, name) == 0)
            return &restrictions[i];
    return NULL;
}

const struct smtpd_restriction_list *smtpd_restriction_lists(size_t *count)
{
    *count = sizeof(lists) / sizeof(lists[0]);
    return lists;
}

const struct smtpd_restriction_list *smtpd_restriction_list_find(const char *param)
{
    for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++)
        if (strcmp(lists[i].param, param) == 0)
            return &lists[i];
    return NULL;
}

#define LIST_DELIMS ", \t\r\n"

int smtpd_restriction_check(const struct smtpd_restriction_list *list, const char *value,
                            const char *classes,
                            void (*report)(void *ctx, const char *item, const char *why), void *ctx,
                            const char **error)
{
    strlist items = STRLIST_INIT, class_names = STRLIST_INIT;
    const char *e = NULL;
    if (strlist_split(&items, value, LIST_DELIMS, error) < 0) {
        strlist_release(&items);
        return -1;
    }
    if (classes)
        (void)strlist_split(&class_names, classes, LIST_DELIMS, &e);
    int count = 0;
    strbuf bad_spec = STRBUF_INIT;
    for (size_t i = 0; i < items.n; i++) {
        const char *item = items.v[i];
        const struct smtpd_restriction *r = smtpd_restriction_find(item);
        const char *why = NULL;
        if (r && r->has_argument && i + 1 >= items.n)
            why = "its argument is missing";
        else if (!list->evaluated)
            why = "this list is not implemented in this version";
        else if (r && r->id == SMTPD_R_CHECK_POLICY_SERVICE &&
                 policy_spec_check(items.v[i + 1], &bad_spec) < 0)
            why = strbuf_str(&bad_spec);
        else if (r && r->id == SMTPD_R_NOT_IMPLEMENTED)
            why = "not implemented in this version";
        else if (!r && strlist_contains(&class_names, item))
            why = NULL; /* a class: smtpd evaluates its own list */
        else if (!r && strchr(item, ':'))
            why = "a lookup table used directly as a restriction is not implemented in this "
                  "version";
        else if (!r)
            why = "unknown restriction";
        strbuf filter_why = STRBUF_INIT;
        if (!why && r && r->id >= SMTPD_R_REJECT_RBL_CLIENT &&
            r->id <= SMTPD_R_REJECT_RHSBL_SENDER && strchr(items.v[i + 1], '=')) {
            /* A DNS list's "=d.d.d.d" (rbl_filter): smtpd would answer 451. */
            const char *filter = strchr(items.v[i + 1], '=') + 1, *fw = NULL;
            if (rbl_filter_check(filter, &fw) < 0) {
                strbuf_printf(&filter_why, "bad reply filter \"%s\": %s", filter, fw);
                why = strbuf_str(&filter_why);
            }
        }
        if (why) {
            report(ctx, item, why);
            count++;
        }
        strbuf_release(&filter_why);
        if (r && r->has_argument)
            i++;
    }
    strlist_release(&items);
    strlist_release(&class_names);
    strbuf_release(&bad_spec);
    return count;
}
