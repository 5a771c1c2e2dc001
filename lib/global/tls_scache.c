/* tls_scache - TLS session cache table; see tls_scache.h. */
#include "tls_scache.h"

#include <db.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "mem.h"
#include "msg.h"
#include "tls.h"

struct tls_scache {
    DB *db;
    char *spec;
    long timeout_s;
};

/* Stored value: 8 bytes big-endian expiry time, then the DER. */
#define STAMP_LEN 8

static void db_errcall(const DB_ENV *env, const char *prefix, const char *text)
{
    msg_debug("berkeley db: %s", text);
}

tls_scache *tls_scache_open(const char *spec, long timeout_s, uid_t uid, gid_t gid, strbuf *err)
{
    const char *colon = strchr(spec, ':');
    size_t tl = colon ? (size_t)(colon - spec) : 0;
    DBTYPE type;
    if (tl == 5 && strncmp(spec, "btree", 5) == 0)
        type = DB_BTREE;
    else if (tl == 4 && strncmp(spec, "hash", 4) == 0)
        type = DB_HASH;
    else {
        strbuf_printf(err, "%s: unsupported session cache type (use btree or hash)", spec);
        return NULL;
    }
    if (colon[1] != '/') {
        strbuf_printf(err, "%s: the cache file must be an absolute path", spec);
        return NULL;
    }
    strbuf path = STRBUF_INIT;
    strbuf_printf(&path, "%s.db", colon + 1);
    DB *db = NULL;
    int ret = db_create(&db, NULL, 0);
    if (ret != 0) {
        strbuf_printf(err, "db_create: %s", db_strerror(ret));
        strbuf_release(&path);
        return NULL;
    }
    db->set_errcall(db, db_errcall);
    /* Remove, then create exclusively: no old sessions, and no following
     * a link someone put there. */
    if (unlink(path.s) < 0 && errno != ENOENT) {
        strbuf_printf(err, "remove %s: %m", path.s);
        goto fail;
    }
    if ((ret = db->open(db, NULL, path.s, NULL, type, DB_CREATE | DB_EXCL, 0600)) != 0) {
        strbuf_printf(err, "create %s: %s", path.s, db_strerror(ret));
        goto fail;
    }
    if (geteuid() == 0 && chown(path.s, uid, gid) < 0) {
        strbuf_printf(err, "chown %s: %m", path.s);
        goto fail;
    }
    tls_scache *c = xcalloc(1, sizeof(*c));
    c->db = db;
    c->spec = xstrdup(spec);
    c->timeout_s = timeout_s;
    strbuf_release(&path);
    return c;
fail:
    (void)db->close(db, 0);
    strbuf_release(&path);
    return NULL;
}

static void key_dbt(DBT *k, const char *id)
{
    memset(k, 0, sizeof(*k));
    k->data = (void *)id;
    k->size = (u_int32_t)strlen(id);
}

int tls_scache_delete(tls_scache *c, const char *id, strbuf *err)
{
    DBT k;
    key_dbt(&k, id);
    int ret = c->db->del(c->db, NULL, &k, 0);
    if (ret != 0 && ret != DB_NOTFOUND) {
        strbuf_printf(err, "%s: delete: %s", c->spec, db_strerror(ret));
        return -1;
    }
    return 0;
}

static time_t stamp_of(const DBT *v)
{
    const unsigned char *p = v->data;
    uint64_t t = 0;
    for (int i = 0; i < STAMP_LEN; i++)
        t = t << 8 | p[i];
    return (time_t)t;
}

int tls_scache_lookup(tls_scache *c, const char *id, time_t now, strbuf *session, strbuf *err)
{
    DBT k, v;
    key_dbt(&k, id);
    memset(&v, 0, sizeof(v));
    int ret = c->db->get(c->db, NULL, &k, &v, 0);
    if (ret == DB_NOTFOUND)
        return 0;
    if (ret != 0) {
        strbuf_printf(err, "%s: lookup: %s", c->spec, db_strerror(ret));
        return -1;
    }
    /* Only this process writes the table; a short value is still no
     * reason to trust it. */
    if (v.size <= STAMP_LEN || v.size > STAMP_LEN + TLS_SESSION_MAX || stamp_of(&v) <= now)
        return tls_scache_delete(c, id, err);
    strbuf_reset(session);
    strbuf_append(session, (const char *)v.data + STAMP_LEN, v.size - STAMP_LEN);
    return 1;
}

int tls_scache_update(tls_scache *c, const char *id, const void *der, size_t len, time_t now,
                      strbuf *err)
{
    if (len == 0 || len > TLS_SESSION_MAX || strlen(id) > TLS_SCACHE_MAX_ID) {
        strbuf_printf(err, "%s: session or id too long", c->spec);
        return -1;
    }
    unsigned char *buf = xmalloc(STAMP_LEN + len);
    uint64_t t = (uint64_t)(now + c->timeout_s);
    for (int i = STAMP_LEN - 1; i >= 0; i--, t >>= 8)
        buf[i] = (unsigned char)(t & 0xff);
    memcpy(buf + STAMP_LEN, der, len);
    DBT k, v;
    key_dbt(&k, id);
    memset(&v, 0, sizeof(v));
    v.data = buf;
    v.size = (u_int32_t)(STAMP_LEN + len);
    int ret = c->db->put(c->db, NULL, &k, &v, 0);
    memset(buf, 0, STAMP_LEN + len);
    free(buf);
    if (ret != 0) {
        strbuf_printf(err, "%s: update: %s", c->spec, db_strerror(ret));
        return -1;
    }
    return 0;
}

size_t tls_scache_purge(tls_scache *c, time_t now)
{
    DBC *cur = NULL;
    if (c->db->cursor(c->db, NULL, &cur, 0) != 0)
        return 0;
    size_t removed = 0;
    DBT k, v;
    memset(&k, 0, sizeof(k));
    memset(&v, 0, sizeof(v));
    while (cur->get(cur, &k, &v, DB_NEXT) == 0) {
        if ((v.size <= STAMP_LEN || stamp_of(&v) <= now) && cur->del(cur, 0) == 0)
            removed++;
    }
    (void)cur->close(cur);
    return removed;
}

const char *tls_scache_spec(const tls_scache *c)
{
    return c->spec;
}

void tls_scache_close(tls_scache **cp)
{
    tls_scache *c = *cp;
    if (!c)
        return;
    int ret = c->db->close(c->db, 0);
    if (ret != 0)
        msg_warn("%s: close: %s", c->spec, db_strerror(ret));
    free(c->spec);
    XFREE(*cp);
}
