/* inet_config - parsing inet_protocols and inet_interfaces (see inet_config.h). */
#include "inet_config.h"

#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

static const char SEPARATORS[] = ", \t\r\n";

int inet_protocols_parse(const char *value, bool probe_all, struct inet_protocols *out,
                         strbuf *err)
{
    strlist items = STRLIST_INIT;
    const char *why = NULL;
    int rc = 0;
    out->v4 = out->v6 = false;
    if (strlist_split(&items, value, SEPARATORS, &why) < 0) {
        strbuf_printf(err, "inet_protocols = %s: %s", value, why);
        rc = -1;
    }
    for (size_t i = 0; i < items.n; i++) {
        if (strcasecmp(items.v[i], "all") == 0) {
            out->v4 = true;
            if (!probe_all) {
                out->v6 = true;
            } else {
                /* "all" means what this host supports. */
                int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
                if (fd >= 0) {
                    out->v6 = true;
                    close(fd);
                }
            }
        } else if (strcasecmp(items.v[i], "ipv4") == 0) {
            out->v4 = true;
        } else if (strcasecmp(items.v[i], "ipv6") == 0) {
            out->v6 = true;
        } else if (rc == 0) {
            strbuf_printf(err,
                          "inet_protocols: unknown protocol \"%s\" (expected all, ipv4 or ipv6)",
                          items.v[i]);
            rc = -1;
        }
    }
    strlist_release(&items);
    if (rc == 0 && !out->v4 && !out->v6) {
        strbuf_puts(err, "inet_protocols: no protocol enabled");
        rc = -1;
    }
    return rc;
}

int inet_interfaces_parse(const char *value, struct inet_interfaces *out, strbuf *err)
{
    strlist items = STRLIST_INIT;
    const char *why = NULL;
    int rc = 0;
    inet_interfaces_release(out);
    if (strlist_split(&items, value, SEPARATORS, &why) < 0) {
        strbuf_printf(err, "inet_interfaces = %s: %s", value, why);
        rc = -1;
    }
    for (size_t i = 0; i < items.n; i++) {
        if (strcasecmp(items.v[i], "all") == 0)
            out->all = true;
        else if (strcasecmp(items.v[i], "loopback-only") == 0)
            out->loopback_only = true;
        else
            strlist_push(&out->hosts, items.v[i]);
    }
    strlist_release(&items);
    if (rc == 0 && !out->all && !out->loopback_only && out->hosts.n == 0) {
        strbuf_printf(err, "inet_interfaces = %s: no address to listen on", value);
        rc = -1;
    }
    return rc;
}

void inet_interfaces_release(struct inet_interfaces *ifs)
{
    strlist_release(&ifs->hosts);
    ifs->all = ifs->loopback_only = false;
}
