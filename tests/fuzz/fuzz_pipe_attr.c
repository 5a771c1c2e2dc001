/* libFuzzer harness: pipe(8)'s master.cf attributes and argv= expansion
 * (pipe/pipe_attr). The input is "attr\0attr\0...\0\0rcpt\0rcpt...": the
 * attributes are the administrator's (errors are fine), the recipients
 * the sender's. Beyond "no crash, no hang" it checks the promise a sender
 * relies on: a template element "${recipient}" gives exactly one argv
 * element per recipient, equal to the address byte for byte. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mem.h"
#include "msg.h"
#include "pipe_attr.h"

#define MAX_ITEMS 32

static size_t split(const char *s, size_t len, char **items, size_t max)
{
    size_t n = 0, start = 0;
    for (size_t i = 0; i <= len && n < max; i++) {
        if (i == len || s[i] == 0) {
            items[n++] = xstrndup(s + start, i - start);
            start = i + 1;
        }
    }
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool initialized;
    if (!initialized) {
        msg_init("fuzz_pipe_attr", false);
        initialized = true;
    }
    const char *s = (const char *)data;
    const char *sep = NULL;
    for (size_t i = 0; i + 1 < size; i++)
        if (s[i] == 0 && s[i + 1] == 0) {
            sep = s + i;
            break;
        }
    size_t alen = sep ? (size_t)(sep - s) : size;
    char *args[MAX_ITEMS + 1] = {0};
    size_t nargs = split(s, alen, args, MAX_ITEMS);
    char *rc[MAX_ITEMS] = {0};
    size_t nrc = sep ? split(sep + 2, size - alen - 2, rc, MAX_ITEMS) : 0;
    struct pipe_rcpt rcpts[MAX_ITEMS];
    for (size_t i = 0; i < nrc; i++)
        rcpts[i] = (struct pipe_rcpt){rc[i], rc[i]};

    struct pipe_attr a;
    strbuf err = STRBUF_INIT;
    struct pipe_vars v = {.sender = "s@x", .nexthop = "h", .delimiter = "+-"};
    strlist out = STRLIST_INIT;
    if (pipe_attr_parse(args, &a, &err) == 0)
        (void)pipe_expand_argv(&a, &v, rcpts, nrc, &out, &err);
    pipe_attr_release(&a);
    strlist_release(&out);

    /* The fixed template: one element per recipient, unchanged. */
    char *fixed[] = {"user=x", "argv=/bin/cmd", "--", "${recipient}", NULL};
    strbuf_reset(&err);
    if (pipe_attr_parse(fixed, &a, &err) != 0)
        abort();
    if (pipe_expand_argv(&a, &v, rcpts, nrc, &out, &err) != 0 || out.n != 2 + nrc)
        abort();
    for (size_t i = 0; i < nrc; i++)
        if (strcmp(out.v[2 + i], rc[i]) != 0)
            abort();
    pipe_attr_release(&a);
    strlist_release(&out);
    strbuf_release(&err);
    for (size_t i = 0; i < nargs; i++)
        free(args[i]);
    for (size_t i = 0; i < nrc; i++)
        free(rc[i]);
    return 0;
}
