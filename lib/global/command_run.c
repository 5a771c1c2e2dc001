#include "command_run.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

static const struct {
    int status;
    const char *dsn;
    const char *text;
    bool temporary;
} sysexits_table[] = {
    {EX_USAGE, "5.3.0", "command line usage error", false},
    {EX_DATAERR, "5.6.0", "data format error", false},
    {EX_NOINPUT, "5.3.0", "cannot open input", false},
    {EX_NOUSER, "5.1.1", "user unknown", false},
    {EX_NOHOST, "5.1.2", "host name unknown", false},
    {EX_UNAVAILABLE, "5.3.0", "service unavailable", false},
    {EX_SOFTWARE, "5.3.0", "internal software error", false},
    {EX_OSERR, "4.3.0", "system resource problem", true},
    {EX_OSFILE, "5.3.0", "critical OS file missing", false},
    {EX_CANTCREAT, "5.2.0", "can't create user output file", false},
    {EX_IOERR, "5.3.0", "input/output error", false},
    {EX_TEMPFAIL, "4.3.0", "temporary failure", true},
    {EX_PROTOCOL, "5.5.0", "remote error in protocol", false},
    {EX_NOPERM, "5.7.0", "permission denied", false},
    {EX_CONFIG, "5.3.5", "local configuration error", false},
};

bool command_sysexit_info(int status, const char **dsn, const char **text, bool *temporary)
{
    for (size_t i = 0; i < sizeof(sysexits_table) / sizeof(sysexits_table[0]); i++) {
        if (sysexits_table[i].status == status) {
            *dsn = sysexits_table[i].dsn;
            *text = sysexits_table[i].text;
            *temporary = sysexits_table[i].temporary;
            return true;
        }
    }
    return false;
}

/* In the child: become the command. Only async-signal-safe calls. */
static _Noreturn void exec_child(const struct command_request *req, int in_fd, int out_fd)
{
    static const char fail_msg[] = "command_run: cannot start command\n";
    setsid();
    if (dup2(in_fd, STDIN_FILENO) < 0 || dup2(out_fd, STDOUT_FILENO) < 0 ||
        dup2(out_fd, STDERR_FILENO) < 0)
        _exit(EX_OSERR);
    /* Close every other descriptor: queue files and sockets must not leak
     * into user-controlled programs. */
    for (int fd = 3; fd < 1024; fd++)
        close(fd);
    if (req->set_ids) {
        if (setgroups(1, &req->gid) < 0 || setgid(req->gid) < 0 || setuid(req->uid) < 0)
            _exit(EX_OSERR);
        if (req->uid != 0 && setuid(0) == 0)
            _exit(EX_OSERR); /* privileges were not really dropped */
    }
    if (chdir(req->cwd ? req->cwd : "/") < 0 && chdir("/") < 0)
        _exit(EX_OSERR);
    signal(SIGPIPE, SIG_DFL);
    if (req->shell_command) {
        char *const sh_argv[] = {"/bin/sh", "-c", (char *)req->shell_command, NULL};
        execve("/bin/sh", sh_argv, req->env);
    } else {
        execve(req->argv[0], req->argv, req->env);
    }
    if (write(STDERR_FILENO, fail_msg, sizeof(fail_msg) - 1) < 0) {
    }
    _exit(EX_OSERR);
}

static void capture(struct command_result *res, size_t limit, const char *data, size_t len)
{
    size_t room = limit > res->output.len ? limit - res->output.len : 0;
    strbuf_append(&res->output, data, len < room ? len : room);
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Feed input and drain output until the child closes its output and the
 * input is done, or the deadline passes. Returns false on timeout. */
static bool pump(const struct command_request *req, struct command_result *res, int to_child,
                 int from_child)
{
    long long deadline = req->time_limit ? now_ms() + (long long)req->time_limit * 1000 : -1;
    const char *chunk = NULL;
    size_t chunk_len = 0;
    bool input_done = false;
    char buf[8192];
    /* Run until the input is fully delivered AND the output is closed: a
     * command like "cat > file" closes its output long before its input. */
    while (from_child >= 0 || !input_done) {
        if (!input_done && chunk_len == 0) {
            ssize_t n = req->input(req->input_ctx, &chunk);
            if (n <= 0) {
                if (n < 0)
                    res->input_error = true;
                input_done = true;
                close(to_child);
                to_child = -1;
                if (res->input_error)
                    return false;
            } else {
                chunk_len = (size_t)n;
            }
        }
        /* poll ignores negative descriptors, so a closed side drops out. */
        struct pollfd pfd[2] = {{from_child, POLLIN, 0}, {to_child, POLLOUT, 0}};
        int timeout = -1;
        if (deadline >= 0) {
            long long left = deadline - now_ms();
            if (left <= 0)
                break;
            timeout = left > 60000 ? 60000 : (int)left;
        }
        int n = poll(pfd, 2, timeout);
        if (n < 0 && errno != EINTR)
            break;
        if (n <= 0)
            continue;
        if (from_child >= 0 && pfd[0].revents) {
            ssize_t got = read(from_child, buf, sizeof(buf));
            if (got > 0)
                capture(res, req->output_limit, buf, (size_t)got);
            else if (got == 0 || errno != EINTR)
                from_child = -1; /* the command closed its output */
        }
        if (!input_done && pfd[1].revents) {
            ssize_t put = write(to_child, chunk, chunk_len);
            if (put > 0) {
                chunk += put;
                chunk_len -= (size_t)put;
            } else if (put < 0 && errno != EINTR && errno != EAGAIN) {
                /* The command stopped reading (EPIPE): its exit status
                 * decides, like Postfix. */
                input_done = true;
                close(to_child);
                to_child = -1;
            }
        }
    }
    if (to_child >= 0)
        close(to_child);
    return from_child < 0 && input_done;
}

static void describe(const struct command_request *req, struct command_result *res, int wstatus)
{
    const char *text = NULL;
    bool temporary = false;
    if (res->timed_out || res->input_error) {
        res->outcome = COMMAND_DEFER;
        res->dsn = "4.3.0";
        strbuf_puts(&res->reason,
                    res->timed_out ? "command time limit exceeded" : "error reading the message");
        return;
    }
    if (WIFSIGNALED(wstatus)) {
        res->signal = WTERMSIG(wstatus);
        res->outcome = COMMAND_DEFER;
        res->dsn = "4.3.0";
        strbuf_printf(&res->reason, "command died with signal %d", res->signal);
    } else {
        res->exit_status = WEXITSTATUS(wstatus);
        if (res->exit_status == 0) {
            res->outcome = COMMAND_OK;
            res->dsn = "2.0.0";
            return;
        }
        if (command_sysexit_info(res->exit_status, &res->dsn, &text, &temporary)) {
            res->outcome = temporary ? COMMAND_DEFER : COMMAND_BOUNCE;
            strbuf_printf(&res->reason, "command died with status %d (%s)", res->exit_status, text);
        } else {
            res->outcome = COMMAND_BOUNCE;
            res->dsn = "5.3.0";
            strbuf_printf(&res->reason, "command died with status %d", res->exit_status);
        }
    }
    if (res->output.len > 0) {
        strbuf_puts(&res->reason, ". Command output: ");
        /* Output goes into logs and bounces: one line, printable. */
        for (size_t i = 0; i < res->output.len; i++) {
            unsigned char c = (unsigned char)res->output.s[i];
            strbuf_putc(&res->reason, c < 0x20 || c == 0x7f ? ' ' : (char)c);
        }
    }
    (void)req;
}

int command_run(const struct command_request *req, struct command_result *res, strbuf *err)
{
    memset(res, 0, sizeof(*res));
    int in_pipe[2], out_pipe[2];
    if (pipe2(in_pipe, O_CLOEXEC) < 0) {
        strbuf_printf(err, "pipe: %s", strerror(errno));
        return -1;
    }
    if (pipe2(out_pipe, O_CLOEXEC) < 0) {
        strbuf_printf(err, "pipe: %s", strerror(errno));
        close(in_pipe[0]);
        close(in_pipe[1]);
        return -1;
    }
    pid_t pid = fork();
    if (pid < 0) {
        strbuf_printf(err, "fork: %s", strerror(errno));
        close(in_pipe[0]);
        close(in_pipe[1]);
        close(out_pipe[0]);
        close(out_pipe[1]);
        return -1;
    }
    if (pid == 0)
        exec_child(req, in_pipe[0], out_pipe[1]);
    close(in_pipe[0]);
    close(out_pipe[1]);
    /* A command that exits early must give us EPIPE, not kill us. */
    struct sigaction ignore = {.sa_handler = SIG_IGN}, old;
    sigaction(SIGPIPE, &ignore, &old);
    bool finished = pump(req, res, in_pipe[1], out_pipe[0]);
    sigaction(SIGPIPE, &old, NULL);
    close(out_pipe[0]);
    if (!finished) {
        res->timed_out = !res->input_error;
        kill(-pid, SIGKILL);
        kill(pid, SIGKILL);
    }
    int wstatus = 0;
    while (waitpid(pid, &wstatus, 0) < 0) {
        if (errno != EINTR) {
            strbuf_printf(err, "waitpid: %s", strerror(errno));
            return -1;
        }
    }
    describe(req, res, wstatus);
    return 0;
}

void command_result_release(struct command_result *res)
{
    strbuf_release(&res->reason);
    strbuf_release(&res->output);
}
