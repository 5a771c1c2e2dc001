/* Unit tests: sasl_client (mechanism filter and choice, PLAIN, LOGIN and
 * CRAM-MD5 wire encodings, hostile challenges). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "base64.h"
#include "smtp_sasl_client.h"
#include "xsasl.h"

static void filter_is(const char *offered, const char *filter, const char *want)
{
    strlist f = STRLIST_INIT;
    strbuf out = STRBUF_INIT;
    assert_int_equal(strlist_split(&f, filter, ", \t", NULL), 0);
    sasl_client_filter(offered, &f, &out);
    assert_string_equal(out.s, want);
    strbuf_release(&out);
    strlist_release(&f);
}

static void test_filter(void **state)
{
    (void)state;
    filter_is("PLAIN LOGIN CRAM-MD5", "", "PLAIN LOGIN CRAM-MD5");
    filter_is("PLAIN LOGIN CRAM-MD5", "login, plain", "PLAIN LOGIN");
    filter_is("PLAIN  LOGIN\tCRAM-MD5 ", "!plain, login", "LOGIN");
    filter_is("PLAIN LOGIN", "cram-md5", "");
    filter_is("", "plain", "");
}

static const char *choose(const char *offered, unsigned flags)
{
    static char name[32];
    strbuf err = STRBUF_INIT;
    sasl_client *c = sasl_client_new(offered, flags, "u", "p", &err);
    if (c == NULL) {
        assert_string_equal(err.s, "no mechanism available");
        strbuf_release(&err);
        return NULL;
    }
    strncpy(name, sasl_client_mech(c), sizeof(name) - 1);
    sasl_client_free(&c);
    assert_null(c);
    strbuf_release(&err);
    return name;
}

static void test_choice(void **state)
{
    (void)state;
    unsigned dflt = 0;
    strbuf err = STRBUF_INIT;
    assert_int_equal(xsasl_parse_security_options("noplaintext, noanonymous", &dflt, &err), 0);
    /* Postfix's default refuses plaintext passwords, TLS or not. */
    assert_null(choose("PLAIN LOGIN", dflt));
    assert_string_equal(choose("PLAIN LOGIN CRAM-MD5", dflt), "CRAM-MD5");
    assert_string_equal(choose("plain login", XSASL_SEC_NOANONYMOUS), "PLAIN");
    assert_string_equal(choose("LOGIN PLAIN", XSASL_SEC_NOANONYMOUS), "LOGIN");
    assert_string_equal(choose("LOGIN PLAIN CRAM-MD5", 0), "CRAM-MD5");
    assert_null(choose("CRAM-MD5 PLAIN", XSASL_SEC_NODICTIONARY));
    assert_null(choose("ANONYMOUS GSSAPI XOAUTH2", 0));
    assert_null(choose("", 0));
    strbuf_release(&err);
}

static void decoded_is(const strbuf *b64, const char *want, size_t wantlen)
{
    strbuf raw = STRBUF_INIT;
    assert_int_equal(base64_decode(&raw, b64->s, b64->len), 0);
    assert_int_equal(raw.len, wantlen);
    assert_memory_equal(raw.s, want, wantlen);
    strbuf_release(&raw);
}

static void test_plain(void **state)
{
    (void)state;
    strbuf err = STRBUF_INIT, out = STRBUF_INIT;
    sasl_client *c = sasl_client_new("PLAIN", 0, "tester", "pass:word", &err);
    assert_non_null(c);
    sasl_client_first(c, &out);
    decoded_is(&out, "\0tester\0pass:word", 17);
    /* A server that ignored the initial response asks with an empty "334 ". */
    assert_int_equal(sasl_client_next(c, "", 0, &out, &err), 0);
    decoded_is(&out, "\0tester\0pass:word", 17);
    assert_int_equal(sasl_client_next(c, "", 0, &out, &err), -1);
    assert_non_null(strstr(err.s, "unexpected server challenge"));
    assert_null(strstr(err.s, "pass"));
    sasl_client_free(&c);
    strbuf_release(&err);
    strbuf_release(&out);
}

static void test_login(void **state)
{
    (void)state;
    strbuf err = STRBUF_INIT, out = STRBUF_INIT;
    sasl_client *c = sasl_client_new("LOGIN", 0, "tester", "secret", &err);
    sasl_client_first(c, &out);
    assert_int_equal(out.len, 0);
    assert_int_equal(sasl_client_next(c, "VXNlcm5hbWU6", 12, &out, &err), 0);
    assert_string_equal(out.s, "dGVzdGVy");
    assert_int_equal(sasl_client_next(c, "UGFzc3dvcmQ6\r\n", 14, &out, &err), 0);
    assert_string_equal(out.s, "c2VjcmV0");
    assert_int_equal(sasl_client_next(c, "UGFzc3dvcmQ6", 12, &out, &err), -1);
    sasl_client_free(&c);
    strbuf_release(&err);
    strbuf_release(&out);
}

static void test_cram_md5(void **state)
{
    (void)state;
    /* RFC 2195's example. */
    strbuf err = STRBUF_INIT, out = STRBUF_INIT;
    sasl_client *c = sasl_client_new("CRAM-MD5", 0, "tim", "tanstaaftanstaaf", &err);
    sasl_client_first(c, &out);
    assert_int_equal(out.len, 0);
    const char *chal = "PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+";
    assert_int_equal(sasl_client_next(c, chal, strlen(chal), &out, &err), 0);
    assert_string_equal(out.s, "dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw");
    sasl_client_free(&c);
    strbuf_release(&err);
    strbuf_release(&out);
}

static void test_hostile_challenges(void **state)
{
    (void)state;
    strbuf err = STRBUF_INIT, out = STRBUF_INIT;
    sasl_client *c = sasl_client_new("LOGIN", 0, "u", "p", &err);
    assert_int_equal(sasl_client_next(c, "not base64!", 11, &out, &err), -1);
    assert_string_equal(err.s, "malformed server challenge (not base64)");
    char big[4000];
    memset(big, 'A', sizeof(big));
    strbuf_reset(&err);
    assert_int_equal(sasl_client_next(c, big, sizeof(big), &out, &err), -1);
    assert_string_equal(err.s, "server challenge is too long");
    sasl_client_free(&c);
    sasl_client_free(&c); /* NULL: no-op */
    strbuf_release(&err);
    strbuf_release(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_filter),   cmocka_unit_test(test_choice),
        cmocka_unit_test(test_plain),    cmocka_unit_test(test_login),
        cmocka_unit_test(test_cram_md5), cmocka_unit_test(test_hostile_challenges),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
