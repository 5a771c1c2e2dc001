/* libFuzzer harness: delivery-time attribute expansion (local(8)'s
 * forward_path and command_execution_directory). The input is
 * "template\0value": the template is the administrator's (errors are
 * fine), the value the sender's extension. Beyond "no crash, no hang",
 * it checks the promises a sender relies on never breaking: with
 * Postfix's default forward path element, the expansion is one path under
 * the home directory whose file name holds only filter characters. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "fsutil.h"
#include "mem.h"
#include "msg.h"

#define FILTER "1234567890!@%-_=+:,./abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
#define PREFIX "/home/u/.forward+"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool initialized;
    if (!initialized) {
        msg_init("fuzz_expand_attrs", false);
        strbuf err = STRBUF_INIT;
        if (config_load_text("fuzz", "recipient_delimiter = +\n", 24, &err) < 0)
            abort();
        strbuf_release(&err);
        initialized = true;
    }
    const uint8_t *nul = memchr(data, '\0', size);
    if (!nul || memchr(nul + 1, '\0', size - (size_t)(nul + 1 - data)))
        return 0;
    char *tpl = xstrndup((const char *)data, (size_t)(nul - data));
    char *value = xstrndup((const char *)nul + 1, size - (size_t)(nul + 1 - data));
    /* local(8) removes '/' from address values before expansion. */
    for (char *p = value; *p; p++)
        if (*p == '/')
            *p = '_';
    const struct config_attr attrs[] = {
        {"home", "/home/u"}, {"user", "u"}, {"extension", value}, {"recipient_delimiter", "+"}};
    const struct config_attrs set = {attrs, 4, FILTER};
    strbuf out = STRBUF_INIT, err = STRBUF_INIT;
    bool undefined;
    (void)config_expand_attrs(tpl, &set, &out, &undefined, &err);

    strbuf_reset(&err);
    if (config_expand_attrs("$home/.forward${recipient_delimiter}${extension}", &set, &out,
                            &undefined, &err) != 0)
        abort();
    const char *name = strbuf_str(&out) + strlen(PREFIX);
    if (strncmp(strbuf_str(&out), PREFIX, strlen(PREFIX)) != 0 || strchr(name, '/') ||
        strspn(name, FILTER) != strlen(name) || strlen(name) != strlen(value) ||
        !path_is_plain_absolute(strbuf_str(&out)))
        abort();
    strbuf_release(&out);
    strbuf_release(&err);
    free(tpl);
    free(value);
    return 0;
}
