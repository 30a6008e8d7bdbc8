/* Shared bases: a cached Debian/Ubuntu tarball ($DATA/.images/NAME.tar) is
 * unpacked once, read-only, into $DATA/.images/bases/ID/root, and every
 * container made from it gets an overlay of that tree under a layer of its
 * own (NAME/layer/upper and work): `create` copies nothing and a new
 * container uses almost no disk.  NAME/base names the ID a container uses.
 *
 * ID = the cache name, a '.', and 16 hex digits of the tarball's identity
 * (inode, size, modification and birth times) and of the host id container root has
 * (a store of root's holds a root file system's own ids, idmapped at each
 * start; a user's holds its container ids).  A tarball built again (image
 * rm, then pull) is a new ID: containers of the old one keep theirs.
 *
 * A base is removed when no container uses it and it is not the unpack of
 * a tarball the cache still holds (bases_collect(): after rm and image rm),
 * so `image rm` of a base in use keeps it until the last of its
 * containers goes. */
#pragma once

#include "context.h"
#include "image/image.h"
#include "util/error.h"
#include "util/strv.h"

/* The ID of the base unpacked from TAR for this caller; malloc'd. */
char *bases_id(struct ab_ctx *ctx, const char *tar, ab_error *err);
/* $DATA/.images/bases/ID/root; malloc'd. */
char *bases_root(struct ab_ctx *ctx, const char *id, ab_error *err);

/* Make sure base ID exists, unpacking REF (the cached tarball) when it
 * does not (once: concurrent creates wait for one unpack).  *LOCK: the
 * bases' lock, held until the caller has recorded its use (NAME/base):
 * bases_collect() waits for it. */
int bases_prepare(struct ab_ctx *ctx, const struct image_ref *ref, const char *id, int *lock, ab_error *err);

/* The base ID container NAME uses (NAME/base), or NULL (errno ENOENT: a
 * container of the full-copy layout, NAME/rootfs). */
char *bases_of(struct ab_ctx *ctx, const char *name);

/* Containers (sorted) whose base is ID, or, with PREFIX, any base whose
 * ID starts with "PREFIX." (a cache name). */
int bases_users(struct ab_ctx *ctx, const char *id, bool prefix, strv *names, ab_error *err);

/* Remove every base no container uses that is not the unpack of a cached
 * tarball (nor being made or recorded right now). */
int bases_collect(struct ab_ctx *ctx, ab_error *err);
