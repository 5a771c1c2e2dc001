/* master - internal interfaces of the master process (not a library API). */
#ifndef MTA_MASTER_H
#define MTA_MASTER_H
#include <stdbool.h>
#include <sys/types.h>
#include <time.h>

#include "master_cf.h"
#include "strbuf.h"
#include "strlist.h"

struct mservice {
    char *key;  /* "name/type", unique */
    char *name; /* master.cf service field */
    enum master_cf_type type;
    char *listen_desc; /* "25", "private/cleanup": for messages */
    char *path;        /* daemon_directory/command */
    strlist argv;      /* full argv for execv */
    char *listen_sig;  /* what the listeners depend on: reused on reload when equal */
    int *fds;          /* listening sockets / FIFO */
    int nfds;
    int maxproc; /* resolved: 0 = unlimited */
    int wakeup;
    bool wakeup_conditional;
    bool used; /* for conditional wakeup: a client came at least once */
    time_t next_wakeup;
    int status_fd[2]; /* [0] master reads, [1] children write */
    unsigned gen;
    int total;             /* current-generation children */
    int avail;             /* of those, idle */
    time_t throttle_until; /* 0 = not throttled */
    time_t busy_warn_time;
    bool dead; /* removed from master.cf; freed when nproc == 0 */
    int nproc; /* children (any generation) that point here */
    struct mservice *next;
};

struct mproc {
    pid_t pid;
    struct mservice *serv;
    unsigned gen;
    bool avail;
    int use_count;
    bool killed_by_master;
    struct mproc *next;
};

/* master.c */
extern const char *master_config_dir;
extern bool master_terminating;
/* Where daemons' (and, once detached, master's own) stderr goes: a file
 * named by $MTA_DAEMON_STDERR (sanitizer reports in test builds), else
 * /dev/null. Opened once at startup. */
extern int master_stderr_fd;

/* master_listen.c: create the listeners of an entry. Returns 0 with *fds and
 * *nfds set, or -1 with *err set; *desc names the endpoint for messages.
 * master_listen_signature describes what the listeners depend on: equal
 * signatures across a reload keep the open listeners. */
int master_listen_create(const struct master_cf_entry *e, int **fds, int *nfds, strbuf *desc,
                         strbuf *err);
void master_listen_signature(const struct master_cf_entry *e, strbuf *sig);
void master_listen_close(struct mservice *s, bool unlink_path);

/* master_serv.c */
void master_services_load(bool reload); /* read master.cf; fatal on first load errors */
void master_services_stop_all(void);
/* Wait for service events and timers, handling them; returns when sig_fd
 * (the signal self-pipe) is readable. */
void master_services_wait(int sig_fd);
void master_reap_children(void);

#endif
