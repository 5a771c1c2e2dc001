#include "map_build.h"

#include <ctype.h>
#include <db.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mem.h"
#include "msg.h"

bool map_build_type_ok(const char *type)
{
    return strcmp(type, "hash") == 0 || strcmp(type, "btree") == 0;
}

static DBTYPE db_type(const char *type)
{
    return strcmp(type, "btree") == 0 ? DB_BTREE : DB_HASH;
}

static void db_errcall(const DB_ENV *env, const char *prefix, const char *text)
{
    msg_debug("berkeley db: %s", text);
}

static DB *db_new(strbuf *err)
{
    DB *db = NULL;
    int ret = db_create(&db, NULL, 0);
    if (ret != 0) {
        strbuf_printf(err, "db_create: %s", db_strerror(ret));
        return NULL;
    }
    db->set_errcall(db, db_errcall);
    return db;
}

static int db_finish(DB *db, const char *dbpath, strbuf *err)
{
    int ret = db->close(db, 0);
    if (ret != 0) {
        strbuf_printf(err, "close %s: %s", dbpath, db_strerror(ret));
        return -1;
    }
    return 0;
}

static int type_check(const char *type, strbuf *err)
{
    if (map_build_type_ok(type))
        return 0;
    strbuf_printf(err, "cannot write %s tables: only hash and btree files are built", type);
    return -1;
}

static void fold_key(strbuf *key, unsigned flags)
{
    if (flags & MAP_BUILD_NOFOLD)
        return;
    for (size_t i = 0; i < key->len; i++)
        key->s[i] = (char)tolower((unsigned char)key->s[i]);
}

/* 1 stored, 0 duplicate kept out, -1 error. */
static int put_record(DB *db, const char *dbpath, const strbuf *key, const strbuf *value,
                      unsigned flags, const char *origin, size_t line, strbuf *err)
{
    size_t extra = (flags & MAP_BUILD_NONUL) ? 0 : 1;
    if (key->len + extra > UINT32_MAX || value->len + extra > UINT32_MAX) {
        strbuf_printf(err, "%s, line %zu: record too large", origin, line);
        return -1;
    }
    DBT k, v;
    memset(&k, 0, sizeof(k));
    memset(&v, 0, sizeof(v));
    k.data = key->s;
    k.size = (u_int32_t)(key->len + extra);
    v.data = value->s;
    v.size = (u_int32_t)(value->len + extra);
    int ret = db->put(db, NULL, &k, &v, (flags & MAP_BUILD_REPLACE) ? 0 : DB_NOOVERWRITE);
    if (ret == DB_KEYEXIST) {
        if (!(flags & MAP_BUILD_IGNORE_DUPS))
            msg_warn("%s, line %zu: duplicate entry: \"%s\"", origin, line, key->s);
        return 0;
    }
    if (ret != 0) {
        strbuf_printf(err, "%s: write: %s", dbpath, db_strerror(ret));
        return -1;
    }
    return 1;
}

static int load_records(DB *db, const char *dbpath, map_source *src, enum map_source_format fmt,
                        unsigned flags, strbuf *err)
{
    strbuf key = STRBUF_INIT, value = STRBUF_INIT;
    int r, ret = 0;
    while ((r = map_source_next(src, &key, &value, err)) == 1) {
        fold_key(&key, flags);
        if (put_record(db, dbpath, &key, &value, flags, map_source_origin(src),
                       map_source_lineno(src), err) < 0) {
            ret = -1;
            break;
        }
    }
    if (r < 0)
        ret = -1;
    if (ret == 0 && fmt == MAP_SOURCE_ALIAS) {
        /* sendmail checks for this entry to know the alias database is complete */
        strbuf_set(&key, "@");
        strbuf_set(&value, "@");
        if (put_record(db, dbpath, &key, &value, flags | MAP_BUILD_IGNORE_DUPS, "", 0, err) < 0)
            ret = -1;
    }
    strbuf_release(&key);
    strbuf_release(&value);
    return ret;
}

static int fsync_dir_of(const char *path, strbuf *err)
{
    char *copy = xstrdup(path);
    const char *dir = dirname(copy);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int ret = 0;
    if (fd < 0 || fsync(fd) != 0) {
        strbuf_printf(err, "fsync directory %s: %m", dir);
        ret = -1;
    }
    if (fd >= 0)
        (void)close(fd);
    free(copy);
    return ret;
}

/* Cleanup for msg_fatal while a temporary file exists. */
static char *pending_tmp;

static void remove_pending_tmp(void)
{
    if (pending_tmp)
        (void)unlink(pending_tmp);
}

int map_build(const char *type, const char *path, enum map_source_format fmt, unsigned flags,
              strbuf *err)
{
    if (type_check(type, err) < 0)
        return -1;
    strbuf why = STRBUF_INIT, dbpath = STRBUF_INIT, tmp = STRBUF_INIT;
    map_source *src = map_source_open(path, fmt, err);
    if (!src)
        return -1;
    strbuf_printf(&dbpath, "%s.db", path);

    /* Owner and mode the finished file must have. */
    struct stat src_st, old_st;
    uid_t uid = (uid_t)-1;
    gid_t gid = (gid_t)-1;
    mode_t mode;
    if (stat(dbpath.s, &old_st) == 0) {
        mode = old_st.st_mode & 07777;
        uid = old_st.st_uid;
        gid = old_st.st_gid;
    } else if (stat(path, &src_st) == 0) {
        mode =
            (flags & MAP_BUILD_DEFAULT_MODE) ? 0644 : (S_IRUSR | S_IWUSR | (src_st.st_mode & 044));
        uid = src_st.st_uid;
        gid = src_st.st_gid;
    } else {
        strbuf_printf(err, "stat %s: %m", path);
        map_source_close(&src);
        strbuf_release(&dbpath);
        return -1;
    }
    if (geteuid() != 0)
        uid = (uid_t)-1, gid = (gid_t)-1;

    DB *db = db_new(err);
    int ret = db ? 0 : -1;
    for (unsigned attempt = 0; ret == 0; attempt++) {
        strbuf_reset(&tmp);
        strbuf_printf(&tmp, "%s.%ld.%u.tmp", dbpath.s, (long)getpid(), attempt);
        int r = db->open(db, NULL, tmp.s, NULL, db_type(type), DB_CREATE | DB_EXCL, 0600);
        if (r == 0)
            break;
        if (r == EEXIST && attempt < 100) {
            (void)db->close(db, 0);
            if (!(db = db_new(err)))
                ret = -1;
            continue;
        }
        strbuf_printf(err, "create %s: %s", tmp.s, db_strerror(r));
        (void)db->close(db, 0);
        db = NULL;
        ret = -1;
    }
    if (ret == 0) {
        pending_tmp = tmp.s;
        msg_set_cleanup(remove_pending_tmp);
        ret = load_records(db, tmp.s, src, fmt, flags, err);
        if (db_finish(db, tmp.s, ret < 0 ? &why : err) < 0)
            ret = -1;
        db = NULL;
    }
    if (ret == 0) {
        int fd = open(tmp.s, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0) {
            strbuf_printf(err, "open %s: %m", tmp.s);
            ret = -1;
        } else {
            if (uid != (uid_t)-1 && fchown(fd, uid, gid) != 0) {
                strbuf_printf(err, "chown %s: %m", tmp.s);
                ret = -1;
            } else if (fchmod(fd, mode) != 0) {
                strbuf_printf(err, "chmod %s: %m", tmp.s);
                ret = -1;
            } else if (fsync(fd) != 0) {
                strbuf_printf(err, "fsync %s: %m", tmp.s);
                ret = -1;
            }
            if (close(fd) != 0 && ret == 0) {
                strbuf_printf(err, "close %s: %m", tmp.s);
                ret = -1;
            }
        }
    }
    if (ret == 0 && rename(tmp.s, dbpath.s) != 0) {
        strbuf_printf(err, "rename %s to %s: %m", tmp.s, dbpath.s);
        ret = -1;
    }
    if (ret == 0)
        ret = fsync_dir_of(dbpath.s, err);
    else if (tmp.len > 0 && unlink(tmp.s) != 0 && errno != ENOENT)
        msg_warn("remove %s: %m", tmp.s);
    pending_tmp = NULL;
    msg_set_cleanup(NULL);
    map_source_close(&src);
    strbuf_release(&why);
    strbuf_release(&dbpath);
    strbuf_release(&tmp);
    return ret;
}

/* Open PATH.db read-write (created when missing) and lock it exclusively. */
static DB *open_locked(const char *type, const char *dbpath, bool create, strbuf *err)
{
    DB *db = db_new(err);
    if (!db)
        return NULL;
    int r = db->open(db, NULL, dbpath, NULL, db_type(type), create ? DB_CREATE : 0, 0644);
    if (r != 0) {
        strbuf_printf(err, "open database %s: %s", dbpath, db_strerror(r));
        (void)db->close(db, 0);
        return NULL;
    }
    int fd;
    if ((r = db->fd(db, &fd)) != 0) {
        strbuf_printf(err, "%s: %s", dbpath, db_strerror(r));
        (void)db->close(db, 0);
        return NULL;
    }
    if (flock(fd, LOCK_EX) != 0) {
        strbuf_printf(err, "lock %s: %m", dbpath);
        (void)db->close(db, 0);
        return NULL;
    }
    return db;
}

int map_build_update(const char *type, const char *path, FILE *in, const char *origin,
                     enum map_source_format fmt, unsigned flags, strbuf *err)
{
    if (type_check(type, err) < 0)
        return -1;
    strbuf dbpath = STRBUF_INIT;
    strbuf_printf(&dbpath, "%s.db", path);
    DB *db = open_locked(type, dbpath.s, true, err);
    int ret = -1;
    if (db) {
        map_source *src = map_source_stream(in, origin, fmt);
        ret = load_records(db, dbpath.s, src, fmt, flags, err);
        map_source_close(&src);
        if (db_finish(db, dbpath.s, err) < 0)
            ret = -1;
    }
    strbuf_release(&dbpath);
    return ret;
}

int map_build_delete(const char *type, const char *path, const char *key, unsigned flags,
                     strbuf *err)
{
    if (type_check(type, err) < 0)
        return -1;
    strbuf dbpath = STRBUF_INIT, k = STRBUF_INIT;
    strbuf_printf(&dbpath, "%s.db", path);
    strbuf_puts(&k, key);
    fold_key(&k, flags);
    DB *db = open_locked(type, dbpath.s, false, err);
    int ret = db ? 0 : -1;
    for (int with_nul = 1; ret == 0 && with_nul >= 0; with_nul--) {
        DBT dk;
        memset(&dk, 0, sizeof(dk));
        dk.data = k.s;
        dk.size = (u_int32_t)(k.len + (size_t)with_nul);
        int r = db->del(db, NULL, &dk, 0);
        if (r == 0)
            ret = 1;
        else if (r != DB_NOTFOUND) {
            strbuf_printf(err, "%s: delete \"%s\": %s", dbpath.s, key, db_strerror(r));
            ret = -1;
        }
    }
    if (db && db_finish(db, dbpath.s, err) < 0)
        ret = -1;
    strbuf_release(&dbpath);
    strbuf_release(&k);
    return ret;
}

static void put_text(FILE *out, const DBT *d)
{
    size_t n = d->size;
    if (n > 0 && ((const char *)d->data)[n - 1] == '\0')
        n--;
    fwrite(d->data, 1, n, out);
}

int map_build_dump(const char *type, const char *path, enum map_source_format fmt, FILE *out,
                   strbuf *err)
{
    if (type_check(type, err) < 0)
        return -1;
    strbuf dbpath = STRBUF_INIT;
    strbuf_printf(&dbpath, "%s.db", path);
    DB *db = db_new(err);
    int ret = db ? 0 : -1;
    if (db) {
        int r = db->open(db, NULL, dbpath.s, NULL, db_type(type), DB_RDONLY, 0);
        if (r != 0) {
            strbuf_printf(err, "open database %s: %s", dbpath.s, db_strerror(r));
            ret = -1;
        }
    }
    DBC *cur = NULL;
    if (ret == 0) {
        int r = db->cursor(db, NULL, &cur, 0);
        if (r != 0) {
            strbuf_printf(err, "%s: cursor: %s", dbpath.s, db_strerror(r));
            ret = -1;
        }
    }
    while (ret == 0) {
        DBT k, v;
        memset(&k, 0, sizeof(k));
        memset(&v, 0, sizeof(v));
        int r = cur->get(cur, &k, &v, DB_NEXT);
        if (r == DB_NOTFOUND)
            break;
        if (r != 0) {
            strbuf_printf(err, "%s: read: %s", dbpath.s, db_strerror(r));
            ret = -1;
            break;
        }
        put_text(out, &k);
        fputs(fmt == MAP_SOURCE_ALIAS ? ":\t" : "\t", out);
        put_text(out, &v);
        fputc('\n', out);
    }
    if (cur)
        (void)cur->close(cur);
    if (db)
        (void)db->close(db, 0);
    if (ret == 0 && (fflush(out) != 0 || ferror(out))) {
        strbuf_printf(err, "write: %m");
        ret = -1;
    }
    strbuf_release(&dbpath);
    return ret;
}
