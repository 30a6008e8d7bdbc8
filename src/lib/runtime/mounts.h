/* The container's file system: root, /proc, /sys, /dev, the user's binds,
 * then pivot_root.  Runs in the child, inside the new user and mount
 * namespaces, before anything of the container runs. */
#pragma once

#include <stdbool.h>

#include "runtime/identity.h"
#include "spec/spec.h"
#include "util/error.h"

/* Paths under /proc the app must not read (masked with /dev/null or an
 * empty read-only tmpfs) or write (made read-only): OCI's defaults plus
 * the kernel's symbol table and the magic SysRq trigger. */
extern const char *const proc_masked_paths[];
extern const char *const proc_readonly_paths[];
extern const char *const sys_masked_paths[];

struct mounts_ctx {
    const struct spec *spec;
    const struct identity *id;
    bool own_netns;       /* a fresh sysfs can only be mounted for our own netns */
    bool become_ns_root;  /* switch to uid 0 of the namespace after opening host paths */
    /* Trees the parent already cloned (idmapped for a root caller), or -1:
     * premade_root for --root, premade[i] for spec->mounts[i].  Taken over
     * (closed) by mounts_setup. */
    int premade_root;
    int *premade;
};

/* Build the whole tree and pivot_root into it.  On return "/" is the
 * container's root and the host's tree is gone from this mount namespace. */
int mounts_setup(const struct mounts_ctx *ctx, ab_error *err);

/* The host directories the host view shares read-only. */
extern const char *const host_view_dirs[];
