/* smtpd_limit - per-client connection limits shared by all smtpd processes:
 * smtpd_client_connection_count_limit and smtpd_client_connection_rate_limit
 * (per anvil_rate_time_unit), with smtpd_client_event_limit_exceptions
 * exempt, as Postfix's smtpd does through anvil. The shared state is
 * smtpd/smtpd_client_registry, a file under the queue directory's pid/ (root-owned,
 * so created and opened while smtpd is still root and outside any chroot).
 *
 * Failures of the registry never refuse mail: the limits are then not
 * enforced and a warning says so (Postfix does the same when anvil is
 * unreachable).
 */
#include <stdbool.h>
#include <time.h>

#include "smtpd_client_registry.h"
#include "config.h"
#include "match_list.h"
#include "msg.h"
#include "smtpd.h"

/* Room for more simultaneous smtpd processes than a lab runs (several
 * services of default_process_limit each); past it a client is counted
 * but not registered. */
#define REGISTRY_CONN_SLOTS 4096
#define REGISTRY_RATE_SLOTS 4096
#define REGISTRY_PATH "pid/client_registry"

static client_registry *registry;
static match_list *exceptions;
static long count_limit, rate_limit;
static long long rate_window;

void smtpd_limit_pre_init(void)
{
    count_limit = (long)config_get_int("smtpd_client_connection_count_limit");
    rate_limit = (long)config_get_int("smtpd_client_connection_rate_limit");
    if (count_limit <= 0 && rate_limit <= 0)
        return;
    strbuf path = STRBUF_INIT, err = STRBUF_INIT;
    strbuf_printf(&path, "%s/%s", config_get("queue_directory"), REGISTRY_PATH);
    registry = client_registry_open(path.s, REGISTRY_CONN_SLOTS, REGISTRY_RATE_SLOTS, &err);
    if (!registry)
        msg_warn("%s -- client connection limits are not enforced", strbuf_str(&err));
    strbuf_release(&path);
    strbuf_release(&err);
}

void smtpd_limit_init(void)
{
    if (!registry)
        return;
    rate_window = config_get_time("anvil_rate_time_unit");
    if (rate_window <= 0)
        rate_window = 60;
    strbuf err = STRBUF_INIT;
    exceptions = match_list_compile("smtpd_client_event_limit_exceptions",
                                    config_get("smtpd_client_event_limit_exceptions"),
                                    MATCH_LIST_PARENT | MATCH_LIST_SURROGATE, &err);
    if (!exceptions)
        msg_fatal("%s", strbuf_str(&err));
    strbuf_release(&err);
}

bool smtpd_limit_connect(struct smtpd_state *s, const char *service)
{
    /* stdin (-S) and local sockets are not network clients. */
    if (!registry || s->remote_port == 0)
        return true;
    strbuf err = STRBUF_INIT;
    int m = match_list_client(exceptions, strbuf_str(&s->name), strbuf_str(&s->addr), &err);
    if (m < 0)
        msg_warn("smtpd_client_event_limit_exceptions: %s", strbuf_str(&err));
    if (m != 0) {
        strbuf_release(&err);
        return true;
    }
    struct client_registry_result r;
    bool ok = true;
    if (client_registry_connect(registry, service, strbuf_str(&s->addr), count_limit > 0,
                                rate_limit > 0 ? rate_window : 0, time(NULL), &r, &err) < 0) {
        msg_warn("%s -- client connection limits are not enforced for %s", strbuf_str(&err),
                 strbuf_str(&s->namaddr));
    } else if (count_limit > 0 && r.count > count_limit) {
        msg_warn("Connection concurrency limit exceeded: %ld from %s for service %s", r.count,
                 strbuf_str(&s->namaddr), service);
        ok = false;
    } else if (rate_limit > 0 && r.rate > rate_limit) {
        msg_warn("Connection rate limit exceeded: %ld from %s for service %s", r.rate,
                 strbuf_str(&s->namaddr), service);
        ok = false;
    } else if (count_limit > 0 && !r.registered) {
        msg_warn("client registry full: %s not counted toward "
                 "smtpd_client_connection_count_limit",
                 strbuf_str(&s->namaddr));
    }
    if (!ok)
        smtpd_reply(s, "421 4.7.0 %s Error: too many connections from %s", smtpd_params.myhostname,
                    strbuf_str(&s->addr));
    strbuf_release(&err);
    return ok;
}

void smtpd_limit_disconnect(void)
{
    client_registry_disconnect(registry);
}
