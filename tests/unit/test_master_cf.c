/* Unit tests: master_cf (master.cf parsing, defaults, quoting, hostile input). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "master_cf.h"
#include "mem.h"

static master_cf *parse_ok(const char *text)
{
    master_cf *cf = NULL;
    strbuf err = STRBUF_INIT;
    int rc = master_cf_parse_text("master.cf", text, strlen(text), &cf, &err);
    if (rc != 0)
        fail_msg("unexpected error: %s", strbuf_str(&err));
    strbuf_release(&err);
    assert_non_null(cf);
    return cf;
}

/* Parse expecting failure; the message must contain `want`. */
static void parse_bad_len(const char *text, size_t len, const char *want)
{
    master_cf *cf = NULL;
    strbuf err = STRBUF_INIT;
    int rc = master_cf_parse_text("master.cf", text, len, &cf, &err);
    if (rc != -1)
        fail_msg("accepted bad input: %s", text);
    assert_null(cf);
    if (!strstr(strbuf_str(&err), want))
        fail_msg("error \"%s\" lacks \"%s\"", strbuf_str(&err), want);
    strbuf_release(&err);
}

static void parse_bad(const char *text, const char *want)
{
    parse_bad_len(text, strlen(text), want);
}

static void defaults_and_columns(void **state)
{
    master_cf *cf = parse_ok("# comment\n"
                             "\n"
                             "smtp      inet  n       -       y       -       -       smtpd\n"
                             "pickup    unix  n       -       y       60      1       pickup\n"
                             "tlsmgr    unix  -       -       y       1000?   1       tlsmgr\n"
                             "cleanup   unix  n       -       y       -       0       cleanup\n"
                             "local     unix  -       n       n       -       -       local\n");
    assert_int_equal(cf->n, 5);
    const struct master_cf_entry *e = cf->entries[0];
    assert_string_equal(e->service, "smtp");
    assert_int_equal(e->type, MASTER_CF_INET);
    assert_false(e->private_);
    assert_true(e->unpriv);
    assert_true(e->chroot);
    assert_int_equal(e->wakeup, 0);
    assert_int_equal(e->maxproc, MASTER_CF_MAXPROC_DEFAULT);
    assert_int_equal(e->argv.n, 1);
    assert_string_equal(e->argv.v[0], "smtpd");
    assert_int_equal(e->line, 3);
    assert_string_equal(e->raw[MASTER_CF_COL_UNPRIV], "-");

    e = master_cf_find(cf, "pickup", MASTER_CF_UNIX);
    assert_non_null(e);
    assert_int_equal(e->wakeup, 60);
    assert_false(e->wakeup_conditional);
    assert_int_equal(e->maxproc, 1);

    e = master_cf_find(cf, "tlsmgr", MASTER_CF_UNIX);
    assert_true(e->private_);
    assert_int_equal(e->wakeup, 1000);
    assert_true(e->wakeup_conditional);

    e = master_cf_find(cf, "cleanup", MASTER_CF_UNIX);
    assert_int_equal(e->maxproc, 0);
    e = master_cf_find(cf, "local", MASTER_CF_UNIX);
    assert_false(e->unpriv);
    assert_false(e->chroot);
    assert_null(master_cf_find(cf, "local", MASTER_CF_INET));
    master_cf_free(&cf);
    assert_null(cf);
}

static void continuation_and_overrides(void **state)
{
    master_cf *cf =
        parse_ok("submission inet n - y - - smtpd\n"
                 "  -o syslog_name=postfix/submission\n"
                 "# a comment inside the entry\n"
                 "\t-o smtpd_tls_security_level=encrypt\n"
                 "  -o { smtpd_client_restrictions = permit_sasl_authenticated, reject }\n"
                 "  -osmtpd_sasl_auth_enable=yes\n"
                 "  extra {  quoted arg  }\n"
                 "127.0.0.1:10025 inet n - n - - smtpd\n");
    assert_int_equal(cf->n, 2);
    const struct master_cf_entry *e = cf->entries[0];
    assert_int_equal(e->overrides.n, 4);
    assert_string_equal(e->overrides.v[0], "syslog_name=postfix/submission");
    assert_string_equal(e->overrides.v[2],
                        "smtpd_client_restrictions=permit_sasl_authenticated, reject");
    assert_string_equal(e->overrides.v[3], "smtpd_sasl_auth_enable=yes");
    /* argv: smtpd -o a -o b -o c -o d extra "quoted arg" */
    assert_int_equal(e->argv.n, 11);
    assert_string_equal(e->argv.v[0], "smtpd");
    assert_string_equal(e->argv.v[1], "-o");
    assert_string_equal(e->argv.v[6],
                        "smtpd_client_restrictions=permit_sasl_authenticated, reject");
    assert_string_equal(e->argv.v[9], "extra");
    assert_string_equal(e->argv.v[10], "quoted arg");
    assert_string_equal(e->raw_command.v[e->raw_command.n - 1], "{  quoted arg  }");
    assert_string_equal(cf->entries[1]->service, "127.0.0.1:10025");
    assert_int_equal(cf->entries[1]->line, 8);
    master_cf_free(&cf);
}

static void later_entry_wins(void **state)
{
    master_cf *cf = parse_ok("a unix - - n - 1 one\n"
                             "b unix - - n - 1 two\n"
                             "a unix - - n - 5 three\n"
                             "a inet - - n - 5 four\n");
    assert_int_equal(cf->n, 3);
    const struct master_cf_entry *e = master_cf_find(cf, "a", MASTER_CF_UNIX);
    assert_string_equal(e->argv.v[0], "three");
    assert_int_equal(e->maxproc, 5);
    master_cf_free(&cf);
}

static void all_types_and_crlf(void **state)
{
    master_cf *cf = parse_ok("a inet n - n - - x\r\n"
                             "b unix n - n - - x\r\n"
                             "c unix-dgram n - n - - x\r\n"
                             "d fifo n - n - - x\r\n"
                             "e pass n - n - - x\r\n");
    assert_int_equal(cf->n, 5);
    for (size_t i = 0; i < cf->n; i++) {
        assert_int_equal(cf->entries[i]->type, (enum master_cf_type)i);
        assert_string_equal(cf->entries[i]->argv.v[0], "x");
    }
    assert_string_equal(master_cf_type_name(MASTER_CF_UNIX_DGRAM), "unix-dgram");
    master_cf_free(&cf);
}

static void empty_input(void **state)
{
    master_cf *cf = parse_ok("");
    assert_int_equal(cf->n, 0);
    master_cf_free(&cf);
    cf = parse_ok("# only comments\n   \n\t# indented comment\n");
    assert_int_equal(cf->n, 0);
    master_cf_free(&cf);
}

static void errors_name_file_and_line(void **state)
{
    parse_bad("ok unix - - n - - x\nbad tcp - - n - - x\n",
              "master.cf, line 2: unknown service type \"tcp\"");
    parse_bad("a unix - - n - - \n", "line 1: entry has 7 fields");
    parse_bad("a unix yes - n - - x\n", "bad private field \"yes\"");
    parse_bad("a unix - x n - - x\n", "bad unprivileged field");
    parse_bad("a unix - - Y - - x\n", "bad chroot field");
    parse_bad("a unix - - n 1x - x\n", "bad wakeup time \"1x\"");
    parse_bad("a unix - - n ? - x\n", "bad wakeup time");
    parse_bad("a unix - - n 99999999999 - x\n", "bad wakeup time");
    parse_bad("a unix - - n - -1 x\n", "bad process limit \"-1\"");
    parse_bad("a unix - - n - 2147483648 x\n", "bad process limit");
    parse_bad("  a unix - - n - - x\n", "line 1: continuation line without a preceding entry");
    parse_bad("a unix - - n - - x -o\n", "\"-o\" without name=value");
    parse_bad("a unix - - n - - x -o novalue\n", "bad \"-o\" override \"novalue\"");
    parse_bad("a unix - - n - - x -o =v\n", "bad \"-o\" override");
    parse_bad("a unix - - n - - x -o {a b = c}\n", "bad \"-o\" override");
    parse_bad("a unix - - n - - x {unclosed\n", "missing '}'");
    parse_bad("a unix - - n - - x }\n", "unbalanced '}'");
    parse_bad("a unix - - n - - x {a}b\n", "text after '}'");
    parse_bad("a unix - - n - - {}\n", "empty command name");
    parse_bad("{a} unix - - n - - x\n", "braces are allowed only in command arguments");
    parse_bad("- unix - - n - - x\n", "missing service name");
    parse_bad("../etc unix - - n - - x\n", "relative path inside the queue directory");
    parse_bad("/tmp/x unix - - n - - x\n", "relative path");
    parse_bad("a/../../b fifo - - n - - x\n", "relative path");
    parse_bad_len("a unix - - n - - x\nb unix\0 - - n - - x\n", 36, "line 2: NUL byte");
}

static void hostile_sizes(void **state)
{
    /* A physical line over the limit. */
    size_t n = MASTER_CF_LINE_LIMIT + 10;
    char *big = xmalloc(n + 1);
    memset(big, 'a', n);
    big[n] = '\0';
    parse_bad(big, "line 1: line longer than");
    /* Many continuation lines adding up past the logical limit. */
    strbuf sb = STRBUF_INIT;
    strbuf_puts(&sb, "a unix - - n - - x\n");
    memset(big, 'b', 60000);
    big[0] = ' ';
    big[60000] = '\n';
    big[60001] = '\0';
    for (int i = 0; i < 20; i++)
        strbuf_puts(&sb, big);
    parse_bad(strbuf_str(&sb), "entry longer than");
    strbuf_release(&sb);
    /* Deeply nested braces are fine (no recursion). */
    strbuf_puts(&sb, "a unix - - n - - x ");
    for (int i = 0; i < 5000; i++)
        strbuf_putc(&sb, '{');
    for (int i = 0; i < 5000; i++)
        strbuf_putc(&sb, '}');
    master_cf *cf = parse_ok(strbuf_str(&sb));
    assert_int_equal(cf->entries[0]->argv.n, 2);
    master_cf_free(&cf);
    strbuf_release(&sb);
    free(big);
}

static void load_file(void **state)
{
    char path[] = "/tmp/test_master_cf.XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *text = "pickup unix n - y 60 1 pickup\n";
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    master_cf *cf = NULL;
    strbuf err = STRBUF_INIT;
    assert_int_equal(master_cf_load(path, &cf, &err), 0);
    assert_int_equal(cf->n, 1);
    assert_string_equal(cf->origin, path);
    master_cf_free(&cf);
    unlink(path);
    assert_int_equal(master_cf_load(path, &cf, &err), -1);
    assert_non_null(strstr(strbuf_str(&err), "No such file"));
    strbuf_release(&err);
}

static void debian_stock_file(void **state)
{
    master_cf *cf = NULL;
    strbuf err = STRBUF_INIT;
    if (master_cf_load(TEST_DATA_DIR "/master.cf.debian", &cf, &err) != 0)
        fail_msg("%s", strbuf_str(&err));
    assert_non_null(master_cf_find(cf, "smtp", MASTER_CF_INET));
    assert_non_null(master_cf_find(cf, "postlog", MASTER_CF_UNIX_DGRAM));
    const struct master_cf_entry *e = master_cf_find(cf, "qmgr", MASTER_CF_UNIX);
    assert_non_null(e);
    assert_int_equal(e->wakeup, 300);
    e = master_cf_find(cf, "maildrop", MASTER_CF_UNIX);
    assert_non_null(e);
    assert_string_equal(e->argv.v[0], "pipe");
    assert_string_equal(e->argv.v[e->argv.n - 1], "${recipient}");
    master_cf_free(&cf);
    strbuf_release(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(defaults_and_columns), cmocka_unit_test(continuation_and_overrides),
        cmocka_unit_test(later_entry_wins),     cmocka_unit_test(all_types_and_crlf),
        cmocka_unit_test(empty_input),          cmocka_unit_test(errors_name_file_and_line),
        cmocka_unit_test(hostile_sizes),        cmocka_unit_test(load_file),
        cmocka_unit_test(debian_stock_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
