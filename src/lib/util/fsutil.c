#include "util/fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "util/cleanup.h"

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

char *fs_read_fd(int fd, size_t max)
{
    size_t cap = 4096, len = 0;
    _cleanup_free_ char *buf = malloc(cap);
    if (!buf)
        return NULL;
    for (;;) {
        if (len + 1 >= cap) {
            if (cap >= max) {
                errno = EFBIG;
                return NULL;
            }
            cap *= 2;
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
    size_t cap = (size_t)st.st_size + 1, len = 0;
    _cleanup_free_ char *buf = malloc(cap);
    if (!buf)
        return NULL;
    /* The size is rechecked as it is read: the file may grow meanwhile. */
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
    if (fdp)
        *fdp = take_fd(&fd);
    return take_ptr(buf);
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

int fs_mkdirs(const char *path, bool private_dir, ab_error *err)
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
    struct stat st;
    if (lstat(path, &st) < 0 || !S_ISDIR(st.st_mode) || st.st_uid != getuid())
        return ab_fail(err, EPERM, "%s is not a directory of yours", path);
    if (private_dir && (st.st_mode & 077) && chmod(path, 0700) < 0)
        return ab_fail(err, errno, "cannot make %s private", path);
    return 0;
}
