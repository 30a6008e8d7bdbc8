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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_v2_program_shape),
        cmocka_unit_test(test_v1_enforced),
        cmocka_unit_test(test_v2_enforced),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
