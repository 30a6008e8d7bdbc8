/* Handing a cgroup v2 group to a container's root (as systemd's
 * Delegate=yes does for a unit): the group's directory and the files a
 * manager inside must write (cgroup.procs, cgroup.subtree_control,
 * cgroup.threads) become the container root's, so that an init inside
 * (systemd) can make groups below it and move its processes between them.
 * Nothing above the group is touched: the limits set on it and its
 * parents stay the host's. */
#pragma once

#include <sys/types.h>

#include "util/error.h"

/* Chown the v2 group PATH (one cgroup_path_is_ours() accepts) and its
 * delegation files to UID:GID (host ids: the container root's). */
int cgroup_delegate(const char *path, uid_t uid, gid_t gid, ab_error *err);

/* Remove the v2 group PATH and every group below it (an init inside made
 * them), deepest first; quiet.  0 when gone, else a negative errno. */
int cgroup_remove_tree(const char *path);
