/* Bind sources pinned.  A running container may write into its read-write
 * binds, so a path below one of them (another bind's source) may be a
 * symlink or another directory by the next start: resolved again, it
 * would bind whatever the container chose (the host's /etc, another
 * container's files).  So the device and inode of every bind source of
 * appbox.conf are recorded when the container is made (or the user
 * confirms the sources as they are now: appbox config NAME --pin), in
 * NAME/pins of the data dir, out of the container's reach; every start
 * checks the resolved sources against them and refuses a source that is
 * no longer the same object. */
#pragma once

#include "context.h"
#include "spec/spec.h"
#include "util/error.h"

/* Record the pins of S's bind mounts (resolved, with dev/ino) that came
 * from the command line or appbox.conf (not ++overrides, not appbox's
 * own), replacing NAME's pins. */
int pins_record(struct ab_ctx *ctx, const char *name, const struct spec *s, ab_error *err);

/* Check S's bind mounts (resolved) against NAME's pins: a bind whose
 * destination has a pin must be the same device and inode.  A bind with no
 * pin yet (appbox.conf edited by hand) is pinned now, as it is. */
int pins_verify(struct ab_ctx *ctx, const char *name, const struct spec *s, ab_error *err);
