/* Unit tests: stdfd (closed standard descriptors get /dev/null, open ones
 * are kept). Each case runs in a child process: it closes descriptors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "stdfd.h"

static bool is_dev_null_rw(int fd)
{
    struct stat st, null;
    int fl = fcntl(fd, F_GETFL);
    return fstat(fd, &st) == 0 && stat("/dev/null", &null) == 0 && S_ISCHR(st.st_mode) &&
           st.st_rdev == null.st_rdev && fl >= 0 && (fl & O_ACCMODE) == O_RDWR;
}

/* In a child: close the fds in `mask` (bit n = fd n), call stdfd, then
 * exit 0 when every closed fd is /dev/null and the others kept their file. */
static int run_child(unsigned mask)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int keep = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        struct stat before[3];
        for (int fd = 0; fd < 3; fd++) {
            if (mask & (1u << fd))
                close(fd);
            else if (dup2(keep, fd) < 0 || fstat(fd, &before[fd]) < 0)
                _exit(10);
        }
        stdfd_ensure_open();
        for (int fd = 0; fd < 3; fd++) {
            struct stat now;
            if (mask & (1u << fd)) {
                if (!is_dev_null_rw(fd))
                    _exit(20 + fd);
            } else if (fstat(fd, &now) < 0 || now.st_ino != before[fd].st_ino ||
                       now.st_dev != before[fd].st_dev) {
                _exit(30 + fd);
            }
        }
        /* The next file opened is never a standard descriptor. */
        int next = open("/", O_RDONLY | O_DIRECTORY);
        _exit(next > 2 ? 0 : 40);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    return WEXITSTATUS(status);
}

static void every_combination(void **state)
{
    (void)state;
    for (unsigned mask = 0; mask < 8; mask++)
        assert_int_equal(run_child(mask), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_combination),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
