/* cleanup_checks - header_checks, mime_header_checks, nested_header_checks
 * and body_checks (Postfix 3.7 header_checks(5)).
 *
 * Each parameter's tables are opened once per cleanup process, on first use
 * (MAP_SURROGATE: an unusable table answers "temporary failure", which
 * defers the message instead of letting it pass unchecked). The lookup key
 * is the whole logical header, continuation lines and their newlines
 * included, or one body line; it is the sender's text, so it is only ever
 * matched and logged (bounded, made printable), never interpreted.
 *
 * MIME part headers of the top-level multipart (cleanup_message.c) go to
 * mime_header_checks or nested_header_checks; deeper nesting and
 * message/rfc822 attachments are body lines here.
 *
 * Actions done here: REJECT [text], WARN [text], IGNORE, REPLACE text,
 * PREPEND text, DUNNO, OK. The message actions HOLD, DISCARD, REDIRECT,
 * FILTER and BCC need the queue-file plumbing (cleanup_act); until it
 * exists they are logged as an unsupported action and otherwise ignored,
 * like an unknown action in Postfix. The first match decides; after REJECT
 * no more checks run for the message.
 */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "address.h"
#include "cleanup.h"
#include "input_transp.h"
#include "config.h"
#include "maps.h"
#include "msg.h"

static const char *const class_param[] = {
    [CHECK_HEADER] = "header_checks",
    [CHECK_MIME] = "mime_header_checks",
    [CHECK_NESTED] = "nested_header_checks",
    [CHECK_BODY] = "body_checks",
};
static const char *const class_word[] = {
    [CHECK_HEADER] = "header",
    [CHECK_MIME] = "header",
    [CHECK_NESTED] = "header",
    [CHECK_BODY] = "body",
};

static maps *tables[CHECK_CLASSES];
static bool opened[CHECK_CLASSES];

static maps *table_for(enum cleanup_check_class cls)
{
    if (!opened[cls]) {
        opened[cls] = true;
        strbuf err = STRBUF_INIT;
        const char *list = config_get(class_param[cls]);
        if (list && list[0]) {
            tables[cls] = maps_open(class_param[cls], list, MAP_SURROGATE, &err);
            if (!tables[cls])
                msg_warn("%s: %s", class_param[cls], strbuf_str(&err));
        }
        strbuf_release(&err);
    }
    return tables[cls];
}

bool cleanup_checks_disabled(void)
{
    /* This service's own setting; smtpd/pickup -o settings arrive as open
     * flags (cleanup_state.override_flags). */
    return (input_transp_flags() & INPUT_TRANSP_HEADER_BODY) != 0;
}

/* "QID: action: header Subject: x from host[addr]; from=<s> to=<r>
 * proto=ESMTP helo=<h>[: text]", as Postfix's cleanup_act_log. */
static void log_action(struct cleanup_state *s, const char *action, enum cleanup_check_class cls,
                       const char *text, size_t len, const char *reason)
{
    strbuf line = STRBUF_INIT, what = STRBUF_INIT;
    /* Postfix logs at most 200 bytes of the header or line. */
    size_t n = len > 200 ? 200 : len;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)text[i];
        strbuf_putc(&what, (c < 0x20 && c != '\t') || c == 0x7f ? '?' : (char)c);
    }
    strbuf_printf(&line, "%s: %s: %s %s from ", strbuf_str(&s->queue_id), action, class_word[cls],
                  strbuf_str(&what));
    if (s->client_name.len > 0 || s->client_addr.len > 0)
        strbuf_printf(&line, "%s[%s];",
                      s->client_name.len ? strbuf_str(&s->client_name) : "unknown",
                      strbuf_str(&s->client_addr));
    else
        strbuf_puts(&line, "local;");
    strbuf tmp = STRBUF_INIT;
    addr_sanitize(&tmp, s->sender.s ? s->sender.s : "", s->sender.len, 400, true);
    strbuf_printf(&line, " from=<%s>", strbuf_str(&tmp));
    if (s->first_rcpt.len > 0) {
        strbuf_reset(&tmp);
        addr_sanitize(&tmp, s->first_rcpt.s, s->first_rcpt.len, 400, true);
        strbuf_printf(&line, " to=<%s>", strbuf_str(&tmp));
    }
    if (s->proto.len > 0)
        strbuf_printf(&line, " proto=%s", strbuf_str(&s->proto));
    if (s->helo.len > 0) {
        strbuf_reset(&tmp);
        addr_sanitize(&tmp, s->helo.s, s->helo.len, 400, true);
        strbuf_printf(&line, " helo=<%s>", strbuf_str(&tmp));
    }
    if (reason && reason[0])
        strbuf_printf(&line, ": %s", reason);
    msg_info("%s", strbuf_str(&line));
    strbuf_release(&line);
    strbuf_release(&what);
    strbuf_release(&tmp);
}

/* Here, not in cleanup.c, so the checks link without the daemon. */
void cleanup_act(struct cleanup_state *s, enum cleanup_action kind, const char *value)
{
    if (!cleanup_action_value_ok(kind, value)) {
        strbuf safe = STRBUF_INIT;
        addr_sanitize(&safe, value ? value : "", value ? strlen(value) : 0, 256, true);
        msg_warn("%s: bad %s action value \"%s\"; ignored", strbuf_str(&s->queue_id),
                 cleanup_action_name(kind), strbuf_str(&safe));
        strbuf_release(&safe);
        return;
    }
    switch (kind) {
    case CLEANUP_ACT_HOLD:
        s->act_hold = true;
        break;
    case CLEANUP_ACT_DISCARD:
        s->act_discard = true;
        break;
    case CLEANUP_ACT_REDIRECT:
        strbuf_set(&s->act_redirect, value);
        break;
    case CLEANUP_ACT_FILTER:
        strbuf_set(&s->act_filter, value);
        break;
    case CLEANUP_ACT_BCC:
        strlist_push(&s->act_bcc, value);
        break;
    }
}

/* HOLD/DISCARD [text], REDIRECT addr, FILTER transport:nexthop, BCC addr:
 * the Postfix log line ("hold", "discard", "redirect", "filter", "bcc"),
 * then cleanup_act. A missing or bad argument is a warning, and the
 * action is ignored (Postfix). */
static void message_action(struct cleanup_state *s, enum cleanup_check_class cls, int act,
                           const char *text, size_t len, const char *arg)
{
    static const struct {
        int act;
        enum cleanup_action kind;
        const char *word;
    } acts[] = {
        {ACT_HOLD, CLEANUP_ACT_HOLD, "HOLD"},
        {ACT_DISCARD, CLEANUP_ACT_DISCARD, "DISCARD"},
        {ACT_REDIRECT, CLEANUP_ACT_REDIRECT, "REDIRECT"},
        {ACT_FILTER, CLEANUP_ACT_FILTER, "FILTER"},
        {ACT_BCC, CLEANUP_ACT_BCC, "BCC"},
    };
    size_t i = 0;
    while (acts[i].act != act)
        i++;
    enum cleanup_action kind = acts[i].kind;
    bool takes_value = kind != CLEANUP_ACT_HOLD && kind != CLEANUP_ACT_DISCARD;
    if (takes_value) {
        /* Postfix's warnings ("bad REDIRECT target ... need user@domain"). */
        bool filter = kind == CLEANUP_ACT_FILTER;
        if (!(filter ? strchr(arg, ':') != NULL : strchr(arg, '@') != NULL) ||
            !cleanup_action_value_ok(kind, arg)) {
            msg_warn("%s: bad %s %s \"%.100s\" in %s map, need %s", strbuf_str(&s->queue_id),
                     acts[i].word,
                     filter                    ? "action"
                     : kind == CLEANUP_ACT_BCC ? "address"
                                               : "target",
                     arg, class_param[cls], filter ? "transport:destination" : "user@domain");
            return;
        }
    }
    log_action(s, cleanup_action_name(kind), cls, text, len, arg);
    cleanup_act(s, kind, takes_value ? arg : NULL);
}

int cleanup_parse_action(const char *value, const char **arg, size_t *word_len)
{
    while (isspace((unsigned char)*value))
        value++;
    const char *w = value;
    while (*value && !isspace((unsigned char)*value))
        value++;
    *word_len = (size_t)(value - w);
    while (isspace((unsigned char)*value))
        value++;
    *arg = value;
    static const struct {
        const char *word;
        int act;
    } words[] = {
        {"REJECT", ACT_REJECT},     {"WARN", ACT_WARN},       {"IGNORE", ACT_IGNORE},
        {"REPLACE", ACT_REPLACE},   {"PREPEND", ACT_PREPEND}, {"DUNNO", ACT_DUNNO},
        {"OK", ACT_DUNNO},          {"HOLD", ACT_HOLD},       {"DISCARD", ACT_DISCARD},
        {"REDIRECT", ACT_REDIRECT}, {"FILTER", ACT_FILTER},   {"BCC", ACT_BCC},
    };
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
        if (strlen(words[i].word) == *word_len && strncasecmp(w, words[i].word, *word_len) == 0)
            return words[i].act;
    return ACT_UNKNOWN;
}

void cleanup_reject(struct cleanup_state *s, const char *reply)
{
    if (s->reject_reply.len)
        return; /* the first one decides */
    strbuf_set(&s->reject_reply, reply);
    if (!s->bounce_rejects)
        s->error = CLEANUP_CONTENT;
}

enum check_verdict cleanup_check(struct cleanup_state *s, enum cleanup_check_class cls,
                                 const char *text, size_t len, strbuf *prepend, strbuf *replace)
{
    strbuf_reset(prepend);
    strbuf_reset(replace);
    if (s->error != CLEANUP_OK || s->checks_off || s->reject_reply.len)
        return CHECK_KEEP;
    maps *ms = table_for(cls);
    if (!ms)
        return CHECK_KEEP;
    /* A NUL in the sender's text ends the key, as in Postfix (C strings). */
    strbuf key = STRBUF_INIT, value = STRBUF_INIT, err = STRBUF_INIT;
    strbuf_append(&key, text, len);
    enum check_verdict verdict = CHECK_KEEP;
    enum map_result r = maps_find(ms, strbuf_str(&key), 0, &value, &err);
    if (r == MAP_TEMPFAIL) {
        msg_warn("%s: %s map lookup problem: %s", strbuf_str(&s->queue_id), class_param[cls],
                 strbuf_str(&err));
        s->error = CLEANUP_TABLE;
    } else if (r == MAP_FOUND) {
        const char *arg;
        size_t wl;
        int act = cleanup_parse_action(strbuf_str(&value), &arg, &wl);
        switch (act) {
        case ACT_REJECT: {
            const char *t = arg[0] ? arg : "message content rejected";
            strbuf reason = STRBUF_INIT;
            strbuf_printf(&reason, "5.7.1 %s", t);
            log_action(s, "reject", cls, text, len, strbuf_str(&reason));
            strbuf_set(&value, "550 ");
            strbuf_append(&value, reason.s, reason.len);
            strbuf_release(&reason);
            cleanup_reject(s, strbuf_str(&value));
            break;
        }
        case ACT_WARN:
            log_action(s, "warning", cls, text, len, arg);
            break;
        case ACT_IGNORE:
            verdict = CHECK_DROP;
            break;
        case ACT_REPLACE:
        case ACT_PREPEND:
            if (!arg[0]) {
                msg_warn("%s: %s map: %.*s action without text", strbuf_str(&s->queue_id),
                         class_param[cls], (int)wl, strbuf_str(&value));
                break;
            }
            /* Header checks only take a header; body checks any line. */
            if (cls != CHECK_BODY && header_name_length(arg, strlen(arg)) == 0) {
                msg_warn("%s: %s map: bad %.*s header: \"%.100s\"", strbuf_str(&s->queue_id),
                         class_param[cls], (int)wl, strbuf_str(&value), arg);
                break;
            }
            log_action(s, act == ACT_REPLACE ? "replace" : "prepend", cls, text, len, arg);
            if (act == ACT_REPLACE) {
                strbuf_set(replace, arg);
                verdict = CHECK_REPLACED;
            } else {
                strbuf_set(prepend, arg);
            }
            break;
        case ACT_DUNNO:
            break;
        case ACT_HOLD:
        case ACT_DISCARD:
        case ACT_REDIRECT:
        case ACT_FILTER:
        case ACT_BCC:
            message_action(s, cls, act, text, len, arg);
            break;
        default:
            msg_warn("%s: unknown command in %s map: %.100s", strbuf_str(&s->queue_id),
                     class_param[cls], strbuf_str(&value));
            break;
        }
    }
    strbuf_release(&key);
    strbuf_release(&value);
    strbuf_release(&err);
    return verdict;
}
