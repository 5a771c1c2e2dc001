/* smtp_cmd - parse one SMTP command line (see smtp_cmd.h for the contract). */
#include "smtp_cmd.h"

#include <stdarg.h>
#include <string.h>
#include <strings.h>

/* Bounds on text copied from the command into replies and logs. */
#define WORD_LOG_MAX 100
#define OPTION_LOG_MAX 200
#define PATH_LOG_MAX 1100

static const struct {
    const char *name;
    enum smtp_verb verb;
} verbs[] = {
    {"HELO", SMTP_VERB_HELO},       {"EHLO", SMTP_VERB_EHLO},
    {"LHLO", SMTP_VERB_LHLO},       {"MAIL", SMTP_VERB_MAIL},
    {"RCPT", SMTP_VERB_RCPT},       {"DATA", SMTP_VERB_DATA},
    {"BDAT", SMTP_VERB_BDAT},       {"RSET", SMTP_VERB_RSET},
    {"NOOP", SMTP_VERB_NOOP},       {"QUIT", SMTP_VERB_QUIT},
    {"HELP", SMTP_VERB_HELP},       {"VRFY", SMTP_VERB_VRFY},
    {"EXPN", SMTP_VERB_EXPN},       {"ETRN", SMTP_VERB_ETRN},
    {"AUTH", SMTP_VERB_AUTH},       {"STARTTLS", SMTP_VERB_STARTTLS},
    {"XCLIENT", SMTP_VERB_XCLIENT}, {"XFORWARD", SMTP_VERB_XFORWARD},
};

const char *smtp_verb_name(enum smtp_verb verb)
{
    for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
        if (verbs[i].verb == verb)
            return verbs[i].name;
    return "UNKNOWN";
}

void smtp_cmd_init(smtp_cmd *cmd)
{
    memset(cmd, 0, sizeof(*cmd));
}

void smtp_cmd_release(smtp_cmd *cmd)
{
    strbuf_release(&cmd->word);
    strbuf_release(&cmd->arg);
    addr_path_release(&cmd->path);
    strbuf_release(&cmd->path_text);
    strbuf_release(&cmd->envid);
    strbuf_release(&cmd->auth);
    strbuf_release(&cmd->orcpt_type);
    strbuf_release(&cmd->orcpt_addr);
    strbuf_release(&cmd->reply.text);
    memset(cmd, 0, sizeof(*cmd));
}

/* Forget the previous command but keep the buffers' memory. */
static void cmd_reset(smtp_cmd *cmd)
{
    cmd->verb = SMTP_VERB_UNKNOWN;
    strbuf_set(&cmd->word, "");
    strbuf_set(&cmd->arg, "");
    strbuf_set(&cmd->path.addr, "");
    cmd->path.null = cmd->path.bracketed = cmd->path.source_route = cmd->path.has_8bit = false;
    strbuf_set(&cmd->path_text, "");
    cmd->params = 0;
    cmd->size = 0;
    cmd->body = SMTP_BODY_NONE;
    cmd->ret = SMTP_RET_NONE;
    strbuf_set(&cmd->envid, "");
    strbuf_set(&cmd->auth, "");
    cmd->notify = 0;
    strbuf_set(&cmd->orcpt_type, "");
    strbuf_set(&cmd->orcpt_addr, "");
    cmd->bdat_size = 0;
    cmd->bdat_last = false;
    cmd->reply.code = 0;
    cmd->reply.dsn = NULL;
    cmd->reply.close = false;
    strbuf_set(&cmd->reply.text, "");
}

__attribute__((format(printf, 4, 5))) static int fail(smtp_cmd *cmd, int code, const char *dsn,
                                                      const char *fmt, ...)
{
    va_list ap;
    cmd->reply.code = code;
    cmd->reply.dsn = dsn;
    strbuf_reset(&cmd->reply.text);
    va_start(ap, fmt);
    strbuf_vprintf(&cmd->reply.text, fmt, ap);
    va_end(ap);
    return -1;
}

void smtp_reply_format(const smtp_reply *r, strbuf *out)
{
    strbuf_reset(out);
    if (r->dsn)
        strbuf_printf(out, "%d %s %s", r->code, r->dsn, strbuf_str(&r->text));
    else
        strbuf_printf(out, "%d %s", r->code, strbuf_str(&r->text));
}

static bool is_wsp(char c)
{
    /* Postfix's tokenizer splits on isspace(); CR and LF never get here. */
    return c == ' ' || c == '\t' || c == '\v' || c == '\f';
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

int smtp_xtext_decode(strbuf *out, const char *in, size_t len)
{
    strbuf_set(out, "");
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c == '+') {
            int hi, lo;
            if (len - i < 3 || (hi = hexval(in[i + 1])) < 0 || (lo = hexval(in[i + 2])) < 0)
                return -1;
            strbuf_putc(out, (char)(hi * 16 + lo));
            i += 2;
        } else if (c < 33 || c > 126 || c == '=') {
            return -1;
        } else {
            strbuf_putc(out, (char)c);
        }
    }
    return 0;
}

void smtp_xtext_encode(strbuf *out, const void *in, size_t len)
{
    const unsigned char *s = in;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < 33 || s[i] > 126 || s[i] == '+' || s[i] == '=')
            strbuf_printf(out, "+%02X", s[i]);
        else
            strbuf_putc(out, (char)s[i]);
    }
}

int smtp_parse_count(const char *s, size_t len, uint64_t *out)
{
    const uint64_t max = INT64_MAX; /* must fit in off_t */
    uint64_t v = 0;
    if (len == 0)
        return -1;
    for (size_t i = 0; i < len; i++)
        if (s[i] < '0' || s[i] > '9')
            return -1;
    for (size_t i = 0; i < len; i++) {
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (max - d) / 10)
            return -2;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

static bool all_print(const strbuf *sb)
{
    for (size_t i = 0; i < sb->len; i++) {
        unsigned char c = (unsigned char)sb->s[i];
        if (c < 0x20 || c >= 0x7f)
            return false;
    }
    return true;
}

static bool has_ctl(const strbuf *sb)
{
    for (size_t i = 0; i < sb->len; i++) {
        unsigned char c = (unsigned char)sb->s[i];
        if (c < 0x20 || c == 0x7f)
            return true;
    }
    return false;
}

static bool word_is(const char *s, size_t len, const char *lit)
{
    return strlen(lit) == len && strncasecmp(s, lit, len) == 0;
}

static int unsupported(smtp_cmd *cmd, const char *tok, size_t len)
{
    strbuf clean = STRBUF_INIT;
    addr_sanitize(&clean, tok, len, OPTION_LOG_MAX, false);
    fail(cmd, 555, "5.5.4", "Unsupported option: %s", strbuf_str(&clean));
    strbuf_release(&clean);
    return -1;
}

/* NOTIFY=NEVER or a comma list of SUCCESS, FAILURE, DELAY; no repeats. */
static unsigned parse_notify(const char *v, size_t len)
{
    unsigned mask = 0;
    size_t p = 0;
    if (len == 0)
        return 0;
    while (p <= len) {
        const char *comma = memchr(v + p, ',', len - p);
        size_t end = comma ? (size_t)(comma - v) : len;
        unsigned bit;
        if (word_is(v + p, end - p, "NEVER"))
            bit = SMTP_NOTIFY_NEVER;
        else if (word_is(v + p, end - p, "SUCCESS"))
            bit = SMTP_NOTIFY_SUCCESS;
        else if (word_is(v + p, end - p, "FAILURE"))
            bit = SMTP_NOTIFY_FAILURE;
        else if (word_is(v + p, end - p, "DELAY"))
            bit = SMTP_NOTIFY_DELAY;
        else
            return 0;
        if (mask & bit)
            return 0;
        mask |= bit;
        if (!comma)
            break;
        p = end + 1;
    }
    if ((mask & SMTP_NOTIFY_NEVER) && mask != SMTP_NOTIFY_NEVER)
        return 0;
    return mask;
}

/* One ESMTP parameter of MAIL (is_mail) or RCPT. */
static int parse_param(smtp_cmd *cmd, const char *tok, size_t len, bool is_mail)
{
    const char *eq = memchr(tok, '=', len);
    size_t klen = eq ? (size_t)(eq - tok) : len;
    const char *val = eq ? eq + 1 : NULL;
    size_t vlen = eq ? len - klen - 1 : 0;

    if (is_mail && word_is(tok, klen, "SIZE") && eq) { /* RFC 1870 */
        int rc = smtp_parse_count(val, vlen, &cmd->size);
        if (rc == -1)
            return fail(cmd, 501, "5.5.4", "Bad message size syntax");
        if (rc == -2)
            return fail(cmd, 552, "5.3.4", "Message size exceeds file system imposed limit");
        cmd->params |= SMTP_PARAM_SIZE;
        return 0;
    }
    if (is_mail && word_is(tok, klen, "BODY") && eq) { /* RFC 1652, 3030 */
        if (word_is(val, vlen, "7BIT"))
            cmd->body = SMTP_BODY_7BIT;
        else if (word_is(val, vlen, "8BITMIME"))
            cmd->body = SMTP_BODY_8BITMIME;
        else if (word_is(val, vlen, "BINARYMIME"))
            cmd->body = SMTP_BODY_BINARYMIME;
        else
            return unsupported(cmd, tok, len);
        cmd->params |= SMTP_PARAM_BODY;
        return 0;
    }
    if (is_mail && word_is(tok, len, "SMTPUTF8")) { /* RFC 6531: no value */
        cmd->params |= SMTP_PARAM_SMTPUTF8;
        return 0;
    }
    if (is_mail && word_is(tok, klen, "RET") && eq) { /* RFC 3461 */
        if (cmd->params & SMTP_PARAM_RET)
            return fail(cmd, 501, "5.5.4", "Bad RET parameter syntax");
        if (word_is(val, vlen, "FULL"))
            cmd->ret = SMTP_RET_FULL;
        else if (word_is(val, vlen, "HDRS"))
            cmd->ret = SMTP_RET_HDRS;
        else
            return fail(cmd, 501, "5.5.4", "Bad RET parameter syntax");
        cmd->params |= SMTP_PARAM_RET;
        return 0;
    }
    if (is_mail && word_is(tok, klen, "ENVID") && eq) { /* RFC 3461 */
        if ((cmd->params & SMTP_PARAM_ENVID) || smtp_xtext_decode(&cmd->envid, val, vlen) < 0 ||
            cmd->envid.len == 0 || cmd->envid.len > SMTP_ENVID_MAX || !all_print(&cmd->envid))
            return fail(cmd, 501, "5.5.4", "Bad ENVID parameter syntax");
        cmd->params |= SMTP_PARAM_ENVID;
        return 0;
    }
    if (is_mail && word_is(tok, klen, "AUTH") && eq) { /* RFC 4954 */
        if (cmd->params & SMTP_PARAM_AUTH)
            return fail(cmd, 503, "5.5.4", "Error: multiple AUTH= options");
        if (smtp_xtext_decode(&cmd->auth, val, vlen) < 0 || cmd->auth.len == 0 ||
            cmd->auth.len > ADDR_RFC_PATH_MAX * 4 || has_ctl(&cmd->auth))
            return fail(cmd, 501, "5.5.4", "Bad AUTH parameter syntax");
        cmd->params |= SMTP_PARAM_AUTH;
        return 0;
    }
    if (!is_mail && word_is(tok, klen, "NOTIFY") && eq) { /* RFC 3461 */
        if ((cmd->params & SMTP_PARAM_NOTIFY) || (cmd->notify = parse_notify(val, vlen)) == 0)
            return fail(cmd, 501, "5.5.4", "Error: Bad NOTIFY parameter syntax");
        cmd->params |= SMTP_PARAM_NOTIFY;
        return 0;
    }
    if (!is_mail && word_is(tok, klen, "ORCPT") && eq) { /* RFC 3461 */
        const char *semi = memchr(val, ';', vlen);
        if ((cmd->params & SMTP_PARAM_ORCPT) || !semi || semi == val)
            return fail(cmd, 501, "5.5.4", "Error: Bad ORCPT parameter syntax");
        size_t tlen = (size_t)(semi - val);
        strbuf_set(&cmd->orcpt_type, "");
        strbuf_append(&cmd->orcpt_type, val, tlen);
        /* The address type is an atom ("rfc822", "utf-8"). */
        for (size_t i = 0; i < tlen; i++) {
            char c = val[i];
            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-'))
                return fail(cmd, 501, "5.5.4", "Error: Bad ORCPT parameter syntax");
        }
        if (smtp_xtext_decode(&cmd->orcpt_addr, semi + 1, vlen - tlen - 1) < 0 ||
            cmd->orcpt_addr.len == 0 || cmd->orcpt_addr.len > SMTP_ORCPT_MAX ||
            has_ctl(&cmd->orcpt_addr))
            return fail(cmd, 501, "5.5.4", "Error: Bad ORCPT parameter syntax");
        cmd->params |= SMTP_PARAM_ORCPT;
        return 0;
    }
    return unsupported(cmd, tok, len);
}

/* MAIL FROM:<path> [params] and RCPT TO:<path> [params]. */
static int parse_mail_rcpt(smtp_cmd *cmd, const char *a, size_t len, const smtp_cmd_opts *opts)
{
    bool is_mail = cmd->verb == SMTP_VERB_MAIL;
    const char *kw = is_mail ? "FROM:" : "TO:";
    size_t kwlen = strlen(kw);
    const char *syntax = is_mail ? "Syntax: MAIL FROM:<address>" : "Syntax: RCPT TO:<address>";

    if (len < kwlen || strncasecmp(a, kw, kwlen) != 0)
        return fail(cmd, 501, "5.5.4", "%s", syntax);
    size_t p = kwlen;
    /* Postfix's tokenizer makes "FROM:" a token of its own, so white space
     * after the colon is accepted even with strict_rfc821_envelopes. */
    while (p < len && is_wsp(a[p]))
        p++;
    if (p == len)
        return fail(cmd, 501, "5.5.4", "%s", syntax);

    unsigned flags = 0;
    if (opts->strict_rfc821)
        flags |= ADDR_F_STRICT;
    if (opts->utf8_addresses)
        flags |= ADDR_F_UTF8;
    if (!is_mail)
        flags |= ADDR_F_NO_EMPTY;
    size_t used;
    strbuf why = STRBUF_INIT;
    int rc = addr_parse_path(&cmd->path, a + p, len - p, &used, flags, opts->limits, &why);
    strbuf_release(&why);
    if (rc < 0) {
        if (is_mail)
            return fail(cmd, 501, "5.1.7", "Bad sender address syntax");
        return fail(cmd, 501, "5.1.3", "Bad recipient address syntax");
    }
    addr_sanitize(&cmd->path_text, a + p, used, PATH_LOG_MAX, true);
    p += used;

    while (p < len) {
        while (p < len && is_wsp(a[p]))
            p++;
        size_t start = p;
        while (p < len && !is_wsp(a[p]))
            p++;
        if (p > start && parse_param(cmd, a + start, p - start, is_mail) < 0)
            return -1;
    }
    if (is_mail && (cmd->params & SMTP_PARAM_SIZE) && opts->message_size_limit > 0 &&
        cmd->size > opts->message_size_limit)
        return fail(cmd, 552, "5.3.4", "Message size exceeds fixed limit");
    return 0;
}

/* A bad BDAT command desynchronizes the stream (we cannot know how many
 * bytes to skip), so Postfix answers 521 and disconnects. */
static int bdat_syntax_error(smtp_cmd *cmd)
{
    cmd->reply.close = true;
    return fail(cmd, 521, "5.5.4", "Syntax: BDAT count [LAST]");
}

/* BDAT count [LAST]. */
static int parse_bdat(smtp_cmd *cmd, const char *a, size_t len)
{
    size_t p = 0;
    while (p < len && !is_wsp(a[p]))
        p++;
    size_t q = p;
    while (q < len && is_wsp(a[q]))
        q++;
    if (smtp_parse_count(a, p, &cmd->bdat_size) == 0) {
        if (q == len)
            return 0;
        if (word_is(a + q, len - q, "LAST")) {
            cmd->bdat_last = true;
            return 0;
        }
    }
    return bdat_syntax_error(cmd);
}

int smtp_cmd_parse(smtp_cmd *cmd, const char *line, size_t len, const smtp_cmd_opts *opts)
{
    static const smtp_cmd_opts defaults;
    if (!opts)
        opts = &defaults;
    cmd_reset(cmd);

    size_t p = 0;
    while (p < len && is_wsp(line[p]))
        p++;
    size_t wstart = p;
    while (p < len && !is_wsp(line[p]))
        p++;
    size_t wlen = p - wstart;
    addr_sanitize(&cmd->word, line + wstart, wlen, WORD_LOG_MAX, false);
    for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
        if (word_is(line + wstart, wlen, verbs[i].name)) {
            cmd->verb = verbs[i].verb;
            break;
        }
    }
    /* NUL, CR and LF must never travel further than this line. A BDAT line
     * that was cut or holds them announces a count nobody can trust. */
    bool unreadable = memchr(line, '\0', len) || memchr(line, '\r', len) || memchr(line, '\n', len);
    if (cmd->verb == SMTP_VERB_BDAT && (unreadable || opts->truncated))
        return bdat_syntax_error(cmd);
    if (unreadable)
        return fail(cmd, 500, "5.5.2", "Error: bad syntax");
    if (wlen == 0)
        return fail(cmd, 500, "5.5.2", "Error: bad syntax");
    if (cmd->verb == SMTP_VERB_UNKNOWN)
        return fail(cmd, 500, "5.5.2", "Error: command not recognized");

    while (p < len && is_wsp(line[p]))
        p++;
    size_t end = len;
    while (end > p && is_wsp(line[end - 1]))
        end--;
    const char *a = line + p;
    size_t alen = end - p;
    strbuf_append(&cmd->arg, a, alen);

    switch (cmd->verb) {
    case SMTP_VERB_HELO:
    case SMTP_VERB_EHLO:
    case SMTP_VERB_LHLO:
        /* Postfix sends these without an enhanced status code. */
        if (alen == 0)
            return fail(cmd, 501, NULL, "Syntax: %s hostname", smtp_verb_name(cmd->verb));
        return 0;
    case SMTP_VERB_MAIL:
    case SMTP_VERB_RCPT:
        return parse_mail_rcpt(cmd, a, alen, opts);
    case SMTP_VERB_BDAT:
        return parse_bdat(cmd, a, alen);
    case SMTP_VERB_DATA:
    case SMTP_VERB_RSET:
    case SMTP_VERB_NOOP:
    case SMTP_VERB_STARTTLS:
        if (alen != 0)
            return fail(cmd, 501, "5.5.4", "Syntax: %s", smtp_verb_name(cmd->verb));
        return 0;
    case SMTP_VERB_VRFY:
    case SMTP_VERB_EXPN:
        if (alen == 0)
            return fail(cmd, 501, "5.5.4", "Syntax: %s address", smtp_verb_name(cmd->verb));
        return 0;
    case SMTP_VERB_ETRN:
        if (alen == 0)
            return fail(cmd, 501, "5.5.4", "Syntax: ETRN domain");
        return 0;
    case SMTP_VERB_AUTH:
        if (alen == 0)
            return fail(cmd, 501, "5.5.4", "Syntax: AUTH mechanism");
        return 0;
    case SMTP_VERB_QUIT:
    case SMTP_VERB_HELP:
    case SMTP_VERB_XCLIENT:
    case SMTP_VERB_XFORWARD:
    case SMTP_VERB_UNKNOWN:
        return 0;
    }
    return 0;
}

bool smtp_cmd_forbidden(const char *word, size_t len, const strlist *words, bool nonletter_start)
{
    if (len == 0)
        return false;
    char c0 = word[0];
    if (nonletter_start && !((c0 >= 'a' && c0 <= 'z') || (c0 >= 'A' && c0 <= 'Z')))
        return true;
    /* A header name ("Host:", "User-Agent:"): printable, no colon or space
     * inside, one colon at the end. Nothing in SMTP looks like that. */
    if (len >= 2 && word[len - 1] == ':') {
        bool header = true;
        for (size_t i = 0; i + 1 < len && header; i++) {
            unsigned char c = (unsigned char)word[i];
            header = c > 0x20 && c < 0x7f && c != ':';
        }
        if (header)
            return true;
    }
    for (size_t i = 0; words && i < words->n; i++)
        if (word_is(word, len, words->v[i]))
            return true;
    return false;
}
