/* The cgroup v1 backend: one directory per controller; device access is
 * devices.deny and devices.allow, writable only by the host's root (the
 * files are root's and the kernel also wants CAP_SYS_ADMIN in the initial
 * user namespace), so a rootless caller has no devices cgroup on v1. */
#include "cgroup/cgroup.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "util/cleanup.h"

#ifndef CGROUP_SUPER_MAGIC
#define CGROUP_SUPER_MAGIC 0x27e0eb
#endif

static bool v1_devices_usable(const char **why)
{
    struct statfs fs;
    if (statfs("/sys/fs/cgroup/devices", &fs) < 0 || fs.f_type != CGROUP_SUPER_MAGIC) {
        *why = "this machine has no cgroup v1 devices hierarchy";
        return false;
    }
    if (geteuid() != 0) {
        *why = "the cgroup v1 devices controller is the host root's only";
        return false;
    }
    /* appbox run by root inside another container: a read-only cgroup
     * mount is no place for groups of ours */
    struct statvfs vfs;
    if (statvfs("/sys/fs/cgroup/devices", &vfs) == 0 && (vfs.f_flag & ST_RDONLY)) {
        *why = "the cgroup v1 devices hierarchy is mounted read-only here";
        return false;
    }
    return true;
}

static int v1_create(const char *path, ab_error *err)
{
    if (mkdir(path, 0755) < 0)
        return ab_fail(err, errno, "cannot create the cgroup %s", path);
    return 0;
}

static int v1_set_devices(const char *path, const struct cgroup_device_rule *rules, size_t n, ab_error *err)
{
    int r = cgroup_write_file(path, "devices.deny", "a", err);
    for (size_t i = 0; r == 0 && i < n; i++) {
        char rule[64];
        r = cgroup_write_file(path, "devices.allow", cgroup_rule_string(&rules[i], rule, sizeof(rule)), err);
        if (r < 0 && err->errnum == EPERM)
            return ab_error_prefix(err, "the host does not let appbox grant '%s' (appbox's own devices cgroup "
                                        "does not allow it)", rule);
    }
    return r;
}

static int v1_attach(const char *path, pid_t pid, ab_error *err)
{
    char text[32];
    snprintf(text, sizeof(text), "%d", (int)pid);
    return cgroup_write_file(path, "cgroup.procs", text, err);
}

static int v1_destroy(const char *path)
{
    if (rmdir(path) < 0 && errno != ENOENT)
        return -errno;
    return 0;
}

const struct cgroup_backend cgroup_v1_backend = {
    .name = "v1",
    .devices_usable = v1_devices_usable,
    .create = v1_create,
    .set_devices = v1_set_devices,
    .attach = v1_attach,
    .destroy = v1_destroy,
};
