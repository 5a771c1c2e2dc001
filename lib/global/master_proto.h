/* master_proto - the contract between master and the services it forks.
 *
 * A child starts with: stdin/stdout/stderr on /dev/null, fd MASTER_STATUS_FD
 * (5) the write end of its service's status channel (an AF_UNIX
 * SOCK_SEQPACKET socket), fds MASTER_LISTEN_FD (6) .. 6+N-1 the service's
 * listening sockets or FIFO (N given by "-s N", default 1), no other fds, and
 * the environment MAIL_CONFIG (config directory), GENERATION (octal service
 * generation) plus $import_environment.
 *
 * The child writes one struct master_status per state change:
 * MASTER_STAT_TAKEN when it accepted a client, MASTER_STAT_AVAIL when it is
 * idle again. Master never writes to the channel: when the channel becomes
 * readable or hung up, master is gone or reloaded, and the child finishes the
 * client it has and exits.
 *
 * Master's argv for a child: command, then -l (maxproc 1), -z (maxproc 0),
 * -n service, -t type, -v, -u (run as mail_owner), -c (chroot to
 * queue_directory), -s N, then the master.cf arguments (-o name=value ...).
 */
#ifndef MTA_MASTER_PROTO_H
#define MTA_MASTER_PROTO_H
#include <sys/types.h>

#define MASTER_STATUS_FD 5
#define MASTER_LISTEN_FD 6

#define MASTER_STAT_TAKEN 0
#define MASTER_STAT_AVAIL 1

struct master_status {
    pid_t pid;
    unsigned gen;
    int avail; /* MASTER_STAT_TAKEN or MASTER_STAT_AVAIL */
};

#define MASTER_GENERATION_ENV "GENERATION"

#endif
