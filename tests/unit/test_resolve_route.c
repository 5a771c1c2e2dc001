/* Unit tests: resolve_route() - transport:nexthop per relayhost, transport_maps, classes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"
#include "msg.h"
#include "resolve.h"

static resolve *open_with(const char *text)
{
    strbuf err = STRBUF_INIT;
    assert_int_equal(config_load_text("test", text, strlen(text), &err), 0);
    resolve *r = resolve_open(&err);
    assert_non_null(r);
    strbuf_release(&err);
    return r;
}

static void check(resolve *r, const char *addr, enum resolve_class cls, const char *transport,
                  const char *nexthop)
{
    resolve_route_t rt = {.transport = STRBUF_INIT, .nexthop = STRBUF_INIT};
    strbuf err = STRBUF_INIT;
    assert_int_equal(resolve_route(r, addr, &rt, &err), 0);
    assert_int_equal(rt.cls, cls);
    assert_string_equal(strbuf_str(&rt.transport), transport);
    assert_string_equal(strbuf_str(&rt.nexthop), nexthop);
    strbuf_release(&rt.transport);
    strbuf_release(&rt.nexthop);
    strbuf_release(&err);
}

static const char *BASE = "myhostname = mx.example.org\n"
                          "mydomain = example.org\n"
                          "mydestination = $myhostname, localhost\n"
                          "inet_interfaces = loopback-only\n"
                          "virtual_alias_domains = valias.example\n"
                          "virtual_mailbox_domains = vmbox.example\n"
                          "relay_domains = relayed.example\n";

static void test_classes(void **state)
{
    resolve *r = open_with(BASE);
    check(r, "user@mx.example.org", RESOLVE_LOCAL, "local", "mx.example.org");
    check(r, "user", RESOLVE_LOCAL, "local", "mx.example.org");
    check(r, "user@valias.example", RESOLVE_VIRTUAL_ALIAS, "error",
          "5.1.1 User unknown in virtual alias table");
    check(r, "user@vmbox.example", RESOLVE_VIRTUAL_MAILBOX, "virtual", "vmbox.example");
    check(r, "user@relayed.example", RESOLVE_RELAY, "relay", "relayed.example");
    check(r, "user@Other.Example.", RESOLVE_DEFAULT, "smtp", "other.example");
    resolve_free(&r);
}

static void test_relayhost_and_transport_values(void **state)
{
    strbuf text = STRBUF_INIT;
    strbuf_printf(&text,
                  "%srelayhost = [smarthost.example]:587\n"
                  "default_transport = error:5.7.1 no outbound mail\n",
                  BASE);
    resolve *r = open_with(text.s);
    check(r, "user@other.example", RESOLVE_DEFAULT, "error", "5.7.1 no outbound mail");
    check(r, "user@relayed.example", RESOLVE_RELAY, "relay", "[smarthost.example]:587");
    check(r, "user@mx.example.org", RESOLVE_LOCAL, "local", "mx.example.org");
    resolve_free(&r);
    strbuf_release(&text);
}

static void test_transport_maps_order(void **state)
{
    strbuf text = STRBUF_INIT;
    strbuf_printf(&text,
                  "%stransport_maps = inline:{ {vip@other.example=smtp:[vip.host]}, "
                  "other.example=lmtp:, .sub.example=relay:[inner]:2525, "
                  "{postmaster@mx.example.org=:elsewhere} }\n",
                  BASE);
    resolve *r = open_with(text.s);
    check(r, "vip@other.example", RESOLVE_DEFAULT, "smtp", "[vip.host]");       /* full address */
    check(r, "joe@other.example", RESOLVE_DEFAULT, "lmtp", "other.example");    /* domain */
    check(r, "joe@a.b.sub.example", RESOLVE_DEFAULT, "relay", "[inner]:2525");  /* parent */
    check(r, "joe@sub.example", RESOLVE_DEFAULT, "smtp", "sub.example");        /* not a parent */
    check(r, "postmaster@mx.example.org", RESOLVE_LOCAL, "local", "elsewhere"); /* keep transport */
    resolve_free(&r);
    strbuf_release(&text);
}

int main(void)
{
    msg_init("test_resolve", true);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_classes),
        cmocka_unit_test(test_relayhost_and_transport_values),
        cmocka_unit_test(test_transport_maps_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
