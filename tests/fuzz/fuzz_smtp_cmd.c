/* libFuzzer: one SMTP command line. Invariants: successful MAIL/RCPT
 * addresses and decoded DSN values never hold CR, LF or NUL; a reply never
 * holds CR or LF and is bounded; xtext encode/decode round-trips. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtp_cmd.h"

static void check(int cond)
{
    if (!cond)
        abort();
}

static int no_ctl(const strbuf *sb)
{
    for (size_t i = 0; i < sb->len; i++) {
        unsigned char c = (unsigned char)sb->s[i];
        if (c < 0x20 || c == 0x7f)
            return 0;
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    smtp_cmd_opts o = {0};
    o.strict_rfc821 = data[0] & 1;
    o.utf8_addresses = data[0] & 2;
    o.message_size_limit = (data[0] & 4) ? 10240000 : 0;
    o.limits = (data[0] & 8) ? &addr_limits_rfc : NULL;
    const char *line = (const char *)data + 1;
    size_t len = size - 1;

    smtp_cmd cmd;
    smtp_cmd_init(&cmd);
    int rc = smtp_cmd_parse(&cmd, line, len, &o);
    check(cmd.word.len <= 100 && no_ctl(&cmd.word));
    if (rc == 0) {
        check(cmd.reply.code == 0);
        check(memchr(line, '\0', len) == NULL && memchr(line, '\r', len) == NULL &&
              memchr(line, '\n', len) == NULL);
        check(no_ctl(&cmd.path.addr));
        check(no_ctl(&cmd.auth) && no_ctl(&cmd.orcpt_addr));
        check(cmd.envid.len <= SMTP_ENVID_MAX && no_ctl(&cmd.envid));
        check(cmd.size <= INT64_MAX && cmd.bdat_size <= INT64_MAX);
        if (o.message_size_limit && (cmd.params & SMTP_PARAM_SIZE))
            check(cmd.size <= o.message_size_limit);
        if (cmd.verb == SMTP_VERB_RCPT)
            check(!cmd.path.null);
    } else {
        check(rc == -1);
        check(cmd.reply.code >= 400 && cmd.reply.code < 600);
        check(cmd.reply.text.len < 400);
        check(memchr(cmd.reply.text.s, '\r', cmd.reply.text.len) == NULL);
        check(memchr(cmd.reply.text.s, '\n', cmd.reply.text.len) == NULL);
        check(memchr(cmd.reply.text.s, '\0', cmd.reply.text.len) == NULL);
    }
    (void)smtp_cmd_forbidden(cmd.word.s, cmd.word.len, NULL, true);
    smtp_cmd_release(&cmd);

    strbuf enc = STRBUF_INIT, dec = STRBUF_INIT;
    smtp_xtext_encode(&enc, line, len);
    check(smtp_xtext_decode(&dec, enc.s, enc.len) == 0);
    check(dec.len == len && memcmp(dec.s, line, len) == 0);
    (void)smtp_xtext_decode(&dec, line, len);
    uint64_t v;
    if (smtp_parse_count(line, len, &v) == 0)
        check(v <= INT64_MAX);
    strbuf_release(&enc);
    strbuf_release(&dec);
    return 0;
}
