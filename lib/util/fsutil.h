/* fsutil - small durable file-system operations shared by writers.
 *
 * write_all retries short writes and EINTR. fsync_dir fsyncs the directory
 * that holds a path, which makes a create/rename/link/unlink in it durable.
 * mkdir_p creates missing directories (each with `mode`); existing ones are
 * accepted as they are. All return -1 with errno set on failure. fsync_all
 * syncs several files together (below).
 */
#ifndef MTA_FSUTIL_H
#define MTA_FSUTIL_H
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

int write_all(int fd, const void *data, size_t len);
int fsync_dir(const char *dir);
int fsync_parent_dir(const char *path);
int mkdir_p(const char *path, mode_t mode);

/* True when path starts with '/' and has no "." or ".." component: the
 * file it names is where its text says (before symlinks), whatever text
 * was substituted into it. */
bool path_is_plain_absolute(const char *path);

/* fsync fds[0..n) with all the fsyncs in flight at once (Linux AIO
 * IOCB_CMD_FSYNC, run by kernel workers), so the block layer can merge
 * their disk-cache flushes: n fsyncs in a row cost n flushes and n waits,
 * n at once can share one. errs[i] gets 0 or fds[i]'s errno. Where the
 * kernel cannot (no AIO fsync for this file system), the rest is fsynced
 * one by one. Returns 0 when every fsync succeeded, else -1. */
int fsync_all(const int *fds, size_t n, int *errs);

#endif
