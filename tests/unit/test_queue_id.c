/* Unit tests: queue_id (short and long forms, validation, hash forest). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "queue_id.h"
#include "strbuf.h"

static void short_form_matches_postfix(void **state)
{
    strbuf id = STRBUF_INIT;
    struct timeval tv = {1700000000, 123456};
    queue_id_make(&id, false, &tv, 0xABCDEF);
    assert_string_equal(strbuf_str(&id), "1E240ABCDEF");
    tv.tv_usec = 5;
    queue_id_make(&id, false, &tv, 1);
    assert_string_equal(strbuf_str(&id), "000051");
    assert_false(queue_id_is_long("000051"));
    strbuf_release(&id);
}

static void long_form_matches_postfix(void **state)
{
    strbuf id = STRBUF_INIT;
    /* Expected values computed independently from Postfix's alphabet. */
    struct timeval tv = {1700000000, 123456};
    queue_id_make(&id, true, &tv, 1234567);
    assert_string_equal(strbuf_str(&id), "4SVLCh0sf8z9HdB");
    assert_true(queue_id_is_long(strbuf_str(&id)));
    struct timeval zero = {0, 0};
    queue_id_make(&id, true, &zero, 0);
    assert_string_equal(strbuf_str(&id), "0000000000z0");
    assert_true(queue_id_valid("0000000000z0"));
    strbuf_release(&id);
}

static void round_trips(void **state)
{
    strbuf id = STRBUF_INIT;
    srandom(42);
    for (int i = 0; i < 20000; i++) {
        struct timeval tv;
        tv.tv_sec = (time_t)(((uint64_t)random() << 31 | (uint64_t)random()) % ((uint64_t)1 << 40));
        tv.tv_usec = random() % 1000000;
        uint64_t ino = (uint64_t)random() << 33 ^ (uint64_t)random() << 2 ^ (uint64_t)(i & 3);
        if (i == 0)
            ino = UINT64_MAX;
        if (i == 1)
            tv.tv_sec = INT64_MAX, tv.tv_usec = 999999;
        for (int lf = 0; lf < 2; lf++) {
            queue_id_make(&id, lf, &tv, (ino_t)ino);
            assert_true(id.len <= QUEUE_ID_MAXLEN);
            assert_true(queue_id_valid(strbuf_str(&id)));
            assert_int_equal(queue_id_is_long(strbuf_str(&id)), lf);
            long long sec;
            long usec;
            uint64_t got_ino;
            assert_int_equal(queue_id_decode(strbuf_str(&id), &sec, &usec, &got_ino), 0);
            assert_int_equal(usec, tv.tv_usec);
            assert_true(got_ino == ino);
            if (lf)
                assert_true(sec == (long long)tv.tv_sec);
            else
                assert_true(sec == -1);
        }
    }
    strbuf_release(&id);
}

static void rejects_hostile_strings(void **state)
{
    static const char *bad[] = {
        "",
        "../x",
        "..",
        ".",
        "/etc/passwd",
        "1E240/ABCDEF",
        "1E240ABCDEF/",
        "1E240ABCDEF ",
        " 1E240ABCDEF",
        "1E240ABCDEF\n",
        "1e240abcdef",            /* lower-case hex */
        "1E240",                  /* no inode part */
        "F4240A",                 /* 1000000 microseconds */
        "1E24GABC",               /* not hex */
        "1E2401ABCDEF0123456789", /* inode wider than 64 bits */
        "123.4567",               /* a temporary file name */
        "4SVLCh0sf8z",            /* long: empty inode */
        "4SVLCh0sf8z9HdA",        /* vowel in the inode */
        "4SVLCh0sf8z9Hdz",        /* 'z' as separator but nothing valid after last z */
        "4SVLCzzzzz9HdB",         /* last z too early for a long ID, not hex either */
        "SVLCh0sf8z9HdB",         /* 5 seconds chars: then it is short-form garbage */
        "4SVLCh0sf8z9H-B",
        "4SVLCh0sf8z9H/B",
        "ZZZZZZZZZZZZZ0000z1",                    /* seconds overflow 64 bits */
        "4SVLCh0sf8zZZZZZZZZZZZZZ",               /* inode overflow */
        "ABCDEFABCDEFABCDEFABCDEFABCDEFABCDEFAB", /* over-long */
        "4SVLCh0sf8z9Hd\xc3\xa9",                 /* 8-bit */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (queue_id_valid(bad[i]))
            fail_msg("accepted \"%s\"", bad[i]);
    }
    /* Overlong strings of valid characters. */
    char big[4096];
    memset(big, 'A', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_false(queue_id_valid(big));
    memset(big, '0', 40);
    big[40] = '\0';
    assert_false(queue_id_valid(big));
    assert_true(queue_id_valid("4SVLCh0sf8z9HdB"));
    assert_true(queue_id_valid("1E240ABCDEF"));
}

static void hash_dirs(void **state)
{
    strbuf h = STRBUF_INIT;
    assert_int_equal(queue_id_hash_dir(&h, "1E240ABCDEF", 0), 0);
    assert_string_equal(strbuf_str(&h), "");
    assert_int_equal(queue_id_hash_dir(&h, "1E240ABCDEF", 1), 0);
    assert_string_equal(strbuf_str(&h), "1/");
    strbuf_reset(&h);
    assert_int_equal(queue_id_hash_dir(&h, "1E240ABCDEF", 2), 0);
    assert_string_equal(strbuf_str(&h), "1/E/");
    strbuf_reset(&h);
    assert_int_equal(queue_id_hash_dir(&h, "1E240ABCDEF", 7), 0);
    assert_string_equal(strbuf_str(&h), "1/E/2/4/0/A/B/");
    /* A long ID with the same microseconds hashes the same way. */
    strbuf_reset(&h);
    assert_int_equal(queue_id_hash_dir(&h, "4SVLCh0sf8z9HdB", 2), 0);
    assert_string_equal(strbuf_str(&h), "1/E/");
    strbuf_reset(&h);
    assert_int_equal(queue_id_hash_dir(&h, "4SVLCh0sf8z9HdB", 7), 0);
    assert_string_equal(strbuf_str(&h), "1/E/2/4/0/_/_/");
    strbuf_reset(&h);
    assert_int_equal(queue_id_hash_dir(&h, "../x", 1), -1);
    assert_int_equal(queue_id_hash_dir(&h, "1E240ABCDEF", -1), -1);
    assert_int_equal(queue_id_hash_dir(&h, "1E240ABCDEF", QUEUE_ID_MAX_DEPTH + 1), -1);
    assert_int_equal(h.len, 0);
    strbuf_release(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(short_form_matches_postfix),
        cmocka_unit_test(long_form_matches_postfix),
        cmocka_unit_test(round_trips),
        cmocka_unit_test(rejects_hostile_strings),
        cmocka_unit_test(hash_dirs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
