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

/* Where the caller's working directory CWD (a real path) is inside a
 * container of the resolved spec S when it is there at the same path:
 * under a bind of that host folder at its own path (or at the path it was
 * given by), not hidden by a later mount, or under a host-view folder.
 * Decided on the spec alone (nothing inside the container is looked at);
 * malloc'd, or NULL: start in the home. */
char *spec_visible_cwd(const struct spec *s, const char *cwd);

/* Set P's cwd_follow (and the directory's device and inode, checked
 * again inside before the chdir) from the caller's working directory, for
 * the container of S; nothing when P has a cwd of its own. */
int spec_follow_caller_cwd(struct spec_process *p, const struct spec *s);
