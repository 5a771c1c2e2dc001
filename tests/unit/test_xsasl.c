/* Unit tests: xsasl (security option words, backend selection, an
 * unreachable Dovecot socket). The Dovecot exchange itself is covered by
 * test_dovecot_auth.c against a scripted server. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "msg.h"
#include "strbuf.h"
#include "xsasl.h"

static void security_options(void **state)
{
    (void)state;
    unsigned f = 99;
    strbuf err = STRBUF_INIT;
    assert_int_equal(xsasl_parse_security_options("", &f, &err), 0);
    assert_int_equal(f, 0);
    assert_int_equal(xsasl_parse_security_options("noanonymous", &f, &err), 0);
    assert_int_equal(f, XSASL_SEC_NOANONYMOUS);
    assert_int_equal(xsasl_parse_security_options(" NoPlainText,\tnoanonymous , noactive\n",
                                                  &f, &err),
                     0);
    assert_int_equal(f, XSASL_SEC_NOPLAINTEXT | XSASL_SEC_NOANONYMOUS | XSASL_SEC_NOACTIVE);
    assert_int_equal(
        xsasl_parse_security_options("nodictionary mutual_auth forward_secrecy", &f, &err), 0);
    assert_int_equal(f, XSASL_SEC_NODICTIONARY | XSASL_SEC_MUTUAL_AUTH |
                            XSASL_SEC_FORWARD_SECRECY);
    /* Hostile: unknown words, braces, 8-bit, a near miss. */
    static const char *const bad[] = {"noanonymou", "noanonymous x", "{noanonymous",
                                      "no\xe9plaintext", "noanonymous}", "noanonymous=yes"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        strbuf_reset(&err);
        if (xsasl_parse_security_options(bad[i], &f, &err) != -1)
            fail_msg("accepted \"%s\"", bad[i]);
        assert_true(err.len > 0);
    }
    strbuf_release(&err);
}

static void backend_selection(void **state)
{
    (void)state;
    strbuf err = STRBUF_INIT;
    assert_int_equal(xsasl_init("kerberos", "smtpd", &err), -1);
    assert_non_null(strstr(strbuf_str(&err), "unsupported SASL server implementation"));
    strbuf_reset(&err);
    assert_int_equal(xsasl_init("", "smtpd", &err), -1);
    strbuf_reset(&err);
    /* Dovecot with no server behind the socket: no authenticator (the
     * caller then does not offer AUTH). */
    char path[64];
    snprintf(path, sizeof(path), "/tmp/test_xsasl_nosock.%ld", (long)getpid());
    unlink(path);
    assert_int_equal(xsasl_init("Dovecot", path, &err), 0);
    struct xsasl_server_params p = {.service = "smtp",
                                    .server_fqdn = "mx.example.org",
                                    .user_realm = "",
                                    .local_addr = "127.0.0.1",
                                    .remote_addr = "127.0.0.1",
                                    .local_port = 25,
                                    .remote_port = 40000,
                                    .timeout_ms = 1000};
    xsasl_server *s = xsasl_server_new(&p, &err);
    assert_null(s);
    assert_true(err.len > 0);
    strbuf_release(&err);
}

int main(void)
{
    msg_init("test_xsasl", false);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(security_options),
        cmocka_unit_test(backend_selection),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
