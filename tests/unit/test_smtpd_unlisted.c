/* smtpd_unlisted_find: the mail_addr_find key order used at RCPT, with
 * hostile addresses (no domain, empty local part, delimiter only, keys
 * that look like table syntax). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"
#include "maps.h"
#include "smtpd.h"

static maps *open_inline(const char *spec)
{
    strbuf err = STRBUF_INIT;
    maps *m = maps_open("virtual_mailbox_maps", spec, 0, &err);
    assert_non_null(m);
    strbuf_release(&err);
    return m;
}

static int setup(void **state)
{
    (void)state;
    strbuf err = STRBUF_INIT;
    const char *text = "recipient_delimiter = +\n";
    assert_int_equal(config_load_text("test", text, strlen(text), &err), 0);
    strbuf_release(&err);
    return 0;
}

static void key_order(void **state)
{
    (void)state;
    maps *m = open_inline("inline:{alice@v.example=a/, @catch.example=c/, bob=local}");
    assert_int_equal(smtpd_unlisted_find(m, "p", "alice@v.example", false), 1);
    assert_int_equal(smtpd_unlisted_find(m, "p", "ALICE@V.EXAMPLE", false), 1);
    assert_int_equal(smtpd_unlisted_find(m, "p", "alice+x@v.example", false), 1);
    assert_int_equal(smtpd_unlisted_find(m, "p", "alice-x@v.example", false), 0);
    assert_int_equal(smtpd_unlisted_find(m, "p", "zed@catch.example", false), 1);
    /* the local part alone is a key only for local_recipient_maps */
    assert_int_equal(smtpd_unlisted_find(m, "p", "bob@v.example", false), 0);
    assert_int_equal(smtpd_unlisted_find(m, "p", "bob@v.example", true), 1);
    assert_int_equal(smtpd_unlisted_find(m, "p", "bob+x@v.example", true), 1);
    /* @domain is not a key for local (Postfix: local(8) has no catch-all) */
    assert_int_equal(smtpd_unlisted_find(m, "p", "zed@catch.example", true), 0);
    maps_free(&m);
}

static void hostile_addresses(void **state)
{
    (void)state;
    maps *m = open_inline("inline:{a@v.example=a/, @v.example=catch/}");
    /* an empty local part still falls to the domain's catch-all, as in Postfix */
    assert_int_equal(smtpd_unlisted_find(m, "p", "@v.example", false), 1);
    assert_int_equal(smtpd_unlisted_find(m, "p", "+@v.example", false), 1);
    /* no domain: never the @domain key, never the empty key */
    assert_int_equal(smtpd_unlisted_find(m, "p", "v.example", false), 0);
    assert_int_equal(smtpd_unlisted_find(m, "p", "", false), 0);
    assert_int_equal(smtpd_unlisted_find(m, "p", "", true), 0);
    /* table-looking and path-looking input is just a key */
    assert_int_equal(smtpd_unlisted_find(m, "p", "a/@w.example", false), 0);
    assert_int_equal(smtpd_unlisted_find(m, "p", "../../etc/passwd@w.example", false), 0);
    assert_int_equal(smtpd_unlisted_find(m, "p", "a@v.example@w.example", false), 0);
    maps_free(&m);
    assert_int_equal(smtpd_unlisted_find(NULL, "p", "a@v.example", false), 0);
}

static void table_failure(void **state)
{
    (void)state;
    strbuf err = STRBUF_INIT;
    maps *m = maps_open("virtual_mailbox_maps", "fail:down", 0, &err);
    assert_non_null(m);
    assert_int_equal(smtpd_unlisted_find(m, "virtual_mailbox_maps", "a@v.example", false), -1);
    maps_free(&m);
    strbuf_release(&err);
}

/* A virtual alias domain's address is known when a canonical table
 * rewrites it (cleanup maps it before virtual alias expansion), as in
 * Postfix's check_rcpt_maps; otherwise 550 5.1.1. Senders: 5.1.0. */
static void canonical_maps_make_known(void **state)
{
    (void)state;
    strbuf err = STRBUF_INIT, reply = STRBUF_INIT;
    const char *text = "recipient_delimiter = +\n"
                       "mydestination = localhost\n"
                       "local_recipient_maps =\n"
                       "virtual_alias_domains = virt.example\n"
                       "recipient_canonical_maps = inline:{someone@virt.example=u@localhost}\n"
                       "sender_canonical_maps = inline:{boss@virt.example=u@localhost}\n";
    assert_int_equal(config_load_text("test", text, strlen(text), &err), 0);
    smtpd_unlisted_init();
    struct smtpd_state *s = NULL; /* not consulted */
    assert_int_equal(smtpd_unlisted_address(s, "someone@virt.example", false, &reply), 0);
    assert_int_equal(smtpd_unlisted_address(s, "someone+x@virt.example", false, &reply), 0);
    assert_int_equal(smtpd_unlisted_address(s, "other@virt.example", false, &reply), 550);
    assert_string_equal(strbuf_str(&reply), "550 5.1.1 <other@virt.example>: Recipient address "
                                            "rejected: User unknown in virtual alias table");
    /* sender_canonical_maps counts for senders only */
    assert_int_equal(smtpd_unlisted_address(s, "boss@virt.example", true, &reply), 0);
    assert_int_equal(smtpd_unlisted_address(s, "boss@virt.example", false, &reply), 550);
    assert_int_equal(smtpd_unlisted_address(s, "nobody@virt.example", true, &reply), 550);
    assert_string_equal(strbuf_str(&reply), "550 5.1.0 <nobody@virt.example>: Sender address "
                                            "rejected: User unknown in virtual alias table");
    strbuf_release(&err);
    strbuf_release(&reply);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(key_order),
        cmocka_unit_test(hostile_addresses),
        cmocka_unit_test(table_failure),
        cmocka_unit_test(canonical_maps_make_known),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
