/* Unit tests: pipe/pipe_attr (pipe(8)'s master.cf attributes and the argv=
 * template expansion), with hostile recipient addresses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "msg.h"
#include "pipe_attr.h"

/* Parse a space-separated attribute list (test input has no spaces inside
 * an argument except where split by hand). */
static int parse(const char *const *args, struct pipe_attr *a, strbuf *err)
{
    return pipe_attr_parse((char **)args, a, err);
}

static void parse_all_attributes(void **state)
{
    const char *args[] = {"flags=BDFORXhqu.>", "USER=nobody:nogroup",
                          "directory=/tmp",    "eol=\\r\\n",
                          "null_sender=",      "size=1000",
                          "argv=/bin/echo",    "user=not-an-attr",
                          "${recipient}",      NULL};
    struct pipe_attr a;
    strbuf err = STRBUF_INIT;
    assert_int_equal(parse(args, &a, &err), 0);
    assert_int_equal(a.flags, 0x7ff); /* all eleven flags */
    assert_string_equal(a.user, "nobody");
    assert_string_equal(a.group, "nogroup");
    assert_string_equal(a.directory, "/tmp");
    assert_int_equal(a.eol.len, 2);
    assert_memory_equal(a.eol.s, "\r\n", 2);
    assert_string_equal(a.null_sender, "");
    assert_int_equal(a.size_limit, 1000);
    /* argv= is last: what follows is the command's, even "user=..." */
    assert_int_equal(a.argv.n, 3);
    assert_string_equal(a.argv.v[0], "/bin/echo");
    assert_string_equal(a.argv.v[1], "user=not-an-attr");
    pipe_attr_release(&a);
    strbuf_release(&err);
}

static void expect_parse_error(const char *const *args, const char *want)
{
    struct pipe_attr a;
    strbuf err = STRBUF_INIT;
    assert_int_equal(parse(args, &a, &err), -1);
    if (!strstr(err.s, want))
        fail_msg("error \"%s\" lacks \"%s\"", err.s, want);
    pipe_attr_release(&a);
    strbuf_release(&err);
}

static void parse_errors(void **state)
{
    expect_parse_error((const char *[]){"argv=/bin/true", NULL}, "missing user=");
    expect_parse_error((const char *[]){"user=x", NULL}, "missing argv=");
    expect_parse_error((const char *[]){"user=x", "flags=Dz", "argv=/bin/true", NULL},
                       "unknown flag: z");
    expect_parse_error((const char *[]){"user=x", "color=red", "argv=/bin/true", NULL},
                       "unknown attribute name: color=red");
    expect_parse_error((const char *[]){"user=x", "size=10k", "argv=/bin/true", NULL},
                       "bad size= value: 10k");
    expect_parse_error((const char *[]){"user=x", "size=-1", "argv=/bin/true", NULL},
                       "bad size= value");
    expect_parse_error((const char *[]){"user=x", "eol=\\q", "argv=/bin/true", NULL}, "bad escape");
    expect_parse_error((const char *[]){"user=x", "chroot=/x", "argv=/bin/true", NULL},
                       "chroot= is not supported");
    expect_parse_error((const char *[]){"user=", "argv=/bin/true", NULL}, "empty user=");
    expect_parse_error((const char *[]){"user=x", "argv=", NULL}, "empty argv=");
    /* An unknown macro is a configuration error, found before any mail. */
    expect_parse_error((const char *[]){"user=x", "argv=/bin/true", "${home}", NULL},
                       "unknown macro name: \"home\"");
    expect_parse_error((const char *[]){"user=x", "argv=/bin/true", "${user?$shell}", NULL},
                       "unknown macro name: \"shell\"");
}

static void unescape(void **state)
{
    strbuf out = STRBUF_INIT, err = STRBUF_INIT;
    assert_int_equal(pipe_unescape("a\\tb\\101\\\\\\n", &out, &err), 0);
    assert_string_equal(out.s, "a\tbA\\\n");
    assert_int_equal(pipe_unescape("\\0", &out, &err), -1); /* a NUL would end the string */
    assert_int_equal(pipe_unescape("\\777", &out, &err), -1);
    assert_int_equal(pipe_unescape("tail\\", &out, &err), -1);
    strbuf_release(&out);
    strbuf_release(&err);
}

/* Expand `tpl` (NULL-terminated argv= words) for the recipients. */
static void expand(const char *flags, const char *const *tpl, const struct pipe_rcpt *r, size_t n,
                   strlist *out)
{
    const char *args[40] = {"user=x"};
    size_t k = 1;
    char fl[64];
    if (flags) {
        snprintf(fl, sizeof(fl), "flags=%s", flags);
        args[k++] = fl;
    }
    char first[256];
    snprintf(first, sizeof(first), "argv=%s", tpl[0]);
    args[k++] = first;
    for (size_t i = 1; tpl[i]; i++)
        args[k++] = tpl[i];
    args[k] = NULL;
    struct pipe_attr a;
    strbuf err = STRBUF_INIT;
    if (parse(args, &a, &err) != 0)
        fail_msg("parse: %s", err.s);
    struct pipe_vars v = {.sender = "s$ender;`x`@example.org",
                          .nexthop = "Next.Hop",
                          .size = "123",
                          .queue_id = "ABC",
                          .client_address = "192.0.2.1",
                          .delimiter = "+"};
    if (pipe_expand_argv(&a, &v, r, n, out, &err) != 0)
        fail_msg("expand: %s", err.s);
    pipe_attr_release(&a);
    strbuf_release(&err);
}

static void assert_argv(const strlist *got, const char *const *want)
{
    size_t n = 0;
    while (want[n])
        n++;
    for (size_t i = 0; i < got->n && i < n; i++)
        if (strcmp(got->v[i], want[i]) != 0)
            fail_msg("argv[%zu] = \"%s\", want \"%s\"", i, got->v[i], want[i]);
    assert_int_equal(got->n, n);
}

/* Every hostile address stays one argv element, byte for byte, and
 * nothing in it is expanded. */
static void hostile_recipients_stay_single_elements(void **state)
{
    const struct pipe_rcpt r[] = {
        {"a b@example.com", NULL},         {"x;y`id`$HOME$(ls)${sender}@example.com", NULL},
        {"-rf@example.com", NULL},         {"it's \"q\"\\@example.com", NULL},
        {"line\nbreak@example.com", NULL}, {"", NULL},
    };
    strlist out = STRLIST_INIT;
    expand(NULL, (const char *[]){"/bin/cmd", "-f", "${sender}", "--", "${recipient}", NULL}, r, 6,
           &out);
    assert_argv(&out, (const char *[]){"/bin/cmd", "-f", "s$ender;`x`@example.org", "--",
                                       "a b@example.com", "x;y`id`$HOME$(ls)${sender}@example.com",
                                       "-rf@example.com", "it's \"q\"\\@example.com",
                                       "line\nbreak@example.com", "", NULL});
    strlist_release(&out);
}

static void prefix_and_suffix_around_a_recipient(void **state)
{
    const struct pipe_rcpt r[] = {{"u1@d", NULL}, {"u2@d", "orig@d"}};
    strlist out = STRLIST_INIT;
    expand(NULL,
           (const char *[]){"/bin/cmd", "<$recipient>", "($original_recipient)", "$(nexthop)!x",
                            "$$recipient", "${size}/${queue_id}/${client_address}/${sasl_method}",
                            NULL},
           r, 2, &out);
    assert_argv(&out, (const char *[]){"/bin/cmd", "<u1@d>", "<u2@d>", "(u1@d)", "(orig@d)",
                                       "Next.Hop!x", "$recipient", "123/ABC/192.0.2.1/", NULL});
    strlist_release(&out);
}

static void quote_and_fold_flags(void **state)
{
    const struct pipe_rcpt r[] = {{"Mixed Case+Ext@Example.COM", "Orig\"x@Example.COM"}};
    strlist out = STRLIST_INIT;
    expand("quh",
           (const char *[]){"/bin/cmd", "${recipient}", "${original_recipient}", "${user}",
                            "${extension}", "${mailbox}", "${domain}", "${nexthop}", NULL},
           r, 1, &out);
    /* q quotes only whole addresses; $user & co. are folded, never quoted. */
    assert_argv(&out, (const char *[]){"/bin/cmd", "\"mixed case+ext\"@example.com",
                                       "\"orig\\\"x\"@example.com", "mixed case", "ext",
                                       "mixed case+ext", "example.com", "next.hop", NULL});
    strlist_release(&out);
    /* Without flags nothing changes; a dot-atom needs no quotes. */
    expand("q", (const char *[]){"/bin/cmd", "${recipient}", NULL},
           (const struct pipe_rcpt[]){{"Plain.User@Example.COM", NULL}}, 1, &out);
    assert_argv(&out, (const char *[]){"/bin/cmd", "Plain.User@Example.COM", NULL});
    strlist_release(&out);
    expand("h", (const char *[]){"/bin/cmd", "${recipient}", "${domain}", NULL},
           (const struct pipe_rcpt[]){{"Plain@Example.COM", NULL}}, 1, &out);
    assert_argv(&out, (const char *[]){"/bin/cmd", "Plain@example.com", "example.com", NULL});
    strlist_release(&out);
}

/* Postfix: an element with $user is left out for a recipient whose user
 * part is empty; $extension may be empty. */
static void empty_user_drops_the_element(void **state)
{
    const struct pipe_rcpt r[] = {{"+folder@d", NULL}, {"joe+x@d", NULL}, {"ann@d", NULL}};
    strlist out = STRLIST_INIT;
    expand(NULL, (const char *[]){"/bin/cmd", "-u${user}", "-e${extension}", NULL}, r, 3, &out);
    /* "+folder": addr_split_extension does not split an empty base, so the
     * user is "+folder" (Postfix 3.7's split_addr does the same). */
    assert_argv(
        &out, (const char *[]){"/bin/cmd", "-u+folder", "-ujoe", "-uann", "-e", "-ex", "-e", NULL});
    strlist_release(&out);
    expand(NULL, (const char *[]){"/bin/cmd", "${user}", "${user?u}${extension:none}", NULL},
           (const struct pipe_rcpt[]){{"@d", NULL}, {"b+e@d", NULL}}, 2, &out);
    assert_argv(&out, (const char *[]){"/bin/cmd", "b", "u", NULL});
    strlist_release(&out);
}

static void no_recipient_macro_means_one_element(void **state)
{
    const struct pipe_rcpt r[] = {{"a@d", NULL}, {"b@d", NULL}};
    strlist out = STRLIST_INIT;
    expand(NULL, (const char *[]){"/bin/cmd", "$sender", "x${nexthop}y", NULL}, r, 2, &out);
    assert_argv(&out, (const char *[]){"/bin/cmd", "s$ender;`x`@example.org", "xNext.Hopy", NULL});
    strlist_release(&out);
}

static void morph_address(void **state)
{
    strbuf out = STRBUF_INIT;
    pipe_morph_address(&out, "", PIPE_F_QUOTE, true);
    assert_string_equal(strbuf_str(&out), "");
    pipe_morph_address(&out, "MAILER DAEMON", PIPE_F_QUOTE | PIPE_F_FOLD_USER, true);
    assert_string_equal(out.s, "\"mailer daemon\"");
    strbuf_release(&out);
}

int main(void)
{
    msg_init("test_pipe_attr", true);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parse_all_attributes),
        cmocka_unit_test(parse_errors),
        cmocka_unit_test(unescape),
        cmocka_unit_test(hostile_recipients_stay_single_elements),
        cmocka_unit_test(prefix_and_suffix_around_a_recipient),
        cmocka_unit_test(quote_and_fold_flags),
        cmocka_unit_test(empty_user_drops_the_element),
        cmocka_unit_test(no_recipient_macro_means_one_element),
        cmocka_unit_test(morph_address),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
