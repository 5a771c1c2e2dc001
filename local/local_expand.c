/* local_expand - resolve one local recipient: aliases, .forward files and
 * :include: lists, recursively, down to mailboxes, files, commands and
 * forwarded addresses. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "fsutil.h"
#include "local.h"
#include "pw_cache.h"
#include "mem.h"
#include "msg.h"

/* Deeper than this is a loop even if no address repeats (Postfix's
 * hopcount idea, applied to in-process expansion). */
#define MAX_EXPANSION_DEPTH 20
/* Bound on one :include: or .forward file. */
#define MAX_LIST_FILE_SIZE (1024 * 1024)

/* Split a destination list ("a, \"|cmd, with comma\", /file") at top-level
 * commas and newlines; double quotes group and are removed. */
static void split_destinations(const char *text, strlist *out)
{
    strbuf item = STRBUF_INIT;
    bool quoted = false;
    for (const char *p = text;; p++) {
        if (*p == '"') {
            quoted = !quoted;
            continue;
        }
        if (*p == '\\' && quoted && p[1]) {
            strbuf_putc(&item, *++p);
            continue;
        }
        if (*p == '\0' || (!quoted && (*p == ',' || *p == '\n'))) {
            strbuf_trim(&item);
            if (item.len > 0)
                strlist_pushn(out, item.s, item.len);
            strbuf_reset(&item);
            if (*p == '\0')
                break;
            continue;
        }
        strbuf_putc(&item, *p);
    }
    strbuf_release(&item);
}

static bool allowed(const strlist *list, enum local_origin origin)
{
    static const char *const names[] = {"direct", "alias", "forward", "include"};
    return origin == ORIGIN_DIRECT || strlist_contains(list, names[origin]);
}

/* getpwnam without rereading an unchanged /etc/passwd per message. */
static pw_cache passwd_cache = PW_CACHE_INIT(NULL, NULL);

void local_default_privs(struct local_privs *p)
{
    struct pw_cache_entry pw;
    bool found = pw_cache_lookup(&passwd_cache, local_cfg.default_privs, &pw) == 1;
    p->uid = found ? pw.uid : 65534;
    p->gid = found ? pw.gid : 65534;
    p->user = local_cfg.default_privs;
    p->home = "/";
    p->shell = "/bin/sh";
}

/* The domain part decides: no domain or one in mydestination is ours. */
static bool is_local_address(const char *address)
{
    const char *at = strrchr(address, '@');
    if (at == NULL)
        return true;
    strbuf err = STRBUF_INIT;
    int match = match_list_domain(local_cfg.mydestination, at + 1, &err);
    if (match < 0)
        msg_warn("mydestination lookup for %s: %s", at + 1, err.s);
    strbuf_release(&err);
    return match > 0;
}

/* Outcome of opening a list file. */
enum list_open { LIST_OPENED, LIST_ABSENT, LIST_REFUSED };

/* Open a .forward or :include: file as the given user: no symlink, no
 * FIFO or device (O_NONBLOCK, then fstat: a file swapped after a check
 * cannot make local hang or read something else). A .forward must also
 * be owned by the user or root and not be world-writable, as Postfix
 * insists. LIST_ABSENT: nothing there, or the user may not look. */
static enum list_open open_list_file(const char *path, const struct local_privs *privs,
                                     bool dot_forward, bool stay, int *fdp, strbuf *err)
{
    if (local_privs_enter(privs) < 0) {
        strbuf_printf(err, "cannot switch to uid %ld", (long)privs->uid);
        return LIST_REFUSED;
    }
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    int open_errno = errno;
    /* `stay`: the caller goes on as this user when nothing is there. */
    bool absent = fd < 0 && (open_errno == ENOENT || open_errno == ENOTDIR || open_errno == EACCES);
    if (!stay || !absent)
        local_privs_leave();
    if (fd < 0) {
        if (absent)
            return LIST_ABSENT;
        if (open_errno == ELOOP)
            strbuf_printf(err, "file %s is a symbolic link", path);
        else
            strbuf_printf(err, "cannot open file %s: %s", path, strerror(open_errno));
        return LIST_REFUSED;
    }
    struct stat st;
    if (fstat(fd, &st) < 0)
        strbuf_printf(err, "fstat %s: %s", path, strerror(errno));
    else if (!S_ISREG(st.st_mode))
        strbuf_printf(err, "file %s is not a regular file", path);
    else if (dot_forward && st.st_uid != 0 && st.st_uid != privs->uid)
        strbuf_printf(err, "file %s has bad owner uid %ld", path, (long)st.st_uid);
    else if (dot_forward && (st.st_mode & S_IWOTH))
        strbuf_printf(err, "file %s is world writable", path);
    else {
        *fdp = fd;
        return LIST_OPENED;
    }
    close(fd);
    return LIST_REFUSED;
}

/* The destinations in an open list file, comments removed; NULL on a read
 * error. Closes fd. */
static char *read_list_file(int fd, const char *path, strbuf *err)
{
    strbuf text = STRBUF_INIT;
    char buf[8192];
    ssize_t n;
    while ((n = read(fd, buf, sizeof(buf))) > 0 && text.len < MAX_LIST_FILE_SIZE)
        strbuf_append(&text, buf, (size_t)n);
    close(fd);
    if (n < 0) {
        strbuf_printf(err, "read %s: %s", path, strerror(errno));
        strbuf_release(&text);
        return NULL;
    }
    /* Comments: lines whose first non-blank is '#'. */
    strbuf clean = STRBUF_INIT;
    for (char *line = text.s ? text.s : (char *)""; *line;) {
        char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        const char *p = line;
        while (p < line + len && (*p == ' ' || *p == '\t'))
            p++;
        if (p < line + len && *p != '#') {
            strbuf_append(&clean, line, len);
            strbuf_putc(&clean, '\n');
        }
        line += len + (nl != NULL);
    }
    strbuf_release(&text);
    return strbuf_detach(&clean);
}

static void expand_destination(struct local_attempt *at, const char *recipient, const char *dest,
                               enum local_origin origin, const struct local_privs *privs,
                               int depth);

/* "tester" or "Tester@host" names the recipient "tester@host". */
static bool same_user(const char *dest, const char *recipient)
{
    const char *d_at = strrchr(dest, '@'), *r_at = strrchr(recipient, '@');
    size_t d_len = d_at ? (size_t)(d_at - dest) : strlen(dest);
    size_t r_len = r_at ? (size_t)(r_at - recipient) : strlen(recipient);
    return d_len == r_len && strncasecmp(dest, recipient, d_len) == 0;
}

static void expand_list(struct local_attempt *at, const char *recipient, const char *text,
                        enum local_origin origin, const struct local_privs *privs, int depth)
{
    strlist items = STRLIST_INIT;
    split_destinations(text, &items);
    for (size_t i = 0; i < items.n; i++)
        expand_destination(at, recipient, items.v[i], origin, privs, depth);
    strlist_release(&items);
}

static void expand_destination(struct local_attempt *at, const char *recipient, const char *dest,
                               enum local_origin origin, const struct local_privs *privs, int depth)
{
    /* The same destination reached twice is delivered once. */
    if (strlist_contains(&at->done, dest))
        return;
    strlist_push(&at->done, dest);
    if (dest[0] == '|') {
        if (!allowed(&local_cfg.allow_commands, origin))
            local_outcome(at, recipient, DELIVER_BOUNCED, "5.7.1", "mail to command is restricted");
        else
            local_deliver_command(at, recipient, dest + 1, privs, "");
    } else if (dest[0] == '/') {
        if (!allowed(&local_cfg.allow_files, origin))
            local_outcome(at, recipient, DELIVER_BOUNCED, "5.7.1", "mail to file is restricted");
        else
            local_deliver_file(at, recipient, dest, privs);
    } else if (strncasecmp(dest, ":include:", 9) == 0) {
        strbuf err = STRBUF_INIT;
        char *text = NULL;
        int fd = -1;
        enum list_open how = open_list_file(dest + 9, privs, false, false, &fd, &err);
        if (how == LIST_ABSENT)
            strbuf_printf(&err, "open %s: %s", dest + 9, strerror(ENOENT));
        else if (how == LIST_OPENED)
            text = read_list_file(fd, dest + 9, &err);
        if (text == NULL)
            local_outcome(at, recipient, DELIVER_DEFERRED, "4.3.0", "cannot open include file: %s",
                          err.s);
        else
            expand_list(at, recipient, text, ORIGIN_INCLUDE, privs, depth + 1);
        free(text);
        strbuf_release(&err);
    } else if (dest[0] == '\\') {
        /* "\user": straight to the mailbox, no alias or .forward. */
        local_expand_recipient(at, dest, depth + 1);
    } else if (is_local_address(dest)) {
        if (origin == ORIGIN_FORWARD && same_user(dest, recipient)) {
            /* A user's .forward naming the user: keep a copy in the
             * mailbox instead of looping. */
            strbuf direct = STRBUF_INIT;
            strbuf_printf(&direct, "\\%s", dest);
            local_expand_recipient(at, direct.s, depth + 1);
            strbuf_release(&direct);
        } else {
            local_expand_recipient(at, dest, depth + 1);
        }
    } else {
        local_forward(at, recipient, dest);
    }
}

/* A value from the recipient address for a file name: a '/' in it becomes
 * '_', so the sender's text can never add a directory level. */
static void no_slashes(strbuf *out, const char *value)
{
    strbuf_reset(out);
    for (const char *p = value; *p; p++)
        strbuf_putc(out, *p == '/' ? '_' : *p);
}

int local_expand_attrs(const char *text, const struct local_recipient *r,
                       const struct local_privs *pw, const char *filter, strbuf *out, strbuf *err)
{
    strbuf local = STRBUF_INIT, domain = STRBUF_INIT, rcpt = STRBUF_INIT, ext = STRBUF_INIT;
    no_slashes(&local, r->local);
    no_slashes(&domain, r->domain);
    no_slashes(&rcpt, r->address);
    no_slashes(&ext, r->extension ? r->extension : "");
    const struct config_attr attrs[] = {
        {"user", pw->user},
        {"home", pw->home},
        {"shell", pw->shell},
        {"local", strbuf_str(&local)},
        {"mailbox", strbuf_str(&local)},
        {"domain", strbuf_str(&domain)},
        {"recipient", strbuf_str(&rcpt)},
        {"extension", r->extension ? strbuf_str(&ext) : NULL},
        {"recipient_delimiter", r->extension ? r->delimiter : NULL},
    };
    const struct config_attrs set = {attrs, sizeof(attrs) / sizeof(attrs[0]), filter};
    bool undefined = false;
    int ret = config_expand_attrs(text, &set, out, &undefined, err);
    strbuf_release(&local);
    strbuf_release(&domain);
    strbuf_release(&rcpt);
    strbuf_release(&ext);
    return ret < 0 ? -1 : undefined ? 1 : 0;
}

int local_forward_expand(const char *element, const struct local_recipient *r,
                         const struct local_privs *pw, strbuf *path, strbuf *err)
{
    int ret = local_expand_attrs(element, r, pw, local_cfg.forward_filter, path, err);
    if (ret == 0 && !path_is_plain_absolute(path->s)) {
        strbuf_printf(err,
                      "forward_path element \"%s\" expands to \"%s\": not an absolute path "
                      "without . or .. components",
                      element, path->s);
        ret = -1;
    }
    return ret;
}

void local_recipient_parse(struct local_recipient *r, const char *address, const char *extension,
                           strbuf *local_part)
{
    const char *at_sign = strrchr(address, '@');
    strbuf_reset(local_part);
    strbuf_append(local_part, address, at_sign ? (size_t)(at_sign - address) : strlen(address));
    const char *delims = local_cfg.recipient_delimiter;
    size_t cut = *delims ? strcspn(strbuf_str(local_part), delims) : local_part->len;
    r->address = address;
    r->local = strbuf_str(local_part);
    r->domain = at_sign ? at_sign + 1 : "";
    r->extension = extension && *extension ? extension : NULL;
    r->delimiter[0] = cut < local_part->len ? local_part->s[cut] : '\0';
    r->delimiter[1] = '\0';
}

/* The first .forward file along forward_path that exists, as text; NULL
 * when there is none (or the one found is refused: warned, and the
 * recipient gets its mailbox, as in Postfix). `stay`: when there is none,
 * return still as pw (the Maildir delivery that follows is made as pw);
 * otherwise, and whenever a file is found or something is logged, back
 * as root. */
static char *find_forward(const struct local_recipient *r, const struct local_privs *pw, bool stay)
{
    strbuf path = STRBUF_INIT, err = STRBUF_INIT;
    char *text = NULL;
    for (size_t i = 0; i < local_cfg.forward_path.n; i++) {
        strbuf_reset(&err);
        int ret = local_forward_expand(local_cfg.forward_path.v[i], r, pw, &path, &err);
        if (ret < 0) {
            /* The log is written (and maybe reopened) as root. */
            local_privs_leave();
            msg_warn("forward_path: %s", err.s);
        }
        if (ret != 0)
            continue;
        int fd = -1;
        enum list_open how = open_list_file(path.s, pw, true, stay, &fd, &err);
        if (how == LIST_ABSENT)
            continue;
        if (how == LIST_OPENED)
            text = read_list_file(fd, path.s, &err);
        if (text == NULL)
            msg_warn("%s", err.s);
        break;
    }
    strbuf_release(&path);
    strbuf_release(&err);
    return text;
}

void local_expand_recipient(struct local_attempt *at, const char *address, int depth)
{
    bool no_alias = address[0] == '\\';
    if (no_alias)
        address++;
    /* Canonical form for comparisons: local part lowercased, as Postfix
     * looks it up. */
    strbuf local = STRBUF_INIT, full = STRBUF_INIT, ext = STRBUF_INIT;
    const char *at_sign = strrchr(address, '@');
    size_t local_len = at_sign ? (size_t)(at_sign - address) : strlen(address);
    for (size_t i = 0; i < local_len; i++)
        strbuf_putc(&local, (char)tolower((unsigned char)address[i]));
    strbuf_printf(&full, "%s@%s", local.s, at_sign ? at_sign + 1 : local_cfg.myhostname);

    for (size_t i = 0; i < at->msg->delivered_to.n; i++) {
        if (strcasecmp(at->msg->delivered_to.v[i], full.s) == 0) {
            local_outcome(at, full.s, DELIVER_BOUNCED, "5.4.6", "mail forwarding loop for %s",
                          full.s);
            goto out;
        }
    }
    if (depth > MAX_EXPANSION_DEPTH || (!no_alias && strlist_contains(&at->path, full.s))) {
        local_outcome(at, full.s, DELIVER_BOUNCED, "5.4.6", "mail forwarding loop for %s", full.s);
        goto out;
    }
    strlist_push(&at->path, full.s);

    /* user+ext: look up the whole name first, then without the extension. */
    const char *delims = local_cfg.recipient_delimiter;
    strbuf base = STRBUF_INIT;
    strbuf_puts(&base, local.s);
    size_t cut = *delims ? strcspn(local.s, delims) : local.len;
    if (cut < local.len) {
        strbuf_puts(&ext, local.s + cut + 1);
        strbuf_truncate(&base, cut);
    }

    if (!no_alias) {
        strbuf value = STRBUF_INIT, err = STRBUF_INIT;
        enum map_result r = maps_find(local_cfg.alias_maps, local.s, 0, &value, &err);
        if (r == MAP_NOTFOUND && ext.len > 0)
            r = maps_find(local_cfg.alias_maps, base.s, 0, &value, &err);
        if (r == MAP_TEMPFAIL) {
            local_outcome(at, full.s, DELIVER_DEFERRED, "4.3.0", "alias database unavailable: %s",
                          err.s);
        } else if (r == MAP_FOUND) {
            struct local_privs privs;
            local_default_privs(&privs);
            expand_list(at, full.s, value.s, ORIGIN_ALIAS, &privs, depth);
        }
        strbuf_release(&value);
        strbuf_release(&err);
        if (r != MAP_NOTFOUND)
            goto pop;
    }

    struct pw_cache_entry pwent;
    const struct pw_cache_entry *pwd =
        pw_cache_lookup(&passwd_cache, base.s, &pwent) == 1 ? &pwent : NULL;
    if (pwd == NULL && *local_cfg.mailbox_transport) {
        /* mailbox_transport serves all local recipients, whether or not
         * they are in passwd (Dovecot may know virtual users). */
        local_deliver_pass(at, full.s, local_cfg.mailbox_transport);
        goto pop;
    }
    if (pwd == NULL) {
        local_outcome(at, full.s, DELIVER_BOUNCED, "5.1.1", "unknown user: \"%s\"", base.s);
        goto pop;
    }
    /* The entry is overwritten by the next lookup: copy. */
    char *home = xstrdup(pwd->dir), *shell = xstrdup(pwd->shell);
    char *user = xstrdup(pwd->name);
    struct local_privs pw = {pwd->uid, pwd->gid, user, home, shell};
    struct local_recipient rparts;
    strbuf rlocal = STRBUF_INIT;
    local_recipient_parse(&rparts, full.s, ext.s, &rlocal);
    /* A Maildir delivery follows when there is no .forward: look for it
     * as the user and stay so (two id switches less per message). */
    char *forward = no_alias ? NULL : find_forward(&rparts, &pw, local_mailbox_is_maildir(at));
    if (forward) {
        expand_list(at, full.s, forward, ORIGIN_FORWARD, &pw, depth);
        free(forward);
    } else {
        local_deliver_mailbox(at, full.s, &pw, ext.s);
    }
    strbuf_release(&rlocal);
    free(home);
    free(shell);
    free(user);
pop:
    strbuf_release(&base);
    free(at->path.v[--at->path.n]);
    at->path.v[at->path.n] = NULL;
out:
    strbuf_release(&local);
    strbuf_release(&full);
    strbuf_release(&ext);
}
