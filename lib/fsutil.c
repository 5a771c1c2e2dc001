#include "fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mem.h"
#include "strbuf.h"

int write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (n == 0) {
            errno = EIO;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int ret = fsync(fd);
    int saved = errno;
    close(fd);
    errno = saved;
    return ret;
}

int fsync_parent_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (slash == NULL)
        return fsync_dir(".");
    if (slash == path)
        return fsync_dir("/");
    char *dir = xstrndup(path, (size_t)(slash - path));
    int ret = fsync_dir(dir);
    int saved = errno;
    free(dir);
    errno = saved;
    return ret;
}

int mkdir_p(const char *path, mode_t mode)
{
    strbuf partial = STRBUF_INIT;
    int ret = 0;
    for (const char *p = path; ret == 0; p++) {
        if ((*p == '/' || *p == '\0') && partial.len > 0) {
            if (mkdir(partial.s, mode) < 0 && errno != EEXIST)
                ret = -1;
        }
        if (*p == '\0')
            break;
        strbuf_putc(&partial, *p);
    }
    int saved = errno;
    strbuf_release(&partial);
    errno = saved;
    return ret;
}
