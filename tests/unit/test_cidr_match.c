/* Unit tests: cidr_match (address and network parsing, bad masks, matching
 * across IPv4 and IPv4-mapped IPv6). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "cidr_match.h"

static bool matches(const char *net, const char *addr)
{
    struct cidr_net n;
    struct cidr_addr a;
    const char *why = NULL;
    assert_int_equal(cidr_net_parse(net, &n, &why), 0);
    assert_int_equal(cidr_addr_parse(addr, &a), 0);
    return cidr_match(&n, &a);
}

static void parses_and_matches(void **state)
{
    (void)state;
    assert_true(matches("10.0.0.0/8", "10.255.1.2"));
    assert_false(matches("10.0.0.0/8", "11.0.0.1"));
    assert_true(matches("192.0.2.1", "192.0.2.1"));
    assert_false(matches("192.0.2.1", "192.0.2.2"));
    assert_true(matches("0.0.0.0/0", "203.0.113.9"));
    assert_true(matches("[2001:db8::]/32", "2001:db8:1::5"));
    assert_true(matches("2001:db8::/32", "[2001:db8::1]"));
    assert_false(matches("[2001:db8::]/32", "2001:db9::1"));
    assert_true(matches("[::1]/128", "::1"));
    /* IPv4 and its mapped form are one host. */
    assert_true(matches("127.0.0.0/8", "::ffff:127.0.0.1"));
    assert_true(matches("[::ffff:127.0.0.0]/104", "127.0.0.1"));
    assert_false(matches("[::ffff:127.0.0.0]/104", "128.0.0.1"));
    struct cidr_addr a;
    assert_int_equal(cidr_addr_parse("[::1]", &a), 0);
    assert_int_equal(a.family, AF_INET6);
    assert_int_equal(cidr_addr_parse("192.0.2.1", &a), 0);
    assert_int_equal(a.family, AF_INET);
}

static void bad_patterns_are_refused(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "10.1.1.1/24", /* bits beyond the prefix */
        "10.0.0.0/33", "10.0.0.0/-1", "10.0.0.0/", "10.0.0.0/8x", "10.0.0.0/08x",
        "10.0.0.0/99999999999999999999", "10.0.0.0//8", "10.0.0/8", "256.0.0.0/8",
        "[::1]/129", "[::1", "::1]", "[10.0.0.0]/8x", "", "/8", "example.com",
        "10.0.0.0/8/8", "[::1]/12 8", "1.2.3.4 ",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct cidr_net n;
        const char *why = NULL;
        if (cidr_net_parse(bad[i], &n, &why) != -1)
            fail_msg("accepted \"%s\"", bad[i]);
        assert_non_null(why);
    }
    struct cidr_addr a;
    static const char *const bad_addr[] = {"", "1.2.3", "1.2.3.4.5", "::g", "[::1", "1.2.3.4/32",
                                           "01.2.3.4x"};
    for (size_t i = 0; i < sizeof(bad_addr) / sizeof(bad_addr[0]); i++)
        if (cidr_addr_parse(bad_addr[i], &a) != -1)
            fail_msg("accepted address \"%s\"", bad_addr[i]);
}

static void looks_like_net(void **state)
{
    (void)state;
    assert_true(cidr_looks_like_net("10.0.0.0/8"));
    assert_true(cidr_looks_like_net("[::1]/128"));
    assert_false(cidr_looks_like_net("mail.example.com"));
    assert_false(cidr_looks_like_net("10.0.0.0/8x"));
    assert_false(cidr_looks_like_net("./"));
    /* Meant as a pattern, and refused as one. */
    assert_true(cidr_looks_like_net("1.2.3.4/8/8"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parses_and_matches),
        cmocka_unit_test(bad_patterns_are_refused),
        cmocka_unit_test(looks_like_net),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
