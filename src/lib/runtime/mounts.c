#include "runtime/mounts.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/fsutil.h"

const char *const host_view_dirs[] = {
    "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc", NULL,
};

const char *const proc_masked_paths[] = {
    "acpi", "asound", "kcore", "keys", "latency_stats", "timer_list", "timer_stats",
    "sched_debug", "scsi", "kallsyms", "sysrq-trigger", "kmsg", "config.gz", NULL,
};

const char *const proc_readonly_paths[] = {
    "bus", "fs", "irq", "sys", NULL,
};

const char *const sys_masked_paths[] = {
    "firmware", "devices/virtual/powercap", "kernel/security", "kernel/debug", NULL,
};

static const char *const dev_nodes[] = { "null", "zero", "full", "random", "urandom", "tty", NULL };

#define STAGING "/tmp"
#define NEWROOT STAGING "/root"
#define SCRATCH STAGING "/scratch"

#define RO_ATTRS (MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV)
#define RW_ATTRS (MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV)

/* Everything opened from the host before the staging tmpfs hides it. */
struct host_trees {
    int root;                  /* --root clone, or -1 */
    int view[16];              /* host view dirs, -1 when absent or a symlink */
    int devnode[8];
    int *user;                 /* one per spec mount (-1 for tmpfs) */
    int sys;                   /* clone of /sys when we cannot mount our own */
};

static void host_trees_close(struct host_trees *t, size_t n_user)
{
    if (t->root >= 0)
        close(t->root);
    for (size_t i = 0; i < ARRAY_SIZE(t->view); i++)
        if (t->view[i] >= 0)
            close(t->view[i]);
    for (size_t i = 0; i < ARRAY_SIZE(t->devnode); i++)
        if (t->devnode[i] >= 0)
            close(t->devnode[i]);
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

static int open_host_trees(const struct mounts_ctx *ctx, struct host_trees *t, ab_error *err)
{
    const struct spec *s = ctx->spec;
    int r;
    if (s->root) {
        if (ctx->premade_root >= 0)
            t->root = ctx->premade_root;
        else if ((t->root = clone_tree(s->root, true, err)) < 0)
            return t->root;
    } else {
        for (size_t i = 0; host_view_dirs[i]; i++) {
            struct stat st;
            if (lstat(host_view_dirs[i], &st) < 0 || !S_ISDIR(st.st_mode))
                continue;
            if ((t->view[i] = clone_tree(host_view_dirs[i], true, err)) < 0)
                return t->view[i];
        }
    }
    for (size_t i = 0; dev_nodes[i]; i++) {
        char p[32];
        snprintf(p, sizeof(p), "/dev/%s", dev_nodes[i]);
        if ((t->devnode[i] = clone_tree(p, false, err)) < 0)
            return t->devnode[i];
    }
    t->user = malloc((s->n_mounts + 1) * sizeof(int));
    if (!t->user)
        return ab_fail(err, ENOMEM, "cannot prepare mounts");
    for (size_t i = 0; i < s->n_mounts; i++) {
        t->user[i] = -1;
        const struct mount_entry *m = &s->mounts[i];
        if (m->kind == MOUNT_TMPFS)
            continue;
        if (ctx->premade && ctx->premade[i] >= 0) {
            t->user[i] = ctx->premade[i];
            continue;
        }
        if ((r = clone_tree(m->src, m->kind != MOUNT_DEVICE, err)) < 0)
            return ab_error_prefix(err, "cannot bind %s to %s", m->src, m->dst);
        t->user[i] = r;
    }
    if (!ctx->own_netns && (t->sys = clone_tree("/sys", true, err)) < 0)
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

static int build_host_view(const struct mounts_ctx *ctx, int rootfd, struct host_trees *t, ab_error *err)
{
    int r;
    for (size_t i = 0; host_view_dirs[i]; i++) {
        if (t->view[i] < 0) {
            if ((r = copy_symlink(rootfd, host_view_dirs[i], err)) < 0)
                return r;
            continue;
        }
        _cleanup_close_ int dst = fs_ensure_in_root(rootfd, host_view_dirs[i], false, err);
        if (dst < 0)
            return dst;
        if ((r = set_attrs(t->view[i], host_view_dirs[i], RO_ATTRS, true, err)) < 0 ||
            (r = attach(t->view[i], dst, host_view_dirs[i], err)) < 0)
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

static int build_foreign_root(const struct mounts_ctx *ctx, int rootfd, ab_error *err)
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

static int mount_home(const struct mounts_ctx *ctx, int rootfd, ab_error *err)
{
    const struct spec *s = ctx->spec;
    if (s->root && s->writable)
        return 0; /* a writable root keeps its own home */
    _cleanup_close_ int fd = -1;
    if (s->root) {
        fd = fs_open_in_root(rootfd, ctx->id->home, O_PATH | O_DIRECTORY);
        if (fd < 0)
            return 0; /* no home in a read-only root: HOME stays, unwritable */
    } else {
        fd = fs_ensure_in_root(rootfd, ctx->id->home, false, err);
        if (fd < 0)
            return fd;
    }
    char opts[96];
    snprintf(opts, sizeof(opts), "mode=0700,uid=%u,gid=%u", ctx->id->uid, ctx->id->gid);
    _cleanup_close_ int mfd = new_fs("tmpfs", opts, RW_ATTRS, ctx->id->home, err);
    if (mfd < 0)
        return mfd;
    return attach(mfd, fd, ctx->id->home, err);
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

static int mount_proc(int rootfd, int nullfd, ab_error *err)
{
    int r = mount_new_fs_at(rootfd, "/proc", "proc", NULL,
                            MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC, err);
    if (r < 0)
        return r;
    _cleanup_close_ int proc = fs_open_in_root(rootfd, "/proc", O_PATH | O_DIRECTORY);
    if (proc < 0)
        return ab_fail(err, -proc, "cannot open the new /proc");
    for (size_t i = 0; proc_readonly_paths[i]; i++)
        if ((r = readonly_path(proc, proc_readonly_paths[i], "/proc", err)) < 0)
            return r;
    for (size_t i = 0; proc_masked_paths[i]; i++)
        if ((r = mask_path(proc, proc_masked_paths[i], nullfd, "/proc", err)) < 0)
            return r;
    return 0;
}

static int mount_sys(const struct mounts_ctx *ctx, int rootfd, struct host_trees *t, int nullfd, ab_error *err)
{
    int r;
    _cleanup_close_ int dst = fs_ensure_in_root(rootfd, "/sys", false, err);
    if (dst < 0)
        return dst;
    if (ctx->own_netns) {
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
    for (size_t i = 0; sys_masked_paths[i]; i++)
        if ((r = mask_path(sys, sys_masked_paths[i], nullfd, "/sys", err)) < 0)
            return r;
    return 0;
}

static int mount_dev(int rootfd, struct host_trees *t, ab_error *err)
{
    int r = mount_new_fs_at(rootfd, "/dev", "tmpfs", "mode=0755,size=512k",
                            MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC, err);
    if (r < 0)
        return r;
    _cleanup_close_ int dev = fs_open_in_root(rootfd, "/dev", O_PATH | O_DIRECTORY);
    if (dev < 0)
        return ab_fail(err, -dev, "cannot open the new /dev");
    for (size_t i = 0; dev_nodes[i]; i++) {
        char p[32];
        snprintf(p, sizeof(p), "/dev/%s", dev_nodes[i]);
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

static int mount_user_entries(const struct mounts_ctx *ctx, int rootfd, struct host_trees *t, ab_error *err)
{
    const struct spec *s = ctx->spec;
    for (size_t i = 0; i < s->n_mounts; i++) {
        const struct mount_entry *m = &s->mounts[i];
        int r;
        if (m->kind == MOUNT_TMPFS) {
            if ((r = mount_new_fs_at(rootfd, m->dst, "tmpfs", "mode=0755", RW_ATTRS, err)) < 0)
                return ab_error_prefix(err, "--tmpfs %s", m->dst);
            continue;
        }
        struct stat st;
        if (fstat(t->user[i], &st) < 0)
            return ab_fail(err, errno, "cannot inspect %s", m->src);
        _cleanup_close_ int dst = fs_ensure_in_root(rootfd, m->dst, !S_ISDIR(st.st_mode), err);
        if (dst < 0)
            return ab_error_prefix(err, "cannot bind %s to %s", m->src, m->dst);
        struct stat dt;
        if (fstat(dst, &dt) == 0 && S_ISDIR(dt.st_mode) != S_ISDIR(st.st_mode))
            return ab_fail(err, 0, "cannot bind %s to %s: one is a directory and the other is not",
                           m->src, m->dst);
        unsigned long long attrs = m->kind == MOUNT_RO_BIND ? RO_ATTRS
                                   : m->kind == MOUNT_DEVICE ? (MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC)
                                                             : RW_ATTRS;
        if ((r = set_attrs(t->user[i], m->dst, attrs, m->kind != MOUNT_DEVICE, err)) < 0 ||
            (r = attach(t->user[i], dst, m->dst, err)) < 0)
            return ab_error_prefix(err, "cannot bind %s to %s", m->src, m->dst);
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

static int add_identity(const struct mounts_ctx *ctx, int rootfd, ab_error *err)
{
    _cleanup_close_ int scratch = open(SCRATCH, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (scratch < 0)
        return ab_fail(err, errno, "cannot open %s", SCRATCH);
    char line[512];
    int r;
    if (identity_passwd_line(ctx->id, line, sizeof(line)) < 0)
        return ab_fail(err, ENOSPC, "user entry too long");
    if ((r = add_identity_entry(rootfd, scratch, "/etc/passwd", ctx->id->name, ctx->id->uid, line, err)) < 0)
        return r;
    if (identity_group_line(ctx->id, line, sizeof(line)) < 0)
        return ab_fail(err, ENOSPC, "group entry too long");
    return add_identity_entry(rootfd, scratch, "/etc/group", ctx->id->group, ctx->id->gid, line, err);
}

static int do_pivot(ab_error *err)
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

int mounts_setup(const struct mounts_ctx *ctx, ab_error *err)
{
    const struct spec *s = ctx->spec;
    int r;
    /* Nothing we mount may propagate back to the host. */
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
        return ab_fail(err, errno, "cannot make the mount namespace private");

    struct host_trees t = { .root = -1, .sys = -1 };
    for (size_t i = 0; i < ARRAY_SIZE(t.view); i++)
        t.view[i] = -1;
    for (size_t i = 0; i < ARRAY_SIZE(t.devnode); i++)
        t.devnode[i] = -1;
    /* Host paths are opened with the caller's own credentials, so that a
     * root caller can use directories only root may enter. */
    r = open_host_trees(ctx, &t, err);
    if (r >= 0 && ctx->become_ns_root &&
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
        r = mount_dev(rootfd, &t, err);
    _cleanup_close_ int null_in_root = r >= 0 ? fs_open_in_root(rootfd, "/dev/null", O_PATH) : -1;
    if (r >= 0 && null_in_root < 0)
        r = ab_fail(err, -null_in_root, "cannot open the new /dev/null");
    if (r >= 0)
        r = mount_proc(rootfd, null_in_root, err);
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
    host_trees_close(&t, s->n_mounts);
    if (r < 0)
        return r;
    return do_pivot(err);
}
