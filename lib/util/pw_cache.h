/* pw_cache - getpwnam(3) for a long-running process that looks up an
 * account per message (local(8)), without reading /etc/passwd each time.
 *
 * CONTRACT. pw_cache_lookup(name) answers what getpwnam(name) answers now:
 *  - When the "passwd:" line of nsswitch.conf names "files" first, the
 *    answer for a name present in the passwd file comes from that file
 *    (glibc's files source answers first, and finds the first line with
 *    the name): the file is parsed once (fgetpwent, the parser of that
 *    source) and parsed again whenever a stat(2) of it differs (device,
 *    inode, size, mtime, ctime). A name not in the file goes to getpwnam
 *    (the later sources, or NOTFOUND).
 *  - Otherwise (another source first, no passwd line, no nsswitch.conf:
 *    glibc's default there is not "files" alone), every lookup is
 *    getpwnam's.
 *  nsswitch.conf is stat(2)ed on every lookup too and parsed again when it
 *  changed. Cost per lookup of a cached name: two stat calls, where
 *  getpwnam makes six (stat, open, fstat, lseek, read, close).
 * An entry is valid until the next lookup on the same cache. It carries
 * every passwd(5) field (unix:passwd.byname returns the whole line).
 * On 0, errno is getpwnam's (0 or a "not found" code when there is no
 * such account; anything else is a lookup failure, as getpwnam(3) says).
 */
#ifndef MTA_PW_CACHE_H
#define MTA_PW_CACHE_H
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

struct pw_cache_entry {
    const char *name;
    uid_t uid;
    gid_t gid;
    const char *dir;
    const char *shell;
    const char *passwd; /* the password field ("x" with shadow passwords) */
    const char *gecos;
};

struct pw_file_key {
    bool valid;
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime, ctime;
};

struct pw_cache_row;

typedef struct pw_cache {
    const char *passwd_path, *nsswitch_path;
    struct pw_file_key passwd_key, nsswitch_key;
    bool files_first;          /* nsswitch.conf's passwd: starts with files */
    struct pw_cache_row *rows; /* sorted by name, then line number */
    size_t nrows;
    struct pw_cache_entry found; /* getpwnam's answer, copied */
} pw_cache;

/* NULL paths: /etc/passwd and /etc/nsswitch.conf. The strings must stay. */
#define PW_CACHE_INIT(passwd, nsswitch)                                                            \
    {                                                                                              \
        .passwd_path = (passwd), .nsswitch_path = (nsswitch)                                       \
    }

/* 1 with *e filled; 0 where getpwnam returns NULL (no such account, or
 * the lookup failed). */
int pw_cache_lookup(pw_cache *c, const char *name, struct pw_cache_entry *e);

/* Free the parsed file (the cache may be used again). */
void pw_cache_release(pw_cache *c);

#endif
