/* test_config_inet - the one parser of inet_protocols and inet_interfaces. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "inet_config.h"
#include "msg.h"

static int protos(const char *value, bool probe, struct inet_protocols *p, strbuf *err)
{
    strbuf_reset(err);
    return inet_protocols_parse(value, probe, p, err);
}

static void protocols_words(void **state)
{
    (void)state;
    strbuf err = STRBUF_INIT;
    struct inet_protocols p;
    assert_int_equal(protos("ipv4", false, &p, &err), 0);
    assert_true(p.v4 && !p.v6);
    assert_int_equal(protos("IPv6", false, &p, &err), 0);
    assert_true(!p.v4 && p.v6);
    assert_int_equal(protos(" ipv4,\tipv6 ", false, &p, &err), 0);
    assert_true(p.v4 && p.v6);
    assert_int_equal(protos("all", false, &p, &err), 0);
    assert_true(p.v4 && p.v6);
    /* Probing "all" always keeps IPv4; IPv6 only if the host has it. */
    assert_int_equal(protos("all", true, &p, &err), 0);
    assert_true(p.v4);
    strbuf_release(&err);
}

static void protocols_hostile(void **state)
{
    (void)state;
    strbuf err = STRBUF_INIT;
    struct inet_protocols p;
    /* Substrings are not words: "ipv44" once enabled IPv4 in smtp(8). */
    assert_int_equal(protos("ipv44", false, &p, &err), -1);
    assert_non_null(strstr(strbuf_str(&err), "unknown protocol \"ipv44\""));
    assert_int_equal(protos("nonall", false, &p, &err), -1);
    assert_false(p.v4 || p.v6);
    /* What did parse is still reported. */
    assert_int_equal(protos("ipv6, bogus", false, &p, &err), -1);
    assert_true(p.v6 && !p.v4);
    assert_int_equal(protos("", false, &p, &err), -1);
    assert_string_equal(strbuf_str(&err), "inet_protocols: no protocol enabled");
    assert_int_equal(protos(" , ,", false, &p, &err), -1);
    strbuf_release(&err);
}

static void interfaces_words(void **state)
{
    (void)state;
    strbuf err = STRBUF_INIT;
    struct inet_interfaces ifs = INET_INTERFACES_INIT;
    assert_int_equal(inet_interfaces_parse("all", &ifs, &err), 0);
    assert_true(ifs.all && !ifs.loopback_only);
    assert_int_equal(ifs.hosts.n, 0);
    /* Parsing again resets. */
    assert_int_equal(inet_interfaces_parse("Loopback-Only, 192.0.2.1 [::1]\tmx.example", &ifs, &err),
                     0);
    assert_true(!ifs.all && ifs.loopback_only);
    assert_int_equal(ifs.hosts.n, 3);
    assert_string_equal(ifs.hosts.v[0], "192.0.2.1");
    assert_string_equal(ifs.hosts.v[1], "[::1]");
    assert_string_equal(ifs.hosts.v[2], "mx.example");
    assert_int_equal(inet_interfaces_parse("", &ifs, &err), -1);
    assert_non_null(strstr(strbuf_str(&err), "no address to listen on"));
    assert_false(ifs.all || ifs.loopback_only);
    assert_int_equal(ifs.hosts.n, 0);
    inet_interfaces_release(&ifs);
    strbuf_release(&err);
}

int main(void)
{
    msg_init("test_config_inet", true);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(protocols_words),
        cmocka_unit_test(protocols_hostile),
        cmocka_unit_test(interfaces_words),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
