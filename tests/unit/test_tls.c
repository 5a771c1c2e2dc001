/* Unit tests: tls (Postfix protocol specs, cipher grades). The handshake
 * itself is exercised end to end (tests/e2e/test_tls_auth.py). */
#include <openssl/ssl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "config.h"
#include "strbuf.h"
#include "tls.h"

static void check(const char *spec, int want_min, int want_max)
{
    strbuf err = STRBUF_INIT;
    int minv = -1, maxv = -1;
    assert_int_equal(tls_parse_protocols(spec, &minv, &maxv, &err), 0);
    assert_int_equal(minv, want_min);
    assert_int_equal(maxv, want_max);
    strbuf_release(&err);
}

static void test_protocols(void **state)
{
    (void)state;
    check(">=TLSv1", TLS1_VERSION, 0);
    check(">=TLSv1.2", TLS1_2_VERSION, 0);
    check("!SSLv2, !SSLv3", TLS1_VERSION, 0);
    check("!SSLv2:!SSLv3:!TLSv1:!TLSv1.1", TLS1_2_VERSION, 0);
    check("TLSv1.2 TLSv1.3", TLS1_2_VERSION, 0);
    check("TLSv1.2", TLS1_2_VERSION, TLS1_2_VERSION);
    check(">=TLSv1 <=TLSv1.2", TLS1_VERSION, TLS1_2_VERSION);
    check("!TLSv1.3", SSL3_VERSION, TLS1_2_VERSION);
    check("", SSL3_VERSION, 0);
    strbuf err = STRBUF_INIT;
    int a, b;
    assert_int_equal(tls_parse_protocols("TLSv9", &a, &b, &err), -1);
    assert_int_equal(tls_parse_protocols(">=TLSv1.3 <=TLSv1.2", &a, &b, &err), -1);
    assert_int_equal(tls_parse_protocols("SSLv2", &a, &b, &err), -1);
    strbuf_release(&err);
}

static void test_cipher_grades(void **state)
{
    (void)state;
    strbuf out = STRBUF_INIT, err = STRBUF_INIT;
    /* The lists come from the caller (Postfix's defaults here). */
    const struct tls_grade_lists g = {.high = "aNULL:-aNULL:HIGH:@STRENGTH",
                                      .medium = "aNULL:-aNULL:HIGH:MEDIUM:+RC4:@STRENGTH",
                                      .low = "LOW",
                                      .export = "EXPORT",
                                      .null = "eNULL:!aNULL"};
    assert_int_equal(tls_cipherlist("medium", &g, "", &out, &err), 0);
    assert_string_equal(strbuf_str(&out), "aNULL:-aNULL:HIGH:MEDIUM:+RC4:@STRENGTH");
    assert_int_equal(tls_cipherlist("HIGH", &g, "RC4, aNULL", &out, &err), 0);
    assert_string_equal(strbuf_str(&out), "aNULL:-aNULL:HIGH:@STRENGTH:!RC4:!aNULL");
    assert_int_equal(tls_cipherlist("Null", &g, NULL, &out, &err), 0);
    assert_string_equal(strbuf_str(&out), "eNULL:!aNULL");
    const struct tls_grade_lists unset = {0};
    assert_int_equal(tls_cipherlist("low", &unset, "x", &out, &err), 0);
    assert_string_equal(strbuf_str(&out), ":!x");
    assert_int_equal(tls_cipherlist("super", &g, "", &out, &err), -1);
    strbuf_release(&out);
    strbuf_release(&err);
}

static void test_server_ctx_needs_cert(void **state)
{
    (void)state;
    strbuf err = STRBUF_INIT;
    struct tls_server_settings set = {.protocols = ">=TLSv1.2"};
    assert_null(tls_server_ctx_new(&set, &err));
    assert_non_null(strstr(strbuf_str(&err), "no server certificate"));
    strbuf_reset(&err);
    set.cert_file = "/nonexistent/cert.pem";
    assert_null(tls_server_ctx_new(&set, &err));
    assert_non_null(strstr(strbuf_str(&err), "/nonexistent/cert.pem"));
    struct tls_client_settings cs = {.protocols = ">=TLSv1.2", .cipherlist = "HIGH"};
    tls_ctx *c = tls_client_ctx_new(&cs, &err);
    assert_non_null(c);
    tls_ctx_free(&c);
    assert_null(c);
    strbuf_release(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_protocols),
        cmocka_unit_test(test_cipher_grades),
        cmocka_unit_test(test_server_ctx_needs_cert),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
