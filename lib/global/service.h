/* service - the skeleton every daemon started by master runs in.
 *
 * service_main() parses master's argv (see master_proto.h), loads main.cf
 * from $MAIL_CONFIG, applies "-o name=value" overrides (after setting
 * service_name and process_name), configures logging, calls ops->pre_init
 * (still root: open privileged files here), changes to queue_directory,
 * chroots there with -c, drops to mail_owner with -u (supplementary groups
 * cleared; checked that root cannot be regained), calls ops->post_init, and
 * then serves:
 *
 *   SERVICE_SINGLE   one client at a time: accept on any listen fd, tell
 *                    master "taken", call ops->serve(fd, ...), close fd, tell
 *                    master "available" (smtpd, cleanup, local, showq).
 *   SERVICE_TRIGGER  wake-up bytes: a connection on a listening socket is
 *                    read to EOF (at most SERVICE_TRIGGER_MAX bytes), a FIFO
 *                    or datagram socket read once, and ops->trigger() called
 *                    with the bytes (pickup, qmgr).
 *   SERVICE_RESIDENT ops->run() owns the process after initialisation and
 *                    may call service_wait_trigger() (qmgr-like schedulers).
 *
 * The process exits (status 0) after $max_use clients (-m), after $max_idle
 * seconds without a client (-i), or when master closes the status channel
 * (reload, stop) -- never in the middle of a client. ops->unlimited ignores
 * max_use and max_idle (resident services). $daemon_timeout bounds one
 * client (SIGALRM kills a stuck process; master logs it).
 *
 * "-S" serves one client on stdin (fd 0) and exits: postqueue runs showq that
 * way when master is down. Options master never passes (-D, -V, -r) are
 * refused with a clear message.
 */
#ifndef MTA_SERVICE_H
#define MTA_SERVICE_H
#include <stdbool.h>
#include <stddef.h>

#include "strbuf.h"

#define SERVICE_TRIGGER_MAX 1024

enum service_mode {
    SERVICE_SINGLE,
    SERVICE_TRIGGER,
    SERVICE_RESIDENT,
};

/* `service` is the master.cf service name (-n, else the program name);
 * `args` the NULL-terminated arguments after the options (pipe's
 * "flags=... argv=..."). */
struct service_ops {
    enum service_mode mode;
    bool unlimited;
    void (*pre_init)(const char *service, char **args);      /* optional, as root */
    void (*post_init)(const char *service, char **args);     /* optional, unprivileged */
    void (*serve)(int fd, const char *service, char **args); /* SINGLE */
    /* SINGLE, optional: a client is waiting and not yet accepted; a process
     * that must restart (a lookup table changed) exits here and leaves the
     * client to a fresh sibling (Postfix's pre_accept). */
    void (*pre_accept)(const char *service, char **args);
    void (*trigger)(const char *buf, size_t len, const char *service, char **args); /* TRIGGER */
    void (*run)(const char *service, char **args); /* RESIDENT; returning exits 0 */
    /* RESIDENT with its own event loop: when master closes the status
     * channel, service_take_ready() returns 0 and service_master_gone()
     * turns true instead of exiting at once, so the service can finish the
     * work in hand (qmgr's deliveries in flight) and exit by itself. */
    bool drain;
};

/* Never returns. `progname` names the program for logging ("smtpd"). */
_Noreturn void service_main(const char *progname, int argc, char **argv,
                            const struct service_ops *ops);

/* RESIDENT helpers. Wait up to timeout_ms (-1: forever) for a wake-up on the
 * listen fds. Returns the number of trigger bytes stored in *out (at least 1;
 * a connection that sent nothing counts as "W"), or 0 on timeout. Exits the
 * process when master went away. */
size_t service_wait_trigger(int timeout_ms, strbuf *out);

/* RESIDENT services with their own event loop (qmgr): the descriptors to
 * watch for readability -- the listen fds and master's status channel.
 * Stores up to `max` fds, returns how many there are. */
size_t service_watch_fds(int *fds, size_t max);
/* Call when a watched fd is readable. For a listen fd: the trigger bytes go
 * to *out and their count (>= 1) is returned, or 0 when a sibling took the
 * client. For master's status channel (master went away): exits, or with
 * ops->drain returns 0 (see service_master_gone). */
size_t service_take_ready(int fd, strbuf *out);
/* True once master has closed the status channel (ops->drain services). */
bool service_master_gone(void);

/* The service name, transport type (-t) and whether -v was given. */
const char *service_name(void);
const char *service_transport(void);

/* True in a process started with -S: its one client is whoever is on
 * stdin (sendmail -bs, postqueue's showq), not a network connection. */
bool service_stand_alone(void);

#endif
