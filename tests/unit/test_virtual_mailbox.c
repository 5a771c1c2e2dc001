/* virtual_mailbox: hostile table results never escape virtual_mailbox_base. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "virtual_mailbox.h"

static int path(const char *base, const char *result, strbuf *out, bool *maildir)
{
    strbuf err = STRBUF_INIT;
    int rc = virtual_mailbox_path(base, result, out, maildir, &err);
    if (rc < 0)
        assert_true(err.len > 0);
    strbuf_release(&err);
    return rc;
}

static void good_results(void **state)
{
    (void)state;
    strbuf p = STRBUF_INIT;
    bool md = false;
    assert_int_equal(path("/var/vmail", "vdom.example/alice/", &p, &md), 0);
    assert_string_equal(p.s, "/var/vmail/vdom.example/alice");
    assert_true(md);
    assert_int_equal(path("/var/vmail/", "vdom.example/bob", &p, &md), 0);
    assert_string_equal(p.s, "/var/vmail/vdom.example/bob");
    assert_false(md);
    assert_int_equal(path("/", "box", &p, &md), 0);
    assert_string_equal(p.s, "/box");
    /* names that merely contain dots are fine */
    assert_int_equal(path("/v", "a..b/.c/", &p, &md), 0);
    assert_string_equal(p.s, "/v/a..b/.c");
    strbuf_release(&p);
}

static void hostile_results(void **state)
{
    (void)state;
    strbuf p = STRBUF_INIT;
    bool md = false;
    static const char *const bad[] = {"",          "/etc/passwd", "/",     "..",       "../x",
                                      "a/../../x", "a/..",        "a/../", "a//..//b", "/",
                                      "///",       "a\nb",        "a\tb/", "a\x7f"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(path("/var/vmail", bad[i], &p, &md), -1);
        assert_int_equal(p.len, 0);
    }
    assert_int_equal(path("", "a", &p, &md), -1);
    assert_int_equal(path("var/vmail", "a", &p, &md), -1);
    assert_int_equal(path("/var/../etc", "a", &p, &md), -1);
    assert_int_equal(path(NULL, "a", &p, &md), -1);
    assert_int_equal(path("/v", NULL, &p, &md), -1);
    strbuf_release(&p);
}

static void ids(void **state)
{
    (void)state;
    strbuf err = STRBUF_INIT;
    unsigned long id = 0;
    assert_int_equal(virtual_mailbox_id("5000", 100, &id, &err), 0);
    assert_int_equal(id, 5000);
    assert_int_equal(virtual_mailbox_id("99", 100, &id, &err), -2);
    assert_int_equal(virtual_mailbox_id("0", 100, &id, &err), -2);
    assert_int_equal(virtual_mailbox_id("0", 0, &id, &err), 0);
    static const char *const bad[] = {
        "", "-1", "+5", " 5", "5 ", "5a", "0x10", "1e3", "99999999999999999999999", "4294967295"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(virtual_mailbox_id(bad[i], 0, &id, &err), -1);
    assert_int_equal(virtual_mailbox_id(NULL, 0, &id, &err), -1);
    strbuf_release(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(good_results),
        cmocka_unit_test(hostile_results),
        cmocka_unit_test(ids),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
