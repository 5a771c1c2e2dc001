/* Unit tests: the destination queue of a recipient (qmgr/qmgr_queue_name.c):
 * per-user queues ignore address extensions as Postfix's qmgr does. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "qmgr_queue_name.h"

static const char *name(const char *addr, const char *nexthop, const char *delims, bool per_rcpt)
{
    static strbuf out = STRBUF_INIT;
    qmgr_queue_name(&out, addr, nexthop, delims, per_rcpt);
    return strbuf_str(&out);
}

static void test_per_recipient_strips_the_extension(void **state)
{
    (void)state;
    assert_string_equal(name("user+1@example.com", "example.com", "+", true), "user@example.com");
    assert_string_equal(name("user+a+b@example.com", "example.com", "+", true), "user@example.com");
    assert_string_equal(name("User@Example.COM", "Example.COM", "+", true), "user@example.com");
    /* Several delimiters: the first one found cuts. */
    assert_string_equal(name("a-b+c@x", "x", "+-", true), "a@x");
    /* No delimiter configured: the extension is part of the user. */
    assert_string_equal(name("user+1@x", "x", "", true), "user+1@x");
    assert_string_equal(name("user+1@x", "x", NULL, true), "user+1@x");
    /* The base must not be empty; owner-/-request stay whole with '-'. */
    assert_string_equal(name("+x@h", "h", "+", true), "+x@h");
    assert_string_equal(name("owner-list@h", "h", "-", true), "owner-list@h");
    /* The last '@' separates the domain; no '@' is all local part. */
    assert_string_equal(name("\"a@b\"+e@h", "h", "+", true), "\"a@b\"@h");
    assert_string_equal(name("root+x", "localhost", "+", true), "root@localhost");
    /* The nexthop is part of the key: the same user elsewhere is another queue. */
    assert_string_equal(name("user+1@a", "relay.example:25", "+", true), "user@relay.example:25");
}

static void test_shared_transport_uses_the_nexthop(void **state)
{
    (void)state;
    assert_string_equal(name("user+1@example.com", "[MX.Example.com]:25", "+", false),
                        "[mx.example.com]:25");
    assert_string_equal(name("anyone@example.com", "example.com", "+", false), "example.com");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_per_recipient_strips_the_extension),
        cmocka_unit_test(test_shared_transport_uses_the_nexthop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
