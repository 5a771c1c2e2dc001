/* smtpd_client_registry - see smtpd_client_registry.h for the contract and the design. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "smtpd_client_registry.h"
#include "mem.h"
#include "msg.h"

#define HDR_SIZE 64
#define REC_SIZE 32
#define MAGIC "MTACREG1"

struct hdr {
    char magic[8];
    uint32_t nconn;
    uint32_t nrate;
    char pad[HDR_SIZE - 16];
};

struct conn_rec {
    uint64_t key;
    uint32_t pid;
    uint32_t in_use;
    int64_t since;
    uint64_t pad;
};

struct rate_rec {
    uint64_t key;
    int64_t start;
    uint32_t count;
    uint32_t pad1;
    uint64_t pad2;
};

_Static_assert(sizeof(struct hdr) == HDR_SIZE, "header layout");
_Static_assert(sizeof(struct conn_rec) == REC_SIZE, "slot layout");
_Static_assert(sizeof(struct rate_rec) == REC_SIZE, "rate entry layout");

struct client_registry {
    int fd;
    size_t nconn, nrate;
    long slot; /* held connection slot, -1 for none */
    void *buf; /* room for the larger of the two tables */
};

static off_t conn_off(size_t i)
{
    return (off_t)(HDR_SIZE + i * REC_SIZE);
}

static off_t rate_off(const client_registry *r, size_t i)
{
    return (off_t)(HDR_SIZE + (r->nconn + i) * REC_SIZE);
}

/* OFD lock operation on [start, start+len); cmd F_OFD_SETLK/SETLKW/GETLK. */
static int ofd_lock(int fd, int cmd, short type, off_t start, off_t len, struct flock *out)
{
    struct flock fl;
    memset(&fl, 0, sizeof(fl));
    fl.l_type = type;
    fl.l_whence = SEEK_SET;
    fl.l_start = start;
    fl.l_len = len;
    fl.l_pid = 0; /* required for OFD locks */
    int rc;
    do {
        rc = fcntl(fd, cmd, &fl);
    } while (rc < 0 && errno == EINTR);
    if (out)
        *out = fl;
    return rc;
}

static int table_lock(client_registry *r, strbuf *err)
{
    if (ofd_lock(r->fd, F_OFD_SETLKW, F_WRLCK, 0, HDR_SIZE, NULL) < 0) {
        strbuf_reset(err);
        strbuf_printf(err, "lock client registry: %m");
        return -1;
    }
    return 0;
}

static void table_unlock(client_registry *r)
{
    /* Unlocking a range we hold cannot fail short of a bad descriptor,
     * and closing the descriptor would release it anyway. */
    (void)ofd_lock(r->fd, F_OFD_SETLK, F_UNLCK, 0, HDR_SIZE, NULL);
}

static int read_all(int fd, void *buf, size_t len, off_t off, strbuf *err)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = pread(fd, (char *)buf + done, len - done, off + (off_t)done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            strbuf_reset(err);
            if (n == 0)
                strbuf_printf(err, "read client registry: unexpected end of file");
            else
                strbuf_printf(err, "read client registry: %m");
            return -1;
        }
        done += (size_t)n;
    }
    return 0;
}

static int write_all(int fd, const void *buf, size_t len, off_t off, strbuf *err)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = pwrite(fd, (const char *)buf + done, len - done, off + (off_t)done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            strbuf_reset(err);
            strbuf_printf(err, "write client registry: %m");
            return -1;
        }
        done += (size_t)n;
    }
    return 0;
}

static uint64_t key_of(const char *service, const char *addr)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    const unsigned char *parts[2] = {(const unsigned char *)service, (const unsigned char *)addr};
    for (int p = 0; p < 2; p++) {
        for (const unsigned char *c = parts[p]; *c; c++) {
            h ^= *c;
            h *= 0x100000001b3ULL;
        }
        /* The NUL ending each part, so "a" "bc" and "ab" "c" differ. */
        h *= 0x100000001b3ULL;
    }
    /* 0 marks an empty slot. */
    return h ? h : 1;
}

/* Under the table lock: use the file's geometry, or lay out a new one. */
static int setup_geometry(client_registry *r, size_t nconn, size_t nrate, strbuf *err)
{
    struct stat st;
    if (fstat(r->fd, &st) < 0) {
        strbuf_reset(err);
        strbuf_printf(err, "fstat client registry: %m");
        return -1;
    }
    struct hdr h;
    if (st.st_size >= HDR_SIZE && read_all(r->fd, &h, sizeof(h), 0, err) == 0 &&
        memcmp(h.magic, MAGIC, sizeof(h.magic)) == 0 && h.nconn >= 1 &&
        h.nconn <= CLIENT_REGISTRY_MAX_SLOTS && h.nrate >= 1 &&
        h.nrate <= CLIENT_REGISTRY_MAX_SLOTS &&
        st.st_size == (off_t)(HDR_SIZE + ((size_t)h.nconn + h.nrate) * REC_SIZE)) {
        r->nconn = h.nconn;
        r->nrate = h.nrate;
        return 0;
    }
    /* Empty, foreign or damaged: nobody can hold a slot in it that we would
     * disturb, because any holder would have found a valid header. */
    memset(&h, 0, sizeof(h));
    memcpy(h.magic, MAGIC, sizeof(h.magic));
    h.nconn = (uint32_t)nconn;
    h.nrate = (uint32_t)nrate;
    r->nconn = nconn;
    r->nrate = nrate;
    if (ftruncate(r->fd, 0) < 0 ||
        ftruncate(r->fd, (off_t)(HDR_SIZE + (nconn + nrate) * REC_SIZE)) < 0) {
        strbuf_reset(err);
        strbuf_printf(err, "truncate client registry: %m");
        return -1;
    }
    return write_all(r->fd, &h, sizeof(h), 0, err);
}

client_registry *client_registry_open(const char *path, size_t nconn, size_t nrate, strbuf *err)
{
    if (nconn < 1 || nconn > CLIENT_REGISTRY_MAX_SLOTS || nrate < 1 ||
        nrate > CLIENT_REGISTRY_MAX_SLOTS) {
        strbuf_reset(err);
        strbuf_printf(err, "client registry %s: bad geometry %zu/%zu", path, nconn, nrate);
        return NULL;
    }
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        strbuf_reset(err);
        strbuf_printf(err, "open client registry %s: %m", path);
        return NULL;
    }
    client_registry *r = xcalloc(1, sizeof(*r));
    r->fd = fd;
    r->slot = -1;
    if (table_lock(r, err) < 0)
        goto fail;
    int rc = setup_geometry(r, nconn, nrate, err);
    table_unlock(r);
    if (rc < 0)
        goto fail;
    r->buf = xcalloc(r->nconn > r->nrate ? r->nconn : r->nrate, REC_SIZE);
    return r;
fail:
    (void)close(fd);
    free(r);
    return NULL;
}

/* Is slot i held by another open file description? 1 yes, 0 no, -1 error. */
static int slot_held(client_registry *r, size_t i, strbuf *err)
{
    struct flock fl;
    if (ofd_lock(r->fd, F_OFD_GETLK, F_WRLCK, conn_off(i), REC_SIZE, &fl) < 0) {
        strbuf_reset(err);
        strbuf_printf(err, "test client registry lock: %m");
        return -1;
    }
    return fl.l_type != F_UNLCK;
}

/* Under the table lock: live slots with `key` (ours not included). */
static long count_live(client_registry *r, uint64_t key, strbuf *err)
{
    if (read_all(r->fd, r->buf, r->nconn * REC_SIZE, conn_off(0), err) < 0)
        return -1;
    const struct conn_rec *recs = r->buf;
    long n = 0;
    for (size_t i = 0; i < r->nconn; i++) {
        if (!recs[i].in_use || recs[i].key != key || (long)i == r->slot)
            continue;
        int held = slot_held(r, i, err);
        if (held < 0)
            return -1;
        n += held;
    }
    return n;
}

/* Under the table lock, after count_live filled r->buf: take a free slot,
 * trying never-used or released ones before stale ones. */
static int take_slot(client_registry *r, uint64_t key, time_t now, strbuf *err)
{
    const struct conn_rec *recs = r->buf;
    for (int pass = 0; pass < 2 && r->slot < 0; pass++) {
        for (size_t i = 0; i < r->nconn; i++) {
            if ((pass == 0) != !recs[i].in_use)
                continue;
            if (ofd_lock(r->fd, F_OFD_SETLK, F_WRLCK, conn_off(i), REC_SIZE, NULL) == 0) {
                r->slot = (long)i;
                break;
            }
            if (errno != EAGAIN && errno != EACCES) {
                strbuf_reset(err);
                strbuf_printf(err, "lock client registry slot: %m");
                return -1;
            }
        }
    }
    if (r->slot < 0)
        return 0;
    struct conn_rec rec;
    memset(&rec, 0, sizeof(rec));
    rec.key = key;
    rec.pid = (uint32_t)msg_pid();
    rec.in_use = 1;
    rec.since = (int64_t)now;
    if (write_all(r->fd, &rec, sizeof(rec), conn_off((size_t)r->slot), err) < 0) {
        (void)ofd_lock(r->fd, F_OFD_SETLK, F_UNLCK, conn_off((size_t)r->slot), REC_SIZE, NULL);
        r->slot = -1;
        return -1;
    }
    return 1;
}

/* Under the table lock: count this connection into its rate window. */
static long rate_hit(client_registry *r, uint64_t key, long long window, time_t now, strbuf *err)
{
    if (read_all(r->fd, r->buf, r->nrate * REC_SIZE, rate_off(r, 0), err) < 0)
        return -1;
    struct rate_rec *recs = r->buf;
    size_t pick = r->nrate, oldest = 0;
    for (size_t i = 0; i < r->nrate; i++) {
        if (recs[i].key == key) {
            pick = i;
            break;
        }
        if (recs[i].start < recs[oldest].start)
            oldest = i;
    }
    struct rate_rec rec;
    if (pick < r->nrate) {
        rec = recs[pick];
        /* A window from the future means the clock went back: start over. */
        if (rec.start > (int64_t)now || (int64_t)now - rec.start >= window) {
            rec.start = (int64_t)now;
            rec.count = 0;
        }
    } else {
        /* Empty entries have start 0, so the oldest is empty or expired
         * when there is one; otherwise the least recent client is forgotten. */
        pick = oldest;
        memset(&rec, 0, sizeof(rec));
        rec.key = key;
        rec.start = (int64_t)now;
    }
    if (rec.count < UINT32_MAX)
        rec.count++;
    if (write_all(r->fd, &rec, sizeof(rec), rate_off(r, pick), err) < 0)
        return -1;
    return (long)rec.count;
}

int client_registry_connect(client_registry *r, const char *service, const char *addr,
                            bool want_count, long long window, time_t now,
                            struct client_registry_result *out, strbuf *err)
{
    memset(out, 0, sizeof(*out));
    client_registry_disconnect(r);
    if (!want_count && window <= 0)
        return 0;
    uint64_t key = key_of(service, addr);
    if (table_lock(r, err) < 0)
        return -1;
    int rc = 0;
    if (want_count) {
        long live = count_live(r, key, err);
        int took = live < 0 ? -1 : take_slot(r, key, now, err);
        if (took < 0) {
            rc = -1;
            goto out;
        }
        out->count = live + 1;
        out->registered = took > 0;
    }
    if (window > 0) {
        long rate = rate_hit(r, key, window, now, err);
        if (rate < 0) {
            client_registry_disconnect(r);
            rc = -1;
            goto out;
        }
        out->rate = rate;
    }
out:
    table_unlock(r);
    if (rc < 0)
        memset(out, 0, sizeof(*out));
    return rc;
}

void client_registry_disconnect(client_registry *r)
{
    if (!r || r->slot < 0)
        return;
    /* Clear before unlocking, so the next owner never inherits our key;
     * if this write fails, the unlock alone still frees the slot. */
    struct conn_rec rec;
    memset(&rec, 0, sizeof(rec));
    strbuf err = STRBUF_INIT;
    (void)write_all(r->fd, &rec, sizeof(rec), conn_off((size_t)r->slot), &err);
    strbuf_release(&err);
    (void)ofd_lock(r->fd, F_OFD_SETLK, F_UNLCK, conn_off((size_t)r->slot), REC_SIZE, NULL);
    r->slot = -1;
}

long client_registry_count(client_registry *r, const char *service, const char *addr, strbuf *err)
{
    if (table_lock(r, err) < 0)
        return -1;
    uint64_t key = key_of(service, addr);
    long live = count_live(r, key, err);
    table_unlock(r);
    if (live < 0)
        return -1;
    /* count_live skips our own slot: add it back when it matches. */
    if (r->slot >= 0) {
        const struct conn_rec *recs = r->buf;
        if (recs[r->slot].in_use && recs[r->slot].key == key)
            live++;
    }
    return live;
}

void client_registry_close(client_registry **rp)
{
    client_registry *r = *rp;
    if (!r)
        return;
    client_registry_disconnect(r);
    (void)close(r->fd);
    free(r->buf);
    XFREE(*rp);
}
