#include "util/fsutil.h"

#include <dirent.h>
#include <signal.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/vfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/strv.h"

int fs_open_in_root(int rootfd, const char *path, int flags)
{
    struct open_how how = {
        .flags = (unsigned long long)(flags | O_CLOEXEC),
        .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
    };
    while (*path == '/')
        path++;
    if (!*path)
        path = ".";
    long fd = syscall(SYS_openat2, rootfd, path, &how, sizeof(how));
    return fd < 0 ? -errno : (int)fd;
}

static char *dir_of(const char *path)
{
    char *d = strdup(path);
    if (!d)
        return NULL;
    char *slash = strrchr(d, '/');
    if (!slash)
        strcpy(d, ".");
    else if (slash == d)
        d[1] = '\0';
    else
        *slash = '\0';
    return d;
}

int fs_ensure_in_root(int rootfd, const char *path, bool as_file, ab_error *err)
{
    _cleanup_free_ char *clean = fs_clean_abs_path(path);
    if (!clean)
        return ab_fail(err, errno, "cannot use %s as a path in the container", path);

    int fd = fs_open_in_root(rootfd, clean, O_PATH);
    if (fd >= 0)
        return fd;
    if (fd != -ENOENT)
        return ab_fail(err, -fd, "cannot open %s in the container root", clean);

    /* Walk down: the first missing component and everything after it is
     * created with *at() calls on its parent, which never follow a symlink
     * in the final component (an existing symlink gives EEXIST and is then
     * resolved inside the root by the next open). */
    for (char *p = clean + 1;; p++) {
        bool last = (*p == '\0');
        if (*p != '/' && !last)
            continue;
        char saved = *p;
        *p = '\0';
        _cleanup_close_ int cur = fs_open_in_root(rootfd, clean, O_PATH);
        if (cur == -ENOENT) {
            _cleanup_free_ char *parent = dir_of(clean);
            const char *base = strrchr(clean, '/') + 1;
            _cleanup_close_ int pfd = parent ? fs_open_in_root(rootfd, parent, O_PATH | O_DIRECTORY) : -ENOMEM;
            if (pfd < 0)
                return ab_fail(err, -pfd, "cannot open %s in the container root", parent ? parent : clean);
            int r;
            if (last && as_file) {
                r = openat(pfd, base, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644);
                if (r >= 0)
                    close(r);
            } else {
                r = mkdirat(pfd, base, 0755);
            }
            if (r < 0 && errno != EEXIST)
                return ab_fail(err, errno, "cannot create %s in the container root", clean);
        } else if (cur < 0) {
            return ab_fail(err, -cur, "cannot open %s in the container root", clean);
        }
        *p = saved;
        if (last)
            break;
    }
    fd = fs_open_in_root(rootfd, clean, O_PATH);
    if (fd < 0)
        return ab_fail(err, -fd, "cannot open %s in the container root", clean);
    return fd;
}

char *fs_read_file_at(int dirfd, const char *path, bool in_root, size_t max)
{
    _cleanup_close_ int fd = in_root ? fs_open_in_root(dirfd, path, O_RDONLY | O_NOCTTY)
                                     : openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        if (in_root)
            errno = -fd;
        return NULL;
    }
    return fs_read_fd(fd, max);
}

/* Read FD to its end into a string of at most MAX bytes, starting with a
 * buffer of CAP bytes (EFBIG beyond MAX). */
static char *read_all(int fd, size_t cap, size_t max)
{
    size_t len = 0;
    _cleanup_free_ char *buf = malloc(cap);
    if (!buf)
        return NULL;
    for (;;) {
        if (len + 1 >= cap) {
            if (cap >= max) {
                errno = EFBIG;
                return NULL;
            }
            cap = cap * 2 > max ? max : cap * 2;
            char *nb = realloc(buf, cap);
            if (!nb)
                return NULL;
            buf = nb;
        }
        ssize_t n = read(fd, buf + len, cap - len - 1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return NULL;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    buf[len] = '\0';
    return take_ptr(buf);
}

char *fs_read_fd(int fd, size_t max)
{
    return read_all(fd, 4096 < max ? 4096 : max, max);
}

char *fs_read_config_in_root(int rootfd, const char *path, size_t max, int *fdp)
{
    if (fdp)
        *fdp = -1;
    _cleanup_close_ int fd = fs_open_in_root(rootfd, path, O_RDONLY | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) {
        errno = -fd;
        return NULL;
    }
    struct stat st;
    struct statfs sf;
    if (fstat(fd, &st) < 0 || fstatfs(fd, &sf) < 0)
        return NULL;
    if (!S_ISREG(st.st_mode) || sf.f_type == PROC_SUPER_MAGIC || sf.f_type == SYSFS_MAGIC) {
        errno = EINVAL;
        return NULL;
    }
    if (st.st_size < 0 || (size_t)st.st_size >= max) {
        errno = EFBIG;
        return NULL;
    }
    /* The size is rechecked as it is read: the file may grow meanwhile. */
    char *text = read_all(fd, (size_t)st.st_size + 1, max);
    if (text && fdp)
        *fdp = take_fd(&fd);
    return text;
}

int fs_write_file(const char *path, const char *data)
{
    _cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    size_t len = strlen(data);
    ssize_t n = write(fd, data, len);
    if (n < 0)
        return -errno;
    return (size_t)n == len ? 0 : -EIO;
}

char *fs_clean_abs_path(const char *path)
{
    if (!path || path[0] != '/') {
        errno = EINVAL;
        return NULL;
    }
    char *out = malloc(strlen(path) + 2);
    if (!out)
        return NULL;
    size_t o = 0;
    const char *p = path;
    while (*p) {
        while (*p == '/')
            p++;
        if (!*p)
            break;
        const char *end = strchrnul(p, '/');
        size_t len = (size_t)(end - p);
        if (len == 1 && p[0] == '.') {
            p = end;
            continue;
        }
        if (len == 2 && p[0] == '.' && p[1] == '.') {
            free(out);
            errno = EINVAL;
            return NULL;
        }
        out[o++] = '/';
        memcpy(out + o, p, len);
        o += len;
        p = end;
    }
    if (o == 0)
        out[o++] = '/';
    out[o] = '\0';
    return out;
}

int fs_make_path(const char *path, ab_error *err)
{
    _cleanup_free_ char *p = strdup(path);
    if (!p)
        return ab_fail(err, ENOMEM, "out of memory");
    for (char *s = p + 1;; s++) {
        if (*s == '/' || *s == '\0') {
            char saved = *s;
            *s = '\0';
            if (mkdir(p, 0700) < 0 && errno != EEXIST)
                return ab_fail(err, errno, "cannot create %s", p);
            *s = saved;
            if (!saved)
                break;
        }
    }
    return 0;
}

int fs_mkdirs(const char *path, bool private_dir, ab_error *err)
{
    int r = fs_make_path(path, err);
    if (r < 0)
        return r;
    struct stat st;
    if (lstat(path, &st) < 0 || !S_ISDIR(st.st_mode) || st.st_uid != getuid())
        return ab_fail(err, EPERM, "%s is not a directory of yours", path);
    if (private_dir && (st.st_mode & 077) && chmod(path, 0700) < 0)
        return ab_fail(err, errno, "cannot make %s private", path);
    return 0;
}

/* --- fs_remove_tree_at ---------------------------------------------------- */

#define RM_MAX_OPEN 48 /* directory fds held at once, however deep the tree */
#define RM_MAX_PASSES 64 /* scans of one directory before giving up on it */

struct rm_id {
    dev_t dev;
    ino_t ino;
    uint64_t mnt;  /* the mount id, or 0 where the kernel has none */
    mode_t mode;
    bool mount_root;
};

struct rm_level {
    int fd;          /* -1 while closed to keep the number of fds bounded */
    struct rm_id id;
    char *name;      /* its name in the level above */
    strv pending;    /* directories to empty, found by the last scan */
    size_t next;
    unsigned passes;
    bool done;       /* the last scan found nothing left to descend into */
};

static int rm_stat(int dirfd, const char *name, int flags, struct rm_id *id)
{
    struct statx sx;
    if (statx(dirfd, name, flags | AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT, STATX_TYPE | STATX_MODE | STATX_INO
#ifdef STATX_MNT_ID
                                                                          | STATX_MNT_ID
#endif
              , &sx) < 0)
        return -errno;
    id->dev = makedev(sx.stx_dev_major, sx.stx_dev_minor);
    id->ino = sx.stx_ino;
    id->mode = sx.stx_mode;
    id->mnt = 0;
#ifdef STATX_MNT_ID
    if (sx.stx_mask & STATX_MNT_ID)
        id->mnt = sx.stx_mnt_id;
#endif
    id->mount_root = false;
#ifdef STATX_ATTR_MOUNT_ROOT
    id->mount_root = (sx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) && (sx.stx_attributes & STATX_ATTR_MOUNT_ROOT);
#endif
    return 0;
}

/* Whether CHILD is on another mount than PARENT (a mount point). */
static bool rm_crosses(const struct rm_id *parent, const struct rm_id *child)
{
    return child->dev != parent->dev || (child->mnt && parent->mnt && child->mnt != parent->mnt) ||
           child->mount_root;
}

static bool rm_same(const struct rm_id *a, const struct rm_id *b)
{
    return a->dev == b->dev && a->ino == b->ino;
}

/* Open directory NAME below DIRFD, never through a link, and check it is
 * the directory ID describes.  One we may not read (mode 000, and no
 * CAP_DAC_OVERRIDE over it) is made 0700 through an O_PATH fd first. */
static int rm_open_dir(int dirfd, const char *name, const struct rm_id *id)
{
    int flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK;
    int fd = openat(dirfd, name, flags);
    if (fd < 0 && errno == EACCES) {
        int p = openat(dirfd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (p < 0)
            return -errno;
        struct stat st;
        char self[64];
        snprintf(self, sizeof(self), "/proc/self/fd/%d", p);
        int ok = fstat(p, &st) == 0 && st.st_dev == id->dev && st.st_ino == id->ino && chmod(self, 0700) == 0;
        close(p);
        if (!ok)
            return -EACCES;
        fd = openat(dirfd, name, flags);
    }
    if (fd < 0)
        return -errno;
    struct stat st;
    if (fstat(fd, &st) < 0 || st.st_dev != id->dev || st.st_ino != id->ino) {
        close(fd);
        return -ESTALE; /* replaced between the stat and the open */
    }
    /* to remove its entries we need write and search on it */
    if ((st.st_mode & 0700) != 0700)
        (void)fchmod(fd, (st.st_mode & 07777) | 0700);
    return fd;
}

/* Read LEVEL's directory from its start: remove what is not a directory,
 * and empty directories; note the others in pending. */
static int rm_scan(struct rm_level *l, char *failed, size_t size)
{
    if (lseek(l->fd, 0, SEEK_SET) < 0)
        return -errno;
    strv_clear(&l->pending);
    l->next = 0;
    char buf[16384] __attribute__((aligned(8)));
    for (;;) {
        long n = syscall(SYS_getdents64, l->fd, buf, sizeof(buf));
        if (n < 0)
            return -errno;
        if (n == 0)
            break;
        for (long off = 0; off < n;) {
            struct rm_dirent {
                uint64_t ino;
                int64_t off;
                unsigned short reclen;
                unsigned char type;
                char name[];
            } *e = (struct rm_dirent *)(buf + off);
            off += e->reclen;
            const char *nm = e->name;
            if (strcmp(nm, ".") == 0 || strcmp(nm, "..") == 0)
                continue;
            if (e->type != DT_DIR && e->type != DT_UNKNOWN) {
                if (unlinkat(l->fd, nm, 0) == 0 || errno == ENOENT)
                    continue;
                if (errno != EISDIR) {
                    snprintf(failed, size, "%s", nm);
                    return -errno;
                }
            }
            /* a directory (or not known): empty ones go at once */
            if (unlinkat(l->fd, nm, AT_REMOVEDIR) == 0 || errno == ENOENT)
                continue;
            int e2 = errno;
            if (e2 == ENOTDIR) {
                if (unlinkat(l->fd, nm, 0) == 0 || errno == ENOENT)
                    continue;
                e2 = errno;
            } else if (e2 == ENOTEMPTY || e2 == EEXIST) {
                if (strv_push(&l->pending, nm) < 0)
                    return -ENOMEM;
                continue;
            }
            snprintf(failed, size, "%s", nm);
            return -e2;
        }
    }
    l->done = l->pending.n == 0;
    return 0;
}

static void rm_level_free(struct rm_level *l)
{
    if (l->fd >= 0)
        close(l->fd);
    free(l->name);
    strv_clear(&l->pending);
    memset(l, 0, sizeof(*l));
    l->fd = -1;
}

int fs_remove_tree_at(int dirfd, const char *name, ab_error *err)
{
    struct rm_id top, here;
    int r = rm_stat(dirfd, name, 0, &top);
    if (r == -ENOENT)
        return 0;
    if (r < 0)
        return ab_fail(err, -r, "cannot remove %s", name);
    if (!S_ISDIR(top.mode)) {
        if (unlinkat(dirfd, name, 0) < 0 && errno != ENOENT)
            return ab_fail(err, errno, "cannot remove %s", name);
        return 0;
    }
    if ((r = rm_stat(dirfd, "", AT_EMPTY_PATH, &here)) < 0)
        return ab_fail(err, -r, "cannot remove %s", name);
    if (rm_crosses(&here, &top))
        return ab_fail(err, 0, "cannot remove %s: it is a mount point (unmount it first)", name);

    size_t cap = 64, n = 0;
    struct rm_level *lv = calloc(cap, sizeof(*lv));
    if (!lv)
        return ab_fail(err, ENOMEM, "out of memory");
    char failed[256] = "";
    int fd = rm_open_dir(dirfd, name, &top);
    if (fd < 0) {
        r = fd;
        snprintf(failed, sizeof(failed), "%s", name);
        goto out;
    }
    lv[n++] = (struct rm_level){ .fd = fd, .id = top, .name = strdup(name) };
    if (!lv[0].name) {
        r = -ENOMEM;
        goto out;
    }
    while (n > 0) {
        struct rm_level *l = &lv[n - 1];
        const char *next = NULL;
        while (!next && !l->done) {
            if (l->next < l->pending.n) {
                next = l->pending.v[l->next++];
                break;
            }
            if (++l->passes > RM_MAX_PASSES) {
                r = -EAGAIN;
                snprintf(failed, sizeof(failed), "%s", l->name);
                goto out;
            }
            if ((r = rm_scan(l, failed, sizeof(failed))) < 0) {
                if (!failed[0])
                    snprintf(failed, sizeof(failed), "%s", l->name);
                goto out;
            }
        }
        if (next) {
            struct rm_id id;
            if ((r = rm_stat(l->fd, next, 0, &id)) < 0) {
                if (r == -ENOENT)
                    continue;
                snprintf(failed, sizeof(failed), "%s", next);
                goto out;
            }
            if (!S_ISDIR(id.mode)) {
                if (unlinkat(l->fd, next, 0) < 0 && errno != ENOENT) {
                    r = -errno;
                    snprintf(failed, sizeof(failed), "%s", next);
                    goto out;
                }
                continue;
            }
            if (rm_crosses(&l->id, &id)) {
                r = -EBUSY;
                snprintf(failed, sizeof(failed), "%s", next);
                goto out;
            }
            int cfd = rm_open_dir(l->fd, next, &id);
            if (cfd < 0) {
                r = cfd;
                snprintf(failed, sizeof(failed), "%s", next);
                goto out;
            }
            if (n == cap) {
                struct rm_level *bigger = realloc(lv, 2 * cap * sizeof(*lv));
                if (!bigger) {
                    close(cfd);
                    r = -ENOMEM;
                    goto out;
                }
                memset(bigger + cap, 0, cap * sizeof(*lv));
                lv = bigger;
                cap *= 2;
                l = &lv[n - 1];
            }
            lv[n] = (struct rm_level){ .fd = cfd, .id = id, .name = strdup(next) };
            n++;
            if (!lv[n - 1].name) {
                r = -ENOMEM;
                goto out;
            }
            /* bounded fds: the level RM_MAX_OPEN above is closed, and
             * re-opened through ".." when we come back to it */
            if (n > RM_MAX_OPEN && lv[n - 1 - RM_MAX_OPEN].fd >= 0) {
                close(lv[n - 1 - RM_MAX_OPEN].fd);
                lv[n - 1 - RM_MAX_OPEN].fd = -1;
            }
            continue;
        }
        /* L is empty: remove it from the level above */
        int pfd = dirfd;
        if (n >= 2) {
            struct rm_level *p = &lv[n - 2];
            if (p->fd < 0) {
                struct rm_id pid;
                p->fd = openat(l->fd, "..", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
                if (p->fd < 0 || rm_stat(p->fd, "", AT_EMPTY_PATH, &pid) < 0 || !rm_same(&pid, &p->id)) {
                    r = p->fd < 0 ? -errno : -ESTALE; /* its parent was moved away meanwhile */
                    snprintf(failed, sizeof(failed), "%s", l->name);
                    goto out;
                }
            }
            pfd = p->fd;
        }
        close(l->fd);
        l->fd = -1;
        if (unlinkat(pfd, l->name, AT_REMOVEDIR) < 0 && errno != ENOENT) {
            r = -errno;
            snprintf(failed, sizeof(failed), "%s", l->name);
            goto out;
        }
        rm_level_free(l);
        n--;
        if (n > 0)
            lv[n - 1].done = false; /* scanned again before it goes */
    }
    r = 0;
out:
    if (r == -EBUSY)
        ab_fail(err, 0, "'%s' is a mount point (%zu level%s below %s): not entered, not removed; unmount it first",
                failed, n, n == 1 ? "" : "s", name);
    else if (r == -EAGAIN)
        ab_fail(err, 0, "'%s' (%zu level%s below %s) keeps changing while it is removed", failed, n,
                n == 1 ? "" : "s", name);
    else if (r < 0)
        ab_fail(err, -r, "cannot remove '%s' (%zu level%s below %s)", failed, n, n == 1 ? "" : "s", name);
    for (size_t i = 0; i < n; i++)
        rm_level_free(&lv[i]);
    free(lv);
    return r;
}

void fs_sweep_dead_pid_dirs(int dirfd, const char *prefix, const char *file)
{
    int dfd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
    if (!d) {
        if (dfd >= 0)
            close(dfd);
        return;
    }
    size_t plen = strlen(prefix);
    for (struct dirent *e; (e = readdir(d));) {
        if (strncmp(e->d_name, prefix, plen) != 0)
            continue;
        char *end;
        errno = 0;
        long pid = strtol(e->d_name + plen, &end, 10);
        if (errno || end == e->d_name + plen || pid <= 0 || pid > INT32_MAX)
            continue;
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
            continue;
        int sub = file ? openat(dirfd, e->d_name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) : -1;
        if (sub >= 0) {
            unlinkat(sub, file, 0);
            close(sub);
        }
        unlinkat(dirfd, e->d_name, AT_REMOVEDIR);
    }
    closedir(d);
}

bool fs_path_within(const char *path, const char *dir)
{
    size_t n = strlen(dir);
    return strncmp(path, dir, n) == 0 && (path[n] == '/' || path[n] == '\0' || (n == 1 && dir[0] == '/'));
}
