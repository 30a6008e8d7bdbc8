/* The mount plan of runtime/mounts.c, shared with the plan of an OCI
 * bundle's layout (mounts_oci.c): internal to runtime/. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/mount.h>
#include <sys/types.h>

#include "runtime/pipeline.h"
#include "util/error.h"

#define RO_ATTRS (MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV)
#define RW_ATTRS (MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV)

/* The whole tree is one ordered list of operations, planned from the
 * spec (mounts_plan) and consumed by one loop (apply_op), as bubblewrap's
 * SetupOp list: a new kind of mount is a new op kind, or a new entry in
 * the plan, never a new pass. */
enum op_kind {
    OP_TREE,          /* attach a tree opened from the host before staging (source) */
    OP_NEW_FS,        /* a fresh file system (fstype, data) */
    OP_MASK,          /* hide: /dev/null over a file, an empty read-only tmpfs over a directory */
    OP_READONLY,      /* make an existing mount point read-only */
    OP_SYMLINK,       /* a symlink to data */
    OP_HOST_SYMLINK,  /* the host's own symlink at the same place (host view) */
    OP_HOME,          /* the user's home: a private tmpfs */
    OP_IDENTITY,      /* the user's passwd and group entries */
    OP_FILE_DATA,     /* a file of ours with data as its text, bound read-only */
    OP_ROOT_RO,       /* the host view's skeleton made read-only, last */
    OP_OVERLAY,       /* the root as an overlay: base (lower) under the container's layer (source) */
    OP_DEVICE,        /* an OCI device node: made (mknod), or the host's node of that path bound */
};

/* Op flags. */
enum {
    OPF_RECURSIVE = 1u << 0,  /* the tree with its submounts */
    OPF_FILE = 1u << 1,       /* the mount point is a file */
    OPF_IF_DIR = 1u << 2,     /* only where the root has a directory there (else skipped) */
    OPF_IF_EXISTS = 1u << 3,  /* only where the path exists (masks: absent on this kernel) */
    OPF_SOURCE_KIND = 1u << 4, /* mount point kind (file or dir) follows the source */
    OPF_IF_CREATABLE = 1u << 5, /* skipped where the mount point is missing and cannot be made (a read-only
                                 * root, a directory the container may not write) */
    OPF_IF_ABSENT = 1u << 6,    /* OP_SYMLINK, OP_DEVICE: only where nothing is there yet (a config.json
                                 * mount may have put it there) */
};

struct mount_op {
    enum op_kind kind;
    const char *dest;         /* absolute, in the container; "/" is the root */
    const char *source;       /* OP_TREE: host path; NULL with premade */
    const char *fstype;       /* OP_NEW_FS */
    const char *fs_source;    /* OP_NEW_FS: the source name mountinfo shows (config.json's); NULL: "none" */
    const char *data;         /* OP_NEW_FS options, OP_SYMLINK target */
    const char *fallback;     /* OP_NEW_FS: options to retry with */
    unsigned long long attrs; /* MOUNT_ATTR_* */
    unsigned flags;           /* OPF_* */
    dev_t dev;                /* OP_TREE: pinned by spec_resolve() (ino 0: not pinned) */
    ino_t ino;
    const char *what;         /* for messages: the flag or appbox.conf key it came from */
    char *owned;              /* data made for this op (a size), freed with the plan */
    int tree;                 /* OP_TREE: the tree opened in phase one, or -1 */
    int *premade;             /* OP_TREE: a tree the runner made (idmapped), taken over */
    const char *lower;        /* OP_OVERLAY: the read-only base's host path */
    int lower_tree;           /* OP_OVERLAY: its tree, or -1 */
    int *premade_lower;       /* OP_OVERLAY: the base's tree the runner made */
    unsigned long propagation; /* OP_TREE, OP_NEW_FS (appbox-oci): MS_SHARED, ... set once attached; 0: none */
    mode_t mode;              /* OP_DEVICE: S_IFCHR/S_IFBLK/S_IFIFO | permissions */
    dev_t rdev;               /* OP_DEVICE */
    uid_t uid;                /* OP_DEVICE: owner, (uid_t)-1: unchanged */
    gid_t gid;
};

struct mount_plan {
    struct mount_op *ops;
    size_t n, cap;
};

struct mount_op *plan_add(struct mount_plan *p, enum op_kind kind, const char *dest);
int plan_new_fs(struct mount_plan *p, const char *dest, const char *fstype, const char *data,
                unsigned long long attrs, unsigned flags, ab_error *err);
/* A tmpfs of SIZE bytes with MODE: every tmpfs of appbox's has a size. */
int plan_tmpfs(struct mount_plan *p, const char *dest, const char *mode, uint64_t size, unsigned flags,
               ab_error *err);

#define ADD(plan, kind, dest)                                   \
    ({                                                          \
        struct mount_op *op_ = plan_add((plan), (kind), (dest)); \
        if (!op_)                                               \
            return ab_fail(err, ENOMEM, "cannot plan the mounts"); \
        op_;                                                    \
    })


/* Mount-API helpers of mounts.c. */
int set_attrs(int treefd, const char *what, unsigned long long attrs, bool recursive, ab_error *err);
int attach(int treefd, int dstfd, const char *what, ab_error *err);

/* appbox-oci (mounts_oci.c): config.json's layout (spec.oci), and its
 * device nodes (OP_DEVICE) and propagation. */
int mounts_plan_oci(struct inside *in, struct mount_plan *p, ab_error *err);
int make_device(const struct mount_op *op, int rootfd, ab_error *err);
int set_propagation(int treefd, const char *what, unsigned long propagation, ab_error *err);
/* OPTIONS ("a=1,gid=5,b") without NAME=...; malloc'd */
char *strip_option(const char *options, const char *name);
