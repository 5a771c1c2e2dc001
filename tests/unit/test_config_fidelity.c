/* Unit tests: config_fidelity (warnings about settings we do not honour,
 * errors about restrictions smtpd cannot evaluate). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "config_fidelity.h"
#include "master_cf.h"
#include "msg.h"
#include "strbuf.h"

static char log_path[] = "/tmp/test_config_fidelity.XXXXXX";
static master_cf *cf;

static void setup_config(const char *main_text, const char *master_text)
{
    strbuf err = STRBUF_INIT;
    if (config_load_text("/etc/postfix/main.cf", main_text, strlen(main_text), &err) < 0)
        fail_msg("main.cf: %s", strbuf_str(&err));
    master_cf_free(&cf);
    if (master_cf_parse_text("/etc/postfix/master.cf", master_text, strlen(master_text), &cf,
                             &err) < 0)
        fail_msg("master.cf: %s", strbuf_str(&err));
    master_cf_register_config(cf);
    strbuf_release(&err);
    if (truncate(log_path, 0) < 0)
        fail_msg("truncate %s", log_path);
}

/* The log since setup_config, without time stamps and idents. */
static const char *logged(void)
{
    static strbuf out;
    strbuf_reset(&out);
    FILE *f = fopen(log_path, "r");
    assert_non_null(f);
    char line[4096];
    while (fgets(line, sizeof(line), f)) {
        const char *text = strstr(line, "]: ");
        strbuf_puts(&out, text ? text + 3 : line);
    }
    fclose(f);
    return strbuf_str(&out);
}

#define STOCK_MASTER                                                                               \
    "smtp      inet  n       -       y       -       -       smtpd\n"                              \
    "pickup    unix  n       -       y       60      1       pickup\n"                             \
    "relay     unix  -       -       y       -       -       smtp\n"                               \
    "        -o syslog_name=postfix/$service_name\n"

static void parameters_not_honoured(void **state)
{
    setup_config("smtpd_proxy_filter = 127.0.0.1:10025\n" /* line 1: warned */
                 "virtual_alias_maps =\n"                /* = its default, spelled otherwise */
                 "soft_bounce = No\n"                    /* = its default "no" */
                 "smtpd_timeout = 5m\n"                  /* implemented */
                 "biff = no\n"                           /* our fixed behaviour */
                 "append_dot_mydomain = yes\n"           /* line 6: not ours */
                 "delay_notice_recipient = postmaster\n" /* its default */
                 "error_notice_recipient = root\n"       /* line 8 */
                 "relay_delivery_slot_cost = 3\n"        /* line 9: per-transport, not honoured */
                 "relay_destination_concurrency_limit = 5\n" /* honoured */
                 "my_own = x\n"                              /* not a Postfix parameter */
                 "smtpd_etrn_restrictions = reject\n",       /* line 12: ETRN is refused anyway */
                 STOCK_MASTER);
    struct config_fidelity_counts n = config_fidelity_check(cf, true);
    assert_int_equal(n.parameters, 5);
    assert_int_equal(n.restrictions, 0);
    assert_string_equal(
        logged(),
        "warning: /etc/postfix/main.cf, line 1: parameter smtpd_proxy_filter: not implemented in "
        "this version; the setting has no effect\n"
        "warning: /etc/postfix/main.cf, line 6: parameter append_dot_mydomain: not implemented in "
        "this version; the setting has no effect\n"
        "warning: /etc/postfix/main.cf, line 8: parameter error_notice_recipient: not implemented "
        "in this version; the setting has no effect\n"
        "warning: /etc/postfix/main.cf, line 9: parameter relay_delivery_slot_cost: not "
        "implemented in this version; the setting has no effect\n"
        "warning: /etc/postfix/main.cf, line 12: parameter smtpd_etrn_restrictions: not "
        "implemented in this version; the setting has no effect\n");
}

static void values_compare_expanded_and_typed(void **state)
{
    setup_config("compatibility_level = 3.6\n"
                 "append_dot_mydomain = NO\n"                                /* bool */
                 "address_verify_negative_expire_time = 72h\n"               /* = 3d */
                 "address_verify_map = btree:$data_directory/verify_cache\n" /* = default */
                 "data_directory = /var/lib/elsewhere\n"                     /* implemented */
                 "address_verify_sender = $double_bounce_sender\n"           /* = default */
                 "address_verify_poll_count = 3\n" /* = ${stress?{1}:{3}} */
                 "smtp_tls_loglevel = 1\n",        /* line 8 */
                 STOCK_MASTER);
    struct config_fidelity_counts n = config_fidelity_check(cf, false);
    assert_int_equal(n.parameters, 1);
    assert_string_equal(logged(), "warning: /etc/postfix/main.cf, line 8: parameter "
                                  "smtp_tls_loglevel: not implemented in this version; the "
                                  "setting has no effect\n");
}

static void master_cf_overrides(void **state)
{
    setup_config("mua_client_restrictions = permit_sasl_authenticated, reject\n",
                 "smtp      inet  n       -       y       -       -       smtpd\n"
                 "submission inet n       -       y       -       -       smtpd\n" /* line 2 */
                 "  -o syslog_name=postfix/submission\n"
                 "  -o smtpd_client_restrictions=$mua_client_restrictions\n"
                 "  -o { smtpd_proxy_filter = 127.0.0.1:10025 }\n"
                 "  -o smtpd_milters=\n"
                 "relay     unix  -       -       y       -       -       smtp\n" /* line 7 */
                 "  -o smtp_helo_timeout=5 -o smtp_header_checks=pcre:/x\n"
                 "  -o smtp_bind_address=$service_name\n");
    struct config_fidelity_counts n = config_fidelity_check(cf, true);
    assert_int_equal(n.parameters, 3);
    assert_int_equal(n.restrictions, 0);
    assert_string_equal(
        logged(),
        "warning: /etc/postfix/master.cf, line 2: service submission/inet: parameter "
        "smtpd_proxy_filter: not implemented in this version; the setting has no effect\n"
        "warning: /etc/postfix/master.cf, line 7: service relay/unix: parameter "
        "smtp_header_checks: not implemented in this version; the setting has no effect\n"
        "warning: /etc/postfix/master.cf, line 7: service relay/unix: parameter "
        "smtp_bind_address: not implemented in this version; the setting has no effect\n");
}

static void restrictions(void **state)
{
    setup_config(
        "smtpd_recipient_restrictions = permit_mynetworks,\n"
        "    check_sasl_access hash:/etc/postfix/sasl, reject_unauth_destination\n"
        "mua_client_restrictions = permit_sasl_authenticated, check_sasl_access hash:/etc/postfix/sasl, reject\n"
        "smtpd_end_of_data_restrictions = reject_unverified_sender\n", /* line 4 */
        "smtp      inet  n       -       y       -       -       smtpd\n"
        "submission inet n       -       y       -       -       smtpd\n" /* line 2 */
        "  -o smtpd_client_restrictions=$mua_client_restrictions\n"
        "  -o smtpd_recipient_restrictions=permit_sasl_authenticated,reject\n"
        "smtps     inet  n       -       y       -       -       smtpd\n" /* line 5 */
        "  -o smtpd_tls_wrappermode=yes\n");
    struct config_fidelity_counts n = config_fidelity_check(cf, true);
    assert_int_equal(n.parameters, 0);
    assert_int_equal(n.restrictions, 3);
    assert_string_equal(
        logged(),
        "error: /etc/postfix/main.cf, line 1: parameter smtpd_recipient_restrictions: restriction "
        "check_sasl_access: not implemented in this version; smtpd answers 451 4.3.5 when "
        "evaluation gets there\n"
        "error: /etc/postfix/main.cf, line 4: parameter smtpd_end_of_data_restrictions: "
        "restriction "
        "reject_unverified_sender: not implemented in this version; smtpd answers 451 4.3.5 "
        "when evaluation gets there\n"
        "error: /etc/postfix/master.cf, line 2: service submission/inet: parameter "
        "smtpd_client_restrictions: restriction check_sasl_access: not implemented in this "
        "version; smtpd answers 451 4.3.5 when evaluation gets there\n");
    /* Master says the same as warnings. */
    assert_int_equal(truncate(log_path, 0), 0);
    n = config_fidelity_check(cf, false);
    assert_int_equal(n.restrictions, 3);
    assert_non_null(strstr(logged(), "warning: /etc/postfix/main.cf, line 1: parameter "
                                     "smtpd_recipient_restrictions: restriction "
                                     "check_sasl_access"));
}

/* smtpd_restriction_classes: each class is checked like a list, at its own
 * line; its name is a user-defined parameter, never "unused". */
static void restriction_classes(void **state)
{
    (void)state;
    setup_config("smtpd_restriction_classes = good, bad,\n"
                 "    undefined, $extra_class, reject_rbl_client\n" /* line 1 */
                 "extra_class = nested\n"                           /* line 3 */
                 "good = check_sender_access hash:/x, nested, reject\n"
                 "bad = permit_mynetwork, reject_unverified_sender\n" /* line 5 */
                 "nested = reject_rbl_client zen.example=127.0.0.[2..11]\n"
                 "smtpd_recipient_restrictions = good, reject_unauth_destination\n",
                 "smtp      inet  n       -       y       -       -       smtpd\n"
                 "  -o smtpd_restriction_classes=mine\n"
                 "  -o mine=reject\n");
    assert_int_equal(config_warn_unused(), 0);
    struct config_fidelity_counts n = config_fidelity_check(cf, true);
    assert_int_equal(n.restrictions, 4);
    assert_string_equal(
        logged(),
        "error: /etc/postfix/main.cf, line 5: parameter bad: restriction permit_mynetwork: "
        "unknown restriction; smtpd answers 451 4.3.5 when evaluation gets there\n"
        "error: /etc/postfix/main.cf, line 5: parameter bad: restriction reject_unverified_sender: "
        "not implemented in this version; smtpd answers 451 4.3.5 when evaluation gets there\n"
        "error: /etc/postfix/main.cf, line 1: parameter smtpd_restriction_classes: restriction "
        "class undefined has no definition; smtpd answers 451 4.3.5 when evaluation gets there\n"
        "error: /etc/postfix/main.cf, line 1: parameter smtpd_restriction_classes: "
        "reject_rbl_client is a Postfix restriction, not a restriction class name\n");
}

static char *slurp(const char *name)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", TEST_DATA_DIR, name);
    FILE *f = fopen(path, "r");
    if (!f)
        fail_msg("open %s", path);
    strbuf sb = STRBUF_INIT;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
        strbuf_append(&sb, buf, n);
    fclose(f);
    return strbuf_detach(&sb);
}

/* Debian 12's postinst main.cf and master.cf, CentOS 8's: nothing to say,
 * because we honour what they set (tests/data/). */
static void stock_configurations_are_quiet(void **state)
{
    static const char *const files[][2] = {{"main.cf.debian12", "master.cf.debian"},
                                           {"main.cf.centos8", "master.cf.centos8"}};
    for (size_t i = 0; i < 2; i++) {
        char *main_text = slurp(files[i][0]), *master_text = slurp(files[i][1]);
        setup_config(main_text, master_text);
        struct config_fidelity_counts n = config_fidelity_check(cf, true);
        if (n.parameters || n.restrictions)
            fail_msg("%s + %s:\n%s", files[i][0], files[i][1], logged());
        assert_string_equal(logged(), "");
        free(main_text);
        free(master_text);
    }
}

int main(void)
{
    int fd = mkstemp(log_path);
    if (fd < 0)
        return 1;
    close(fd);
    msg_init("test_config_fidelity", false);
    if (msg_configure("postfix", "mail", log_path, "localhost") < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parameters_not_honoured),
        cmocka_unit_test(values_compare_expanded_and_typed),
        cmocka_unit_test(master_cf_overrides),
        cmocka_unit_test(restrictions),
        cmocka_unit_test(restriction_classes),
        cmocka_unit_test(stock_configurations_are_quiet),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    master_cf_free(&cf);
    unlink(log_path);
    return rc;
}
