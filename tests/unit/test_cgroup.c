/* The cgroup backends, for real: a group made below our own, device rules
 * set, a child process moved in, and what the kernel then lets it open;
 * the group removed.  v1 (devices.allow) and v2 (the generated
 * BPF_PROG_TYPE_CGROUP_DEVICE program); each skipped, with the reason,
 * where the machine or the caller cannot (root is needed for both). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cgroup/cgroup.h"

static const struct cgroup_device_rule rules[] = {
    { 'c', 1, 3, DEV_ACCESS_READ | DEV_ACCESS_WRITE },   /* null: rw */
    { 'c', 1, 7, DEV_ACCESS_READ },                      /* full: r only */
    { 'c', 136, CGROUP_ANY, DEV_ACCESS_ALL },             /* any pts */
};

/* What a process in a group with RULES may open: bit 0 null rw, 1 zero r,
 * 2 full r, 3 full w. */
static int probe(void)
{
    int got = 0;
    int fd;
    if ((fd = open("/dev/null", O_RDWR)) >= 0)
        got |= 1, close(fd);
    if ((fd = open("/dev/zero", O_RDONLY)) >= 0)
        got |= 2, close(fd);
    else if (errno != EPERM)
        got |= 16; /* refused, but not by the cgroup */
    if ((fd = open("/dev/full", O_RDONLY)) >= 0)
        got |= 4, close(fd);
    if ((fd = open("/dev/full", O_WRONLY)) >= 0)
        got |= 8, close(fd);
    else if (errno != EPERM)
        got |= 16;
    return got;
}

static void enforced(const struct cgroup_backend *b)
{
    const char *why = NULL;
    if (geteuid() != 0 || !b->devices_usable(&why)) {
        fprintf(stderr, "skipped: %s\n", why ? why : "not root");
        skip();
    }
    char leaf[64];
    snprintf(leaf, sizeof(leaf), "unit-%d", (int)getpid());
    ab_error err = { 0 };
    char *path = cgroup_devices_path(b, leaf, &err);
    assert_non_null(path);
    assert_true(cgroup_path_is_ours(path));
    assert_int_equal(cgroup_create(b, path, &err), 0);
    int rc = cgroup_set_devices(b, path, rules, sizeof(rules) / sizeof(rules[0]), &err);
    if (rc < 0) {
        fprintf(stderr, "%s\n", err.msg);
        cgroup_destroy(b, path);
        free(path);
        fail();
    }
    int go[2];
    assert_int_equal(pipe(go), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char c;
        close(go[1]);
        if (read(go[0], &c, 1) != 1)
            _exit(99);
        _exit(probe());
    }
    close(go[0]);
    assert_int_equal(cgroup_attach(b, path, pid, &err), 0);
    assert_int_equal(write(go[1], "g", 1), 1);
    close(go[1]);
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    cgroup_destroy(b, path);
    struct stat sb;
    assert_int_equal(stat(path, &sb), -1); /* removed */
    free(path);
    assert_true(WIFEXITED(st));
    /* null rw and full r allowed; zero and full w refused with EPERM */
    assert_int_equal(WEXITSTATUS(st), 1 | 4);
    /* and we, outside, are not limited */
    assert_int_equal(probe(), 1 | 2 | 4 | 8);
}

static void test_v1_enforced(void **state)
{
    enforced(&cgroup_v1_backend);
}

static void test_v2_enforced(void **state)
{
    enforced(&cgroup_v2_backend);
}

static void test_v2_program_shape(void **state)
{
    struct bpf_insn *p = NULL;
    size_t n = 0;
    assert_int_equal(cgroup_v2_program(rules, 3, &p, &n), 0);
    /* 6 loads, rule 1: 1+3+2+2, rule 2: the same, rule 3: 1+0+1+0+2, 2 at the end */
    assert_int_equal(n, 6 + 8 + 8 + 4 + 2);
    /* every jump lands inside the program, on the start of a block or the end */
    for (size_t i = 0; i < n; i++)
        if ((p[i].code & 0x07) == BPF_JMP && (p[i].code & 0xf0) == BPF_JNE)
            assert_true(i + 1 + (size_t)p[i].off < n);
    assert_int_equal(p[n - 1].code, BPF_JMP | BPF_EXIT);
    assert_int_equal(p[n - 2].imm, 0); /* default: deny */
    free(p);
}

/* ---- the limits' conversions and the files' parsers (pure) ---- */

static void test_cpu_shares(void **state)
{
    (void)state;
    assert_int_equal(cgroup_v1_cpu_shares(100), 1024);    /* the defaults meet */
    assert_int_equal(cgroup_v1_cpu_shares(200), 2048);
    assert_int_equal(cgroup_v1_cpu_shares(1), 10);
    assert_int_equal(cgroup_v1_cpu_shares(10000), 102400);
    assert_int_equal(cgroup_v1_cpu_shares(0), 2);         /* clamped to v1's minimum */
}

static void test_blkio_weight(void **state)
{
    (void)state;
    assert_int_equal(cgroup_v1_blkio_weight(1), 10);
    assert_int_equal(cgroup_v1_blkio_weight(10000), 1000);
    assert_int_equal(cgroup_v1_blkio_weight(500), 59);
    assert_int_equal(cgroup_v1_blkio_weight(0), 10);      /* clamped */
    assert_int_equal(cgroup_v1_blkio_weight(20000), 1000);
}

static void test_cpu_quota(void **state)
{
    (void)state;
    assert_int_equal(cgroup_cpu_quota_us(100), 10000);    /* --cpus 0.1 */
    assert_int_equal(cgroup_cpu_quota_us(1000), 100000);  /* one CPU */
    assert_int_equal(cgroup_cpu_quota_us(2500), 250000);
    assert_int_equal(cgroup_cpu_quota_us(1), 1000);       /* the kernel's 1 ms minimum */
}

static void test_format_bytes(void **state)
{
    (void)state;
    char b[32];
    assert_string_equal(cgroup_format_bytes(32u << 20, b, sizeof(b)), "32M");
    assert_string_equal(cgroup_format_bytes(1u << 30, b, sizeof(b)), "1G");
    assert_string_equal(cgroup_format_bytes(1536u << 10, b, sizeof(b)), "1536K");
    assert_string_equal(cgroup_format_bytes(1000, b, sizeof(b)), "1000");
    assert_string_equal(cgroup_format_bytes(0, b, sizeof(b)), "0");
}

static void test_parse_key(void **state)
{
    (void)state;
    const char *oom = "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n";
    assert_int_equal(cgroup_parse_key(oom, "oom_kill"), 3);
    assert_int_equal(cgroup_parse_key(oom, "under_oom"), 0);
    assert_true(cgroup_parse_key(oom, "oom") == CGROUP_UNKNOWN);
    assert_int_equal(cgroup_parse_key("usage_usec 1234\nuser_usec 1000\n", "usage_usec"), 1234);
}

static void test_parse_io(void **state)
{
    (void)state;
    uint64_t rd, wr;
    cgroup_parse_io_v2("8:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n"
                       "8:16 rbytes=1 wbytes=2 rios=1 wios=1\n", &rd, &wr);
    assert_int_equal(rd, 4097);
    assert_int_equal(wr, 8194);
    cgroup_parse_io_v1("8:0 Read 100\n8:0 Write 200\n8:0 Sync 300\n8:0 Total 300\n8:16 Read 1\nTotal 301\n",
                       &rd, &wr);
    assert_int_equal(rd, 101);
    assert_int_equal(wr, 200);
    cgroup_parse_io_v2("", &rd, &wr);
    assert_int_equal(rd + wr, 0);
}

static void test_paths(void **state)
{
    (void)state;
    assert_true(cgroup_path_is_ours("/sys/fs/cgroup/memory/a/appbox-12-0abc"));
    assert_true(cgroup_path_is_ours("/sys/fs/cgroup/appbox-1-x"));
    assert_false(cgroup_path_is_ours("/sys/fs/cgroup/memory/a"));
    assert_false(cgroup_path_is_ours("/sys/fs/cgroup/memory/../appbox-1"));
    assert_false(cgroup_path_is_ours("/etc/appbox-1"));
    assert_false(cgroup_path_is_ours("/sys/fs/cgroup/memory/appbox-1/x"));
    if (cgroup_pure_v2()) {
        skip(); /* the v1 names below mean nothing on a pure v2 host */
        return;
    }
    char *v[] = { "/sys/fs/cgroup/memory/x/appbox-1-a", "/sys/fs/cgroup/cpu,cpuacct/appbox-1-a",
                  "/sys/fs/cgroup/pids/appbox-1-a", NULL };
    strv set = { v, 3 };
    assert_string_equal(cgroup_set_dir(&set, "memory"), v[0]);
    assert_string_equal(cgroup_set_dir(&set, "cpu"), v[1]);
    assert_string_equal(cgroup_set_dir(&set, "cpuacct"), v[1]);
    assert_string_equal(cgroup_set_dir(&set, "pids"), v[2]);
    assert_null(cgroup_set_dir(&set, "blkio"));
    assert_null(cgroup_set_dir(&set, "cpuset"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cpu_shares),
        cmocka_unit_test(test_blkio_weight),
        cmocka_unit_test(test_cpu_quota),
        cmocka_unit_test(test_format_bytes),
        cmocka_unit_test(test_parse_key),
        cmocka_unit_test(test_parse_io),
        cmocka_unit_test(test_paths),
        cmocka_unit_test(test_v2_program_shape),
        cmocka_unit_test(test_v1_enforced),
        cmocka_unit_test(test_v2_enforced),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
