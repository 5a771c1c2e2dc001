/* Unit tests: smtpd_restriction (restriction names, lists, the check that
 * postfix check and master use). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "msg.h"
#include "smtpd_restriction.h"
#include "strbuf.h"

static void names(void **state)
{
    const struct smtpd_restriction *r = smtpd_restriction_find("permit_mynetworks");
    assert_non_null(r);
    assert_int_equal(r->id, SMTPD_R_PERMIT_MYNETWORKS);
    assert_false(r->has_argument);
    r = smtpd_restriction_find("check_sender_access");
    assert_non_null(r);
    assert_int_equal(r->id, SMTPD_R_CHECK_SENDER_ACCESS);
    assert_true(r->has_argument);
    r = smtpd_restriction_find("reject_rbl_client");
    assert_non_null(r);
    assert_int_equal(r->id, SMTPD_R_REJECT_RBL_CLIENT);
    assert_true(r->has_argument);
    r = smtpd_restriction_find("reject_unknown_sender_domain");
    assert_non_null(r);
    assert_int_equal(r->id, SMTPD_R_REJECT_UNKNOWN_SENDER_DOMAIN);
    assert_false(r->has_argument);
    r = smtpd_restriction_find("check_policy_service");
    assert_non_null(r);
    assert_int_equal(r->id, SMTPD_R_CHECK_POLICY_SERVICE);
    assert_true(r->has_argument);
    r = smtpd_restriction_find("check_sasl_access");
    assert_non_null(r);
    assert_int_equal(r->id, SMTPD_R_NOT_IMPLEMENTED);
    /* The old spellings Postfix still takes. */
    assert_int_equal(smtpd_restriction_find("reject_non_fqdn_hostname")->id,
                     SMTPD_R_REJECT_NON_FQDN_HELO_HOSTNAME);
    assert_null(smtpd_restriction_find("permit_mynetwork"));
    assert_null(smtpd_restriction_find("PERMIT"));
}

static void lists(void **state)
{
    size_t n;
    const struct smtpd_restriction_list *l = smtpd_restriction_lists(&n);
    assert_int_equal(n, 7);
    assert_true(smtpd_restriction_list_find("smtpd_relay_restrictions")->evaluated);
    assert_true(smtpd_restriction_list_find("smtpd_data_restrictions")->evaluated);
    assert_true(smtpd_restriction_list_find("smtpd_end_of_data_restrictions")->evaluated);
    assert_null(smtpd_restriction_list_find("smtpd_etrn_restrictions"));
    assert_null(smtpd_restriction_list_find("header_checks"));
    assert_ptr_equal(smtpd_restriction_list_find(l[0].param), &l[0]);
}

static strbuf reports;

static void collect(void *ctx, const char *item, const char *why)
{
    (void)ctx;
    strbuf_printf(&reports, "%s: %s\n", item, why);
}

static int check(const char *list, const char *value, const char *classes)
{
    const char *error = NULL;
    strbuf_reset(&reports);
    return smtpd_restriction_check(smtpd_restriction_list_find(list), value, classes, collect, NULL,
                                   &error);
}

static void check_reports_what_smtpd_cannot_evaluate(void **state)
{
    /* Debian's stock list, and arguments that look like restrictions. */
    assert_int_equal(check("smtpd_relay_restrictions",
                           "permit_mynetworks permit_sasl_authenticated defer_unauth_destination",
                           ""),
                     0);
    assert_int_equal(check("smtpd_recipient_restrictions",
                           "check_client_access { cidr:/etc/postfix/x.cidr }, "
                           "check_sender_access hash:/etc/postfix/permit, reject",
                           ""),
                     0);
    assert_int_equal(check("smtpd_recipient_restrictions",
                           "permit_mynetworks, reject_rbl_client zen.spamhaus.org, "
                           "check_sasl_access hash:/etc/postfix/sasl, reject_unverified_sender, "
                           "permit_mynetwork, hash:/etc/postfix/access, myclass, "
                           "check_recipient_access",
                           "myclass, other"),
                     5);
    assert_string_equal(
        strbuf_str(&reports),
        "check_sasl_access: not implemented in this version\n"
        "reject_unverified_sender: not implemented in this version\n"
        "permit_mynetwork: unknown restriction\n"
        "hash:/etc/postfix/access: a lookup table used directly as a restriction is not "
        "implemented in this version\n"
        "check_recipient_access: its argument is missing\n");
    /* The end-of-data list is checked like the others. */
    assert_int_equal(
        check("smtpd_end_of_data_restrictions", "reject_unverified_sender, permit", ""), 1);
    assert_string_equal(strbuf_str(&reports),
                        "reject_unverified_sender: not implemented in this version\n");
    assert_int_equal(check("smtpd_data_restrictions", "", ""), 0);
    /* DNS list reply filters are checked here, as smtpd would refuse them. */
    assert_int_equal(check("smtpd_client_restrictions",
                           "reject_rbl_client zen.example=127.0.0.[2..11], "
                           "permit_dnswl_client wl.example=127.0.[0..15].[2;3], "
                           "reject_rbl_client zen.example=127.0.0.2;127.0.0.3, "
                           "reject_rhsbl_sender dbl.example=127.0.1.[300], "
                           "reject_unauth_pipelining, check_reverse_client_hostname_access "
                           "hash:/x",
                           ""),
                     2);
    assert_string_equal(strbuf_str(&reports),
                        "reject_rbl_client: bad reply filter \"127.0.0.2;127.0.0.3\": \";\" is "
                        "allowed only inside [] (write 127.0.0.[2;3])\n"
                        "reject_rhsbl_sender: bad reply filter \"127.0.1.[300]\": expected a "
                        "number 0-255 inside [] (e.g. [2;3] or [2..11])\n");
    /* Policy services: a valid one is nothing to report, a bad one is. */
    assert_int_equal(check("smtpd_recipient_restrictions",
                           "check_policy_service unix:private/policy, check_policy_service "
                           "{ inet:127.0.0.1:10023, timeout=10s, default_action=DUNNO }",
                           ""),
                     0);
    assert_int_equal(check("smtpd_recipient_restrictions",
                           "check_policy_service { inet:127.0.0.1:1, colour=blue }, "
                           "check_policy_service private/policy",
                           ""),
                     2);
    assert_string_equal(
        strbuf_str(&reports),
        "check_policy_service: policy service setting \"colour=blue\": unknown name \"colour\"\n"
        "check_policy_service: policy service \"private/policy\": need transport:endpoint\n");
    const char *error = NULL;
    assert_int_equal(
        smtpd_restriction_check(smtpd_restriction_list_find("smtpd_client_restrictions"),
                                "check_client_access {hash:/x", "", collect, NULL, &error),
        -1);
    assert_non_null(error);
}

int main(void)
{
    msg_init("test_smtpd_restriction", true);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(names),
        cmocka_unit_test(lists),
        cmocka_unit_test(check_reports_what_smtpd_cannot_evaluate),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    strbuf_release(&reports);
    return rc;
}
