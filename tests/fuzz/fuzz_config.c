/* libFuzzer harness: main.cf parsing and expansion. Loads the input as
 * main.cf text, then expands every parameter it sets (errors are fine; a
 * crash, hang or sanitizer report is not), and the input once more as a
 * free-standing template (postconf -x / config_expand). Inputs that set
 * inet_interfaces are skipped: host names there are resolved with
 * getaddrinfo (as Postfix does), which is slow and not the parser. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "config.h"
#include "mem.h"
#include "msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool initialized;
    if (!initialized) {
        msg_init("fuzz_config", false); /* warnings go to syslog, not the terminal */
        initialized = true;
    }
    if (memmem(data, size, "inet_interfaces", 15))
        return 0;
    strbuf err = STRBUF_INIT, out = STRBUF_INIT;
    if (config_load_text("fuzz", (const char *)data, size, &err) == 0) {
        const char **names;
        size_t n = config_set_names(&names);
        for (size_t i = 0; i < n; i++) {
            const char *value;
            strbuf_reset(&err);
            (void)config_lookup(names[i], &value, &err);
        }
        if (!memchr(data, '\0', size)) {
            char *text = xstrndup((const char *)data, size);
            strbuf_reset(&err);
            (void)config_expand(text, &out, &err);
            free(text);
        }
        (void)config_warn_unused();
    }
    strbuf_release(&err);
    strbuf_release(&out);
    return 0;
}
