/* Devices: --device PATH[:rwm], --gpu [all], --webcam.
 *
 *   resolve      (spec_resolve) --gpu and --webcam become device binds
 *                (gpu.h: the nodes, and the NVIDIA driver's files bound
 *                read-only into a foreign root's library directory);
 *                every device node is checked against the container's
 *                ids; a root caller's container gets a devices cgroup,
 *                named here and kept in the spec (devicesCgroup)
 *   host_setup   the cgroup made below the caller's own, every device
 *                denied but the default nodes and those granted, and the
 *                container's PID 1 moved in before "go"
 *   sessions     devices_join(): a joined process enters it before it
 *                enters the container's namespaces
 *   teardown     the cgroup removed (also from spec.json, after a
 *                supervisor that was SIGKILLed)
 *
 * A rootless caller gets no devices cgroup on v1 (root's only): there
 * a node is bound only when the caller may open it as asked, and the
 * container's /dev is appbox's own tmpfs holding only the bound nodes
 * (mknod is refused in a user namespace), so nothing else is reachable.
 * See docs/security.md, "Device access". */
#pragma once

#include <stdbool.h>

#include "runtime/pipeline.h"
#include "spec/spec.h"
#include "util/error.h"

extern const struct module devices_module;

/* Resolve-time steps (called by spec_resolve() once ids and maps are
 * known): expand --gpu and --webcam, check the nodes, name the cgroup. */
int devices_resolve(struct spec *s, ab_error *err);

/* Move the calling process into the container's devices cgroup (a
 * session, before it joins the namespaces); 0 where there is none. */
int devices_join(const struct spec *s, ab_error *err);

/* For `show`: how device access is enforced for S, one line. */
const char *devices_enforcement(const struct spec *s);
