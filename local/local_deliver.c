/* local_deliver - write one message to a Maildir, an mbox, a file or a
 * command, with the recipient's privileges. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "command_run.h"
#include "config.h"
#include "fsutil.h"
#include "local.h"
#include "mailbox_maildir.h"
#include "mem.h"
#include "mailbox_mbox.h"
#include "msg.h"

/* The effective identity now: root, or `uid`/`gid` with the one group
 * gid. Kept so that entering the identity we are already in costs no
 * system call (a .forward looked for as the user, then the Maildir written
 * as the same user: local_expand.c). */
static struct {
    bool in;
    uid_t uid;
    gid_t gid;
} privs_now;

/* Switch effective ids (real ids stay root so we can switch back). */
int local_privs_enter(const struct local_privs *p)
{
    if (privs_now.in && privs_now.uid == p->uid && privs_now.gid == p->gid)
        return 0;
    local_privs_leave();
    if (setgroups(1, &p->gid) < 0 || setegid(p->gid) < 0 || seteuid(p->uid) < 0) {
        int saved = errno;
        if (seteuid(0) < 0 || setegid(0) < 0 || setgroups(0, NULL) < 0)
            msg_fatal("cannot restore root privileges: %m");
        errno = saved;
        return -1;
    }
    privs_now.in = true;
    privs_now.uid = p->uid;
    privs_now.gid = p->gid;
    return 0;
}

void local_privs_leave(void)
{
    if (!privs_now.in)
        return;
    if (seteuid(0) < 0 || setegid(0) < 0 || setgroups(0, NULL) < 0)
        msg_fatal("cannot restore root privileges: %m");
    privs_now.in = false;
}

#define privs_enter local_privs_enter
#define privs_leave local_privs_leave

/* A write failure as the recipient's outcome (mailbox_failure: too big
 * bounces, the rest defers). */
static void mailbox_failed(struct local_attempt *at, const char *recipient, int err_no,
                           const char *what, const strbuf *reason)
{
    struct mailbox_failure f = mailbox_failure(err_no);
    local_outcome(at, recipient, f.status, f.dsn, "cannot update %s: %s", what, strbuf_str(reason));
}

struct mailbox_render *local_render_open(struct local_message *msg, enum mailbox_format fmt,
                                         const char *recipient, const char *orig_rcpt, strbuf *err)
{
    const struct mailbox_message m = {
        .fd = msg->fd,
        .head = &msg->head,
        .record_limit = local_cfg.record_limit,
        .sender = msg->req->sender,
        .arrival = (time_t)(msg->req->arrival_us / 1000000),
    };
    return mailbox_render_open(&m, fmt, recipient,
                               local_cfg.enable_original_recipient ? orig_rcpt : NULL, err);
}

/* A Maildir file written to tmp/, waiting for the end of its batch. */
struct local_waiting_file {
    struct maildir_delivery *md;
    uid_t uid; /* its owner, who renames it into new/ */
    gid_t gid;
};

/* Take over md (left empty, so maildir_end does nothing to the file). */
static void batch_add(struct local_batch *b, struct maildir_delivery *md,
                      const struct local_privs *pw)
{
    struct maildir_delivery *kept = xmalloc(sizeof(*kept));
    *kept = *md;
    memset(md, 0, sizeof(*md));
    md->fd = -1;
    b->files = xreallocarray(b->files, b->nfiles + 1, sizeof(*b->files));
    b->files[b->nfiles++] = (struct local_waiting_file){kept, pw->uid, pw->gid};
}

/* The batch's first failure is its reason (every message of it defers). */
static void batch_failure(strbuf *failed, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void batch_failure(strbuf *failed, const char *fmt, ...)
{
    if (failed->len)
        return;
    va_list ap;
    va_start(ap, fmt);
    strbuf_puts(failed, "cannot update maildir: ");
    strbuf_vprintf(failed, fmt, ap);
    va_end(ap);
}

/* Step 2 or 4 of a batch (mailbox_maildir.h): fsync, all at once so that
 * their disk flushes can merge, the files still in the running whose
 * sync_after_rename is `after`. A file that fails is ended (its tmp/ name
 * removed) and marked in gone[]. */
static void batch_fsync(struct local_batch *b, bool after, bool *gone, strbuf *failed)
{
    int *fds = xcalloc(b->nfiles + 1, sizeof(*fds));
    int *errs = xcalloc(b->nfiles + 1, sizeof(*errs));
    size_t *which = xcalloc(b->nfiles + 1, sizeof(*which));
    size_t n = 0;
    for (size_t i = 0; i < b->nfiles; i++)
        if (!gone[i] && b->files[i].md->sync_after_rename == after) {
            which[n] = i;
            fds[n++] = b->files[i].md->fd;
        }
    (void)fsync_all(fds, n, errs);
    for (size_t k = 0; k < n; k++) {
        if (errs[k] == 0)
            continue;
        struct maildir_delivery *md = b->files[which[k]].md;
        batch_failure(failed, "fsync maildir file %s: %s",
                      after ? md->final_path.s : md->tmp_path.s, strerror(errs[k]));
        maildir_end(md);
        gone[which[k]] = true;
    }
    free(fds);
    free(errs);
    free(which);
}

int local_batch_commit(struct local_batch *b, strbuf *failed)
{
    bool *gone = xcalloc(b->nfiles + 1, sizeof(*gone));
    strbuf err = STRBUF_INIT;
    /* Step 2: every file's data on the disk before any rename. */
    for (size_t i = 0; i < b->nfiles; i++) {
        strbuf_reset(&err);
        if (b->files[i].md->sync_after_rename && maildir_write_out(b->files[i].md, &err) < 0) {
            batch_failure(failed, "%s", err.s);
            gone[i] = true;
        }
    }
    batch_fsync(b, false, gone, failed);
    /* Step 3, each file as its owner: a user must not be able to redirect
     * a rename done as root through symlinks in the Maildir. */
    bool entered = false;
    uid_t cur_uid = 0;
    gid_t cur_gid = 0;
    for (size_t i = 0; i < b->nfiles; i++) {
        struct local_waiting_file *f = &b->files[i];
        if (gone[i])
            continue;
        if (entered && (f->uid != cur_uid || f->gid != cur_gid)) {
            privs_leave();
            entered = false;
        }
        struct local_privs pw = {.uid = f->uid, .gid = f->gid};
        if (!entered && privs_enter(&pw) < 0) {
            batch_failure(failed, "cannot switch to uid %ld: %s", (long)f->uid, strerror(errno));
            gone[i] = true;
            continue;
        }
        entered = true;
        cur_uid = f->uid;
        cur_gid = f->gid;
        strbuf_reset(&err);
        if (maildir_publish(f->md, &err) < 0) {
            batch_failure(failed, "%s", err.s);
            gone[i] = true;
        } else if (!f->md->sync_after_rename) {
            strbuf nd = STRBUF_INIT;
            strbuf_printf(&nd, "%s/new", f->md->dir.s);
            if (!strlist_contains(&b->new_dirs, nd.s))
                strlist_push(&b->new_dirs, nd.s);
            strbuf_release(&nd);
        }
    }
    if (entered)
        privs_leave();
    /* Step 4: the renamed files fsynced again, all at once; one fsync per
     * new/ directory for the others. */
    batch_fsync(b, true, gone, failed);
    for (size_t k = 0; k < b->new_dirs.n; k++)
        if (fsync_dir(b->new_dirs.v[k]) < 0)
            batch_failure(failed, "fsync maildir directory %s: %s", b->new_dirs.v[k],
                          strerror(errno));
    for (size_t i = 0; i < b->nfiles; i++) {
        maildir_end(b->files[i].md); /* removes the tmp/ file if it was not moved */
        free(b->files[i].md);
    }
    XFREE(b->files);
    b->nfiles = 0;
    strbuf_release(&err);
    free(gone);
    return failed->len ? -1 : 0;
}

static void deliver_maildir(struct local_attempt *at, const char *recipient, const char *dir,
                            const struct local_privs *pw)
{
    strbuf err = STRBUF_INIT;
    struct maildir_delivery md;
    struct mailbox_render *r = NULL;
    int ret = -1, err_no = 0;
    if (privs_enter(pw) < 0) {
        local_outcome(at, recipient, DELIVER_DEFERRED, "4.3.0", "cannot switch to uid %ld: %s",
                      (long)pw->uid, strerror(errno));
        return;
    }
    /* mailbox_size_limit is counted by the writer (a new file, so its size
     * is what is written): no setrlimit pair per message. */
    if (maildir_begin(&md, dir, maildir_local_hostname(), &err) == 0) {
        maildir_set_size_limit(&md, local_cfg.mailbox_size_limit);
        r = local_render_open(at->msg, MAILBOX_FORMAT_MAILDIR, recipient, at->rcpt->orig_rcpt,
                              &err);
        int n = r ? mailbox_render_to_maildir(r, &md, &err) : -1;
        if (n == 0 && at->msg->batch) {
            /* Batch: synced and moved to new/ with the others at its end;
             * its data on the way to the disk meanwhile. */
            ret = maildir_finish_write(&md, &err);
            if (ret == 0) {
                maildir_start_write_out(&md);
                batch_add(at->msg->batch, &md, pw);
                at->msg->pending_sync = true;
            }
        } else if (n == 0) {
            ret = maildir_commit(&md, &err);
        }
        err_no = errno;
    } else {
        err_no = errno;
    }
    mailbox_render_close(&r);
    maildir_end(&md);
    privs_leave();
    if (ret == 0)
        local_outcome(at, recipient, DELIVER_SENT, "2.0.0", "delivered to maildir");
    else
        mailbox_failed(at, recipient, err_no, "maildir", &err);
    strbuf_release(&err);
}

/* Append in mbox format; the caller has set privileges. */
static int append_mbox(struct local_attempt *at, const char *recipient, const char *path,
                       uid_t owner, strbuf *err)
{
    struct mbox_delivery mb;
    int ret = -1;
    struct rlimit old = mailbox_size_limit_enter(local_cfg.mailbox_size_limit);
    if (mbox_begin(&mb, path, local_cfg.lock_methods, owner, err) == 0) {
        struct mailbox_render *r =
            local_render_open(at->msg, MAILBOX_FORMAT_MBOX, recipient, at->rcpt->orig_rcpt, err);
        if (r && mailbox_render_to_mbox(r, &mb, err) == 0)
            ret = mbox_commit(&mb, err);
        mailbox_render_close(&r);
    }
    int saved = errno;
    mbox_end(&mb);
    mailbox_size_limit_leave(old);
    errno = saved;
    return ret;
}

/* The spool directory (/var/mail) is not writable by users: create the
 * mailbox as root, owned by the user, and refuse one that isn't theirs. */
static int spool_mailbox_ready(const char *path, const struct local_privs *pw, strbuf *err)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd >= 0) {
        int ret = fchown(fd, pw->uid, pw->gid);
        int saved = errno;
        close(fd);
        if (ret < 0) {
            unlink(path);
            errno = saved;
            strbuf_printf(err, "chown %s: %s", path, strerror(saved));
            return -1;
        }
        return 0;
    }
    if (errno != EEXIST) {
        strbuf_printf(err, "create %s: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (lstat(path, &st) < 0) {
        strbuf_printf(err, "lstat %s: %s", path, strerror(errno));
        return -1;
    }
    if (!S_ISREG(st.st_mode) || st.st_nlink != 1 || st.st_uid != pw->uid) {
        errno = EPERM;
        strbuf_printf(err, "mailbox %s is not a regular file owned by %s", path, pw->user);
        return -1;
    }
    return 0;
}

bool local_mailbox_is_maildir(const struct local_attempt *at)
{
    const char *hm = local_cfg.home_mailbox;
    return !*local_cfg.mailbox_transport && !*local_cfg.mailbox_command && !local_verifying(at) &&
           *hm && hm[strlen(hm) - 1] == '/';
}

void local_deliver_mailbox(struct local_attempt *at, const char *recipient,
                           const struct local_privs *pw, const char *extension)
{
    /* Postfix's precedence: mailbox_transport, then mailbox_command, then
     * home_mailbox, then the spool. */
    if (*local_cfg.mailbox_transport) {
        local_deliver_pass(at, recipient, local_cfg.mailbox_transport);
        return;
    }
    if (*local_cfg.mailbox_command) {
        local_deliver_command(at, recipient, local_cfg.mailbox_command, pw, extension);
        return;
    }
    const char *hm = local_cfg.home_mailbox;
    if (local_verifying(at)) {
        bool maildir = *hm && hm[strlen(hm) - 1] == '/';
        local_outcome(at, recipient, DELIVER_SENT, "2.0.0", "delivers to %s",
                      maildir ? "maildir" : "mailbox");
        return;
    }
    strbuf path = STRBUF_INIT, err = STRBUF_INIT;
    if (*hm) {
        strbuf_printf(&path, "%s/%s", pw->home, hm);
        if (hm[strlen(hm) - 1] == '/') {
            deliver_maildir(at, recipient, path.s, pw);
        } else if (privs_enter(pw) < 0) {
            local_outcome(at, recipient, DELIVER_DEFERRED, "4.3.0", "cannot switch to uid %ld",
                          (long)pw->uid);
        } else {
            int ret = append_mbox(at, recipient, path.s, pw->uid, &err);
            int err_no = errno;
            privs_leave();
            if (ret == 0)
                local_outcome(at, recipient, DELIVER_SENT, "2.0.0", "delivered to mailbox");
            else
                mailbox_failed(at, recipient, err_no, "mailbox", &err);
        }
    } else {
        strbuf_printf(&path, "%s/%s", local_cfg.mail_spool_directory, pw->user);
        int ret = spool_mailbox_ready(path.s, pw, &err);
        if (ret == 0)
            ret = append_mbox(at, recipient, path.s, pw->uid, &err);
        if (ret == 0)
            local_outcome(at, recipient, DELIVER_SENT, "2.0.0", "delivered to mailbox");
        else
            mailbox_failed(at, recipient, errno, "mailbox", &err);
    }
    strbuf_release(&path);
    strbuf_release(&err);
}

const struct local_privs *local_unprivileged(const struct local_privs *privs,
                                             struct local_privs *storage)
{
    if (privs->uid != 0 && privs->gid != 0)
        return privs;
    struct local_privs dflt;
    local_default_privs(&dflt);
    if (dflt.uid == 0 || dflt.gid == 0)
        return NULL;
    *storage = *privs;
    storage->uid = dflt.uid;
    storage->gid = dflt.gid;
    return storage;
}

void local_deliver_file(struct local_attempt *at, const char *recipient, const char *path,
                        const struct local_privs *privs)
{
    if (local_verifying(at)) {
        local_outcome(at, recipient, DELIVER_SENT, "2.0.0", "delivers to file: %s", path);
        return;
    }
    struct local_privs storage;
    if ((privs = local_unprivileged(privs, &storage)) == NULL) {
        local_outcome(at, recipient, DELIVER_DEFERRED, "4.3.5",
                      "mail system configuration error: default_privs is a privileged account");
        return;
    }
    strbuf err = STRBUF_INIT;
    if (privs_enter(privs) < 0) {
        local_outcome(at, recipient, DELIVER_DEFERRED, "4.3.0", "cannot switch to uid %ld",
                      (long)privs->uid);
        return;
    }
    int ret = append_mbox(at, recipient, path, (uid_t)-1, &err);
    int err_no = errno;
    privs_leave();
    if (ret == 0)
        local_outcome(at, recipient, DELIVER_SENT, "2.0.0", "delivered to file: %s", path);
    else if (err_no == EFBIG)
        local_outcome(at, recipient, DELIVER_BOUNCED, "5.2.2",
                      "cannot append message to file %s: %s", path, strbuf_str(&err));
    else
        local_outcome(at, recipient,
                      err_no == EACCES || err_no == EPERM ? DELIVER_BOUNCED : DELIVER_DEFERRED,
                      err_no == EACCES || err_no == EPERM ? "5.2.0" : "4.2.0",
                      "cannot append message to file %s: %s", path, strbuf_str(&err));
    strbuf_release(&err);
}

struct command_input {
    struct mailbox_render *render;
    strbuf *err;
};

static ssize_t command_input(void *ctx, const char **data)
{
    struct command_input *in = ctx;
    return mailbox_render_next(in->render, data, in->err);
}

/* NAME=value with the value censored by command_expansion_filter, as
 * Postfix does for everything it exports: a command may paste $RECIPIENT
 * into a shell line, so the sender's bytes outside the filter become '_'. */
static void env_add(strlist *env, const char *name, const char *value)
{
    strbuf sb = STRBUF_INIT;
    strbuf_printf(&sb, "%s=", name);
    config_filter_append(&sb, value ? value : "", local_cfg.command_filter);
    strlist_push_owned(env, strbuf_detach(&sb));
}

/* Our own values (PATH, TZ), not censored. */
static void env_add_trusted(strlist *env, const char *name, const char *value)
{
    strbuf sb = STRBUF_INIT;
    strbuf_printf(&sb, "%s=%s", name, value);
    strlist_push_owned(env, strbuf_detach(&sb));
}

/* The command's working directory: command_execution_directory expanded
 * for this recipient, else the home directory when it exists, else "/".
 * -1: the parameter cannot be expanded (a configuration error). */
static int command_cwd(const char *recipient, const struct local_privs *privs,
                       const char *extension, strbuf *cwd)
{
    strbuf_reset(cwd);
    if (*local_cfg.exec_directory) {
        struct local_recipient r;
        strbuf local_part = STRBUF_INIT, err = STRBUF_INIT;
        local_recipient_parse(&r, recipient, extension, &local_part);
        int ret = local_expand_attrs(local_cfg.exec_directory, &r, privs, local_cfg.exec_filter,
                                     cwd, &err);
        if (ret < 0)
            msg_warn("bad parameter value syntax for command_execution_directory: %s", err.s);
        strbuf_release(&local_part);
        strbuf_release(&err);
        if (ret < 0)
            return -1;
        if (ret == 0 && cwd->len > 0)
            return 0;
        strbuf_reset(cwd);
    }
    struct stat st;
    strbuf_puts(cwd, stat(privs->home, &st) == 0 && S_ISDIR(st.st_mode) ? privs->home : "/");
    return 0;
}

void local_deliver_command(struct local_attempt *at, const char *recipient, const char *command,
                           const struct local_privs *privs, const char *extension)
{
    if (local_verifying(at)) {
        local_outcome(at, recipient, DELIVER_SENT, "2.0.0", "delivers to command: %s", command);
        return;
    }
    struct local_privs storage;
    if ((privs = local_unprivileged(privs, &storage)) == NULL) {
        local_outcome(at, recipient, DELIVER_DEFERRED, "4.3.5",
                      "mail system configuration error: default_privs is a privileged account");
        return;
    }
    const struct deliver_request *req = at->msg->req;
    strlist env = STRLIST_INIT;
    env_add_trusted(&env, "PATH", "/usr/bin:/bin");
    env_add(&env, "HOME", privs->home);
    env_add(&env, "LOGNAME", privs->user);
    env_add(&env, "USER", privs->user);
    env_add(&env, "SHELL", privs->shell);
    const char *tz = getenv("TZ");
    if (tz)
        env_add_trusted(&env, "TZ", tz);
    const char *at_sign = strrchr(recipient, '@');
    strbuf local_part = STRBUF_INIT;
    strbuf_append(&local_part, recipient,
                  at_sign ? (size_t)(at_sign - recipient) : strlen(recipient));
    env_add(&env, "LOCAL", local_part.s);
    env_add(&env, "DOMAIN", at_sign ? at_sign + 1 : "");
    env_add(&env, "EXTENSION", extension);
    env_add(&env, "RECIPIENT", recipient);
    env_add(&env, "ORIGINAL_RECIPIENT", at->rcpt->orig_rcpt);
    env_add(&env, "SENDER", req->sender);
    env_add(&env, "ENVID", req->envid);
    strbuf_release(&local_part);

    strbuf err = STRBUF_INIT;
    struct mailbox_render *render =
        local_render_open(at->msg, MAILBOX_FORMAT_COMMAND, recipient, at->rcpt->orig_rcpt, &err);
    if (render == NULL) {
        local_outcome(at, recipient, DELIVER_DEFERRED, "4.3.0", "cannot read queue file: %s",
                      err.s);
        strlist_release(&env);
        strbuf_release(&err);
        return;
    }
    strbuf cwd = STRBUF_INIT;
    if (command_cwd(recipient, privs, extension, &cwd) < 0) {
        local_outcome(at, recipient, DELIVER_DEFERRED, "4.3.5", "mail system configuration error");
        mailbox_render_close(&render);
        strlist_release(&env);
        strbuf_release(&err);
        strbuf_release(&cwd);
        return;
    }
    struct command_input in = {render, &err};
    struct command_request creq = {
        .shell_command = command,
        .env = env.v,
        .cwd = cwd.s,
        .set_ids = true,
        .uid = privs->uid,
        .gid = privs->gid,
        .time_limit = local_cfg.command_time_limit,
        .output_limit = 1024,
        .input = command_input,
        .input_ctx = &in,
    };
    struct command_result res;
    if (command_run(&creq, &res, &err) < 0) {
        local_outcome(at, recipient, DELIVER_DEFERRED, "4.3.0", "cannot run command: %s", err.s);
    } else if (res.input_error) {
        local_outcome(at, recipient, DELIVER_DEFERRED, "4.3.0", "cannot read queue file: %s",
                      err.s);
    } else if (res.outcome == COMMAND_OK) {
        local_outcome(at, recipient, DELIVER_SENT, "2.0.0", "delivered to command: %s", command);
    } else {
        local_outcome(at, recipient,
                      res.outcome == COMMAND_DEFER ? DELIVER_DEFERRED : DELIVER_BOUNCED, res.dsn,
                      "%s", res.reason.s);
    }
    command_result_release(&res);
    mailbox_render_close(&render);
    strlist_release(&env);
    strbuf_release(&err);
    strbuf_release(&cwd);
}
