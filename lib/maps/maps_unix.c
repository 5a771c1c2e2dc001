/* unix:passwd.byname and unix:group.byname - the system user and group
 * databases through getpwnam(3)/getgrnam(3). Values are the passwd(5) and
 * group(5) lines, like Postfix. A lookup error other than "no such entry"
 * is a temporary failure (an LDAP/NIS backend may be down).
 * passwd.byname answers through a pw_cache (one per open table): the same
 * answer as getpwnam, but two stat(2) calls per lookup instead of reading
 * /etc/passwd each time (smtpd's local_recipient_maps asks per recipient). */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <string.h>

#include "maps_impl.h"
#include "mem.h"
#include "pw_cache.h"

static bool notfound_errno(int e)
{
    return e == 0 || e == ENOENT || e == ESRCH || e == EBADF || e == EPERM;
}

static enum map_result passwd_lookup(map *m, const char *key, strbuf *value, strbuf *err)
{
    /* smtpd's local_recipient_maps tries the full address first. No account
     * name has an '@' (useradd's NAME_REGEX refuses it), and asking NSS for
     * one walks every module: systemd's probes seven userdb directories,
     * about 45 system calls per recipient. */
    if (strchr(key, '@'))
        return MAP_NOTFOUND;
    struct pw_cache_entry pw;
    if (!pw_cache_lookup(m->priv, key, &pw)) {
        if (notfound_errno(errno))
            return MAP_NOTFOUND;
        strbuf_printf(err, "%s: getpwnam(\"%s\"): %m", m->spec, key);
        return MAP_TEMPFAIL;
    }
    strbuf_printf(value, "%s:%s:%ld:%ld:%s:%s:%s", pw.name, pw.passwd, (long)pw.uid, (long)pw.gid,
                  pw.gecos, pw.dir, pw.shell);
    return MAP_FOUND;
}

static void passwd_close(map *m)
{
    pw_cache_release(m->priv);
    XFREE(m->priv);
}

static enum map_result group_lookup(map *m, const char *key, strbuf *value, strbuf *err)
{
    errno = 0;
    struct group *gr = getgrnam(key);
    if (!gr) {
        if (notfound_errno(errno))
            return MAP_NOTFOUND;
        strbuf_printf(err, "%s: getgrnam(\"%s\"): %m", m->spec, key);
        return MAP_TEMPFAIL;
    }
    strbuf_printf(value, "%s:%s:%ld:", gr->gr_name, gr->gr_passwd, (long)gr->gr_gid);
    for (char **mem = gr->gr_mem; mem && *mem; mem++)
        strbuf_printf(value, "%s%s", mem == gr->gr_mem ? "" : ",", *mem);
    return MAP_FOUND;
}

int map_open_unix(map *m, strbuf *err)
{
    if (strcmp(m->name, "passwd.byname") == 0) {
        m->lookup = passwd_lookup;
        m->close = passwd_close;
        pw_cache *c = xmalloc(sizeof(*c));
        *c = (pw_cache)PW_CACHE_INIT(NULL, NULL);
        m->priv = c;
    } else if (strcmp(m->name, "group.byname") == 0)
        m->lookup = group_lookup;
    else {
        strbuf_printf(err, "%s: unknown unix table \"%s\" (passwd.byname or group.byname)", m->spec,
                      m->name);
        return -1;
    }
    m->kind = MAP_KIND_FIXED;
    return 0;
}
