/* Laying image layers down on a root file system.  Runs in appbox-unpack,
 * inside a sandbox as the container's root, so file ownership lands in the
 * container's id map and nothing but the target directory is writable.
 * The archive is hostile all the same: an entry with "..", an absolute
 * path, a path through a symlink, or a hardlink out of the root is refused;
 * device nodes are skipped; set-id bits of files owned by ids the
 * container cannot map are dropped. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "util/error.h"

struct unpack_stats {
    unsigned long entries;
    unsigned long skipped_devices;
    unsigned long dropped_setid;
    unsigned long whiteouts;
};

/* Apply the layer read from FD (tar, any compression libarchive knows) onto
 * the directory DEST (a path; the caller is in the sandbox).  Whiteouts are
 * applied first when FD is seekable, so they only remove what lower layers
 * put there. */
int unpack_layer(int fd, const char *dest, struct unpack_stats *st, ab_error *err);

/* Whether NAME (an archive entry path) is safe: relative, no ".."
 * component, not empty.  Leading "./" and "/" are not allowed to hide. */
bool unpack_path_ok(const char *name);
