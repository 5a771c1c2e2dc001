/* Unit tests: access_table (Postfix's lookup order, the action parser with
 * hostile values). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "access_table.h"

/* "key/F key key" : F marks a full key. */
static void expect_keys(struct access_keys *k, const char *const *want)
{
    size_t n = 0;
    while (want[n])
        n++;
    for (size_t i = 0; i < k->n && i < n; i++) {
        const char *w = want[i];
        bool full = w[0] == '!';
        assert_string_equal(k->v[i].key, w + full);
        assert_int_equal(k->v[i].full, full);
    }
    assert_int_equal(k->n, n);
    access_keys_release(k);
}

static void address_keys(void **state)
{
    (void)state;
    struct access_keys k = {0};
    access_keys_address(&k, "user+ext@sub.example.com", "+", true, "<>");
    expect_keys(&k, (const char *[]){"!user+ext@sub.example.com", "user@sub.example.com",
                                     "sub.example.com", "example.com", "com", "user+ext@",
                                     "user@", NULL});
    access_keys_address(&k, "user@sub.example.com", "+", false, "<>");
    expect_keys(&k, (const char *[]){"!user@sub.example.com", "sub.example.com", ".example.com",
                                     ".com", "user@", NULL});
    /* No recipient_delimiter: the '+' is part of the local part. */
    access_keys_address(&k, "a+b@x.org", "", true, "<>");
    expect_keys(&k, (const char *[]){"!a+b@x.org", "x.org", "org", "a+b@", NULL});
    /* Several delimiter characters: the first one found wins. */
    access_keys_address(&k, "a-b+c@x", "+-", true, "<>");
    expect_keys(&k, (const char *[]){"!a-b+c@x", "a@x", "x", "a-b+c@", "a@", NULL});
    access_keys_address(&k, "postmaster", "+", true, "<>");
    expect_keys(&k, (const char *[]){"!postmaster", "postmaster@", NULL});
    access_keys_address(&k, "", "+", true, "<>");
    expect_keys(&k, (const char *[]){"!<>", NULL});
    access_keys_address(&k, "", "+", true, "");
    expect_keys(&k, (const char *[]){NULL});
    /* Hostile: empty local part, trailing dot, empty labels. */
    access_keys_address(&k, "@x..y.", "+", true, "<>");
    expect_keys(&k, (const char *[]){"!@x..y.", "x..y.", ".y.", "y.", NULL});
}

static void domain_and_ip_keys(void **state)
{
    (void)state;
    struct access_keys k = {0};
    access_keys_domain(&k, "mail.example.com", true);
    expect_keys(&k, (const char *[]){"!mail.example.com", "example.com", "com", NULL});
    access_keys_domain(&k, "mail.example.com", false);
    expect_keys(&k, (const char *[]){"!mail.example.com", ".example.com", ".com", NULL});
    access_keys_domain(&k, "localhost", true);
    expect_keys(&k, (const char *[]){"!localhost", NULL});
    access_keys_domain(&k, "", true);
    expect_keys(&k, (const char *[]){NULL});
    access_keys_ip(&k, "192.0.2.10");
    expect_keys(&k, (const char *[]){"!192.0.2.10", "192.0.2", "192.0", "192", NULL});
    access_keys_ip(&k, "2001:db8::1");
    expect_keys(&k, (const char *[]){"!2001:db8::1", "2001:db8:", "2001:db8", "2001", NULL});
    access_keys_ip(&k, "::1");
    expect_keys(&k, (const char *[]){"!::1", ":", NULL});
}

static void parse(struct access_action *a, const char *v, enum access_kind kind, int code,
                  const char *dsn, const char *text)
{
    access_action_parse(a, v);
    assert_int_equal(a->kind, kind);
    assert_int_equal(a->code, code);
    if (dsn)
        assert_string_equal(a->dsn, dsn);
    if (text)
        assert_string_equal(strbuf_str(&a->text), text);
}

static void actions(void **state)
{
    (void)state;
    struct access_action a = ACCESS_ACTION_INIT;
    parse(&a, "OK", ACCESS_OK, 0, NULL, "");
    parse(&a, "permit", ACCESS_OK, 0, NULL, "");
    parse(&a, "dunno", ACCESS_DUNNO, 0, NULL, "");
    parse(&a, "REJECT", ACCESS_REJECT, 554, "5.7.1", "");
    parse(&a, "REJECT go away", ACCESS_REJECT, 554, "5.7.1", "go away");
    parse(&a, "reject  5.7.0 no", ACCESS_REJECT, 554, "5.7.0", "no");
    parse(&a, "DEFER later", ACCESS_REJECT, 450, "4.7.1", "later");
    assert_false(a.numeric);
    parse(&a, "550 5.1.1 nobody", ACCESS_REJECT, 550, "5.1.1", "nobody");
    assert_true(a.numeric);
    parse(&a, "450 5.1.1 class follows code", ACCESS_REJECT, 450, "4.1.1", "class follows code");
    parse(&a, "421 bye", ACCESS_REJECT, 421, "4.7.1", "bye");
    parse(&a, "550", ACCESS_REJECT, 550, "5.7.1", "");
    parse(&a, "550 5.7.1", ACCESS_REJECT, 550, "5.7.1", "");
    parse(&a, "550 5.7.1000 not a dsn", ACCESS_REJECT, 550, "5.7.1", "5.7.1000 not a dsn");
    parse(&a, "DEFER_IF_PERMIT maybe", ACCESS_DEFER_IF_PERMIT, 450, "4.7.1", "maybe");
    parse(&a, "DEFER_IF_REJECT", ACCESS_DEFER_IF_REJECT, 450, "4.7.1", "");
    /* postgrey's answer: the enhanced code leads the text, its class is 4. */
    parse(&a, "DEFER_IF_PERMIT 4.2.0 Greylisted, see x", ACCESS_DEFER_IF_PERMIT, 450, "4.2.0",
          "Greylisted, see x");
    parse(&a, "defer_if_reject 5.7.1 no", ACCESS_DEFER_IF_REJECT, 450, "4.7.1", "no");
    parse(&a, "DISCARD spam", ACCESS_DISCARD, 0, NULL, "spam");
    parse(&a, "HOLD", ACCESS_HOLD, 0, NULL, "");
    parse(&a, "REDIRECT a@b", ACCESS_REDIRECT, 0, NULL, "a@b");
    parse(&a, "FILTER smtp:[127.0.0.1]:10025", ACCESS_FILTER, 0, NULL, "smtp:[127.0.0.1]:10025");
    parse(&a, "PREPEND X-Tag: yes", ACCESS_PREPEND, 0, NULL, "X-Tag: yes");
    parse(&a, "WARN look", ACCESS_WARN, 0, NULL, "look");
    parse(&a, "INFO note", ACCESS_INFO, 0, NULL, "note");
    parse(&a, "BCC archive@x", ACCESS_BCC, 0, NULL, "archive@x");
    parse(&a, "permit_mynetworks, reject", ACCESS_RESTRICTIONS, 0, NULL,
          "permit_mynetworks, reject");
    parse(&a, "myclass", ACCESS_RESTRICTIONS, 0, NULL, "myclass");

    /* Hostile values. */
    parse(&a, "", ACCESS_INVALID, 0, NULL, NULL);
    parse(&a, "   ", ACCESS_INVALID, 0, NULL, NULL);
    parse(&a, "250 fine", ACCESS_INVALID, 0, NULL, NULL);
    parse(&a, "999 x", ACCESS_INVALID, 0, NULL, NULL);
    parse(&a, "600 x", ACCESS_INVALID, 0, NULL, NULL);
    parse(&a, "4.7.1 x", ACCESS_RESTRICTIONS, 0, NULL, "4.7.1 x"); /* not a code: a list */
    parse(&a, "5500 x", ACCESS_RESTRICTIONS, 0, NULL, NULL);
    parse(&a, "REDIRECT", ACCESS_INVALID, 0, NULL, NULL);
    parse(&a, "FILTER nocolon", ACCESS_INVALID, 0, NULL, NULL);
    parse(&a, "PREPEND no colon here", ACCESS_INVALID, 0, NULL, NULL);
    parse(&a, "PREPEND : empty name", ACCESS_INVALID, 0, NULL, NULL);
    parse(&a, "REJECT a\r\n250 smuggled", ACCESS_REJECT, 554, "5.7.1", "a??250 smuggled");
    parse(&a, "REJECT caf\xc3\xa9", ACCESS_REJECT, 554, "5.7.1", "caf\xc3\xa9");
    parse(&a, "REJECT bad\xff", ACCESS_REJECT, 554, "5.7.1", "bad?");
    char huge[5000];
    memset(huge, 'x', sizeof(huge));
    memcpy(huge, "REJECT ", 7);
    huge[sizeof(huge) - 1] = 0;
    access_action_parse(&a, huge);
    assert_int_equal(a.kind, ACCESS_REJECT);
    assert_true(a.text.len <= ACCESS_TEXT_MAX);
    access_action_release(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(address_keys),
        cmocka_unit_test(domain_and_ip_keys),
        cmocka_unit_test(actions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
