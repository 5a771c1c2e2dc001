/* Unit tests: MX ordering and next-hop parsing of the smtp agent
 * (smtp/smtp_dns.c), without any DNS traffic (MX lookups are off). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>
#include <stdio.h>

#include "mem.h"
#include "smtp.h"

struct smtp_config smtp_cfg;

static size_t rnd_first(size_t n)
{
    (void)n;
    return 0;
}

static size_t rnd_last(size_t n)
{
    return n - 1;
}

static size_t rnd_libc(size_t n)
{
    return (size_t)random() % n;
}

static struct smtp_mx *make(const unsigned *prefs, size_t n)
{
    struct smtp_mx *mx = xcalloc(n, sizeof(*mx));
    for (size_t i = 0; i < n; i++) {
        char name[32];
        snprintf(name, sizeof(name), "h%zu", i);
        mx[i].host = xstrdup(name);
        mx[i].pref = prefs[i];
    }
    return mx;
}

static void preference_order(void **state)
{
    (void)state;
    unsigned prefs[] = {30, 10, 20, 5};
    struct smtp_mx *mx = make(prefs, 4);
    smtp_mx_sort(mx, 4, rnd_first);
    assert_string_equal(mx[0].host, "h3");
    assert_string_equal(mx[1].host, "h1");
    assert_string_equal(mx[2].host, "h2");
    assert_string_equal(mx[3].host, "h0");
    smtp_mx_free(mx, 4);
}

/* Equal preferences are shuffled, but only among themselves. */
static void equal_preference_randomised(void **state)
{
    (void)state;
    unsigned prefs[] = {10, 20, 10, 10, 20};
    struct smtp_mx *a = make(prefs, 5), *b = make(prefs, 5);
    smtp_mx_sort(a, 5, rnd_first);
    smtp_mx_sort(b, 5, rnd_last);
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal(a[i].pref, i < 3 ? 10 : 20);
        assert_int_equal(b[i].pref, i < 3 ? 10 : 20);
    }
    bool differ = false;
    for (size_t i = 0; i < 3; i++)
        differ |= strcmp(a[i].host, b[i].host) != 0;
    assert_true(differ);
    /* Every host still there exactly once. */
    int seen = 0;
    for (size_t i = 0; i < 5; i++)
        seen |= 1 << (a[i].host[1] - '0');
    assert_int_equal(seen, 0x1f);
    /* Over many random runs each of the three goes first at least once. */
    int first = 0;
    srandom(1);
    for (int run = 0; run < 200; run++) {
        struct smtp_mx *c = make(prefs, 5);
        smtp_mx_sort(c, 5, rnd_libc);
        first |= 1 << (c[0].host[1] - '0');
        smtp_mx_free(c, 5);
    }
    assert_int_equal(first, (1 << 0) | (1 << 2) | (1 << 3));
    smtp_mx_free(a, 5);
    smtp_mx_free(b, 5);
}

static void nexthop_forms(void **state)
{
    (void)state;
    smtp_cfg.dns = false;
    smtp_cfg.family = AF_INET;
    smtp_cfg.fallback_relay = "";
    smtp_cfg.myhostname = "me.test";
    struct smtp_targets t;
    strbuf reason = STRBUF_INIT;
    const char *dsn = NULL;
    assert_int_equal(smtp_resolve_nexthop("[127.0.0.1]:2525", &t, &reason, &dsn), 0);
    assert_int_equal(t.n, 1);
    assert_string_equal(t.v[0].host, "127.0.0.1");
    assert_string_equal(t.v[0].addr, "127.0.0.1");
    assert_int_equal(t.v[0].port, 2525);
    smtp_targets_free(&t);
    assert_int_equal(smtp_resolve_nexthop("[127.0.0.1]", &t, &reason, &dsn), 0);
    assert_int_equal(t.v[0].port, 25);
    smtp_targets_free(&t);
    assert_int_equal(smtp_resolve_nexthop("localhost:smtp", &t, &reason, &dsn), 0);
    assert_true(t.n >= 1);
    assert_string_equal(t.v[0].host, "localhost");
    smtp_targets_free(&t);
    assert_int_equal(smtp_resolve_nexthop("[127.0.0.1", &t, &reason, &dsn), SMTP_RESOLVE_TEMP);
    assert_string_equal(dsn, "4.3.5");
    assert_int_equal(smtp_resolve_nexthop("bad host!", &t, &reason, &dsn), SMTP_RESOLVE_TEMP);
    /* unix: is LMTP only */
    assert_int_equal(smtp_resolve_nexthop("unix:/tmp/x", &t, &reason, &dsn), SMTP_RESOLVE_TEMP);
    smtp_cfg.lmtp = true;
    assert_int_equal(smtp_resolve_nexthop("unix:private/dovecot-lmtp", &t, &reason, &dsn), 0);
    assert_int_equal(t.n, 1);
    assert_string_equal(t.v[0].path, "private/dovecot-lmtp");
    assert_string_equal(t.v[0].host, "me.test");
    smtp_targets_free(&t);
    assert_int_equal(smtp_resolve_nexthop("inet:127.0.0.1", &t, &reason, &dsn), 0);
    assert_int_equal(t.v[0].port, 24);
    smtp_targets_free(&t);
    smtp_cfg.lmtp = false;
    /* Fallback relays come after the destination's own hosts. */
    smtp_cfg.fallback_relay = "[127.0.0.2]:26, [127.0.0.3]";
    assert_int_equal(smtp_resolve_nexthop("[127.0.0.1]", &t, &reason, &dsn), 0);
    assert_int_equal(t.n, 3);
    assert_string_equal(t.v[1].addr, "127.0.0.2");
    assert_int_equal(t.v[1].port, 26);
    assert_string_equal(t.v[2].addr, "127.0.0.3");
    smtp_targets_free(&t);
    smtp_cfg.fallback_relay = "";
    strbuf_release(&reason);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(preference_order),
        cmocka_unit_test(equal_preference_randomised),
        cmocka_unit_test(nexthop_forms),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
