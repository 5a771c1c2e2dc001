/* postsuper - queue maintenance for the superuser.
 *
 *   -d ID|ALL   delete (queue file and its defer/bounce/trace logs)
 *   -h ID|ALL   put on hold (incoming, active, deferred -> hold)
 *   -H ID|ALL   release from hold (hold -> deferred, due at once)
 *   -r ID|ALL   requeue: copy the undelivered recipients and content into a
 *               new maildrop/ file (owner root), then remove the original;
 *               pickup and cleanup process it again (new queue ID)
 *   -p          purge temporary and incomplete files left by crashes
 *   -s          structure check: files in the wrong hash directory, or whose
 *               name no longer matches their inode (restored from backup),
 *               are renamed to where they belong
 * "-" as ID reads IDs from stdin. Trailing arguments restrict -d/-h/-H/-r
 * to those queues. Log lines as Postfix: "ID: removed", "ID: placed on
 * hold", "ID: released from hold", "ID: requeued"; a summary on stderr.
 *
 * Without options: -s and -p, as Postfix ("postfix start" runs that).
 *
 * A file another process is still writing is incomplete (mode 0600) and is
 * never touched by -d/-h/-H/-r; -p removes incomplete or temporary files
 * whose writer is gone (nobody holds the writer's lock, queue_file.h CRASH
 * LEFTOVERS), and files it cannot judge that way (a user's maildrop file it
 * may not open, stray names) once older than daemon_timeout, the longest a
 * writer may keep one open.
 * Hold and release moves fsync both directories (queue_file_move sync).
 */
#include <dirent.h>
#include <grp.h>
#include <pwd.h>
#include <fcntl.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "bounce_log.h"
#include "config.h"
#include "mail_log.h"
#include "fsutil.h"
#include "mem.h"
#include "msg.h"
#include "mail_queue.h"
#include "queue_file.h"
#include "queue_id.h"
#include "sock.h"
#include "strlist.h"

static const char *const all_queues[] = {"hold",     "incoming", "active",
                                         "deferred", "maildrop", "corrupt"};
static const char *const log_dirs[] = {BOUNCE_LOG_DEFER, BOUNCE_LOG_BOUNCE, BOUNCE_LOG_TRACE};

static void queue_path(strbuf *out, const char *queue, const char *id)
{
    if (mail_queue_path(out, queue, id) < 0)
        msg_panic("queue_path: invalid ID %s", id);
}

/* 1 = a complete file is there, 0 = none (or still being written). */
static int complete_file(const char *queue, const char *id)
{
    strbuf p = STRBUF_INIT;
    queue_path(&p, queue, id);
    struct stat st;
    int rc = 0;
    if (lstat(strbuf_str(&p), &st) == 0)
        rc = queue_file_mode_complete(&st) ? 1 : 0;
    else if (errno != ENOENT)
        msg_warn("%s: %m", strbuf_str(&p));
    strbuf_release(&p);
    return rc;
}

static void remove_logs(const char *id)
{
    for (size_t i = 0; i < sizeof(log_dirs) / sizeof(log_dirs[0]); i++)
        if (bounce_log_remove(".", log_dirs[i], id) < 0)
            msg_warn("remove %s log of %s: %m", log_dirs[i], id);
}

static bool op_delete(const char *queue, const char *id)
{
    strbuf p = STRBUF_INIT;
    queue_path(&p, queue, id);
    bool ok = unlink(strbuf_str(&p)) == 0;
    if (!ok && errno != ENOENT)
        msg_warn("remove %s: %m", strbuf_str(&p));
    if (ok) {
        remove_logs(id);
        msg_info("%s: removed", id);
    }
    strbuf_release(&p);
    return ok;
}

static bool move(const char *id, const char *from, const char *to)
{
    strbuf err = STRBUF_INIT;
    bool ok = queue_file_move(".", id, from, mail_queue_depth(from), to, mail_queue_depth(to), true,
                              &err) == 0;
    if (!ok && errno != ENOENT)
        msg_warn("%s: %s", id, strbuf_str(&err));
    strbuf_release(&err);
    return ok;
}

static bool op_hold(const char *queue, const char *id)
{
    if (strcmp(queue, "incoming") && strcmp(queue, "active") && strcmp(queue, "deferred"))
        return false;
    if (!move(id, queue, "hold"))
        return false;
    msg_info("%s: placed on hold", id);
    return true;
}

static bool op_release(const char *queue, const char *id)
{
    if (strcmp(queue, "hold") != 0 || !move(id, "hold", "deferred"))
        return false;
    /* Due now: qmgr's deferred scan takes files whose mtime has come. */
    strbuf p = STRBUF_INIT;
    queue_path(&p, "deferred", id);
    if (utimes(strbuf_str(&p), NULL) < 0)
        msg_warn("set time of %s: %m", strbuf_str(&p));
    strbuf_release(&p);
    msg_info("%s: released from hold", id);
    return true;
}

/* Copy what pickup accepts (lib/global/maildrop.h) from a queue file into a new
 * maildrop file. Returns 1 done, 0 nothing to requeue, -1 error. */
static int copy_to_maildrop(const char *queue, const char *id)
{
    strbuf err = STRBUF_INIT;
    int fd = queue_file_open(".", queue, mail_queue_depth(queue), id, false, &err);
    if (fd < 0) {
        if (fd != QUEUE_FILE_INCOMPLETE && errno != ENOENT)
            msg_warn("%s: %s", id, strbuf_str(&err));
        strbuf_release(&err);
        return 0;
    }
    size_t limit = mail_queue_read_limit();
    queue_file_reader *r = queue_file_reader_open(fd, limit, &err);
    queue_file *qf = r ? queue_file_create(".", "maildrop",
                                           config_get_bool("enable_long_queue_ids"), limit, &err)
                       : NULL;
    queue_file_record rec = QUEUE_FILE_RECORD_INIT;
    int n = -1, todo = 0, rc = -1;
    bool in_extract = false;
    if (qf)
        queue_file_set_read_bits(qf, S_IRGRP | S_IROTH);
    while (qf && (n = queue_file_reader_next(r, &rec, &err)) > 0) {
        switch (rec.type) {
        case QF_REC_TIME:
            queue_file_put_time(qf, &rec.time);
            break;
        case QF_REC_SENDER:
            queue_file_put_sender(qf, strbuf_str(&rec.data));
            break;
        case QF_REC_FULLNAME:
            queue_file_put_fullname(qf, strbuf_str(&rec.data));
            break;
        case QF_REC_ATTR:
            if (!in_extract && (strcmp(strbuf_str(&rec.name), "envelope_id") == 0 ||
                                strcmp(strbuf_str(&rec.name), "ret_flags") == 0 ||
                                strcmp(strbuf_str(&rec.name), "encoding") == 0))
                queue_file_put_attr_str(qf, strbuf_str(&rec.name), strbuf_str(&rec.value));
            break;
        case QF_REC_RCPT:
            if (rec.status == QF_RCPT_TODO && !in_extract) {
                struct queue_file_rcpt_in in = {.address = strbuf_str(&rec.address),
                                                .orcpt =
                                                    rec.orcpt.len ? strbuf_str(&rec.orcpt) : NULL,
                                                .notify = rec.notify};
                queue_file_put_rcpt(qf, &in, NULL);
                todo++;
            }
            break;
        case QF_REC_CONTENT:
            queue_file_begin_content(qf);
            break;
        case QF_REC_LINE:
        case QF_REC_PART:
            queue_file_put_text(qf, rec.data.s ? rec.data.s : "", rec.data.len,
                                rec.type == QF_REC_LINE);
            break;
        case QF_REC_EXTRACT:
            in_extract = true;
            break;
        default:
            break;
        }
    }
    if (!qf) {
        msg_warn("%s: requeue: %s", id, strbuf_str(&err));
    } else if (n < 0) {
        msg_warn("%s: requeue: %s", id, strbuf_str(&err));
        queue_file_abort(&qf);
    } else if (todo == 0) {
        msg_warn("%s: requeue: no undelivered recipients", id);
        queue_file_abort(&qf);
        rc = 0;
    } else if (queue_file_commit(&qf, &err) < 0) {
        msg_warn("%s: requeue: %s", id, strbuf_str(&err));
    } else {
        rc = 1;
    }
    queue_file_record_release(&rec);
    if (r)
        queue_file_reader_free(&r);
    close(fd);
    strbuf_release(&err);
    return rc;
}

static bool op_requeue(const char *queue, const char *id)
{
    if (strcmp(queue, "maildrop") == 0 || strcmp(queue, "corrupt") == 0)
        return false;
    if (copy_to_maildrop(queue, id) <= 0)
        return false;
    strbuf p = STRBUF_INIT;
    queue_path(&p, queue, id);
    if (unlink(strbuf_str(&p)) < 0)
        msg_warn("remove %s after requeue: %m", strbuf_str(&p));
    remove_logs(id);
    strbuf_release(&p);
    msg_info("%s: requeued", id);
    return true;
}

typedef bool (*op_fn)(const char *queue, const char *id);

struct op {
    char letter;
    op_fn fn;
    const char *summary;
    const char *const *default_queues;
    strlist ids;
    unsigned long count;
};

static const char *const q_delete[] = {"hold", "incoming", "active", "deferred", "maildrop", NULL};
static const char *const q_hold[] = {"incoming", "active", "deferred", NULL};
static const char *const q_release[] = {"hold", NULL};
static const char *const q_requeue[] = {"hold", "incoming", "active", "deferred", NULL};

/* IDs of every file in a queue (hash directories included). */
static void list_ids(const char *queue, int depth, strlist *out)
{
    mail_queue_scan *sc = mail_queue_scan_open(AT_FDCWD, queue, depth);
    const char *name;
    while ((name = mail_queue_scan_next(sc)) != NULL)
        strlist_push(out, name);
    mail_queue_scan_close(&sc);
}

static void run_op(struct op *op, const strlist *queues_arg)
{
    strlist queues = STRLIST_INIT;
    if (queues_arg->n) {
        for (size_t i = 0; i < queues_arg->n; i++)
            strlist_push(&queues, queues_arg->v[i]);
    } else {
        for (const char *const *q = op->default_queues; *q; q++)
            strlist_push(&queues, *q);
    }
    for (size_t qi = 0; qi < queues.n; qi++) {
        const char *queue = queues.v[qi];
        strlist ids = STRLIST_INIT;
        bool all = strlist_contains(&op->ids, "ALL");
        if (all)
            list_ids(queue, mail_queue_depth(queue), &ids);
        const strlist *use = all ? &ids : &op->ids;
        for (size_t i = 0; i < use->n; i++) {
            if (strcmp(use->v[i], "ALL") == 0)
                continue;
            /* Never touch a file someone is still writing. */
            if (complete_file(queue, use->v[i]) && op->fn(queue, use->v[i]))
                op->count++;
        }
        strlist_release(&ids);
    }
    strlist_release(&queues);
    if (op->count || op->ids.n)
        fprintf(stderr, "postsuper: %s: %lu message%s\n", op->summary, op->count,
                op->count == 1 ? "" : "s");
}

static void add_id(struct op *op, const char *arg)
{
    if (strcmp(arg, "-") == 0) {
        char *line = NULL;
        size_t cap = 0;
        ssize_t n;
        while ((n = getline(&line, &cap, stdin)) > 0) {
            strlist words = STRLIST_INIT;
            strlist_split(&words, line, " \t\r\n", NULL);
            for (size_t i = 0; i < words.n; i++)
                add_id(op, words.v[i]);
            strlist_release(&words);
        }
        free(line);
        return;
    }
    if (strcmp(arg, "ALL") != 0 && !queue_id_valid(arg))
        msg_fatal_status(EX_USAGE, "invalid queue id: %s", arg);
    strlist_push(&op->ids, arg);
}

/* -s: put files where their ID says they belong (files left at any hash
 * level, e.g. after hash_queue_depth changed, are found). */
static unsigned long structure_queue(const char *queue)
{
    unsigned long n = 0;
    strlist paths = STRLIST_INIT, names = STRLIST_INIT;
    /* List first, move after: a scan never sees its own renames. */
    mail_queue_scan *sc = mail_queue_scan_open_all(AT_FDCWD, queue);
    strbuf p = STRBUF_INIT, want = STRBUF_INIT;
    const char *name;
    while ((name = mail_queue_scan_next(sc)) != NULL) {
        mail_queue_scan_path(sc, name, &p);
        strlist_push(&paths, strbuf_str(&p));
        strlist_push(&names, name);
    }
    mail_queue_scan_close(&sc);
    for (size_t i = 0; i < paths.n; i++) {
        const char *path = paths.v[i];
        name = names.v[i];
        struct stat st;
        if (lstat(path, &st) < 0 || !S_ISREG(st.st_mode) || !queue_file_mode_complete(&st))
            continue;
        long long sec;
        long usec;
        uint64_t ino;
        strbuf id = STRBUF_INIT;
        strbuf_set(&id, name);
        if (queue_id_decode(name, &sec, &usec, &ino) == 0 && ino != (uint64_t)st.st_ino) {
            /* Restored from backup: the name must follow the inode. */
            struct timeval tv = {.tv_sec = sec < 0 ? 0 : (time_t)sec, .tv_usec = usec};
            queue_id_make(&id, queue_id_is_long(name), &tv, st.st_ino);
        }
        queue_path(&want, queue, strbuf_str(&id));
        if (strcmp(strbuf_str(&want), path) != 0) {
            strbuf dirpart = STRBUF_INIT;
            strbuf_set(&dirpart, strbuf_str(&want));
            char *slash = strrchr(dirpart.s, '/');
            *slash = '\0';
            if (mkdir_p(dirpart.s, 0700) < 0 ||
                renameat2(AT_FDCWD, path, AT_FDCWD, strbuf_str(&want), RENAME_NOREPLACE) < 0)
                msg_warn("rename %s to %s: %m", path, strbuf_str(&want));
            else {
                msg_info("%s: renamed to %s", path, strbuf_str(&want));
                n++;
            }
            strbuf_release(&dirpart);
        }
        strbuf_release(&id);
    }
    strbuf_release(&p);
    strbuf_release(&want);
    strlist_release(&paths);
    strlist_release(&names);
    return n;
}

static _Noreturn void usage(void)
{
    msg_fatal_status(EX_USAGE, "usage: postsuper [-psv] [-c config_dir] [-d queue_id|ALL] "
                               "[-h queue_id|ALL] [-H queue_id|ALL] [-r queue_id|ALL] [queue...]");
}

int main(int argc, char **argv)
{
    struct op ops[] = {
        {'d', op_delete, "Deleted", q_delete, STRLIST_INIT, 0},
        {'h', op_hold, "Placed on hold", q_hold, STRLIST_INIT, 0},
        {'H', op_release, "Released from hold", q_release, STRLIST_INIT, 0},
        {'r', op_requeue, "Requeued", q_requeue, STRLIST_INIT, 0},
    };
    const size_t nops = sizeof(ops) / sizeof(ops[0]);
    const char *opt_c = NULL;
    bool purge = false, structure = false, any = false;
    int c;
    msg_init("postsuper", true);
    while ((c = getopt(argc, argv, "c:d:h:H:r:psSv")) != -1) {
        switch (c) {
        case 'c':
            opt_c = optarg;
            break;
        case 'p':
            purge = true;
            break;
        case 's':
        case 'S':
            structure = true;
            break;
        case 'v':
            msg_verbose++;
            break;
        default: {
            size_t i;
            for (i = 0; i < nops && ops[i].letter != c; i++)
                ;
            if (i == nops)
                usage();
            add_id(&ops[i], optarg);
            any = true;
        }
        }
    }
    if (getuid() != 0)
        msg_fatal_status(EX_NOPERM, "use of this command is reserved for the superuser");
    strlist queues = STRLIST_INIT;
    for (int i = optind; i < argc; i++) {
        bool known = false;
        for (size_t k = 0; k < sizeof(all_queues) / sizeof(all_queues[0]); k++)
            known |= strcmp(argv[i], all_queues[k]) == 0;
        if (!known)
            msg_fatal_status(EX_USAGE, "invalid queue name: %s", argv[i]);
        strlist_push(&queues, argv[i]);
    }
    if (!any && !purge && !structure)
        structure = purge = true; /* Postfix: no operation means -s -p */
    config_load_or_die(config_choose_dir(opt_c, false));
    (void)mail_log_setup(MAIL_LOG_WARN);
    const char *qdir = config_get("queue_directory");
    if (chdir(qdir) < 0)
        msg_fatal_status(EX_UNAVAILABLE, "chdir %s: %m", qdir);
    umask(077);
    /* Like Postfix's postsuper: work as mail_owner, so that whatever we
     * create (hash directories, hold/ moves, maildrop/ files for -r) belongs
     * to the account the daemons run as. */
    const char *owner = config_get("mail_owner");
    struct passwd *pw = getpwnam(owner);
    if (!pw)
        msg_fatal_status(EX_CONFIG, "mail_owner \"%s\": no such user", owner);
    if (setgroups(0, NULL) < 0 || setegid(pw->pw_gid) < 0 || seteuid(pw->pw_uid) < 0)
        msg_fatal_status(EX_OSERR, "switch to mail_owner %s: %m", owner);

    if (structure) {
        unsigned long n = 0;
        for (size_t k = 0; k < sizeof(all_queues) / sizeof(all_queues[0]); k++)
            n += structure_queue(all_queues[k]);
        if (n)
            fprintf(stderr, "postsuper: Renamed to match inode number: %lu message%s\n", n,
                    n == 1 ? "" : "s");
    }
    if (purge) {
        long long dt = config_get_time("daemon_timeout");
        long stale = dt > 0 && dt < LONG_MAX ? (long)dt : 18000;
        unsigned long n = 0;
        /* Never corrupt/: what is kept there is for an administrator. */
        for (size_t k = 0; k < sizeof(all_queues) / sizeof(all_queues[0]); k++)
            if (strcmp(all_queues[k], "corrupt") != 0)
                n += queue_file_purge_abandoned(".", all_queues[k], mail_queue_depth(all_queues[k]),
                                                stale);
        if (n)
            fprintf(stderr, "postsuper: Removed: %lu temporary file%s\n", n, n == 1 ? "" : "s");
    }
    /* Postfix's order: requeue and release before hold, delete first. */
    static const char order[] = {'d', 'r', 'H', 'h'};
    bool requeued = false;
    for (size_t o = 0; o < sizeof(order); o++)
        for (size_t i = 0; i < nops; i++)
            if (ops[i].letter == order[o] && ops[i].ids.n) {
                run_op(&ops[i], &queues);
                requeued |= ops[i].letter == 'r' && ops[i].count > 0;
            }
    if (requeued) {
        strbuf path = STRBUF_INIT, err = STRBUF_INIT;
        if (sock_unix_path(".", "public/pickup", &path, &err) == 0)
            (void)sock_trigger(strbuf_str(&path), "W", 1, 1000, &err);
        strbuf_release(&path);
        strbuf_release(&err);
    }
    for (size_t i = 0; i < nops; i++)
        strlist_release(&ops[i].ids);
    strlist_release(&queues);
    return 0;
}
