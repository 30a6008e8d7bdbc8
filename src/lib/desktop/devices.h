/* Devices: --device PATH[:rwm], --gpu [all], --webcam.
 *
 *   resolve      (spec_resolve) --gpu and --webcam become device binds
 *                (gpu.h: the nodes, and the NVIDIA driver's files bound
 *                read-only into a foreign root's library directory);
 *                every device node is checked against the container's
 *                ids
 *   host_setup   in the container's group that takes device rules
 *                (cgroup_devices_dir(): the v1 devices group, else the
 *                v2 group, root's only; made by the cgroup module, which
 *                also puts PID 1 in it and removes it), every device
 *                denied but the default nodes and those granted
 *   sessions     cgroup_enter(): a joined process enters the container's
 *                groups before it enters its namespaces
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
 * known): expand --gpu and --webcam, check the nodes. */
int devices_resolve(struct spec *s, ab_error *err);

/* For `show`: how device access is enforced for S, one line. */
const char *devices_enforcement(const struct spec *s);
