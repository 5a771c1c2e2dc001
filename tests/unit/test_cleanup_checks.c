/* test_cleanup_checks - the action parser and header/body checks of
 * cleanup/cleanup_checks.c, with hostile header text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cleanup.h"
#include "config.h"

static char table_path[] = "/tmp/test_cleanup_checks.XXXXXX";

static void action_words(void **state)
{
    (void)state;
    const char *arg;
    size_t wl;
    assert_int_equal(cleanup_parse_action("REJECT no thanks", &arg, &wl), ACT_REJECT);
    assert_string_equal(arg, "no thanks");
    assert_int_equal(wl, 6);
    assert_int_equal(cleanup_parse_action("  reject", &arg, &wl), ACT_REJECT);
    assert_string_equal(arg, "");
    assert_int_equal(cleanup_parse_action("Ok", &arg, &wl), ACT_DUNNO);
    assert_int_equal(cleanup_parse_action("DUNNO", &arg, &wl), ACT_DUNNO);
    assert_int_equal(cleanup_parse_action("WARN\tsomething odd", &arg, &wl), ACT_WARN);
    assert_string_equal(arg, "something odd");
    assert_int_equal(cleanup_parse_action("PREPEND X-A: b", &arg, &wl), ACT_PREPEND);
    assert_string_equal(arg, "X-A: b");
    assert_int_equal(cleanup_parse_action("REPLACE X-A: b", &arg, &wl), ACT_REPLACE);
    assert_int_equal(cleanup_parse_action("IGNORE", &arg, &wl), ACT_IGNORE);
    assert_int_equal(cleanup_parse_action("HOLD", &arg, &wl), ACT_HOLD);
    assert_int_equal(cleanup_parse_action("REDIRECT a@b", &arg, &wl), ACT_REDIRECT);
    assert_int_equal(cleanup_parse_action("FILTER smtp:x", &arg, &wl), ACT_FILTER);
    assert_int_equal(cleanup_parse_action("BCC a@b", &arg, &wl), ACT_BCC);
    assert_int_equal(cleanup_parse_action("DISCARD", &arg, &wl), ACT_DISCARD);
    /* A prefix or a longer word is not an action. */
    assert_int_equal(cleanup_parse_action("REJ", &arg, &wl), ACT_UNKNOWN);
    assert_int_equal(cleanup_parse_action("REJECTED text", &arg, &wl), ACT_UNKNOWN);
    assert_int_equal(cleanup_parse_action("", &arg, &wl), ACT_UNKNOWN);
}

static int setup(void **state)
{
    (void)state;
    int fd = mkstemp(table_path);
    if (fd < 0)
        return -1;
    static const char rules[] = "/^Subject: .*reject me/ REJECT go away\n"
                                "/^Subject: .*plain/ REJECT\n"
                                "/^X-Drop:/ IGNORE\n"
                                "/^X-Old: (.*)/ REPLACE X-New: $1\n"
                                "/^X-Pre:/ PREPEND X-Added: 1\n"
                                "/^X-Bad-Prepend:/ PREPEND not a header\n"
                                "/^X-Fine:/ DUNNO\n"
                                "/^X-Bogus:/ FROBNICATE\n"
                                "/(a+)+b/ REJECT slow pattern\n"
                                "/^body reject/ REJECT body text\n"
                                "/^X-Hold:/ HOLD held for review\n"
                                "/^X-Redirect-1:/ REDIRECT first@example.org\n"
                                "/^X-Redirect-2:/ REDIRECT second@example.org\n"
                                "/^X-Redirect-Empty:/ REDIRECT\n"
                                "/^X-Filter:/ FILTER scan:[127.0.0.1]:10025\n"
                                "/^X-Filter-Bad:/ FILTER sc/an:x\n"
                                "/^X-Filter-Nocolon:/ FILTER scan\n"
                                "/^X-Filter-Notransport:/ FILTER :host\n"
                                "/^X-Bcc:/ BCC copy@example.org\n"
                                "/^X-Discard:/ DISCARD\n";
    if (write(fd, rules, sizeof(rules) - 1) != (ssize_t)(sizeof(rules) - 1))
        return -1;
    close(fd);
    char main_cf[512];
    snprintf(main_cf, sizeof(main_cf),
             "header_checks = regexp:%s\nbody_checks = regexp:%s\n"
             "receive_override_options = no_address_mappings, no_header_body_checks\n",
             table_path, table_path);
    strbuf err = STRBUF_INIT;
    int rc = config_load_text("/etc/postfix/main.cf", main_cf, strlen(main_cf), &err);
    strbuf_release(&err);
    return rc < 0 ? -1 : 0;
}

static int teardown(void **state)
{
    (void)state;
    unlink(table_path);
    return 0;
}

static enum check_verdict check(struct cleanup_state *s, enum cleanup_check_class cls,
                                const char *text, size_t len)
{
    s->error = CLEANUP_OK;
    strbuf_reset(&s->reject_reply);
    return cleanup_check(s, cls, text, len, &s->prepend, &s->replace);
}

/* What cleanup_checks.c may have filled in (cleanup_message.c is not
 * linked: it needs cleanup.c's queue file). */
static void release(struct cleanup_state *s)
{
    strbuf_release(&s->prepend);
    strbuf_release(&s->replace);
    strbuf_release(&s->reject_reply);
}

#define CHECK(s, text) check(s, CHECK_HEADER, text, strlen(text))

static void actions(void **state)
{
    (void)state;
    struct cleanup_state s;
    memset(&s, 0, sizeof(s));
    strbuf_set(&s.queue_id, "ABC123");
    strbuf_set(&s.sender, "a@b.example");

    assert_int_equal(CHECK(&s, "Subject: please reject me"), CHECK_KEEP);
    assert_int_equal(s.error, CLEANUP_CONTENT);
    assert_string_equal(strbuf_str(&s.reject_reply), "550 5.7.1 go away");
    CHECK(&s, "Subject: plain");
    assert_string_equal(strbuf_str(&s.reject_reply), "550 5.7.1 message content rejected");
    /* Case-insensitive by default (regexp_table(5)). */
    CHECK(&s, "SUBJECT: PLAIN");
    assert_int_equal(s.error, CLEANUP_CONTENT);

    assert_int_equal(CHECK(&s, "X-Drop: x"), CHECK_DROP);
    assert_int_equal(CHECK(&s, "X-Old: one two"), CHECK_REPLACED);
    assert_string_equal(strbuf_str(&s.replace), "X-New: one two");
    assert_int_equal(CHECK(&s, "X-Pre: y"), CHECK_KEEP);
    assert_string_equal(strbuf_str(&s.prepend), "X-Added: 1");
    /* PREPEND of something that is not a header is refused (warned). */
    assert_int_equal(CHECK(&s, "X-Bad-Prepend: y"), CHECK_KEEP);
    assert_int_equal(s.prepend.len, 0);
    assert_int_equal(CHECK(&s, "X-Fine: z"), CHECK_KEEP);
    assert_int_equal(s.error, CLEANUP_OK);
    assert_int_equal(CHECK(&s, "X-Bogus: z"), CHECK_KEEP);
    assert_int_equal(s.error, CLEANUP_OK);
    assert_int_equal(CHECK(&s, "X-Other: z"), CHECK_KEEP);
    assert_int_equal(s.error, CLEANUP_OK);

    /* Body lines: same table here, class body. */
    check(&s, CHECK_BODY, "body reject this", 16);
    assert_string_equal(strbuf_str(&s.reject_reply), "550 5.7.1 body text");

    /* After a REJECT nothing more is checked. */
    s.error = CLEANUP_CONTENT;
    assert_int_equal(cleanup_check(&s, CHECK_HEADER, "X-Drop: x", 9, &s.prepend, &s.replace),
                     CHECK_KEEP);

    /* Non-SMTP mail (CLEANUP_FLAG_BOUNCE): the REJECT is recorded for the
     * bounce, the message goes on being written, the first reject wins and
     * nothing more is checked (IGNORE would otherwise drop the line). */
    s.error = CLEANUP_OK;
    strbuf_reset(&s.reject_reply);
    s.bounce_rejects = true;
    assert_int_equal(
        cleanup_check(&s, CHECK_HEADER, "Subject: please reject me", 25, &s.prepend, &s.replace),
        CHECK_KEEP);
    assert_int_equal(s.error, CLEANUP_OK);
    assert_string_equal(strbuf_str(&s.reject_reply), "550 5.7.1 go away");
    assert_int_equal(cleanup_check(&s, CHECK_HEADER, "X-Drop: x", 9, &s.prepend, &s.replace),
                     CHECK_KEEP);
    cleanup_reject(&s, "550 5.7.1 second");
    assert_string_equal(strbuf_str(&s.reject_reply), "550 5.7.1 go away");
    assert_int_equal(s.error, CLEANUP_OK);
    s.bounce_rejects = false;

    release(&s);
    strbuf_release(&s.queue_id);
    strbuf_release(&s.sender);
}

static void release_acts(struct cleanup_state *s)
{
    strbuf_release(&s->act_redirect);
    strbuf_release(&s->act_filter);
    strlist_release(&s->act_bcc);
}

/* Message actions are buffered in the state; bad values are ignored. */
static void message_actions(void **state)
{
    (void)state;
    struct cleanup_state s;
    memset(&s, 0, sizeof(s));
    strbuf_set(&s.queue_id, "ABC123");
    assert_int_equal(CHECK(&s, "X-Redirect-Empty: x"), CHECK_KEEP);
    assert_int_equal(CHECK(&s, "X-Filter-Bad: x"), CHECK_KEEP);
    assert_int_equal(CHECK(&s, "X-Filter-Nocolon: x"), CHECK_KEEP);
    assert_int_equal(CHECK(&s, "X-Filter-Notransport: x"), CHECK_KEEP);
    assert_int_equal(s.act_redirect.len, 0);
    assert_int_equal(s.act_filter.len, 0);
    assert_false(s.act_hold);
    assert_false(s.act_discard);

    assert_int_equal(CHECK(&s, "X-Hold: 1"), CHECK_KEEP);
    assert_true(s.act_hold);
    CHECK(&s, "X-Redirect-1: 1");
    CHECK(&s, "X-Redirect-2: 1");
    /* The last REDIRECT wins. */
    assert_string_equal(strbuf_str(&s.act_redirect), "second@example.org");
    CHECK(&s, "X-Filter: 1");
    assert_string_equal(strbuf_str(&s.act_filter), "scan:[127.0.0.1]:10025");
    CHECK(&s, "X-Bcc: 1");
    CHECK(&s, "X-Bcc: 2");
    assert_int_equal(s.act_bcc.n, 2);
    assert_string_equal(s.act_bcc.v[0], "copy@example.org");
    assert_false(s.act_discard);
    CHECK(&s, "X-Discard: 1");
    assert_true(s.act_discard);
    assert_int_equal(s.error, CLEANUP_OK);

    /* cleanup_act directly: hostile values are ignored, not stored. */
    strbuf_reset(&s.act_redirect);
    cleanup_act(&s, CLEANUP_ACT_REDIRECT, "a@b\r\nX-Evil: 1");
    cleanup_act(&s, CLEANUP_ACT_REDIRECT, "");
    cleanup_act(&s, CLEANUP_ACT_REDIRECT, NULL);
    assert_int_equal(s.act_redirect.len, 0);
    cleanup_act(&s, CLEANUP_ACT_BCC, "two words");
    assert_int_equal(s.act_bcc.n, 2);
    release(&s);
    release_acts(&s);
    strbuf_release(&s.queue_id);
}

static void hostile_headers(void **state)
{
    (void)state;
    struct cleanup_state s;
    memset(&s, 0, sizeof(s));
    strbuf_set(&s.queue_id, "ABC123");

    /* A NUL ends the key (C strings, as Postfix): the text after it is not
     * matched, and nothing reads past the given length. */
    static const char nul[] = "Subject: x\0 reject me";
    assert_int_equal(check(&s, CHECK_HEADER, nul, sizeof(nul) - 1), CHECK_KEEP);
    assert_int_equal(s.error, CLEANUP_OK);
    /* 8-bit and CR bytes are matched as they are. */
    CHECK(&s, "Subject: \xff\xfe\r reject me\r");
    assert_int_equal(s.error, CLEANUP_CONTENT);
    /* A huge folded header is one key; continuation lines included. */
    strbuf big = STRBUF_INIT;
    strbuf_puts(&big, "Subject: start");
    for (int i = 0; i < 20000; i++)
        strbuf_puts(&big, "\n\tfolded continuation line");
    strbuf_puts(&big, "\n\treject me");
    assert_int_equal(check(&s, CHECK_HEADER, big.s, big.len), CHECK_KEEP);
    assert_int_equal(s.error, CLEANUP_CONTENT);
    /* A pattern that backtracks badly in some engines, against a long run
     * of 'a': POSIX regexec is not exponential here; the test must end. */
    strbuf_reset(&big);
    strbuf_puts(&big, "X-Run: ");
    for (int i = 0; i < 3000; i++)
        strbuf_putc(&big, 'a');
    check(&s, CHECK_HEADER, big.s, big.len);
    assert_int_equal(s.error, CLEANUP_OK);
    strbuf_release(&big);

    release(&s);
    strbuf_release(&s.queue_id);
}

static void override_options(void **state)
{
    (void)state;
    assert_true(cleanup_checks_disabled());
    struct cleanup_state s;
    memset(&s, 0, sizeof(s));
    s.checks_off = cleanup_checks_disabled();
    assert_int_equal(CHECK(&s, "X-Drop: x"), CHECK_KEEP);
    release(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(action_words),     cmocka_unit_test(actions),
        cmocka_unit_test(message_actions),  cmocka_unit_test(hostile_headers),
        cmocka_unit_test(override_options),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
