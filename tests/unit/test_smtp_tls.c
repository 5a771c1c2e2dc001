/* Unit tests: the smtp client's TLS policies (smtp/smtp_tls.c): level
 * names, Postfix's policy table syntax with hostile values, and what one
 * connection must achieve (levels, match names, fingerprints, DANE
 * fallbacks). No network. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"
#include "smtp.h"

struct smtp_config smtp_cfg;

static void set_defaults(void)
{
    memset(&smtp_cfg, 0, sizeof(smtp_cfg));
    smtp_cfg.tls_level = SMTP_TLS_MAY;
    smtp_cfg.tls_servername = "";
    smtp_cfg.tls_protocols = "!SSLv2, !SSLv3";
    smtp_cfg.tls_mandatory_protocols = ">=TLSv1.2";
    smtp_cfg.tls_ciphers = "medium";
    smtp_cfg.tls_mandatory_ciphers = "high";
    smtp_cfg.tls_exclude_ciphers = "";
    smtp_cfg.tls_mandatory_exclude_ciphers = "";
    smtp_cfg.tls_CAfile = "";
    smtp_cfg.tls_CApath = "";
    smtp_cfg.tls_verify_match = "hostname";
    smtp_cfg.tls_secure_match = "nexthop, dot-nexthop";
    smtp_cfg.tls_fingerprint_match = "";
    smtp_cfg.tls_fingerprint_digest = "sha256";
    smtp_cfg.dnssec = true;
}

static int setup(void **state)
{
    (void)state;
    strbuf err = STRBUF_INIT;
    if (config_load_text("main.cf", "", 0, &err) < 0)
        fail_msg("%s", err.s);
    strbuf_release(&err);
    set_defaults();
    return 0;
}

static void test_levels(void **state)
{
    (void)state;
    static const char *const names[] = {"none",      "may",         "encrypt", "dane",
                                        "dane-only", "fingerprint", "verify",  "secure"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        enum smtp_tls_level l;
        assert_int_equal(smtp_tls_level_parse(names[i], &l), 0);
        assert_int_equal(l, (enum smtp_tls_level)i);
        assert_string_equal(smtp_tls_level_name(l), names[i]);
    }
    enum smtp_tls_level l;
    assert_int_equal(smtp_tls_level_parse("VERIFY", &l), 0);
    assert_int_equal(l, SMTP_TLS_VERIFY);
    assert_int_equal(smtp_tls_level_parse("dane-", &l), -1);
    assert_int_equal(smtp_tls_level_parse("", &l), -1);
    assert_int_equal(smtp_tls_level_parse("mandatory", &l), -1);
}

static void test_policy_parse(void **state)
{
    (void)state;
    struct smtp_tls_policy p;
    strbuf err = STRBUF_INIT;
    assert_int_equal(
        smtp_tls_policy_parse("secure match=.example.com:mx.other ciphers=high "
                              "protocols=!SSLv2:!SSLv3 match=third.example exclude=RC4",
                              &p, &err),
        0);
    assert_int_equal(p.level, SMTP_TLS_SECURE);
    assert_int_equal(p.match.n, 3);
    assert_string_equal(p.match.v[0], ".example.com");
    assert_string_equal(p.match.v[1], "mx.other");
    assert_string_equal(p.match.v[2], "third.example");
    assert_string_equal(p.ciphers, "high");
    assert_string_equal(p.protocols, "!SSLv2:!SSLv3");
    assert_string_equal(p.exclude, "RC4");
    smtp_tls_policy_release(&p);

    /* Fingerprints keep their colons: '|' separates them. */
    assert_int_equal(smtp_tls_policy_parse("fingerprint match=AB:CD|EF:01", &p, &err), 0);
    assert_int_equal(p.match.n, 2);
    assert_string_equal(p.match.v[0], "AB:CD");
    assert_string_equal(p.match.v[1], "EF:01");
    smtp_tls_policy_release(&p);

    static const struct {
        const char *value, *error;
    } bad[] = {
        {"", "empty TLS policy"},
        {"   ", "empty TLS policy"},
        {"sometimes", "invalid TLS level \"sometimes\""},
        {"may match=x", "attribute \"match\" is valid only with the fingerprint, verify and "
                        "secure levels, not \"may\""},
        {"verify match=", "bad \"match\" value \"\""},
        {"verify =x", "malformed attribute/value pair \"=x\""},
        {"verify novalue", "malformed attribute/value pair \"novalue\""},
        {"encrypt ciphers=high ciphers=low", "multiple \"ciphers\" attributes"},
        {"encrypt protocols=", "empty \"protocols\" value"},
        {"encrypt tafile=/etc/ta.pem", "attribute \"tafile\" is valid only with the verify "
                                       "and secure levels, not \"encrypt\""},
        {"secure tafile=/a tafile=/b", "multiple \"tafile\" attributes"},
        {"dane connection_reuse=yes", "unsupported attribute \"connection_reuse\" "
                                      "(supported: match, ciphers, protocols, exclude, tafile)"},
        {"verify \x01\xff=\x80", "unsupported attribute \"\x01\xff\" (supported: match, "
                                 "ciphers, protocols, exclude, tafile)"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        strbuf_reset(&err);
        assert_int_equal(smtp_tls_policy_parse(bad[i].value, &p, &err), -1);
        assert_string_equal(err.s, bad[i].error);
        assert_int_equal(p.match.n, 0);
        assert_null(p.ciphers);
    }
    strbuf_release(&err);
}

static struct smtp_target target(const char *host)
{
    return (struct smtp_target){.host = (char *)host, .addr = "127.0.0.1", .port = 25};
}

static void test_session_verify_secure(void **state)
{
    (void)state;
    struct smtp_tls_policy p = {.level = SMTP_TLS_VERIFY};
    struct smtp_target t = target("mx1.example.com");
    struct smtp_tls_session ts;
    strbuf why = STRBUF_INIT;
    const char *dsn;
    assert_int_equal(smtp_tls_session_init(&ts, &p, "example.com", &t, &why, &dsn), 0);
    assert_true(ts.mandatory && ts.must_match);
    assert_int_equal(ts.names.n, 1);
    assert_string_equal(ts.names.v[0], "mx1.example.com");
    assert_string_equal(ts.protocols.s, ">=TLSv1.2"); /* the mandatory protocols */
    smtp_tls_session_release(&ts);

    p.level = SMTP_TLS_SECURE;
    assert_int_equal(smtp_tls_session_init(&ts, &p, "[Example.COM]:587", &t, &why, &dsn), 0);
    assert_int_equal(ts.names.n, 2);
    assert_string_equal(ts.names.v[0], "Example.COM");
    assert_string_equal(ts.names.v[1], ".Example.COM");
    smtp_tls_session_release(&ts);

    /* match= replaces the main.cf list; duplicates once. */
    assert_int_equal(
        smtp_tls_policy_parse("secure match=nexthop:.x.test:hostname:NEXTHOP", &p, &why), 0);
    assert_int_equal(smtp_tls_session_init(&ts, &p, "example.com", &t, &why, &dsn), 0);
    assert_int_equal(ts.names.n, 3);
    assert_string_equal(ts.names.v[0], "example.com");
    assert_string_equal(ts.names.v[1], ".x.test");
    assert_string_equal(ts.names.v[2], "mx1.example.com");
    smtp_tls_session_release(&ts);
    smtp_tls_policy_release(&p);

    /* may: the opportunistic protocols, nothing to match. */
    p.level = SMTP_TLS_MAY;
    assert_int_equal(smtp_tls_session_init(&ts, &p, "example.com", &t, &why, &dsn), 0);
    assert_false(ts.mandatory || ts.must_match);
    assert_string_equal(ts.protocols.s, "!SSLv2, !SSLv3");
    assert_int_equal(ts.names.n, 0);
    smtp_tls_session_release(&ts);

    /* A bad cipher grade from the table: a configuration problem. */
    assert_int_equal(smtp_tls_policy_parse("encrypt ciphers=super", &p, &why), 0);
    assert_int_equal(smtp_tls_session_init(&ts, &p, "example.com", &t, &why, &dsn), -1);
    assert_string_equal(why.s, "client TLS configuration problem");
    assert_string_equal(dsn, "4.7.5");
    smtp_tls_session_release(&ts);
    smtp_tls_policy_release(&p);
    strbuf_release(&why);
}

static void test_session_fingerprint(void **state)
{
    (void)state;
    struct smtp_tls_policy p;
    struct smtp_target t = target("mx1.example.com");
    struct smtp_tls_session ts;
    strbuf why = STRBUF_INIT;
    const char *dsn;
    const char *fp = "00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:"
                     "00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff";
    strbuf v = STRBUF_INIT;
    strbuf_printf(&v, "fingerprint match=%s|%s", fp,
                  "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100");
    assert_int_equal(smtp_tls_policy_parse(v.s, &p, &why), 0);
    assert_int_equal(smtp_tls_session_init(&ts, &p, "example.com", &t, &why, &dsn), 0);
    assert_int_equal(ts.ntlsa, 4); /* certificate and public key, each */
    assert_int_equal(ts.tlsa[0].usage, 3);
    assert_int_equal(ts.tlsa[0].selector, 0);
    assert_int_equal(ts.tlsa[1].selector, 1);
    assert_int_equal(ts.tlsa[0].mtype, 1); /* sha256 */
    assert_int_equal(ts.tlsa[0].len, 32);
    assert_int_equal(ts.tlsa[0].data[10], 0xaa);
    assert_int_equal(ts.tlsa[2].data[0], 0xff);
    smtp_tls_session_release(&ts);
    smtp_tls_policy_release(&p);

    /* Wrong length, not hex, odd digits: refused. */
    static const char *const bad[] = {"fingerprint match=00:11", "fingerprint match=zz",
                                      "fingerprint match=0"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(smtp_tls_policy_parse(bad[i], &p, &why), 0);
        assert_int_equal(smtp_tls_session_init(&ts, &p, "example.com", &t, &why, &dsn), -1);
        assert_string_equal(why.s, "client TLS configuration problem");
        smtp_tls_session_release(&ts);
        smtp_tls_policy_release(&p);
    }
    /* No fingerprints at all. */
    p = (struct smtp_tls_policy){.level = SMTP_TLS_FINGERPRINT};
    assert_int_equal(smtp_tls_session_init(&ts, &p, "example.com", &t, &why, &dsn), -1);
    smtp_tls_session_release(&ts);
    strbuf_release(&v);
    strbuf_release(&why);
}

static void test_session_dane(void **state)
{
    (void)state;
    struct smtp_tls_policy dane = {.level = SMTP_TLS_DANE};
    struct smtp_tls_policy only = {.level = SMTP_TLS_DANE_ONLY};
    struct smtp_target t = target("mx1.example.com");
    struct smtp_tls_session ts;
    strbuf why = STRBUF_INIT;
    const char *dsn;
    static const struct {
        enum smtp_dane_status st;
        enum smtp_tls_level dane_level; /* effective level under "dane" */
        const char *only_error;         /* dane-only's reason, NULL: connects */
    } cases[] = {
        {SMTP_DANE_INSECURE, SMTP_TLS_MAY, "mx1.example.com: non DNSSEC destination"},
        {SMTP_DANE_NOTFOUND, SMTP_TLS_MAY, "mx1.example.com: no TLSA records found"},
        {SMTP_DANE_UNUSABLE, SMTP_TLS_ENCRYPT, "mx1.example.com: TLSA records unusable"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        t.dane = cases[i].st;
        assert_int_equal(smtp_tls_session_init(&ts, &dane, "example.com", &t, &why, &dsn), 0);
        assert_int_equal(ts.level, cases[i].dane_level);
        assert_false(ts.must_match);
        smtp_tls_session_release(&ts);
        strbuf_reset(&why);
        assert_int_equal(smtp_tls_session_init(&ts, &only, "example.com", &t, &why, &dsn), -1);
        assert_string_equal(why.s, cases[i].only_error);
        assert_string_equal(dsn, "4.7.5");
        smtp_tls_session_release(&ts);
        strbuf_reset(&why);
    }
    /* A TLSA lookup error defers the host at both levels. */
    t.dane = SMTP_DANE_ERROR;
    assert_int_equal(smtp_tls_session_init(&ts, &dane, "example.com", &t, &why, &dsn), -1);
    assert_string_equal(why.s, "TLSA lookup error for mx1.example.com:25");
    smtp_tls_session_release(&ts);

    unsigned char digest[32] = {1, 2, 3};
    struct smtp_tlsa rec = {.usage = 3, .selector = 1, .mtype = 1, .data = digest, .len = 32};
    t.dane = SMTP_DANE_USABLE;
    t.tlsa = &rec;
    t.ntlsa = 1;
    assert_int_equal(smtp_tls_session_init(&ts, &only, "example.com", &t, &why, &dsn), 0);
    assert_int_equal(ts.level, SMTP_TLS_DANE);
    assert_true(ts.mandatory && ts.must_match);
    assert_int_equal(ts.ntlsa, 1);
    assert_ptr_equal(ts.tlsa[0].data, digest);
    assert_string_equal(ts.tlsa_base, "mx1.example.com");
    smtp_tls_session_release(&ts);
    strbuf_release(&why);
}

static void test_session_sni(void **state)
{
    (void)state;
    struct smtp_tls_policy p = {.level = SMTP_TLS_MAY};
    struct smtp_target t = target("mx1.example.com");
    struct smtp_tls_session ts;
    strbuf why = STRBUF_INIT;
    const char *dsn;
    static const struct {
        const char *setting, *nexthop, *sni;
    } cases[] = {
        {"", "example.com", ""},
        {"hostname", "example.com", "mx1.example.com"},
        {"nexthop", "[relay.example]:587", "relay.example"},
        {"nexthop", "[127.0.0.1]:25", ""}, /* never an address */
        {"literal.example", "example.com", "literal.example"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        smtp_cfg.tls_servername = cases[i].setting;
        assert_int_equal(smtp_tls_session_init(&ts, &p, cases[i].nexthop, &t, &why, &dsn), 0);
        assert_string_equal(ts.sni.s ? ts.sni.s : "", cases[i].sni);
        smtp_tls_session_release(&ts);
    }
    /* DANE: the TLSA base domain, whatever the setting. */
    unsigned char digest[32] = {0};
    struct smtp_tlsa rec = {.usage = 3, .selector = 1, .mtype = 1, .data = digest, .len = 32};
    t.dane = SMTP_DANE_USABLE;
    t.tlsa = &rec;
    t.ntlsa = 1;
    p.level = SMTP_TLS_DANE;
    smtp_cfg.tls_servername = "literal.example";
    assert_int_equal(smtp_tls_session_init(&ts, &p, "example.com", &t, &why, &dsn), 0);
    assert_string_equal(ts.sni.s, "mx1.example.com");
    smtp_tls_session_release(&ts);
    strbuf_release(&why);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_levels, setup),
        cmocka_unit_test_setup(test_policy_parse, setup),
        cmocka_unit_test_setup(test_session_verify_secure, setup),
        cmocka_unit_test_setup(test_session_fingerprint, setup),
        cmocka_unit_test_setup(test_session_dane, setup),
        cmocka_unit_test_setup(test_session_sni, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
