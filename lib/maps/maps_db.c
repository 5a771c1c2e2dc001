/* hash: and btree: tables in Berkeley DB files, read-only.
 *
 * Postfix's postmap stores keys and values with their terminating NUL; some
 * other tools (makemap -N style) do not. Like Postfix we try the key with
 * the NUL first, then without, and once one form has hit we stick to it. */
#include <db.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "maps_impl.h"
#include "mem.h"
#include "msg.h"

struct db_table {
    DB *db;
    bool try_nul;   /* key stored with trailing NUL */
    bool try_plain; /* key stored without */
};

static int db_get(struct db_table *t, const char *key, size_t len, DBT *val)
{
    DBT k;
    memset(&k, 0, sizeof(k));
    memset(val, 0, sizeof(*val));
    k.data = (void *)key;
    k.size = (u_int32_t)len;
    return t->db->get(t->db, NULL, &k, val, 0);
}

static enum map_result db_lookup(map *m, const char *key, strbuf *value, strbuf *err)
{
    struct db_table *t = m->priv;
    size_t len = strlen(key);
    if (len >= UINT32_MAX) {
        strbuf_printf(err, "%s: key too long", m->spec);
        return MAP_TEMPFAIL;
    }
    DBT val;
    for (int pass = 0; pass < 2; pass++) {
        bool with_nul = pass == 0;
        if (with_nul ? !t->try_nul : !t->try_plain)
            continue;
        int ret = db_get(t, key, len + (with_nul ? 1 : 0), &val);
        if (ret == DB_NOTFOUND)
            continue;
        if (ret != 0) {
            strbuf_printf(err, "%s: lookup of \"%s\": %s", m->spec, key, db_strerror(ret));
            return MAP_TEMPFAIL;
        }
        if (with_nul)
            t->try_plain = false;
        else
            t->try_nul = false;
        size_t vlen = val.size;
        if (vlen > 0 && ((const char *)val.data)[vlen - 1] == '\0')
            vlen--;
        strbuf_append(value, val.data, vlen);
        return MAP_FOUND;
    }
    return MAP_NOTFOUND;
}

static void db_close_table(map *m)
{
    struct db_table *t = m->priv;
    if (t->db) {
        int ret = t->db->close(t->db, 0);
        if (ret != 0)
            msg_warn("%s: close: %s", m->spec, db_strerror(ret));
    }
    free(t);
}

int map_open_db(map *m, strbuf *err)
{
    DBTYPE type = strcmp(m->type, "btree") == 0 ? DB_BTREE : DB_HASH;
    if (m->name[0] == '\0') {
        strbuf_printf(err, "%s: missing file name", m->spec);
        return -1;
    }
    strbuf path = STRBUF_INIT;
    strbuf_printf(&path, "%s.db", m->name);
    struct stat st;
    if (stat(path.s, &st) != 0) {
        strbuf_printf(err, "%s: open database %s: %m", m->spec, path.s);
        strbuf_release(&path);
        return -1;
    }
    DB *db = NULL;
    int ret = db_create(&db, NULL, 0);
    if (ret != 0) {
        strbuf_printf(err, "%s: db_create: %s", m->spec, db_strerror(ret));
        strbuf_release(&path);
        return -1;
    }
    ret = db->open(db, NULL, path.s, NULL, type, DB_RDONLY, 0);
    if (ret != 0) {
        strbuf_printf(err, "%s: open database %s: %s", m->spec, path.s, db_strerror(ret));
        (void)db->close(db, 0);
        strbuf_release(&path);
        return -1;
    }
    struct stat src;
    if (stat(m->name, &src) == 0 && src.st_mtime > st.st_mtime)
        msg_warn("database %s is older than source file %s", path.s, m->name);
    map_watch_file(m, path.s, &st);
    strbuf_release(&path);

    struct db_table *t = xcalloc(1, sizeof(*t));
    t->db = db;
    t->try_nul = t->try_plain = true;
    m->priv = t;
    m->kind = MAP_KIND_FIXED;
    m->lookup = db_lookup;
    m->close = db_close_table;
    return 0;
}
