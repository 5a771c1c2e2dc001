/* libFuzzer harness: CIDR patterns and addresses, and whole cidr: tables.
 * Input: the table text. Every line is also fed to the pattern and address
 * parsers on its own, and the table is queried with fixed addresses. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cidr_match.h"
#include "maps.h"
#include "mem.h"

static char path[64];

static void remove_table(void)
{
    (void)unlink(path);
}

static void parse_lines(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data, *end = p + size;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
        if (len < 200) {
            char *line = xstrndup(p, len);
            struct cidr_net net;
            struct cidr_addr addr;
            const char *why;
            int a = cidr_addr_parse(line, &addr);
            if (cidr_net_parse(line, &net, &why) == 0 && a == 0)
                (void)cidr_match(&net, &addr);
            (void)cidr_looks_like_net(line);
            free(line);
        }
        p += len + 1;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    parse_lines(data, size);
    if (!path[0]) {
        snprintf(path, sizeof(path), "/tmp/fuzz_cidr.%ld", (long)getpid());
        atexit(remove_table);
    }
    FILE *fp = fopen(path, "w");
    if (!fp)
        return 0;
    fwrite(data, 1, size, fp);
    if (fclose(fp) != 0)
        return 0;
    char spec[80];
    snprintf(spec, sizeof(spec), "cidr:%s", path);
    strbuf err = STRBUF_INIT, value = STRBUF_INIT;
    map *m = map_open(spec, 0, &err);
    if (m) {
        static const char *keys[] = {
            "127.0.0.1",      "::1", "::ffff:10.1.2.3", "192.168.1.1", "2001:db8::1",
            "not an address", ""};
        for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
            (void)map_lookup(m, keys[i], &value, &err);
        map_free(&m);
    }
    strbuf_release(&err);
    strbuf_release(&value);
    return 0;
}
