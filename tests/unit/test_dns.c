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
    rr(&p, DNS_T_MX, "\0\0\0", 3);              /* null MX */
    rr(&p, DNS_T_MX, "\0\5\3b d\0", 7);         /* space in label: skipped */
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
    rr(&p, DNS_T_TXT, "\x09" "abc", 4);
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
    rr(&p, DNS_T_TXT, "\x06" "a\r\nb\0\xe9" "\x02" "%$", 10);
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
    assert_string_equal(
        s.s, "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa");
    assert_int_equal(dns_reverse_name("host.example", ".x", ".x", &s), -1);
    strbuf_release(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_and_txt),     cmocka_unit_test(test_rcodes),
        cmocka_unit_test(test_mx),            cmocka_unit_test(test_hostile),
        cmocka_unit_test(test_txt_sanitized), cmocka_unit_test(test_reverse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
