/* The backend-neutral part: access letters, rule strings, where a new
 * group goes, and the checks on a path before anything is done to it. */
#include "cgroup/cgroup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/fsutil.h"

int cgroup_access_parse(const char *letters)
{
    unsigned a = 0;
    if (!letters || !*letters)
        return -1;
    for (const char *p = letters; *p; p++) {
        unsigned bit = *p == 'r' ? DEV_ACCESS_READ : *p == 'w' ? DEV_ACCESS_WRITE : *p == 'm' ? DEV_ACCESS_MKNOD : 0;
        if (!bit || (a & bit))
            return -1;
        a |= bit;
    }
    return (int)a;
}

const char *cgroup_access_name(unsigned access, char buf[static 4])
{
    size_t n = 0;
    if (access & DEV_ACCESS_READ)
        buf[n++] = 'r';
    if (access & DEV_ACCESS_WRITE)
        buf[n++] = 'w';
    if (access & DEV_ACCESS_MKNOD)
        buf[n++] = 'm';
    buf[n] = '\0';
    return buf;
}

const char *cgroup_rule_string(const struct cgroup_device_rule *r, char *buf, size_t size)
{
    char maj[24], min[24], acc[4];
    if (r->major == CGROUP_ANY)
        snprintf(maj, sizeof(maj), "*");
    else
        snprintf(maj, sizeof(maj), "%ld", r->major);
    if (r->minor == CGROUP_ANY)
        snprintf(min, sizeof(min), "*");
    else
        snprintf(min, sizeof(min), "%ld", r->minor);
    snprintf(buf, size, "%c %s:%s %s", r->type, maj, min, cgroup_access_name(r->access, acc));
    return buf;
}

#define V1_DEVICES "/sys/fs/cgroup/devices"

/* The caller's group in the hierarchy whose /proc/self/cgroup line has
 * CONTROLLER among its controllers ("" for the v2 line "0::"). */
char *cgroup_own_group(const char *controller)
{
    FILE *f = fopen("/proc/self/cgroup", "re");
    if (!f)
        return NULL;
    char line[4096];
    char *found = NULL;
    while (!found && fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\n")] = '\0';
        char *c1 = strchr(line, ':');
        char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c2)
            continue;
        *c2 = '\0';
        if (!*controller) {
            if (strcmp(line, "0:") == 0)
                found = strdup(c2 + 1);
            continue;
        }
        char *save = NULL;
        for (char *t = strtok_r(c1 + 1, ",", &save); t; t = strtok_r(NULL, ",", &save))
            if (strcmp(t, controller) == 0)
                found = strdup(c2 + 1);
    }
    fclose(f);
    return found;
}

static bool leaf_ok(const char *leaf)
{
    if (!*leaf || strlen(leaf) > 100)
        return false;
    for (const char *p = leaf; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-' ||
              *p == '_' || *p == '.'))
            return false;
    return true;
}

char *cgroup_devices_path(const struct cgroup_backend *b, const char *leaf, ab_error *err)
{
    if (!leaf_ok(leaf)) {
        ab_fail(err, EINVAL, "'%s' is not a name for a cgroup", leaf);
        return NULL;
    }
    bool v1 = b == &cgroup_v1_backend;
    const char *mount = v1 ? V1_DEVICES : cgroup_v2_mount();
    _cleanup_free_ char *own = mount ? cgroup_own_group(v1 ? "devices" : "") : NULL;
    if (!own) {
        ab_fail(err, ENOENT, "cannot find this process's %s cgroup in /proc/self/cgroup", v1 ? "devices" : "v2");
        return NULL;
    }
    /* "/" or "/a/b": the new group goes right below it */
    char *path = NULL;
    if (asprintf(&path, "%s%s/appbox-%s", mount, strcmp(own, "/") == 0 ? "" : own, leaf) < 0) {
        ab_fail(err, ENOMEM, "cannot name the container's cgroup");
        return NULL;
    }
    return path;
}

const struct cgroup_backend *cgroup_backend_for_path(const char *path)
{
    return strncmp(path, V1_DEVICES "/", strlen(V1_DEVICES) + 1) == 0 ? &cgroup_v1_backend : &cgroup_v2_backend;
}

bool cgroup_path_is_ours(const char *path)
{
    if (!path || strncmp(path, "/sys/fs/cgroup/", 15) != 0 || strstr(path, "/../") || strstr(path, "/./") ||
        strstr(path, "//"))
        return false;
    const char *base = strrchr(path, '/') + 1;
    return strncmp(base, "appbox-", 7) == 0 && leaf_ok(base);
}

bool cgroup_path_is_valid(const char *path)
{
    static const char root[] = "/sys/fs/cgroup/";
    if (!path || strncmp(path, root, sizeof(root) - 1) != 0 || strlen(path) >= PATH_MAX - 64)
        return false;
    const char *rest = path + sizeof(root) - 1;
    /* every component non-empty, not "." or "..", no control characters
     * (a newline would forge lines of /proc/PID/cgroup) */
    size_t depth = 0;
    for (const char *p = rest; *p;) {
        size_t l = strcspn(p, "/");
        if (l == 0 || (l == 1 && p[0] == '.') || (l == 2 && p[0] == '.' && p[1] == '.'))
            return false;
        for (size_t i = 0; i < l; i++)
            if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f)
                return false;
        depth++;
        p += l;
        if (*p == '/' && !*++p)
            return false; /* a trailing slash */
    }
    /* below a hierarchy's mount, never the mount itself: pure v2 has it
     * at /sys/fs/cgroup, v1 and hybrid v2 one level down */
    const char *v2 = cgroup_v2_mount();
    bool pure = v2 && strcmp(v2, "/sys/fs/cgroup") == 0;
    if (pure)
        return depth >= 1;
    if (depth < 2)
        return false;
    char mount[PATH_MAX];
    snprintf(mount, sizeof(mount), "%s%.*s", root, (int)strcspn(rest, "/"), rest);
    struct statfs fs;
    return statfs(mount, &fs) == 0 && (fs.f_type == 0x27e0eb /* cgroup */ || fs.f_type == 0x63677270 /* cgroup2 */);
}

const struct cgroup_backend *cgroup_devices_backend(const char **why)
{
    const char *w1 = NULL, *w2 = NULL;
    if (cgroup_v1_backend.devices_usable(&w1))
        return &cgroup_v1_backend;
    if (cgroup_v2_backend.devices_usable(&w2))
        return &cgroup_v2_backend;
    if (why)
        *why = w2 ? w2 : w1;
    return NULL;
}

int cgroup_create(const struct cgroup_backend *b, const char *path, ab_error *err)
{
    if (!cgroup_path_is_ours(path))
        return ab_fail(err, EINVAL, "refusing to create the cgroup %s: not one of appbox's", path);
    return b->create(path, err);
}

int cgroup_set_devices(const struct cgroup_backend *b, const char *path, const struct cgroup_device_rule *rules,
                       size_t n, ab_error *err)
{
    if (!cgroup_path_is_ours(path))
        return ab_fail(err, EINVAL, "refusing to change the cgroup %s: not one of appbox's", path);
    return b->set_devices(path, rules, n, err);
}

int cgroup_attach(const struct cgroup_backend *b, const char *path, pid_t pid, ab_error *err)
{
    if (!cgroup_path_is_ours(path))
        return ab_fail(err, EINVAL, "refusing to join the cgroup %s: not one of appbox's", path);
    return b->attach(path, pid, err);
}

void cgroup_sweep(const char *path)
{
    if (!cgroup_path_is_ours(path))
        return;
    _cleanup_free_ char *parent = strndup(path, (size_t)(strrchr(path, '/') - path));
    _cleanup_close_ int fd = parent ? open(parent, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) : -1;
    if (fd >= 0)
        fs_sweep_dead_pid_dirs(fd, "appbox-", NULL);
}

/* The groups below DIR (a delegated subtree: a booted systemd's), deepest
 * first; a cgroup directory holds nothing else that rmdir would refuse. */
static void remove_subgroups(int fd, int depth)
{
    if (depth > 32)
        return;
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return;
    }
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_type != DT_DIR || strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        int sub = openat(dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (sub >= 0)
            remove_subgroups(sub, depth + 1);
        unlinkat(dirfd(d), e->d_name, AT_REMOVEDIR);
    }
    closedir(d);
}

/* Remove the group PATH (checked by the caller), retrying while it is
 * busy. */
static void destroy_checked(const struct cgroup_backend *b, const char *path)
{
    /* The container's last processes leave the group as they exit, which
     * may be a moment after its PID 1 was reaped: retry for up to 2 s.
     * A group with groups below it (made by the container: a booted
     * systemd's init.scope, system.slice) is busy too: those go first, at
     * every try, as soon as they are empty. */
    for (int i = 0; i < 200; i++) {
        int r = b->destroy(path);
        if (r == -ENOTEMPTY || r == -EBUSY) {
            int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (fd >= 0)
                remove_subgroups(fd, 0); /* takes FD */
            r = b->destroy(path);
        }
        if (r != -EBUSY && r != -ENOTEMPTY)
            return;
        struct timespec ts = { 0, 10 * 1000 * 1000 };
        nanosleep(&ts, NULL);
    }
}

void cgroup_destroy(const struct cgroup_backend *b, const char *path)
{
    if (cgroup_path_is_ours(path))
        destroy_checked(b, path);
}

void cgroup_destroy_named(const char *path)
{
    if (cgroup_path_is_valid(path))
        destroy_checked(cgroup_path_is_v2(path) ? &cgroup_v2_backend : &cgroup_v1_backend, path);
}

int cgroup_read_file(const char *path, char *buf, size_t size)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return -errno;
    size_t len = 0;
    while (len + 1 < size) {
        ssize_t n = read(fd, buf + len, size - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            break;
        len += (size_t)n;
    }
    buf[len] = '\0';
    return (int)len;
}

int cgroup_write_file(const char *dir, const char *file, const char *text, ab_error *err)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, file);
    _cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return ab_fail(err, errno, "cannot open %s", path);
    size_t len = strlen(text);
    if (write(fd, text, len) != (ssize_t)len)
        return ab_fail(err, errno, "cannot write '%s' to %s", text, path);
    return 0;
}
