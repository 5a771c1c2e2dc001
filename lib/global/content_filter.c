/* content_filter - the receivers' content_filter (see the header). */
#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "content_filter.h"
#include "mem.h"
#include "msg.h"

const char *content_filter_value(void)
{
    static bool checked;
    static const char *value;
    if (!checked) {
        const char *v = config_get("content_filter");
        if (*v && !cleanup_action_value_ok(CLEANUP_ACT_FILTER, v)) {
            const char *o = config_origin("content_filter");
            msg_fatal("%s%scontent_filter = %s: need transport:destination (a master.cf "
                      "service name, a colon, and an optional next hop)",
                      o ? o : "", o ? ": " : "", v);
        }
        value = *v ? xstrdup(v) : NULL; /* config_get's string lives until a reload */
        checked = true;
    }
    return value;
}

int content_filter_send(cleanup_client *cc)
{
    const char *v = content_filter_value();
    return v ? cleanup_client_action(cc, CLEANUP_ACT_FILTER, v) : 0;
}
