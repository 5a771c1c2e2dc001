/* stdfd - make sure file descriptors 0, 1 and 2 are open (see stdfd.h). */
#include "stdfd.h"

#include <errno.h>
#include <fcntl.h>
#include <sysexits.h>
#include <unistd.h>

static _Noreturn void give_up(void)
{
    /* Logging is not set up yet, and fd 2 may be the descriptor we lack. */
    static const char text[] = "fatal: cannot open /dev/null for a closed standard descriptor\n";
    if (write(STDERR_FILENO, text, sizeof(text) - 1) < 0) {
    }
    _exit(EX_OSERR);
}

void stdfd_ensure_open(void)
{
    for (int fd = STDIN_FILENO; fd <= STDERR_FILENO; fd++) {
        if (fcntl(fd, F_GETFD) >= 0 || errno != EBADF)
            continue;
        /* The lower ones are open by now, so this lands on fd. */
        int got = open("/dev/null", O_RDWR | O_NOCTTY);
        if (got != fd) {
            if (got >= 0)
                close(got);
            give_up();
        }
    }
}
