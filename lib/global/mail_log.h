/* mail_log - the one call that points a program's logging at what main.cf
 * says (syslog_name, syslog_facility, maillog_file, myhostname).
 *
 * Call after config_load (and after master.cf -o overrides, which may set
 * syslog_name). A maillog_file that cannot be opened leaves logging on
 * syslog; what is said about it depends on who is calling:
 *   MAIL_LOG_WARN   daemons and root commands: a warning naming the file;
 *   MAIL_LOG_QUIET  setgid/user commands (sendmail, postdrop, postqueue),
 *                   which an ordinary user may run without write access
 *                   to the file: a debug line only;
 *   MAIL_LOG_SILENT nothing: the caller reports it (errno is kept).
 * Returns 0, or -1 with errno set when maillog_file could not be opened. */
#ifndef MTA_MAIL_LOG_H
#define MTA_MAIL_LOG_H

enum mail_log_failure {
    MAIL_LOG_WARN,
    MAIL_LOG_QUIET,
    MAIL_LOG_SILENT,
};

int mail_log_setup(enum mail_log_failure on_failure);

#endif
