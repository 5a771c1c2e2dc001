/* Unit tests: the DNS reply parser (lib/global/dns.c) with well-formed and
 * hostile packets, and reverse-name construction. No DNS traffic. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "dns.h"

/* Packet builder: header, question "x.test" type qtype, then raw answers. */
struct pkt {
    unsigned char b[4096];
    size_t n;
};

static void put(struct pkt *p, const void *d, size_t n)
{
    memcpy(p->b + p->n, d, n);
    p->n += n;
}

static void put16(struct pkt *p, unsigned v)
{
    unsigned char t[2] = {(unsigned char)(v >> 8), (unsigned char)v};
    put(p, t, 2);
}

static void begin(struct pkt *p, unsigned rcode, unsigned ancount, unsigned qtype)
{
    p->n = 0;
    put16(p, 0x1234);
    put16(p, 0x8180 | rcode);
    put16(p, 1);
    put16(p, ancount);
    put16(p, 0);
    put16(p, 0);
    put(p, "\1x\4test\0", 8); /* at offset 12 */
    put16(p, qtype);
    put16(p, 1);
}

/* Answer owner = pointer to the question name, then type/class/ttl/rdlen. */
static void rr(struct pkt *p, unsigned type, const void *rdata, size_t rdlen)
{
    put(p, "\xc0\x0c", 2);
    put16(p, type);
    put16(p, 1);
    put(p, "\0\0\1\0", 4);
    put16(p, (unsigned)rdlen);
    put(p, rdata, rdlen);
}

static void test_a_and_txt(void **state)
{
    (void)state;
    struct pkt p;
    struct dns_reply r;
    begin(&p, 0, 2, DNS_T_A);
    rr(&p, DNS_T_A, "\x7f\0\0\x02", 4);
    rr(&p, DNS_T_TXT, "\3abc", 4); /* other type: skipped */
    assert_int_equal(dns_parse_reply(p.b, p.n, DNS_T_A, &r, NULL), DNS_OK);
    assert_int_equal(r.n, 1);
    assert_string_equal(r.v[0].data, "127.0.0.2");
    dns_reply_free(&r);
    assert_int_equal(dns_parse_reply(p.b, p.n, DNS_T_TXT, &r, NULL), DNS_OK);
    assert_string_equal(r.v[0].data, "abc");
    dns_reply_free(&r);
    assert_int_equal(dns_parse_reply(p.b, p.n, DNS_T_MX, &r, NULL), DNS_NODATA);
    assert_int_equal(r.n, 0);
}

static void test_rcodes(void **state)
{
    (void)state;
    struct pkt p;
    struct dns_reply r;
    begin(&p, 3, 0, DNS_T_A);
    assert_int_equal(dns_parse_reply(p.b, p.n, DNS_T_A, &r, NULL), DNS_NOTFOUND);
    begin(&p, 2, 0, DNS_T_A);
    strbuf why = STRBUF_INIT;
    assert_int_equal(dns_parse_reply(p.b, p.n, DNS_T_A, &r, &why), DNS_RETRY);
    assert_non_null(strstr(why.s, "rcode 2"));
    begin(&p, 5, 0, DNS_T_A);
    assert_int_equal(dns_parse_reply(p.b, p.n, DNS_T_A, &r, NULL), DNS_RETRY);
    begin(&p, 0, 0, DNS_T_A);
    p.b[2] &= 0x7f; /* a query, not a response */
    assert_int_equal(dns_parse_reply(p.b, p.n, DNS_T_A, &r, NULL), DNS_RETRY);
    strbuf_release(&why);
}

static void test_mx(void **state)
{
    (void)state;
    struct pkt p;
    struct dns_reply r;
    begin(&p, 0, 3, DNS_T_MX);
    rr(&p, DNS_T_MX, "\0\x0a\2mx\xc0\x0c", 7); /* 10 mx.x.test (compressed) */
    rr(&p, DNS_T_MX, "\0\0\0", 3);             /* null MX */
    rr(&p, DNS_T_MX, "\0\5\3b d\0", 7);        /* space in label: skipped */
    assert_int_equal(dns_parse_reply(p.b, p.n, DNS_T_MX, &r, NULL), DNS_OK);
    assert_int_equal(r.n, 2);
    assert_int_equal(r.v[0].pref, 10);
    assert_string_equal(r.v[0].data, "mx.x.test");
    assert_string_equal(r.v[1].data, "");
    dns_reply_free(&r);
}

static void test_hostile(void **state)
{
    (void)state;
    struct pkt p;
    struct dns_reply r;
    /* Every truncation of a valid reply is refused or parsed, never read past. */
    begin(&p, 0, 2, DNS_T_MX);
    rr(&p, DNS_T_MX, "\0\x0a\2mx\xc0\x0c", 7);
    rr(&p, DNS_T_MX, "\0\x0b\2my\xc0\x0c", 7);
    for (size_t n = 0; n < p.n; n++) {
        int s = dns_parse_reply(p.b, n, DNS_T_MX, &r, NULL);
        assert_true(s == DNS_RETRY || s == DNS_OK);
        dns_reply_free(&r);
    }
    /* Self-pointing compression pointer (loop). */
    begin(&p, 0, 1, DNS_T_NS);
    size_t at = p.n;
    (void)at;
    rr(&p, DNS_T_NS, "\xc0\x00", 2);
    p.b[p.n - 2] = (unsigned char)(0xc0 | ((p.n - 2) >> 8));
    p.b[p.n - 1] = (unsigned char)(p.n - 2);
    assert_int_equal(dns_parse_reply(p.b, p.n, DNS_T_NS, &r, NULL), DNS_RETRY);
    /* Forward pointer. */
    begin(&p, 0, 1, DNS_T_NS);
    rr(&p, DNS_T_NS, "\xc0\xff", 2);
    assert_int_equal(dns_parse_reply(p.b, p.n, DNS_T_NS, &r, NULL), DNS_RETRY);
    /* rdlength past the end. */
    begin(&p, 0, 1, DNS_T_A);
    rr(&p, DNS_T_A, "\x7f\0\0\x02", 4);
    p.b[p.n - 5] = 200;
    assert_int_equal(dns_parse_reply(p.b, p.n, DNS_T_A, &r, NULL), DNS_RETRY);
    /* Wrong A length: skipped. */
    begin(&p, 0, 1, DNS_T_A);
    rr(&p, DNS_T_A, "\x7f\0\0", 3);
    assert_int_equal(dns_parse_reply(p.b, p.n, DNS_T_A, &r, NULL), DNS_NODATA);
    /* TXT string longer than its record. */
    begin(&p, 0, 1, DNS_T_TXT);
    rr(&p, DNS_T_TXT,
       "\x09"
       "abc",
       4);
    assert_int_equal(dns_parse_reply(p.b, p.n, DNS_T_TXT, &r, NULL), DNS_RETRY);
    /* Name over 255 octets, built from 63-byte labels. */
    begin(&p, 0, 1, DNS_T_PTR);
    unsigned char big[5 * 64 + 1];
    for (int i = 0; i < 5; i++) {
        big[i * 64] = 63;
        memset(big + i * 64 + 1, 'a', 63);
    }
    big[5 * 64] = 0;
    rr(&p, DNS_T_PTR, big, sizeof(big));
    assert_int_equal(dns_parse_reply(p.b, p.n, DNS_T_PTR, &r, NULL), DNS_RETRY);
    /* Answer count larger than the records present. */
    begin(&p, 0, 40, DNS_T_A);
    rr(&p, DNS_T_A, "\x7f\0\0\x02", 4);
    assert_int_equal(dns_parse_reply(p.b, p.n, DNS_T_A, &r, NULL), DNS_RETRY);
    assert_int_equal(r.n, 0);
}

static void test_txt_sanitized(void **state)
{
    (void)state;
    struct pkt p;
    struct dns_reply r;
    begin(&p, 0, 1, DNS_T_TXT);
    rr(&p, DNS_T_TXT,
       "\x06"
       "a\r\nb\0\xe9"
       "\x02"
       "%$",
       10);
    assert_int_equal(dns_parse_reply(p.b, p.n, DNS_T_TXT, &r, NULL), DNS_OK);
    assert_string_equal(r.v[0].data, "a??b??%$");
    dns_reply_free(&r);
}

static void test_reverse(void **state)
{
    (void)state;
    strbuf s = STRBUF_INIT;
    assert_int_equal(dns_reverse_name("127.0.0.2", ".rbl.test", ".rbl.test", &s), 0);
    assert_string_equal(s.s, "2.0.0.127.rbl.test");
    assert_int_equal(dns_reverse_name("2001:db8::1", ".x", ".ip6.arpa", &s), 0);
    assert_string_equal(s.s,
                        "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa");
    assert_int_equal(dns_reverse_name("host.example", ".x", ".x", &s), -1);
    strbuf_release(&s);
}

/* TLSA: raw fields kept, the AD bit reported, hostile records refused or
 * judged unusable, never read past their rdata. */
static void test_tlsa(void **state)
{
    (void)state;
    struct pkt p;
    struct dns_reply r;
    unsigned char good[3 + 32];
    good[0] = 3, good[1] = 1, good[2] = 1;
    for (int i = 0; i < 32; i++)
        good[3 + i] = (unsigned char)i;
    unsigned char pkix[3 + 32], shortsha[3 + 31], bigsel[3 + 32], nul[3];
    memcpy(pkix, good, sizeof(good));
    pkix[0] = 1;
    memcpy(shortsha, good, sizeof(shortsha));
    memcpy(bigsel, good, sizeof(good));
    bigsel[1] = 7;
    nul[0] = 3, nul[1] = 0, nul[2] = 0;
    begin(&p, 0, 6, DNS_T_TLSA);
    p.b[3] |= 0x20; /* AD */
    rr(&p, DNS_T_TLSA, good, sizeof(good));
    rr(&p, DNS_T_TLSA, pkix, sizeof(pkix));
    rr(&p, DNS_T_TLSA, shortsha, sizeof(shortsha));
    rr(&p, DNS_T_TLSA, bigsel, sizeof(bigsel));
    rr(&p, DNS_T_TLSA, nul, sizeof(nul));
    rr(&p, DNS_T_TLSA, "\3\1", 2); /* shorter than the fixed fields: skipped */
    assert_int_equal(dns_parse_reply(p.b, p.n, DNS_T_TLSA, &r, NULL), DNS_OK);
    assert_true(r.authentic);
    assert_int_equal(r.n, 5);
    assert_int_equal(r.v[0].usage, 3);
    assert_int_equal(r.v[0].selector, 1);
    assert_int_equal(r.v[0].mtype, 1);
    assert_int_equal(r.v[0].data_len, 32);
    assert_memory_equal(r.v[0].data, good + 3, 32);
    strbuf why = STRBUF_INIT;
    assert_true(dns_tlsa_check(&r.v[0], &why));
    assert_false(dns_tlsa_check(&r.v[1], &why));
    assert_string_equal(why.s, "TLSA 1 1 1: PKIX usages are not used for SMTP");
    assert_false(dns_tlsa_check(&r.v[2], &why));
    assert_string_equal(why.s, "TLSA 3 1 1: SHA2-256 data is not 32 bytes");
    assert_false(dns_tlsa_check(&r.v[3], &why));
    assert_false(dns_tlsa_check(&r.v[4], &why));
    assert_string_equal(why.s, "TLSA 3 0 0: empty association data");
    dns_reply_free(&r);

    /* rdlength past the end of the packet: malformed, nothing returned. */
    begin(&p, 0, 1, DNS_T_TLSA);
    rr(&p, DNS_T_TLSA, good, sizeof(good));
    p.b[p.n - sizeof(good) - 1] = 0xff; /* rdlen low byte */
    p.b[p.n - sizeof(good) - 2] = 0x7f;
    assert_int_equal(dns_parse_reply(p.b, p.n, DNS_T_TLSA, &r, NULL), DNS_RETRY);
    assert_int_equal(r.n, 0);

    /* No AD bit: the answer is there but not authentic. */
    begin(&p, 0, 1, DNS_T_TLSA);
    rr(&p, DNS_T_TLSA, good, sizeof(good));
    assert_int_equal(dns_parse_reply(p.b, p.n, DNS_T_TLSA, &r, NULL), DNS_OK);
    assert_false(r.authentic);
    dns_reply_free(&r);

    /* A validated denial (NXDOMAIN with AD) is authentic too. */
    begin(&p, 3, 0, DNS_T_TLSA);
    p.b[3] |= 0x20;
    assert_int_equal(dns_parse_reply(p.b, p.n, DNS_T_TLSA, &r, NULL), DNS_NOTFOUND);
    assert_true(r.authentic);
    strbuf_release(&why);
}

static void test_tlsa_oversized(void **state)
{
    (void)state;
    /* The record does not fit in struct pkt: built by hand. */
    static unsigned char big[DNS_TLSA_DATA_MAX + 64];
    struct dns_reply r;
    size_t n = 0;
    static const unsigned char hdr[] = {0x12, 0x34, 0x81, 0x80, 0,   1,   0,   1, 0, 0,  0, 0,
                                        1,    'x',  4,    't',  'e', 's', 't', 0, 0, 52, 0, 1};
    memcpy(big, hdr, sizeof(hdr));
    n = sizeof(hdr);
    size_t rdlen = DNS_TLSA_DATA_MAX + 4;
    unsigned char rrh[] = {
        0xc0, 0x0c, 0, 52, 0, 1, 0, 0, 1, 0, (unsigned char)(rdlen >> 8), (unsigned char)rdlen};
    if (n + sizeof(rrh) + rdlen > sizeof(big))
        fail();
    memcpy(big + n, rrh, sizeof(rrh));
    n += sizeof(rrh);
    big[n] = 3, big[n + 1] = 0, big[n + 2] = 0;
    n += rdlen;
    assert_int_equal(dns_parse_reply(big, n, DNS_T_TLSA, &r, NULL), DNS_NODATA);
    assert_int_equal(r.n, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_and_txt),
        cmocka_unit_test(test_rcodes),
        cmocka_unit_test(test_mx),
        cmocka_unit_test(test_hostile),
        cmocka_unit_test(test_txt_sanitized),
        cmocka_unit_test(test_reverse),
        cmocka_unit_test(test_tlsa),
        cmocka_unit_test(test_tlsa_oversized),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
