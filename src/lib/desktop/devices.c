#include "desktop/devices.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "cgroup/cgroup.h"
#include "cgroup/oci.h"
#include "desktop/gpu.h"
#include "runtime/idmap.h"
#include "spec/defaults.h"
#include "util/cleanup.h"

static bool has_device_at(const struct spec_container *c, const char *dst)
{
    for (size_t i = 0; i < c->n_mounts; i++)
        if (strcmp(c->mounts[i].destination, dst) == 0)
            return true;
    for (size_t i = 0; i < c->devices.n; i++)
        if (strcmp(c->devices.v[i], dst) == 0)
            return true;
    return false;
}

/* Whether the container's process (its uid and gid, as the host sees
 * them through the maps) may open the node ST (at PATH) with ACCESS: the
 * kernel checks the node's owner, group and mode against those ids, and
 * the container's root has no rights over host-owned nodes.  A rootless
 * caller whose own id is the container's, in a single-id map: access(2),
 * which also counts the caller's groups (kept in such a container). */
static bool container_can_open(const struct spec *s, const char *path, const struct stat *st, unsigned acc)
{
    const struct spec_container *c = &s->container;
    const struct spec_process *p = &s->process;
    uid_t hu = idmap_outside(&c->uid_map, p->user.uid);
    gid_t hg = idmap_outside(&c->gid_map, p->user.gid);
    unsigned need = ((acc & DEV_ACCESS_READ) ? 4 : 0) | ((acc & DEV_ACCESS_WRITE) ? 2 : 0);
    if (hu == 0 || need == 0)
        return true;
    /* a single-id map keeps the caller's supplementary groups (setgroups
     * is denied there); elsewhere the command drops them */
    bool groups_kept = !c->gid_map.via_helper && c->gid_map.n == 1 && c->gid_map.r[0].count == 1;
    if (p->user.caller_uid != 0 && hu == p->user.caller_uid && groups_kept)
        return access(path, ((need & 4) ? R_OK : 0) | ((need & 2) ? W_OK : 0)) == 0;
    unsigned bits = st->st_uid == hu ? (st->st_mode >> 6) : st->st_gid == hg ? (st->st_mode >> 3) : st->st_mode;
    return (bits & need) == need;
}

static int add_node(struct spec *s, const char *path, unsigned access, const char *origin, ab_error *err)
{
    if (has_device_at(&s->container, path))
        return 0;
    struct stat st;
    if (stat(path, &st) < 0 || !S_ISCHR(st.st_mode))
        return 0;
    if (!container_can_open(s, path, &st, access))
        return 0; /* counted by the caller: nothing bound is an error */
    if (spec_add_device_access(s, path, path, access, origin) < 0)
        return ab_fail(err, ENOMEM, "%s", origin);
    struct spec_mount *m = &s->container.mounts[s->container.n_mounts - 1];
    if (!(m->given = strdup(path)))
        return ab_fail(err, ENOMEM, "%s", origin);
    m->dev = st.st_dev;
    m->ino = st.st_ino;
    return 1;
}

static int add_ro_file(struct spec *s, const char *src, const char *dst, ab_error *err)
{
    struct stat st;
    if (stat(src, &st) < 0)
        return 0;
    if (spec_add_bind(s, src, dst, true, "--gpu") < 0)
        return ab_fail(err, ENOMEM, "--gpu");
    struct spec_mount *m = &s->container.mounts[s->container.n_mounts - 1];
    /* one file, not a tree: no recursive bind */
    m->options &= ~MOUNT_RECURSIVE;
    if (!(m->given = strdup(src)))
        return ab_fail(err, ENOMEM, "--gpu");
    m->dev = st.st_dev;
    m->ino = st.st_ino;
    return 0;
}

/* Where a foreign root's container finds the host's NVIDIA driver. */
#define NVIDIA_DIR "/run/appbox-nvidia"

/* The loader, the shell, GLVND's EGL, Vulkan and OpenCL loaders: each
 * told where NVIDIA_DIR's files are, unless the user set the variable. */
static int nvidia_env(struct spec *s, ab_error *err)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s:" NVIDIA_DIR "/bin", spec_default_path(s->process.user.uid == 0));
    const char *const vars[][2] = {
        { "LD_LIBRARY_PATH", NVIDIA_DIR "/lib" },
        { "PATH", path },
        { "__EGL_VENDOR_LIBRARY_DIRS", NVIDIA_DIR "/egl_vendor.d:/usr/share/glvnd/egl_vendor.d" },
        { "__EGL_EXTERNAL_PLATFORM_CONFIG_DIRS", NVIDIA_DIR "/egl_external_platform.d:/usr/share/egl/egl_external_platform.d" },
        { "VK_ADD_DRIVER_FILES", NVIDIA_DIR "/vulkan/icd.d/nvidia_icd.json" },
        { "OCL_ICD_VENDORS", NVIDIA_DIR "/OpenCL/vendors" },
    };
    for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
        if (!spec_get_env(s, vars[i][0]) && spec_set_env(s, vars[i][0], vars[i][1], err) < 0)
            return ab_error_prefix(err, "--gpu");
    }
    return 0;
}

static int expand(struct spec *s, ab_error *err)
{
    struct spec_container *c = &s->container;
    if (c->gpu == SPEC_GPU_NONE && !c->webcam)
        return 0;
    struct gpu_set g = { 0 };
    int r = gpu_collect("/", c->gpu != SPEC_GPU_NONE, c->gpu == SPEC_GPU_ALL, c->webcam, &g, err);
    size_t gpu_nodes = 0, video_nodes = 0, refused = 0;
    /* /dev/v4l: udev's links to the video nodes (by-id, by-path), which
     * programs use to find a camera again; bound read-only and nodev (the
     * nodes themselves are bound one by one below) */
    struct stat vst;
    if (r >= 0 && c->webcam && !has_device_at(c, "/dev/v4l") && lstat("/dev/v4l", &vst) == 0 &&
        S_ISDIR(vst.st_mode)) {
        if (spec_add_bind(s, "/dev/v4l", "/dev/v4l", true, "--webcam") < 0)
            r = ab_fail(err, ENOMEM, "--webcam");
        else {
            struct spec_mount *m = &c->mounts[c->n_mounts - 1];
            if (!(m->given = strdup("/dev/v4l")))
                r = ab_fail(err, ENOMEM, "--webcam");
            m->dev = vst.st_dev;
            m->ino = vst.st_ino;
        }
    }
    for (size_t i = 0; r >= 0 && i < g.nodes.n; i++) {
        bool video = strncmp(g.nodes.v[i], "/dev/video", 10) == 0 || strncmp(g.nodes.v[i], "/dev/v4l/", 9) == 0;
        r = add_node(s, g.nodes.v[i], DEV_ACCESS_READ | DEV_ACCESS_WRITE, video ? "--webcam" : "--gpu", err);
        if (r > 0 && video)
            video_nodes++;
        else if (r > 0)
            gpu_nodes++;
        else if (r == 0)
            refused++;
    }
    /* The driver's files, for a foreign root only (the host view already
     * has the host's own /usr): bound read-only below NVIDIA_DIR, in the
     * container's fresh /run, so that nothing is made in the root (which
     * may be read-only, and is not ours to change), and found through the
     * environment every session gets. */
    if (r >= 0 && c->root && gpu_nodes && g.lib_src.n) {
        for (size_t i = 0; r >= 0 && i < g.lib_src.n; i++) {
            char dst[4096];
            snprintf(dst, sizeof(dst), NVIDIA_DIR "/lib/%s", g.lib_name.v[i]);
            r = add_ro_file(s, g.lib_src.v[i], dst, err);
        }
        for (size_t i = 0; r >= 0 && i < g.file_src.n; i++) {
            static const char *const places[][2] = {
                { "/usr/bin/", "bin" },
                { "/egl_vendor.d/", "egl_vendor.d" },
                { "/egl_external_platform.d/", "egl_external_platform.d" },
                { "/vulkan/icd.d/", "vulkan/icd.d" },
                { "/vulkan/implicit_layer.d/", "vulkan/implicit_layer.d" },
                { "/OpenCL/vendors/", "OpenCL/vendors" },
            };
            const char *f = g.file_dst.v[i];
            for (size_t k = 0; r >= 0 && k < sizeof(places) / sizeof(places[0]); k++)
                if (strstr(f, places[k][0])) {
                    char dst[4096];
                    snprintf(dst, sizeof(dst), NVIDIA_DIR "/%s/%s", places[k][1], strrchr(f, '/') + 1);
                    r = add_ro_file(s, g.file_src.v[i], dst, err);
                    break;
                }
        }
        if (r >= 0)
            r = nvidia_env(s, err);
    }
    gpu_set_free(&g);
    if (r < 0)
        return r;
    const char *why = refused ? " that the container's user may open (a node must be readable and writable by "
                                "that user: by others, or, rootless, by you)"
                              : "";
    if (c->gpu != SPEC_GPU_NONE && gpu_nodes == 0)
        return ab_usage(err, "--gpu: no GPU device node%s on this machine (looked for /dev/dri/renderD*%s and "
                             "/dev/nvidia*)",
                        why, c->gpu == SPEC_GPU_ALL ? ", /dev/dri/card*" : "");
    if (c->webcam && video_nodes == 0)
        return ab_usage(err, "--webcam: no video device node%s on this machine (looked for /dev/video* and "
                             "/dev/v4l)",
                        why);
    return 0;
}

/* The user's own --device nodes: refused when the container's user could
 * not open them anyway (a clear message now, not EACCES inside). */
static int check_nodes(const struct spec *s, ab_error *err)
{
    const struct spec_container *c = &s->container;
    for (size_t i = 0; i < c->n_mounts; i++) {
        const struct spec_mount *m = &c->mounts[i];
        if (!spec_mount_is_device(m) || !m->dev_access)
            continue;
        struct stat st;
        if (stat(m->source, &st) < 0)
            return ab_fail(err, errno, "%s: cannot look at %s", m->origin ? m->origin : "--device", m->source);
        if (!container_can_open(s, m->source, &st, m->dev_access)) {
            char acc[4];
            const struct spec_process *p = &s->process;
            return ab_error_set(
                err, m->origin && strncmp(m->origin, "--", 2) == 0 ? AB_ERR_USAGE : AB_ERR_RUNTIME, EACCES,
                "%s: %s (mode %04o, owner %u:%u) cannot be opened for '%s' by the container's user (host uid %u, "
                "gid %u): only nodes that user may open are useful in the container (mode 0666, or, rootless, "
                "yours, or of a group of yours where you have no /etc/subuid range)",
                m->origin ? m->origin : "--device", m->source, st.st_mode & 07777, st.st_uid, st.st_gid,
                cgroup_access_name(m->dev_access & (DEV_ACCESS_READ | DEV_ACCESS_WRITE), acc),
                idmap_outside(&c->uid_map, p->user.uid), idmap_outside(&c->gid_map, p->user.gid));
        }
    }
    return 0;
}

int devices_resolve(struct spec *s, ab_error *err)
{
    int r = expand(s, err);
    if (r < 0 || (r = check_nodes(s, err)) < 0)
        return r;
    return 0;
}

/* The rules: the default nodes (rwm), the container's own ptys (devpts:
 * ptmx 5:2, the Unix98 slaves 136-143:*), and each device bind with the
 * access it was granted. */
static int build_rules(const struct spec *s, struct cgroup_device_rule **out, size_t *n, ab_error *err)
{
    const struct spec_container *c = &s->container;
    size_t max = c->devices.n + c->n_mounts + 9;
    struct cgroup_device_rule *rules = calloc(max, sizeof(*rules));
    if (!rules)
        return ab_fail(err, ENOMEM, "cannot build the container's device rules");
    size_t k = 0;
    for (size_t i = 0; i < c->devices.n; i++) {
        struct stat st;
        if (stat(c->devices.v[i], &st) < 0 || !(S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)))
            continue; /* not on this host: not bound either */
        rules[k++] = (struct cgroup_device_rule){ S_ISCHR(st.st_mode) ? 'c' : 'b', major(st.st_rdev),
                                                  minor(st.st_rdev), DEV_ACCESS_ALL };
    }
    rules[k++] = (struct cgroup_device_rule){ 'c', 5, 2, DEV_ACCESS_ALL };
    for (long maj = 136; maj <= 143; maj++)
        rules[k++] = (struct cgroup_device_rule){ 'c', maj, CGROUP_ANY, DEV_ACCESS_ALL };
    for (size_t i = 0; i < c->n_mounts; i++) {
        const struct spec_mount *m = &c->mounts[i];
        if (!spec_mount_is_device(m))
            continue;
        struct stat st;
        if (stat(m->source, &st) < 0 || (m->ino && (st.st_dev != m->dev || st.st_ino != m->ino))) {
            free(rules);
            return ab_fail(err, ESTALE, "%s: %s is no longer the device node it was when the container was set up",
                           m->origin ? m->origin : "--device", m->source);
        }
        if (!(S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)))
            continue;
        rules[k++] = (struct cgroup_device_rule){ S_ISCHR(st.st_mode) ? 'c' : 'b', major(st.st_rdev),
                                                  minor(st.st_rdev), m->dev_access ? m->dev_access : DEV_ACCESS_ALL };
    }
    *out = rules;
    *n = k;
    return 0;
}

/* The rules go to the container's group that takes them (the v1 devices
 * group, else its v2 group), made by the cgroup module (cgroup/module.c),
 * which runs first, and removed by it. */
static int devices_host_setup(struct runner *r, ab_error *err)
{
    const char *path = cgroup_devices_dir(r->spec);
    if (!path)
        return 0;
    const struct cgroup_backend *b = cgroup_backend_for_path(path);
    const char *why = NULL;
    if (!b->devices_usable(&why))
        return ab_fail(err, 0, "cannot limit the container's devices: %s", why);
    struct cgroup_device_rule *rules = NULL;
    size_t n = 0;
    /* an OCI container: config.json's rules, in the group its caller
     * named (cgroup/oci.h) */
    bool oci = r->spec->oci != NULL;
    int rc = oci ? cgroup_oci_device_rules(r->spec, &rules, &n, err) : build_rules(r->spec, &rules, &n, err);
    if (rc < 0)
        return rc;
    if (oci && !cgroup_path_is_valid(path))
        rc = ab_fail(err, EINVAL, "refusing to change the cgroup %s: not below a cgroup hierarchy's mount", path);
    else
        rc = oci ? b->set_devices(path, rules, n, err) : cgroup_set_devices(b, path, rules, n, err);
    free(rules);
    if (rc < 0)
        return ab_error_prefix(err, "cannot set up the container's devices cgroup");
    return 0;
}

const char *devices_enforcement(const struct spec *s)
{
    if (cgroup_devices_dir(s))
        return "a devices cgroup allows only these";
    if (s->process.user.caller_uid != 0)
        return "no devices cgroup (rootless: the cgroup v1 devices controller is root's); only nodes you may "
               "open are bound, and nothing else is in the container's /dev";
    const char *why = NULL;
    if (cgroup_devices_backend(&why))
        return "a devices cgroup allows only these (made at start)";
    /* no devices cgroup here, and why: the nodes' modes and the bare /dev
     * still hold */
    static char line[512];
    snprintf(line, sizeof(line), "no devices cgroup (%s); only nodes the container's user may open are bound, "
                                 "and nothing else is in its /dev", why ? why : "none usable");
    return line;
}

const struct module devices_module = {
    .name = "devices",
    .host_setup = devices_host_setup,
};
