/* Resolving a spec, once, at start. */
#pragma once

#include "spec/spec.h"
#include "util/error.h"

/* Resolve S in place: the root and every bind source to a real absolute
 * path, pinned by device and inode (checked again when the tree is opened),
 * the user inside, the id maps, the namespaces and the default hostname.
 * A resolved spec is left as it is: joining a running container never
 * resolves anything again.  Errors name where the value came from (the
 * flag, or appbox.conf's file, line and key). */
int spec_resolve(struct spec *s, ab_error *err);

/* Only the paths (the root, bind sources): what `create` checks before it
 * writes anything. */
int spec_resolve_paths(struct spec *s, ab_error *err);
