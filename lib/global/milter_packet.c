/* milter_packet - decode one packet from a milter (see milter.h).
 *
 * Nothing here trusts the peer: every string must end with its NUL inside
 * the payload, counts come from the payload length only, and anything the
 * MTA would later write into a queue file or an SMTP reply is checked for
 * shape here, once.
 */
#include <ctype.h>
#include <string.h>

#include "milter.h"

void milter_packet_release(struct milter_packet *p)
{
    strbuf_release(&p->name);
    strbuf_release(&p->value);
    for (int i = 0; i < MILTER_M_COUNT; i++)
        strbuf_release(&p->macros[i]);
    memset(p, 0, sizeof(*p));
}

static uint32_t get_u32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Take one NUL-terminated string starting at *pos; -1 when there is none. */
static int take_str(const unsigned char *data, size_t len, size_t *pos, strbuf *out)
{
    if (*pos >= len)
        return -1;
    const unsigned char *nul = memchr(data + *pos, 0, len - *pos);
    if (!nul)
        return -1;
    size_t n = (size_t)(nul - (data + *pos));
    strbuf_reset(out);
    strbuf_append(out, data + *pos, n);
    *pos += n + 1;
    return 0;
}

static bool header_name_ok(const strbuf *name)
{
    if (name->len == 0)
        return false;
    for (size_t i = 0; i < name->len; i++) {
        unsigned char c = (unsigned char)name->s[i];
        if (c <= ' ' || c >= 0x7f || c == ':')
            return false;
    }
    return true;
}

static bool printable_text(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < ' ' && s[i] != '\t')
            return false;
    return true;
}

/* "4xx[ -]text" lines separated by CRLF or LF; the result uses "\n". */
static int reply_code_check(strbuf *text, strbuf *err)
{
    strbuf out = STRBUF_INIT;
    const char *p = strbuf_str(text), *end = p + text->len;
    char code[4] = {0};
    int ret = -1;
    if (text->len < 3)
        goto bad;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        if (n > 0 && p[n - 1] == '\r')
            n--;
        if (n < 3 || !isdigit((unsigned char)p[0]) || !isdigit((unsigned char)p[1]) ||
            !isdigit((unsigned char)p[2]) || (p[0] != '4' && p[0] != '5'))
            goto bad;
        if (code[0] == 0)
            memcpy(code, p, 3);
        else if (memcmp(code, p, 3) != 0)
            goto bad;
        bool last = !nl || nl + 1 >= end;
        if (n > 3 && p[3] != (last ? ' ' : '-'))
            goto bad;
        if (!last && n == 3)
            goto bad;
        if (!printable_text(p, n))
            goto bad;
        /* An enhanced status code must be of the reply's class. */
        if (n > 5 && isdigit((unsigned char)p[4]) && p[5] == '.' && p[4] != p[0])
            goto bad;
        if (out.len)
            strbuf_putc(&out, '\n');
        strbuf_append(&out, p, n);
        if (last)
            break;
        p = nl + 1;
    }
    strbuf_reset(text);
    strbuf_append(text, out.s ? out.s : "", out.len);
    ret = 0;
    goto done;
bad:
    strbuf_set(err, "malformed SMFIR_REPLYCODE reply");
done:
    strbuf_release(&out);
    return ret;
}

int milter_packet_parse(int cmd, const unsigned char *data, size_t len, struct milter_packet *p,
                        strbuf *err)
{
    size_t pos = 0;
    p->cmd = cmd;
    p->index = 0;
    p->body = NULL;
    p->body_len = 0;
    strbuf_reset(&p->name);
    strbuf_reset(&p->value);
    switch (cmd) {
    case SMFIR_ACCEPT:
    case SMFIR_CONTINUE:
    case SMFIR_DISCARD:
    case SMFIR_REJECT:
    case SMFIR_TEMPFAIL:
    case SMFIR_PROGRESS:
    case SMFIR_SKIP:
    case SMFIR_SHUTDOWN:
    case SMFIR_CONN_FAIL:
        /* No payload; trailing bytes are tolerated (and ignored). */
        return 0;
    case SMFIC_OPTNEG:
        if (len < 12) {
            strbuf_set(err, "short SMFIC_OPTNEG reply");
            return -1;
        }
        p->version = get_u32(data);
        p->actions = get_u32(data + 4);
        p->proto = get_u32(data + 8);
        pos = 12;
        for (int i = 0; i < MILTER_M_COUNT; i++)
            p->have_macros[i] = false;
        while (pos < len) {
            if (len - pos < 4) {
                strbuf_set(err, "malformed SMFIC_OPTNEG macro list");
                return -1;
            }
            uint32_t stage = get_u32(data + pos);
            pos += 4;
            if (stage >= MILTER_M_UNKNOWN) {
                strbuf_set(err, "bad SMFIC_OPTNEG macro stage");
                return -1;
            }
            if (take_str(data, len, &pos, &p->macros[stage]) < 0 ||
                !printable_text(p->macros[stage].s ? p->macros[stage].s : "",
                                p->macros[stage].len)) {
                strbuf_set(err, "malformed SMFIC_OPTNEG macro list");
                return -1;
            }
            p->have_macros[stage] = true;
        }
        return 0;
    case SMFIR_REPLYCODE:
        if (take_str(data, len, &pos, &p->value) < 0) {
            strbuf_set(err, "malformed SMFIR_REPLYCODE reply");
            return -1;
        }
        return reply_code_check(&p->value, err);
    case SMFIR_QUARANTINE:
        if (take_str(data, len, &pos, &p->value) < 0 ||
            !printable_text(strbuf_str(&p->value), p->value.len)) {
            strbuf_set(err, "malformed SMFIR_QUARANTINE request");
            return -1;
        }
        return 0;
    case SMFIR_INSHEADER:
    case SMFIR_CHGHEADER:
        if (len < 4) {
            strbuf_set(err, "short header modification request");
            return -1;
        }
        p->index = get_u32(data);
        pos = 4;
        /* fall through */
    case SMFIR_ADDHEADER:
        if (take_str(data, len, &pos, &p->name) < 0 || take_str(data, len, &pos, &p->value) < 0 ||
            !header_name_ok(&p->name)) {
            strbuf_set(err, "malformed header modification request");
            return -1;
        }
        if (cmd == SMFIR_INSHEADER && p->index > INT32_MAX) {
            strbuf_set(err, "bad header index");
            return -1;
        }
        return 0;
    case SMFIR_REPLBODY:
        p->body = data;
        p->body_len = len;
        return 0;
    case SMFIR_ADDRCPT:
    case SMFIR_DELRCPT:
    case SMFIR_ADDRCPT_PAR:
    case SMFIR_CHGFROM:
        if (take_str(data, len, &pos, &p->name) < 0 || p->name.len == 0 ||
            !printable_text(strbuf_str(&p->name), p->name.len)) {
            strbuf_set(err, "malformed envelope modification request");
            return -1;
        }
        if ((cmd == SMFIR_ADDRCPT_PAR || cmd == SMFIR_CHGFROM) && pos < len &&
            (take_str(data, len, &pos, &p->value) < 0 ||
             !printable_text(strbuf_str(&p->value), p->value.len))) {
            strbuf_set(err, "malformed envelope modification request");
            return -1;
        }
        return 0;
    default:
        strbuf_reset(err);
        if (cmd >= 0x21 && cmd < 0x7f)
            strbuf_printf(err, "unexpected reply '%c'", cmd);
        else
            strbuf_printf(err, "unexpected reply 0x%02x", (unsigned)cmd & 0xff);
        return -1;
    }
}
