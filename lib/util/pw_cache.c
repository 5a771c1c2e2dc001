/* pw_cache - getpwnam without rereading an unchanged passwd file (see the header). */
#include "pw_cache.h"

#include <ctype.h>
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "mem.h"

struct pw_cache_row {
    char *name, *dir, *shell, *passwd, *gecos;
    uid_t uid;
    gid_t gid;
    size_t line; /* order in the file: the first of equal names wins */
};

static const char *passwd_path(const pw_cache *c)
{
    return c->passwd_path ? c->passwd_path : "/etc/passwd";
}

static const char *nsswitch_path(const pw_cache *c)
{
    return c->nsswitch_path ? c->nsswitch_path : "/etc/nsswitch.conf";
}

/* Stat path into *now; true when it differs from *was (or either is gone). */
static bool changed(const char *path, const struct pw_file_key *was, struct pw_file_key *now)
{
    struct stat st;
    if (stat(path, &st) < 0) {
        *now = (struct pw_file_key){.valid = false};
        return true;
    }
    *now = (struct pw_file_key){.valid = true,
                                .dev = st.st_dev,
                                .ino = st.st_ino,
                                .size = st.st_size,
                                .mtime = st.st_mtim,
                                .ctime = st.st_ctim};
    return !was->valid || was->dev != now->dev || was->ino != now->ino || was->size != now->size ||
           was->mtime.tv_sec != now->mtime.tv_sec || was->mtime.tv_nsec != now->mtime.tv_nsec ||
           was->ctime.tv_sec != now->ctime.tv_sec || was->ctime.tv_nsec != now->ctime.tv_nsec;
}

/* Does the "passwd:" line name "files" as its first source? */
static bool read_files_first(const char *path)
{
    FILE *fp = fopen(path, "re");
    if (fp == NULL)
        return false;
    char line[1024];
    bool first = false;
    while (fgets(line, sizeof(line), fp)) {
        char *p = line;
        while (isspace((unsigned char)*p))
            p++;
        if (strncmp(p, "passwd", 6) != 0)
            continue;
        p += 6;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p != ':')
            continue;
        p++;
        while (isspace((unsigned char)*p))
            p++;
        size_t n = strcspn(p, " \t\r\n[#");
        first = n == 5 && strncmp(p, "files", 5) == 0;
        /* glibc takes the last passwd line: keep reading. */
    }
    fclose(fp);
    return first;
}

static void free_rows(pw_cache *c)
{
    for (size_t i = 0; i < c->nrows; i++) {
        free(c->rows[i].name);
        free(c->rows[i].dir);
        free(c->rows[i].shell);
        free(c->rows[i].passwd);
        free(c->rows[i].gecos);
    }
    XFREE(c->rows);
    c->nrows = 0;
}

static int row_cmp(const void *a, const void *b)
{
    const struct pw_cache_row *x = a, *y = b;
    int d = strcmp(x->name, y->name);
    return d ? d : (x->line > y->line) - (x->line < y->line);
}

/* Parse the passwd file; false (and no rows) when it cannot be read. */
static bool load_rows(pw_cache *c)
{
    free_rows(c);
    FILE *fp = fopen(passwd_path(c), "re");
    if (fp == NULL)
        return false;
    size_t cap = 0;
    struct passwd *pw;
    errno = 0;
    while ((pw = fgetpwent(fp)) != NULL) {
        if (c->nrows == cap) {
            cap = cap ? 2 * cap : 64;
            c->rows = xreallocarray(c->rows, cap, sizeof(*c->rows));
        }
        c->rows[c->nrows] = (struct pw_cache_row){
            .name = xstrdup(pw->pw_name),
            .dir = xstrdup(pw->pw_dir ? pw->pw_dir : ""),
            .shell = xstrdup(pw->pw_shell ? pw->pw_shell : ""),
            .passwd = xstrdup(pw->pw_passwd ? pw->pw_passwd : ""),
            .gecos = xstrdup(pw->pw_gecos ? pw->pw_gecos : ""),
            .uid = pw->pw_uid,
            .gid = pw->pw_gid,
            .line = c->nrows,
        };
        c->nrows++;
    }
    bool ok = !ferror(fp);
    fclose(fp);
    if (!ok) {
        free_rows(c);
        return false;
    }
    qsort(c->rows, c->nrows, sizeof(*c->rows), row_cmp);
    return true;
}

/* The first row named `name`, or NULL. */
static const struct pw_cache_row *find_row(const pw_cache *c, const char *name)
{
    size_t lo = 0, hi = c->nrows;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(c->rows[mid].name, name) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < c->nrows && strcmp(c->rows[lo].name, name) == 0 ? &c->rows[lo] : NULL;
}

static int from_getpwnam(pw_cache *c, const char *name, struct pw_cache_entry *e)
{
    /* getpwnam leaves errno alone when there is no such account: clear it,
     * so the caller can tell "not found" from a failed lookup. */
    errno = 0;
    struct passwd *pw = getpwnam(name);
    if (pw == NULL)
        return 0;
    c->found = (struct pw_cache_entry){
        .name = pw->pw_name,
        .uid = pw->pw_uid,
        .gid = pw->pw_gid,
        .dir = pw->pw_dir,
        .shell = pw->pw_shell,
        .passwd = pw->pw_passwd ? pw->pw_passwd : "",
        .gecos = pw->pw_gecos ? pw->pw_gecos : "",
    };
    *e = c->found;
    return 1;
}

int pw_cache_lookup(pw_cache *c, const char *name, struct pw_cache_entry *e)
{
    struct pw_file_key now;
    if (changed(nsswitch_path(c), &c->nsswitch_key, &now)) {
        c->nsswitch_key = now;
        c->files_first = now.valid && read_files_first(nsswitch_path(c));
    }
    if (!c->files_first) {
        free_rows(c);
        c->passwd_key.valid = false;
        return from_getpwnam(c, name, e);
    }
    if (changed(passwd_path(c), &c->passwd_key, &now)) {
        c->passwd_key = now;
        if (!now.valid || !load_rows(c)) {
            c->passwd_key.valid = false;
            return from_getpwnam(c, name, e);
        }
    }
    const struct pw_cache_row *r = find_row(c, name);
    if (r == NULL)
        return from_getpwnam(c, name, e);
    *e = (struct pw_cache_entry){.name = r->name,
                                 .uid = r->uid,
                                 .gid = r->gid,
                                 .dir = r->dir,
                                 .shell = r->shell,
                                 .passwd = r->passwd,
                                 .gecos = r->gecos};
    return 1;
}

void pw_cache_release(pw_cache *c)
{
    free_rows(c);
    c->passwd_key.valid = false;
    c->nsswitch_key.valid = false;
}
