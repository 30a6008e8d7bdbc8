/* config.json's linux.seccomp (oci/seccomp.c): podman's real profile and
 * small ones compiled with libseccomp, then loaded in a forked child that
 * checks what the calls now return; the errors for bad profiles, word for
 * word. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "oci/seccomp.h"
#include "runtime/oci_process.h"

#define WHAT "config.json: linux.seccomp"

static void clear(struct spec_oci *o)
{
    free(o->seccomp_filter);
    memset(o, 0, sizeof(*o));
}

/* Compile TEXT into O; the return value of oci_seccomp_compile. */
static int compile(const char *text, struct spec_oci *o, ab_error *err)
{
    struct json_object *j = json_tokener_parse(text);
    assert_non_null(j);
    memset(err, 0, sizeof(*err));
    int r = oci_seccomp_compile(j, WHAT, o, err);
    json_object_put(j);
    return r;
}

static void compile_ok(const char *text, struct spec_oci *o)
{
    ab_error err;
    int r = compile(text, o, &err);
    if (r < 0)
        fail_msg("%s", err.msg);
    assert_non_null(o->seccomp_filter);
    assert_true(o->seccomp_len > 0);
}

static void compile_fails(const char *text, const char *msg)
{
    struct spec_oci o = { 0 };
    ab_error err;
    assert_int_equal(compile(text, &o, &err), -EINVAL);
    assert_string_equal(err.msg, msg);
    assert_null(o.seccomp_filter);
}

/* A check run in the child after the filter is on: 0 when all is as
 * expected, else the number of the check that failed. */
typedef int (*check_fn)(void);

/* Load O's filter in a child (with no_new_privs, as an unprivileged
 * runtime must), run CHECK there; its wait status. */
static int in_child(const struct spec_oci *o, check_fn check)
{
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        ab_error err;
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
            _exit(100);
        if (oci_filter_load(o, &err) < 0) {
            fprintf(stderr, "%s\n", err.msg);
            _exit(101);
        }
        _exit(check());   /* _exit: no atexit handler runs under the filter */
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return status;
}

static void assert_child_ok(const struct spec_oci *o, check_fn check)
{
    int status = in_child(o, check);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail_msg("child: %s %d", WIFEXITED(status) ? "failed check" : "killed by signal",
                 WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
}

/* syscall NR's errno (0: it succeeded) */
#define ERRNO_OF(call) ((call) < 0 ? errno : 0)

static char *read_data(const char *name)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", TEST_DATA_DIR, name);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    static char buf[65536];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    return buf;
}

/* Under podman's profile (default: ENOSYS; an allow list; EPERM for the
 * calls it refuses; personality with listed values only; AF_NETLINK audit
 * sockets EINVAL): */
static int podman_checks(void)
{
    if (getpid() <= 0)
        return 1;
    /* refused with errnoRet 1 */
    if (ERRNO_OF(syscall(SYS_kexec_load, 0, 0, 0, 0)) != EPERM)
        return 2;
    if (ERRNO_OF(syscall(SYS_open_by_handle_at, -1, NULL, 0)) != EPERM)
        return 3;
    /* not in the allow list: defaultErrnoRet 38 */
    if (ERRNO_OF(syscall(SYS_add_key, NULL, NULL, NULL, 0, 0)) != ENOSYS)
        return 4;
    /* personality: 0xffffffff (a query) and PER_LINUX are listed with
     * SCMP_CMP_EQ, 0x0400000 (READ_IMPLIES_EXEC) is not */
    if (ERRNO_OF(personality(0xffffffff)) != 0)
        return 5;
    if (ERRNO_OF(personality(PER_LINUX)) != 0)
        return 6;
    if (ERRNO_OF(personality(READ_IMPLIES_EXEC)) != ENOSYS)
        return 7;
    /* socket(AF_NETLINK, *, NETLINK_AUDIT): errnoRet 22 (both args EQ);
     * other sockets allowed */
    if (ERRNO_OF(socket(AF_NETLINK, SOCK_RAW, 9)) != EINVAL)
        return 8;
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0)
        return 9;
    close(fd);
    return 0;
}

static void test_podman_profile(void **state)
{
    (void)state;
    struct spec_oci o = { 0 };
    compile_ok(read_data("podman-seccomp.json"), &o);
    assert_int_equal(o.seccomp_flags, 0);
    assert_true(o.seccomp_given);
    assert_false(o.seccomp_default);
    assert_child_ok(&o, podman_checks);
    clear(&o);
}

static const char args_profile[] =
    "{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"architectures\": [\"SCMP_ARCH_X86_64\", \"SCMP_ARCH_X86\"],"
    " \"syscalls\": ["
    /* personality refused unless its argument is 0xffffffff */
    "  {\"names\": [\"personality\"], \"action\": \"SCMP_ACT_ERRNO\", \"errnoRet\": 13,"
    "   \"args\": [{\"index\": 0, \"value\": 4294967295, \"op\": \"SCMP_CMP_NE\"}]},"
    /* dup3 with O_CLOEXEC in its flags: E2BIG */
    "  {\"names\": [\"dup3\"], \"action\": \"SCMP_ACT_ERRNO\", \"errnoRet\": 7,"
    "   \"args\": [{\"index\": 2, \"value\": 524288, \"valueTwo\": 524288, \"op\": \"SCMP_CMP_MASKED_EQ\"}]},"
    /* two conditions on one argument: either one refuses (one rule each) */
    "  {\"names\": [\"getpgid\"], \"action\": \"SCMP_ACT_ERRNO\", \"errnoRet\": 33,"
    "   \"args\": [{\"index\": 0, \"value\": 4194304, \"op\": \"SCMP_CMP_GT\"},"
    "              {\"index\": 0, \"value\": 1, \"op\": \"SCMP_CMP_LE\"}]},"
    /* no errnoRet: EPERM; names libseccomp does not know are skipped */
    "  {\"names\": [\"no_such_syscall\", \"setpriority\"], \"action\": \"SCMP_ACT_ERRNO\"},"
    /* the default action: left out */
    "  {\"names\": [\"getpid\"], \"action\": \"SCMP_ACT_ALLOW\"}"
    "]}";

static int args_checks(void)
{
    if (ERRNO_OF(personality(0xffffffff)) != 0)
        return 1;
    if (ERRNO_OF(personality(PER_LINUX)) != EACCES)
        return 2;
    if (ERRNO_OF(dup3(0, 100, O_CLOEXEC)) != E2BIG)
        return 3;
    if (ERRNO_OF(dup3(0, 100, 0)) != 0)
        return 4;
    if (ERRNO_OF(syscall(SYS_getpgid, 4194305)) != EDOM)
        return 5;
    if (ERRNO_OF(syscall(SYS_getpgid, 1)) != EDOM)
        return 6;
    if (ERRNO_OF(syscall(SYS_getpgid, getpid())) != 0)
        return 7;
    if (ERRNO_OF(syscall(SYS_setpriority, 0, 0, 0)) != EPERM)
        return 8;
    return 0;
}

static void test_args_and_errno(void **state)
{
    (void)state;
    struct spec_oci o = { 0 };
    compile_ok(args_profile, &o);
    assert_child_ok(&o, args_checks);
    clear(&o);
}

static int call_getppid(void)
{
    syscall(SYS_getppid);
    return 0;   /* not reached */
}

static void test_kill_actions(void **state)
{
    (void)state;
    static const char *const kill[] = { "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD" };
    for (size_t i = 0; i < sizeof(kill) / sizeof(kill[0]); i++) {
        char text[512];
        snprintf(text, sizeof(text),
                 "{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{\"names\": [\"getppid\"], "
                 "\"action\": \"%s\"}]}",
                 kill[i]);
        struct spec_oci o = { 0 };
        compile_ok(text, &o);
        int status = in_child(&o, call_getppid);
        assert_true(WIFSIGNALED(status));
        assert_int_equal(WTERMSIG(status), SIGSYS);
        clear(&o);
    }
}

static int log_checks(void)
{
    return getppid() > 0 ? 0 : 1;
}

static void test_flags_and_arches(void **state)
{
    (void)state;
    struct spec_oci o = { 0 };
    /* SCMP_ACT_LOG allows and logs; the flags go to seccomp(2) as bits;
     * WAIT_KILLABLE_RECV concerns a notify listener only: dropped */
    compile_ok("{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"defaultErrnoRet\": 5,"
               " \"architectures\": [\"SCMP_ARCH_X86_64\", \"SCMP_ARCH_X32\", \"SCMP_ARCH_AARCH64\"],"
               " \"flags\": [\"SECCOMP_FILTER_FLAG_LOG\", \"SECCOMP_FILTER_FLAG_TSYNC\","
               "            \"SECCOMP_FILTER_FLAG_SPEC_ALLOW\", \"SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV\"],"
               " \"syscalls\": [{\"names\": [\"getppid\"], \"action\": \"SCMP_ACT_LOG\"}]}",
               &o);
    assert_int_equal(o.seccomp_flags,
                     SECCOMP_FILTER_FLAG_LOG | SECCOMP_FILTER_FLAG_TSYNC | SECCOMP_FILTER_FLAG_SPEC_ALLOW);
    assert_child_ok(&o, log_checks);
    /* compiling again replaces the program */
    compile_ok("{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"listenerPath\": \"\", \"syscalls\": []}", &o);
    assert_int_equal(o.seccomp_flags, 0);
    clear(&o);

    /* no filter: nothing to load */
    ab_error err;
    assert_int_equal(oci_filter_load(&o, &err), 0);
}

static void test_bad_profiles(void **state)
{
    (void)state;
    compile_fails("[]", WHAT ": not an object (expected defaultAction, architectures, flags, syscalls)");
    compile_fails("{}", WHAT ".defaultAction: missing (expected one of SCMP_ACT_KILL, SCMP_ACT_KILL_PROCESS, "
                        "SCMP_ACT_KILL_THREAD, SCMP_ACT_TRAP, SCMP_ACT_ERRNO, SCMP_ACT_TRACE, SCMP_ACT_ALLOW, "
                        "SCMP_ACT_LOG)");
    compile_fails("{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{\"names\": [\"getpid\"]},"
                  " {\"names\": [\"getppid\"], \"action\": \"SCMP_ACT_FOO\"}]}",
                  WHAT ".syscalls[0].action: missing (expected one of SCMP_ACT_KILL, SCMP_ACT_KILL_PROCESS, "
                       "SCMP_ACT_KILL_THREAD, SCMP_ACT_TRAP, SCMP_ACT_ERRNO, SCMP_ACT_TRACE, SCMP_ACT_ALLOW, "
                       "SCMP_ACT_LOG)");
    compile_fails("{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": ["
                  " {\"names\": [\"getpid\"], \"action\": \"SCMP_ACT_ERRNO\"},"
                  " {\"names\": [\"getppid\"], \"action\": \"SCMP_ACT_FOO\"}]}",
                  WHAT ".syscalls[1].action: 'SCMP_ACT_FOO' is not an action (expected one of SCMP_ACT_KILL, "
                       "SCMP_ACT_KILL_PROCESS, SCMP_ACT_KILL_THREAD, SCMP_ACT_TRAP, SCMP_ACT_ERRNO, "
                       "SCMP_ACT_TRACE, SCMP_ACT_ALLOW, SCMP_ACT_LOG)");
    compile_fails("{\"defaultAction\": \"SCMP_ACT_NOTIFY\"}",
                  WHAT ".defaultAction: 'SCMP_ACT_NOTIFY' is not supported: appbox-oci has no seccomp notify "
                       "listener (expected one of SCMP_ACT_KILL, SCMP_ACT_KILL_PROCESS, SCMP_ACT_KILL_THREAD, "
                       "SCMP_ACT_TRAP, SCMP_ACT_ERRNO, SCMP_ACT_TRACE, SCMP_ACT_ALLOW, SCMP_ACT_LOG)");
    compile_fails("{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"listenerPath\": \"/run/seccomp.sock\"}",
                  WHAT ".listenerPath: '/run/seccomp.sock' is not supported: appbox-oci has no seccomp notify "
                       "listener");
    compile_fails("{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"architectures\": [\"SCMP_ARCH_X86_64\", "
                  "\"SCMP_ARCH_Z80\"]}",
                  WHAT ".architectures[1]: 'SCMP_ARCH_Z80' is not an architecture this libseccomp knows "
                       "(expected one of SCMP_ARCH_X86, SCMP_ARCH_X86_64, SCMP_ARCH_X32, SCMP_ARCH_ARM, "
                       "SCMP_ARCH_AARCH64, SCMP_ARCH_MIPS, SCMP_ARCH_MIPS64, SCMP_ARCH_MIPS64N32, "
                       "SCMP_ARCH_MIPSEL, SCMP_ARCH_MIPSEL64, SCMP_ARCH_MIPSEL64N32, SCMP_ARCH_PPC, "
                       "SCMP_ARCH_PPC64, SCMP_ARCH_PPC64LE, SCMP_ARCH_S390, SCMP_ARCH_S390X, SCMP_ARCH_PARISC, "
                       "SCMP_ARCH_PARISC64, SCMP_ARCH_RISCV64)");
    compile_fails("{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"architectures\": \"SCMP_ARCH_X86_64\"}",
                  WHAT ".architectures: not an array of strings (SCMP_ARCH_X86, SCMP_ARCH_X86_64, SCMP_ARCH_X32, "
                       "SCMP_ARCH_ARM, SCMP_ARCH_AARCH64, SCMP_ARCH_MIPS, SCMP_ARCH_MIPS64, SCMP_ARCH_MIPS64N32, "
                       "SCMP_ARCH_MIPSEL, SCMP_ARCH_MIPSEL64, SCMP_ARCH_MIPSEL64N32, SCMP_ARCH_PPC, "
                       "SCMP_ARCH_PPC64, SCMP_ARCH_PPC64LE, SCMP_ARCH_S390, SCMP_ARCH_S390X, SCMP_ARCH_PARISC, "
                       "SCMP_ARCH_PARISC64, SCMP_ARCH_RISCV64)");
    compile_fails("{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{\"names\": [\"getpid\"], "
                  "\"action\": \"SCMP_ACT_ERRNO\", \"args\": [{\"index\": 0, \"value\": 1, \"op\": \"SCMP_CMP_XX\"}]}]}",
                  WHAT ".syscalls[0].args[0].op: 'SCMP_CMP_XX' is not an operator (expected one of SCMP_CMP_NE, "
                       "SCMP_CMP_LT, SCMP_CMP_LE, SCMP_CMP_EQ, SCMP_CMP_GE, SCMP_CMP_GT, SCMP_CMP_MASKED_EQ)");
    compile_fails("{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{\"names\": [\"getpid\"], "
                  "\"action\": \"SCMP_ACT_ERRNO\", \"args\": [{\"index\": 6, \"value\": 1, \"op\": \"SCMP_CMP_EQ\"}]}]}",
                  WHAT ".syscalls[0].args[0].index: '6' is out of range (expected 0 to 5)");
    compile_fails("{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{\"names\": [\"getpid\"], "
                  "\"action\": \"SCMP_ACT_ERRNO\", \"args\": [{\"value\": 1, \"op\": \"SCMP_CMP_EQ\"}]}]}",
                  WHAT ".syscalls[0].args[0].index: missing (expected 0 to 5)");
    compile_fails("{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{\"names\": [\"getpid\"], "
                  "\"action\": \"SCMP_ACT_ERRNO\", \"args\": [{\"index\": 0, \"value\": -1, \"op\": \"SCMP_CMP_EQ\"}]}]}",
                  WHAT ".syscalls[0].args[0].value: '-1' is out of range (expected 0 to 18446744073709551615)");
    compile_fails("{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"defaultErrnoRet\": 70000}",
                  WHAT ".defaultErrnoRet: '70000' is out of range (expected 0 to 65535)");
    compile_fails("{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{\"names\": [\"getpid\"], "
                  "\"action\": \"SCMP_ACT_ERRNO\", \"errnoRet\": \"EPERM\"}]}",
                  WHAT ".syscalls[0].errnoRet: not an integer (expected 0 to 65535)");
    compile_fails("{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"flags\": [\"SECCOMP_FILTER_FLAG_NEW_LISTENER\"]}",
                  WHAT ".flags[0]: 'SECCOMP_FILTER_FLAG_NEW_LISTENER' is not a seccomp filter flag (expected one "
                       "of SECCOMP_FILTER_FLAG_TSYNC, SECCOMP_FILTER_FLAG_LOG, SECCOMP_FILTER_FLAG_SPEC_ALLOW, "
                       "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV)");
    compile_fails("{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": {}}",
                  WHAT ".syscalls: not an array of objects (names, action, errnoRet, args)");
    compile_fails("{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [\"getpid\"]}",
                  WHAT ".syscalls[0]: not an object (names, action, errnoRet, args)");
    compile_fails("{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{\"names\": [7], "
                  "\"action\": \"SCMP_ACT_ERRNO\"}]}",
                  WHAT ".syscalls[0].names[0]: not a syscall name");
    compile_fails("{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{\"action\": \"SCMP_ACT_ERRNO\"}]}",
                  WHAT ".syscalls[0].names: missing (expected an array of syscall names)");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_podman_profile),
        cmocka_unit_test(test_args_and_errno),
        cmocka_unit_test(test_kill_actions),
        cmocka_unit_test(test_flags_and_arches),
        cmocka_unit_test(test_bad_profiles),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
