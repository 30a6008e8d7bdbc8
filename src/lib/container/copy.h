/* Files into and out of a named container (cp), and a container's root as
 * a tar file (export).
 *
 * The container side of the work is done by a helper that appbox forks and
 * that joins the container's user and mount namespaces as its root: there
 * its "/" is the container's root, so no path of the container's, however
 * its symlinks point, can name anything of the host's.  The host side reads
 * or writes host paths as the caller.  Between the two runs a stream of
 * frames (copy.c), so neither side ever resolves a path the other one
 * chose: the receiver creates each entry as one name in a directory it
 * holds open, never following a symlink.  A stopped container is started
 * for the copy (as `run` would: its own root, mounted as the engine mounts
 * it) and stopped again afterwards. */
#pragma once

#include <stdbool.h>

#include "container/container.h"

struct copy_stats {
    unsigned long dropped_setid;   /* set-id bits not copied */
    unsigned long skipped;         /* device nodes, fifos, sockets: not copied */
};

/* Copy the host path HOST_SRC (read as the caller) to CTR_DST in C, as
 * cp -r would: into CTR_DST when it is a directory, else as CTR_DST.  New
 * files belong to the container's root; set-id bits are dropped. */
int container_copy_in(struct container *c, const char *host_src, const char *ctr_dst, struct copy_stats *st,
                      ab_error *err);

/* Copy CTR_SRC of C to the host path HOST_DST (written as the caller, set-id
 * bits dropped). */
int container_copy_out(struct container *c, const char *ctr_src, const char *host_dst, struct copy_stats *st,
                       ab_error *err);

/* Write C's root file system, as the container sees it (its ids, modes,
 * set-id bits, symlinks, hard links), as a tar archive to the open file
 * OUT.  Only the root's own file system: what is mounted on it (/proc,
 * /dev, binds) is not part of it. */
int container_export(struct container *c, int out, struct copy_stats *st, ab_error *err);

/* Read the regular file CTR_PATH of C (resolved inside the container, as
 * cp does) into *OUT (malloc'd, NUL-terminated, *LEN bytes); one larger
 * than MAX bytes is refused without being read. */
int container_read_file(struct container *c, const char *ctr_path, size_t max, char **out, size_t *len,
                        ab_error *err);
