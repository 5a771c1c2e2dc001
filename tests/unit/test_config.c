/* Unit tests: config (main.cf parsing, expansion, defaults, typed values,
 * configuration directory choice, unused-parameter bookkeeping). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <fcntl.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "mem.h"
#include "msg.h"
#include "paths.h"

/* Load main.cf text or fail the test. */
static void load(const char *text)
{
    strbuf err = STRBUF_INIT;
    int rc = config_load_text("/etc/postfix/main.cf", text, strlen(text), &err);
    if (rc != 0)
        fail_msg("load failed: %s", strbuf_str(&err));
    strbuf_release(&err);
}

/* Load text that must fail; returns the error message (static). */
static const char *load_error(const char *text, size_t len)
{
    static strbuf err;
    strbuf_reset(&err);
    assert_int_equal(config_load_text("/etc/postfix/main.cf", text, len, &err), -1);
    return strbuf_str(&err);
}

static const char *expand(const char *text)
{
    static strbuf out;
    strbuf err = STRBUF_INIT;
    if (config_expand(text, &out, &err) != 0)
        fail_msg("expand \"%s\": %s", text, strbuf_str(&err));
    strbuf_release(&err);
    return strbuf_str(&out);
}

static const char *expand_error(const char *text)
{
    static strbuf err;
    strbuf out = STRBUF_INIT;
    strbuf_reset(&err);
    assert_int_equal(config_expand(text, &out, &err), -1);
    strbuf_release(&out);
    return strbuf_str(&err);
}

static const char *lookup_error(const char *name)
{
    static strbuf err;
    const char *v;
    strbuf_reset(&err);
    assert_int_equal(config_lookup(name, &v, &err), -1);
    return strbuf_str(&err);
}

/* ------------------------------------------------------------ parsing */

static void parse_basic(void **state)
{
    load("# comment\n"
         "myorigin = example.com\n"
         "\n"
         "   \t\n"
         "relayhost=[mail.example.net]:587   \n"
         "mydestination =\n"
         "smtpd_banner = $myhostname ESMTP # not a comment\n");
    assert_string_equal(config_get_raw("myorigin"), "example.com");
    assert_string_equal(config_get("relayhost"), "[mail.example.net]:587");
    assert_string_equal(config_get("mydestination"), "");
    assert_true(config_is_set("mydestination"));
    assert_false(config_is_set("mynetworks"));
    assert_string_equal(config_get_raw("smtpd_banner"), "$myhostname ESMTP # not a comment");
    assert_string_equal(config_origin("relayhost"), "/etc/postfix/main.cf, line 5");
    assert_null(config_origin("alias_maps"));
    const char **names;
    assert_int_equal(config_set_names(&names), 4);
    assert_string_equal(names[0], "myorigin");
    assert_string_equal(names[3], "smtpd_banner");
    assert_null(names[4]);
}

static void parse_continuation(void **state)
{
    /* Comment and blank lines inside a logical line do not end it. */
    load("mydestination = a,\n"
         "   b,\n"
         "# in between\n"
         "\n"
         "\tc\n"
         "relayhost = r\n"
         "alias_maps = x\r\n"
         "   y\r\n");
    assert_string_equal(config_get_raw("mydestination"), "a,   b,\tc");
    assert_string_equal(config_origin("mydestination"), "/etc/postfix/main.cf, line 1");
    assert_string_equal(config_get_raw("relayhost"), "r");
    assert_string_equal(config_origin("relayhost"), "/etc/postfix/main.cf, line 6");
    assert_string_equal(config_get_raw("alias_maps"), "x\r   y");
}

static void parse_leading_whitespace_skipped(void **state)
{
    /* Postfix warns and ignores a logical line that starts with blanks. */
    load("  myorigin = a\n"
         "  more\n"
         "relayhost = b\n");
    assert_false(config_is_set("myorigin"));
    assert_string_equal(config_get_raw("relayhost"), "b");
}

static void parse_last_definition_wins(void **state)
{
    load("myorigin = first\nrelayhost = x\nmyorigin = second\n");
    assert_string_equal(config_get("myorigin"), "second");
    assert_string_equal(config_origin("myorigin"), "/etc/postfix/main.cf, line 3");
    const char **names;
    assert_int_equal(config_set_names(&names), 2);
    assert_string_equal(names[0], "myorigin");
}

static void parse_errors_name_file_and_line(void **state)
{
    assert_string_equal(load_error("a = 1\n\nfoo\n", 10),
                        "/etc/postfix/main.cf, line 3: missing '=' after attribute name: \"foo\"");
    assert_string_equal(load_error("x = 1\n= 2\n", 10),
                        "/etc/postfix/main.cf, line 2: missing attribute name: \"= 2\"");
    assert_string_equal(load_error("myorigin x = 1\n", 15),
                        "/etc/postfix/main.cf, line 1: missing '=' after attribute name: "
                        "\"myorigin x = 1\"");
    /* NUL bytes are rejected, not silently truncated. */
    static const char nul[] = "myorigin = a\nrelayhost = b\0c\n";
    assert_string_equal(load_error(nul, sizeof(nul) - 1),
                        "/etc/postfix/main.cf, line 2: NUL character in configuration file");
    static const char nul_comment[] = "# a\0b\n";
    assert_string_equal(load_error(nul_comment, sizeof(nul_comment) - 1),
                        "/etc/postfix/main.cf, line 1: NUL character in configuration file");
}

static void parse_failure_keeps_previous(void **state)
{
    load("myorigin = kept\n");
    load_error("broken\n", 7);
    assert_string_equal(config_get("myorigin"), "kept");
}

static void parse_megabyte_line(void **state)
{
    size_t n = 1024 * 1024;
    strbuf text = STRBUF_INIT;
    strbuf_puts(&text, "mydestination = ");
    for (size_t i = 0; i < n; i++)
        strbuf_putc(&text, (char)('a' + i % 26));
    strbuf_puts(&text, "\nrelayhost = $mydestination\n");
    load(strbuf_str(&text));
    assert_int_equal(strlen(config_get("mydestination")), n);
    assert_int_equal(strlen(config_get("relayhost")), n);
    assert_int_equal(config_get("relayhost")[n - 1], (char)('a' + (n - 1) % 26));
    strbuf_release(&text);
}

/* ---------------------------------------------------------- expansion */

static void expand_simple_forms(void **state)
{
    load("myhostname = host.example.com\n"
         "relayhost =\n"
         "myorigin = $mydomain\n"
         "user1 = u\n"
         "ref = ${user1}-$(user1)-$user1\n");
    assert_string_equal(config_get("myorigin"), "example.com");
    assert_string_equal(config_get("ref"), "u-u-u");
    assert_string_equal(expand("a$$b $$$user1 $$user1"), "a$b $u $user1");
    assert_string_equal(expand("${ user1 }|${user1 }"), "u|u");
    assert_string_equal(expand("[$nosuchparameter]"), "[]");
    assert_string_equal(expand("$user1.x"), "u.x");
    assert_string_equal(expand("no dollars at all"), "no dollars at all");
    /* Lazy: a value set after its reference is seen. */
    load("a = $b\nb = later\n");
    assert_string_equal(config_get("a"), "later");
}

static void expand_conditionals(void **state)
{
    load("myhostname = h.example\nrelayhost =\nuser1 = u\n");
    assert_string_equal(expand("${myhostname?yes}|${relayhost?yes}"), "yes|");
    assert_string_equal(expand("${myhostname?{yes}}|${relayhost?{yes}}"), "yes|");
    assert_string_equal(expand("${myhostname:no}|${relayhost:no}|${nosuch:no}"), "|no|no");
    assert_string_equal(expand("${myhostname:{no}}|${relayhost:{no}}"), "|no");
    assert_string_equal(expand("${myhostname?{x}:{y}}|${relayhost?{x}:{y}}"), "x|y");
    assert_string_equal(expand("${relayhost?{z}:  {w}  }|${myhostname?{z} }"), "w|z");
    /* Values are expanded; Postfix 2.x text operands keep ':' and braces. */
    assert_string_equal(expand("${myhostname?$user1}|${relayhost:{$user1}}"), "u|u");
    assert_string_equal(expand("${myhostname?z:q}"), "z:q");
    assert_string_equal(expand("${myhostname??foo:{b}ar}|${relayhost??foo:{b}ar}"), "?foo:{b}ar|");
    assert_non_null(strstr(expand_error("${relayhost:{a}:{b}}"), "unexpected input"));
    /* The test is on the raw value: "$relayhost" is not empty. */
    load("relayhost =\nx = $relayhost\n");
    assert_string_equal(expand("${x?set}"), "set");
    /* Nested. */
    load("a = 1\nb =\n");
    assert_string_equal(expand("${a?{${b?{B}:{notB}}}:{notA}}"), "notB");
}

static void expand_relational(void **state)
{
    load("small = 9\nbig = 10\nword = abc\n");
    assert_string_equal(expand("${{$big} > {$small} ? {num} : {lex}}"), "num");
    assert_string_equal(expand("${{10} > {9a} ? {gt} : {le}}"), "le"); /* lexical */
    assert_string_equal(expand("${{a} == {a}}|${{a}=={b}}|${{a} != {b}}"), "true||true");
    assert_string_equal(expand("${{2} <= {10}}|${{abc} < {abd}}|${{b} >= {a}}|${{1} < {1}}"),
                        "true|true|true|");
    assert_string_equal(expand("${{$word} == {abc} ? {x}}|${{x} == {y} : {no}}"), "x|no");
    assert_string_equal(expand("${{x} == {x} : a }|${{x} == {x}}x"), "|truex");
    /* Numbers longer than any integer type compare numerically, no overflow. */
    assert_string_equal(expand("${{99999999999999999999999} > {100000000000000000000000}}"), "");
    assert_string_equal(expand("${{000123} == {123}}"), "true");
}

static void expand_level_operators(void **state)
{
    load("");
    assert_string_equal(expand("${{3.10} >level {3.9}}"), "true");
    assert_string_equal(expand("${{3.9} <level {3.10}}"), "true");
    assert_string_equal(expand("${{1.0.0} ==level {1}}"), "true");
    assert_string_equal(expand("${{2} !=level {2.0.1}}"), "true");
    assert_string_equal(expand("${{3.6} <=level {3.6}}|${{3.6} >=level {3.7}}"), "true|");
    assert_string_equal(expand("${{0} <level {2} ? {old} : {new}}"), "old");

    static const struct {
        const char *level, *mynetworks_style, *relay_domains, *relay_restrictions, *dot, *utf8,
            *respectful;
    } cases[] = {
        {"0", "subnet", "host.example, localhost.example, localhost", "", "yes", "no", "no"},
        {"2", "host", "", "permit_mynetworks, permit_sasl_authenticated, defer_unauth_destination",
         "no", "yes", "no"},
        {"3.6", "host", "",
         "permit_mynetworks, permit_sasl_authenticated, defer_unauth_destination", "no", "yes",
         "yes"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        strbuf text = STRBUF_INIT;
        strbuf_printf(&text, "compatibility_level = %s\nmyhostname = host.example\n",
                      cases[i].level);
        load(strbuf_str(&text));
        assert_string_equal(config_get("mynetworks_style"), cases[i].mynetworks_style);
        assert_string_equal(config_get("mydestination"),
                            "host.example, localhost.example, localhost");
        assert_string_equal(config_get("relay_domains"), cases[i].relay_domains);
        assert_string_equal(config_get("smtpd_relay_restrictions"), cases[i].relay_restrictions);
        assert_string_equal(config_get("append_dot_mydomain"), cases[i].dot);
        assert_int_equal(config_get_bool("append_dot_mydomain"), strcmp(cases[i].dot, "yes") == 0);
        assert_string_equal(config_get("smtputf8_enable"), cases[i].utf8);
        assert_string_equal(config_get("respectful_logging"), cases[i].respectful);
        strbuf_release(&text);
    }
}

static void expand_loops(void **state)
{
    load("myorigin = $myorigin\n");
    assert_string_equal(lookup_error("myorigin"),
                        "/etc/postfix/main.cf, line 1: parameter "
                        "myorigin: expansion loop: $myorigin -> $myorigin");
    load("a = x $b\nb = ${c?{$c}}\nc = $(a)\nd = ok\n");
    assert_string_equal(lookup_error("a"), "/etc/postfix/main.cf, line 3: parameter c: "
                                           "expansion loop: $a -> $b -> $c -> $a");
    assert_string_equal(config_get("d"), "ok");
    /* A ? test on the parameter itself is not a loop (the raw value is tested). */
    load("relayhost = ${relayhost?{set}:{unset}}\n");
    assert_string_equal(config_get("relayhost"), "set");
    /* Through a computed default: mydomain -> myhostname -> mydomain. */
    load("mydomain = $myhostname\nmyhostname = x.$mydomain\n");
    assert_non_null(strstr(lookup_error("mydomain"), "expansion loop"));
}

static void expand_depth_bounded(void **state)
{
    strbuf text = STRBUF_INIT;
    for (int i = 0; i < 500; i++)
        strbuf_printf(&text, "p%d = $p%d\n", i, i + 1);
    strbuf_puts(&text, "p500 = end\n");
    load(strbuf_str(&text));
    assert_non_null(strstr(lookup_error("p0"), "nested more than"));
    assert_string_equal(config_get("p450"), "end");
    strbuf_reset(&text);
    strbuf_puts(&text, "deep = ");
    for (int i = 0; i < 300; i++)
        strbuf_puts(&text, "${deep?{");
    load(strbuf_str(&text));
    assert_non_null(strstr(lookup_error("deep"), "unterminated"));
    strbuf_release(&text);
    /* Exponential blow-up is cut off by the length limit, not memory. */
    strbuf_reset(&text);
    for (int i = 0; i < 30; i++)
        strbuf_printf(&text, "e%d = $e%d$e%d$e%d$e%d\n", i, i + 1, i + 1, i + 1, i + 1);
    strbuf_puts(&text, "e30 = xxxxxxxxxxxxxxxx\n");
    load(strbuf_str(&text));
    assert_non_null(strstr(lookup_error("e0"), "longer than"));
    strbuf_release(&text);
}

static void expand_syntax_errors(void **state)
{
    load("myorigin = ${y\nrelayhost = $myorigin\n");
    assert_string_equal(lookup_error("relayhost"), "/etc/postfix/main.cf, line 1: parameter "
                                                   "myorigin: unterminated \"${\" in \"${y\"");
    load("");
    assert_non_null(strstr(expand_error("$(a"), "unterminated \"$(\""));
    assert_non_null(strstr(expand_error("a $ b"), "not followed by a parameter name"));
    assert_non_null(strstr(expand_error("trailing $"), "not followed by a parameter name"));
    assert_non_null(strstr(expand_error("${my-hostname}"), "syntax error"));
    assert_non_null(strstr(expand_error("${?x}"), "empty parameter name"));
    assert_non_null(strstr(expand_error("${{a}~{b}}"), "expected at"));
    assert_non_null(strstr(expand_error("${{a} ==foo {b}}"), "bad operator suffix"));
    assert_non_null(strstr(expand_error("${{a} == b}"), "\"{expression}\" expected"));
    assert_non_null(strstr(expand_error("${{a} == {b} x}"), "\"?\" or \":\" expected"));
    assert_non_null(
        strstr(expand_error("${{a} <level {2}}"), "malformed compatibility level syntax: \"a\""));
    assert_non_null(strstr(expand_error("${{1.} ==level {1}}"), "malformed"));
    assert_non_null(strstr(expand_error("${x?{a}:{b}junk}"), "unexpected input"));
    assert_non_null(strstr(expand_error("${x?{a}junk}"), "\":\" expected"));
    assert_non_null(strstr(expand_error("${x?{a}"), "unterminated"));
    assert_non_null(strstr(expand_error("${x?{{a}}"), "unterminated"));
    assert_non_null(strstr(expand_error("${x:{a}"), "unterminated"));
    assert_non_null(strstr(expand_error("${{a} == {b}"), "unterminated"));
    assert_non_null(strstr(expand_error("${{a} == {b} ? {x}:{y}"), "unterminated"));
}

static void overrides_win(void **state)
{
    load("myorigin = file\nrelayhost = $myorigin\n");
    const char *before = config_get("relayhost");
    assert_string_equal(before, "file");
    config_override_at("myorigin", "override", "/etc/postfix/master.cf, line 12");
    assert_string_equal(config_get("relayhost"), "override");
    assert_string_equal(before, "file"); /* old strings stay readable */
    assert_string_equal(config_origin("myorigin"), "/etc/postfix/master.cf, line 12");
    config_override("mydestination", "d");
    assert_true(config_is_set("mydestination"));
    assert_null(config_origin("mydestination"));

    strlist overlay = STRLIST_INIT;
    strlist_push(&overlay, "myorigin=temp");
    strbuf out = STRBUF_INIT, err = STRBUF_INIT;
    assert_int_equal(config_expand_with("$relayhost", &overlay, &out, &err), 0);
    assert_string_equal(strbuf_str(&out), "temp");
    assert_string_equal(config_get("relayhost"), "override");
    strlist_release(&overlay);
    strbuf_release(&out);
    strbuf_release(&err);
}

static void raw_parameters_stay_raw(void **state)
{
    load("recipient_delimiter = +\n");
    assert_string_equal(config_get("forward_path"),
                        "$home/.forward${recipient_delimiter}${extension}, $home/.forward");
    /* smtpd_expansion_filter holds "$%" that would not even parse. */
    assert_non_null(strchr(config_get("smtpd_expansion_filter"), '$'));
    load("mailbox_command = /usr/bin/procmail -a \"$EXTENSION\"\n");
    assert_string_equal(config_get("mailbox_command"), "/usr/bin/procmail -a \"$EXTENSION\"");
    assert_true(config_default_find("forward_path")->raw);
    assert_false(config_default_find("alias_maps")->raw);
}

/* Delivery-time attributes (local(8)'s forward_path): they shadow
 * parameters, are filtered, report "undefined", and never pollute the
 * parameter caches. */
static void attribute_expansion(void **state)
{
    load("recipient_delimiter = +\n"
         "fwd_dir = /var/forward\n"
         "uses_user = $fwd_dir/$user\n");
    const struct config_attr attrs[] = {
        {"user", "bob"},
        {"home", "/home/bob"},
        {"extension", "a;b|c`d$e f,g\th"},
        {"recipient_delimiter", "-"},
        {"domain", NULL},
    };
    const char *filter = "abcdefghijklmnopqrstuvwxyz/.-+_,";
    const struct config_attrs set = {attrs, 5, filter};
    strbuf out = STRBUF_INIT, err = STRBUF_INIT;
    bool undefined = true;
    assert_int_equal(config_expand_attrs("$home/.forward${recipient_delimiter}${extension}", &set,
                                         &out, &undefined, &err),
                     0);
    /* The attribute's delimiter, not main.cf's; every byte outside the
     * filter is '_', and the comma stays (splitting happened before). */
    assert_string_equal(out.s, "/home/bob/.forward-a_b_c_d_e_f,g_h");
    assert_false(undefined);
    /* A parameter referring to an attribute sees it... */
    assert_int_equal(config_expand_attrs("$uses_user", &set, &out, &undefined, &err), 0);
    assert_string_equal(out.s, "/var/forward/bob");
    /* ...and its cached value outside attribute expansion does not. */
    assert_string_equal(config_get("uses_user"), "/var/forward/");
    assert_int_equal(config_expand_attrs("$uses_user", &set, &out, &undefined, &err), 0);
    assert_string_equal(out.s, "/var/forward/bob");
    /* Parameters are the administrator's text: not filtered. */
    load("odd = /x;y\n");
    assert_int_equal(config_expand_attrs("$odd/$user", &set, &out, &undefined, &err), 0);
    assert_string_equal(out.s, "/x;y/bob");
    /* Undefined attribute: reported; ?/: test defined-and-non-empty. */
    assert_int_equal(config_expand_attrs("/d/$domain", &set, &out, &undefined, &err), 0);
    assert_true(undefined);
    assert_int_equal(config_expand_attrs("${domain?yes}${domain:no}${user?{u=$user}}", &set, &out,
                                         &undefined, &err),
                     0);
    assert_string_equal(out.s, "nou=bob");
    assert_false(undefined);
    /* No filter: values as they are. */
    const struct config_attrs raw = {attrs, 5, NULL};
    assert_int_equal(config_expand_attrs("${extension}", &raw, &out, NULL, &err), 0);
    assert_string_equal(out.s, "a;b|c`d$e f,g\th");
    /* The value is data: a "$name" inside it is not expanded again. */
    const struct config_attr sneaky[] = {{"extension", "$home"}};
    const struct config_attrs sn = {sneaky, 1, NULL};
    assert_int_equal(config_expand_attrs("x${extension}", &sn, &out, NULL, &err), 0);
    assert_string_equal(out.s, "x$home");
    /* Syntax errors are errors. */
    assert_int_equal(config_expand_attrs("${user", &set, &out, &undefined, &err), -1);
    strbuf_release(&out);
    strbuf_release(&err);
}

static void filter_append(void **state)
{
    strbuf out = STRBUF_INIT;
    config_filter_append(&out, "a/b c\001\377", "abc/");
    assert_string_equal(out.s, "a/b_c__");
    config_filter_append(&out, "+x", NULL);
    assert_string_equal(out.s, "a/b_c__+x");
    strbuf_release(&out);
}

/* ------------------------------------------------------- typed values */

static void typed_int(void **state)
{
    long long v;
    assert_int_equal(config_parse_int("0", &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(config_parse_int("-42", &v), 0);
    assert_int_equal(v, -42);
    assert_int_equal(config_parse_int("+7", &v), 0);
    assert_int_equal(v, 7);
    assert_int_equal(config_parse_int("9223372036854775807", &v), 0);
    assert_true(v == 9223372036854775807LL);
    assert_int_equal(config_parse_int("-9223372036854775808", &v), 0);
    assert_true(v == (-9223372036854775807LL - 1));
    assert_int_equal(config_parse_int("9223372036854775808", &v), -1);
    assert_int_equal(config_parse_int("-9223372036854775809", &v), -1);
    assert_int_equal(config_parse_int("99999999999999999999999", &v), -1);
    assert_int_equal(config_parse_int("", &v), -1);
    assert_int_equal(config_parse_int("-", &v), -1);
    assert_int_equal(config_parse_int("1x", &v), -1);
    assert_int_equal(config_parse_int(" 1", &v), -1);
    assert_int_equal(config_parse_int("0x10", &v), -1);

    assert_int_equal(config_parse_size("10240000", &v), 0);
    assert_int_equal(v, 10240000);
    assert_int_equal(config_parse_size("-1", &v), -1);
    assert_int_equal(config_parse_size("10k", &v), -1);

    load("message_size_limit = 20480000\nsmtpd_recipient_limit = $default_process_limit\n");
    assert_int_equal(config_get_size("message_size_limit"), 20480000);
    assert_int_equal(config_get_int("smtpd_recipient_limit"), 100);
    assert_int_equal(config_get_int("smtpd_hard_error_limit"), 20); /* ${stress?{1}:{20}} */
}

static void typed_bool(void **state)
{
    bool b;
    assert_int_equal(config_parse_bool("yes", &b), 0);
    assert_true(b);
    assert_int_equal(config_parse_bool("NO", &b), 0);
    assert_false(b);
    assert_int_equal(config_parse_bool("true", &b), -1);
    assert_int_equal(config_parse_bool("", &b), -1);
    assert_int_equal(config_parse_bool("yes ", &b), -1);
    load("biff = no\n");
    assert_false(config_get_bool("biff"));
    assert_true(config_get_bool("smtpd_delay_reject"));
}

static void typed_time(void **state)
{
    long long t;
    assert_int_equal(config_parse_time("300s", 's', &t), 0);
    assert_int_equal(t, 300);
    assert_int_equal(config_parse_time("5m", 's', &t), 0);
    assert_int_equal(t, 300);
    assert_int_equal(config_parse_time("2h", 's', &t), 0);
    assert_int_equal(t, 7200);
    assert_int_equal(config_parse_time("5d", 's', &t), 0);
    assert_int_equal(t, 5 * 86400);
    assert_int_equal(config_parse_time("1w", 's', &t), 0);
    assert_int_equal(t, 7 * 86400);
    assert_int_equal(config_parse_time("4", 'h', &t), 0); /* default unit */
    assert_int_equal(t, 4 * 3600);
    assert_int_equal(config_parse_time("4", 0, &t), 0);
    assert_int_equal(t, 4);
    assert_int_equal(config_parse_time("", 's', &t), -1);
    assert_int_equal(config_parse_time("s", 's', &t), -1);
    assert_int_equal(config_parse_time("5x", 's', &t), -1);
    assert_int_equal(config_parse_time("5ss", 's', &t), -1);
    assert_int_equal(config_parse_time("-5s", 's', &t), -1);
    assert_int_equal(config_parse_time("5 s", 's', &t), -1);
    assert_int_equal(config_parse_time("15250284452471w", 's', &t), 0); /* fits */
    assert_int_equal(config_parse_time("15250284452472w", 's', &t), -1);
    assert_int_equal(config_parse_time("9223372036854775807s", 's', &t), 0);
    assert_int_equal(config_parse_time("9223372036854775807m", 's', &t), -1);

    load("maximal_queue_lifetime = 2\ndelay_warning_time = 4\nsmtpd_timeout = 1m\n");
    assert_int_equal(config_get_time("maximal_queue_lifetime"), 2 * 86400); /* unit d */
    assert_int_equal(config_get_time("delay_warning_time"), 4 * 3600);      /* unit h */
    assert_int_equal(config_get_time("smtpd_timeout"), 60);
    assert_int_equal(config_get_time("queue_run_delay"), 300);
    assert_int_equal(config_get_time("bounce_queue_lifetime"), 5 * 86400);
}

/* A fatal getter, run in a child: its exit status and stderr line. */
static void expect_fatal(void (*fn)(void), const char *needle)
{
    int pipefd[2];
    assert_int_equal(pipe(pipefd), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(pipefd[1], 2);
        close(pipefd[0]);
        fn();
        _exit(0);
    }
    close(pipefd[1]);
    char buf[4096];
    size_t len = 0;
    ssize_t n;
    while ((n = read(pipefd[0], buf + len, sizeof(buf) - 1 - len)) > 0)
        len += (size_t)n;
    buf[len] = '\0';
    close(pipefd[0]);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_not_equal(WEXITSTATUS(status), 0);
    if (!strstr(buf, needle))
        fail_msg("expected \"%s\" in \"%s\"", needle, buf);
}

/* A panicking call, run in a child: killed by SIGABRT, stderr names it. */
static void expect_panic(void (*fn)(void), const char *needle)
{
    int pipefd[2];
    assert_int_equal(pipe(pipefd), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(pipefd[1], 2);
        close(pipefd[0]);
        fn();
        _exit(0);
    }
    close(pipefd[1]);
    char buf[4096];
    size_t len = 0;
    ssize_t n;
    while ((n = read(pipefd[0], buf + len, sizeof(buf) - 1 - len)) > 0)
        len += (size_t)n;
    buf[len] = '\0';
    close(pipefd[0]);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGABRT);
    if (!strstr(buf, needle))
        fail_msg("expected \"%s\" in \"%s\"", needle, buf);
}

static void get_misspelt_str(void)
{
    config_get("ipc_timeuot");
}
static void get_misspelt_int(void)
{
    config_get_int("smtpd_recipient_limt");
}
static void get_misspelt_bool(void)
{
    config_get_bool("bif");
}
static void get_misspelt_time(void)
{
    config_get_time("relay_destination_concurrency_limit_time");
}
static void get_misspelt_size(void)
{
    config_get_size("message_size_limt");
}
static void get_unregistered_service_param(void)
{
    config_get_int("relay_destination_concurrency_limit");
}

/* A name neither built in nor set anywhere is a programming error, not "";
 * user-defined and service-defined names stay readable. */
static void get_unknown_name_panics(void **state)
{
    (void)state;
    const char text[] = "my_class = check_sender_access hash:/x\n"
                        "relay_destination_concurrency_limit = 7\n"
                        "relay_fast_destination_recipient_limit = 3\n"
                        "empty_user_param =\n";
    strbuf err = STRBUF_INIT;
    assert_int_equal(config_load_text("main.cf", text, sizeof(text) - 1, &err), 0);
    expect_panic(get_misspelt_str, "unknown parameter \"ipc_timeuot\"");
    expect_panic(get_misspelt_int, "unknown parameter \"smtpd_recipient_limt\"");
    expect_panic(get_misspelt_bool, "unknown parameter \"bif\"");
    expect_panic(get_misspelt_time, "relay_destination_concurrency_limit_time");
    expect_panic(get_misspelt_size, "message_size_limt");
    /* User-defined parameters (restriction classes, -o names) are fine,
     * even when empty. */
    assert_string_equal(config_get("my_class"), "check_sender_access hash:/x");
    assert_string_equal(config_get("empty_user_param"), "");
    assert_true(config_is_defined("my_class"));
    assert_false(config_is_defined("ipc_timeuot"));
    assert_false(config_lookup("ipc_timeuot", &(const char *){NULL}, &err) < 0);
    /* A transport parameter set in main.cf is user-defined. */
    assert_int_equal(config_get_int("relay_destination_concurrency_limit"), 7);
    /* One not set is unknown until master.cf defines the service... */
    assert_int_equal(config_load_text("main.cf", "", 0, &err), 0);
    assert_false(config_is_defined("relay_destination_concurrency_limit"));
    expect_panic(get_unregistered_service_param, "relay_destination_concurrency_limit");
    /* ...then it has Postfix's $default_ value. */
    config_add_service("relay", "unix", "smtp");
    assert_true(config_is_defined("relay_destination_concurrency_limit"));
    assert_int_equal(config_get_int("relay_destination_concurrency_limit"), 20);
    /* An override (master.cf -o) defines a name too. */
    config_override("submission_only_param", "x");
    assert_string_equal(config_get("submission_only_param"), "x");
    strbuf_release(&err);
}

static void get_ipc_timeout(void)
{
    config_get_time("ipc_timeout");
}
static void get_max_use(void)
{
    config_get_int("max_use");
}
static void get_fudge(void)
{
    config_get_int("qmgr_fudge_factor");
}
static void get_line_limit(void)
{
    config_get_int("line_length_limit");
}

static void load_or_fail(const char *text)
{
    strbuf err = STRBUF_INIT;
    if (config_load_text("/etc/postfix/main.cf", text, strlen(text), &err) < 0)
        fail_msg("%s", strbuf_str(&err));
    strbuf_release(&err);
}

/* The table's min/max are enforced by the getters, naming file, line and
 * parameter; hostile spellings never wrap into range. */
static void get_out_of_range_is_fatal(void **state)
{
    (void)state;
    load_or_fail("ipc_timeout = 0\nmax_use = -1\nqmgr_fudge_factor = 101\n"
                 "line_length_limit = 511\n");
    expect_fatal(get_ipc_timeout, "/etc/postfix/main.cf, line 1: invalid ipc_timeout: 0 (min 1)");
    expect_fatal(get_max_use,
                 "/etc/postfix/main.cf, line 2: invalid max_use parameter value -1 < 1");
    expect_fatal(get_fudge, "line 3: invalid qmgr_fudge_factor parameter value 101 > 100");
    expect_fatal(get_line_limit, "invalid line_length_limit parameter value 511 < 512");
    /* Beyond the int-millisecond range, in any unit. */
    load_or_fail("ipc_timeout = 25d\n");
    expect_fatal(get_ipc_timeout, "invalid ipc_timeout: 2160000 (max 2147483)");
    load_or_fail("ipc_timeout = 9999999999999999999s\n");
    expect_fatal(get_ipc_timeout, "bad time configuration: ipc_timeout = 9999999999999999999s");
    load_or_fail("ipc_timeout = 15250284452472w\n"); /* * 604800 overflows */
    expect_fatal(get_ipc_timeout, "bad time configuration");
    load_or_fail("ipc_timeout = -5s\n");
    expect_fatal(get_ipc_timeout, "bad time configuration: ipc_timeout = -5s");
    load_or_fail("ipc_timeout = 10x\n");
    expect_fatal(get_ipc_timeout, "bad time configuration: ipc_timeout = 10x");
    load_or_fail("ipc_timeout = 1h1\n");
    expect_fatal(get_ipc_timeout, "bad time configuration: ipc_timeout = 1h1");
    load_or_fail("max_use = 99999999999999999999\n");
    expect_fatal(get_max_use, "bad numerical configuration: max_use = 99999999999999999999");
    load_or_fail("max_use = 0x10\n");
    expect_fatal(get_max_use, "bad numerical configuration: max_use = 0x10");
    /* An override (master.cf -o) names where it came from. */
    load_or_fail("");
    config_override_at("max_use", "0", "/etc/postfix/master.cf, line 12");
    expect_fatal(get_max_use, "/etc/postfix/master.cf, line 12: invalid max_use parameter value 0 < 1");
    /* The bounds themselves are inclusive. */
    load_or_fail("ipc_timeout = 1\nmax_use = 1\nqmgr_fudge_factor = 10\n"
                 "line_length_limit = 512\nmessage_size_limit = 0\n");
    assert_int_equal(config_get_time("ipc_timeout"), 1);
    assert_int_equal(config_get_int("max_use"), 1);
    assert_int_equal(config_get_int("qmgr_fudge_factor"), 10);
    assert_int_equal(config_get_int("line_length_limit"), 512);
    assert_int_equal(config_get_size("message_size_limit"), 0);
    load_or_fail("ipc_timeout = 2147483s\n");
    assert_int_equal(config_get_time("ipc_timeout"), 2147483);
    /* A string entry read as a number has no bounds (our extension). */
    assert_int_equal(config_get_int("local_destination_batch_limit"), 8);
}

/* Every numeric default lies within its own bounds (in both stress
 * states), and non-numeric entries carry none. */
static void defaults_within_bounds(void **state)
{
    (void)state;
    size_t n;
    const struct config_default *t = config_defaults(&n);
    for (int stress = 0; stress < 2; stress++) {
        load_or_fail(stress ? "stress = yes\n" : "");
        for (size_t i = 0; i < n; i++) {
            if (t[i].type == CONFIG_STR || t[i].type == CONFIG_BOOL) {
                assert_int_equal(t[i].min, 0);
                assert_int_equal(t[i].max, 0);
                continue;
            }
            if (!t[i].value)
                continue;
            assert_true(t[i].min >= 0);
            assert_true(t[i].min <= t[i].max);
            long long v = t[i].type == CONFIG_INT    ? config_get_int(t[i].name)
                          : t[i].type == CONFIG_TIME ? config_get_time(t[i].name)
                                                     : config_get_size(t[i].name);
            if (v < t[i].min || v > t[i].max)
                fail_msg("%s default %lld outside [%lld, %lld]", t[i].name, v, t[i].min, t[i].max);
        }
    }
    assert_int_equal(config_default_find("ipc_timeout")->min, 1);
}

static void get_bad_int(void)
{
    config_get_int("message_size_limit");
}

static void get_bad_time(void)
{
    config_get_time("smtpd_timeout");
}

static void get_bad_bool(void)
{
    config_get_bool("biff");
}

static void get_loop(void)
{
    config_get("myorigin");
}

static void typed_getters_die_naming_file_line_parameter(void **state)
{
    load("myorigin = $relayhost\nrelayhost = $myorigin\nmessage_size_limit = 1x\n"
         "smtpd_timeout = 5y\nbiff = maybe\n");
    expect_fatal(get_bad_int, "fatal: /etc/postfix/main.cf, line 3: bad numerical configuration: "
                              "message_size_limit = 1x");
    expect_fatal(get_bad_time,
                 "/etc/postfix/main.cf, line 4: bad time configuration: smtpd_timeout = 5y");
    expect_fatal(get_bad_bool,
                 "/etc/postfix/main.cf, line 5: bad boolean configuration: biff = maybe");
    expect_fatal(get_loop, "parameter relayhost: expansion loop");
}

/* ----------------------------------------------------------- defaults */

static void defaults_table_sorted_and_typed(void **state)
{
    size_t n;
    const struct config_default *t = config_defaults(&n);
    assert_true(n > 700);
    for (size_t i = 1; i < n; i++)
        if (strcmp(t[i - 1].name, t[i].name) >= 0)
            fail_msg("table not sorted at %s", t[i].name);
    for (size_t i = 0; i < n; i++) {
        assert_ptr_equal(config_default_find(t[i].name), &t[i]);
        if (t[i].type == CONFIG_TIME)
            assert_non_null(strchr("smhdw", t[i].time_unit));
    }
    assert_null(config_default_find("nosuch_parameter"));
    assert_int_equal(config_default_find("maximal_queue_lifetime")->time_unit, 'd');
    assert_int_equal(config_default_find("delay_warning_time")->time_unit, 'h');
    assert_int_equal(config_default_find("smtpd_timeout")->type, CONFIG_TIME);
    assert_int_equal(config_default_find("message_size_limit")->type, CONFIG_SIZE);
    assert_int_equal(config_default_find("biff")->type, CONFIG_BOOL);
    assert_int_equal(config_default_find("default_process_limit")->type, CONFIG_INT);

    /* Every typed default parses with its own type at every level. */
    static const char *const levels[] = {"0", "2", "3.6"};
    for (size_t l = 0; l < 3; l++) {
        strbuf text = STRBUF_INIT;
        strbuf_printf(&text, "compatibility_level = %s\n", levels[l]);
        load(strbuf_str(&text));
        strbuf_release(&text);
        for (size_t i = 0; i < n; i++) {
            const char *v = config_get(t[i].name);
            long long x;
            bool b;
            int rc = 0;
            switch (t[i].type) {
            case CONFIG_INT:
                rc = config_parse_int(v, &x);
                break;
            case CONFIG_SIZE:
                rc = config_parse_size(v, &x);
                break;
            case CONFIG_BOOL:
                rc = config_parse_bool(v, &b);
                break;
            case CONFIG_TIME:
                rc = config_parse_time(v, t[i].time_unit, &x);
                break;
            case CONFIG_STR:
                break;
            }
            if (rc != 0)
                fail_msg("default %s = \"%s\" does not parse as its type", t[i].name, v);
        }
    }
}

static void defaults_cover_the_suite(void **state)
{
    static const char *const needed[] = {
        "myhostname",
        "mydomain",
        "myorigin",
        "inet_interfaces",
        "inet_protocols",
        "mydestination",
        "mynetworks",
        "mynetworks_style",
        "home_mailbox",
        "smtpd_banner",
        "smtpd_sasl_auth_enable",
        "smtpd_sasl_type",
        "smtpd_sasl_path",
        "smtpd_sasl_security_options",
        "smtpd_tls_cert_file",
        "smtpd_tls_key_file",
        "smtpd_tls_security_level",
        "smtp_tls_security_level",
        "smtp_tls_CApath",
        "relayhost",
        "relay_domains",
        "alias_maps",
        "alias_database",
        "compatibility_level",
        "biff",
        "append_dot_mydomain",
        "readme_directory",
        "recipient_delimiter",
        "mailbox_size_limit",
        "config_directory",
        "queue_directory",
        "daemon_directory",
        "command_directory",
        "data_directory",
        "meta_directory",
        "shlib_directory",
        "sendmail_path",
        "newaliases_path",
        "mailq_path",
        "manpage_directory",
        "sample_directory",
        "html_directory",
        "mail_owner",
        "setgid_group",
        "default_privs",
        "default_process_limit",
        "max_use",
        "max_idle",
        "service_throttle_time",
        "ipc_timeout",
        "ipc_idle",
        "process_id_directory",
        "master_service_disable",
        "syslog_name",
        "syslog_facility",
        "maillog_file",
        "maillog_file_prefixes",
        "smtpd_client_restrictions",
        "smtpd_helo_restrictions",
        "smtpd_sender_restrictions",
        "smtpd_relay_restrictions",
        "smtpd_recipient_restrictions",
        "smtpd_data_restrictions",
        "smtpd_end_of_data_restrictions",
        "smtpd_helo_required",
        "smtpd_delay_reject",
        "smtpd_recipient_limit",
        "smtpd_timeout",
        "smtpd_error_sleep_time",
        "smtpd_soft_error_limit",
        "smtpd_hard_error_limit",
        "smtpd_client_connection_count_limit",
        "smtpd_client_connection_rate_limit",
        "smtpd_forbidden_commands",
        "smtpd_per_request_deadline",
        "smtpd_min_data_rate",
        "smtpd_forbid_bare_newline",
        "smtpd_forbid_bare_newline_exclusions",
        "smtpd_tls_auth_only",
        "smtpd_tls_loglevel",
        "smtpd_tls_received_header",
        "smtpd_tls_protocols",
        "smtpd_tls_mandatory_protocols",
        "smtpd_sasl_local_domain",
        "smtpd_sasl_authenticated_header",
        "smtpd_reject_unlisted_recipient",
        "message_size_limit",
        "line_length_limit",
        "header_size_limit",
        "disable_vrfy_command",
        "strict_rfc821_envelopes",
        "hash_queue_names",
        "hash_queue_depth",
        "enable_long_queue_ids",
        "queue_minfree",
        "header_checks",
        "body_checks",
        "always_add_missing_headers",
        "canonical_maps",
        "sender_canonical_maps",
        "recipient_canonical_maps",
        "virtual_alias_maps",
        "virtual_alias_domains",
        "virtual_mailbox_domains",
        "virtual_mailbox_maps",
        "queue_run_delay",
        "minimal_backoff_time",
        "maximal_backoff_time",
        "maximal_queue_lifetime",
        "bounce_queue_lifetime",
        "delay_warning_time",
        "qmgr_message_active_limit",
        "qmgr_message_recipient_limit",
        "default_destination_concurrency_limit",
        "local_destination_concurrency_limit",
        "initial_destination_concurrency",
        "default_destination_recipient_limit",
        "local_destination_recipient_limit",
        "transport_retry_time",
        "local_transport",
        "local_recipient_maps",
        "mailbox_command",
        "mailbox_transport",
        "mail_spool_directory",
        "forward_path",
        "allow_mail_to_commands",
        "allow_mail_to_files",
        "mailbox_delivery_lock",
        "luser_relay",
        "owner_request_special",
        "expand_owner_alias",
        "default_transport",
        "relay_transport",
        "smtp_connect_timeout",
        "smtp_helo_timeout",
        "smtp_helo_name",
        "smtp_host_lookup",
        "disable_dns_lookups",
        "smtp_fallback_relay",
        "smtp_sasl_auth_enable",
        "smtp_sasl_password_maps",
        "transport_maps",
        "bounce_notice_recipient",
        "2bounce_notice_recipient",
        "notify_classes",
        "bounce_size_limit",
        "authorized_submit_users",
        "authorized_mailq_users",
        "authorized_flush_users",
        "mail_name",
        "mail_version",
        "alternate_config_directories",
        "unknown_local_recipient_reject_code",
    };
    for (size_t i = 0; i < sizeof(needed) / sizeof(needed[0]); i++)
        if (!config_default_find(needed[i]))
            fail_msg("no default for %s", needed[i]);
}

/* Debian's values for the names that come from paths.h. */
static const char *debian_path(const char *name)
{
    static const struct {
        const char *name, *debian, *ours;
    } paths[] = {
        {"config_directory", "/etc/postfix", MTA_DEF_CONFIG_DIR},
        {"queue_directory", "/var/spool/postfix", MTA_DEF_QUEUE_DIR},
        {"daemon_directory", "/usr/lib/postfix/sbin", MTA_DEF_DAEMON_DIR},
        {"command_directory", "/usr/sbin", MTA_DEF_COMMAND_DIR},
        {"data_directory", "/var/lib/postfix", MTA_DEF_DATA_DIR},
    };
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
        if (strcmp(paths[i].name, name) == 0)
            return strcmp(paths[i].debian, paths[i].ours) == 0 ? "same" : "differs";
    return NULL;
}

static void defaults_match_postfix_golden(void **state)
{
    FILE *fp = fopen(TEST_DATA_DIR "/postconf-d-3.7.txt", "r");
    assert_non_null(fp);
    char line[8192];
    size_t golden = 0;
    while (fgets(line, sizeof(line), fp)) {
        line[strcspn(line, "\n")] = '\0';
        char *sep = strstr(line, " =");
        assert_non_null(sep);
        *sep = '\0';
        const char *value = sep[2] == ' ' ? sep + 3 : sep + 2;
        const struct config_default *d = config_default_find(line);
        if (!d)
            fail_msg("golden parameter %s missing from the table", line);
        golden++;
        const char *p = debian_path(line);
        if (p && strcmp(p, "differs") == 0)
            continue; /* built with other installation paths */
        if (!d->value)
            fail_msg("%s is computed but Postfix prints a fixed default", line);
        if (strcmp(d->value, value) != 0)
            fail_msg("%s: table \"%s\", Postfix \"%s\"", line, d->value, value);
    }
    fclose(fp);
    /* And nothing in the table is missing from the golden file except the
     * parameters computed on the running machine and our own extensions
     * (tools/gen_config_defaults.py EXTENSIONS). */
    size_t n;
    const struct config_default *t = config_defaults(&n);
    size_t computed = 0;
    for (size_t i = 0; i < n; i++)
        if (!t[i].value)
            computed++;
    assert_int_equal(computed, 6); /* myhostname mydomain mynetworks mail_version process_* */
    static const char *const extensions[] = {"smtpd_pregreet_wait",
                                             "local_destination_batch_limit"};
    size_t n_ext = sizeof(extensions) / sizeof(extensions[0]);
    for (size_t i = 0; i < n_ext; i++)
        assert_non_null(config_default_find(extensions[i]));
    assert_int_equal(golden + computed + n_ext, n);
}

static void computed_defaults(void **state)
{
    load("");
    const char *host = config_get("myhostname");
    assert_non_null(strchr(host, '.'));
    assert_string_equal(config_get("mydomain"), strchr(host, '.') + 1);
    assert_string_equal(config_get("mail_version"), MTA_VERSION);
    long long pid = config_get_int("process_id");
    assert_int_equal(pid, getpid());
    assert_string_equal(config_get("myorigin"), host);
    load("myhostname = a.b.c\n");
    assert_string_equal(config_get("mydomain"), "b.c");
    load("myhostname = abc\n");
    assert_string_equal(config_get("mydomain"), "localdomain");
    load("mydomain = example.org\n");
    const char *h = config_get("myhostname");
    char hn[256] = "";
    gethostname(hn, sizeof(hn) - 1);
    if (!strchr(hn, '.')) {
        strbuf want = STRBUF_INIT;
        strbuf_printf(&want, "%s.example.org", hn);
        assert_string_equal(h, strbuf_str(&want));
        strbuf_release(&want);
    }
    /* mynetworks follows mynetworks_style and inet_protocols. */
    load("mynetworks_style = host\ninet_protocols = ipv4\n");
    const char *nets = config_get("mynetworks");
    assert_null(strchr(nets, '['));
    for (const char *p = nets; (p = strchr(p, '/')) != NULL; p++)
        assert_int_equal(strncmp(p, "/32", 3), 0);
    load("mynetworks_style = subnet\ninet_interfaces = loopback-only\n");
    nets = config_get("mynetworks");
    if (*nets) { /* a machine with a loopback interface */
        assert_non_null(strstr(nets, "127.0.0.0/8"));
    }
    load("mynetworks_style = host\ninet_interfaces = loopback-only\ninet_protocols = ipv4\n");
    nets = config_get("mynetworks");
    if (*nets)
        assert_string_equal(nets, "127.0.0.1/32");
    load("mynetworks_style = bogus\n");
    assert_non_null(strstr(lookup_error("mynetworks"), "unknown mynetworks_style value: bogus"));
    /* A value set in main.cf replaces the computation. */
    load("mynetworks = 10.0.0.0/8\n");
    assert_string_equal(config_get("mynetworks"), "10.0.0.0/8");
    assert_string_equal(config_get_raw("mynetworks"), "10.0.0.0/8");
}

/* ------------------------------------------------------ unused params */

static void unused_parameters(void **state)
{
    load("foo = 1\n"                                 /* unused */
         "bar = 2\n"                                 /* referenced below */
         "myorigin = $bar\n"                         /* known */
         "baz = 3\n"                                 /* a master.cf -o name */
         "qux = 4\n"                                 /* referenced from master.cf */
         "relay_destination_concurrency_limit = 5\n" /* service-defined */
         "nested = ${x?{$deep}}\n"                   /* unknown itself, references deep */
         "deep = 6\n");
    config_mark_used("baz");
    config_mark_references("-o smtpd_x=$qux");
    config_add_service("relay", "unix", "smtp");
    config_add_service("submission", "inet", "smtpd");
    assert_true(config_is_known("bar"));
    assert_false(config_is_known("foo"));
    assert_true(config_is_known("relay_destination_recipient_limit"));
    assert_false(config_is_known("submission_destination_recipient_limit"));
    assert_string_equal(config_get_raw("relay_destination_recipient_limit"),
                        "$default_destination_recipient_limit");
    assert_int_equal(config_get_int("relay_destination_recipient_limit"), 50);
    assert_int_equal(config_get_int("relay_destination_concurrency_limit"), 5);
    assert_int_equal(config_warn_unused(), 2); /* foo, nested */
    assert_int_equal(config_warn_unused(), 0);
    config_add_service("maildrop", "unix", "pipe");
    assert_string_equal(config_default_value("maildrop_time_limit"), "$command_time_limit");
    assert_int_equal(config_get_time("maildrop_time_limit"), 1000);
    strlist names = STRLIST_INIT;
    config_service_param_names(&names);
    assert_true(strlist_contains(&names, "maildrop_time_limit"));
    assert_true(strlist_contains(&names, "relay_transport_rate_delay"));
    assert_false(strlist_contains(&names, "relay_destination_concurrency_limit") &&
                 !config_is_known("relay_destination_concurrency_limit"));
    strlist_release(&names);
    assert_true(config_valid_name("smtpd_banner"));
    assert_false(config_valid_name("my.origin"));
    assert_false(config_valid_name(""));
}

/* ------------------------------------------------------ directory choice */

static char tmpdir[256];

static void write_file(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    assert_int_equal(fclose(fp), 0);
}

static void make_dirs(void)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_config.XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
    char path[512];
    snprintf(path, sizeof(path), "%s/default", tmpdir);
    assert_int_equal(mkdir(path, 0755), 0);
    snprintf(path, sizeof(path), "%s/alt", tmpdir);
    assert_int_equal(mkdir(path, 0755), 0);
    snprintf(path, sizeof(path), "%s/default/main.cf", tmpdir);
    char text[1024];
    snprintf(text, sizeof(text),
             "base = %s\nalternate_config_directories = /nonexistent,\n  $base/alt\n", tmpdir);
    write_file(path, text);
    snprintf(path, sizeof(path), "%s/alt/main.cf", tmpdir);
    write_file(path, "myorigin = alt.example\n");
}

static char choose_default[512], choose_dir[512];
static bool choose_restricted;

static void run_choose(void)
{
    config_choose_dir_from(*choose_dir ? choose_dir : NULL, choose_restricted, choose_default);
}

static void choose_dir_rules(void **state)
{
    make_dirs();
    snprintf(choose_default, sizeof(choose_default), "%s/default", tmpdir);
    char alt[512], other[512];
    snprintf(alt, sizeof(alt), "%s/alt", tmpdir);
    snprintf(other, sizeof(other), "%s", tmpdir);

    unsetenv("MAIL_CONFIG");
    assert_string_equal(config_choose_dir_from(NULL, true, choose_default), choose_default);
    assert_string_equal(config_choose_dir(NULL, false), MTA_DEF_CONFIG_DIR);
    /* -c wins over $MAIL_CONFIG, which wins over the default. */
    setenv("MAIL_CONFIG", other, 1);
    assert_string_equal(config_choose_dir_from(NULL, false, choose_default), other);
    assert_string_equal(config_choose_dir_from(alt, false, choose_default), alt);
    /* Restricted: listed directories (after expansion) are fine... */
    assert_string_equal(config_choose_dir_from(alt, true, choose_default), alt);
    setenv("MAIL_CONFIG", alt, 1);
    assert_string_equal(config_choose_dir_from(NULL, true, choose_default), alt);
    char slashed[600];
    snprintf(slashed, sizeof(slashed), "%s/", choose_default);
    assert_string_equal(config_choose_dir_from(slashed, true, choose_default), slashed);
    unsetenv("MAIL_CONFIG");
    /* ...others exit with EX_USAGE and say why. */
    snprintf(choose_dir, sizeof(choose_dir), "%s", other);
    choose_restricted = true;
    expect_fatal(run_choose, "unauthorized configuration directory name");
    int status;
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        dup2(devnull, 2);
        run_choose();
        _exit(0);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_int_equal(WEXITSTATUS(status), 64);
    setenv("MAIL_CONFIG", other, 1);
    *choose_dir = '\0';
    expect_fatal(run_choose, "alternate_config_directories");
    unsetenv("MAIL_CONFIG");
    /* The loaded directory is what config_directory reports. */
    strbuf err = STRBUF_INIT;
    assert_int_equal(config_load(alt, &err), 0);
    assert_string_equal(config_directory(), alt);
    assert_string_equal(config_get("config_directory"), alt);
    assert_string_equal(config_get("myorigin"), "alt.example");
    assert_int_equal(config_load(other, &err), -1);
    assert_non_null(strstr(strbuf_str(&err), "main.cf: No such file or directory"));
    strbuf_release(&err);

    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    msg_init("test_config", true);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parse_basic),
        cmocka_unit_test(get_unknown_name_panics),
        cmocka_unit_test(get_out_of_range_is_fatal),
        cmocka_unit_test(defaults_within_bounds),
        cmocka_unit_test(parse_continuation),
        cmocka_unit_test(parse_leading_whitespace_skipped),
        cmocka_unit_test(parse_last_definition_wins),
        cmocka_unit_test(parse_errors_name_file_and_line),
        cmocka_unit_test(parse_failure_keeps_previous),
        cmocka_unit_test(parse_megabyte_line),
        cmocka_unit_test(expand_simple_forms),
        cmocka_unit_test(expand_conditionals),
        cmocka_unit_test(expand_relational),
        cmocka_unit_test(expand_level_operators),
        cmocka_unit_test(expand_loops),
        cmocka_unit_test(expand_depth_bounded),
        cmocka_unit_test(expand_syntax_errors),
        cmocka_unit_test(overrides_win),
        cmocka_unit_test(raw_parameters_stay_raw),
        cmocka_unit_test(typed_int),
        cmocka_unit_test(typed_bool),
        cmocka_unit_test(typed_time),
        cmocka_unit_test(typed_getters_die_naming_file_line_parameter),
        cmocka_unit_test(defaults_table_sorted_and_typed),
        cmocka_unit_test(defaults_cover_the_suite),
        cmocka_unit_test(defaults_match_postfix_golden),
        cmocka_unit_test(computed_defaults),
        cmocka_unit_test(unused_parameters),
        cmocka_unit_test(choose_dir_rules),
        cmocka_unit_test(attribute_expansion),
        cmocka_unit_test(filter_append),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
