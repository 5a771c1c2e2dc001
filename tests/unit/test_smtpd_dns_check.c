/* Unit tests: reply-template expansion of smtpd_dns_check (default_rbl_reply
 * and rbl_reply_maps texts) with hostile values. No DNS traffic. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "smtpd_dns_check.h"

static const char *vars(void *ctx, const char *name)
{
    const char *txt = ctx;
    if (!strcmp(name, "rbl_code"))
        return "554";
    if (!strcmp(name, "rbl_class"))
        return "Client host";
    if (!strcmp(name, "rbl_what"))
        return "127.0.0.5";
    if (!strcmp(name, "rbl_domain"))
        return "rbl.test";
    if (!strcmp(name, "rbl_reason"))
        return txt;
    if (!strcmp(name, "empty"))
        return "";
    return NULL;
}

#define DEFAULT_RBL_REPLY                                                                          \
    "$rbl_code Service unavailable; $rbl_class [$rbl_what] blocked using "                        \
    "$rbl_domain${rbl_reason?; $rbl_reason}"

static void test_default_reply(void **state)
{
    (void)state;
    strbuf out = STRBUF_INIT;
    smtpd_dns_expand(DEFAULT_RBL_REPLY, vars, (void *)"listed", &out);
    assert_string_equal(out.s, "554 Service unavailable; Client host [127.0.0.5] blocked using "
                               "rbl.test; listed");
    smtpd_dns_expand(DEFAULT_RBL_REPLY, vars, (void *)"", &out);
    assert_string_equal(out.s,
                        "554 Service unavailable; Client host [127.0.0.5] blocked using rbl.test");
    strbuf_release(&out);
}

static void test_forms(void **state)
{
    (void)state;
    strbuf out = STRBUF_INIT;
    smtpd_dns_expand("a$$b ${unset:none} ${empty:e} $(rbl_code) $ x $unset.", vars, (void *)"t",
                     &out);
    assert_string_equal(out.s, "a$b none e 554 $ x .");
    smtpd_dns_expand("${rbl_code", vars, NULL, &out); /* unterminated */
    assert_string_equal(out.s, "554");
    smtpd_dns_expand("${rbl_reason?[${rbl_domain}]}", vars, (void *)"x", &out);
    assert_string_equal(out.s, "[rbl.test]");
    strbuf_release(&out);
}

static void test_hostile_values(void **state)
{
    (void)state;
    strbuf out = STRBUF_INIT;
    /* A value's $ and % are text, never expanded again; CR/LF/8-bit become '?'. */
    smtpd_dns_expand("$rbl_reason", vars, (void *)"a\r\n250 ok $rbl_code %s %n \xe9", &out);
    assert_string_equal(out.s, "a??250 ok $rbl_code %s %n ?");
    char big[5000];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = 0;
    smtpd_dns_expand(DEFAULT_RBL_REPLY, vars, big, &out);
    assert_int_equal(out.len, 500);
    smtpd_dns_expand(big, vars, NULL, &out); /* long template */
    assert_int_equal(out.len, 500);
    strbuf_release(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_reply),
        cmocka_unit_test(test_forms),
        cmocka_unit_test(test_hostile_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
