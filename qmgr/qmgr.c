/* qmgr - the queue manager (master.cf: qmgr unix n - n 300 1 qmgr).
 *
 * A resident process with one event loop. At start it moves whatever a dead
 * qmgr left in active/ back to incoming/ (crash recovery, as Postfix). Then
 * it waits for triggers on public/qmgr -- 'I' and 'W' scan incoming/, 'D'
 * scans deferred/, 'A' ignores deferred time stamps on the next deferred
 * scan, 'F' forgets dead transports -- and scans deferred/ (and incoming/)
 * every $queue_run_delay by itself.
 *
 * A scan is a pass over a queue's directory that the event loop advances
 * a bounded number of entries at a time (QMGR_SCAN_ENTRIES_PER_ROUND, one
 * fstatat each), taking each complete (deferred: due) file into active/ as
 * it is found, alternating incoming and deferred, while fewer than
 * $qmgr_message_active_limit are active. A pass over 50,000 deferred files
 * that are not due is then a few hundred short rounds between which new
 * mail, triggers and delivery replies get their turn -- not one stall of
 * the whole loop every $queue_run_delay (a full scan made the latency of
 * new mail grow with the backlog). A new pass of a queue starts only when
 * the current one is done, so a flood of wake-ups costs one directory
 * pass per batch, never one per message.
 *
 * One queue manager at a time: qmgr holds an exclusive flock on active/ for
 * its whole life and takes it before it recovers active/, because that
 * recovery moves every file there back to incoming/. On a reload master
 * starts the next qmgr while the previous one still runs; the previous one
 * stops taking in messages and starting deliveries (drain), exits when its
 * deliveries in flight have answered or after QMGR_DRAIN_MAX_MS, and only
 * then may the next one move its files. Without the lock the new qmgr
 * moved files the old one was delivering (duplicates) and the old one
 * activated files after that move and exited, stranding them in active/.
 *
 * Crash leftovers: at start and every $queue_run_delay qmgr removes the
 * incomplete files in incoming/ whose writer died (queue_file.h, CRASH
 * LEFTOVERS), with a warning each.
 *
 * fsync: qmgr never fsyncs. Moves between queues are atomic renames whose
 * loss in a crash only means a message is tried again from its old queue
 * (queue_file.h, DIRECTORY FSYNC POLICY); BOUNCED marks follow a notice
 * that cleanup made durable; the defer log is for people.
 */
#include <dirent.h>
#include <sys/file.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "mem.h"
#include "msg.h"
#include "qmgr.h"
#include "mail_queue.h"
#include "queue_file.h"
#include "queue_id.h"
#include "service.h"
#include "strlist.h"

struct qmgr_config qmgr_cfg;
event_loop *qmgr_loop;
resolve *qmgr_resolve;

/* The pass over a queue in progress, if any. */
struct scan_list {
    const char *queue;
    mail_queue_scan *pass; /* NULL: no pass in progress */
    bool all;              /* this deferred pass ignores retry times ('A') */
    bool rescan;           /* a scan was asked for while the pass was running */
};

static struct scan_list incoming_list = {.queue = "incoming"};
static struct scan_list deferred_list = {.queue = "deferred"};
static size_t active_count;
static bool ignore_deferred_time; /* 'A' */
static bool feed_pending;
static bool take_deferred_next; /* alternate incoming and deferred */
static uint64_t deferred_timer;
static bool draining; /* master went away: finish deliveries in flight, then exit */

/* How long a draining qmgr waits for its deliveries in flight. What is
 * still out then is like a crash: the next qmgr re-reads the files, and a
 * recipient the agent marks done meanwhile is never repeated. */
#define QMGR_DRAIN_MAX_MS 10000
/* Trigger connections taken per wake-up of the service fd. */
#define QMGR_TRIGGERS_PER_ROUND 256
/* Directory entries each queue's pass examines per feed round (one fstatat
 * each: a millisecond or so), and messages taken into active/ per round. */
#define QMGR_SCAN_ENTRIES_PER_ROUND 512
#define QMGR_FEED_PER_ROUND 200

int64_t qmgr_now_us(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
}

/* ---- scanning ---------------------------------------------------------- */

/* Collect the complete queue files of `queue` in one go (crash recovery
 * of active/, before the loop runs). */
static void walk(const char *queue, int depth, strlist *out)
{
    mail_queue_scan *sc = mail_queue_scan_open(AT_FDCWD, queue, depth);
    const char *name;
    while ((name = mail_queue_scan_next(sc)) != NULL) {
        struct stat st;
        if (fstatat(mail_queue_scan_dirfd(sc), name, &st, AT_SYMLINK_NOFOLLOW) < 0)
            continue; /* gone meanwhile */
        if (queue_file_mode_complete(&st))
            strlist_push(out, name);
    }
    mail_queue_scan_close(&sc);
}

static int depth_of(const struct scan_list *l)
{
    return l == &deferred_list ? qmgr_cfg.deferred_depth : qmgr_cfg.incoming_depth;
}

static void pass_start(struct scan_list *l)
{
    l->pass = mail_queue_scan_open(AT_FDCWD, l->queue, depth_of(l));
    l->rescan = false;
    l->all = false;
    if (l == &deferred_list) {
        l->all = ignore_deferred_time;
        ignore_deferred_time = false;
    }
}

/* Ask for a pass over the queue: now, or after the one in progress (which
 * may have read a directory before the file the request is about). */
static void scan(struct scan_list *l)
{
    if (l->pass)
        l->rescan = true;
    else
        pass_start(l);
}

/* The next file of l's pass to take into active/, examining at most
 * *budget more directory entries; NULL when the budget is spent or no
 * pass is left. The name is valid until the next call. */
static const char *list_take(struct scan_list *l, int *budget, time_t now)
{
    while (l->pass && *budget > 0) {
        const char *name = mail_queue_scan_next(l->pass);
        if (!name) {
            mail_queue_scan_close(&l->pass);
            if (l->rescan)
                pass_start(l);
            continue;
        }
        --*budget;
        struct stat st;
        if (fstatat(mail_queue_scan_dirfd(l->pass), name, &st, AT_SYMLINK_NOFOLLOW) < 0)
            continue; /* gone meanwhile */
        if (!queue_file_mode_complete(&st))
            continue;
        if (l == &deferred_list && !l->all && st.st_mtime > now)
            continue; /* not due */
        return name;
    }
    return NULL;
}

static void feed(event_loop *loop, void *ctx);

static void schedule_feed(void)
{
    if (!feed_pending) {
        feed_pending = true;
        event_timer_add(qmgr_loop, 0, feed, NULL);
    }
}

/* Take messages into active/ while there is room: a bounded batch per
 * round so deliveries start (and replies are read) while a big queue is
 * still being taken in. */
static void feed(event_loop *loop, void *ctx)
{
    feed_pending = false;
    if (draining)
        return;
    int batch = 0;
    /* Each queue has its own budget: a deferred pass over files that are
     * not due never delays incoming's. */
    int budget_incoming = QMGR_SCAN_ENTRIES_PER_ROUND;
    int budget_deferred = QMGR_SCAN_ENTRIES_PER_ROUND;
    time_t now = time(NULL);
    bool room;
    while ((room = (long long)active_count < qmgr_cfg.active_limit) &&
           batch < QMGR_FEED_PER_ROUND) {
        struct scan_list *first = take_deferred_next ? &deferred_list : &incoming_list;
        struct scan_list *second = take_deferred_next ? &incoming_list : &deferred_list;
        take_deferred_next = !take_deferred_next;
        struct scan_list *l = first;
        const char *id =
            list_take(first, first == &deferred_list ? &budget_deferred : &budget_incoming, now);
        if (!id) {
            l = second;
            id = list_take(second, second == &deferred_list ? &budget_deferred : &budget_incoming,
                           now);
        }
        if (!id)
            break;
        batch++;
        active_count++;
        if (qmgr_message_activate(id, l->queue, depth_of(l)) < 0)
            active_count--;
    }
    qmgr_deliver_kick();
    /* More to take and room for it: the next round after the loop has
     * looked at its file descriptors and timers. A full active queue
     * resumes when a message finishes. */
    if (room && (batch == QMGR_FEED_PER_ROUND || incoming_list.pass || deferred_list.pass))
        schedule_feed();
}

void qmgr_message_finished(struct qmgr_message *m)
{
    if (m->fd >= 0 || m->next || m->prev)
        msg_panic("qmgr_message_finished: message %s still in use", m->id);
    qmgr_message_free(&m);
    if (active_count == 0)
        msg_panic("qmgr_message_finished: active count underflow");
    active_count--;
    schedule_feed();
}

/* ---- triggers and timers ----------------------------------------------- */

static void deferred_tick(event_loop *loop, void *ctx)
{
    deferred_timer =
        event_timer_add(qmgr_loop, qmgr_cfg.queue_run_delay * 1000, deferred_tick, NULL);
    /* What a killed cleanup left in incoming/ (at start, then every run):
     * only files whose writer lock is free, so never one being written. */
    (void)queue_file_purge_abandoned(".", "incoming", qmgr_cfg.incoming_depth, 0);
    scan(&deferred_list);
    scan(&incoming_list);
    schedule_feed();
}

static void handle_trigger(const char *buf, size_t len)
{
    bool want_incoming = false, want_deferred = false;
    /* Duplicates collapse; A and F act before D and I (as Postfix). */
    for (size_t i = 0; i < len; i++) {
        switch (buf[i]) {
        case 'A':
            ignore_deferred_time = true;
            break;
        case 'F':
            qmgr_deliver_flush_dead();
            break;
        case 'D':
            want_deferred = true;
            break;
        case 'I':
        case 'W':
            want_incoming = true;
            break;
        default:
            msg_warn("ignoring unknown trigger byte 0x%02x", (unsigned char)buf[i]);
            break;
        }
    }
    if (want_deferred)
        scan(&deferred_list);
    if (want_incoming)
        scan(&incoming_list);
    if (want_deferred || want_incoming)
        schedule_feed();
}

bool qmgr_draining(void)
{
    return draining;
}

void qmgr_drain_check(void)
{
    if (draining && qmgr_deliver_in_flight() == 0) {
        msg_debug("deliveries in flight finished -- exiting");
        exit(0);
    }
}

static void drain_timeout(event_loop *loop, void *ctx)
{
    msg_info("exiting with %zu deliveries in flight", qmgr_deliver_in_flight());
    exit(0);
}

static void on_service_fd(event_loop *loop, int fd, unsigned events, void *ctx)
{
    strbuf buf = STRBUF_INIT, all = STRBUF_INIT;
    /* Take the triggers already waiting, then act once: under load every
     * message's cleanup sends a wakeup, and one incoming/ scan answers them
     * all. Bounded, so timers and delivery replies still get their turn. */
    for (int n = 0; n < QMGR_TRIGGERS_PER_ROUND && service_take_ready(fd, &buf) > 0; n++)
        strbuf_append(&all, buf.s, buf.len);
    if (all.len > 0) {
        handle_trigger(all.s, all.len);
    } else if (service_master_gone() && !draining) {
        /* fd is master's status channel: it stays readable (EOF). */
        event_unwatch(loop, fd);
        draining = true;
        event_timer_add(loop, QMGR_DRAIN_MAX_MS, drain_timeout, NULL);
        qmgr_drain_check();
    }
    strbuf_release(&buf);
    strbuf_release(&all);
}

/* ---- start ------------------------------------------------------------- */

/* Crash recovery: a file in active/ was in the memory of a dead qmgr. */
static void recover_active(void)
{
    strlist ids = STRLIST_INIT;
    walk("active", qmgr_cfg.active_depth, &ids);
    strbuf err = STRBUF_INIT;
    for (size_t i = 0; i < ids.n; i++)
        if (queue_file_move(qmgr_cfg.queue_directory, ids.v[i], "active", qmgr_cfg.active_depth,
                            "incoming", qmgr_cfg.incoming_depth, false, &err) < 0)
            msg_warn("%s: cannot move from active to incoming: %s", ids.v[i], err.s);
    if (ids.n)
        msg_info("recovered %zu messages from the active queue", ids.n);
    strlist_release(&ids);
    strbuf_release(&err);
}

static void qmgr_init(const char *service, char **args)
{
    signal(SIGPIPE, SIG_IGN);
    qmgr_cfg.queue_directory = config_get("queue_directory");
    qmgr_cfg.myhostname = config_get("myhostname");
    qmgr_cfg.mail_name = config_get("mail_name");
    qmgr_cfg.default_filter_nexthop = config_get("default_filter_nexthop");
    qmgr_cfg.recipient_delimiter = config_get("recipient_delimiter");
    qmgr_cfg.incoming_depth = mail_queue_depth("incoming");
    qmgr_cfg.active_depth = mail_queue_depth("active");
    qmgr_cfg.deferred_depth = mail_queue_depth("deferred");
    qmgr_cfg.hold_depth = mail_queue_depth("hold");
    qmgr_cfg.defer_depth = mail_queue_depth("defer");
    qmgr_cfg.long_ids = config_get_bool("enable_long_queue_ids");
    qmgr_cfg.allow_min_user = config_get_bool("allow_min_user");
    /* Numeric parameters come within the table's bounds (> 0 here, and
     * fitting an int): the getters are fatal otherwise. */
    qmgr_cfg.active_limit = (int)config_get_int("qmgr_message_active_limit");
    qmgr_cfg.min_backoff = config_get_time("minimal_backoff_time");
    qmgr_cfg.max_backoff = config_get_time("maximal_backoff_time");
    if (qmgr_cfg.max_backoff < qmgr_cfg.min_backoff)
        qmgr_cfg.max_backoff = qmgr_cfg.min_backoff;
    qmgr_cfg.queue_run_delay = config_get_time("queue_run_delay");
    qmgr_cfg.max_queue_lifetime = config_get_time("maximal_queue_lifetime");
    qmgr_cfg.bounce_queue_lifetime = config_get_time("bounce_queue_lifetime");
    qmgr_cfg.delay_warning_time = config_get_time("delay_warning_time");
    qmgr_cfg.transport_retry_time = config_get_time("transport_retry_time");
    qmgr_cfg.ipc_timeout = config_get_time("ipc_timeout");
    qmgr_cfg.agent_timeout = config_get_time("daemon_timeout") + 60;
    qmgr_cfg.default_process_limit = (int)config_get_int("default_process_limit");
    qmgr_cfg.record_limit = mail_queue_read_limit();

    strbuf err = STRBUF_INIT;
    if (!(qmgr_resolve = resolve_open(&err)))
        msg_fatal("%s", err.s);
    strbuf_release(&err);
    qmgr_loop = event_loop_new();
    qmgr_deliver_init();
}

/* The one-qmgr-at-a-time lock (top of file). Kept open for life; the
 * kernel releases it however the process ends. */
static void lock_active_queue(void)
{
    int fd = open("active", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        msg_fatal("open %s/active: %m", qmgr_cfg.queue_directory);
    if (flock(fd, LOCK_EX | LOCK_NB) == 0)
        return;
    if (errno != EWOULDBLOCK)
        msg_fatal("lock %s/active: %m", qmgr_cfg.queue_directory);
    msg_info("waiting for the previous queue manager to finish");
    while (flock(fd, LOCK_EX) < 0)
        if (errno != EINTR)
            msg_fatal("lock %s/active: %m", qmgr_cfg.queue_directory);
}

static void qmgr_run(const char *service, char **args)
{
    lock_active_queue();
    recover_active();
    int fds[16];
    size_t n = service_watch_fds(fds, 16);
    if (n > 16)
        msg_fatal("too many listen descriptors: %zu", n);
    for (size_t i = 0; i < n; i++)
        event_watch(qmgr_loop, fds[i], EVENT_READ, on_service_fd, NULL);
    scan(&incoming_list);
    deferred_tick(qmgr_loop, NULL);
    if (event_loop_run(qmgr_loop) < 0)
        msg_fatal("event loop: %m");
}

int main(int argc, char **argv)
{
    static const struct service_ops ops = {
        .mode = SERVICE_RESIDENT,
        .unlimited = true,
        .drain = true,
        .post_init = qmgr_init,
        .run = qmgr_run,
    };
    service_main("qmgr", argc, argv, &ops);
}
