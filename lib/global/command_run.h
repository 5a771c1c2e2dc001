/* command_run - deliver a message to an external command.
 *
 * Used by local(8) for "|command" aliases, .forward entries and
 * mailbox_command, and by pipe(8) for its argv= commands (never a shell:
 * shell_command NULL, argv built element by element). The command runs in its own session
 * (process group) with the given uid/gid (when we are root), working
 * directory and complete environment; nothing is inherited but
 * stdin (the message), stdout+stderr (captured, at most output_limit bytes,
 * the rest read and discarded so the command never blocks on a full pipe)
 * and the standard descriptors. Input is produced chunk by chunk by the
 * caller's callback while output is drained, so neither side can deadlock.
 * After time_limit seconds the whole process group is killed.
 *
 * The outcome maps to a delivery status like Postfix's: exit 0 is success;
 * sysexits codes have their own enhanced status and text (EX_TEMPFAIL and
 * EX_OSERR are temporary); other non-zero exits are permanent (5.3.0);
 * death by signal and the time limit are temporary (4.3.0), so a crashing
 * filter defers mail instead of losing it.
 */
#ifndef MTA_COMMAND_RUN_H
#define MTA_COMMAND_RUN_H
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "strbuf.h"

/* Produce the next input chunk: return its length and set *data, 0 at the
 * end of input, or -1 on a read error (the command is then killed). */
typedef ssize_t (*command_input_fn)(void *ctx, const char **data);

struct command_request {
    const char *shell_command; /* run with /bin/sh -c, or NULL to use argv */
    char *const *argv;         /* argv[0] is the program path */
    char *const *env;          /* complete environment */
    const char *cwd;           /* working directory, or NULL for "/" */
    bool set_ids;              /* switch to uid/gid (requires root) */
    uid_t uid;
    gid_t gid;
    unsigned time_limit; /* seconds; 0 = none */
    size_t output_limit; /* bytes of output kept for the report */
    command_input_fn input;
    void *input_ctx;
};

enum command_outcome { COMMAND_OK, COMMAND_DEFER, COMMAND_BOUNCE };

struct command_result {
    enum command_outcome outcome;
    int exit_status; /* valid when exited */
    int signal;      /* > 0 when killed by a signal */
    bool timed_out;
    bool input_error;
    const char *dsn; /* enhanced status code, e.g. "4.3.0" */
    strbuf reason;   /* "command died with status 1: <output>" etc. */
    strbuf output;   /* captured output (bounded) */
};

/* Runs the command to completion. Returns 0 when the command ran (see
 * res->outcome), -1 when it could not be started (err says why; treat as
 * temporary). Call command_result_release afterwards in both cases. */
int command_run(const struct command_request *req, struct command_result *res, strbuf *err);
void command_result_release(struct command_result *res);

/* The enhanced status and text Postfix uses for a sysexits code; false when
 * `status` is not a sysexits code. */
bool command_sysexit_info(int status, const char **dsn, const char **text, bool *temporary);

#endif
