/* ab-escape: run inside an appbox container, it attempts one escape per
 * subcommand and prints one line:
 *     RESULT <name> BLOCKED|ESCAPED <detail>
 * exit 0 when the attempt was blocked, 1 when it worked, 2 on usage error.
 * Static, so it runs in any root (busybox, host view). */
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/keyctl.h>
#include <linux/perf_event.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef TIOCLINUX
#define TIOCLINUX 0x541C
#endif
#ifndef __X32_SYSCALL_BIT
#define __X32_SYSCALL_BIT 0x40000000
#endif

static int verdict(const char *name, int escaped, const char *fmt, ...)
{
    char detail[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    printf("RESULT %s %s %s\n", name, escaped ? "ESCAPED" : "BLOCKED", detail);
    fflush(stdout);
    return escaped ? 1 : 0;
}

#define E strerror(errno)

static int try_tiocsti_on(const char *name, int fd, unsigned long req)
{
    char c = '#';
    long r = syscall(SYS_ioctl, fd, req, &c);
    return verdict(name, r == 0, "ioctl(%d, %#lx): %s", fd, req, r == 0 ? "injected" : E);
}

static int t_tiocsti(int argc, char **argv)
{
    int esc = try_tiocsti_on("tiocsti", 0, TIOCSTI);
    int fd = open("/dev/tty", O_RDWR | O_NOCTTY);
    if (fd >= 0)
        esc |= try_tiocsti_on("tiocsti-devtty", fd, TIOCSTI);
    return esc;
}

static int t_tiocsti_highbits(int argc, char **argv)
{
    return try_tiocsti_on("tiocsti-highbits", 0, 0xffffffff00000000UL | TIOCSTI);
}

static int t_tioclinux(int argc, char **argv)
{
    char sub[2] = { 6, 0 }; /* TIOCL_GETSHIFTSTATE, harmless if it worked */
    long r = syscall(SYS_ioctl, 0, TIOCLINUX, sub);
    long r2 = syscall(SYS_ioctl, 0, 0xdead00000000UL | TIOCLINUX, sub);
    /* ENOTTY/EINVAL would mean the tty refused it, not the filter: only
     * EPERM (the filter) counts as blocked on a non-console. */
    return verdict("tioclinux", !(r < 0 && r2 < 0 && errno == EPERM), "ioctl TIOCLINUX: %ld %ld (%s)", r, r2, E);
}

/* Masked files must read empty (or fail); kallsyms must not show addresses. */
static int t_proc_masked(int argc, char **argv)
{
    static const char *const files[] = { "/proc/kcore", "/proc/keys", "/proc/timer_list", "/proc/sched_debug",
                                         "/proc/kallsyms", "/proc/latency_stats", "/proc/kmsg" };
    int esc = 0;
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        int fd = open(files[i], O_RDONLY | O_NONBLOCK);
        char buf[256];
        ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf)) : -1;
        if (fd >= 0)
            close(fd);
        int bad = n > 0;
        esc |= bad;
        verdict("proc-masked", bad, "%s: %s", files[i], n > 0 ? "readable with content" : n == 0 ? "empty" : E);
    }
    int fd = open("/proc/sysrq-trigger", O_WRONLY);
    ssize_t w = fd >= 0 ? write(fd, "h", 1) : -1; /* 'h' only prints help to the kernel log */
    if (fd >= 0)
        close(fd);
    /* written into /dev/null it "succeeds" but reaches nothing: check the mount */
    struct stat st;
    int masked = stat("/proc/sysrq-trigger", &st) == 0 && S_ISCHR(st.st_mode);
    esc |= w == 1 && !masked;
    verdict("proc-masked", w == 1 && !masked, "/proc/sysrq-trigger: %s", masked ? "masked by /dev/null" : w == 1 ? "written" : E);
    return esc;
}

static int t_proc_sys_write(int argc, char **argv)
{
    int fd = open("/proc/sys/kernel/hostname", O_WRONLY);
    ssize_t w = fd >= 0 ? write(fd, "pwned", 5) : -1;
    return verdict("proc-sys-write", w == 5, "/proc/sys/kernel/hostname: %s", w == 5 ? "written" : E);
}

static int t_sys_write(int argc, char **argv)
{
    static const char *const files[] = { "/sys/kernel/uevent_helper", "/sys/class/net/lo/mtu",
                                         "/sys/kernel/mm/transparent_hugepage/enabled" };
    int esc = 0;
    for (size_t i = 0; i < 3; i++) {
        int fd = open(files[i], O_WRONLY);
        ssize_t w = fd >= 0 ? write(fd, "1500", 4) : -1;
        esc |= w > 0;
        verdict("sys-write", w > 0, "%s: %s", files[i], w > 0 ? "written" : E);
        if (fd >= 0)
            close(fd);
    }
    return esc;
}

static int t_mount(int argc, char **argv)
{
    int r = mount("none", "/tmp", "tmpfs", 0, NULL);
    int fs = (int)syscall(SYS_fsopen, "tmpfs", 0);
    int t = (int)syscall(SYS_open_tree, AT_FDCWD, "/", 1 /* OPEN_TREE_CLONE */);
    return verdict("mount", r == 0 || fs >= 0 || t >= 0, "mount: %d, fsopen: %d, open_tree: %d (%s)", r, fs, t, E);
}

static int t_umount(int argc, char **argv)
{
    int r = umount2("/proc", MNT_DETACH);
    return verdict("umount", r == 0, "umount2(/proc): %s", r == 0 ? "unmounted" : E);
}

static int t_pivot_root(int argc, char **argv)
{
    int r = (int)syscall(SYS_pivot_root, "/tmp", "/tmp");
    int c = chroot("/tmp");
    return verdict("pivot-root", r == 0 || c == 0, "pivot_root: %d, chroot: %d (%s)", r, c, E);
}

static int t_unshare_user(int argc, char **argv)
{
    int r = unshare(CLONE_NEWUSER);
    int r2 = unshare(CLONE_NEWUSER | CLONE_NEWNS);
    return verdict("unshare-user", r == 0 || r2 == 0, "unshare(CLONE_NEWUSER): %s", r == 0 ? "created" : E);
}

static int t_clone_user(int argc, char **argv)
{
    long pid = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, NULL, NULL, NULL, 0);
    if (pid == 0)
        _exit(0);
    if (pid > 0)
        waitpid((pid_t)pid, NULL, 0);
    int esc = pid > 0;
    struct {
        unsigned long long flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls;
    } ca = { .flags = CLONE_NEWUSER, .exit_signal = SIGCHLD };
    long p3 = syscall(SYS_clone3, &ca, sizeof(ca));
    int e3 = errno;
    if (p3 == 0)
        _exit(0);
    if (p3 > 0)
        waitpid((pid_t)p3, NULL, 0);
    esc |= p3 > 0;
    return verdict("clone-user", esc, "clone(CLONE_NEWUSER): %s; clone3: %s", pid > 0 ? "created" : "refused",
                   p3 > 0 ? "created" : strerror(e3));
}

static int t_keyctl(int argc, char **argv)
{
    long k = syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0);
    long a = syscall(SYS_add_key, "user", "appbox-test", "x", 1, KEY_SPEC_PROCESS_KEYRING);
    long q = syscall(SYS_request_key, "user", "appbox-test", NULL, 0);
    return verdict("keyctl", k >= 0 || a >= 0 || q >= 0, "keyctl %ld, add_key %ld, request_key %ld (%s)", k, a, q, E);
}

static int t_bpf(int argc, char **argv)
{
    union bpf_attr attr;
    memset(&attr, 0, sizeof(attr));
    attr.map_type = BPF_MAP_TYPE_ARRAY;
    attr.key_size = 4;
    attr.value_size = 4;
    attr.max_entries = 1;
    long r = syscall(SYS_bpf, BPF_MAP_CREATE, &attr, sizeof(attr));
    return verdict("bpf", r >= 0, "bpf(BPF_MAP_CREATE): %s", r >= 0 ? "created" : E);
}

static int t_perf(int argc, char **argv)
{
    struct perf_event_attr pa;
    memset(&pa, 0, sizeof(pa));
    pa.type = PERF_TYPE_SOFTWARE;
    pa.size = sizeof(pa);
    pa.config = PERF_COUNT_SW_CPU_CLOCK;
    long r = syscall(SYS_perf_event_open, &pa, 0, -1, -1, 0);
    return verdict("perf-event-open", r >= 0, "perf_event_open: %s", r >= 0 ? "opened" : E);
}

static int t_userfaultfd(int argc, char **argv)
{
    long r = syscall(SYS_userfaultfd, 0);
    return verdict("userfaultfd", r >= 0, "userfaultfd: %s", r >= 0 ? "opened" : E);
}

static int t_ptrace(int argc, char **argv)
{
    pid_t target = argc > 0 ? atoi(argv[0]) : 1;
    long r = ptrace(PTRACE_ATTACH, target, NULL, NULL);
    return verdict("ptrace", r == 0, "PTRACE_ATTACH %d: %s", target, r == 0 ? "attached" : E);
}

static int t_kill_pid(int argc, char **argv)
{
    if (argc < 1)
        return 2;
    pid_t target = atoi(argv[0]);
    int r = kill(target, 0);
    return verdict("kill-pid", r == 0, "kill(%d, 0): %s", target, r == 0 ? "reachable" : E);
}

static int t_open_by_handle(int argc, char **argv)
{
    unsigned char raw[sizeof(struct file_handle) + 128] __attribute__((aligned(8)));
    struct file_handle *fh = (struct file_handle *)raw;
    fh->handle_bytes = 128;
    int mnt;
    long r = syscall(SYS_name_to_handle_at, AT_FDCWD, "/", fh, &mnt, 0);
    /* the shocker attack: a guessed handle for the host's root inode */
    fh->handle_bytes = 8;
    fh->handle_type = 1;
    unsigned char *bytes = raw + sizeof(struct file_handle);
    memset(bytes, 0, 8);
    bytes[0] = 2;
    long o = syscall(SYS_open_by_handle_at, 0, fh, O_RDONLY);
    return verdict("open-by-handle", o >= 0, "name_to_handle_at %ld, open_by_handle_at %ld (%s)", r, o, E);
}

static int t_mknod_block(int argc, char **argv)
{
    const char *p = argc > 0 ? argv[0] : "/tmp/ab-sda";
    int r = mknod(p, S_IFBLK | 0600, makedev(8, 0));
    int fd = r == 0 ? open(p, O_RDONLY) : -1;
    int esc = fd >= 0;
    if (r == 0)
        unlink(p);
    return verdict("mknod-block", esc, "mknod b 8:0: %s", r == 0 ? (fd >= 0 ? "created and opened" : "created, not openable")
                                                                   : E);
}

static int t_fd_leak(int argc, char **argv)
{
    int esc = 0;
    char detail[1024] = "";
    for (int fd = 3; fd < 1024; fd++) {
        if (fcntl(fd, F_GETFD) < 0)
            continue;
        char p[64], target[256] = "";
        snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
        ssize_t n = readlink(p, target, sizeof(target) - 1);
        target[n > 0 ? n : 0] = '\0';
        size_t l = strlen(detail);
        snprintf(detail + l, sizeof(detail) - l, "%d->%s ", fd, target);
        esc = 1;
    }
    return verdict("fd-leak", esc, "%s", esc ? detail : "only 0, 1, 2");
}

static int t_cwd_outside(int argc, char **argv)
{
    char cwd[4096];
    if (!getcwd(cwd, sizeof(cwd)))
        return verdict("cwd-outside", 1, "getcwd: %s", E);
    int esc = strncmp(cwd, "(unreachable)", 13) == 0;
    /* climbing up from the cwd must stay inside: a host marker path given
     * as argument must not be reachable */
    if (argc > 0) {
        char up[4096] = "";
        for (int i = 0; i < 32; i++)
            strcat(up, "../");
        strcat(up, argv[0][0] == '/' ? argv[0] + 1 : argv[0]);
        esc |= access(up, F_OK) == 0 || access(argv[0], F_OK) == 0;
    }
    return verdict("cwd-outside", esc, "cwd %s", cwd);
}

static int t_exe_write(int argc, char **argv)
{
    int esc = 0;
    for (int pid = 1; pid < 64; pid++) {
        char p[64];
        snprintf(p, sizeof(p), "/proc/%d/exe", pid);
        int fd = open(p, O_WRONLY);
        if (fd < 0)
            fd = open(p, O_RDWR);
        if (fd >= 0) {
            esc = 1;
            verdict("exe-write", 1, "%s opened for writing", p);
            close(fd);
        }
    }
    return esc ? 1 : verdict("exe-write", 0, "no /proc/*/exe writable");
}

static int status_field(const char *key, char *out, size_t size)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    int found = 0;
    while (f && fgets(line, sizeof(line), f))
        if (strncmp(line, key, strlen(key)) == 0 && line[strlen(key)] == ':') {
            char *v = line + strlen(key) + 1;
            while (*v == ' ' || *v == '\t')
                v++;
            v[strcspn(v, "\n")] = '\0';
            snprintf(out, size, "%s", v);
            found = 1;
        }
    if (f)
        fclose(f);
    return found;
}

static int t_nnp(int argc, char **argv)
{
    char v[64] = "?";
    status_field("NoNewPrivs", v, sizeof(v));
    int esc = strcmp(v, "1") != 0;
    if (argc > 0) {
        /* a setuid-root binary given as argument must not run as root */
        pid_t p = fork();
        if (p == 0) {
            execl(argv[0], argv[0], "-u", (char *)NULL);
            _exit(127);
        }
        int st;
        waitpid(p, &st, 0);
    }
    return verdict("nnp", esc, "NoNewPrivs: %s", v);
}

static int t_caps(int argc, char **argv)
{
    static const char *const keys[] = { "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb" };
    int esc = 0;
    char all[256] = "";
    for (int i = 0; i < 5; i++) {
        char v[64] = "?";
        status_field(keys[i], v, sizeof(v));
        esc |= strtoull(v, NULL, 16) != 0;
        size_t l = strlen(all);
        snprintf(all + l, sizeof(all) - l, "%s=%s ", keys[i], v);
    }
    return verdict("caps", esc, "%s", all);
}

static int t_x32(int argc, char **argv)
{
    long r = syscall(__X32_SYSCALL_BIT | SYS_getpid);
    return verdict("x32", r >= 0, "x32 getpid: %ld (%s)", r, E);
}

static int t_personality(int argc, char **argv)
{
    int r = personality(READ_IMPLIES_EXEC);
    int r2 = personality(0x80000000 | ADDR_NO_RANDOMIZE);
    int cur = personality(0xffffffff);
    int esc = (cur & (READ_IMPLIES_EXEC | ADDR_NO_RANDOMIZE)) != 0;
    return verdict("personality", esc, "READ_IMPLIES_EXEC: %d, bit31|ADDR_NO_RANDOMIZE: %d, now %#x", r, r2, cur);
}

static int t_seccomp_mode(int argc, char **argv)
{
    char v[64] = "?";
    status_field("Seccomp", v, sizeof(v));
    return verdict("seccomp-mode", strcmp(v, "2") != 0, "Seccomp: %s", v);
}

static const struct {
    const char *name;
    int (*fn)(int argc, char **argv);
} tests[] = {
    { "tiocsti", t_tiocsti },           { "tiocsti-highbits", t_tiocsti_highbits },
    { "tioclinux", t_tioclinux },       { "proc-masked", t_proc_masked },
    { "proc-sys-write", t_proc_sys_write }, { "sys-write", t_sys_write },
    { "mount", t_mount },               { "umount", t_umount },
    { "pivot-root", t_pivot_root },     { "unshare-user", t_unshare_user },
    { "clone-user", t_clone_user },     { "keyctl", t_keyctl },
    { "bpf", t_bpf },                   { "perf-event-open", t_perf },
    { "userfaultfd", t_userfaultfd },   { "ptrace", t_ptrace },
    { "kill-pid", t_kill_pid },         { "open-by-handle", t_open_by_handle },
    { "mknod-block", t_mknod_block },   { "fd-leak", t_fd_leak },
    { "cwd-outside", t_cwd_outside },   { "exe-write", t_exe_write },
    { "nnp", t_nnp },                   { "caps", t_caps },
    { "x32", t_x32 },                   { "personality", t_personality },
    { "seccomp-mode", t_seccomp_mode },
};

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: ab-escape TEST [ARG...]\ntests:");
        for (size_t i = 0; i < sizeof(tests) / sizeof(tests[0]); i++)
            fprintf(stderr, " %s", tests[i].name);
        fputc('\n', stderr);
        return 2;
    }
    for (size_t i = 0; i < sizeof(tests) / sizeof(tests[0]); i++)
        if (strcmp(tests[i].name, argv[1]) == 0)
            return tests[i].fn(argc - 2, argv + 2);
    fprintf(stderr, "ab-escape: unknown test %s\n", argv[1]);
    return 2;
}
