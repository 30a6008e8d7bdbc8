/* What --gpu and --webcam collect from a host root (desktop/gpu.c),
 * against a fake driver layout in a temporary directory: device nodes
 * (char nodes made with mknod: root only, skipped otherwise), the NVIDIA
 * libraries under the names the loader asks for, the driver's tools and
 * ICD files; and the cgroup helpers' parsing (cgroup/cgroup.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "cgroup/cgroup.h"
#include "desktop/gpu.h"

static char root[256];

static void mk(const char *rel, const char *content)
{
    char p[512];
    snprintf(p, sizeof(p), "%s%s", root, rel);
    char *slash = p + strlen(root);
    while ((slash = strchr(slash + 1, '/'))) {
        *slash = '\0';
        mkdir(p, 0755);
        *slash = '/';
    }
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(content, f);
    fclose(f);
}

static void ln(const char *target, const char *rel)
{
    char p[512];
    snprintf(p, sizeof(p), "%s%s", root, rel);
    assert_int_equal(symlink(target, p), 0);
}

static bool node(const char *rel, unsigned maj, unsigned min)
{
    char p[512];
    snprintf(p, sizeof(p), "%s%s", root, rel);
    return mknod(p, S_IFCHR | 0666, makedev(maj, min)) == 0;
}

static int setup(void **state)
{
    snprintf(root, sizeof(root), "/tmp/appbox-test-gpu-XXXXXX");
    assert_non_null(mkdtemp(root));
    return 0;
}

static int teardown(void **state)
{
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
    return system(cmd) == 0 ? 0 : -1;
}

static bool has(const strv *v, const char *s)
{
    for (size_t i = 0; i < v->n; i++)
        if (strcmp(v->v[i], s) == 0)
            return true;
    return false;
}

static const char *src_of(const struct gpu_set *g, const char *name)
{
    for (size_t i = 0; i < g->lib_name.n; i++)
        if (strcmp(g->lib_name.v[i], name) == 0)
            return g->lib_src.v[i];
    return NULL;
}

static void test_nvidia_layout(void **state)
{
    if (geteuid() != 0)
        skip(); /* the fake nodes are made with mknod */
    mk("/dev/dri/.keep", "");
    assert_true(node("/dev/dri/renderD128", 226, 128));
    assert_true(node("/dev/dri/card0", 226, 0));
    assert_true(node("/dev/nvidia0", 195, 0));
    assert_true(node("/dev/nvidia1", 195, 1));
    assert_true(node("/dev/nvidiactl", 195, 255));
    assert_true(node("/dev/nvidia-uvm", 510, 0));
    mk("/dev/nvidia-modeset", "not a node"); /* a regular file: not a device */
    /* Debian's layout: the real files in nvidia/current, links in the
     * multiarch directory; a Fedora-like one in /usr/lib64 */
    mk("/usr/lib/x86_64-linux-gnu/nvidia/current/libcuda.so.535.104.05", "cuda");
    ln("nvidia/current/libcuda.so.535.104.05", "/usr/lib/x86_64-linux-gnu/libcuda.so.1");
    ln("libcuda.so.1", "/usr/lib/x86_64-linux-gnu/libcuda.so");
    mk("/usr/lib/x86_64-linux-gnu/libnvidia-glcore.so.535.104.05", "glcore");
    mk("/usr/lib/x86_64-linux-gnu/libGLX_nvidia.so.535.104.05", "glx");
    ln("libGLX_nvidia.so.535.104.05", "/usr/lib/x86_64-linux-gnu/libGLX_nvidia.so.0");
    mk("/usr/lib/x86_64-linux-gnu/libGLX_mesa.so.0", "mesa"); /* not NVIDIA's */
    mk("/usr/lib64/libnvidia-ml.so.535.104.05", "nvml");
    ln("libnvidia-ml.so.535.104.05", "/usr/lib64/libnvidia-ml.so.1");
    ln("/etc/passwd", "/usr/lib64/libnvidia-evil.so.1"); /* a link out of the root: not followed */
    mk("/usr/bin/nvidia-smi", "smi");
    mk("/usr/share/glvnd/egl_vendor.d/10_nvidia.json", "{}");
    mk("/usr/share/vulkan/icd.d/nvidia_icd.json", "{}");

    struct gpu_set g = { 0 };
    ab_error err = { 0 };
    assert_int_equal(gpu_collect(root, true, false, false, &g, &err), 0);
    assert_int_equal(g.nodes.n, 5);
    assert_string_equal(g.nodes.v[0], "/dev/dri/renderD128");
    assert_string_equal(g.nodes.v[1], "/dev/nvidia0");
    assert_string_equal(g.nodes.v[2], "/dev/nvidia1");
    assert_string_equal(g.nodes.v[3], "/dev/nvidiactl");
    assert_string_equal(g.nodes.v[4], "/dev/nvidia-uvm");
    char want[512];
    snprintf(want, sizeof(want), "%s/usr/lib/x86_64-linux-gnu/nvidia/current/libcuda.so.535.104.05", root);
    assert_non_null(src_of(&g, "libcuda.so.1"));
    assert_string_equal(src_of(&g, "libcuda.so.1"), want);
    assert_non_null(src_of(&g, "libcuda.so.535.104.05"));        /* the real file, from nvidia/current */
    assert_null(src_of(&g, "libcuda.so"));                        /* the linker's name */
    assert_non_null(src_of(&g, "libnvidia-glcore.so.535.104.05")); /* loaded by its full name */
    assert_non_null(src_of(&g, "libGLX_nvidia.so.0"));
    assert_non_null(src_of(&g, "libnvidia-ml.so.1"));
    assert_null(src_of(&g, "libGLX_mesa.so.0"));
    assert_null(src_of(&g, "libnvidia-evil.so.1"));
    assert_true(has(&g.file_dst, "/usr/bin/nvidia-smi"));
    assert_true(has(&g.file_dst, "/usr/share/glvnd/egl_vendor.d/10_nvidia.json"));
    assert_true(has(&g.file_dst, "/usr/share/vulkan/icd.d/nvidia_icd.json"));
    assert_int_equal(g.file_dst.n, 3);
    gpu_set_free(&g);

    /* all: the card nodes too; webcam alone: no GPU node, no library */
    struct gpu_set a = { 0 };
    assert_int_equal(gpu_collect(root, true, true, false, &a, &err), 0);
    assert_true(has(&a.nodes, "/dev/dri/card0"));
    gpu_set_free(&a);
    assert_true(node("/dev/video0", 81, 0));
    mk("/dev/v4l/by-id/.keep", "");
    assert_true(node("/dev/v4l/by-id/cam", 81, 0));
    struct gpu_set w = { 0 };
    assert_int_equal(gpu_collect(root, false, false, true, &w, &err), 0);
    assert_int_equal(w.nodes.n, 2);
    assert_string_equal(w.nodes.v[0], "/dev/video0");
    assert_string_equal(w.nodes.v[1], "/dev/v4l/by-id/cam");
    assert_int_equal(w.lib_src.n, 0);
    gpu_set_free(&w);
}

static void test_no_driver_no_libraries(void **state)
{
    /* libraries without /dev/nvidiactl (a driver installed, not loaded;
     * or no root to make nodes): nothing */
    mk("/usr/lib/x86_64-linux-gnu/libcuda.so.1", "cuda");
    struct gpu_set g = { 0 };
    ab_error err = { 0 };
    assert_int_equal(gpu_collect(root, true, true, true, &g, &err), 0);
    assert_int_equal(g.nodes.n + g.lib_src.n + g.file_src.n, 0);
    gpu_set_free(&g);
}

static void test_access_letters(void **state)
{
    char b[4];
    assert_int_equal(cgroup_access_parse("rwm"), DEV_ACCESS_ALL);
    assert_int_equal(cgroup_access_parse("wr"), DEV_ACCESS_READ | DEV_ACCESS_WRITE);
    assert_int_equal(cgroup_access_parse("m"), DEV_ACCESS_MKNOD);
    assert_int_equal(cgroup_access_parse(""), -1);
    assert_int_equal(cgroup_access_parse("rr"), -1);
    assert_int_equal(cgroup_access_parse("rx"), -1);
    assert_int_equal(cgroup_access_parse(NULL), -1);
    assert_string_equal(cgroup_access_name(DEV_ACCESS_WRITE | DEV_ACCESS_READ, b), "rw");
    char rule[64];
    struct cgroup_device_rule r1 = { 'c', 136, CGROUP_ANY, DEV_ACCESS_ALL };
    assert_string_equal(cgroup_rule_string(&r1, rule, sizeof(rule)), "c 136:* rwm");
    struct cgroup_device_rule r2 = { 'b', 8, 0, DEV_ACCESS_READ };
    assert_string_equal(cgroup_rule_string(&r2, rule, sizeof(rule)), "b 8:0 r");
}

static void test_paths_that_are_ours(void **state)
{
    assert_true(cgroup_path_is_ours("/sys/fs/cgroup/devices/appbox-12-abcdef01"));
    assert_true(cgroup_path_is_ours("/sys/fs/cgroup/devices/user.slice/appbox-12-ab"));
    assert_false(cgroup_path_is_ours("/sys/fs/cgroup/devices/other"));
    assert_false(cgroup_path_is_ours("/sys/fs/cgroup/devices/../x/appbox-1"));
    assert_false(cgroup_path_is_ours("/etc/appbox-1"));
    assert_false(cgroup_path_is_ours("/sys/fs/cgroup/devices/appbox-a b"));
    assert_false(cgroup_path_is_ours(NULL));
    ab_error err = { 0 };
    char *p = cgroup_devices_path(&cgroup_v1_backend, "bad/leaf", &err);
    assert_null(p);
    free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_nvidia_layout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_driver_no_libraries, setup, teardown),
        cmocka_unit_test(test_access_letters),
        cmocka_unit_test(test_paths_that_are_ours),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
