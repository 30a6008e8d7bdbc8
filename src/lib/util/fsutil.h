/* File-system helpers.  Everything that touches a path inside a container
 * root goes through fs_*_in_root(): the root is hostile, so its symlinks are
 * resolved as if the root were "/" (openat2 RESOLVE_IN_ROOT) and never lead
 * out of it. */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include "util/error.h"

/* Open PATH (absolute or relative, resolved inside ROOTFD) with O_PATH or
 * the given flags; returns an fd or -errno. */
int fs_open_in_root(int rootfd, const char *path, int flags);

/* Make sure PATH exists inside ROOTFD: missing directories are created
 * (mode 0755); the last component is created as a directory, or as an empty
 * file when AS_FILE.  Returns an O_PATH fd of the result or -errno, with
 * *err filled. */
int fs_ensure_in_root(int rootfd, const char *path, bool as_file, ab_error *err);

/* Read a whole small file relative to DIRFD (resolved in root when
 * IN_ROOT); returns a malloc'd NUL-terminated buffer or NULL with errno. */
char *fs_read_file_at(int dirfd, const char *path, bool in_root, size_t max);
/* The rest of the open file FD as a malloc'd string (at most MAX bytes;
 * EFBIG beyond); FD stays open. */
char *fs_read_fd(int fd, size_t max);

/* Read a small configuration file of a hostile root (/etc/passwd,
 * /etc/group): PATH is resolved in ROOTFD (RESOLVE_IN_ROOT |
 * RESOLVE_NO_MAGICLINKS) and opened O_NONBLOCK (a FIFO or device there
 * never blocks the open); only a regular file that is not on a kernel
 * pseudo-file system (procfs, sysfs: their files are made for whoever
 * reads them, such as another process's environment or mount table) and
 * holds at most MAX bytes is read.  Returns a malloc'd NUL-terminated
 * buffer, or NULL with errno (ENOENT, EINVAL: not such a file, EFBIG: too
 * large, ...).  With FDP, *FDP receives the open file (the caller closes
 * it), so that what was read is also what a later step works on. */
char *fs_read_config_in_root(int rootfd, const char *path, size_t max, int *fdp);

/* Write a whole string to PATH (used for /proc files); returns 0 or -errno. */
int fs_write_file(const char *path, const char *data);

/* Lexically clean an absolute path: collapse "//", drop "." components,
 * strip a trailing "/".  ".." components are refused (returns NULL, errno
 * EINVAL) because a destination with ".." means the caller is confused. */
char *fs_clean_abs_path(const char *path);

/* Create PATH and its missing parents (mode 0700), check it is a directory
 * of the caller's (not a symlink), and with PRIVATE_DIR make it 0700 if it
 * is not. */
int fs_mkdirs(const char *path, bool private_dir, ab_error *err);
/* Only the mkdir -p part (0700 for what is made): checks are the caller's. */
int fs_make_path(const char *path, ab_error *err);

/* Remove NAME below DIRFD and everything in it, as `rm -rf` would, but
 * relative to open directory fds only: no path is ever built, so there is
 * no PATH_MAX limit (a chain of directories thousands deep is removed);
 * symbolic links are removed, never followed (O_NOFOLLOW on every open);
 * no other file system or mount is entered (a mount point, by device or
 * mount id, fails the removal with a message); a directory of mode 000 is
 * opened with the caller's capabilities or made 0700 first (through its
 * fd, never a path).  At most a few dozen fds are held: a level whose fd
 * was closed is re-opened through ".." of its child and checked to be the
 * same directory (device and inode), or the removal fails.  A NAME that
 * does not exist is no error; a NAME that is not a directory is unlinked.
 * Returns 0, or -errno with *err filled (the name that failed, and how
 * deep). */
int fs_remove_tree_at(int dirfd, const char *name, ab_error *err);

/* Below DIRFD, remove the directories named PREFIX PID (the end, or a
 * non-digit and more after it) whose process PID no longer exists, with
 * the file FILE (NULL: none) in each: what a throwaway sandbox made for
 * itself and could not remove when it was SIGKILLed.  Links are never
 * followed; a directory still in use (a cgroup with processes) stays;
 * errors are ignored (the next sweep tries again). */
void fs_sweep_dead_pid_dirs(int dirfd, const char *prefix, const char *file);

/* Whether PATH is DIR or lies below it (both absolute, normalised). */
bool fs_path_within(const char *path, const char *dir);
