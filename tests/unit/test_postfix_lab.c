/* postfix_lab: the pure parts of postfix check's lab checklist --
 * mydestination membership with odd separators and case, and mailbox
 * writability (missing, foreign-owned, wrong type, Maildir subdirectories,
 * an mbox file) in a temporary tree. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "postfix_lab.h"
#include "strbuf.h"

static void mydestination(void **state)
{
    (void)state;
    assert_true(
        postfix_lab_mydestination("host.example.org, localhost, example.org", "example.org", ""));
    assert_true(postfix_lab_mydestination("host\tlocalhost,,EXAMPLE.ORG", "example.org", ""));
    assert_false(postfix_lab_mydestination("host.example.org, localhost", "example.org", ""));
    /* a suffix or a longer name is not the domain */
    assert_false(postfix_lab_mydestination("sub.example.org, example.org.evil", "example.org", ""));
    /* handled elsewhere, or a null client, or no domain at all */
    assert_true(postfix_lab_mydestination("localhost", "example.org", " , example.org"));
    assert_true(postfix_lab_mydestination(" , ", "example.org", ""));
    assert_true(postfix_lab_mydestination("localhost", "", ""));
}

static void mailboxes(void **state)
{
    (void)state;
    if (getuid() != 0)
        skip(); /* needs chown to another account */
    char home[] = "/tmp/test_postfix_lab_XXXXXX";
    assert_non_null(mkdtemp(home));
    uid_t u = 4242;
    gid_t g = 4242;
    assert_int_equal(chown(home, u, g), 0);
    strbuf why = STRBUF_INIT, p = STRBUF_INIT;
    /* missing Maildir in the user's own home: local creates it */
    assert_true(postfix_lab_mailbox(home, "Maildir/", u, g, &why));
    /* a root-owned Maildir */
    strbuf_printf(&p, "%s/Maildir", home);
    assert_int_equal(mkdir(p.s, 0755), 0);
    assert_false(postfix_lab_mailbox(home, "Maildir/", u, g, &why));
    assert_non_null(strstr(why.s, "not writable by its user (owner root, mode 0755)"));
    /* owned, but new/ is not */
    assert_int_equal(chown(p.s, u, g), 0);
    assert_true(postfix_lab_mailbox(home, "Maildir/", u, g, &why));
    strbuf_puts(&p, "/new");
    assert_int_equal(mkdir(p.s, 0700), 0);
    strbuf_reset(&why);
    assert_false(postfix_lab_mailbox(home, "Maildir/", u, g, &why));
    assert_non_null(strstr(why.s, "Maildir directory"));
    assert_int_equal(chown(p.s, u, g), 0);
    assert_true(postfix_lab_mailbox(home, "Maildir/", u, g, &why));
    /* a file where the Maildir should be */
    strbuf_reset(&p);
    strbuf_printf(&p, "%s/Mail", home);
    FILE *fp = fopen(p.s, "w");
    assert_non_null(fp);
    fclose(fp);
    strbuf_reset(&why);
    assert_false(postfix_lab_mailbox(home, "Mail/", u, g, &why));
    assert_non_null(strstr(why.s, "is not a directory"));
    /* the same file as an mbox: root's 0644 is not the user's */
    strbuf_reset(&why);
    assert_false(postfix_lab_mailbox(home, "Mail", u, g, &why));
    assert_int_equal(chown(p.s, u, g), 0);
    assert_true(postfix_lab_mailbox(home, "Mail", u, g, &why));
    /* group-writable through the primary group */
    assert_int_equal(chown(p.s, 0, g), 0);
    assert_int_equal(chmod(p.s, 0660), 0);
    assert_true(postfix_lab_mailbox(home, "Mail", u, g, &why));
    /* a home the user cannot write: a missing mailbox cannot be made */
    assert_int_equal(chown(home, 0, 0), 0);
    strbuf_reset(&why);
    assert_false(postfix_lab_mailbox(home, "Other/", u, g, &why));
    assert_non_null(strstr(why.s, "does not exist"));
    strbuf_reset(&p);
    strbuf_printf(&p, "rm -rf '%s'", home);
    assert_int_equal(system(p.s), 0);
    strbuf_release(&why);
    strbuf_release(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(mydestination),
        cmocka_unit_test(mailboxes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
