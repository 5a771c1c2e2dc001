/* Unit tests: smtp_sasl (password table key order and value split). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "smtp.h"

struct smtp_config smtp_cfg;

static void keys_are(const char *sender, const char *host, const char *dest, const char *want)
{
    strlist keys = STRLIST_INIT;
    strbuf got = STRBUF_INIT;
    smtp_sasl_passwd_keys(sender, host, dest, &keys);
    for (size_t i = 0; i < keys.n; i++)
        strbuf_printf(&got, "%s%s", i ? " " : "", keys.v[i]);
    assert_string_equal(got.s ? got.s : "", want);
    strbuf_release(&got);
    strlist_release(&keys);
}

static void test_key_order(void **state)
{
    (void)state;
    /* Postfix: host name first, then the next hop as written. */
    keys_are(NULL, "127.0.0.1", "[127.0.0.1]:2525", "127.0.0.1 [127.0.0.1]:2525");
    keys_are(NULL, "mx1.isp.example", "isp.example", "mx1.isp.example isp.example");
    keys_are("", "relay.example", "relay.example", "relay.example");
    keys_are("Alice@Client.Example", "relay.example", "[relay.example]:submission",
             "Alice@Client.Example @Client.Example relay.example [relay.example]:submission");
}

static void lookup(const char *table, const char *sender, const char *host, const char *dest,
                   enum map_result want, const char *user, const char *pass)
{
    strbuf u = STRBUF_INIT, p = STRBUF_INIT, err = STRBUF_INIT;
    smtp_cfg.sasl.passwd = maps_open("smtp_sasl_password_maps", table, 0, &err);
    assert_non_null(smtp_cfg.sasl.passwd);
    assert_int_equal(smtp_sasl_passwd_lookup(sender, host, dest, &u, &p, &err), want);
    if (want == MAP_FOUND) {
        assert_string_equal(u.s, user);
        assert_string_equal(p.s, pass);
    }
    maps_free(&smtp_cfg.sasl.passwd);
    strbuf_release(&u);
    strbuf_release(&p);
    strbuf_release(&err);
}

static void test_lookup(void **state)
{
    (void)state;
    const char *t = "inline:{ {[127.0.0.1]:2525 = bob:pw:with:colons}, relay.example=carol:x, "
                    "{@client.example = dave:y}, nopass.example=erin }";
    lookup(t, "a@client.example", "127.0.0.1", "[127.0.0.1]:2525", MAP_FOUND, "bob",
           "pw:with:colons");
    lookup(t, NULL, "Relay.Example", "[127.0.0.1]:2525", MAP_FOUND, "carol", "x");
    lookup(t, NULL, "h", "nopass.example", MAP_FOUND, "erin", "");
    lookup(t, NULL, "127.0.0.1", "[127.0.0.1]:25", MAP_NOTFOUND, NULL, NULL);
    smtp_cfg.sasl.sender_auth = true;
    lookup(t, "a@client.example", "127.0.0.1", "[127.0.0.1]:2525", MAP_FOUND, "dave", "y");
    smtp_cfg.sasl.sender_auth = false;
    lookup("fail:broken", NULL, "h", "d", MAP_TEMPFAIL, NULL, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key_order),
        cmocka_unit_test(test_lookup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
