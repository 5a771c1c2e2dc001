/* postfix - control the mail system (postfix(1) compatible).
 *
 * Usage: postfix [-c config_dir] [-v] command
 *   check            validate main.cf/master.cf, users, and the queue tree;
 *                    create missing queue directories, warn about bad owners;
 *                    then the lab checklist ("lab check:" + "fix:" lines,
 *                    postfix_lab.h)
 *   set-permissions  like check, and also fix owners and modes (postdrop and
 *                    postqueue in command_directory: root:$setgid_group 2755)
 *   start            check, run postsuper (-s -p: queue structure, crash
 *                    leftovers; as Postfix's postfix-script), prepare the
 *                    chroot (below), then start master and wait until it runs
 *   start-fg         the same, then run master in the foreground (exec)
 *   stop             SIGTERM to master, wait for it and its children, then
 *                    SIGKILL what is left ("stopping ... with force")
 *   abort            SIGTERM to master without waiting
 * As in Postfix's postfix-script, stop and abort send master the same
 * SIGTERM (master passes it on to its children, master(8)); they differ
 * only in waiting and forcing.
 *   reload           SIGHUP to master
 *   status           "the Postfix mail system is running: PID: N" (exit 0)
 *                    or "... is not running" (exit 1)
 *   flush            postqueue -f: deliver what is deferred now
 *   logrotate        rename maillog_file to <name>.<date +suffix>
 *                    (maillog_file_rotate_suffix), reload master so new
 *                    processes write the new file (root processes also
 *                    notice the rename themselves, lib/util/msg), wait a
 *                    second for writers still on the old file, then run
 *                    maillog_file_compressor on it (empty: none)
 *   upgrade-configuration  nothing to do here (our defaults are Postfix 3.7's
 *                    and main.cf/master.cf are read as they are): says so
 * Messages go to stderr as "postfix/postfix-script: text" and to the mail log.
 *
 * Chroot preparation (start, start-fg), as Debian's init script does it:
 * when any master.cf service has chroot = y, /etc/resolv.conf, services,
 * hosts, localtime and nsswitch.conf are copied into $queue_directory/etc
 * (root-owned, 0644; localtime's symlink followed) on every start, so a
 * chrooted smtp or smtpd resolves names and ports with the host's current
 * settings. A file missing on the host is skipped; a failed copy is a
 * warning (the service still runs, with degraded lookups).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "mail_log.h"
#include "config_fidelity.h"
#include "master_cf.h"
#include "msg.h"
#include "postfix_lab.h"
#include "strbuf.h"

#define EX_USAGE 64
#define EX_UNAVAILABLE 69
#define EX_SOFTWARE 70
#define EX_CONFIG 78

static const char *config_dir;
static uid_t owner_uid;
static gid_t owner_gid, setgid_gid;

static void say(const char *level, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
static void say(const char *level, const char *fmt, va_list ap)
{
    strbuf sb = STRBUF_INIT;
    strbuf_vprintf(&sb, fmt, ap);
    fprintf(stderr, "postfix/postfix-script: %s%s\n", level, sb.s);
    if (*level == 'f')
        msg_error("%s", sb.s);
    else if (*level == 'w')
        msg_warn("%s", sb.s);
    else
        msg_info("%s", sb.s);
    strbuf_release(&sb);
}

static void info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void info(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    say("", fmt, ap);
    va_end(ap);
}

static void warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void warn(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    say("warning: ", fmt, ap);
    va_end(ap);
}

static _Noreturn void fail(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static _Noreturn void fail(int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    say("fatal: ", fmt, ap);
    va_end(ap);
    exit(status);
}

struct qdir {
    const char *name;
    bool root_owned;
    bool setgid_group;
    mode_t mode;
};

static const struct qdir queue_dirs[] = {
    {"maildrop", false, true, 0730}, {"public", false, true, 0710},
    {"private", false, false, 0700}, {"incoming", false, false, 0700},
    {"active", false, false, 0700},  {"deferred", false, false, 0700},
    {"hold", false, false, 0700},    {"corrupt", false, false, 0700},
    {"bounce", false, false, 0700},  {"defer", false, false, 0700},
    {"trace", false, false, 0700},   {"flush", false, false, 0700},
    {"saved", false, false, 0700},   {"pid", true, false, 0755},
};

static void resolve_users(void)
{
    const char *owner = config_get("mail_owner");
    struct passwd *pw = getpwnam(owner);
    if (!pw)
        fail(EX_CONFIG,
             "mail_owner \"%s\" is not a user on this system: create it (useradd --system %s)",
             owner, owner);
    if (pw->pw_uid == 0)
        fail(EX_CONFIG, "mail_owner \"%s\" must not be root or have user ID 0", owner);
    owner_uid = pw->pw_uid;
    owner_gid = pw->pw_gid;
    const char *grp = config_get("setgid_group");
    struct group *gr = getgrnam(grp);
    if (!gr)
        fail(EX_CONFIG,
             "setgid_group \"%s\" is not a group on this system: create it (groupadd --system %s)",
             grp, grp);
    if (gr->gr_gid == owner_gid)
        fail(EX_CONFIG, "setgid_group \"%s\" must differ from the mail_owner's group", grp);
    setgid_gid = gr->gr_gid;
}

/* Make sure `path` is a directory with the given owner and mode: create it
 * when missing; fix (set-permissions) or warn (check) when different. */
static void ensure_dir(const char *path, uid_t uid, gid_t gid, bool check_gid, mode_t mode,
                       bool fix)
{
    struct stat st;
    if (lstat(path, &st) < 0) {
        if (errno != ENOENT)
            fail(EX_UNAVAILABLE, "lstat %s: %m", path);
        info("creating missing directory %s", path);
        if (mkdir(path, mode) < 0)
            fail(EX_UNAVAILABLE, "mkdir %s: %m", path);
        if (chown(path, uid, gid) < 0)
            fail(EX_UNAVAILABLE, "chown %s: %m", path);
        if (chmod(path, mode) < 0)
            fail(EX_UNAVAILABLE, "chmod %s: %m", path);
        return;
    }
    if (!S_ISDIR(st.st_mode))
        fail(EX_CONFIG, "%s exists and is not a directory", path);
    bool bad_owner = st.st_uid != uid || (check_gid && st.st_gid != gid);
    bool bad_mode = (st.st_mode & 07777) != mode;
    if (!bad_owner && !bad_mode)
        return;
    if (!fix) {
        if (bad_owner)
            warn("not owned by %s: %s", uid == 0 ? "root" : config_get("mail_owner"), path);
        if (bad_mode)
            warn("bad mode %04o (expected %04o): %s", (unsigned)(st.st_mode & 07777),
                 (unsigned)mode, path);
        return;
    }
    if (bad_owner && chown(path, uid, check_gid ? gid : (gid_t)-1) < 0)
        fail(EX_UNAVAILABLE, "chown %s: %m", path);
    if (bad_mode && chmod(path, mode) < 0)
        fail(EX_UNAVAILABLE, "chmod %s: %m", path);
}

/* postdrop and postqueue must be setgid $setgid_group, or an ordinary
 * user's mail fails ("postdrop: Permission denied": maildrop/ is 0730
 * postfix:postdrop). As Postfix's postfix-files: root:$setgid_group, mode
 * 2755; check warns as postfix-script does (group first, then mode, which
 * needs at least setgid and u+x,g+x,o+x). */
static void ensure_setgid_commands(bool fix)
{
    static const char *const names[] = {"postqueue", "postdrop"};
    enum { N = sizeof(names) / sizeof(names[0]) };
    struct stat st[N];
    bool found[N];
    strbuf path[N] = {STRBUF_INIT, STRBUF_INIT};
    const char *cdir = config_get("command_directory");
    for (size_t i = 0; i < N; i++) {
        strbuf_printf(&path[i], "%s/%s", cdir, names[i]);
        found[i] = stat(path[i].s, &st[i]) == 0;
        if (!found[i])
            warn("cannot check %s: %m", path[i].s);
    }
    for (size_t i = 0; i < N; i++) {
        if (!found[i])
            continue;
        bool bad_owner = st[i].st_uid != 0 || st[i].st_gid != setgid_gid;
        if (fix) {
            if (bad_owner && chown(path[i].s, 0, setgid_gid) < 0)
                fail(EX_UNAVAILABLE, "chown %s: %m", path[i].s);
            /* chown clears the setgid bit: set the mode after it. */
            if ((bad_owner || (st[i].st_mode & 07777) != 02755) && chmod(path[i].s, 02755) < 0)
                fail(EX_UNAVAILABLE, "chmod %s: %m", path[i].s);
        } else if (st[i].st_gid != setgid_gid) {
            warn("not owned by group %s: %s", config_get("setgid_group"), path[i].s);
        }
    }
    for (size_t i = 0; i < N && !fix; i++)
        if (found[i] && (st[i].st_mode & 02111) != 02111)
            warn("not set-gid or not owner+group+world executable: %s", path[i].s);
    for (size_t i = 0; i < N; i++)
        strbuf_release(&path[i]);
}

static pid_t running_pid(void);

/* The lab checklist (postfix_lab.h): each finding, then its fix. They are
 * said as "lab check:" lines (logged as information), apart from the
 * "warning:" lines about the configuration itself: they describe this
 * host, its accounts and DNS, and never make check fail. */
static void lab_line(const char *prefix, const char *text)
{
    fprintf(stderr, "postfix/postfix-script: %s%s\n", prefix, text);
    msg_info("%s%s", prefix, text);
}

static void lab_checks(const master_cf *cf)
{
    struct lab_findings f = LAB_FINDINGS_INIT;
    postfix_lab_check(cf, running_pid() != 0, &f);
    for (size_t i = 0; i < f.problems.n; i++) {
        lab_line("lab check: ", f.problems.v[i]);
        lab_line("fix: ", f.fixes.v[i]);
    }
    lab_findings_release(&f);
}

/* report_config (check and set-permissions): report main.cf parameters
 * nothing uses, settings we do not honour, and smtpd restrictions smtpd
 * cannot evaluate -- those make the command fail once everything else was
 * checked. On start master reports the same, once, as warnings. */
static void check(bool fix, bool report_config)
{
    resolve_users();
    strbuf path = STRBUF_INIT, err = STRBUF_INIT;
    strbuf_printf(&path, "%s/master.cf", config_dir);
    master_cf *cf = NULL;
    if (master_cf_load(path.s, &cf, &err) < 0)
        fail(EX_CONFIG, "%s", err.s);
    size_t restriction_errors = 0;
    if (report_config) {
        master_cf_register_config(cf);
        msg_stderr_warnings(true);
        (void)config_warn_unused();
        restriction_errors = config_fidelity_check(cf, true).restrictions;
        msg_stderr_warnings(false);
        if (!fix)
            lab_checks(cf);
    }
    master_cf_free(&cf);
    strbuf_set(&path, config_get("daemon_directory"));
    strbuf_puts(&path, "/master");
    if (access(path.s, X_OK) < 0)
        fail(EX_CONFIG, "%s: %m (check daemon_directory in %s/main.cf)", path.s, config_dir);

    const char *qdir = config_get("queue_directory");
    if (qdir[0] != '/')
        fail(EX_CONFIG, "queue_directory must be an absolute path: \"%s\"", qdir);
    ensure_dir(qdir, 0, 0, false, 0755, fix);
    for (size_t i = 0; i < sizeof(queue_dirs) / sizeof(queue_dirs[0]); i++) {
        const struct qdir *q = &queue_dirs[i];
        strbuf_reset(&path);
        strbuf_printf(&path, "%s/%s", qdir, q->name);
        if (q->root_owned)
            ensure_dir(path.s, 0, 0, false, q->mode, fix);
        else
            ensure_dir(path.s, owner_uid, q->setgid_group ? setgid_gid : owner_gid, q->setgid_group,
                       q->mode, fix);
    }
    const char *ddir = config_get("data_directory");
    if (*ddir)
        ensure_dir(ddir, owner_uid, owner_gid, false, 0700, fix);
    ensure_setgid_commands(fix);
    strbuf_release(&path);
    strbuf_release(&err);
    if (restriction_errors > 0)
        fail(EX_CONFIG, "%zu smtpd restriction%s that this version cannot evaluate (see above)",
             restriction_errors, restriction_errors == 1 ? "" : "s");
}

/* Pid of the running master, or 0. */
static pid_t running_pid(void)
{
    strbuf path = STRBUF_INIT;
    strbuf_printf(&path, "%s/pid/master.pid", config_get("queue_directory"));
    int fd = open(path.s, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno != ENOENT)
            fail(EX_UNAVAILABLE, "open %s: %m", path.s);
        strbuf_release(&path);
        return 0;
    }
    pid_t pid = 0;
    if (flock(fd, LOCK_SH | LOCK_NB) < 0) {
        if (errno != EWOULDBLOCK)
            fail(EX_UNAVAILABLE, "lock %s: %m", path.s);
        char buf[64];
        ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
        if (n > 0) {
            buf[n] = '\0';
            long v = strtol(buf, NULL, 10);
            pid = v > 1 ? (pid_t)v : 0;
        }
        if (pid == 0)
            fail(EX_SOFTWARE, "%s is locked but holds no process ID", path.s);
    }
    close(fd);
    strbuf_release(&path);
    return pid;
}

/* Does process group `pgid` still have a live (non-zombie) member? A master
 * reparented to an init that reaps slowly stays a zombie for a while. */
static bool group_alive(pid_t pgid)
{
    DIR *d = opendir("/proc");
    if (!d)
        return kill(-pgid, 0) == 0 || errno == EPERM;
    bool found = false;
    struct dirent *de;
    strbuf path = STRBUF_INIT;
    char buf[512];
    while (!found && (de = readdir(d)) != NULL) {
        if (de->d_name[0] < '0' || de->d_name[0] > '9')
            continue;
        strbuf_reset(&path);
        strbuf_printf(&path, "/proc/%s/stat", de->d_name);
        int fd = open(path.s, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            continue;
        ssize_t n = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        if (n <= 0)
            continue;
        buf[n] = '\0';
        /* "pid (comm) state ppid pgrp ...": comm may hold spaces and parens. */
        char *rp = strrchr(buf, ')');
        char state;
        long ppid, pgrp;
        if (rp && sscanf(rp + 1, " %c %ld %ld", &state, &ppid, &pgrp) == 3 && pgrp == pgid &&
            state != 'Z' && state != 'X')
            found = true;
    }
    closedir(d);
    strbuf_release(&path);
    return found;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

static char *master_path(void)
{
    strbuf sb = STRBUF_INIT;
    strbuf_printf(&sb, "%s/master", config_get("daemon_directory"));
    return strbuf_detach(&sb);
}

/* Postfix's "check-fatal" step: postsuper without options fixes the queue
 * structure and removes what crashed writers left behind. */
static void run_postsuper(void)
{
    strbuf path = STRBUF_INIT;
    strbuf_printf(&path, "%s/postsuper", config_get("command_directory"));
    pid_t pid = fork();
    if (pid < 0)
        fail(EX_UNAVAILABLE, "fork: %m");
    if (pid == 0) {
        char *argv[] = {path.s, "-c", (char *)config_dir, NULL};
        execv(path.s, argv);
        fprintf(stderr, "postfix/postfix-script: fatal: exec %s: %m\n", path.s);
        _exit(EX_UNAVAILABLE);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            fail(EX_SOFTWARE, "waitpid: %m");
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail(1, "Postfix integrity check failed!");
    strbuf_release(&path);
}

/* The host files a chrooted service needs for name and port lookups. */
static const char *const chroot_files[] = {"resolv.conf", "services", "hosts", "localtime",
                                           "nsswitch.conf"};

/* Copy `src` to `dst` through a temporary file and rename, so a chrooted
 * process never reads a half-written file. 0 or -1 (errno set). */
static int copy_file(const char *src, const char *dst)
{
    int in = open(src, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return -1;
    strbuf tmp = STRBUF_INIT;
    strbuf_printf(&tmp, "%s.tmp.%ld", dst, (long)getpid());
    int out = open(tmp.s, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
    int rc = -1, saved = 0;
    if (out >= 0) {
        char buf[8192];
        ssize_t n;
        rc = 0;
        while (rc == 0 && (n = read(in, buf, sizeof(buf))) != 0) {
            if (n < 0) {
                if (errno != EINTR)
                    rc = -1;
                continue;
            }
            for (ssize_t off = 0; rc == 0 && off < n;) {
                ssize_t w = write(out, buf + off, (size_t)(n - off));
                if (w < 0 && errno != EINTR)
                    rc = -1;
                else if (w > 0)
                    off += w;
            }
        }
        /* umask may have narrowed the mode; chrooted daemons read as mail_owner. */
        if (rc == 0 && (fchown(out, 0, 0) < 0 || fchmod(out, 0644) < 0))
            rc = -1;
        if (close(out) < 0)
            rc = -1;
        if (rc == 0 && rename(tmp.s, dst) < 0)
            rc = -1;
        saved = errno;
        if (rc < 0)
            (void)unlink(tmp.s);
    } else {
        saved = errno;
    }
    close(in);
    strbuf_release(&tmp);
    errno = saved;
    return rc;
}

static void prepare_chroot(void)
{
    strbuf path = STRBUF_INIT, err = STRBUF_INIT;
    strbuf_printf(&path, "%s/master.cf", config_dir);
    master_cf *cf = NULL;
    if (master_cf_load(path.s, &cf, &err) < 0)
        fail(EX_CONFIG, "%s", err.s);
    bool any = false;
    for (size_t i = 0; i < cf->n && !any; i++)
        any = cf->entries[i]->chroot;
    master_cf_free(&cf);
    if (any) {
        strbuf_set(&path, config_get("queue_directory"));
        strbuf_puts(&path, "/etc");
        if (mkdir(path.s, 0755) < 0 && errno != EEXIST)
            warn("cannot create %s for chrooted services: %m", path.s);
        size_t base = path.len;
        for (size_t i = 0; i < sizeof(chroot_files) / sizeof(chroot_files[0]); i++) {
            /* err is free now: it holds the source name. */
            strbuf_reset(&err);
            strbuf_printf(&err, "/etc/%s", chroot_files[i]);
            if (access(err.s, R_OK) < 0)
                continue;
            strbuf_truncate(&path, base);
            strbuf_printf(&path, "/%s", chroot_files[i]);
            if (copy_file(err.s, path.s) < 0)
                warn("cannot copy %s to %s for chrooted services: %m", err.s, path.s);
        }
    }
    strbuf_release(&path);
    strbuf_release(&err);
}

static void start(void)
{
    check(false, false);
    if (running_pid())
        fail(1, "the Postfix mail system is already running");
    run_postsuper();
    prepare_chroot();
    info("starting the Postfix mail system");
    char *path = master_path();
    pid_t pid = fork();
    if (pid < 0)
        fail(EX_UNAVAILABLE, "fork: %m");
    if (pid == 0) {
        char *argv[] = {path, "-c", (char *)config_dir, "-w", NULL};
        execv(path, argv);
        fprintf(stderr, "postfix/postfix-script: fatal: exec %s: %m\n", path);
        _exit(EX_UNAVAILABLE);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            fail(EX_SOFTWARE, "waitpid: %m");
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail(1, "mail system startup failed");
    for (int i = 0; i < 100; i++) {
        if (running_pid())
            return;
        sleep_ms(50);
    }
    fail(1, "mail system startup failed: no master process after 5 seconds");
}

static void stop(void)
{
    pid_t pid = running_pid();
    if (!pid) {
        info("the Postfix mail system is not running");
        exit(1);
    }
    info("stopping the Postfix mail system");
    if (kill(pid, SIGTERM) < 0 && errno != ESRCH)
        fail(EX_UNAVAILABLE, "kill %ld: %m", (long)pid);
    /* master holds the pid file lock until it exits. */
    for (int i = 0; i < 200 && running_pid() == pid; i++) {
        if (i > 0 && i % 20 == 0)
            info("waiting for the Postfix mail system to terminate");
        sleep_ms(50);
    }
    if (running_pid() == pid) {
        warn("stopping the Postfix mail system with force");
        if (kill(-pid, SIGKILL) < 0 && errno != ESRCH)
            fail(EX_UNAVAILABLE, "kill -%ld: %m", (long)pid);
    }
    /* Children got SIGTERM from master; wait for the process group to empty. */
    for (int i = 0; i < 200 && group_alive(pid); i++)
        sleep_ms(25);
    if (group_alive(pid)) {
        warn("killing the remaining processes of the Postfix mail system");
        if (kill(-pid, SIGKILL) < 0 && errno != ESRCH)
            fail(EX_UNAVAILABLE, "kill -%ld: %m", (long)pid);
    }
}

/* Run argv[0] (a path, or a name looked up in PATH) and wait: its exit
 * status, or -1 when it could not run or died of a signal. */
static int run_wait(char *const argv[])
{
    pid_t pid = fork();
    if (pid < 0)
        fail(EX_UNAVAILABLE, "fork: %m");
    if (pid == 0) {
        execvp(argv[0], argv);
        fprintf(stderr, "postfix/postfix-script: fatal: exec %s: %s\n", argv[0], strerror(errno));
        _exit(EX_UNAVAILABLE);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            fail(EX_SOFTWARE, "waitpid: %m");
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void flush(void)
{
    strbuf path = STRBUF_INIT;
    strbuf_printf(&path, "%s/postqueue", config_get("command_directory"));
    char *argv[] = {path.s, "-c", (char *)config_dir, "-f", NULL};
    int rc = run_wait(argv);
    strbuf_release(&path);
    if (rc != 0)
        exit(rc < 0 ? 1 : rc);
}

static void logrotate(void)
{
    const char *file = config_get("maillog_file");
    if (!*file)
        fail(1, "no \"maillog_file\" parameter setting");
    if (strncmp(file, "/dev/", 5) == 0)
        fail(1, "\"maillog_file\" cannot be rotated");
    char suffix[256];
    time_t now = time(NULL);
    struct tm tm;
    const char *fmt = config_get("maillog_file_rotate_suffix");
    /* The format is the administrator's, as date(1)'s in postfix-script. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
    size_t len = *fmt && localtime_r(&now, &tm) ? strftime(suffix, sizeof(suffix), fmt, &tm) : 0;
#pragma GCC diagnostic pop
    if (len == 0 || strchr(suffix, '/'))
        fail(EX_CONFIG, "\"postfix logrotate\" failed: bad maillog_file_rotate_suffix \"%s\"", fmt);
    strbuf rotated = STRBUF_INIT;
    strbuf_printf(&rotated, "%s.%s", file, suffix);
    if (access(rotated.s, F_OK) == 0)
        fail(1, "\"postfix logrotate\" failed: %s exists", rotated.s);
    if (rename(file, rotated.s) < 0)
        fail(1, "\"postfix logrotate\" failed: rename %s to %s: %m", file, rotated.s);
    /* Our own lines (and the new file, root's 0644) from here on. */
    (void)mail_log_setup(MAIL_LOG_WARN);
    pid_t pid = running_pid();
    if (pid && kill(pid, SIGHUP) < 0)
        warn("\"postfix logrotate\": reload master (pid %ld): %m", (long)pid);
    info("rotated %s to %s", file, rotated.s);
    const char *compressor = config_get("maillog_file_compressor");
    if (*compressor) {
        /* Writers still on the old file notice the rename within a second
         * (lib/util/msg); reloaded children exit after their client. */
        sleep_ms(1500);
        char *argv[] = {(char *)compressor, rotated.s, NULL};
        int rc = run_wait(argv);
        if (rc != 0)
            fail(1, "\"postfix logrotate\" failed: %s %s: %s", compressor, rotated.s,
                 rc < 0 ? "killed" : "non-zero exit status");
    }
    strbuf_release(&rotated);
}

static _Noreturn void usage(void)
{
    fprintf(stderr, "usage: postfix [-c config_dir] [-v] "
                    "start|stop|reload|abort|status|check|set-permissions|start-fg|flush|"
                    "logrotate|upgrade-configuration\n");
    exit(EX_USAGE);
}

int main(int argc, char **argv)
{
    msg_init("postfix-script", false);
    const char *opt_c = NULL;
    int c;
    while ((c = getopt(argc, argv, "c:vD")) != -1) {
        switch (c) {
        case 'c':
            opt_c = optarg;
            break;
        case 'v':
            msg_verbose++;
            break;
        case 'D':
            fail(EX_USAGE, "option -D is not supported by this implementation");
        default:
            usage();
        }
    }
    if (optind != argc - 1)
        usage();
    const char *cmd = argv[optind];
    static const char *const known[] = {"start",
                                        "stop",
                                        "reload",
                                        "abort",
                                        "status",
                                        "check",
                                        "set-permissions",
                                        "start-fg",
                                        "flush",
                                        "logrotate",
                                        "upgrade-configuration"};
    bool ok = false;
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        ok |= strcmp(cmd, known[i]) == 0;
    if (!ok)
        fail(EX_USAGE,
             "unknown command: '%s' (expected start, stop, reload, abort, status, "
             "check, set-permissions, start-fg, flush, logrotate or upgrade-configuration)",
             cmd);
    if (geteuid() != 0 && strcmp(cmd, "status") != 0)
        fail(EX_USAGE, "to submit mail, use the Postfix sendmail command; the postfix command "
                       "is reserved for the superuser");

    config_dir = config_choose_dir(opt_c, false);
    if (setenv("MAIL_CONFIG", config_dir, 1) < 0)
        fail(EX_SOFTWARE, "setenv: %m");
    strbuf err = STRBUF_INIT;
    if (config_load(config_dir, &err) < 0)
        fail(EX_CONFIG, "%s", err.s);
    strbuf_release(&err);
    if (mail_log_setup(MAIL_LOG_SILENT) < 0)
        fprintf(stderr, "postfix/postfix-script: warning: open maillog_file %s: %m\n",
                config_get("maillog_file"));

    if (strcmp(cmd, "check") == 0 || strcmp(cmd, "set-permissions") == 0) {
        check(strcmp(cmd, "set-permissions") == 0, true);
    } else if (strcmp(cmd, "start") == 0) {
        start();
    } else if (strcmp(cmd, "start-fg") == 0) {
        check(false, false);
        if (running_pid())
            fail(1, "the Postfix mail system is already running");
        run_postsuper();
        prepare_chroot();
        char *path = master_path();
        char *margv[] = {path, "-c", (char *)config_dir, "-d", NULL};
        execv(path, margv);
        fail(EX_UNAVAILABLE, "exec %s: %m", path);
    } else if (strcmp(cmd, "stop") == 0) {
        stop();
    } else if (strcmp(cmd, "flush") == 0) {
        flush();
    } else if (strcmp(cmd, "logrotate") == 0) {
        logrotate();
    } else if (strcmp(cmd, "upgrade-configuration") == 0) {
        /* Postfix adds master.cf services and main.cf settings that new
         * releases need; our defaults are Postfix 3.7's throughout and
         * services we absorb are accepted where they are listed. */
        info("upgrade-configuration: nothing to do: main.cf and master.cf are used as they "
             "are (no parameter or service needs adding for this version)");
    } else if (strcmp(cmd, "status") == 0) {
        pid_t pid = running_pid();
        if (!pid) {
            info("the Postfix mail system is not running");
            exit(1);
        }
        info("the Postfix mail system is running: PID: %ld", (long)pid);
    } else {
        pid_t pid = running_pid();
        if (!pid)
            fail(1, "the Postfix mail system is not running");
        bool is_reload = strcmp(cmd, "reload") == 0;
        info(is_reload ? "refreshing the Postfix mail system" : "aborting the Postfix mail system");
        if (kill(pid, is_reload ? SIGHUP : SIGTERM) < 0)
            fail(EX_UNAVAILABLE, "kill %ld: %m", (long)pid);
    }
    return 0;
}
