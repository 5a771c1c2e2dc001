/* libFuzzer harness: a policy server's reply (policy_client's reply parser,
 * which sees network bytes), the action it yields as access(5) evaluates it,
 * and the service spec parser. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "access_table.h"
#include "policy_client.h"
#include "strbuf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    strbuf action = STRBUF_INIT, err = STRBUF_INIT, spec = STRBUF_INIT;
    if (policy_reply_parse((const char *)data, size, 512, &action, &err) == 0) {
        /* A parsed action is one line of text: no NUL, no LF, bounded. */
        if (strlen(strbuf_str(&action)) != action.len ||
            memchr(action.s ? action.s : "", '\n', action.len) || action.len > 512)
            __builtin_trap();
        struct access_action a = ACCESS_ACTION_INIT;
        access_action_parse(&a, strbuf_str(&action));
        if (strchr(strbuf_str(&a.text), '\n') || a.text.len > ACCESS_TEXT_MAX + 4 * 4)
            if (a.kind != ACCESS_RESTRICTIONS)
                __builtin_trap();
        access_action_release(&a);
    } else if (err.len == 0) {
        __builtin_trap(); /* a refusal always says why */
    }
    /* The same bytes as a check_policy_service argument. */
    strbuf_append(&spec, data, size);
    static const struct policy_settings defaults = {.timeout_s = 100,
                                                    .max_idle_s = 300,
                                                    .max_ttl_s = 1000,
                                                    .retry_delay_s = 1,
                                                    .try_limit = 2,
                                                    .default_action = "DUNNO",
                                                    .policy_context = "",
                                                    .line_limit = 512};
    struct policy_settings s;
    if (memchr(data, 0, size) == NULL &&
        policy_settings_parse(strbuf_str(&spec), &defaults, &s, &err) == 0) {
        if (!s.endpoint || !*s.endpoint || s.try_limit < 1 || s.timeout_s < 1)
            __builtin_trap();
        policy_settings_release(&s);
    }
    strbuf_release(&action);
    strbuf_release(&err);
    strbuf_release(&spec);
    return 0;
}
