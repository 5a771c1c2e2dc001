/* stdfd - make sure file descriptors 0, 1 and 2 are open.
 *
 * Contract: stdfd_ensure_open() opens /dev/null (read-write) on each of
 * stdin, stdout and stderr that is closed, so that no file the program
 * opens later can become one of them: a log, queue file or socket that
 * landed on fd 1 or 2 would receive the program's output or its error
 * messages (and a setgid program's caller chooses which fds are closed).
 * Descriptors that are open are left alone, whatever they are. It is the
 * first call in main() of sendmail, postdrop and postqueue, before logging
 * is set up; when /dev/null cannot be opened it writes one line to fd 2 (if
 * that is open) and exits EX_OSERR.
 */
#ifndef MTA_STDFD_H
#define MTA_STDFD_H

void stdfd_ensure_open(void);

#endif
