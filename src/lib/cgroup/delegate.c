#include "cgroup/delegate.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cgroup/cgroup.h"
#include "util/cleanup.h"

/* The files of a group that its delegate writes (cgroup-v2.rst,
 * "Delegation Containment"); cgroup.threads is absent on old kernels. */
static const char *const delegated_files[] = { "cgroup.procs", "cgroup.subtree_control", "cgroup.threads" };

int cgroup_delegate(const char *path, uid_t uid, gid_t gid, ab_error *err)
{
    if (!cgroup_path_is_ours(path))
        return ab_fail(err, EINVAL, "internal error: '%s' is not a cgroup of appbox's", path ? path : "(null)");
    _cleanup_close_ int dir = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dir < 0)
        return ab_fail(err, errno, "cannot open the cgroup %s", path);
    if (fchown(dir, uid, gid) < 0)
        return ab_fail(err, errno, "cannot hand the cgroup %s to the container's root (host uid %u)", path, uid);
    for (size_t i = 0; i < sizeof(delegated_files) / sizeof(delegated_files[0]); i++)
        if (fchownat(dir, delegated_files[i], uid, gid, AT_SYMLINK_NOFOLLOW) < 0 &&
            !(errno == ENOENT && i == 2))
            return ab_fail(err, errno, "cannot hand %s/%s to the container's root (host uid %u)", path,
                           delegated_files[i], uid);
    return 0;
}

/* Remove every group below the open group DIR, deepest first. */
static void remove_children(int dir)
{
    _cleanup_close_ int dup_fd = dup(dir);
    DIR *d = dup_fd >= 0 ? fdopendir(dup_fd) : NULL;
    if (!d)
        return;
    dup_fd = -1; /* the DIR owns it */
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_type != DT_DIR || strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        int sub = openat(dir, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (sub >= 0) {
            remove_children(sub);
            close(sub);
        }
        unlinkat(dir, e->d_name, AT_REMOVEDIR);
    }
    closedir(d);
}

int cgroup_remove_tree(const char *path)
{
    if (!cgroup_path_is_ours(path))
        return -EINVAL;
    /* the last processes may still be on their way out (a KILL just sent):
     * a busy group is retried for a while */
    for (int tries = 0; tries < 100; tries++) {
        int dir = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (dir < 0)
            return errno == ENOENT ? 0 : -errno;
        remove_children(dir);
        close(dir);
        if (rmdir(path) == 0 || errno == ENOENT)
            return 0;
        if (errno != EBUSY)
            return -errno;
        nanosleep(&(struct timespec){ .tv_nsec = 20 * 1000 * 1000 }, NULL);
    }
    return -EBUSY;
}
