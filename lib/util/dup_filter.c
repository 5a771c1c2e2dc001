#include "dup_filter.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mem.h"

struct dup_entry {
    unsigned char *key; /* NULL: empty slot */
    size_t len;
    uint64_t hash;
};

struct dup_filter {
    long limit;
    bool fold;
    size_t count;
    size_t cap; /* power of two, kept at most half full */
    struct dup_entry *slots;
};

static unsigned char fold_byte(const dup_filter *f, unsigned char c)
{
    return f->fold && c >= 'A' && c <= 'Z' ? (unsigned char)(c - 'A' + 'a') : c;
}

/* FNV-1a over the folded bytes. */
static uint64_t hash_key(const dup_filter *f, const unsigned char *k, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < len; i++) {
        h ^= fold_byte(f, k[i]);
        h *= 0x100000001b3ULL;
    }
    return h;
}

/* Stored keys are already folded; `k` is not. */
static bool key_equal(const dup_filter *f, const struct dup_entry *e, const unsigned char *k,
                      size_t len)
{
    if (e->len != len)
        return false;
    for (size_t i = 0; i < len; i++)
        if (e->key[i] != fold_byte(f, k[i]))
            return false;
    return true;
}

dup_filter *dup_filter_create(long limit, bool fold_case)
{
    dup_filter *f = xcalloc(1, sizeof(*f));
    f->limit = limit;
    f->fold = fold_case;
    f->cap = 16;
    f->slots = xcalloc(f->cap, sizeof(*f->slots));
    return f;
}

static void place(struct dup_entry *slots, size_t cap, struct dup_entry e)
{
    size_t i = (size_t)e.hash & (cap - 1);
    while (slots[i].key)
        i = (i + 1) & (cap - 1);
    slots[i] = e;
}

static void grow(dup_filter *f)
{
    size_t cap = f->cap * 2;
    struct dup_entry *slots = xcalloc(cap, sizeof(*slots));
    for (size_t i = 0; i < f->cap; i++)
        if (f->slots[i].key)
            place(slots, cap, f->slots[i]);
    free(f->slots);
    f->slots = slots;
    f->cap = cap;
}

bool dup_filter_seen(dup_filter *f, const void *key, size_t len)
{
    const unsigned char *k = key;
    uint64_t h = hash_key(f, k, len);
    for (size_t i = (size_t)h & (f->cap - 1); f->slots[i].key; i = (i + 1) & (f->cap - 1))
        if (f->slots[i].hash == h && key_equal(f, &f->slots[i], k, len))
            return true;
    if (f->limit > 0 && f->count >= (size_t)f->limit)
        return false;
    if ((f->count + 1) * 2 > f->cap)
        grow(f);
    struct dup_entry e = {.key = xmalloc(len + 1), .len = len, .hash = h};
    for (size_t i = 0; i < len; i++)
        e.key[i] = fold_byte(f, k[i]);
    e.key[len] = '\0';
    place(f->slots, f->cap, e);
    f->count++;
    return false;
}

size_t dup_filter_count(const dup_filter *f)
{
    return f->count;
}

void dup_filter_free(dup_filter **fp)
{
    dup_filter *f = *fp;
    if (!f)
        return;
    for (size_t i = 0; i < f->cap; i++)
        free(f->slots[i].key);
    free(f->slots);
    free(f);
    *fp = NULL;
}
