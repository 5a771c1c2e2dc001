#include "msg.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "strbuf.h"

int msg_verbose;

enum msg_level { LVL_INFO, LVL_WARN, LVL_ERROR, LVL_FATAL, LVL_PANIC };

static struct {
    char service[64];
    char ident[160];
    char host[256];
    int facility;
    int log_fd;     /* maillog_file, or -1 for syslog */
    char *log_path; /* maillog_file as opened, for the rotation check */
    dev_t log_dev;  /* ... and the file it named then */
    ino_t log_ino;
    time_t log_checked; /* second of the last rotation check */
    bool to_stderr;
    bool stderr_warnings_only; /* msg_stderr_warnings(): no info on stderr */
    bool syslog_open;
    void (*cleanup)(void);
    int depth; /* guards against recursion from allocation failures */
} msg_state = {"unknown",   "postfix/unknown",
               "localhost", LOG_MAIL,
               -1,          NULL,
               0,           0,
               0,           true,
               false,       false,
               NULL,        0};

static void copy_bounded(char *dst, size_t size, const char *src)
{
    snprintf(dst, size, "%s", src);
}

static void set_ident(const char *syslog_name)
{
    snprintf(msg_state.ident, sizeof(msg_state.ident), "%s/%s", syslog_name, msg_state.service);
    if (msg_state.syslog_open) {
        closelog();
        msg_state.syslog_open = false;
    }
}

void msg_stderr_warnings(bool on)
{
    msg_state.to_stderr = on;
    msg_state.stderr_warnings_only = on;
}

/* 0: not known yet (or just forked). */
static long cached_pid;
static pthread_once_t pid_once = PTHREAD_ONCE_INIT;

static void forget_pid(void)
{
    cached_pid = 0;
}

static void register_forget_pid(void)
{
    (void)pthread_atfork(NULL, NULL, forget_pid);
}

long msg_pid(void)
{
    if (cached_pid == 0) {
        pthread_once(&pid_once, register_forget_pid);
        cached_pid = (long)getpid();
    }
    return cached_pid;
}

void msg_init(const char *service, bool to_stderr)
{
    const char *slash = strrchr(service, '/');
    copy_bounded(msg_state.service, sizeof(msg_state.service), slash ? slash + 1 : service);
    msg_state.to_stderr = to_stderr;
    msg_state.stderr_warnings_only = false;
    char host[256];
    if (gethostname(host, sizeof(host)) == 0) {
        host[sizeof(host) - 1] = '\0';
        host[strcspn(host, ".")] = '\0';
        copy_bounded(msg_state.host, sizeof(msg_state.host), host);
    }
    set_ident("postfix");
}

static const struct {
    const char *name;
    int value;
} facilities[] = {
    {"mail", LOG_MAIL},     {"daemon", LOG_DAEMON}, {"user", LOG_USER},     {"local0", LOG_LOCAL0},
    {"local1", LOG_LOCAL1}, {"local2", LOG_LOCAL2}, {"local3", LOG_LOCAL3}, {"local4", LOG_LOCAL4},
    {"local5", LOG_LOCAL5}, {"local6", LOG_LOCAL6}, {"local7", LOG_LOCAL7},
};

static int open_log(const char *path)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0644);
    struct stat st;
    if (fd < 0)
        return -1;
    char *copy = strdup(path);
    if (fstat(fd, &st) < 0 || !copy) {
        int saved = errno;
        close(fd);
        free(copy);
        errno = saved;
        return -1;
    }
    if (msg_state.log_fd >= 0)
        close(msg_state.log_fd);
    msg_state.log_fd = fd;
    free(msg_state.log_path);
    msg_state.log_path = copy;
    msg_state.log_dev = st.st_dev;
    msg_state.log_ino = st.st_ino;
    msg_state.log_checked = time(NULL);
    return 0;
}

/* A rotated maillog_file (renamed away by `postfix logrotate` or
 * logrotate(8)) is noticed within a second: at most once per second a
 * writer compares the name's inode with its open file's and reopens the
 * name when another file is there. A process that may not open the new
 * file (a daemon that dropped root; the file is root's, 0644) keeps its
 * old one and does not try again for that file: `postfix logrotate`
 * reloads master, whose new children open the new file as root. A name
 * that does not resolve (a chrooted process) is left alone. */
static void check_rotated(time_t now)
{
    /* /dev/stdout and the like are not rotated, and after a fork (a child
     * whose stdout is a command's pipe) the name may mean another file. */
    if (!msg_state.log_path || now == msg_state.log_checked ||
        strncmp(msg_state.log_path, "/dev/", 5) == 0)
        return;
    msg_state.log_checked = now;
    struct stat st;
    if (stat(msg_state.log_path, &st) < 0 ||
        (st.st_dev == msg_state.log_dev && st.st_ino == msg_state.log_ino))
        return;
    char *path = strdup(msg_state.log_path);
    if (path && open_log(path) < 0) {
        msg_state.log_dev = st.st_dev;
        msg_state.log_ino = st.st_ino;
    }
    free(path);
}

int msg_configure(const char *syslog_name, const char *facility, const char *maillog_file,
                  const char *hostname)
{
    if (syslog_name && *syslog_name) {
        /* "postfix/submission" style names keep the service as last part. */
        set_ident(syslog_name);
    }
    if (facility && *facility) {
        for (size_t i = 0; i < sizeof(facilities) / sizeof(facilities[0]); i++)
            if (strcmp(facilities[i].name, facility) == 0)
                msg_state.facility = facilities[i].value;
    }
    if (hostname && *hostname) {
        copy_bounded(msg_state.host, sizeof(msg_state.host), hostname);
        msg_state.host[strcspn(msg_state.host, ".")] = '\0';
    }
    if (maillog_file && *maillog_file)
        return open_log(maillog_file);
    if (msg_state.log_fd >= 0) {
        close(msg_state.log_fd);
        msg_state.log_fd = -1;
    }
    free(msg_state.log_path);
    msg_state.log_path = NULL;
    return 0;
}

void msg_log_stamp(strbuf *out, time_t when)
{
    static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    struct tm tm;
    /* Month names from a table, not strftime's %b: the log format must not
     * follow the locale (pflogsumm and fail2ban expect English names). The
     * logger must not fail: a time localtime cannot represent logs as UTC. */
    if (!localtime_r(&when, &tm) && !gmtime_r(&when, &tm)) {
        memset(&tm, 0, sizeof(tm));
        tm.tm_mday = 1;
    }
    strbuf_printf(out, "%s %2d %02d:%02d:%02d", months[tm.tm_mon], tm.tm_mday, tm.tm_hour,
                  tm.tm_min, tm.tm_sec);
}

const char *msg_ident(void)
{
    return msg_state.ident;
}

void msg_set_ident(const char *ident)
{
    copy_bounded(msg_state.ident, sizeof(msg_state.ident), ident);
    if (msg_state.syslog_open) {
        closelog();
        msg_state.syslog_open = false;
    }
}

void msg_set_cleanup(void (*fn)(void))
{
    msg_state.cleanup = fn;
}

/* Rewrite %m into the current strerror text, with '%' doubled so the
 * result is still a valid format. */
static void expand_percent_m(strbuf *out, const char *fmt, int saved_errno)
{
    for (const char *p = fmt; *p; p++) {
        if (p[0] == '%' && p[1] == '%') {
            strbuf_append(out, p, 2);
            p++;
        } else if (p[0] == '%' && p[1] == 'm') {
            for (const char *e = strerror(saved_errno); *e; e++) {
                if (*e == '%')
                    strbuf_putc(out, '%');
                strbuf_putc(out, *e);
            }
            p++;
        } else {
            strbuf_putc(out, *p);
        }
    }
}

static const char *level_prefix(enum msg_level level)
{
    switch (level) {
    case LVL_WARN:
        return "warning: ";
    case LVL_ERROR:
        return "error: ";
    case LVL_FATAL:
        return "fatal: ";
    case LVL_PANIC:
        return "panic: ";
    default:
        return "";
    }
}

static int level_priority(enum msg_level level)
{
    static const int prio[] = {LOG_INFO, LOG_WARNING, LOG_ERR, LOG_CRIT, LOG_CRIT};
    return prio[level];
}

static void msg_vlog(enum msg_level level, const char *fmt, va_list ap)
{
    int saved_errno = errno;
    if (msg_state.depth++ > 0) {
        /* Logging failed while logging (out of memory): best effort. */
        static const char nested[] = "msg: recursive logging error\n";
        if (write(STDERR_FILENO, nested, sizeof(nested) - 1) < 0) {
        }
        msg_state.depth--;
        return;
    }
    strbuf format = STRBUF_INIT, text = STRBUF_INIT, line = STRBUF_INIT;
    expand_percent_m(&format, fmt, saved_errno);
    /* The rewritten format is the caller's literal with %m replaced, so the
     * compiler's format check on the caller still covers it. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
    strbuf_vprintf(&text, strbuf_str(&format), ap);
#pragma GCC diagnostic pop
    /* A message is one line: never let embedded newlines forge log lines. */
    for (size_t i = 0; i < text.len; i++)
        if (text.s[i] == '\n' || text.s[i] == '\r' || text.s[i] == '\0')
            text.s[i] = ' ';

    time_t now = time(NULL);
    check_rotated(now);
    if (msg_state.log_fd >= 0) {
        msg_log_stamp(&line, now);
        strbuf_printf(&line, " %s %s[%ld]: %s%s\n", msg_state.host, msg_state.ident, msg_pid(),
                      level_prefix(level), strbuf_str(&text));
        if (write(msg_state.log_fd, line.s, line.len) < 0) {
            /* Nowhere left to report it; stderr below still gets it. */
        }
    } else {
        if (!msg_state.syslog_open) {
            openlog(msg_state.ident, LOG_PID | LOG_NDELAY, msg_state.facility);
            msg_state.syslog_open = true;
        }
        syslog(level_priority(level), "%s%s", level_prefix(level), strbuf_str(&text));
    }
    if (msg_state.to_stderr && !(msg_state.stderr_warnings_only && level == LVL_INFO)) {
        strbuf_reset(&line);
        strbuf_printf(&line, "%s: %s%s\n", msg_state.service, level_prefix(level),
                      strbuf_str(&text));
        if (write(STDERR_FILENO, line.s, line.len) < 0) {
        }
    }
    strbuf_release(&format);
    strbuf_release(&text);
    strbuf_release(&line);
    msg_state.depth--;
    errno = saved_errno;
}

#define MSG_BODY(level)                                                                            \
    va_list ap;                                                                                    \
    va_start(ap, fmt);                                                                             \
    msg_vlog(level, fmt, ap);                                                                      \
    va_end(ap)

static void msg_log_text(enum msg_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void msg_log_text(enum msg_level level, const char *fmt, ...)
{
    MSG_BODY(level);
}

int msg_log_named(const char *priority, const char *text)
{
    static const struct {
        const char *name;
        enum msg_level level;
    } names[] = {{"info", LVL_INFO},
                 {"warn", LVL_WARN},
                 {"error", LVL_ERROR},
                 {"fatal", LVL_FATAL},
                 {"panic", LVL_PANIC}};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(priority, names[i].name) == 0) {
            msg_log_text(names[i].level, "%s", text);
            return 0;
        }
    return -1;
}

void msg_info(const char *fmt, ...)
{
    MSG_BODY(LVL_INFO);
}

void msg_warn(const char *fmt, ...)
{
    MSG_BODY(LVL_WARN);
}

void msg_error(const char *fmt, ...)
{
    MSG_BODY(LVL_ERROR);
}

void msg_debug(const char *fmt, ...)
{
    if (msg_verbose <= 0)
        return;
    MSG_BODY(LVL_INFO);
}

static _Noreturn void finish_fatal(int status)
{
    void (*cleanup)(void) = msg_state.cleanup;
    msg_state.cleanup = NULL;
    if (cleanup)
        cleanup();
    exit(status);
}

void msg_fatal(const char *fmt, ...)
{
    MSG_BODY(LVL_FATAL);
    finish_fatal(1);
}

void msg_fatal_status(int status, const char *fmt, ...)
{
    MSG_BODY(LVL_FATAL);
    finish_fatal(status);
}

void msg_panic(const char *fmt, ...)
{
    MSG_BODY(LVL_PANIC);
    abort();
}
