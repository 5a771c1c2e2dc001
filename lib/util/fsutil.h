/* fsutil - small durable file-system operations shared by writers.
 *
 * write_all retries short writes and EINTR. fsync_dir fsyncs the directory
 * that holds a path, which makes a create/rename/link/unlink in it durable.
 * mkdir_p creates missing directories (each with `mode`); existing ones are
 * accepted as they are. All return -1 with errno set on failure. fsync_all
 * syncs several files together (below); fsync_covers_new_entry says when
 * a file's fsync makes its directory entry durable as well.
 */
#ifndef MTA_FSUTIL_H
#define MTA_FSUTIL_H
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "strbuf.h"

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

/* True when fsync of a file on device `dev` (st_dev) also makes durable every
 * directory change made to that file before the fsync: its creation, a
 * rename, a parent directory made for it. Linux's ext4 (ext3 too, the same
 * driver) and xfs commit those in the journal transaction the file's fsync
 * forces (ext4 without a journal syncs the new entry's parents itself);
 * there a second fsync, of the directory, only costs the disk another cache
 * flush. Anything else (tmpfs, NFS, btrfs, overlay, no /proc) answers false
 * and the caller fsyncs the directory. Judged from /proc/self/mountinfo once
 * per device and process; prime it before a chroot hides /proc. */
bool fsync_covers_new_entry(dev_t dev);

/* The parser behind it: the file system type of device dev_major:dev_minor in
 * mountinfo text (proc(5)) into `type`. 0 when found, -1 when not. */
int mountinfo_fs_type(const char *text, size_t len, unsigned dev_major, unsigned dev_minor,
                      strbuf *type);

#endif
