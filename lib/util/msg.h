/* msg - diagnostics and the mail log.
 *
 * One line per call, in Postfix's format: ident "$syslog_name/<service>[pid]"
 * and, for warnings and worse, a "warning: " / "error: " / "fatal: " /
 * "panic: " prefix. Lines go to syslog (facility $syslog_facility) or, when
 * $maillog_file is set, are appended to that file with a timestamp prefix
 * "Mmm dd HH:MM:SS host ident[pid]: text", the day space-padded as syslog
writes it ("Dec  2", which pflogsumm -d today matches; Postfix 3.7's own
maillog_file writes "Dec 02"), one write(2) per line, O_APPEND,
 * so concurrent processes never interleave; a maillog_file renamed away
 * is reopened by name within a second, where the process may open the new
 * file). Commands also print
 * "program: text" on stderr. Every format accepts %m (strerror(errno)).
 *
 * msg_fatal logs and exits 1 (daemons: master respawns them);
 * msg_fatal_status exits with the given sysexits code; msg_panic aborts
 * (a broken invariant).
 */
#ifndef MTA_MSG_H
#define MTA_MSG_H
#include <stdarg.h>
#include <stdbool.h>
#include <time.h>

#include "strbuf.h"

/* Call first, with the program name ("smtpd", "postconf"). Logs to syslog
 * with ident "postfix/<service>" until msg_configure is called. */
void msg_init(const char *service, bool to_stderr);

/* This process's pid, as getpid() returns it, without a system call after
 * the first one (the log line of every message names it). A child made by
 * fork() gets its own: the cache is cleared in the child (pthread_atfork). */
long msg_pid(void);

/* With `on`, warnings and worse also go to stderr, informational lines
 * only to the log (a daemon before it detaches, a command that reports
 * library warnings); with `off`, nothing goes to stderr. */
void msg_stderr_warnings(bool on);

/* Apply logging parameters once the configuration is known. service_name may
 * be NULL to keep the current one (master.cf's service name can differ from
 * the program name: "submission/smtpd" comes from syslog_name). maillog_file
 * empty or NULL means syslog. Returns -1 with errno set when the file cannot
 * be opened (logging then stays on syslog). */
int msg_configure(const char *syslog_name, const char *facility, const char *maillog_file,
                  const char *hostname);

/* The maillog_file timestamp of `when` in local time, RFC 3164 style:
 * "Dec  2 10:00:00" (15 characters, the day padded with a space). */
void msg_log_stamp(strbuf *out, time_t when);

/* The ident in use, e.g. "postfix/smtpd". */
const char *msg_ident(void);

/* Replace the whole ident (postlog -t): lines are tagged `ident[pid]`. */
void msg_set_ident(const char *ident);

/* Log `text` (taken literally, no format) at the level postlog -p names:
 * "info", "warn", "error", "fatal" or "panic", with that level's prefix,
 * and return; nothing exits or aborts. -1 for another name. */
int msg_log_named(const char *priority, const char *text);

void msg_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void msg_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void msg_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
_Noreturn void msg_fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
_Noreturn void msg_fatal_status(int status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
_Noreturn void msg_panic(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Verbose logging (-v): msg_debug prints only when msg_verbose > 0. */
extern int msg_verbose;
void msg_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Run before exiting on msg_fatal (e.g. remove a half-written file).
 * Must not log fatally itself. */
void msg_set_cleanup(void (*fn)(void));

#endif
