/* The container's file system, as a pipeline module: the runner hands the
 * child idmapped trees (host_setup); inside, before pivot_root, the whole
 * tree is built at a staging root (root or host view, /dev, /proc, /sys and
 * their masks, home, passwd/group entries, the spec's mounts in order);
 * mounts_pivot() then makes it "/".  Every path inside the root is resolved
 * fd-relative (openat2 RESOLVE_IN_ROOT). */
#pragma once

#include "runtime/pipeline.h"
#include "util/error.h"

extern const struct module mounts_module;

/* pivot_root into the built tree and detach the host's. */
int mounts_pivot(ab_error *err);
