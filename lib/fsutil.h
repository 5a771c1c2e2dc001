/* fsutil - small durable file-system operations shared by writers.
 *
 * write_all retries short writes and EINTR. fsync_dir fsyncs the directory
 * that holds a path, which makes a create/rename/link/unlink in it durable.
 * mkdir_p creates missing directories (each with `mode`); existing ones are
 * accepted as they are. All return -1 with errno set on failure.
 */
#ifndef MTA_FSUTIL_H
#define MTA_FSUTIL_H
#include <stddef.h>
#include <sys/types.h>

int write_all(int fd, const void *data, size_t len);
int fsync_dir(const char *dir);
int fsync_parent_dir(const char *path);
int mkdir_p(const char *path, mode_t mode);

#endif
