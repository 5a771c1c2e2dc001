/* Unit tests: base64 (RFC 4648 vectors, canonical-form checks on garbage). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "base64.h"
#include "strbuf.h"

static void rfc4648_vectors(void **state)
{
    (void)state;
    static const char *const plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *const coded[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=",
                                        "Zm9vYmFy"};
    for (size_t i = 0; i < 7; i++) {
        strbuf out = STRBUF_INIT;
        base64_encode(&out, plain[i], strlen(plain[i]));
        assert_string_equal(strbuf_str(&out), coded[i]);
        strbuf_reset(&out);
        assert_int_equal(base64_decode(&out, coded[i], strlen(coded[i])), 0);
        assert_int_equal(out.len, strlen(plain[i]));
        assert_memory_equal(strbuf_str(&out), plain[i], out.len);
        assert_true(base64_valid(coded[i], strlen(coded[i])));
        strbuf_release(&out);
    }
}

static void binary_round_trip(void **state)
{
    (void)state;
    unsigned char all[256];
    for (int i = 0; i < 256; i++)
        all[i] = (unsigned char)i;
    strbuf enc = STRBUF_INIT, dec = STRBUF_INIT;
    base64_encode(&enc, all, sizeof(all));
    assert_int_equal(base64_decode(&dec, enc.s, enc.len), 0);
    assert_int_equal(dec.len, 256);
    assert_memory_equal(dec.s, all, 256);
    strbuf_release(&enc);
    strbuf_release(&dec);
}

static void garbage_is_refused_and_out_kept(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "Z",        "Zg",       "Zg=",      "Zm9",       "Zg==Zg==", "=Zg=",   "Z===",
        "Zm9v\n",   "Zm 9v",    "Zm9v!A==", "Zg=A",      "====",     "Zm9\x80", "\xff\xff\xff\xff",
        "Zm9vYg=",  "Z\0g=",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        size_t len = strlen(bad[i]);
        if (i == sizeof(bad) / sizeof(bad[0]) - 1)
            len = 4; /* embedded NUL */
        strbuf out = STRBUF_INIT;
        strbuf_puts(&out, "keep");
        if (base64_decode(&out, bad[i], len) != -1)
            fail_msg("decoded garbage #%zu", i);
        assert_false(base64_valid(bad[i], len));
        assert_int_equal(out.len, 4);
        assert_string_equal(strbuf_str(&out), "keep");
        strbuf_release(&out);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rfc4648_vectors),
        cmocka_unit_test(binary_round_trip),
        cmocka_unit_test(garbage_is_refused_and_out_kept),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
