#include "cidr_match.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <string.h>
#include <sys/socket.h>

#include "mem.h"

static const unsigned char v4mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

int cidr_addr_parse(const char *text, struct cidr_addr *out)
{
    size_t len = strlen(text);
    memset(out, 0, sizeof(*out));
    if (len == 0 || len > 64)
        return -1;
    if (text[0] == '[') {
        if (len < 3 || text[len - 1] != ']')
            return -1;
        char tmp[65];
        memcpy(tmp, text + 1, len - 2);
        tmp[len - 2] = '\0';
        if (inet_pton(AF_INET6, tmp, out->b) != 1)
            return -1;
        out->family = AF_INET6;
        return 0;
    }
    if (strchr(text, ':')) {
        if (inet_pton(AF_INET6, text, out->b) != 1)
            return -1;
        out->family = AF_INET6;
        return 0;
    }
    if (inet_pton(AF_INET, text, out->b) != 1)
        return -1;
    out->family = AF_INET;
    return 0;
}

int cidr_net_parse(const char *text, struct cidr_net *out, const char **why)
{
    const char *slash = strchr(text, '/');
    size_t alen = slash ? (size_t)(slash - text) : strlen(text);
    memset(out, 0, sizeof(*out));
    if (alen == 0 || alen > 64) {
        *why = "bad address";
        return -1;
    }
    char tmp[65];
    memcpy(tmp, text, alen);
    tmp[alen] = '\0';
    if (cidr_addr_parse(tmp, &out->addr) != 0) {
        *why = "bad address";
        return -1;
    }
    unsigned max = out->addr.family == AF_INET ? 32 : 128;
    if (!slash) {
        out->prefix = max;
        return 0;
    }
    const char *p = slash + 1;
    if (*p == '\0') {
        *why = "missing prefix length after '/'";
        return -1;
    }
    unsigned prefix = 0;
    for (; *p; p++) {
        if (!isdigit((unsigned char)*p) || prefix > max) {
            *why = "bad prefix length";
            return -1;
        }
        prefix = prefix * 10 + (unsigned)(*p - '0');
    }
    if (prefix > max) {
        *why = "prefix length out of range";
        return -1;
    }
    out->prefix = prefix;
    unsigned nbytes = max / 8;
    for (unsigned bit = prefix; bit < nbytes * 8; bit++) {
        if (out->addr.b[bit / 8] & (0x80u >> (bit % 8))) {
            *why = "non-zero host bits after the prefix";
            return -1;
        }
    }
    return 0;
}

static bool same_net(const struct cidr_net *net, const unsigned char *b)
{
    unsigned full = net->prefix / 8, rest = net->prefix % 8;
    if (memcmp(net->addr.b, b, full) != 0)
        return false;
    if (rest == 0)
        return true;
    unsigned char mask = (unsigned char)(0xffu << (8 - rest));
    return (net->addr.b[full] & mask) == (b[full] & mask);
}

bool cidr_match(const struct cidr_net *net, const struct cidr_addr *addr)
{
    if (net->addr.family == addr->family)
        return same_net(net, addr->b);
    if (net->addr.family == AF_INET && addr->family == AF_INET6) {
        /* ::ffff:a.b.c.d against an IPv4 network */
        if (memcmp(addr->b, v4mapped_prefix, 12) != 0)
            return false;
        return same_net(net, addr->b + 12);
    }
    if (net->addr.family == AF_INET6 && addr->family == AF_INET) {
        unsigned char mapped[16];
        memcpy(mapped, v4mapped_prefix, 12);
        memcpy(mapped + 12, addr->b, 4);
        return same_net(net, mapped);
    }
    return false;
}

bool cidr_looks_like_net(const char *text)
{
    if (text[0] == '[')
        return true;
    bool digit = false;
    for (const char *p = text; *p; p++) {
        if (isdigit((unsigned char)*p))
            digit = true;
        else if (*p != '.' && *p != '/')
            return false;
    }
    return digit;
}
