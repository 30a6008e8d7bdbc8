#include "runtime/mounts.h"

#include <errno.h>
#include <limits.h>
#include <linux/capability.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "container/store.h"
#include "runtime/identity.h"
#include "spec/defaults.h"
#include "util/cleanup.h"
#include "util/fsutil.h"

#define STAGING "/tmp"
#define NEWROOT STAGING "/root"
#define SCRATCH STAGING "/scratch"

/* The mount API's attributes for a spec mount's options. */
static unsigned long long attrs_of(unsigned options)
{
    return ((options & MOUNT_RO) ? MOUNT_ATTR_RDONLY : 0) | ((options & MOUNT_NOSUID) ? MOUNT_ATTR_NOSUID : 0) |
           ((options & MOUNT_NODEV) ? MOUNT_ATTR_NODEV : 0) | ((options & MOUNT_NOEXEC) ? MOUNT_ATTR_NOEXEC : 0);
}

#define RO_ATTRS (MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV)
#define RW_ATTRS (MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV)

/* Everything opened from the host before the staging tmpfs hides it. */
struct host_trees {
    int root;                  /* --root clone, or -1 */
    int view[16];              /* host view dirs, -1 when absent or a symlink */
    int *devnode;              /* one per spec device */
    int *user;                 /* one per spec mount (-1 for tmpfs) */
    int sys;                   /* clone of /sys when we cannot mount our own */
};

static void host_trees_close(struct host_trees *t, size_t n_dev, size_t n_user)
{
    if (t->root >= 0)
        close(t->root);
    for (size_t i = 0; i < ARRAY_SIZE(t->view); i++)
        if (t->view[i] >= 0)
            close(t->view[i]);
    for (size_t i = 0; t->devnode && i < n_dev; i++)
        if (t->devnode[i] >= 0)
            close(t->devnode[i]);
    free(t->devnode);
    for (size_t i = 0; t->user && i < n_user; i++)
        if (t->user[i] >= 0)
            close(t->user[i]);
    free(t->user);
    if (t->sys >= 0)
        close(t->sys);
}

static int clone_tree(const char *path, bool recursive, ab_error *err)
{
    int fd = open_tree(AT_FDCWD, path, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (recursive ? AT_RECURSIVE : 0));
    if (fd < 0)
        return ab_fail(err, errno, "cannot take a copy of the mount at %s", path);
    return fd;
}

/* Clone the tree at PATH (a resolved path), checking that it is still the
 * object spec_resolve() pinned (DEV/INO; 0: not pinned). */
static int clone_pinned(const char *path, dev_t dev, ino_t ino, bool recursive, ab_error *err)
{
    _cleanup_close_ int at = open(path, O_PATH | O_CLOEXEC);
    if (at < 0)
        return ab_fail(err, errno, "cannot open %s", path);
    struct stat st;
    if (ino && (fstat(at, &st) < 0 || st.st_dev != dev || st.st_ino != ino))
        return ab_fail(err, ESTALE, "%s is no longer what it was when the container was set up", path);
    int fd = open_tree(at, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0));
    if (fd < 0)
        return ab_fail(err, errno, "cannot take a copy of the mount at %s", path);
    return fd;
}

static int set_attrs(int treefd, const char *what, unsigned long long attrs, bool recursive, ab_error *err)
{
    struct mount_attr a = { .attr_set = attrs };
    if (mount_setattr(treefd, "", AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0), &a, sizeof(a)) < 0)
        return ab_fail(err, errno, "cannot set mount flags on %s", what);
    return 0;
}

/* Attach a detached tree at DSTFD (an O_PATH fd from fs_ensure_in_root). */
static int attach(int treefd, int dstfd, const char *what, ab_error *err)
{
    if (move_mount(treefd, "", dstfd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
        return ab_fail(err, errno, "cannot mount %s", what);
    return 0;
}

/* A fresh file system (tmpfs, proc, sysfs, ...) with OPTIONS ("k=v,k2"). */
static int new_fs(const char *type, const char *options, unsigned attrs, const char *what, ab_error *err)
{
    _cleanup_close_ int fsfd = fsopen(type, FSOPEN_CLOEXEC);
    if (fsfd < 0)
        return ab_fail(err, errno, "cannot create a %s file system for %s", type, what);
    if (options) {
        _cleanup_free_ char *opts = strdup(options);
        if (!opts)
            return ab_fail(err, ENOMEM, "%s", what);
        char *save = NULL;
        for (char *o = strtok_r(opts, ",", &save); o; o = strtok_r(NULL, ",", &save)) {
            char *eq = strchr(o, '=');
            int r;
            if (eq) {
                *eq = '\0';
                r = fsconfig(fsfd, FSCONFIG_SET_STRING, o, eq + 1, 0);
            } else {
                r = fsconfig(fsfd, FSCONFIG_SET_FLAG, o, NULL, 0);
            }
            if (r < 0)
                return ab_fail(err, errno, "cannot set option %s on the %s file system for %s", o, type, what);
        }
    }
    if (fsconfig(fsfd, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
        return ab_fail(err, errno, "cannot create a %s file system for %s", type, what);
    int mfd = fsmount(fsfd, FSMOUNT_CLOEXEC, attrs);
    if (mfd < 0)
        return ab_fail(err, errno, "cannot mount the %s file system for %s", type, what);
    return mfd;
}

static int mount_new_fs_at(int rootfd, const char *path, const char *type, const char *options,
                           unsigned attrs, ab_error *err)
{
    _cleanup_close_ int dst = fs_ensure_in_root(rootfd, path, false, err);
    if (dst < 0)
        return dst;
    _cleanup_close_ int mfd = new_fs(type, options, attrs, path, err);
    if (mfd < 0)
        return mfd;
    return attach(mfd, dst, path, err);
}

static int open_host_trees(struct inside *ctx, struct host_trees *t, ab_error *err)
{
    const struct spec *s = ctx->spec;
    const struct spec_container *c = &s->container;
    int r;
    if (c->root) {
        if (ctx->premade_root >= 0) {
            t->root = ctx->premade_root;
            ctx->premade_root = -1;
        }
        else if ((t->root = clone_pinned(c->root, 0, 0, true, err)) < 0)
            return t->root;
    } else {
        for (size_t i = 0; spec_host_view_dirs[i]; i++) {
            struct stat st;
            if (lstat(spec_host_view_dirs[i], &st) < 0 || !S_ISDIR(st.st_mode))
                continue;
            if ((t->view[i] = clone_tree(spec_host_view_dirs[i], true, err)) < 0)
                return t->view[i];
        }
    }
    t->devnode = malloc((c->devices.n + 1) * sizeof(int));
    t->user = malloc((c->n_mounts + 1) * sizeof(int));
    if (!t->devnode || !t->user)
        return ab_fail(err, ENOMEM, "cannot prepare mounts");
    for (size_t i = 0; i < c->devices.n; i++)
        t->devnode[i] = -1;
    for (size_t i = 0; i < c->n_mounts; i++)
        t->user[i] = -1;
    for (size_t i = 0; i < c->devices.n; i++)
        if ((t->devnode[i] = clone_tree(c->devices.v[i], false, err)) < 0)
            return t->devnode[i];
    for (size_t i = 0; i < c->n_mounts; i++) {
        const struct spec_mount *m = &c->mounts[i];
        if (m->type != MOUNT_TYPE_BIND)
            continue;
        if (i < RUNNER_MAX_TREES && ctx->premade[i] >= 0) {
            t->user[i] = ctx->premade[i];
            ctx->premade[i] = -1;
            continue;
        }
        if ((r = clone_pinned(m->source, m->dev, m->ino, m->options & MOUNT_RECURSIVE, err)) < 0)
            return ab_error_prefix(err, "cannot bind %s to %s", m->source, m->destination);
        t->user[i] = r;
    }
    if (c->net == NET_HOST && (t->sys = clone_tree("/sys", true, err)) < 0)
        return t->sys;
    return 0;
}

static int copy_symlink(int rootfd, const char *hostpath, ab_error *err)
{
    char target[4096];
    ssize_t n = readlink(hostpath, target, sizeof(target) - 1);
    if (n < 0)
        return 0;
    target[n] = '\0';
    if (symlinkat(target, rootfd, hostpath + 1) < 0 && errno != EEXIST)
        return ab_fail(err, errno, "cannot create the symlink %s -> %s", hostpath, target);
    return 0;
}

static int build_host_view(const struct inside *ctx, int rootfd, struct host_trees *t, ab_error *err)
{
    int r;
    for (size_t i = 0; spec_host_view_dirs[i]; i++) {
        if (t->view[i] < 0) {
            if ((r = copy_symlink(rootfd, spec_host_view_dirs[i], err)) < 0)
                return r;
            continue;
        }
        _cleanup_close_ int dst = fs_ensure_in_root(rootfd, spec_host_view_dirs[i], false, err);
        if (dst < 0)
            return dst;
        if ((r = set_attrs(t->view[i], spec_host_view_dirs[i], RO_ATTRS, true, err)) < 0 ||
            (r = attach(t->view[i], dst, spec_host_view_dirs[i], err)) < 0)
            return r;
    }
    static const char *const fresh[] = { "/tmp", "/var/tmp" };
    for (size_t i = 0; i < ARRAY_SIZE(fresh); i++)
        if ((r = mount_new_fs_at(rootfd, fresh[i], "tmpfs", "mode=1777", RW_ATTRS, err)) < 0)
            return r;
    if ((r = mount_new_fs_at(rootfd, "/run", "tmpfs", "mode=0755", RW_ATTRS, err)) < 0)
        return r;
    return 0;
}

static int build_foreign_root(const struct inside *ctx, int rootfd, ab_error *err)
{
    /* Fresh /tmp and /run where the root has them: a read-only root still
     * needs somewhere to write, and nothing of one run should leak into the
     * next through them. */
    static const char *const fresh[] = { "/tmp", "/run" };
    for (size_t i = 0; i < ARRAY_SIZE(fresh); i++) {
        _cleanup_close_ int fd = fs_open_in_root(rootfd, fresh[i], O_PATH | O_DIRECTORY);
        if (fd < 0)
            continue;
        _cleanup_close_ int mfd = new_fs("tmpfs", i == 0 ? "mode=1777" : "mode=0755", RW_ATTRS, fresh[i], err);
        if (mfd < 0)
            return mfd;
        int r = attach(mfd, fd, fresh[i], err);
        if (r < 0)
            return r;
    }
    return 0;
}

static int mount_home(const struct inside *ctx, int rootfd, ab_error *err)
{
    const struct spec_container *c = &ctx->spec->container;
    const struct spec_user *id = &ctx->spec->process.user;
    if (c->root && c->writable)
        return 0; /* a writable root keeps its own home */
    _cleanup_close_ int fd = -1;
    if (c->root) {
        fd = fs_open_in_root(rootfd, id->home, O_PATH | O_DIRECTORY);
        if (fd < 0)
            return 0; /* no home in a read-only root: HOME stays, unwritable */
    } else {
        fd = fs_ensure_in_root(rootfd, id->home, false, err);
        if (fd < 0)
            return fd;
    }
    char opts[96];
    snprintf(opts, sizeof(opts), "mode=0700,uid=%u,gid=%u", id->uid, id->gid);
    _cleanup_close_ int mfd = new_fs("tmpfs", opts, RW_ATTRS, id->home, err);
    if (mfd < 0)
        return mfd;
    return attach(mfd, fd, id->home, err);
}

static int mask_path(int dirfd, const char *path, int nullfd, const char *what, ab_error *err)
{
    _cleanup_close_ int fd = openat(dirfd, path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return 0; /* absent on this kernel */
    struct stat st;
    if (fstat(fd, &st) < 0)
        return ab_fail(err, errno, "cannot inspect %s/%s", what, path);
    int r;
    if (S_ISDIR(st.st_mode)) {
        _cleanup_close_ int mfd = new_fs("tmpfs", "size=0,mode=0555", RO_ATTRS | MOUNT_ATTR_NOEXEC, path, err);
        if (mfd < 0)
            return mfd;
        r = attach(mfd, fd, path, err);
    } else {
        _cleanup_close_ int nfd = open_tree(nullfd, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH);
        if (nfd < 0)
            return ab_fail(err, errno, "cannot mask %s/%s", what, path);
        /* not nodev: the mask must read as an empty /dev/null, not fail */
        if ((r = set_attrs(nfd, path, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC, false, err)) < 0)
            return r;
        r = attach(nfd, fd, path, err);
    }
    return r < 0 ? ab_error_prefix(err, "cannot mask %s/%s", what, path) : 0;
}

static int readonly_path(int dirfd, const char *path, const char *what, ab_error *err)
{
    _cleanup_close_ int fd = openat(dirfd, path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return 0;
    _cleanup_close_ int t = open_tree(dirfd, path, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
    if (t < 0)
        return ab_fail(err, errno, "cannot make %s/%s read-only", what, path);
    int r = set_attrs(t, path, RO_ATTRS | MOUNT_ATTR_NOEXEC, true, err);
    if (r < 0)
        return r;
    return attach(t, fd, path, err);
}

/* Apply the spec's masked and read-only paths that lie below TOP ("/proc",
 * "/sys"), opened from TOPFD. */
static int mask_below(const struct spec_container *c, const char *top, int topfd, int nullfd, ab_error *err)
{
    size_t len = strlen(top);
    int r;
    for (size_t i = 0; i < c->readonly_paths.n; i++) {
        const char *p = c->readonly_paths.v[i];
        if (strncmp(p, top, len) == 0 && p[len] == '/' && (r = readonly_path(topfd, p + len + 1, top, err)) < 0)
            return r;
    }
    for (size_t i = 0; i < c->masked_paths.n; i++) {
        const char *p = c->masked_paths.v[i];
        if (strncmp(p, top, len) == 0 && p[len] == '/' && (r = mask_path(topfd, p + len + 1, nullfd, top, err)) < 0)
            return r;
    }
    return 0;
}

static int mount_proc(const struct spec_container *c, int rootfd, int nullfd, ab_error *err)
{
    int r = mount_new_fs_at(rootfd, "/proc", "proc", NULL,
                            MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC, err);
    if (r < 0)
        return r;
    _cleanup_close_ int proc = fs_open_in_root(rootfd, "/proc", O_PATH | O_DIRECTORY);
    if (proc < 0)
        return ab_fail(err, -proc, "cannot open the new /proc");
    return mask_below(c, "/proc", proc, nullfd, err);
}

static int mount_sys(const struct inside *ctx, int rootfd, struct host_trees *t, int nullfd, ab_error *err)
{
    int r;
    _cleanup_close_ int dst = fs_ensure_in_root(rootfd, "/sys", false, err);
    if (dst < 0)
        return dst;
    if (ctx->spec->container.net != NET_HOST) {
        _cleanup_close_ int mfd = new_fs("sysfs", NULL, RO_ATTRS | MOUNT_ATTR_NOEXEC, "/sys", err);
        if (mfd < 0)
            return mfd;
        if ((r = attach(mfd, dst, "/sys", err)) < 0)
            return r;
    } else {
        if ((r = set_attrs(t->sys, "/sys", RO_ATTRS | MOUNT_ATTR_NOEXEC, true, err)) < 0 ||
            (r = attach(t->sys, dst, "/sys", err)) < 0)
            return r;
    }
    _cleanup_close_ int sys = fs_open_in_root(rootfd, "/sys", O_PATH | O_DIRECTORY);
    if (sys < 0)
        return ab_fail(err, -sys, "cannot open the new /sys");
    return mask_below(&ctx->spec->container, "/sys", sys, nullfd, err);
}

static int mount_dev(const struct spec_container *c, int rootfd, struct host_trees *t, ab_error *err)
{
    int r = mount_new_fs_at(rootfd, "/dev", "tmpfs", "mode=0755,size=512k",
                            MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC, err);
    if (r < 0)
        return r;
    _cleanup_close_ int dev = fs_open_in_root(rootfd, "/dev", O_PATH | O_DIRECTORY);
    if (dev < 0)
        return ab_fail(err, -dev, "cannot open the new /dev");
    for (size_t i = 0; i < c->devices.n; i++) {
        const char *p = c->devices.v[i];
        _cleanup_close_ int dst = fs_ensure_in_root(rootfd, p, true, err);
        if (dst < 0)
            return dst;
        if ((r = set_attrs(t->devnode[i], p, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC, false, err)) < 0 ||
            (r = attach(t->devnode[i], dst, p, err)) < 0)
            return r;
    }
    /* A devpts instance of our own: the container's ptys are not the host's. */
    _cleanup_close_ int pts = fs_ensure_in_root(rootfd, "/dev/pts", false, err);
    if (pts < 0)
        return pts;
    _cleanup_close_ int ptsfs = new_fs("devpts", "newinstance,ptmxmode=0666,mode=0620,gid=5",
                                       MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC, "/dev/pts", err);
    if (ptsfs < 0) /* gid 5 (tty) is not mapped in a single-id namespace */
        ptsfs = new_fs("devpts", "newinstance,ptmxmode=0666,mode=0620",
                       MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC, "/dev/pts", err);
    if (ptsfs < 0)
        return ptsfs;
    if ((r = attach(ptsfs, pts, "/dev/pts", err)) < 0)
        return r;
    if ((r = mount_new_fs_at(rootfd, "/dev/shm", "tmpfs", "mode=1777",
                             MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV, err)) < 0)
        return r;
    if ((r = mount_new_fs_at(rootfd, "/dev/mqueue", "mqueue", NULL,
                             MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC, err)) < 0)
        return r;
    static const char *const links[][2] = {
        { "ptmx", "pts/ptmx" },         { "fd", "/proc/self/fd" },
        { "stdin", "/proc/self/fd/0" }, { "stdout", "/proc/self/fd/1" },
        { "stderr", "/proc/self/fd/2" },
    };
    for (size_t i = 0; i < ARRAY_SIZE(links); i++)
        if (symlinkat(links[i][1], dev, links[i][0]) < 0)
            return ab_fail(err, errno, "cannot create /dev/%s", links[i][0]);
    return 0;
}

static int mount_user_entries(const struct inside *ctx, int rootfd, struct host_trees *t, ab_error *err)
{
    const struct spec_container *c = &ctx->spec->container;
    for (size_t i = 0; i < c->n_mounts; i++) {
        const struct spec_mount *m = &c->mounts[i];
        int r;
        if (m->type == MOUNT_TYPE_TMPFS) {
            if ((r = mount_new_fs_at(rootfd, m->destination, "tmpfs", m->data, attrs_of(m->options), err)) < 0)
                return ab_error_prefix(err, "%s %s", m->origin ? m->origin : "tmpfs", m->destination);
            continue;
        }
        struct stat st;
        if (fstat(t->user[i], &st) < 0)
            return ab_fail(err, errno, "cannot inspect %s", m->source);
        _cleanup_close_ int dst = fs_ensure_in_root(rootfd, m->destination, !S_ISDIR(st.st_mode), err);
        if (dst < 0)
            return ab_error_prefix(err, "cannot bind %s to %s", m->source, m->destination);
        struct stat dt;
        if (fstat(dst, &dt) == 0 && S_ISDIR(dt.st_mode) != S_ISDIR(st.st_mode))
            return ab_fail(err, 0, "cannot bind %s to %s: one is a directory and the other is not",
                           m->source, m->destination);
        if ((r = set_attrs(t->user[i], m->destination, attrs_of(m->options), m->options & MOUNT_RECURSIVE, err)) < 0 ||
            (r = attach(t->user[i], dst, m->destination, err)) < 0)
            return ab_error_prefix(err, "cannot bind %s to %s", m->source, m->destination);
    }
    return 0;
}

/* Give the user an entry in the root's /etc/passwd and /etc/group when it
 * lacks one, by binding an extended copy over it (the root is untouched). */
static int add_identity_entry(int rootfd, int scratchfd, const char *file, const char *name, unsigned idnum,
                              const char *line, ab_error *err)
{
    _cleanup_close_ int dst = fs_open_in_root(rootfd, file, O_PATH);
    if (dst < 0)
        return 0; /* a root without the file: nothing to extend */
    struct stat st;
    if (fstat(dst, &st) < 0 || !S_ISREG(st.st_mode))
        return 0;
    _cleanup_free_ char *text = fs_read_file_at(rootfd, file, true, 1 << 22);
    if (!text)
        return ab_fail(err, errno, "cannot read %s in the container root", file);
    if (identity_file_has(text, name, idnum))
        return 0;
    const char *base = strrchr(file, '/') + 1;
    _cleanup_close_ int out = openat(scratchfd, base, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0644);
    if (out < 0)
        return ab_fail(err, errno, "cannot create a copy of %s", file);
    size_t len = strlen(text);
    bool nl = len && text[len - 1] != '\n';
    if (write(out, text, len) != (ssize_t)len || (nl && write(out, "\n", 1) != 1) ||
        write(out, line, strlen(line)) != (ssize_t)strlen(line))
        return ab_fail(err, errno, "cannot write a copy of %s", file);
    _cleanup_close_ int t = open_tree(scratchfd, base, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
    if (t < 0)
        return ab_fail(err, errno, "cannot bind a copy of %s", file);
    int r = set_attrs(t, file, RO_ATTRS, false, err);
    return r < 0 ? r : attach(t, dst, file, err);
}

static int add_identity(const struct inside *ctx, int rootfd, ab_error *err)
{
    _cleanup_close_ int scratch = open(SCRATCH, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (scratch < 0)
        return ab_fail(err, errno, "cannot open %s", SCRATCH);
    const struct spec_user *id = &ctx->spec->process.user;
    char line[512];
    int r;
    if (identity_passwd_line(id, line, sizeof(line)) < 0)
        return ab_fail(err, ENOSPC, "user entry too long");
    if ((r = add_identity_entry(rootfd, scratch, "/etc/passwd", id->name, id->uid, line, err)) < 0)
        return r;
    if (identity_group_line(id, line, sizeof(line)) < 0)
        return ab_fail(err, ENOSPC, "group entry too long");
    return add_identity_entry(rootfd, scratch, "/etc/group", id->group, id->gid, line, err);
}

int mounts_pivot(ab_error *err)
{
    if (chdir(NEWROOT) < 0)
        return ab_fail(err, errno, "cannot enter the new root");
    if (syscall(SYS_pivot_root, ".", ".") < 0)
        return ab_fail(err, errno, "cannot pivot_root into the new root");
    /* The old root is stacked under the new one: detach it. */
    if (umount2(".", MNT_DETACH) < 0)
        return ab_fail(err, errno, "cannot detach the host's root");
    if (chdir("/") < 0)
        return ab_fail(err, errno, "cannot enter /");
    return 0;
}

/* The whole tree, at NEWROOT; mounts_pivot() makes it "/" once every
 * module has run its steps before the pivot. */
static int mounts_build(struct inside *ctx, ab_error *err)
{
    const struct spec_container *s = &ctx->spec->container;
    bool become_ns_root = ctx->spec->process.user.caller_uid == 0;
    int r;
    /* Nothing we mount may propagate back to the host. */
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
        return ab_fail(err, errno, "cannot make the mount namespace private");

    struct host_trees t = { .root = -1, .sys = -1 };
    for (size_t i = 0; i < ARRAY_SIZE(t.view); i++)
        t.view[i] = -1;
    /* Host paths are opened with the caller's own credentials, so that a
     * root caller can use directories only root may enter. */
    r = open_host_trees(ctx, &t, err);
    if (r >= 0 && become_ns_root &&
        (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0 || setgroups(0, NULL) < 0))
        r = ab_fail(err, errno, "cannot become root in the container's user namespace");
    if (r >= 0)
        r = mount(NULL, STAGING, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0700,size=1m") < 0
                ? ab_fail(err, errno, "cannot mount the staging tmpfs on " STAGING) : 0;
    if (r >= 0 && (mkdir(NEWROOT, 0755) < 0 || mkdir(SCRATCH, 0700) < 0))
        r = ab_fail(err, errno, "cannot create the staging directories");
    if (r >= 0) {
        if (s->root) {
            _cleanup_close_ int dst = open(NEWROOT, O_PATH | O_DIRECTORY | O_CLOEXEC);
            unsigned long long attrs = s->writable ? RW_ATTRS : RO_ATTRS;
            if (dst < 0)
                r = ab_fail(err, errno, "cannot open " NEWROOT);
            else if ((r = set_attrs(t.root, s->root, attrs, true, err)) >= 0)
                r = attach(t.root, dst, s->root, err);
        } else {
            r = mount(NULL, NEWROOT, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=1m") < 0
                    ? ab_fail(err, errno, "cannot mount the root tmpfs") : 0;
        }
    }
    _cleanup_close_ int rootfd = r >= 0 ? open(NEWROOT, O_PATH | O_DIRECTORY | O_CLOEXEC) : -1;
    if (r >= 0 && rootfd < 0)
        r = ab_fail(err, errno, "cannot open " NEWROOT);
    if (r >= 0)
        r = s->root ? build_foreign_root(ctx, rootfd, err) : build_host_view(ctx, rootfd, &t, err);
    if (r >= 0)
        r = mount_dev(s, rootfd, &t, err);
    _cleanup_close_ int null_in_root = r >= 0 ? fs_open_in_root(rootfd, "/dev/null", O_PATH) : -1;
    if (r >= 0 && null_in_root < 0)
        r = ab_fail(err, -null_in_root, "cannot open the new /dev/null");
    if (r >= 0)
        r = mount_proc(s, rootfd, null_in_root, err);
    if (r >= 0)
        r = mount_sys(ctx, rootfd, &t, null_in_root, err);
    if (r >= 0)
        r = mount_home(ctx, rootfd, err);
    if (r >= 0)
        r = add_identity(ctx, rootfd, err);
    if (r >= 0)
        r = mount_user_entries(ctx, rootfd, &t, err);
    if (r >= 0 && !s->root) {
        /* The host view's skeleton is read-only too; only its tmpfs are not. */
        _cleanup_close_ int rfd = open(NEWROOT, O_PATH | O_DIRECTORY | O_CLOEXEC);
        r = rfd < 0 ? ab_fail(err, errno, "cannot open " NEWROOT) : set_attrs(rfd, "/", RO_ATTRS, false, err);
    }
    host_trees_close(&t, s->devices.n, s->n_mounts);
    return r;
}

static int mounts_before_pivot(struct inside *in, ab_error *err)
{
    return mounts_build(in, err);
}

/* Whether the tree at FD (a directory or file opened from a root caller's
 * --root or bind source) lies in appbox's own data store, below a directory
 * of root's that no one else may enter (the data root and container dirs
 * are made 0700): files planted there, set-id or with capabilities, are
 * out of every other host user's reach.  The path checked is the kernel's
 * name of the opened file, so a symlink swapped after the check changes
 * nothing: the tree cloned is the one checked.  REAL_DATA: the data
 * root's real path (NULL: none, so nothing is in the store). */
static bool in_private_store(int fd, const char *real_data)
{
    char link[64], path[PATH_MAX];
    snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, sizeof(path) - 1);
    if (!real_data || n <= 0)
        return false;
    path[n] = '\0';
    size_t len = strlen(real_data);
    if (strncmp(path, real_data, len) != 0 || path[len] != '/')
        return false;
    /* The gate must be strictly above the tree: container root owns the
     * tree's top once it is idmapped, and could open that one up. */
    for (char *slash; (slash = strrchr(path, '/')) && (size_t)(slash - path) >= len;) {
        *slash = '\0';
        struct stat st;
        if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == 0 && !(st.st_mode & 077))
            return true;
    }
    return false;
}

/* A root caller's container ids are an unprivileged range, so the files of
 * host root would be nobody's inside, and read-only trees of root's (a
 * --root without --writable, --ro-bind) unusable as they should be.  For
 * those, the runner (still host root) makes idmapped copies of the trees,
 * mapped through the container's own user namespace: on-disk 0 is
 * container root.  Not for trees the container may write: there, what
 * container root creates would be owned by host root on disk, so a setuid
 * program (or one with v2 file capabilities) it made would be host root's
 * for every host user who can reach the folder.  Those are bound plainly
 * inside: host root's files show as nobody, and new files belong to the
 * container's unprivileged host range, where a set-id bit grants nothing.
 * The exception is a writable tree inside appbox's own store (a named
 * container's root, its home, what create and rm work on), which no other
 * host user can reach and which needs real root ownership: dpkg installs
 * setuid programs.  Where a file system cannot be idmapped, the tree is
 * bound plainly (files then show as nobody). */
static int mounts_host_setup(struct runner *run, ab_error *err)
{
    const struct spec *s = run->spec;
    const struct spec_container *c = &s->container;
    if (s->process.user.caller_uid != 0)
        return 0;
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/ns/user", run->child);
    _cleanup_close_ int userns = open(path, O_RDONLY | O_CLOEXEC);
    if (userns < 0)
        return 0;
    struct mount_attr attr = { .attr_set = MOUNT_ATTR_IDMAP, .userns_fd = (uint64_t)userns };
    /* With CAP_SYS_ADMIN kept and no filter, container root could remount
     * a read-only tree read-write (the flag is not locked): then even those
     * stay plain outside the store. */
    bool can_remount = (s->process.cap_add & (1ULL << CAP_SYS_ADMIN)) && !s->process.seccomp;
    ab_error ignored;
    _cleanup_free_ char *data = store_data_root(&ignored);
    _cleanup_free_ char *real_data = data ? realpath(data, NULL) : NULL;
    for (long i = -1; i < (long)c->n_mounts && i < RUNNER_MAX_TREES; i++) {
        const struct spec_mount *m = i < 0 ? NULL : &c->mounts[i];
        const char *src = m ? m->source : c->root;
        bool read_only = m ? (m->options & MOUNT_RO) : !c->writable;
        if (!src || (m && (m->type != MOUNT_TYPE_BIND || spec_mount_is_device(m))))
            continue;
        /* Opened once, and pinned: the tree idmapped is the one whose place
         * was checked, and the one resolved. */
        _cleanup_close_ int at = open(src, O_PATH | O_CLOEXEC);
        struct stat st;
        if (at < 0 || (m && m->ino && (fstat(at, &st) < 0 || st.st_dev != m->dev || st.st_ino != m->ino)))
            continue;
        if ((!read_only || can_remount) && !in_private_store(at, real_data))
            continue;
        _cleanup_close_ int t = open_tree(at, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE | AT_EMPTY_PATH);
        if (t < 0)
            continue;
        if (mount_setattr(t, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof(attr)) < 0)
            continue;
        int r = runner_send_tree(run, (int)i, t);
        if (r < 0)
            return ab_fail(err, -r, "cannot hand the container its idmapped trees");
    }
    return 0;
}

const struct module mounts_module = {
    .name = "mounts",
    .host_setup = mounts_host_setup,
    .before_pivot = mounts_before_pivot,
};
