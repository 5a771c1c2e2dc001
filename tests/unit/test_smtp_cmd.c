/* Unit tests: smtp_cmd (verbs, MAIL/RCPT paths, ESMTP parameters, BDAT,
 * xtext, counts, forbidden commands), table-driven and hostile. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mem.h"
#include "smtp_cmd.h"

#define L(x) x, sizeof(x) - 1

enum { LENIENT = 0, STRICT, UTF8, LIMITED };

static smtp_cmd_opts opts_for(int which)
{
    smtp_cmd_opts o = {0};
    if (which == STRICT)
        o.strict_rfc821 = true;
    if (which == UTF8)
        o.utf8_addresses = true;
    if (which == LIMITED)
        o.message_size_limit = 10240000;
    return o;
}

struct cmd_case {
    const char *line;
    size_t len;
    int opts;
    enum smtp_verb verb;
    const char *reply; /* NULL: success; else the formatted reply */
    const char *addr;  /* expected internal address for MAIL/RCPT success */
};

static const struct cmd_case cases[] = {
    /* Verbs, case-insensitive. */
    {L("HELO client.example"), LENIENT, SMTP_VERB_HELO, NULL, NULL},
    {L("helo client.example"), LENIENT, SMTP_VERB_HELO, NULL, NULL},
    {L("EhLo client.example"), LENIENT, SMTP_VERB_EHLO, NULL, NULL},
    {L("LHLO x"), LENIENT, SMTP_VERB_LHLO, NULL, NULL},
    {L("HELO"), LENIENT, SMTP_VERB_HELO, "501 Syntax: HELO hostname", NULL},
    {L("EHLO   "), LENIENT, SMTP_VERB_EHLO, "501 Syntax: EHLO hostname", NULL},
    {L("DATA"), LENIENT, SMTP_VERB_DATA, NULL, NULL},
    {L("data"), LENIENT, SMTP_VERB_DATA, NULL, NULL},
    {L("DATA x"), LENIENT, SMTP_VERB_DATA, "501 5.5.4 Syntax: DATA", NULL},
    {L("RSET"), LENIENT, SMTP_VERB_RSET, NULL, NULL},
    {L("RSET now"), LENIENT, SMTP_VERB_RSET, "501 5.5.4 Syntax: RSET", NULL},
    {L("NOOP"), LENIENT, SMTP_VERB_NOOP, NULL, NULL},
    {L("NOOP x"), LENIENT, SMTP_VERB_NOOP, "501 5.5.4 Syntax: NOOP", NULL},
    {L("QUIT"), LENIENT, SMTP_VERB_QUIT, NULL, NULL},
    {L("HELP"), LENIENT, SMTP_VERB_HELP, NULL, NULL},
    {L("VRFY"), LENIENT, SMTP_VERB_VRFY, "501 5.5.4 Syntax: VRFY address", NULL},
    {L("VRFY root"), LENIENT, SMTP_VERB_VRFY, NULL, NULL},
    {L("EXPN list"), LENIENT, SMTP_VERB_EXPN, NULL, NULL},
    {L("ETRN"), LENIENT, SMTP_VERB_ETRN, "501 5.5.4 Syntax: ETRN domain", NULL},
    {L("ETRN example.com"), LENIENT, SMTP_VERB_ETRN, NULL, NULL},
    {L("AUTH"), LENIENT, SMTP_VERB_AUTH, "501 5.5.4 Syntax: AUTH mechanism", NULL},
    {L("AUTH PLAIN AGZvbwBiYXI="), LENIENT, SMTP_VERB_AUTH, NULL, NULL},
    {L("STARTTLS"), LENIENT, SMTP_VERB_STARTTLS, NULL, NULL},
    {L("STARTTLS x"), LENIENT, SMTP_VERB_STARTTLS, "501 5.5.4 Syntax: STARTTLS", NULL},
    {L("XCLIENT ADDR=1.2.3.4"), LENIENT, SMTP_VERB_XCLIENT, NULL, NULL},
    {L("XFORWARD NAME=x"), LENIENT, SMTP_VERB_XFORWARD, NULL, NULL},
    {L("  NOOP"), LENIENT, SMTP_VERB_NOOP, NULL, NULL},
    {L("NOOP \t "), LENIENT, SMTP_VERB_NOOP, NULL, NULL},
    {L(""), LENIENT, SMTP_VERB_UNKNOWN, "500 5.5.2 Error: bad syntax", NULL},
    {L("   "), LENIENT, SMTP_VERB_UNKNOWN, "500 5.5.2 Error: bad syntax", NULL},
    {L("XYZZY"), LENIENT, SMTP_VERB_UNKNOWN, "500 5.5.2 Error: command not recognized", NULL},
    {L("MAILX FROM:<a@b>"), LENIENT, SMTP_VERB_UNKNOWN, "500 5.5.2 Error: command not recognized",
     NULL},
    {L("MAI"), LENIENT, SMTP_VERB_UNKNOWN, "500 5.5.2 Error: command not recognized", NULL},
    {L("M\xc3\x84IL FROM:<a@b>"), LENIENT, SMTP_VERB_UNKNOWN,
     "500 5.5.2 Error: command not recognized", NULL},
    {L("GET / HTTP/1.1"), LENIENT, SMTP_VERB_UNKNOWN, "500 5.5.2 Error: command not recognized",
     NULL},
    /* NUL, CR, LF anywhere in the line. */
    {L("NOOP\0"), LENIENT, SMTP_VERB_UNKNOWN, "500 5.5.2 Error: bad syntax", NULL},
    {L("MAIL FROM:<a@b>\0RCPT TO:<c@d>"), LENIENT, SMTP_VERB_MAIL, "500 5.5.2 Error: bad syntax",
     NULL},
    {L("MAIL FROM:<a@b>\rRCPT TO:<c@d>"), LENIENT, SMTP_VERB_MAIL, "500 5.5.2 Error: bad syntax",
     NULL},
    {L("HELO a\nb"), LENIENT, SMTP_VERB_HELO, "500 5.5.2 Error: bad syntax", NULL},
    {L("\0"), LENIENT, SMTP_VERB_UNKNOWN, "500 5.5.2 Error: bad syntax", NULL},
    /* MAIL FROM forms Postfix accepts by default. */
    {L("MAIL FROM:<a@b.c>"), LENIENT, SMTP_VERB_MAIL, NULL, "a@b.c"},
    {L("mail from:<a@b.c>"), LENIENT, SMTP_VERB_MAIL, NULL, "a@b.c"},
    {L("mail from: <a@b.c>"), LENIENT, SMTP_VERB_MAIL, NULL, "a@b.c"},
    {L("mail from: <a@b.c>"), STRICT, SMTP_VERB_MAIL, NULL, "a@b.c"},
    {L("mail from: user@yahoo.com"), LENIENT, SMTP_VERB_MAIL, NULL, "user@yahoo.com"},
    {L("mail from: user@yahoo.com"), STRICT, SMTP_VERB_MAIL, "501 5.1.7 Bad sender address syntax",
     NULL},
    {L("MAIL FROM:<>"), LENIENT, SMTP_VERB_MAIL, NULL, ""},
    {L("MAIL FROM:<@a,@b:u@c.d>"), LENIENT, SMTP_VERB_MAIL, NULL, "u@c.d"},
    {L("MAIL FROM:<\"a b\"@c.d>"), LENIENT, SMTP_VERB_MAIL, NULL, "a b@c.d"},
    {L("MAIL FROM:"), LENIENT, SMTP_VERB_MAIL, "501 5.5.4 Syntax: MAIL FROM:<address>", NULL},
    {L("MAIL FROM:   "), LENIENT, SMTP_VERB_MAIL, "501 5.5.4 Syntax: MAIL FROM:<address>", NULL},
    {L("MAIL"), LENIENT, SMTP_VERB_MAIL, "501 5.5.4 Syntax: MAIL FROM:<address>", NULL},
    {L("MAIL TO:<a@b>"), LENIENT, SMTP_VERB_MAIL, "501 5.5.4 Syntax: MAIL FROM:<address>", NULL},
    {L("MAIL FROM <a@b>"), LENIENT, SMTP_VERB_MAIL, "501 5.5.4 Syntax: MAIL FROM:<address>", NULL},
    {L("MAIL FROM:<a@b"), LENIENT, SMTP_VERB_MAIL, "501 5.1.7 Bad sender address syntax", NULL},
    {L("MAIL FROM:<a@b>>"), LENIENT, SMTP_VERB_MAIL, "501 5.1.7 Bad sender address syntax", NULL},
    {L("MAIL FROM:<\"a@b>"), LENIENT, SMTP_VERB_MAIL, "501 5.1.7 Bad sender address syntax", NULL},
    {L("MAIL FROM:<;sleep 66;>"), LENIENT, SMTP_VERB_MAIL, "501 5.1.7 Bad sender address syntax",
     NULL},
    {L("MAIL FROM:<a@>"), LENIENT, SMTP_VERB_MAIL, "501 5.1.7 Bad sender address syntax", NULL},
    {L("MAIL FROM:<j\xc3\xb6rg@x.de>"), LENIENT, SMTP_VERB_MAIL,
     "501 5.1.7 Bad sender address syntax", NULL},
    {L("MAIL FROM:<j\xc3\xb6rg@x.de> SMTPUTF8"), UTF8, SMTP_VERB_MAIL, NULL, "j\xc3\xb6rg@x.de"},
    /* RCPT. */
    {L("RCPT TO:<u@d.e>"), LENIENT, SMTP_VERB_RCPT, NULL, "u@d.e"},
    {L("rcpt to: u@d.e"), LENIENT, SMTP_VERB_RCPT, NULL, "u@d.e"},
    {L("RCPT TO:<postmaster>"), LENIENT, SMTP_VERB_RCPT, NULL, "postmaster"},
    {L("RCPT TO:<>"), LENIENT, SMTP_VERB_RCPT, "501 5.1.3 Bad recipient address syntax", NULL},
    {L("RCPT TO:"), LENIENT, SMTP_VERB_RCPT, "501 5.5.4 Syntax: RCPT TO:<address>", NULL},
    {L("RCPT FROM:<a@b>"), LENIENT, SMTP_VERB_RCPT, "501 5.5.4 Syntax: RCPT TO:<address>", NULL},
    {L("RCPT TO:<\"|/bin/sh\"@x>"), LENIENT, SMTP_VERB_RCPT, NULL, "|/bin/sh@x"},
    /* MAIL parameters. */
    {L("MAIL FROM:<a@b> SIZE=1000"), LENIENT, SMTP_VERB_MAIL, NULL, "a@b"},
    {L("MAIL FROM:<a@b> size=1000 body=8bitmime"), LENIENT, SMTP_VERB_MAIL, NULL, "a@b"},
    {L("MAIL FROM:<a@b> SIZE="), LENIENT, SMTP_VERB_MAIL, "501 5.5.4 Bad message size syntax",
     NULL},
    {L("MAIL FROM:<a@b> SIZE=-1"), LENIENT, SMTP_VERB_MAIL, "501 5.5.4 Bad message size syntax",
     NULL},
    {L("MAIL FROM:<a@b> SIZE=12k"), LENIENT, SMTP_VERB_MAIL, "501 5.5.4 Bad message size syntax",
     NULL},
    {L("MAIL FROM:<a@b> SIZE= 1"), LENIENT, SMTP_VERB_MAIL, "501 5.5.4 Bad message size syntax",
     NULL},
    {L("MAIL FROM:<a@b> SIZE=99999999999999999999"), LENIENT, SMTP_VERB_MAIL,
     "552 5.3.4 Message size exceeds file system imposed limit", NULL},
    {L("MAIL FROM:<a@b> SIZE=9223372036854775808"), LENIENT, SMTP_VERB_MAIL,
     "552 5.3.4 Message size exceeds file system imposed limit", NULL},
    {L("MAIL FROM:<a@b> SIZE=9223372036854775807"), LENIENT, SMTP_VERB_MAIL, NULL, "a@b"},
    {L("MAIL FROM:<a@b> SIZE=10240001"), LIMITED, SMTP_VERB_MAIL,
     "552 5.3.4 Message size exceeds fixed limit", NULL},
    {L("MAIL FROM:<a@b> SIZE=10240000"), LIMITED, SMTP_VERB_MAIL, NULL, "a@b"},
    {L("MAIL FROM:<a@b> SIZE"), LENIENT, SMTP_VERB_MAIL, "555 5.5.4 Unsupported option: SIZE",
     NULL},
    {L("MAIL FROM:<a@b> BODY=7BIT"), LENIENT, SMTP_VERB_MAIL, NULL, "a@b"},
    {L("MAIL FROM:<a@b> BODY=BINARYMIME"), LENIENT, SMTP_VERB_MAIL, NULL, "a@b"},
    {L("MAIL FROM:<a@b> BODY=9BIT"), LENIENT, SMTP_VERB_MAIL,
     "555 5.5.4 Unsupported option: BODY=9BIT", NULL},
    {L("MAIL FROM:<a@b> SMTPUTF8=yes"), LENIENT, SMTP_VERB_MAIL,
     "555 5.5.4 Unsupported option: SMTPUTF8=yes", NULL},
    {L("MAIL FROM:<a@b> FOO"), LENIENT, SMTP_VERB_MAIL, "555 5.5.4 Unsupported option: FOO", NULL},
    {L("MAIL FROM:<a@b> FOO=\x01\xff"), LENIENT, SMTP_VERB_MAIL,
     "555 5.5.4 Unsupported option: FOO=??", NULL},
    {L("MAIL FROM:<a@b> NOTIFY=NEVER"), LENIENT, SMTP_VERB_MAIL,
     "555 5.5.4 Unsupported option: NOTIFY=NEVER", NULL},
    {L("MAIL FROM:<a@b> RET=FULL"), LENIENT, SMTP_VERB_MAIL, NULL, "a@b"},
    {L("MAIL FROM:<a@b> RET=hdrs"), LENIENT, SMTP_VERB_MAIL, NULL, "a@b"},
    {L("MAIL FROM:<a@b> RET=ALL"), LENIENT, SMTP_VERB_MAIL, "501 5.5.4 Bad RET parameter syntax",
     NULL},
    {L("MAIL FROM:<a@b> RET=FULL RET=FULL"), LENIENT, SMTP_VERB_MAIL,
     "501 5.5.4 Bad RET parameter syntax", NULL},
    {L("MAIL FROM:<a@b> ENVID=QQ314159"), LENIENT, SMTP_VERB_MAIL, NULL, "a@b"},
    {L("MAIL FROM:<a@b> ENVID=+ZZ"), LENIENT, SMTP_VERB_MAIL,
     "501 5.5.4 Bad ENVID parameter syntax", NULL},
    {L("MAIL FROM:<a@b> ENVID=a+2"), LENIENT, SMTP_VERB_MAIL,
     "501 5.5.4 Bad ENVID parameter syntax", NULL},
    {L("MAIL FROM:<a@b> ENVID=a+"), LENIENT, SMTP_VERB_MAIL, "501 5.5.4 Bad ENVID parameter syntax",
     NULL},
    {L("MAIL FROM:<a@b> ENVID=a+0D+0A"), LENIENT, SMTP_VERB_MAIL,
     "501 5.5.4 Bad ENVID parameter syntax", NULL},
    {L("MAIL FROM:<a@b> ENVID=a+00"), LENIENT, SMTP_VERB_MAIL,
     "501 5.5.4 Bad ENVID parameter syntax", NULL},
    {L("MAIL FROM:<a@b> ENVID="), LENIENT, SMTP_VERB_MAIL, "501 5.5.4 Bad ENVID parameter syntax",
     NULL},
    {L("MAIL FROM:<a@b> ENVID=x ENVID=y"), LENIENT, SMTP_VERB_MAIL,
     "501 5.5.4 Bad ENVID parameter syntax", NULL},
    {L("MAIL FROM:<a@b> AUTH=<>"), LENIENT, SMTP_VERB_MAIL, NULL, "a@b"},
    {L("MAIL FROM:<a@b> AUTH=a+2Bb@c"), LENIENT, SMTP_VERB_MAIL, NULL, "a@b"},
    {L("MAIL FROM:<a@b> AUTH=<> AUTH=<>"), LENIENT, SMTP_VERB_MAIL,
     "503 5.5.4 Error: multiple AUTH= options", NULL},
    {L("MAIL FROM:<a@b> AUTH=+0A"), LENIENT, SMTP_VERB_MAIL, "501 5.5.4 Bad AUTH parameter syntax",
     NULL},
    /* RCPT parameters. */
    {L("RCPT TO:<u@d> NOTIFY=SUCCESS,FAILURE,DELAY"), LENIENT, SMTP_VERB_RCPT, NULL, "u@d"},
    {L("RCPT TO:<u@d> NOTIFY=never"), LENIENT, SMTP_VERB_RCPT, NULL, "u@d"},
    {L("RCPT TO:<u@d> NOTIFY=NEVER,SUCCESS"), LENIENT, SMTP_VERB_RCPT,
     "501 5.5.4 Error: Bad NOTIFY parameter syntax", NULL},
    {L("RCPT TO:<u@d> NOTIFY=SUCCESS,SUCCESS"), LENIENT, SMTP_VERB_RCPT,
     "501 5.5.4 Error: Bad NOTIFY parameter syntax", NULL},
    {L("RCPT TO:<u@d> NOTIFY=SUCCESS,"), LENIENT, SMTP_VERB_RCPT,
     "501 5.5.4 Error: Bad NOTIFY parameter syntax", NULL},
    {L("RCPT TO:<u@d> NOTIFY="), LENIENT, SMTP_VERB_RCPT,
     "501 5.5.4 Error: Bad NOTIFY parameter syntax", NULL},
    {L("RCPT TO:<u@d> NOTIFY=DELAY NOTIFY=DELAY"), LENIENT, SMTP_VERB_RCPT,
     "501 5.5.4 Error: Bad NOTIFY parameter syntax", NULL},
    {L("RCPT TO:<u@d> ORCPT=rfc822;u+40d"), LENIENT, SMTP_VERB_RCPT, NULL, "u@d"},
    {L("RCPT TO:<u@d> ORCPT=rfc822"), LENIENT, SMTP_VERB_RCPT,
     "501 5.5.4 Error: Bad ORCPT parameter syntax", NULL},
    {L("RCPT TO:<u@d> ORCPT=;u@d"), LENIENT, SMTP_VERB_RCPT,
     "501 5.5.4 Error: Bad ORCPT parameter syntax", NULL},
    {L("RCPT TO:<u@d> ORCPT=rfc822;"), LENIENT, SMTP_VERB_RCPT,
     "501 5.5.4 Error: Bad ORCPT parameter syntax", NULL},
    {L("RCPT TO:<u@d> ORCPT=rfc822;u+ZZ"), LENIENT, SMTP_VERB_RCPT,
     "501 5.5.4 Error: Bad ORCPT parameter syntax", NULL},
    {L("RCPT TO:<u@d> ORCPT=rfc822;u+0D+0AX:y"), LENIENT, SMTP_VERB_RCPT,
     "501 5.5.4 Error: Bad ORCPT parameter syntax", NULL},
    {L("RCPT TO:<u@d> ORCPT=rf/c;x"), LENIENT, SMTP_VERB_RCPT,
     "501 5.5.4 Error: Bad ORCPT parameter syntax", NULL},
    {L("RCPT TO:<u@d> SIZE=1"), LENIENT, SMTP_VERB_RCPT, "555 5.5.4 Unsupported option: SIZE=1",
     NULL},
    /* BDAT. */
    {L("BDAT 1000"), LENIENT, SMTP_VERB_BDAT, NULL, NULL},
    {L("BDAT 0 LAST"), LENIENT, SMTP_VERB_BDAT, NULL, NULL},
    {L("bdat 5 last"), LENIENT, SMTP_VERB_BDAT, NULL, NULL},
    {L("BDAT"), LENIENT, SMTP_VERB_BDAT, "521 5.5.4 Syntax: BDAT count [LAST]", NULL},
    {L("BDAT x"), LENIENT, SMTP_VERB_BDAT, "521 5.5.4 Syntax: BDAT count [LAST]", NULL},
    {L("BDAT -1"), LENIENT, SMTP_VERB_BDAT, "521 5.5.4 Syntax: BDAT count [LAST]", NULL},
    {L("BDAT 5 FIRST"), LENIENT, SMTP_VERB_BDAT, "521 5.5.4 Syntax: BDAT count [LAST]", NULL},
    {L("BDAT 5 LAST x"), LENIENT, SMTP_VERB_BDAT, "521 5.5.4 Syntax: BDAT count [LAST]", NULL},
    {L("BDAT 99999999999999999999 LAST"), LENIENT, SMTP_VERB_BDAT,
     "521 5.5.4 Syntax: BDAT count [LAST]", NULL},
    {L("BDAT\t5\tLAST"), LENIENT, SMTP_VERB_BDAT, NULL, NULL},
    {L("BDAT +5"), LENIENT, SMTP_VERB_BDAT, "521 5.5.4 Syntax: BDAT count [LAST]", NULL},
    {L("BDAT 5x"), LENIENT, SMTP_VERB_BDAT, "521 5.5.4 Syntax: BDAT count [LAST]", NULL},
    {L("BDAT 0x10"), LENIENT, SMTP_VERB_BDAT, "521 5.5.4 Syntax: BDAT count [LAST]", NULL},
    {L("BDAT 5 LAST LAST"), LENIENT, SMTP_VERB_BDAT, "521 5.5.4 Syntax: BDAT count [LAST]", NULL},
    /* A BDAT line with NUL, CR or LF is a BDAT syntax error, not "bad syntax":
     * the session cannot go on after it. */
    {L("BDAT 5\0 LAST"), LENIENT, SMTP_VERB_BDAT, "521 5.5.4 Syntax: BDAT count [LAST]", NULL},
    {L("BDAT 5\rLAST"), LENIENT, SMTP_VERB_BDAT, "521 5.5.4 Syntax: BDAT count [LAST]", NULL},
    {L("BDAT 5 LAST\n"), LENIENT, SMTP_VERB_BDAT, "521 5.5.4 Syntax: BDAT count [LAST]", NULL},
};

static void table(void **state)
{
    smtp_cmd cmd;
    strbuf reply = STRBUF_INIT;
    smtp_cmd_init(&cmd);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct cmd_case *c = &cases[i];
        smtp_cmd_opts o = opts_for(c->opts);
        int rc = smtp_cmd_parse(&cmd, c->line, c->len, &o);
        if (cmd.verb != c->verb)
            fail_msg("case %zu (%s): verb %d want %d", i, c->line, cmd.verb, c->verb);
        if (c->reply == NULL) {
            if (rc != 0) {
                smtp_reply_format(&cmd.reply, &reply);
                fail_msg("case %zu (%s): unexpected %s", i, c->line, reply.s);
            }
            assert_int_equal(cmd.reply.code, 0);
            if (c->addr)
                assert_string_equal(strbuf_str(&cmd.path.addr), c->addr);
        } else {
            if (rc != -1)
                fail_msg("case %zu (%s): unexpected success", i, c->line);
            smtp_reply_format(&cmd.reply, &reply);
            if (strcmp(reply.s, c->reply) != 0)
                fail_msg("case %zu (%s): got \"%s\" want \"%s\"", i, c->line, reply.s, c->reply);
            /* Only a broken BDAT ends the session. */
            assert_int_equal(cmd.reply.close, cmd.verb == SMTP_VERB_BDAT);
        }
    }
    smtp_cmd_release(&cmd);
    strbuf_release(&reply);
}

static void parameter_values(void **state)
{
    smtp_cmd cmd;
    smtp_cmd_init(&cmd);
    assert_int_equal(smtp_cmd_parse(&cmd,
                                    L("MAIL FROM:<a@b.c> SIZE=12345 BODY=8BITMIME SMTPUTF8 "
                                      "RET=HDRS ENVID=QQ+2B314 AUTH=e+3Dmc2@x"),
                                    NULL),
                     0);
    assert_int_equal(cmd.size, 12345);
    assert_int_equal(cmd.body, SMTP_BODY_8BITMIME);
    assert_int_equal(cmd.ret, SMTP_RET_HDRS);
    assert_string_equal(cmd.envid.s, "QQ+314");
    assert_string_equal(cmd.auth.s, "e=mc2@x");
    assert_int_equal(cmd.params, SMTP_PARAM_SIZE | SMTP_PARAM_BODY | SMTP_PARAM_SMTPUTF8 |
                                     SMTP_PARAM_RET | SMTP_PARAM_ENVID | SMTP_PARAM_AUTH);
    assert_string_equal(cmd.path_text.s, "<a@b.c>");

    /* A second parse forgets everything from the first. */
    assert_int_equal(smtp_cmd_parse(&cmd,
                                    L("RCPT TO:<u@d> NOTIFY=FAILURE,DELAY "
                                      "ORCPT=rfc822;u+2Bx@d"),
                                    NULL),
                     0);
    assert_int_equal(cmd.params, SMTP_PARAM_NOTIFY | SMTP_PARAM_ORCPT);
    assert_int_equal(cmd.size, 0);
    assert_string_equal(cmd.envid.s, "");
    assert_int_equal(cmd.notify, SMTP_NOTIFY_FAILURE | SMTP_NOTIFY_DELAY);
    assert_string_equal(cmd.orcpt_type.s, "rfc822");
    assert_string_equal(cmd.orcpt_addr.s, "u+x@d");

    assert_int_equal(smtp_cmd_parse(&cmd, L("BDAT 000123 LAST"), NULL), 0);
    assert_int_equal(cmd.bdat_size, 123);
    assert_true(cmd.bdat_last);
    assert_int_equal(smtp_cmd_parse(&cmd, L("BDAT 9223372036854775807"), NULL), 0);
    assert_int_equal(cmd.bdat_size, INT64_MAX);
    assert_false(cmd.bdat_last);
    assert_int_equal(smtp_cmd_parse(&cmd, L("BDAT 9223372036854775808"), NULL), -1);
    assert_true(cmd.reply.close);
    assert_int_equal(smtp_cmd_parse(&cmd, L("BDAT 5\rLAST"), NULL), -1);
    assert_true(cmd.reply.close);
    assert_int_equal(smtp_cmd_parse(&cmd, L("NOOP\r"), NULL), -1);
    assert_false(cmd.reply.close);
    /* A line the caller cut at its length limit: fatal for BDAT only. */
    smtp_cmd_opts cut = {.truncated = true};
    assert_int_equal(smtp_cmd_parse(&cmd, L("BDAT 0000"), &cut), -1);
    assert_int_equal(cmd.reply.code, 521);
    assert_true(cmd.reply.close);
    assert_int_equal(smtp_cmd_parse(&cmd, L("MAIL FROM:<a@b>"), &cut), 0);
    assert_false(cmd.reply.close);

    assert_int_equal(smtp_cmd_parse(&cmd, L("EHLO  mail.example.com  "), NULL), 0);
    assert_string_equal(cmd.arg.s, "mail.example.com");
    assert_string_equal(cmd.word.s, "EHLO");
    assert_int_equal(smtp_cmd_parse(&cmd, L("helo a b"), NULL), 0);
    assert_string_equal(cmd.arg.s, "a b");
    assert_int_equal(smtp_cmd_parse(&cmd, L("xyz\x01\xff"), NULL), -1);
    assert_string_equal(cmd.word.s, "xyz??");
    assert_string_equal(smtp_verb_name(SMTP_VERB_STARTTLS), "STARTTLS");
    assert_string_equal(smtp_verb_name(SMTP_VERB_UNKNOWN), "UNKNOWN");
    smtp_cmd_release(&cmd);
}

static void counts_and_xtext(void **state)
{
    uint64_t v = 7;
    assert_int_equal(smtp_parse_count(L("0"), &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(smtp_parse_count(L("18446744073709551615"), &v), -2);
    assert_int_equal(smtp_parse_count(L("18446744073709551616"), &v), -2);
    assert_int_equal(smtp_parse_count(L("99999999999999999999999999999999999999"), &v), -2);
    assert_int_equal(smtp_parse_count(L("+1"), &v), -1);
    assert_int_equal(smtp_parse_count(L(""), &v), -1);
    assert_int_equal(smtp_parse_count(L("1 "), &v), -1);
    assert_int_equal(smtp_parse_count(L("1\0"), &v), -1);
    assert_int_equal(smtp_parse_count(L("00000000000000000000000000001"), &v), 0);
    assert_int_equal(v, 1);

    strbuf out = STRBUF_INIT, back = STRBUF_INIT;
    assert_int_equal(smtp_xtext_decode(&out, L("a+2Bb+3d")), 0);
    assert_string_equal(out.s, "a+b=");
    assert_int_equal(smtp_xtext_decode(&out, L("+00")), 0);
    assert_int_equal(out.len, 1);
    assert_int_equal(out.s[0], 0);
    static const char *bad[] = {"+ZZ", "+", "+1", "a+G0", "a=b", "a b", "\x80", "+-1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(smtp_xtext_decode(&out, bad[i], strlen(bad[i])), -1);
    assert_int_equal(smtp_xtext_decode(&out, L("a\0")), -1);

    unsigned char all[256];
    for (int i = 0; i < 256; i++)
        all[i] = (unsigned char)i;
    strbuf_set(&out, "");
    smtp_xtext_encode(&out, all, sizeof(all));
    for (size_t i = 0; i < out.len; i++)
        assert_true(out.s[i] > 32 && out.s[i] < 127 && out.s[i] != '=');
    assert_int_equal(smtp_xtext_decode(&back, out.s, out.len), 0);
    assert_int_equal(back.len, 256);
    assert_memory_equal(back.s, all, 256);
    strbuf_release(&out);
    strbuf_release(&back);
}

static void forbidden(void **state)
{
    strlist words = STRLIST_INIT;
    strlist_push(&words, "CONNECT");
    strlist_push(&words, "GET");
    strlist_push(&words, "POST");
    assert_true(smtp_cmd_forbidden(L("GET"), &words, true));
    assert_true(smtp_cmd_forbidden(L("get"), &words, true));
    assert_true(smtp_cmd_forbidden(L("POST"), &words, false));
    assert_true(smtp_cmd_forbidden(L("CONNECT"), &words, false));
    assert_false(smtp_cmd_forbidden(L("GETX"), &words, false));
    assert_false(smtp_cmd_forbidden(L("XYZZY"), &words, true));
    assert_false(smtp_cmd_forbidden(L("USER"), &words, true));
    assert_true(smtp_cmd_forbidden(L("Host:"), &words, false));
    assert_true(smtp_cmd_forbidden(L("User-Agent:"), NULL, false));
    assert_false(smtp_cmd_forbidden(L(":"), NULL, false));
    assert_true(smtp_cmd_forbidden(L("\x16\x03\x01"), &words, true)); /* TLS ClientHello */
    assert_true(smtp_cmd_forbidden(L("1234"), &words, true));
    assert_false(smtp_cmd_forbidden(L("1234"), &words, false));
    assert_false(smtp_cmd_forbidden(L("GE\0T"), &words, false));
    assert_false(smtp_cmd_forbidden(L(""), &words, true));
    strlist_release(&words);

    /* The word a caller would pass comes from the parsed command. */
    smtp_cmd cmd;
    smtp_cmd_init(&cmd);
    assert_int_equal(smtp_cmd_parse(&cmd, L("GET / HTTP/1.0"), NULL), -1);
    assert_true(smtp_cmd_forbidden(cmd.word.s, cmd.word.len, NULL, false) == false);
    strlist w = STRLIST_INIT;
    strlist_push(&w, "GET");
    assert_true(smtp_cmd_forbidden(cmd.word.s, cmd.word.len, &w, false));
    strlist_release(&w);
    smtp_cmd_release(&cmd);
}

static void hostile_sizes(void **state)
{
    smtp_cmd cmd;
    smtp_cmd_init(&cmd);
    strbuf line = STRBUF_INIT;

    /* 1 MB command line: the caller normally bounds it, the parser copes. */
    strbuf_puts(&line, "MAIL FROM:<");
    for (int i = 0; i < (1 << 20); i++)
        strbuf_putc(&line, 'a');
    strbuf_puts(&line, "@b>");
    assert_int_equal(smtp_cmd_parse(&cmd, line.s, line.len, NULL), -1);
    assert_int_equal(cmd.reply.code, 501);

    strbuf_set(&line, "NOOP");
    for (int i = 0; i < (1 << 20); i++)
        strbuf_putc(&line, ' ');
    assert_int_equal(smtp_cmd_parse(&cmd, line.s, line.len, NULL), 0);

    /* 10,000 parameters, all valid: linear work, accepted. */
    strbuf_set(&line, "MAIL FROM:<a@b>");
    for (int i = 0; i < 10000; i++)
        strbuf_puts(&line, " SIZE=1");
    assert_int_equal(smtp_cmd_parse(&cmd, line.s, line.len, NULL), 0);
    /* ... and with an unknown one at the very end. */
    strbuf_puts(&line, " X-FOO=1");
    assert_int_equal(smtp_cmd_parse(&cmd, line.s, line.len, NULL), -1);
    assert_int_equal(cmd.reply.code, 555);
    /* 10,000 distinct unknown parameters: the first one fails. */
    strbuf_set(&line, "RCPT TO:<a@b>");
    for (int i = 0; i < 10000; i++)
        strbuf_printf(&line, " P%d=%d", i, i);
    assert_int_equal(smtp_cmd_parse(&cmd, line.s, line.len, NULL), -1);
    assert_string_equal(cmd.reply.text.s, "Unsupported option: P0=0");

    /* A 1 MB unknown option is quoted back bounded. */
    strbuf_set(&line, "MAIL FROM:<a@b> X=");
    for (int i = 0; i < (1 << 20); i++)
        strbuf_putc(&line, 'x');
    assert_int_equal(smtp_cmd_parse(&cmd, line.s, line.len, NULL), -1);
    assert_true(cmd.reply.text.len < 300);

    /* A 1 MB verb is logged bounded. */
    strbuf_set(&line, "");
    for (int i = 0; i < (1 << 20); i++)
        strbuf_putc(&line, 'Q');
    assert_int_equal(smtp_cmd_parse(&cmd, line.s, line.len, NULL), -1);
    assert_true(cmd.word.len <= 100);

    /* ENVID longer than RFC 3461's 100 characters. */
    strbuf_set(&line, "MAIL FROM:<a@b> ENVID=");
    for (int i = 0; i < 101; i++)
        strbuf_putc(&line, 'e');
    assert_int_equal(smtp_cmd_parse(&cmd, line.s, line.len, NULL), -1);
    assert_string_equal(cmd.reply.text.s, "Bad ENVID parameter syntax");

    strbuf_release(&line);
    smtp_cmd_release(&cmd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(table),
        cmocka_unit_test(parameter_values),
        cmocka_unit_test(counts_and_xtext),
        cmocka_unit_test(forbidden),
        cmocka_unit_test(hostile_sizes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
