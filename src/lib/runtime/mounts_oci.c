/* The mount plan of an OCI bundle (appbox-oci): config.json's layout, as
 * runc and crun build it, through the same op list and loop as appbox's
 * own (mounts.c):
 *
 *   the root (rbind; made read-only last with root.readonly), each of
 *   config.json's mounts in order, the default devices and /dev links
 *   where /dev is a fresh file system, linux.devices, then maskedPaths
 *   and readonlyPaths.
 *
 * Every mount point is resolved inside the root (fs_ensure_in_root: a
 * link in a hostile root never leads out of it).  A "cgroup" mount is the
 * container's own groups: cgroup2 in a cgroup namespace of its own on a
 * pure v2 host, else the groups bound read-only under a tmpfs. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "cgroup/cgroup.h"
#include "runtime/mounts_plan.h"
#include "spec/oci.h"
#include "util/cleanup.h"
#include "util/fsutil.h"

#define CG_MOUNT "/sys/fs/cgroup/"

/* The mount API's attributes for MS_* flags of config.json's options. */
static unsigned long long attrs_of_flags(unsigned long f)
{
    unsigned long long a = 0;
    if (f & MS_RDONLY)
        a |= MOUNT_ATTR_RDONLY;
    if (f & MS_NOSUID)
        a |= MOUNT_ATTR_NOSUID;
    if (f & MS_NODEV)
        a |= MOUNT_ATTR_NODEV;
    if (f & MS_NOEXEC)
        a |= MOUNT_ATTR_NOEXEC;
    if (f & MS_NOATIME)
        a |= MOUNT_ATTR_NOATIME;
    else if (f & MS_STRICTATIME)
        a |= MOUNT_ATTR_STRICTATIME;
    if (f & MS_NODIRATIME)
        a |= MOUNT_ATTR_NODIRATIME;
    return a;
}

char *strip_option(const char *options, const char *name)
{
    size_t len = strlen(name);
    char *out = calloc(1, strlen(options) + 1);
    if (!out)
        return NULL;
    const char *p = options;
    while (*p) {
        const char *end = strchrnul(p, ',');
        bool drop = (size_t)(end - p) > len && strncmp(p, name, len) == 0 && p[len] == '=';
        if (!drop && end > p) {
            if (*out)
                strcat(out, ",");
            strncat(out, p, (size_t)(end - p));
        }
        p = *end ? end + 1 : end;
    }
    return out;
}

int set_propagation(int treefd, const char *what, unsigned long propagation, ab_error *err)
{
    if (!propagation)
        return 0;
    struct mount_attr a = { .propagation = propagation & ~(unsigned long)MS_REC };
    if (mount_setattr(treefd, "", AT_EMPTY_PATH | ((propagation & MS_REC) ? AT_RECURSIVE : 0), &a, sizeof(a)) < 0)
        return ab_fail(err, errno, "cannot set the propagation of %s", what);
    return 0;
}

/* The parent directory of PATH in the root (made), and its last name. */
static int open_parent(int rootfd, const char *path, const char **base, ab_error *err)
{
    _cleanup_free_ char *parent = strdup(path);
    if (!parent)
        return ab_fail(err, ENOMEM, "%s", path);
    char *slash = strrchr(parent, '/');
    *base = path + (slash - parent) + 1;
    *slash = '\0';
    if (!*parent) {
        int fd = fcntl(rootfd, F_DUPFD_CLOEXEC, 3);
        return fd < 0 ? ab_fail(err, errno, "%s", path) : fd;
    }
    return fs_ensure_in_root(rootfd, parent, false, err);
}

int make_device(const struct mount_op *op, int rootfd, ab_error *err)
{
    const char *base = NULL;
    _cleanup_close_ int dir = open_parent(rootfd, op->dest, &base, err);
    if (dir < 0)
        return ab_error_prefix(err, "cannot create the device %s", op->dest);
    struct stat st;
    if (fstatat(dir, base, &st, AT_SYMLINK_NOFOLLOW) == 0) {
        if (op->flags & OPF_IF_ABSENT)
            return 0;
        if (unlinkat(dir, base, 0) < 0)
            return ab_fail(err, errno, "cannot replace %s with the device", op->dest);
    }
    int r = S_ISFIFO(op->mode) ? mkfifoat(dir, base, op->mode & 07777) : mknodat(dir, base, op->mode, op->rdev);
    if (r == 0) {
        if (fchmodat(dir, base, op->mode & 07777, 0) < 0 ||
            ((op->uid != (uid_t)-1 || op->gid != (gid_t)-1) && fchownat(dir, base, op->uid, op->gid, AT_SYMLINK_NOFOLLOW) < 0))
            return ab_fail(err, errno, "cannot set the owner and mode of the device %s", op->dest);
        return 0;
    }
    if (errno != EPERM)
        return ab_fail(err, errno, "cannot create the device %s", op->dest);
    /* No mknod in a user namespace: the host's node of that path is bound
     * instead (as runc does rootless), if it is that very device. */
    if (stat(op->dest, &st) < 0 || (st.st_mode & S_IFMT) != (op->mode & S_IFMT) || st.st_rdev != op->rdev)
        return ab_fail(err, EPERM,
                        "cannot create the device %s (%u:%u): a user namespace may not make device nodes, and the "
                        "host has no such node at that path to bind",
                        op->dest, major(op->rdev), minor(op->rdev));
    _cleanup_close_ int file = openat(dir, base, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (file < 0)
        return ab_fail(err, errno, "cannot create the mount point of the device %s", op->dest);
    _cleanup_close_ int t = open_tree(AT_FDCWD, op->dest, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
    _cleanup_close_ int dst = openat(dir, base, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    if (t < 0 || dst < 0)
        return ab_fail(err, errno, "cannot bind the host's %s", op->dest);
    if ((r = set_attrs(t, op->dest, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC, false, err)) < 0)
        return r;
    return attach(t, dst, op->dest, err);
}

static int plan_device(struct mount_plan *p, const char *path, mode_t type, unsigned maj, unsigned min, mode_t perm,
                       uid_t uid, gid_t gid, unsigned flags, ab_error *err)
{
    struct mount_op *op = ADD(p, OP_DEVICE, path);
    op->mode = type | perm;
    op->rdev = makedev(maj, min);
    op->uid = uid;
    op->gid = gid;
    op->flags = flags;
    return 0;
}

/* The hierarchy's name of a v1 group directory ("memory", "cpu,cpuacct"),
 * "unified" for the v2 one on a hybrid host; NULL: not below /sys/fs/cgroup. */
static char *hierarchy_name(const char *dir)
{
    if (strncmp(dir, CG_MOUNT, strlen(CG_MOUNT)) != 0)
        return NULL;
    const char *rest = dir + strlen(CG_MOUNT);
    return strndup(rest, strcspn(rest, "/"));
}

/* A "cgroup" mount: what the container's own groups are. */
static int plan_cgroup(struct inside *in, struct mount_plan *p, const struct oci_mount *m, ab_error *err)
{
    const struct spec_container *c = &in->spec->container;
    unsigned long long attrs = attrs_of_flags(m->flags);
    bool own_ns = c->namespaces & CLONE_NEWCGROUP;
    if (cgroup_pure_v2() && own_ns) {
        int r = plan_new_fs(p, m->destination, "cgroup2", NULL, attrs, 0, err);
        if (r == 0)
            p->ops[p->n - 1].what = "config.json's cgroup mount";
        return r;
    }
    if (cgroup_pure_v2() || !c->cgroups.n) {
        /* the container's v2 group (pure v2 without a namespace), or the
         * host's view where it has none (rootless): read-only either way */
        const char *src = cgroup_pure_v2() && c->cgroups.n ? c->cgroups.v[0] : "/sys/fs/cgroup";
        struct mount_op *op = ADD(p, OP_TREE, m->destination);
        op->source = src;
        op->attrs = attrs | MOUNT_ATTR_RDONLY;
        op->flags = OPF_RECURSIVE;
        op->what = "config.json's cgroup mount";
        return 0;
    }
    /* hybrid: a tmpfs, each of the container's groups at its hierarchy's
     * name, links for co-mounted controllers, then read-only */
    int r = plan_new_fs(p, m->destination, "tmpfs", "mode=0755", MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV |
                                                                      MOUNT_ATTR_NOEXEC, 0, err);
    if (r < 0)
        return r;
    for (size_t i = 0; i < c->cgroups.n; i++) {
        char *name = hierarchy_name(c->cgroups.v[i]);
        if (!name)
            continue;
        struct mount_op *op = plan_add(p, OP_TREE, NULL);
        if (!op || asprintf(&op->owned, "%s/%s", m->destination, name) < 0) {
            free(name);
            return ab_fail(err, ENOMEM, "cannot plan the mounts");
        }
        op->dest = op->owned;
        op->what = op->owned;
        op->source = c->cgroups.v[i];
        op->attrs = attrs | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC;
        /* "cpu,cpuacct": "cpu" and "cpuacct" are links to it */
        for (char *save = NULL, *ctl = strchr(name, ',') ? strtok_r(name, ",", &save) : NULL; ctl;
             ctl = strtok_r(NULL, ",", &save)) {
            struct mount_op *l = plan_add(p, OP_SYMLINK, NULL);
            char *link = NULL, *target = NULL;
            if (!l || asprintf(&link, "%s/%s", m->destination, ctl) < 0) {
                free(name);
                return ab_fail(err, ENOMEM, "cannot plan the mounts");
            }
            l->owned = link;
            l->dest = link;
            l->flags = OPF_IF_ABSENT;
            /* the target: the whole co-mounted name, from the op above */
            target = strrchr(op->owned, '/') + 1;
            l->data = target;
        }
        free(name);
    }
    if (attrs & MOUNT_ATTR_RDONLY) {
        /* the tmpfs too, once its mount points are made */
        struct mount_op *op = ADD(p, OP_READONLY, m->destination);
        op->flags = OPF_IF_EXISTS;
    }
    return 0;
}

static const struct {
    const char *path;
    unsigned maj, min;
} default_devices[] = {
    { "/dev/null", 1, 3 },    { "/dev/zero", 1, 5 }, { "/dev/full", 1, 7 },
    { "/dev/random", 1, 8 }, { "/dev/urandom", 1, 9 }, { "/dev/tty", 5, 0 },
};

static const char *const default_links[][2] = {
    { "/dev/fd", "/proc/self/fd" },      { "/dev/stdin", "/proc/self/fd/0" },
    { "/dev/stdout", "/proc/self/fd/1" }, { "/dev/stderr", "/proc/self/fd/2" },
    { "/dev/ptmx", "pts/ptmx" },          { "/dev/core", "/proc/kcore" },
};

int mounts_plan_oci(struct inside *in, struct mount_plan *p, ab_error *err)
{
    const struct spec_container *c = &in->spec->container;
    const struct spec_oci *o = in->spec->oci;
    int r;
    struct mount_op *root = ADD(p, OP_TREE, "/");
    root->source = c->root;
    root->flags = OPF_RECURSIVE;
    root->what = c->root;
    bool fresh_dev = false;
    for (size_t i = 0; i < o->n_mounts; i++) {
        const struct oci_mount *m = &o->mounts[i];
        if (m->bind) {
            struct mount_op *op = ADD(p, OP_TREE, m->destination);
            op->source = m->source;
            op->attrs = attrs_of_flags(m->flags);
            op->flags = OPF_SOURCE_KIND | (m->recursive ? OPF_RECURSIVE : 0);
            op->propagation = m->propagation;
            op->what = m->destination;
            if (strcmp(m->destination, "/dev") == 0)
                fresh_dev = false;
            continue;
        }
        if (strcmp(m->type, "cgroup") == 0 || strcmp(m->type, "cgroup2") == 0) {
            if ((r = plan_cgroup(in, p, m, err)) < 0)
                return r;
            continue;
        }
        if (strcmp(m->type, "sysfs") == 0 && !(c->namespaces & CLONE_NEWNET) &&
            (c->namespaces & CLONE_NEWUSER)) {
            /* a fresh sysfs needs a network namespace of the user
             * namespace's own: the host's, read-only (runc's rootless way) */
            struct mount_op *op = ADD(p, OP_TREE, m->destination);
            op->source = "/sys";
            op->attrs = attrs_of_flags(m->flags) | MOUNT_ATTR_RDONLY;
            op->flags = OPF_RECURSIVE;
            continue;
        }
        if ((r = plan_new_fs(p, m->destination, m->type, m->data, attrs_of_flags(m->flags), 0, err)) < 0)
            return r;
        p->ops[p->n - 1].propagation = m->propagation;
        p->ops[p->n - 1].fs_source = m->source;
        if (strcmp(m->destination, "/dev") == 0)
            fresh_dev = true;
    }
    if (fresh_dev) {
        for (size_t i = 0; i < sizeof(default_devices) / sizeof(default_devices[0]); i++)
            if ((r = plan_device(p, default_devices[i].path, S_IFCHR, default_devices[i].maj, default_devices[i].min,
                                 0666, (uid_t)-1, (gid_t)-1, OPF_IF_ABSENT, err)) < 0)
                return r;
        for (size_t i = 0; i < sizeof(default_links) / sizeof(default_links[0]); i++) {
            struct mount_op *op = ADD(p, OP_SYMLINK, default_links[i][0]);
            op->data = default_links[i][1];
            op->flags = OPF_IF_ABSENT;
        }
    }
    for (size_t i = 0; i < o->n_devices; i++) {
        const struct oci_device *d = &o->devices[i];
        mode_t type = d->type == 'b' ? S_IFBLK : d->type == 'p' ? S_IFIFO : S_IFCHR;
        if ((r = plan_device(p, d->path, type, (unsigned)d->major, (unsigned)d->minor,
                             d->has_mode ? (mode_t)(d->mode & 07777) : 0666, d->has_uid ? d->uid : (uid_t)-1,
                             d->has_gid ? d->gid : (gid_t)-1, 0, err)) < 0)
            return r;
    }
    for (size_t i = 0; i < c->masked_paths.n; i++)
        ADD(p, OP_MASK, c->masked_paths.v[i])->flags = OPF_IF_EXISTS;
    for (size_t i = 0; i < c->readonly_paths.n; i++)
        ADD(p, OP_READONLY, c->readonly_paths.v[i])->flags = OPF_IF_EXISTS;
    if (!c->writable)
        ADD(p, OP_ROOT_RO, "/")->attrs = MOUNT_ATTR_RDONLY;
    return 0;
}
