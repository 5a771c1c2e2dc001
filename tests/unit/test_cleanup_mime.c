/* Unit tests: cleanup_mime, the MIME structure content checks follow --
 * Content-Type parsing and the boundary stack, with hostile input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "cleanup_mime.h"

static enum mime_type ct(const char *v, strbuf *b)
{
    return mime_content_type(v, strlen(v), b);
}

static void content_types(void **state)
{
    (void)state;
    strbuf b = STRBUF_INIT;
    assert_int_equal(ct(" multipart/mixed; boundary=abc", &b), MIME_MULTIPART);
    assert_string_equal(strbuf_str(&b), "--abc");
    assert_int_equal(ct("Multipart/Alternative;\n\tBOUNDARY=\"a b;c\"", &b), MIME_MULTIPART);
    assert_string_equal(strbuf_str(&b), "--a b;c");
    assert_int_equal(ct("multipart/digest; charset=x; boundary=d1", &b), MIME_DIGEST);
    assert_string_equal(strbuf_str(&b), "--d1");
    assert_int_equal(ct("message/rfc822", &b), MIME_MESSAGE);
    assert_int_equal(ct("MESSAGE/RFC822; name=x", &b), MIME_MESSAGE);
    assert_int_equal(ct("message/global", &b), MIME_MESSAGE);
    assert_int_equal(ct("message/rfc822x", &b), MIME_OTHER);
    assert_int_equal(ct("text/plain; boundary=zzz", &b), MIME_OTHER);
    assert_int_equal(ct("", &b), MIME_OTHER);
    strbuf_release(&b);
}

static void hostile_content_types(void **state)
{
    (void)state;
    strbuf b = STRBUF_INIT;
    /* No boundary, an empty one, an unterminated quote, one over 70 bytes,
     * a parameter that merely ends in "boundary=". */
    assert_int_equal(ct("multipart/mixed", &b), MIME_OTHER);
    assert_int_equal(ct("multipart/mixed; boundary=", &b), MIME_OTHER);
    assert_int_equal(ct("multipart/mixed; boundary=\"\"", &b), MIME_OTHER);
    assert_int_equal(ct("multipart/mixed; boundary=\"abc", &b), MIME_OTHER);
    assert_int_equal(ct("multipart/mixed; xboundary=abc", &b), MIME_OTHER);
    char longb[200];
    snprintf(longb, sizeof(longb), "multipart/mixed; boundary=%071d", 7);
    assert_int_equal(ct(longb, &b), MIME_OTHER);
    snprintf(longb, sizeof(longb), "multipart/mixed; boundary=%070d", 7);
    assert_int_equal(ct(longb, &b), MIME_MULTIPART);
    assert_int_equal(b.len, 72);
    /* A NUL inside the value (the sender's bytes) ends the token, as in a
     * C string: the parts are still followed; inside quotes it is refused. */
    const char nul[] = "multipart/mixed; boundary=a\0b";
    assert_int_equal(mime_content_type(nul, sizeof(nul) - 1, &b), MIME_MULTIPART);
    assert_string_equal(strbuf_str(&b), "--a");
    const char qnul[] = "multipart/mixed; boundary=\"a\0b\"";
    assert_int_equal(mime_content_type(qnul, sizeof(qnul) - 1, &b), MIME_OTHER);
    /* Thousands of parameters: linear, no crash. */
    strbuf big = STRBUF_INIT;
    strbuf_puts(&big, "multipart/mixed");
    for (int i = 0; i < 5000; i++)
        strbuf_puts(&big, "; ;x=\"y\"");
    strbuf_puts(&big, "; boundary=end");
    assert_int_equal(mime_content_type(big.s, big.len, &b), MIME_MULTIPART);
    assert_string_equal(strbuf_str(&b), "--end");
    strbuf_release(&big);
    strbuf_release(&b);
}

static bool bnd(mime_stack *st, const char *line, bool *digest, bool *closing)
{
    return mime_stack_boundary(st, line, strlen(line), digest, closing);
}

static void nested_boundaries(void **state)
{
    (void)state;
    mime_stack st;
    mime_stack_init(&st, 100);
    bool d, c;
    assert_false(bnd(&st, "--outer", &d, &c));
    assert_true(mime_stack_push(&st, "--outer", false));
    assert_true(bnd(&st, "--outer", &d, &c));
    assert_false(d);
    assert_true(mime_stack_push(&st, "--inner", true));
    assert_int_equal(mime_stack_depth(&st), 2);
    assert_true(bnd(&st, "--inner \t", &d, &c));
    assert_true(d);
    /* Body text that only starts like a boundary. */
    assert_false(bnd(&st, "--innerx", &d, &c));
    assert_false(c);
    assert_false(bnd(&st, "-inner", &d, &c));
    assert_false(bnd(&st, "", &d, &c));
    /* The inner multipart's final boundary closes it ... */
    assert_false(bnd(&st, "--inner--", &d, &c));
    assert_true(c);
    assert_int_equal(mime_stack_depth(&st), 1);
    /* ... an outer boundary closes every level inside it. */
    assert_true(mime_stack_push(&st, "--inner", false));
    assert_true(mime_stack_push(&st, "--inner2", false));
    assert_true(bnd(&st, "--outer", &d, &c));
    assert_int_equal(mime_stack_depth(&st), 1);
    assert_false(bnd(&st, "--outer--", &d, &c));
    assert_true(c);
    assert_int_equal(mime_stack_depth(&st), 0);
    /* The innermost of two equal boundaries wins. */
    assert_true(mime_stack_push(&st, "--same", false));
    assert_true(mime_stack_push(&st, "--same", true));
    assert_true(bnd(&st, "--same", &d, &c));
    assert_true(d);
    assert_int_equal(mime_stack_depth(&st), 2);
    mime_stack_release(&st);
}

static void nesting_limit(void **state)
{
    (void)state;
    mime_stack st;
    mime_stack_init(&st, 3);
    char b[32];
    for (int i = 0; i < 3; i++) {
        snprintf(b, sizeof(b), "--b%d", i);
        assert_true(mime_stack_push(&st, b, false));
    }
    assert_false(st.overflowed);
    assert_false(mime_stack_push(&st, "--deep", false));
    assert_true(st.overflowed);
    assert_int_equal(mime_stack_depth(&st), 3);
    bool d, c;
    assert_false(bnd(&st, "--deep", &d, &c));
    assert_true(bnd(&st, "--b0", &d, &c));
    assert_int_equal(mime_stack_depth(&st), 1);
    mime_stack_release(&st);
    /* limit 0: nothing is followed. */
    mime_stack_init(&st, 0);
    assert_false(mime_stack_push(&st, "--a", false));
    mime_stack_release(&st);
    /* A hostile message that opens 10000 levels costs at most the limit. */
    mime_stack_init(&st, 100);
    for (int i = 0; i < 10000; i++) {
        snprintf(b, sizeof(b), "--l%d", i);
        (void)mime_stack_push(&st, b, false);
    }
    assert_int_equal(mime_stack_depth(&st), 100);
    assert_true(bnd(&st, "--l0", &d, &c));
    assert_int_equal(mime_stack_depth(&st), 1);
    mime_stack_release(&st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(content_types),
        cmocka_unit_test(hostile_content_types),
        cmocka_unit_test(nested_boundaries),
        cmocka_unit_test(nesting_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
