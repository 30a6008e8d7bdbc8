/* The spec: one in-memory description of a container.  The CLI, the config
 * file and (later) the OCI reader fill it; the runtime only reads it. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "util/strv.h"

enum net_mode {
    NET_NONE = 0,   /* own network namespace with only lo, up */
    NET_HOST,       /* the host's network namespace */
};

enum mount_kind {
    MOUNT_BIND,
    MOUNT_RO_BIND,
    MOUNT_TMPFS,
    MOUNT_DEVICE,
};

struct mount_entry {
    enum mount_kind kind;
    char *src;   /* absolute host path; NULL for tmpfs */
    char *dst;   /* absolute, lexically clean path inside the container */
};

struct spec {
    char *root;              /* NULL: the host view */
    bool writable;           /* --root is writable */
    enum net_mode net;
    struct mount_entry *mounts;
    size_t n_mounts;
    strv env;                /* K=V added to the clean environment */
    char *chdir;             /* absolute; NULL: home */
    char *hostname;          /* NULL: "appbox" */
    bool uid_set;
    uid_t uid;               /* uid inside; default: the caller's own */
    uint64_t cap_add;        /* bit N = capability N */
    uint64_t cap_drop;
    bool cap_drop_all;
    bool seccomp;            /* default filter on (true) or off */
    strv argv;               /* the command */
};

void spec_init(struct spec *s);
void spec_free(struct spec *s);
int spec_add_mount(struct spec *s, enum mount_kind kind, const char *src, const char *dst);

/* Names for messages and `show`. */
const char *net_mode_name(enum net_mode m);
int net_mode_from_name(const char *name, enum net_mode *out);
