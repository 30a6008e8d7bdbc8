/* The cgroups of an OCI container (cgroup/oci.h): where cgroupsPath puts
 * the group (absolute, relative, --systemd-cgroup's SLICE:PREFIX:NAME,
 * the default; bad paths refused), the device rules config.json's list
 * becomes, and, as root, real groups below our own: made, limited, a
 * child put in, frozen and thawed, listed, removed.  What cannot run here
 * is skipped with the reason. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cgroup/cgroup.h"
#include "cgroup/oci.h"
#include "desktop/devices.h"
#include "runtime/pipeline.h"
#include "spec/oci.h"
#include "spec/spec.h"

static void read_in(const char *dir, const char *file, char *buf, size_t size)
{
    char path[PATH_MAX + 64];
    snprintf(path, sizeof(path), "%s/%s", dir, file);
    int r = cgroup_read_file(path, buf, size);
    assert_true(r >= 0);
    buf[strcspn(buf, "\n")] = '\0';
}

/* DIR/FILE's first line is WANT. */
static void file_is(const char *dir, const char *file, const char *want)
{
    char buf[256];
    read_in(dir, file, buf, sizeof(buf));
    if (strcmp(buf, want) != 0)
        fprintf(stderr, "%s/%s: '%s', not '%s'\n", dir, file, buf, want);
    assert_string_equal(buf, want);
}

/* A child that waits for a word on its pipe (*GO, the write end): at a
 * byte it runs PROBE and exits with its result, at the pipe's close it
 * exits 0. */
static pid_t spawn(int (*probe)(void), int *go)
{
    int p[2];
    assert_int_equal(pipe(p), 0);
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        char c;
        close(p[1]);
        if (read(p[0], &c, 1) != 1)
            _exit(0);
        _exit(probe ? probe() : 0);
    }
    close(p[0]);
    *go = p[1];
    return child;
}

/* Let CHILD go (RUN: its probe), reap it: its exit status. */
static int finish(pid_t child, int go, bool run)
{
    if (run)
        assert_int_equal(write(go, "x", 1), 1);
    close(go);
    int status = 0;
    assert_int_equal(waitpid(child, &status, 0), child);
    assert_true(WIFEXITED(status));
    return WEXITSTATUS(status);
}

/* What a process of a group with podman's rules may open: bit 0
 * /dev/null, bit 1 /dev/kmsg, bit 2 kmsg refused but not by the cgroup. */
static int probe_devices(void)
{
    int got = 0, fd;
    if ((fd = open("/dev/null", O_RDWR)) >= 0)
        got |= 1, close(fd);
    if ((fd = open("/dev/kmsg", O_RDONLY)) >= 0)
        got |= 2, close(fd);
    else if (errno != EPERM)
        got |= 4;
    return got;
}

/* ---- cgroupsPath ---- */

static void path_is(const char *given, const char *id, bool systemd, const char *rel, bool absolute)
{
    char *got = NULL;
    bool abs = !absolute;
    ab_error err = { 0 };
    int r = cgroup_oci_path(given, id, systemd, &got, &abs, &err);
    if (r < 0)
        fprintf(stderr, "%s: %s\n", given ? given : "(none)", err.msg);
    assert_int_equal(r, 0);
    assert_string_equal(got, rel);
    assert_int_equal(abs, absolute);
    free(got);
}

static void path_refused(const char *given, bool systemd, const char *says)
{
    char *got = NULL;
    bool abs = false;
    ab_error err = { 0 };
    assert_true(cgroup_oci_path(given, "x", systemd, &got, &abs, &err) < 0);
    assert_null(got);
    if (!strstr(err.msg, says))
        fprintf(stderr, "'%s' said: %s\n", given, err.msg);
    assert_non_null(strstr(err.msg, says));
    assert_non_null(strstr(err.msg, "cgroupsPath"));
}

/* cgroup_oci_create() without keeping its record of what it made */
static int create_set(const strv *set, ab_error *err)
{
    strv made = { 0 };
    int r = cgroup_oci_create(set, &made, err);
    strv_clear(&made);
    return r;
}

static void test_paths(void **state)
{
    (void)state;
    path_is("/machine/ctr-1", "x", false, "machine/ctr-1", true);
    path_is("pods/ctr-1", "x", false, "pods/ctr-1", false);
    path_is(NULL, "abc", false, "appbox-oci/abc", false);
    path_is("", "abc", false, "appbox-oci/abc", false);
    /* podman's, with --cgroup-parent below our group */
    path_is("/process_api/7344/abtest/libpod-e3da", "x", false, "process_api/7344/abtest/libpod-e3da", true);
    /* a colon is a name's own without --systemd-cgroup */
    path_is("a:b:c", "x", false, "a:b:c", false);
}

static void test_systemd_paths(void **state)
{
    (void)state;
    path_is("machine.slice:libpod:abc", "x", true, "machine.slice/libpod-abc.scope", true);
    path_is("machine-pods.slice:libpod:abc", "x", true, "machine.slice/machine-pods.slice/libpod-abc.scope", true);
    path_is("kubepods-besteffort-pod12.slice:cri-containerd:id9", "x", true,
            "kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod12.slice/cri-containerd-id9.scope", true);
    path_is(":runc:abc", "x", true, "system.slice/runc-abc.scope", true);
    path_is("-.slice:p:n", "x", true, "p-n.scope", true);
    path_is("user.slice::n", "x", true, "user.slice/n.scope", true);
    path_is("machine.slice:p:sub.slice", "x", true, "machine.slice/sub.slice", true);
    path_is(NULL, "abc", true, "system.slice/appbox-oci-abc.scope", true);
    path_refused("machine.slice:abc", true, "SLICE:PREFIX:NAME");
    path_refused("a:b:c:d", true, "SLICE:PREFIX:NAME");
    path_refused("machine:p:n", true, "not a slice name");
    path_refused("a--b.slice:p:n", true, "not a slice name");
    path_refused("-a.slice:p:n", true, "not a slice name");
    path_refused("a-.slice:p:n", true, "not a slice name");
    path_refused("machine.slice:p:", true, "NAME must be given");
    path_refused("machine.slice:p:a/b", true, "may hold");
    path_refused("machine.slice:p/q:n", true, "may hold");
}

static void test_bad_paths(void **state)
{
    (void)state;
    path_refused("/a/../b", false, "'..'");
    path_refused("../x", false, "'..'");
    path_refused("a/..", false, "'..'");
    path_refused("/a/./b", false, "'.'");
    path_refused("a//b", false, "empty component");
    path_refused("a/", false, "ends with '/'");
    path_refused("/", false, "names no group");
    path_refused("a/b\nc", false, "control character");
    char *got = NULL;
    bool abs = false;
    ab_error err = { 0 };
    assert_true(cgroup_oci_path(NULL, "a/b", false, &got, &abs, &err) < 0);
    assert_null(got);
}

static void test_path_is_valid(void **state)
{
    (void)state;
    assert_false(cgroup_path_is_valid(NULL));
    assert_false(cgroup_path_is_valid("/tmp/x"));
    assert_false(cgroup_path_is_valid("/sys/fs/cgroup"));
    assert_false(cgroup_path_is_valid("/sys/fs/cgroupx/a"));
    assert_false(cgroup_path_is_valid("/sys/fs/cgroup/memory/../x"));
    assert_false(cgroup_path_is_valid("/sys/fs/cgroup/memory/a//b"));
    assert_false(cgroup_path_is_valid("/sys/fs/cgroup/memory/a/"));
    assert_false(cgroup_path_is_valid("/sys/fs/cgroup/memory/a/."));
    assert_false(cgroup_path_is_valid("/sys/fs/cgroup/memory/a\n0::/b"));
    if (cgroup_pure_v2()) {
        assert_true(cgroup_path_is_valid("/sys/fs/cgroup/machine/ctr"));
        return;
    }
    if (access("/sys/fs/cgroup/memory/cgroup.procs", F_OK) < 0) {
        fprintf(stderr, "skipped: no cgroup v1 memory hierarchy here\n");
        skip();
    }
    assert_true(cgroup_path_is_valid("/sys/fs/cgroup/memory/machine/ctr"));
    assert_false(cgroup_path_is_valid("/sys/fs/cgroup/memory")); /* the mount itself */
    assert_false(cgroup_path_is_valid("/sys/fs/cgroup/no-such-hierarchy/x"));
    /* appbox's own check stays as narrow as it was */
    assert_false(cgroup_path_is_ours("/sys/fs/cgroup/memory/machine/ctr"));
}

/* ---- device rules ---- */

static bool has_rule(const struct cgroup_device_rule *r, size_t n, char type, long maj, long min, unsigned acc)
{
    for (size_t i = 0; i < n; i++)
        if (r[i].type == type && r[i].major == maj && r[i].minor == min && r[i].access == acc)
            return true;
    return false;
}

static struct spec_oci oci_with(struct oci_device_rule *rules, size_t n)
{
    struct spec_oci o;
    memset(&o, 0, sizeof(o));
    o.id = (char *)"unit";
    o.device_rules = rules;
    o.n_device_rules = n;
    o.resources.memory_swappiness = -1;
    return o;
}

static void test_device_rules(void **state)
{
    (void)state;
    /* podman's: deny all first; then a tun device; linux.devices has a
     * node of its own */
    struct oci_device_rule list[] = {
        { false, 'a', -1, -1, DEV_ACCESS_ALL },
        { true, 'c', 10, 200, DEV_ACCESS_READ | DEV_ACCESS_WRITE },
    };
    struct oci_device node = { .path = (char *)"/dev/ttyS9", .type = 'c', .major = 4, .minor = 73 };
    struct oci_device fifo = { .path = (char *)"/dev/f", .type = 'p' };
    struct oci_device nodes[] = { node, fifo };
    struct spec_oci o = oci_with(list, 2);
    o.devices = nodes;
    o.n_devices = 2;
    struct spec s;
    spec_init(&s);
    s.oci = &o;
    struct cgroup_device_rule *r = NULL;
    size_t n = 0;
    ab_error err = { 0 };
    assert_int_equal(cgroup_oci_device_rules(&s, &r, &n, &err), 0);
    assert_true(has_rule(r, n, 'c', 10, 200, DEV_ACCESS_READ | DEV_ACCESS_WRITE));
    /* runc's defaults, after the deny all: a container always has them */
    assert_true(has_rule(r, n, 'c', 1, 3, DEV_ACCESS_ALL));
    assert_true(has_rule(r, n, 'c', 1, 9, DEV_ACCESS_ALL));
    assert_true(has_rule(r, n, 'c', 5, 2, DEV_ACCESS_ALL));
    assert_true(has_rule(r, n, 'c', 136, CGROUP_ANY, DEV_ACCESS_ALL));
    assert_true(has_rule(r, n, 'c', CGROUP_ANY, CGROUP_ANY, DEV_ACCESS_MKNOD));
    assert_true(has_rule(r, n, 'b', CGROUP_ANY, CGROUP_ANY, DEV_ACCESS_MKNOD));
    /* linux.devices' nodes are made, not allowed (runc): only the list grants them */
    assert_false(has_rule(r, n, 'c', 4, 73, DEV_ACCESS_ALL));
    assert_int_equal(n, 1 + 11);
    free(r);

    /* in order: a deny takes away what earlier allows gave; a deny all
     * resets */
    struct oci_device_rule order[] = {
        { true, 'c', 10, 1, DEV_ACCESS_ALL },
        { true, 'c', 10, 2, DEV_ACCESS_ALL },
        { false, 'c', 10, 2, DEV_ACCESS_WRITE },
        { true, 'b', 8, CGROUP_ANY, DEV_ACCESS_READ },
        { false, 'c', 10, CGROUP_ANY, DEV_ACCESS_MKNOD },
    };
    o = oci_with(order, 5);
    s.oci = &o;
    assert_int_equal(cgroup_oci_device_rules(&s, &r, &n, &err), 0);
    assert_true(has_rule(r, n, 'c', 10, 1, DEV_ACCESS_READ | DEV_ACCESS_WRITE));
    assert_true(has_rule(r, n, 'c', 10, 2, DEV_ACCESS_READ));
    assert_true(has_rule(r, n, 'b', 8, CGROUP_ANY, DEV_ACCESS_READ));
    assert_int_equal(n, 3 + 11);
    free(r);
    struct oci_device_rule reset[] = {
        { true, 'c', 10, 1, DEV_ACCESS_ALL },
        { false, 'a', CGROUP_ANY, CGROUP_ANY, DEV_ACCESS_ALL },
    };
    o = oci_with(reset, 2);
    s.oci = &o;
    assert_int_equal(cgroup_oci_device_rules(&s, &r, &n, &err), 0);
    assert_false(has_rule(r, n, 'c', 10, 1, DEV_ACCESS_ALL));
    assert_int_equal(n, 11);
    free(r);

    /* a hole in a wildcard allow cannot be an allow list: refused, named */
    struct oci_device_rule hole[] = {
        { true, 'a', CGROUP_ANY, CGROUP_ANY, DEV_ACCESS_ALL },
        { false, 'c', 1, 3, DEV_ACCESS_WRITE },
    };
    o = oci_with(hole, 2);
    s.oci = &o;
    assert_true(cgroup_oci_device_rules(&s, &r, &n, &err) < 0);
    assert_null(r);
    assert_non_null(strstr(err.msg, "linux.resources.devices[1]"));
    assert_non_null(strstr(err.msg, "c 1:3 w"));
    struct oci_device_rule bad[] = { { true, 'x', 1, 1, DEV_ACCESS_ALL } };
    o = oci_with(bad, 1);
    s.oci = &o;
    assert_true(cgroup_oci_device_rules(&s, &r, &n, &err) < 0);
    assert_non_null(strstr(err.msg, "linux.resources.devices[0].type"));
    s.oci = NULL;
    spec_free(&s);
}

/* The v2 files and values (runc's conversions), written into a directory
 * of plain files standing for a pure v2 host's group. */
static void touch(const char *dir, const char *file)
{
    char path[PATH_MAX + 64];
    snprintf(path, sizeof(path), "%s/%s", dir, file);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    assert_true(fd >= 0);
    close(fd);
}

static void test_v2_values(void **state)
{
    (void)state;
    char dir[] = "/tmp/unit-ociv2-XXXXXX";
    assert_non_null(mkdtemp(dir));
    static const char *const files[] = { "memory.max", "memory.swap.max", "memory.low", "cpu.weight", "cpu.max",
                                         "cpuset.cpus", "cpuset.mems", "pids.max", "io.weight", "hugetlb.2MB.max",
                                         "memory.high", NULL };
    for (size_t i = 0; files[i]; i++)
        touch(dir, files[i]);
    struct spec_oci o = oci_with(NULL, 0);
    o.resources.memory_swap_total = 96 << 20;
    o.resources.memory_reservation = 16 << 20;
    o.resources.memory_swappiness = 60; /* no v2 file: ignored, as runc */
    o.resources.cpu_shares = 1024;
    o.resources.cpu_quota = 20000;
    o.resources.cpu_period = 50000;
    o.resources.cpuset_cpus = (char *)"0-1";
    o.resources.cpuset_mems = (char *)"0";
    o.resources.blkio_weight = 500;
    strv_push(&o.resources.hugepage_limits, "2MB=4194304");
    strv_push(&o.resources.unified, "memory.high=50000000");
    struct spec s;
    spec_init(&s);
    s.oci = &o;
    s.container.resources.memory = 64 << 20;
    s.container.pids_limit = 0;
    ab_error err = { 0 };
    int r = cgroup_oci_apply_v2(&s, dir, &err);
    if (r < 0)
        fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(r, 0);
    static const char *const want[][2] = {
        { "memory.max", "67108864" },  { "memory.swap.max", "33554432" }, /* 96M - 64M */
        { "memory.low", "16777216" },  { "cpu.weight", "39" },             /* 1 + 1022 * 9999 / 262142 */
        { "cpu.max", "20000 50000" },  { "cpuset.cpus", "0-1" },
        { "cpuset.mems", "0" },        { "pids.max", "max" },
        { "io.weight", "default 4950" }, /* 1 + 490 * 9999 / 990 */
        { "hugetlb.2MB.max", "4194304" }, { "memory.high", "50000000" },
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        file_is(dir, want[i][0], want[i][1]);
    /* swap below the limit: refused, named; unlimited quota: "max" */
    o.resources.memory_swap_total = 32 << 20;
    assert_true(cgroup_oci_apply_v2(&s, dir, &err) < 0);
    assert_non_null(strstr(err.msg, "linux.resources.memory.swap"));
    o.resources.memory_swap_total = -1;
    o.resources.cpu_quota = -1;
    for (size_t i = 0; files[i]; i++)
        touch(dir, files[i]); /* plain files keep what a longer write left */
    assert_int_equal(cgroup_oci_apply_v2(&s, dir, &err), 0);
    file_is(dir, "memory.swap.max", "max");
    file_is(dir, "cpu.max", "max 50000");
    /* a file the group lacks (controller not enabled): named */
    strv_push(&o.resources.unified, "memory.nosuch=1");
    assert_true(cgroup_oci_apply_v2(&s, dir, &err) < 0);
    assert_non_null(strstr(err.msg, "linux.resources.unified[\"memory.nosuch\"]"));
    strv_clear(&o.resources.unified);
    strv_push(&o.resources.unified, "../x=1");
    assert_true(cgroup_oci_apply_v2(&s, dir, &err) < 0);
    assert_non_null(strstr(err.msg, "linux.resources.unified"));
    for (size_t i = 0; files[i]; i++) {
        char path[PATH_MAX + 64];
        snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
        unlink(path);
    }
    rmdir(dir);
    strv_clear(&o.resources.unified);
    strv_clear(&o.resources.hugepage_limits);
    s.oci = NULL;
    spec_free(&s);
}

/* ---- real groups ---- */

static bool root_on_v1(void)
{
    if (geteuid() != 0) {
        fprintf(stderr, "skipped: not root (the groups are made below the hierarchy's own)\n");
        return false;
    }
    if (cgroup_pure_v2() || access("/sys/fs/cgroup/memory/cgroup.procs", W_OK) < 0 ||
        access("/sys/fs/cgroup/freezer/cgroup.procs", W_OK) < 0) {
        fprintf(stderr, "skipped: not a cgroup v1 (hybrid) host with writable memory and freezer hierarchies\n");
        return false;
    }
    return true;
}

static bool exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* The parent of our own memory group's test dir, to remove at the end. */
static void parent_of(const char *dir, char *out, size_t size)
{
    snprintf(out, size, "%.*s", (int)(strrchr(dir, '/') - dir), dir);
}

static void test_real_group(void **state)
{
    (void)state;
    if (!root_on_v1())
        skip();
    char rel[64];
    snprintf(rel, sizeof(rel), "unit-oci-%d/ctr", (int)getpid());
    struct spec_oci o = oci_with(NULL, 0);
    o.cgroups_path = rel;
    o.resources.cpu_quota = 50000;
    o.resources.cpu_period = 100000;
    o.resources.cpu_shares = 512;
    o.resources.cpuset_cpus = (char *)"0";
    o.resources.cpuset_mems = (char *)"0";
    o.resources.memory_swappiness = 10;
    o.resources.memory_reservation = 32 << 20;
    struct spec s;
    spec_init(&s);
    s.oci = &o;
    s.process.user.caller_uid = 0;
    s.container.resources.memory = 64 << 20;
    s.container.pids_limit = 50;
    ab_error err = { 0 };
    int r = cgroup_oci_resolve(&s, false, &err);
    if (r < 0)
        fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(r, 0);
    const strv *set = &s.container.cgroups;
    const char *mem = cgroup_set_dir(set, "memory"), *pids = cgroup_set_dir(set, "pids");
    const char *cpu = cgroup_set_dir(set, "cpu"), *cpuset = cgroup_set_dir(set, "cpuset");
    const char *freezer = cgroup_set_dir(set, "freezer");
    assert_non_null(mem);
    assert_non_null(pids);
    assert_non_null(cpu);
    assert_non_null(cpuset);
    assert_non_null(freezer);
    assert_true(s.container.pids_cgroup);
    /* relative: below our own group in each hierarchy */
    char *own = cgroup_own_group("memory");
    char want[PATH_MAX];
    snprintf(want, sizeof(want), "/sys/fs/cgroup/memory%s/%s", strcmp(own, "/") == 0 ? "" : own, rel);
    free(own);
    assert_string_equal(mem, want);
    for (size_t i = 0; i < set->n; i++)
        assert_false(exists(set->v[i]));

    r = create_set(set, &err);
    if (r == 0)
        r = cgroup_oci_apply(&s, &err);
    if (r < 0) {
        fprintf(stderr, "%s\n", err.msg);
        cgroup_oci_destroy(set);
    }
    assert_int_equal(r, 0);
    char buf[256];
    file_is(mem, "memory.limit_in_bytes", "67108864");
    file_is(mem, "memory.soft_limit_in_bytes", "33554432");
    file_is(mem, "memory.swappiness", "10");
    file_is(pids, "pids.max", "50");
    file_is(cpu, "cpu.cfs_quota_us", "50000");
    file_is(cpu, "cpu.shares", "512");
    file_is(cpuset, "cpuset.cpus", "0");
    file_is(cpuset, "cpuset.mems", "0");
    /* the intermediate cpuset group got its parent's cpus (else no
     * process could join below it) */
    char mid[PATH_MAX];
    parent_of(cpuset, mid, sizeof(mid));
    read_in(mid, "cpuset.cpus", buf, sizeof(buf));
    assert_true(buf[0] != '\0');

    /* a child put in, as exec and PID 1 are */
    int go;
    pid_t child = spawn(NULL, &go);
    r = cgroup_oci_join(set, child, &err);
    if (r < 0)
        fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(r, 0);
    char path[64], cg[4096];
    snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)child);
    assert_true(cgroup_read_file(path, cg, sizeof(cg)) > 0);
    assert_non_null(strstr(cg, rel));

    pid_t *list = NULL;
    size_t n = 0;
    assert_int_equal(cgroup_oci_pids(set, &list, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(list[0], child);
    free(list);

    assert_int_equal(cgroup_oci_frozen(set), 0);
    r = cgroup_oci_freeze(set, true, &err);
    if (r < 0)
        fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(r, 0);
    assert_int_equal(cgroup_oci_frozen(set), 1);
    file_is(freezer, "freezer.state", "FROZEN");
    assert_int_equal(cgroup_oci_freeze(set, false, &err), 0);
    assert_int_equal(cgroup_oci_frozen(set), 0);
    file_is(freezer, "freezer.state", "THAWED");

    assert_int_equal(finish(child, go, false), 0);
    cgroup_oci_destroy(set);
    /* the leaves are gone; the parent the path named stays (the
     * caller's, as a pod's group), and is ours to remove here */
    for (size_t i = 0; i < set->n; i++) {
        assert_false(exists(set->v[i]));
        char up[PATH_MAX];
        parent_of(set->v[i], up, sizeof(up));
        assert_true(exists(up));
        assert_int_equal(rmdir(up), 0);
    }
    s.oci = NULL;
    spec_free(&s);
}

/* A write the kernel refuses names the field, the file and the value;
 * and the default path's "appbox-oci" parent goes with its last group. */
static void test_refused_limit_and_default(void **state)
{
    (void)state;
    if (!root_on_v1())
        skip();
    char id[64], parent[PATH_MAX];
    snprintf(id, sizeof(id), "unit-%d", (int)getpid());
    struct spec_oci o = oci_with(NULL, 0);
    o.id = id;
    o.resources.cpu_quota = 500; /* below the kernel's 1 ms */
    struct spec s;
    spec_init(&s);
    s.oci = &o;
    s.container.pids_limit = 0;
    ab_error err = { 0 };
    assert_int_equal(cgroup_oci_resolve(&s, false, &err), 0);
    const strv *set = &s.container.cgroups;
    const char *cpu = cgroup_set_dir(set, "cpu");
    assert_non_null(cpu);
    char tail[128];
    snprintf(tail, sizeof(tail), "/appbox-oci/%s", id);
    assert_string_equal(cpu + strlen(cpu) - strlen(tail), tail);
    parent_of(cpu, parent, sizeof(parent));
    bool parent_was_there = exists(parent);
    assert_int_equal(create_set(set, &err), 0);
    assert_true(cgroup_oci_apply(&s, &err) < 0);
    fprintf(stderr, "as expected: %s\n", err.msg);
    assert_non_null(strstr(err.msg, "cannot apply linux.resources.cpu.quota (cpu.cfs_quota_us = 500)"));
    assert_int_equal(err.errnum, EINVAL);
    /* pids.limit 0: no limit */
    char buf[64];
    read_in(cgroup_set_dir(set, "pids"), "pids.max", buf, sizeof(buf));
    assert_string_equal(buf, "max");
    cgroup_oci_destroy(set);
    for (size_t i = 0; i < set->n; i++)
        assert_false(exists(set->v[i]));
    if (!parent_was_there)
        assert_false(exists(parent));
    s.oci = NULL;
    spec_free(&s);
}

/* The v2 freezer (cgroup.freeze, cgroup.events), which a group in the
 * unified hierarchy has with or without controllers: a set of only the v2
 * group, as on a host whose v1 has no freezer. */
static void test_v2_freeze(void **state)
{
    (void)state;
    const char *v2 = cgroup_v2_mount();
    char *own = cgroup_own_group("");
    if (geteuid() != 0 || !v2 || !own) {
        fprintf(stderr, "skipped: %s\n", geteuid() != 0 ? "not root" : "no cgroup v2 hierarchy here");
        free(own);
        skip();
    }
    char dir[PATH_MAX], file[PATH_MAX + 32];
    snprintf(dir, sizeof(dir), "%s%s/unit-oci2-%d", v2, strcmp(own, "/") == 0 ? "" : own, (int)getpid());
    free(own);
    snprintf(file, sizeof(file), "%s/cgroup.freeze", dir);
    strv set = { 0 };
    assert_int_equal(strv_push(&set, dir), 0);
    ab_error err = { 0 };
    if (create_set(&set, &err) < 0) {
        fprintf(stderr, "skipped: %s\n", err.msg);
        strv_clear(&set);
        skip();
    }
    if (access(file, W_OK) < 0) {
        fprintf(stderr, "skipped: this kernel's v2 groups have no cgroup.freeze\n");
        cgroup_oci_destroy(&set);
        strv_clear(&set);
        skip();
    }
    int go;
    pid_t child = spawn(NULL, &go);
    assert_int_equal(cgroup_oci_join(&set, child, &err), 0);
    int r = cgroup_oci_freeze(&set, true, &err);
    if (r < 0)
        fprintf(stderr, "%s\n", err.msg);
    int frozen = cgroup_oci_frozen(&set);
    assert_int_equal(cgroup_oci_freeze(&set, false, &err), 0);
    int thawed = cgroup_oci_frozen(&set);
    assert_int_equal(finish(child, go, false), 0);
    cgroup_oci_destroy(&set);
    assert_false(exists(dir));
    strv_clear(&set);
    assert_int_equal(r, 0);
    assert_int_equal(frozen, 1);
    assert_int_equal(thawed, 0);
}

/* memory.swap (memory + swap, runc's meaning) where the kernel accounts
 * swap; and the device rules load as a v2 program (the verifier's say). */
static void test_swap_and_program(void **state)
{
    (void)state;
    if (!root_on_v1())
        skip();
    struct oci_device_rule list[] = {
        { false, 'a', -1, -1, DEV_ACCESS_ALL },
        { true, 'c', 10, 200, DEV_ACCESS_READ | DEV_ACCESS_WRITE },
    };
    struct spec_oci o = oci_with(list, 2);
    char rel[64];
    snprintf(rel, sizeof(rel), "unit-ociswap-%d", (int)getpid());
    o.cgroups_path = rel;
    o.resources.memory_swap_total = 128 << 20;
    struct spec s;
    spec_init(&s);
    s.oci = &o;
    s.container.pids_limit = 0;
    s.container.resources.memory = 64 << 20;
    struct cgroup_device_rule *rules = NULL;
    size_t n = 0;
    ab_error err = { 0 };
    assert_int_equal(cgroup_oci_device_rules(&s, &rules, &n, &err), 0);
    int fd = cgroup_v2_load(rules, n, &err);
    free(rules);
    if (fd < 0)
        fprintf(stderr, "device program: %s\n", err.msg);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(cgroup_oci_resolve(&s, false, &err), 0);
    const strv *set = &s.container.cgroups;
    const char *mem = cgroup_set_dir(set, "memory");
    assert_non_null(mem);
    assert_int_equal(create_set(set, &err), 0);
    int r = cgroup_oci_apply(&s, &err);
    if (r < 0)
        fprintf(stderr, "%s\n", err.msg);
    char buf[64] = "";
    char file[PATH_MAX + 64];
    snprintf(file, sizeof(file), "%s/memory.memsw.limit_in_bytes", mem);
    bool memsw = access(file, F_OK) == 0;
    if (memsw)
        read_in(mem, "memory.memsw.limit_in_bytes", buf, sizeof(buf));
    cgroup_oci_destroy(set);
    for (size_t i = 0; i < set->n; i++)
        assert_false(exists(set->v[i]));
    assert_int_equal(r, 0);
    if (memsw)
        assert_string_equal(buf, "134217728");
    else
        fprintf(stderr, "no swap accounting here: memory.swap ignored, as runc does\n");
    s.oci = NULL;
    spec_free(&s);
}

/* Rootless on v1: no group it may write, so limits are ignored (runc's
 * way); linux.resources.unified is refused on v1 all the same. */
static void test_rootless_v1(void **state)
{
    (void)state;
    if (!root_on_v1())
        skip(); /* root to drop to nobody; v1 for the rule */
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (setresgid(65534, 65534, 65534) < 0 || setresuid(65534, 65534, 65534) < 0)
            _exit(90);
        struct spec_oci o = oci_with(NULL, 0);
        o.cgroups_path = (char *)"unit-rootless/ctr";
        struct spec s;
        spec_init(&s);
        s.oci = &o;
        s.process.user.caller_uid = 65534;
        s.container.resources.memory = 64 << 20;
        s.container.pids_limit = 10;
        ab_error err = { 0 };
        if (cgroup_oci_resolve(&s, false, &err) < 0)
            _exit(91);
        if (s.container.cgroups.n != 0 || s.container.pids_cgroup)
            _exit(92);
        strv_push(&o.resources.unified, "memory.high=1000000");
        if (cgroup_oci_resolve(&s, false, &err) == 0 || !strstr(err.msg, "linux.resources.unified"))
            _exit(93);
        _exit(0);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

/* The pipeline's modules with an OCI spec, as podman drives runc: an
 * absolute cgroupsPath below our own group (--cgroup-parent), made with
 * its parent in prepare and limited, PID 1 put in at host_setup with
 * config.json's device rules (podman's "deny all", then runc's defaults:
 * /dev/null opens, /dev/kmsg does not), the leaves removed at teardown.  The same
 * path in an appbox spec (no `oci`) is still refused. */
static void test_modules(void **state)
{
    (void)state;
    if (!root_on_v1())
        skip();
    const char *why = NULL;
    if (!cgroup_v1_backend.devices_usable(&why) || access("/dev/kmsg", R_OK) < 0) {
        fprintf(stderr, "skipped: %s\n", why ? why : "/dev/kmsg cannot be opened here anyway");
        skip();
    }
    char *own = cgroup_own_group("memory");
    assert_non_null(own);
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/unit-ocimod-%d/libpod-abc", strcmp(own, "/") == 0 ? "" : own, (int)getpid());
    free(own);
    struct oci_device_rule list[] = { { false, 'a', -1, -1, DEV_ACCESS_ALL } };
    struct spec_oci o = oci_with(list, 1);
    o.cgroups_path = path;
    struct spec s;
    spec_init(&s);
    s.oci = &o;
    s.process.user.caller_uid = 0;
    s.container.resources.memory = 32 << 20;
    s.container.pids_limit = 20;
    ab_error err = { 0 };
    assert_int_equal(cgroup_oci_resolve(&s, false, &err), 0);
    const strv *set = &s.container.cgroups;
    /* what is there before: the parents made below are removed at the end */
    strv made = { 0 };
    for (size_t i = 0; i < set->n; i++) {
        char up[PATH_MAX];
        snprintf(up, sizeof(up), "%s", set->v[i]);
        while (strrchr(up, '/') && !exists(up)) {
            strv_push(&made, up);
            *strrchr(up, '/') = '\0';
        }
    }
    struct runner r;
    runner_init(&r, &s, NULL, NULL);
    int rc = cgroup_module.prepare(&r, &err);
    if (rc < 0)
        fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(rc, 0);
    assert_true(r.cgroup_fd >= 0 || !cgroup_v2_dir(&s));
    char buf[4096];
    read_in(cgroup_set_dir(set, "memory"), "memory.limit_in_bytes", buf, sizeof(buf));
    assert_string_equal(buf, "33554432");
    read_in(cgroup_set_dir(set, "pids"), "pids.max", buf, sizeof(buf));
    assert_string_equal(buf, "20");
    int go;
    pid_t child = spawn(probe_devices, &go);
    r.child = child;
    rc = cgroup_module.host_setup(&r, &err);
    int drc = rc == 0 ? devices_module.host_setup(&r, &err) : -1;
    if (rc < 0 || drc < 0)
        fprintf(stderr, "%s\n", err.msg);
    char proc[64], cg[4096];
    snprintf(proc, sizeof(proc), "/proc/%d/cgroup", (int)child);
    assert_true(cgroup_read_file(proc, cg, sizeof(cg)) > 0);
    char rules[4096] = "";
    const char *dev = cgroup_set_dir(set, "devices");
    char list_file[PATH_MAX + 32];
    snprintf(list_file, sizeof(list_file), "%s/devices.list", dev ? dev : "/nonexistent");
    if (dev)
        assert_true(cgroup_read_file(list_file, rules, sizeof(rules)) > 0);
    int got = finish(child, go, rc == 0 && drc == 0);
    cgroup_module.teardown(&r);
    for (size_t i = 0; i < set->n; i++)
        assert_false(exists(set->v[i]));
    for (size_t i = 0; i < made.n; i++) /* deepest first; the leaves are gone */
        if (exists(made.v[i]))
            assert_int_equal(rmdir(made.v[i]), 0);
    strv_clear(&made);
    assert_int_equal(rc, 0);
    assert_int_equal(drc, 0);
    assert_non_null(strstr(cg, path));
    assert_non_null(dev);
    assert_non_null(strstr(rules, "c 1:3 rwm"));
    assert_null(strstr(rules, "a *:* rwm"));
    assert_int_equal(got, 1); /* enforced: /dev/null opens, /dev/kmsg is EPERM */

    /* appbox's own containers: still only "appbox-*" groups */
    s.oci = NULL;
    strv_clear(&s.container.cgroups);
    char mine[PATH_MAX];
    snprintf(mine, sizeof(mine), "/sys/fs/cgroup/pids/unit-ocimod-%d", (int)getpid());
    strv_push(&s.container.cgroups, mine);
    runner_init(&r, &s, NULL, NULL);
    assert_true(cgroup_module.prepare(&r, &err) < 0);
    assert_non_null(strstr(err.msg, "not one of appbox's"));
    assert_false(exists(mine));
    spec_free(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_paths),
        cmocka_unit_test(test_systemd_paths),
        cmocka_unit_test(test_bad_paths),
        cmocka_unit_test(test_path_is_valid),
        cmocka_unit_test(test_device_rules),
        cmocka_unit_test(test_v2_values),
        cmocka_unit_test(test_real_group),
        cmocka_unit_test(test_refused_limit_and_default),
        cmocka_unit_test(test_rootless_v1),
        cmocka_unit_test(test_v2_freeze),
        cmocka_unit_test(test_swap_and_program),
        cmocka_unit_test(test_modules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
