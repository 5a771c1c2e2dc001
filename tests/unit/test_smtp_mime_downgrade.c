/* Unit tests: mime_downgrade (8-bit MIME to quoted-printable / 7bit). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "smtp_mime_downgrade.h"
#include "strbuf.h"

/* Output lines joined with '\n' (each line followed by one). */
static void collect(void *ctx, const char *line, size_t len)
{
    strbuf *out = ctx;
    strbuf_append(out, line, len);
    strbuf_putc(out, '\n');
}

static void run(const char *in, int flags, strbuf *out)
{
    mime_downgrade *md = mime_downgrade_new(flags, collect, out);
    const char *p = in;
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        mime_downgrade_line(md, p, len);
        p += len + (nl != NULL);
    }
    mime_downgrade_finish(md);
    mime_downgrade_free(&md);
    assert_null(md);
}

static void check(const char *in, int flags, const char *expect)
{
    strbuf out = STRBUF_INIT;
    run(in, flags, &out);
    if (strcmp(out.s ? out.s : "", expect) != 0)
        fail_msg("got:\n%s\nexpected:\n%s", out.s, expect);
    strbuf_release(&out);
}

static void qp_line_rules(void **state)
{
    (void)state;
    /* '=' and 8-bit encoded; blanks kept inside, encoded at the end */
    check("Content-Transfer-Encoding: 8bit\n\na=b \xc3\xa9 x \nend\t\n", 0,
          "Content-Transfer-Encoding: quoted-printable\n\na=3Db =C3=A9 x=20\nend=09\n");
    /* soft breaks: no output line longer than 76 */
    char in[400], *p = in;
    p += snprintf(p, sizeof(in), "Content-Transfer-Encoding: 8BIT\n\n");
    for (int i = 0; i < 200; i++)
        *p++ = i % 3 ? 'x' : (char)0xe4;
    *p++ = '\n';
    *p = 0;
    strbuf out = STRBUF_INIT;
    run(in, 0, &out);
    const char *body = strstr(out.s, "\n\n") + 2;
    size_t lines = 0, total_x = 0, total_e4 = 0;
    for (const char *l = body; *l;) {
        const char *nl = strchr(l, '\n');
        size_t len = (size_t)(nl - l);
        assert_true(len <= 76);
        for (size_t i = 0; i < len; i++)
            assert_true((unsigned char)l[i] < 0x80);
        for (size_t i = 0; i + 2 < len; i++)
            total_e4 += strncmp(l + i, "=E4", 3) == 0;
        for (size_t i = 0; i < len; i++)
            total_x += l[i] == 'x';
        if (nl[1] != 0)
            assert_int_equal(l[len - 1], '='); /* soft break on all but the last */
        lines++;
        l = nl + 1;
    }
    assert_true(lines > 2);
    assert_int_equal(total_e4, 67);
    assert_int_equal(total_x, 133);
    strbuf_release(&out);
}

static void untouched_when_not_8bit(void **state)
{
    (void)state;
    const char *in = "Subject: x\nContent-Transfer-Encoding: base64\n\nw6k=\n";
    check(in, 0, in);
    check("Subject: \xe4\n\n\xe4\n", 0, "Subject: \xe4\n\n\xe4\n"); /* no CTE: Postfix leaves it */
}

static void undeclared_top_level_with_flag(void **state)
{
    (void)state;
    check("Subject: s\n\ncaf\xc3\xa9\n", MIME_DOWNGRADE_UNDECLARED,
          "Subject: s\nMIME-Version: 1.0\nContent-Transfer-Encoding: quoted-printable\n\n"
          "caf=C3=A9\n");
    check("MIME-Version: 1.0\nSubject: s\n\n\xff\n", MIME_DOWNGRADE_UNDECLARED,
          "MIME-Version: 1.0\nSubject: s\nContent-Transfer-Encoding: quoted-printable\n\n=FF\n");
}

static void folded_cte_replaced_whole(void **state)
{
    (void)state;
    check("Content-Type: text/plain;\n charset=utf-8\nContent-Transfer-Encoding:\n  8bit\n"
          "X: y\n\n\xc3\xa9\n",
          0,
          "Content-Type: text/plain;\n charset=utf-8\nContent-Transfer-Encoding: "
          "quoted-printable\nX: y\n\n=C3=A9\n");
}

static void multipart_parts_converted(void **state)
{
    (void)state;
    const char *in = "MIME-Version: 1.0\n"
                     "Content-Type: multipart/mixed;\n boundary=\"b1 x\"\n"
                     "Content-Transfer-Encoding: 8bit\n"
                     "\n"
                     "preamble\n"
                     "--b1 x\n"
                     "Content-Type: text/plain; charset=utf-8\n"
                     "Content-Transfer-Encoding: 8bit\n"
                     "\n"
                     "gr\xc3\xbc\xc3\x9f\n"
                     ".dot\n"
                     "--b1 x\n"
                     "Content-Type: application/octet-stream\n"
                     "Content-Transfer-Encoding: base64\n"
                     "\n"
                     "AAEC\n"
                     "--b1 x\n"
                     "Content-Type: message/rfc822\n"
                     "Content-Transfer-Encoding: 8bit\n"
                     "\n"
                     "Subject: inner\n"
                     "Content-Transfer-Encoding: 8bit\n"
                     "\n"
                     "\xe4\n"
                     "--b1 x--  \n"
                     "epilogue\n";
    const char *expect = "MIME-Version: 1.0\n"
                         "Content-Type: multipart/mixed;\n boundary=\"b1 x\"\n"
                         "Content-Transfer-Encoding: 7bit\n"
                         "\n"
                         "preamble\n"
                         "--b1 x\n"
                         "Content-Type: text/plain; charset=utf-8\n"
                         "Content-Transfer-Encoding: quoted-printable\n"
                         "\n"
                         "gr=C3=BC=C3=9F\n"
                         ".dot\n"
                         "--b1 x\n"
                         "Content-Type: application/octet-stream\n"
                         "Content-Transfer-Encoding: base64\n"
                         "\n"
                         "AAEC\n"
                         "--b1 x\n"
                         "Content-Type: message/rfc822\n"
                         "Content-Transfer-Encoding: 7bit\n"
                         "\n"
                         "Subject: inner\n"
                         "Content-Transfer-Encoding: quoted-printable\n"
                         "\n"
                         "=E4\n"
                         "--b1 x--  \n"
                         "epilogue\n";
    check(in, 0, expect);
}

static void nested_multipart_and_outer_boundary_closes_inner(void **state)
{
    (void)state;
    const char *in = "Content-Type: multipart/mixed; boundary=outer\n\n"
                     "--outer\n"
                     "Content-Type: multipart/alternative; boundary=inner\n\n"
                     "--inner\n"
                     "Content-Transfer-Encoding: 8bit\n\n"
                     "\xe9\n"
                     "--outer\n" /* inner never closed */
                     "Content-Transfer-Encoding: binary\n\n"
                     "\xea\n"
                     "--outer--\n"
                     "\xeb\n";
    const char *expect = "Content-Type: multipart/mixed; boundary=outer\n\n"
                         "--outer\n"
                         "Content-Type: multipart/alternative; boundary=inner\n\n"
                         "--inner\n"
                         "Content-Transfer-Encoding: quoted-printable\n\n"
                         "=E9\n"
                         "--outer\n"
                         "Content-Transfer-Encoding: quoted-printable\n\n"
                         "=EA\n"
                         "--outer--\n"
                         "\xeb\n";
    check(in, 0, expect);
}

static void headers_without_blank_line_and_truncated_input(void **state)
{
    (void)state;
    /* a non-header line ends the header block and belongs to the body */
    check("Content-Transfer-Encoding: 8bit\n\xe4 body\n", 0,
          "Content-Transfer-Encoding: quoted-printable\n=E4 body\n");
    /* content that ends inside the headers is flushed */
    check("Subject: x\nContent-Transfer-Encoding: 8bit\n", 0,
          "Subject: x\nContent-Transfer-Encoding: quoted-printable\n");
    check("", 0, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(qp_line_rules),
        cmocka_unit_test(untouched_when_not_8bit),
        cmocka_unit_test(undeclared_top_level_with_flag),
        cmocka_unit_test(folded_cte_replaced_whole),
        cmocka_unit_test(multipart_parts_converted),
        cmocka_unit_test(nested_multipart_and_outer_boundary_closes_inner),
        cmocka_unit_test(headers_without_blank_line_and_truncated_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
