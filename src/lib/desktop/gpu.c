#include "desktop/gpu.h"

#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util/cleanup.h"

#if defined(__x86_64__)
#define TRIPLET "x86_64-linux-gnu"
#elif defined(__aarch64__)
#define TRIPLET "aarch64-linux-gnu"
#elif defined(__powerpc64__)
#define TRIPLET "powerpc64le-linux-gnu"
#else
#define TRIPLET "unknown-linux-gnu"
#endif

void gpu_set_free(struct gpu_set *g)
{
    strv_clear(&g->nodes);
    strv_clear(&g->lib_src);
    strv_clear(&g->lib_name);
    strv_clear(&g->file_src);
    strv_clear(&g->file_dst);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool is_char_dev(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0 && S_ISCHR(st.st_mode);
}

static bool in_strv(const strv *v, const char *s)
{
    for (size_t i = 0; i < v->n; i++)
        if (strcmp(v->v[i], s) == 0)
            return true;
    return false;
}

/* Add the character devices of HOSTROOT/DIR whose names match PATTERN,
 * sorted, as "DIR/NAME"; RECURSE: every one below (dev/v4l/by-id/...). */
static int add_nodes(const char *hostroot, const char *dir, const char *pattern, bool recurse, strv *out)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s%s", hostroot, dir);
    DIR *d = opendir(path);
    if (!d)
        return 0;
    strv names = { 0 };
    struct dirent *e;
    int r = 0;
    while (r == 0 && (e = readdir(d)))
        if (e->d_name[0] != '.' && fnmatch(pattern, e->d_name, 0) == 0)
            r = strv_push(&names, e->d_name);
    closedir(d);
    if (names.n)
        qsort(names.v, names.n, sizeof(*names.v), cmp_str);
    for (size_t i = 0; r == 0 && i < names.n; i++) {
        char rel[PATH_MAX], full[PATH_MAX];
        snprintf(rel, sizeof(rel), "%s/%s", dir, names.v[i]);
        snprintf(full, sizeof(full), "%s%s", hostroot, rel);
        struct stat st;
        if (lstat(full, &st) < 0)
            continue;
        if (S_ISCHR(st.st_mode) && !in_strv(out, rel))
            r = strv_push(out, rel);
        else if (recurse && S_ISDIR(st.st_mode))
            r = add_nodes(hostroot, rel, "*", true, out);
    }
    strv_clear(&names);
    return r;
}

static const char *const nvidia_lib_patterns[] = {
    "libcuda.so*", "libcudadebugger.so*", "libnvidia-*.so*", "libGLX_nvidia.so*", "libEGL_nvidia.so*",
    "libGLESv2_nvidia.so*", "libGLESv1_CM_nvidia.so*", "libnvcuvid.so*", "libnvoptix.so*", NULL,
};

static const char *const nvidia_lib_dirs[] = {
    "/usr/lib/" TRIPLET, "/usr/lib/" TRIPLET "/nvidia/current", "/lib/" TRIPLET, "/usr/lib64",
    "/usr/lib/nvidia", "/usr/lib64/nvidia", "/usr/lib", NULL,
};

static const char *const nvidia_files[] = {
    "/usr/bin/nvidia-smi",
    "/usr/bin/nvidia-debugdump",
    "/usr/share/glvnd/egl_vendor.d/10_nvidia.json",
    "/usr/share/vulkan/icd.d/nvidia_icd.json",
    "/etc/vulkan/icd.d/nvidia_icd.json",
    "/usr/share/vulkan/implicit_layer.d/nvidia_layers.json",
    "/etc/vulkan/implicit_layer.d/nvidia_layers.json",
    "/usr/share/egl/egl_external_platform.d/10_nvidia_wayland.json",
    "/usr/share/egl/egl_external_platform.d/15_nvidia_gbm.json",
    "/etc/OpenCL/vendors/nvidia.icd",
    NULL,
};

static bool nvidia_lib_name(const char *name)
{
    for (size_t i = 0; nvidia_lib_patterns[i]; i++)
        if (fnmatch(nvidia_lib_patterns[i], name, 0) == 0)
            return true;
    return false;
}

/* "libcuda.so.1": ".so." and one number: the name the loader asks for. */
static bool soname_form(const char *name)
{
    const char *so = strstr(name, ".so.");
    if (!so || !so[4])
        return false;
    for (const char *p = so + 4; *p; p++)
        if (*p < '0' || *p > '9')
            return false;
    return true;
}

/* The real path of HOSTROOT-prefixed PATH, which must stay below
 * HOSTROOT (a link out of a fake root is not followed) and be a regular
 * file; NULL otherwise. */
static char *real_file_below(const char *hostroot, const char *path)
{
    char *real = realpath(path, NULL);
    struct stat st;
    size_t hl = strcmp(hostroot, "/") == 0 ? 0 : strlen(hostroot);
    if (!real || stat(real, &st) < 0 || !S_ISREG(st.st_mode) ||
        (hl && (strncmp(real, hostroot, hl) != 0 || real[hl] != '/'))) {
        free(real);
        return NULL;
    }
    return real;
}

static int add_nvidia_libs(const char *hostroot, struct gpu_set *g)
{
    int r = 0;
    for (size_t k = 0; r == 0 && nvidia_lib_dirs[k]; k++) {
        char dir[PATH_MAX];
        snprintf(dir, sizeof(dir), "%s%s", strcmp(hostroot, "/") == 0 ? "" : hostroot, nvidia_lib_dirs[k]);
        DIR *d = opendir(dir);
        if (!d)
            continue;
        strv names = { 0 };
        struct dirent *e;
        while (r == 0 && (e = readdir(d)))
            if (nvidia_lib_name(e->d_name))
                r = strv_push(&names, e->d_name);
        closedir(d);
        if (names.n)
            qsort(names.v, names.n, sizeof(*names.v), cmp_str);
        for (size_t i = 0; r == 0 && i < names.n; i++) {
            if (in_strv(&g->lib_name, names.v[i]))
                continue; /* the first directory that has a name wins, as for the loader */
            char path[PATH_MAX + 256];
            snprintf(path, sizeof(path), "%s/%s", dir, names.v[i]);
            struct stat st;
            if (lstat(path, &st) < 0 || (S_ISLNK(st.st_mode) && !soname_form(names.v[i])))
                continue; /* libfoo.so (for the linker): not what a program loads */
            _cleanup_free_ char *real = real_file_below(hostroot, path);
            if (!real)
                continue;
            if ((r = strv_push(&g->lib_src, real)) == 0)
                r = strv_push(&g->lib_name, names.v[i]);
        }
        strv_clear(&names);
    }
    return r;
}

int gpu_collect(const char *hostroot, bool gpu, bool all, bool webcam, struct gpu_set *g, ab_error *err)
{
    const char *hr = strcmp(hostroot, "/") == 0 ? "" : hostroot;
    int r = 0;
    if (gpu) {
        r = add_nodes(hr, "/dev/dri", "renderD*", false, &g->nodes);
        if (r == 0 && all)
            r = add_nodes(hr, "/dev/dri", "card*", false, &g->nodes);
        if (r == 0)
            r = add_nodes(hr, "/dev", "nvidia[0-9]*", false, &g->nodes);
        static const char *const ctl[] = { "/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools",
                                           "/dev/nvidia-modeset", NULL };
        char path[PATH_MAX];
        for (size_t i = 0; r == 0 && ctl[i]; i++) {
            snprintf(path, sizeof(path), "%s%s", hr, ctl[i]);
            if (is_char_dev(path))
                r = strv_push(&g->nodes, ctl[i]);
        }
        snprintf(path, sizeof(path), "%s/dev/nvidiactl", hr);
        if (r == 0 && is_char_dev(path)) {
            r = add_nvidia_libs(hostroot, g);
            for (size_t i = 0; r == 0 && nvidia_files[i]; i++) {
                snprintf(path, sizeof(path), "%s%s", hr, nvidia_files[i]);
                _cleanup_free_ char *real = real_file_below(hostroot, path);
                if (real && (r = strv_push(&g->file_src, real)) == 0)
                    r = strv_push(&g->file_dst, nvidia_files[i]);
            }
        }
    }
    if (r == 0 && webcam) {
        r = add_nodes(hr, "/dev", "video*", false, &g->nodes);
        if (r == 0)
            r = add_nodes(hr, "/dev/v4l", "*", true, &g->nodes);
    }
    if (r < 0)
        return ab_fail(err, -r, "cannot list the host's devices");
    return 0;
}

const char *gpu_lib_dir(const char *root)
{
    static const char *const dirs[] = { "/usr/lib/" TRIPLET, "/usr/lib64", NULL };
    for (size_t i = 0; dirs[i]; i++) {
        char path[PATH_MAX];
        struct stat st;
        snprintf(path, sizeof(path), "%s%s", root, dirs[i]);
        if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode))
            return dirs[i];
    }
    return "/usr/lib";
}
