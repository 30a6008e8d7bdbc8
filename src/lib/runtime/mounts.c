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

#include "net/net.h"
#include "runtime/identity.h"
#include "runtime/mounts_plan.h"
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

int set_attrs(int treefd, const char *what, unsigned long long attrs, bool recursive, ab_error *err)
{
    struct mount_attr a = { .attr_set = attrs };
    if (mount_setattr(treefd, "", AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0), &a, sizeof(a)) < 0)
        return ab_fail(err, errno, "cannot set mount flags on %s", what);
    return 0;
}

/* Attach a detached tree at DSTFD (an O_PATH fd from fs_ensure_in_root). */
int attach(int treefd, int dstfd, const char *what, ab_error *err)
{
    if (move_mount(treefd, "", dstfd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
        return ab_fail(err, errno, "cannot mount %s", what);
    return 0;
}

/* A fresh file system (tmpfs, proc, sysfs, ...) with OPTIONS ("k=v,k2"). */
static int new_fs_from(const char *type, const char *source, const char *options, unsigned attrs, const char *what,
                       ab_error *err)
{
    _cleanup_close_ int fsfd = fsopen(type, FSOPEN_CLOEXEC);
    if (fsfd < 0)
        return ab_fail(err, errno, "cannot create a %s file system for %s", type, what);
    /* the name mountinfo shows (config.json's source: "tmpfs", "proc") */
    if (source && fsconfig(fsfd, FSCONFIG_SET_STRING, "source", source, 0) < 0)
        return ab_fail(err, errno, "cannot name the %s file system for %s %s", type, what, source);
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

static int new_fs(const char *type, const char *options, unsigned attrs, const char *what, ab_error *err)
{
    return new_fs_from(type, NULL, options, attrs, what, err);
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
    snprintf(opts, sizeof(opts), "mode=0700,uid=%u,gid=%u,size=%llu", id->uid, id->gid,
             (unsigned long long)c->tmpfs_size);
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

/* Give the user an entry in the root's /etc/passwd and /etc/group when it
 * lacks one, by binding an extended copy over it (the root is untouched).
 * The root's file is hostile: it is read (and the copy bound over it)
 * through one fd, opened inside the root without blocking, and only a
 * regular file of the root's own, not a kernel file, at most 4 MiB, is
 * extended; anything else (a FIFO, a directory, a link to /proc) is left
 * as the root has it.  This op runs before /proc, /sys and /dev are
 * mounted (mounts_plan()), so a link cannot reach them anyway. */
static int add_identity_entry(int rootfd, int scratchfd, const char *file, const char *name, unsigned idnum,
                              const char *line, ab_error *err)
{
    _cleanup_close_ int dst = -1;
    _cleanup_free_ char *text = fs_read_config_in_root(rootfd, file, 1 << 22, &dst);
    if (!text && (errno == ENOENT || errno == EINVAL || errno == ELOOP))
        return 0; /* no such file, or not one to extend */
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

static void plan_free(struct mount_plan *p)
{
    for (size_t i = 0; i < p->n; i++) {
        if (p->ops[i].tree >= 0)
            close(p->ops[i].tree);
        if (p->ops[i].lower_tree >= 0)
            close(p->ops[i].lower_tree);
        free(p->ops[i].owned);
    }
    free(p->ops);
}

struct mount_op *plan_add(struct mount_plan *p, enum op_kind kind, const char *dest)
{
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 64;
        struct mount_op *n = realloc(p->ops, cap * sizeof(*n));
        if (!n)
            return NULL;
        p->ops = n;
        p->cap = cap;
    }
    struct mount_op *op = &p->ops[p->n++];
    *op = (struct mount_op){ .kind = kind, .dest = dest, .what = dest, .tree = -1, .lower_tree = -1 };
    return op;
}

int plan_new_fs(struct mount_plan *p, const char *dest, const char *fstype, const char *data,
                       unsigned long long attrs, unsigned flags, ab_error *err)
{
    struct mount_op *op = ADD(p, OP_NEW_FS, dest);
    op->fstype = fstype;
    op->data = data;
    op->attrs = attrs;
    op->flags = flags;
    return 0;
}

/* A tmpfs of SIZE bytes with MODE: every tmpfs of appbox's has a size. */
int plan_tmpfs(struct mount_plan *p, const char *dest, const char *mode, uint64_t size, unsigned flags,
                      ab_error *err)
{
    char *data;
    if (asprintf(&data, "mode=%s,size=%llu", mode, (unsigned long long)size) < 0)
        return ab_fail(err, ENOMEM, "cannot plan the mounts");
    int r = plan_new_fs(p, dest, "tmpfs", data, RW_ATTRS, flags, err);
    if (r < 0) {
        free(data);
        return r;
    }
    p->ops[p->n - 1].owned = data;
    return 0;
}

/* Masks and read-only paths of the spec below TOP ("/proc", "/sys"). */
/* The network's files: /etc/resolv.conf naming the network's nameserver
 * (when it has one of appbox's), and /etc/hosts with the container's own
 * name (at its address, when it has one) or a named network's file, which
 * appbox keeps current as members come and go.  The host's network keeps
 * the root's own files; a root where the file is missing and cannot be
 * made (read-only, or not the container's to write) goes without them. */
static int plan_network_files(struct mount_plan *p, const struct spec_container *c, ab_error *err)
{
    const struct spec_network *n = &c->network;
    if (c->net == NET_HOST)
        return 0;
    if (n->dns) {
        struct mount_op *op = ADD(p, OP_FILE_DATA, "/etc/resolv.conf");
        op->flags = OPF_IF_CREATABLE;
        if (asprintf(&op->owned, "nameserver %s\n", n->dns) < 0)
            return ab_fail(err, ENOMEM, "cannot plan the mounts");
        op->data = op->owned;
    }
    if (n->hosts) {
        struct mount_op *op = ADD(p, OP_TREE, "/etc/hosts");
        op->source = n->hosts;
        op->attrs = RO_ATTRS | MOUNT_ATTR_NOEXEC;
        op->flags = OPF_FILE | OPF_IF_CREATABLE;
        return 0;
    }
    const char *name = c->hostname ? c->hostname : SPEC_DEFAULT_HOSTNAME;
    int addr_len = n->addr ? (int)strcspn(n->addr, "/") : 9;
    struct mount_op *op = ADD(p, OP_FILE_DATA, "/etc/hosts");
    op->flags = OPF_IF_CREATABLE;
    if (asprintf(&op->owned, "127.0.0.1\tlocalhost\n%.*s\t%s\n::1\tlocalhost ip6-localhost ip6-loopback\n",
                 addr_len, n->addr ? n->addr : "127.0.1.1", name) < 0)
        return ab_fail(err, ENOMEM, "cannot plan the mounts");
    op->data = op->owned;
    return 0;
}

static int plan_masks(struct mount_plan *p, const struct spec_container *c, const char *top, ab_error *err)
{
    size_t len = strlen(top);
    for (size_t i = 0; i < c->readonly_paths.n; i++)
        if (strncmp(c->readonly_paths.v[i], top, len) == 0 && c->readonly_paths.v[i][len] == '/')
            ADD(p, OP_READONLY, c->readonly_paths.v[i])->flags = OPF_IF_EXISTS;
    for (size_t i = 0; i < c->masked_paths.n; i++)
        if (strncmp(c->masked_paths.v[i], top, len) == 0 && c->masked_paths.v[i][len] == '/')
            ADD(p, OP_MASK, c->masked_paths.v[i])->flags = OPF_IF_EXISTS;
    return 0;
}

static int mounts_plan(struct inside *in, struct mount_plan *p, ab_error *err)
{
    const struct spec_container *c = &in->spec->container;
    if (in->spec->oci)
        return mounts_plan_oci(in, p, err);
    uint64_t run_size = c->tmpfs_size < SPEC_RUN_TMPFS_SIZE ? c->tmpfs_size : SPEC_RUN_TMPFS_SIZE;
    int r;
    /* the root: the spec's, or an empty tmpfs for the host view */
    if (c->root) {
        struct mount_op *op = ADD(p, c->root_lower ? OP_OVERLAY : OP_TREE, "/");
        op->source = c->root;
        op->premade = &in->premade_root;
        op->lower = c->root_lower;
        op->premade_lower = &in->premade_lower;
        op->attrs = c->writable ? RW_ATTRS : RO_ATTRS;
        op->flags = OPF_RECURSIVE;
        op->what = c->root;
        /* Fresh /tmp and /run where the root has them: a read-only root
         * still needs somewhere to write, and nothing of one run should
         * leak into the next through them. */
        if ((r = plan_tmpfs(p, "/tmp", "1777", c->tmpfs_size, OPF_IF_DIR, err)) < 0 ||
            (r = plan_tmpfs(p, "/run", "0755", run_size, OPF_IF_DIR, err)) < 0)
            return r;
    } else {
        if ((r = plan_new_fs(p, "/", "tmpfs", "mode=0755,size=1m", RW_ATTRS, 0, err)) < 0)
            return r;
        for (size_t i = 0; spec_host_view_dirs[i]; i++) {
            struct stat st;
            if (lstat(spec_host_view_dirs[i], &st) < 0)
                continue;
            if (S_ISLNK(st.st_mode)) {
                ADD(p, OP_HOST_SYMLINK, spec_host_view_dirs[i]);
                continue;
            }
            if (!S_ISDIR(st.st_mode))
                continue;
            struct mount_op *op = ADD(p, OP_TREE, spec_host_view_dirs[i]);
            op->source = spec_host_view_dirs[i];
            op->attrs = RO_ATTRS;
            op->flags = OPF_RECURSIVE;
        }
        if ((r = plan_tmpfs(p, "/tmp", "1777", c->tmpfs_size, 0, err)) < 0 ||
            (r = plan_tmpfs(p, "/var/tmp", "1777", c->tmpfs_size, 0, err)) < 0 ||
            (r = plan_tmpfs(p, "/run", "0755", run_size, 0, err)) < 0)
            return r;
    }
    /* The user's passwd and group entries, before any kernel file system
     * (/dev, /proc, /sys) is in the tree: a link in a hostile root's
     * /etc (to /proc/1/mountinfo, /proc/self/environ) then finds only the
     * root's own files, never appbox's view of the host. */
    ADD(p, OP_IDENTITY, "/etc/passwd");
    /* /dev: a small tmpfs, the host's harmless nodes, a devpts of its own
     * (the container's ptys are not the host's), shm, mqueue, links */
    if ((r = plan_new_fs(p, "/dev", "tmpfs", "mode=0755,size=512k", MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC, 0,
                         err)) < 0)
        return r;
    for (size_t i = 0; i < c->devices.n; i++) {
        struct mount_op *op = ADD(p, OP_TREE, c->devices.v[i]);
        op->source = c->devices.v[i];
        op->attrs = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC;
        op->flags = OPF_FILE;
    }
    if ((r = plan_new_fs(p, "/dev/pts", "devpts", "newinstance,ptmxmode=0666,mode=0620,gid=5",
                         MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC, 0, err)) < 0)
        return r;
    p->ops[p->n - 1].fallback = "newinstance,ptmxmode=0666,mode=0620"; /* gid 5 unmapped in a single-id map */
    if ((r = plan_tmpfs(p, "/dev/shm", "1777", c->tmpfs_size, 0, err)) < 0 ||
        (r = plan_new_fs(p, "/dev/mqueue", "mqueue", NULL, RW_ATTRS | MOUNT_ATTR_NOEXEC, 0, err)) < 0)
        return r;
    static const char *const links[][2] = {
        { "/dev/ptmx", "pts/ptmx" },         { "/dev/fd", "/proc/self/fd" },
        { "/dev/stdin", "/proc/self/fd/0" }, { "/dev/stdout", "/proc/self/fd/1" },
        { "/dev/stderr", "/proc/self/fd/2" },
    };
    for (size_t i = 0; i < ARRAY_SIZE(links); i++)
        ADD(p, OP_SYMLINK, links[i][0])->data = links[i][1];
    /* /proc and /sys, and what of them the app must not see or write */
    if ((r = plan_new_fs(p, "/proc", "proc", NULL, RW_ATTRS | MOUNT_ATTR_NOEXEC, 0, err)) < 0 ||
        (r = plan_masks(p, c, "/proc", err)) < 0)
        return r;
    if (c->net != NET_HOST) {
        r = plan_new_fs(p, "/sys", "sysfs", NULL, RO_ATTRS | MOUNT_ATTR_NOEXEC, 0, err);
    } else {
        /* a fresh sysfs can only be mounted for a network namespace of our own */
        struct mount_op *op = ADD(p, OP_TREE, "/sys");
        op->source = "/sys";
        op->attrs = RO_ATTRS | MOUNT_ATTR_NOEXEC;
        op->flags = OPF_RECURSIVE;
    }
    if (r < 0 || (r = plan_masks(p, c, "/sys", err)) < 0)
        return r;
    ADD(p, OP_HOME, in->spec->process.user.home);
    /* pasta's DNS forwarder, for a network namespace of pasta's; before the
     * spec's own mounts, which may replace it */
    if (c->net == NET_PASTA)
        ADD(p, OP_FILE_DATA, "/etc/resolv.conf")->data = "nameserver " NET_PASTA_DNS "\n";
    if ((r = plan_network_files(p, c, err)) < 0)
        return r;
    /* the spec's own mounts, in order, last: they may go over anything above */
    for (size_t i = 0; i < c->n_mounts; i++) {
        const struct spec_mount *m = &c->mounts[i];
        if (m->type == MOUNT_TYPE_TMPFS) {
            /* without a size of its own: the default one */
            char *data = NULL;
            if (!strstr(m->data ? m->data : "", "size=") &&
                asprintf(&data, "%s%ssize=%llu", m->data ? m->data : "", m->data ? "," : "",
                         (unsigned long long)c->tmpfs_size) < 0)
                return ab_fail(err, ENOMEM, "cannot plan the mounts");
            if ((r = plan_new_fs(p, m->destination, "tmpfs", data ? data : m->data, attrs_of(m->options), 0, err)) < 0) {
                free(data);
                return r;
            }
            p->ops[p->n - 1].owned = data;
            p->ops[p->n - 1].what = m->origin ? m->origin : "tmpfs";
            continue;
        }
        struct mount_op *op = ADD(p, OP_TREE, m->destination);
        op->source = m->source;
        op->premade = i < RUNNER_MAX_TREES ? &in->premade[i] : NULL;
        op->attrs = attrs_of(m->options);
        op->flags = OPF_SOURCE_KIND | ((m->options & MOUNT_RECURSIVE) ? OPF_RECURSIVE : 0);
        op->dev = m->dev;
        op->ino = m->ino;
        op->what = m->origin;
    }
    if (!c->root)
        ADD(p, OP_ROOT_RO, "/");
    return 0;
}

/* Phase one, with the caller's credentials and the host's tree still in
 * view: open every host tree the plan attaches. */
static int open_trees(struct mount_plan *p, ab_error *err)
{
    for (size_t i = 0; i < p->n; i++) {
        struct mount_op *op = &p->ops[i];
        if (op->kind == OP_OVERLAY) {
            /* the base is appbox's (never written: only ever a lower layer) */
            if (*op->premade_lower >= 0) {
                op->lower_tree = *op->premade_lower;
                *op->premade_lower = -1;
            } else if ((op->lower_tree = clone_pinned(op->lower, 0, 0, false, err)) < 0) {
                op->lower_tree = -1;
                return ab_error_prefix(err, "cannot open the container's base");
            }
        } else if (op->kind != OP_TREE) {
            continue;
        }
        if (op->premade && *op->premade >= 0) {
            op->tree = *op->premade;
            *op->premade = -1;
            continue;
        }
        op->tree = clone_pinned(op->source, op->dev, op->ino, op->kind == OP_TREE && (op->flags & OPF_RECURSIVE), err);
        if (op->tree < 0) {
            op->tree = -1;
            return op->dest[1] ? ab_error_prefix(err, "cannot bind %s to %s", op->source, op->dest) : -EIO;
        }
    }
    return 0;
}

/* Where OP goes: the staging root itself, or a path in it (made when
 * missing).  *SKIP: the op does not apply here (OPF_IF_*), not an error. */
static int op_target(const struct mount_op *op, int rootfd, int stagefd, bool *skip, ab_error *err)
{
    *skip = false;
    if (strcmp(op->dest, "/") == 0) {
        int fd = fcntl(stagefd, F_DUPFD_CLOEXEC, 3);
        return fd < 0 ? ab_fail(err, errno, "cannot open " NEWROOT) : fd;
    }
    if (op->flags & (OPF_IF_DIR | OPF_IF_EXISTS)) {
        int fd = fs_open_in_root(rootfd, op->dest, O_PATH | ((op->flags & OPF_IF_DIR) ? O_DIRECTORY : 0));
        *skip = fd < 0;
        return fd;
    }
    bool as_file = op->flags & OPF_FILE;
    struct stat st;
    if ((op->flags & OPF_SOURCE_KIND) && fstat(op->tree, &st) == 0)
        as_file = !S_ISDIR(st.st_mode);
    int fd = fs_ensure_in_root(rootfd, op->dest, as_file, err);
    if ((fd == -EROFS || fd == -EACCES || fd == -EPERM) && (op->flags & OPF_IF_CREATABLE)) {
        *skip = true;
        return fd;
    }
    if (fd >= 0 && (op->flags & OPF_SOURCE_KIND)) {
        struct stat dt;
        if (fstat(fd, &dt) == 0 && S_ISDIR(dt.st_mode) == as_file) {
            close(fd);
            return ab_fail(err, 0, "one is a directory and the other is not");
        }
    }
    return fd;
}

/* OP_FILE_DATA: OP->data written to a file of the staging tmpfs, bound
 * read-only over OP->dest (made in the root when missing). */
static int add_file_data(const struct mount_op *op, int rootfd, ab_error *err)
{
    _cleanup_close_ int scratch = open(SCRATCH, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (scratch < 0)
        return ab_fail(err, errno, "cannot open %s", SCRATCH);
    const char *base = strrchr(op->dest, '/') + 1;
    _cleanup_close_ int out = openat(scratch, base, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
    size_t len = strlen(op->data);
    if (out < 0 || write(out, op->data, len) != (ssize_t)len)
        return ab_fail(err, errno, "cannot write the container's %s", op->dest);
    _cleanup_close_ int t = open_tree(scratch, base, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
    if (t < 0)
        return ab_fail(err, errno, "cannot bind the container's %s", op->dest);
    _cleanup_close_ int dst = fs_ensure_in_root(rootfd, op->dest, true, err);
    if ((dst == -EROFS || dst == -EACCES || dst == -EPERM) && (op->flags & OPF_IF_CREATABLE))
        return 0;
    if (dst < 0)
        return ab_error_prefix(err, "cannot bind the container's %s", op->dest);
    int r = set_attrs(t, op->dest, RO_ATTRS, false, err);
    return r < 0 ? r : attach(t, dst, op->dest, err);
}

/* OP_OVERLAY: the container's root from a shared base.  The base and the
 * container's layer (its upper/ and work/) are attached in the staging
 * tmpfs, which goes with the host's tree at the pivot (the overlay keeps
 * its layers), and the overlay is mounted here, in the container's user
 * namespace: what it writes lands in upper/ with the container's ids (for
 * a root caller through the idmapped layers the runner made, so on disk
 * as a root file system), the base is only ever read.  userxattr: the
 * overlay's own xattrs are user.overlay.*, which a user namespace may set. */
static int mount_overlay(struct mount_op *op, int stagefd, ab_error *err)
{
    static const char lower[] = STAGING "/lower", layer[] = STAGING "/layer";
    if (mkdir(lower, 0700) < 0 || mkdir(layer, 0700) < 0)
        return ab_fail(err, errno, "cannot create the staging directories of the overlay");
    _cleanup_close_ int lfd = open(lower, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    _cleanup_close_ int ufd = open(layer, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (lfd < 0 || ufd < 0)
        return ab_fail(err, errno, "cannot open the staging directories of the overlay");
    int r;
    if ((r = set_attrs(op->lower_tree, op->lower, RO_ATTRS, true, err)) < 0 ||
        (r = attach(op->lower_tree, lfd, op->lower, err)) < 0 ||
        (r = set_attrs(op->tree, op->source, RW_ATTRS, true, err)) < 0 || (r = attach(op->tree, ufd, op->source, err)) < 0)
        return r;
    close(op->lower_tree);
    close(op->tree);
    op->lower_tree = op->tree = -1;
    _cleanup_close_ int fsfd = fsopen("overlay", FSOPEN_CLOEXEC);
    if (fsfd < 0)
        return ab_fail(err, errno, "cannot create an overlay file system for the root (overlayfs)");
    if (fsconfig(fsfd, FSCONFIG_SET_STRING, "lowerdir", lower, 0) < 0 ||
        fsconfig(fsfd, FSCONFIG_SET_STRING, "upperdir", STAGING "/layer/upper", 0) < 0 ||
        fsconfig(fsfd, FSCONFIG_SET_STRING, "workdir", STAGING "/layer/work", 0) < 0 ||
        fsconfig(fsfd, FSCONFIG_SET_FLAG, "userxattr", NULL, 0) < 0)
        return ab_fail(err, errno, "cannot set up the overlay of %s over %s", op->source, op->lower);
    if (fsconfig(fsfd, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
        return ab_fail(err, errno, "cannot mount the overlay of %s over %s", op->source, op->lower);
    _cleanup_close_ int mfd = fsmount(fsfd, FSMOUNT_CLOEXEC, (unsigned)op->attrs);
    if (mfd < 0)
        return ab_fail(err, errno, "cannot mount the overlay of %s over %s", op->source, op->lower);
    return attach(mfd, stagefd, "the container's root", err);
}

static int apply_op(struct inside *in, struct mount_op *op, int rootfd, int stagefd, ab_error *err)
{
    int r;
    switch (op->kind) {
    case OP_HOST_SYMLINK:
        return copy_symlink(rootfd, op->dest, err);
    case OP_SYMLINK: {
        _cleanup_free_ char *parent = strdup(op->dest);
        if (!parent)
            return ab_fail(err, ENOMEM, "%s", op->dest);
        *strrchr(parent, '/') = '\0';
        _cleanup_close_ int dir = fs_open_in_root(rootfd, *parent ? parent : "/", O_PATH | O_DIRECTORY);
        if (dir < 0 || symlinkat(op->data, dir, strrchr(op->dest, '/') + 1) < 0) {
            if (dir >= 0 && errno == EEXIST && (op->flags & OPF_IF_ABSENT))
                return 0;
            return ab_fail(err, dir < 0 ? -dir : errno, "cannot create %s", op->dest);
        }
        return 0;
    }
    case OP_HOME:
        return mount_home(in, rootfd, err);
    case OP_IDENTITY:
        return add_identity(in, rootfd, err);
    case OP_FILE_DATA:
        return add_file_data(op, rootfd, err);
    case OP_ROOT_RO:
        return set_attrs(rootfd, "/", op->attrs ? op->attrs : RO_ATTRS, false, err);
    case OP_DEVICE:
        return make_device(op, rootfd, err);
    case OP_OVERLAY:
        return mount_overlay(op, stagefd, err);
    case OP_MASK:
    case OP_READONLY: {
        /* below a fresh /proc or /sys: opened from it without following
         * a link, as the kernel's own entries are never links */
        const char *rest = strchr(op->dest + 1, '/');
        _cleanup_free_ char *top = rest ? strndup(op->dest, (size_t)(rest - op->dest)) : strdup("/");
        rest = rest ? rest + 1 : op->dest + 1;   /* "/name" (config.json's): below the root itself */
        _cleanup_close_ int topfd = top ? fs_open_in_root(rootfd, top, O_PATH | O_DIRECTORY) : -1;
        if (topfd < 0) {
            if (op->flags & OPF_IF_EXISTS)
                return 0;
            return ab_fail(err, topfd < 0 && top ? -topfd : EINVAL, "cannot open the new %s", top ? top : op->dest);
        }
        if (op->kind == OP_READONLY)
            return readonly_path(topfd, rest, top, err);
        _cleanup_close_ int nullfd = fs_open_in_root(rootfd, "/dev/null", O_PATH);
        if (nullfd < 0)
            return ab_fail(err, -nullfd, "cannot open the new /dev/null");
        return mask_path(topfd, rest, nullfd, top, err);
    }
    case OP_TREE:
    case OP_NEW_FS:
        break;
    }
    bool skip;
    _cleanup_close_ int dst = op_target(op, rootfd, stagefd, &skip, err);
    if (skip)
        return 0;
    if (dst < 0)
        return op->kind == OP_TREE ? ab_error_prefix(err, "cannot bind %s to %s", op->source, op->dest)
               : op->what != op->dest ? ab_error_prefix(err, "%s %s", op->what, op->dest)
                                      : dst;
    if (op->kind == OP_TREE) {
        if ((r = set_attrs(op->tree, op->dest, op->attrs, op->flags & OPF_RECURSIVE, err)) < 0 ||
            (r = attach(op->tree, dst, op->dest, err)) < 0 ||
            (r = set_propagation(op->tree, op->dest, op->propagation, err)) < 0)
            return op->dest[1] ? ab_error_prefix(err, "cannot bind %s to %s", op->source, op->dest) : r;
        close(op->tree);
        op->tree = -1;
        return 0;
    }
    ab_error first;
    int mfd = new_fs_from(op->fstype, op->fs_source, op->data, (unsigned)op->attrs, op->dest, &first);
    _cleanup_free_ char *no_gid = NULL;
    if (mfd < 0 && !op->fallback && op->data && strcmp(op->fstype, "devpts") == 0 && strstr(op->data, "gid=")) {
        /* config.json's gid=5 where the user namespace has no group 5 (a
         * rootless single-id map): the pty group as the kernel picks it */
        no_gid = strip_option(op->data, "gid");
        mfd = no_gid ? new_fs_from(op->fstype, op->fs_source, no_gid, (unsigned)op->attrs, op->dest, err) : mfd;
        if (mfd >= 0)
            first.kind = AB_ERR_NONE;
    }
    if (mfd < 0 && op->fallback)
        mfd = new_fs(op->fstype, op->fallback, (unsigned)op->attrs, op->dest, err);
    else if (mfd < 0 && !no_gid)
        *err = first;
    if (mfd < 0)
        return op->what != op->dest ? ab_error_prefix(err, "%s %s", op->what, op->dest) : mfd;
    r = attach(mfd, dst, op->dest, err);
    if (r == 0)
        r = set_propagation(mfd, op->dest, op->propagation, err);
    close(mfd);
    return r;
}

/* The whole tree, at NEWROOT; mounts_pivot() makes it "/" once every
 * module has run its steps before the pivot. */
static int mounts_build(struct inside *in, ab_error *err)
{
    /* Nothing we mount may propagate back to the host. */
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
        return ab_fail(err, errno, "cannot make the mount namespace private");
    struct mount_plan plan = { 0 };
    int r = mounts_plan(in, &plan, err);
    /* Host paths are opened with the caller's own credentials, so that a
     * root caller can use directories only root may enter. */
    if (r >= 0)
        r = open_trees(&plan, err);
    /* Host root is not mapped in our namespace (container root is an
     * unprivileged host id): become the namespace's root once the host's
     * trees are open, or files we create would have no owner. */
    if (r >= 0 && in->spec->process.user.caller_uid == 0 &&
        (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0 || setgroups(0, NULL) < 0))
        r = ab_fail(err, errno, "cannot become root in the container's user namespace");
    if (r >= 0)
        r = mount(NULL, STAGING, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0700,size=1m") < 0
                ? ab_fail(err, errno, "cannot mount the staging tmpfs on " STAGING) : 0;
    if (r >= 0 && (mkdir(NEWROOT, 0755) < 0 || mkdir(SCRATCH, 0700) < 0))
        r = ab_fail(err, errno, "cannot create the staging directories");
    _cleanup_close_ int stagefd = r >= 0 ? open(NEWROOT, O_PATH | O_DIRECTORY | O_CLOEXEC) : -1;
    if (r >= 0 && stagefd < 0)
        r = ab_fail(err, errno, "cannot open " NEWROOT);
    /* The root is op 0; every later op works inside it, fd-relative. */
    _cleanup_close_ int rootfd = -1;
    for (size_t i = 0; r >= 0 && i < plan.n; i++) {
        r = apply_op(in, &plan.ops[i], rootfd, stagefd, err);
        if (r >= 0 && i == 0 && (rootfd = open(NEWROOT, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
            r = ab_fail(err, errno, "cannot open " NEWROOT);
    }
    plan_free(&plan);
    return r;
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
    /* appbox-oci: the ids are the caller's business (podman chowns its
     * layers), nothing is idmapped */
    if (s->process.user.caller_uid != 0 || s->oci)
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
    _cleanup_free_ char *real_data = run->ctx ? realpath(run->ctx->data_dir, NULL) : NULL;
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
        if (read_only && !in_private_store(at, real_data) && spec_container_can_write(c, src))
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
    /* The shared base under an overlay root: only ever read (a lower
     * layer), idmapped as the layer above it is, when it is in the store. */
    _cleanup_close_ int lower = c->root_lower ? open(c->root_lower, O_PATH | O_DIRECTORY | O_CLOEXEC) : -1;
    if (lower >= 0 && in_private_store(lower, real_data)) {
        _cleanup_close_ int t = open_tree(lower, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH);
        if (t >= 0 && mount_setattr(t, "", AT_EMPTY_PATH, &attr, sizeof(attr)) == 0) {
            int r = runner_send_tree(run, -2, t);
            if (r < 0)
                return ab_fail(err, -r, "cannot hand the container its idmapped trees");
        }
    }
    return 0;
}

const struct module mounts_module = {
    .name = "mounts",
    .host_setup = mounts_host_setup,
    .before_pivot = mounts_before_pivot,
};
