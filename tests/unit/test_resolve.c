/* Unit tests: resolve (address classes, canonical form). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <stdlib.h>

#include <cmocka.h>

#include "config.h"
#include "resolve.h"
#include "strbuf.h"

static const char main_cf[] = "myhostname = mx.example.com\n"
                              "mydomain = example.com\n"
                              "myorigin = $mydomain\n"
                              "mydestination = $myhostname, localhost\n"
                              "relay_domains = relay.example, .sub.example\n"
                              "virtual_alias_domains = alias.example\n"
                              "virtual_mailbox_domains = texthash:" TEST_DATA_DIR "/resolve-vmbox\n"
                              "inet_interfaces = 192.0.2.10\n"
                              "proxy_interfaces = 198.51.100.7\n";

static enum resolve_class cls(resolve *r, const char *addr, bool *routed)
{
    resolve_result rr;
    strbuf err = STRBUF_INIT;
    assert_int_equal(resolve_address(r, addr, &rr, &err), 0);
    strbuf_release(&err);
    if (routed)
        *routed = rr.routed;
    return rr.cls;
}

static void classes(void **state)
{
    strbuf err = STRBUF_INIT;
    assert_int_equal(config_load_text("test", main_cf, strlen(main_cf), &err), 0);
    resolve *r = resolve_open(&err);
    if (!r)
        fail_msg("resolve_open: %s", strbuf_str(&err));
    bool routed = true;
    assert_int_equal(cls(r, "u@mx.example.com", &routed), RESOLVE_LOCAL);
    assert_false(routed);
    assert_int_equal(cls(r, "u@MX.Example.COM.", NULL), RESOLVE_LOCAL);
    assert_int_equal(cls(r, "u@localhost", NULL), RESOLVE_LOCAL);
    assert_int_equal(cls(r, "u@[192.0.2.10]", NULL), RESOLVE_LOCAL);
    assert_int_equal(cls(r, "u@[198.51.100.7]", NULL), RESOLVE_LOCAL);
    assert_int_equal(cls(r, "u@[203.0.113.1]", NULL), RESOLVE_DEFAULT);
    assert_int_equal(cls(r, "u@alias.example", NULL), RESOLVE_VIRTUAL_ALIAS);
    assert_int_equal(cls(r, "u@vmbox.example", NULL), RESOLVE_VIRTUAL_MAILBOX);
    assert_int_equal(cls(r, "u@relay.example", NULL), RESOLVE_RELAY);
    assert_int_equal(cls(r, "u@a.sub.example", NULL), RESOLVE_RELAY);
    assert_int_equal(cls(r, "u@elsewhere.org", NULL), RESOLVE_DEFAULT);
    /* domainless: gets $myorigin (example.com), which is not local here */
    assert_int_equal(cls(r, "postmaster", NULL), RESOLVE_DEFAULT);
    /* routing operators in the local part */
    assert_int_equal(cls(r, "u%elsewhere.org@mx.example.com", &routed), RESOLVE_LOCAL);
    assert_true(routed);
    cls(r, "elsewhere.org!u@mx.example.com", &routed);
    assert_true(routed);
    cls(r, "u@elsewhere.org@mx.example.com", &routed);
    assert_true(routed);
    assert_true(resolve_is_interface_addr(r, "192.0.2.10"));
    assert_true(resolve_is_interface_addr(r, "::ffff:192.0.2.10"));
    assert_false(resolve_is_interface_addr(r, "192.0.2.11"));
    assert_string_equal(resolve_class_name(RESOLVE_RELAY), "relay");
    resolve_free(&r);
    assert_null(r);
    strbuf_release(&err);
}

static void canonical(void **state)
{
    strbuf err = STRBUF_INIT, a = STRBUF_INIT;
    assert_int_equal(config_load_text("test", main_cf, strlen(main_cf), &err), 0);
    strbuf_set(&a, "user");
    resolve_canonical(&a);
    assert_string_equal(strbuf_str(&a), "user@example.com");
    strbuf_set(&a, "user@host");
    resolve_canonical(&a);
    assert_string_equal(strbuf_str(&a), "user@host");
    strbuf_set(&a, "");
    resolve_canonical(&a);
    assert_string_equal(strbuf_str(&a), "");
    strbuf_release(&a);
    strbuf_release(&err);
}

static void myorigin_file(void **state)
{
    char path[] = "/tmp/mailname-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "origin.example\nignored\n", 23), 23);
    close(fd);
    strbuf text = STRBUF_INIT, err = STRBUF_INIT;
    strbuf_printf(&text, "myorigin = %s\n", path);
    assert_int_equal(config_load_text("test", text.s, text.len, &err), 0);
    assert_string_equal(resolve_myorigin(), "origin.example");
    unlink(path);
    strbuf_release(&text);
    strbuf_release(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(classes),
        cmocka_unit_test(canonical),
        cmocka_unit_test(myorigin_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
