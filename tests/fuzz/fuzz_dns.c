/* libFuzzer harness: DNS replies (lib/global/dns.c dns_parse_reply).
 * Input: one reply packet, parsed for every record type smtpd and smtp ask for
 * (TLSA: the DANE records of the smtp client). */
#include <stdint.h>
#include <string.h>

#include "dns.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const unsigned types[] = {DNS_T_A,   DNS_T_AAAA, DNS_T_MX,  DNS_T_NS,
                                     DNS_T_PTR, DNS_T_TXT,  DNS_T_TLSA};
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        struct dns_reply r;
        strbuf why = STRBUF_INIT;
        if (dns_parse_reply(data, size, types[i], &r, &why) == DNS_OK)
            for (size_t k = 0; k < r.n; k++) {
                if (r.v[k].type == DNS_T_TLSA) {
                    /* every byte of the association data must be readable */
                    unsigned sum = 0;
                    for (size_t b = 0; b < r.v[k].data_len; b++)
                        sum += (unsigned char)r.v[k].data[b];
                    (void)sum;
                    (void)dns_tlsa_check(&r.v[k], &why);
                } else {
                    (void)strlen(r.v[k].data);
                }
            }
        dns_reply_free(&r);
        strbuf_release(&why);
    }
    return 0;
}
