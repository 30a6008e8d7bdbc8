/* ab-escape: run inside an appbox container, it attempts one escape per
 * subcommand and prints, per attempt, one line
 *
 *     RESULT <name> BLOCKED|ESCAPED <detail>
 *
 * and exits 0 when every attempt was blocked, 1 when one worked, 2 on a
 * usage error.  It is linked statically so that it runs in any root
 * (the host view, a busybox root).  The subcommands are in tests[] at the
 * end; `ab-escape` alone lists them.
 *
 * Where the kernel alone would refuse an attempt anyway, the detail shows
 * the errno, so that the test suite can tell the seccomp filter's answer
 * (EPERM on /dev/null, where the tty layer would say ENOTTY) from the
 * kernel's.
 *
 * On x86-64 the binary also works as an ELF interpreter (see ab_entry):
 * the CVE-2019-5736 test installs it as a root's dynamic loader, so that
 * appbox re-executed in the container through "#!/proc/self/exe" runs our
 * code with /proc/self/exe being appbox. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/keyctl.h>
#include <linux/perf_event.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef TIOCLINUX
#define TIOCLINUX 0x541C
#endif
#ifndef __X32_SYSCALL_BIT
#define __X32_SYSCALL_BIT 0x40000000
#endif
#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif
#ifndef CLONE_NEWUSER
#define CLONE_NEWUSER 0x10000000
#endif

#define E strerror(errno)
#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

/* Print one RESULT line; returns 1 when ESCAPED. */
__attribute__((format(printf, 3, 4))) static int verdict(const char *name, int escaped, const char *fmt, ...)
{
    char detail[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    printf("RESULT %s %s %s\n", name, escaped ? "ESCAPED" : "BLOCKED", detail);
    fflush(stdout);
    return escaped ? 1 : 0;
}

static const char *res(long r, const char *ok)
{
    return r >= 0 ? ok : strerror(errno);
}

static ssize_t read_file(const char *path, char *buf, size_t size)
{
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, size - 1);
    int e = errno;
    close(fd);
    buf[n > 0 ? n : 0] = '\0';
    errno = e;
    return n;
}

static int status_field(const char *key, char *out, size_t size)
{
    char buf[8192];
    if (read_file("/proc/self/status", buf, sizeof(buf)) <= 0)
        return 0;
    size_t klen = strlen(key);
    for (char *line = buf; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL)
        if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
            char *v = line + klen + 1;
            v += strspn(v, " \t");
            snprintf(out, size, "%.*s", (int)strcspn(v, "\n"), v);
            return 1;
        }
    return 0;
}

/* ---------------------------------------------------------------- tty */

/* What TIOCSTI pushes: a command line, so that a shell reading the
 * terminal would run it. */
static const char payload[] = "echo AB-ESCAPE-INJECTED\n";

/* Push the payload into the terminal on FD, one byte per ioctl; returns
 * how many bytes went in (0 and errno set when the first was refused). */
static int inject(int fd, unsigned long req)
{
    int n = 0;
    for (const char *c = payload; *c; c++, n++)
        if (syscall(SYS_ioctl, fd, req, c) != 0)
            break;
    return n;
}

static const char *tty_of(int fd, char *buf, size_t size)
{
    char p[64];
    snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
    ssize_t n = readlink(p, buf, size - 1);
    buf[n > 0 ? n : 0] = '\0';
    return n > 0 ? buf : "closed";
}

/* fd 0 always (on /dev/null only the filter says EPERM: the tty layer
 * would say ENOTTY), fds 1 and 2 when they are terminals, and /dev/tty.
 * An attacker without a controlling terminal first tries to make the
 * terminal its own (TIOCSCTTY works when no session owns it), because
 * TIOCSTI on one's own controlling terminal needs no capability. */
static int tiocsti_with(const char *name, unsigned long req)
{
    int esc = 0;
    for (int fd = 0; fd <= 2; fd++) {
        if (fd > 0 && !isatty(fd))
            continue;
        char where[256];
        tty_of(fd, where, sizeof(where));
        int ctty = isatty(fd) && ioctl(fd, TIOCSCTTY, 0) == 0;
        int n = inject(fd, req);
        esc |= verdict(name, n > 0, "ioctl(%d=%s%s, %#lx): %s%s", fd, where, ctty ? ", made it our controlling tty" : "",
                       req, n > 0 ? "injected" : strerror(errno), n > 0 ? " the payload" : "");
    }
    int fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (fd < 0)
        return verdict(name, esc, "/dev/tty: %s (no controlling terminal)", E) | esc;
    int n = inject(fd, req);
    esc |= verdict(name, n > 0, "ioctl(/dev/tty, %#lx): %s", req, n > 0 ? "injected the payload" : E);
    close(fd);
    return esc;
}

static int t_tiocsti(int argc, char **argv)
{
    return tiocsti_with("tiocsti", TIOCSTI);
}

/* The kernel takes the request as an int: high garbage must not slip
 * past a filter that compares 64 bits. */
static int t_tiocsti_highbits(int argc, char **argv)
{
    return tiocsti_with("tiocsti-highbits", 0xffffffff00000000UL | TIOCSTI);
}

static int t_tioclinux(int argc, char **argv)
{
    static const unsigned long reqs[] = { TIOCLINUX, 0xffffffff00000000UL | TIOCLINUX };
    int esc = 0;
    for (size_t i = 0; i < N_ELEMS(reqs); i++) {
        char sub[2] = { 3, 0 }; /* TIOCL_PASTESEL: paste the selection as input */
        long r = syscall(SYS_ioctl, 0, reqs[i], sub);
        esc |= verdict("tioclinux", r == 0, "ioctl(0, %#lx, TIOCL_PASTESEL): %s", reqs[i], res(r, "done"));
    }
    return esc;
}

/* ---------------------------------------------------------------- /proc, /sys */

static int kallsyms_has_addresses(const char *text)
{
    for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
        if (strtoull(l, NULL, 16) != 0)
            return 1;
    return 0;
}

static int dir_entries(const char *path)
{
    DIR *d = opendir(path);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            n++;
    closedir(d);
    return n;
}

/* Masked files read empty or not at all; masked directories are empty;
 * /proc/kallsyms may show names, never addresses; /proc/sysrq-trigger
 * takes nothing. */
static int t_proc_masked(int argc, char **argv)
{
    static const char *const files[] = { "/proc/kcore", "/proc/keys", "/proc/timer_list", "/proc/timer_stats",
                                         "/proc/sched_debug", "/proc/latency_stats", "/proc/kmsg",
                                         "/proc/config.gz", "/proc/kallsyms" };
    static const char *const dirs[] = { "/proc/acpi", "/proc/asound", "/proc/scsi", "/sys/firmware",
                                        "/sys/devices/virtual/powercap", "/sys/kernel/security",
                                        "/sys/kernel/debug" };
    int esc = 0;
    for (size_t i = 0; i < N_ELEMS(files); i++) {
        struct stat st;
        if (stat(files[i], &st) < 0) {
            verdict("proc-masked", 0, "%s: %s", files[i], E);
            continue;
        }
        static char buf[65536];
        ssize_t n = read_file(files[i], buf, sizeof(buf));
        int bad = n > 0;
        const char *what = n > 0 ? "readable with content" : n == 0 ? "empty" : E;
        if (n > 0 && strcmp(files[i], "/proc/kallsyms") == 0) {
            bad = kallsyms_has_addresses(buf);
            what = bad ? "shows kernel addresses" : "names only, addresses zeroed";
        }
        esc |= verdict("proc-masked", bad, "%s: %s", files[i], what);
    }
    for (size_t i = 0; i < N_ELEMS(dirs); i++) {
        int n = dir_entries(dirs[i]);
        if (n < 0)
            verdict("proc-masked", 0, "%s: %s", dirs[i], E);
        else
            esc |= verdict("proc-masked", n > 0, "%s: %d entries", dirs[i], n);
    }
    /* 'h' only prints the help to the kernel log, should it get through */
    int fd = open("/proc/sysrq-trigger", O_WRONLY | O_CLOEXEC);
    ssize_t w = fd >= 0 ? write(fd, "h", 1) : -1;
    int e = errno;
    if (fd >= 0)
        close(fd);
    /* a write into the /dev/null mask would "work" and reach nothing */
    struct stat st;
    int masked = stat("/proc/sysrq-trigger", &st) == 0 && S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 3);
    esc |= verdict("proc-masked", w == 1 && !masked, "/proc/sysrq-trigger: %s",
                   w == 1 ? (masked ? "written into the /dev/null mask" : "written") : strerror(e));
    return esc;
}

/* Write back what a file holds (so that even a successful write changes
 * nothing); returns 1 when the write went through. */
static int write_back(const char *name, const char *path)
{
    char cur[4096];
    ssize_t n = read_file(path, cur, sizeof(cur));
    if (n <= 0)
        strcpy(cur, "\n");
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    ssize_t w = fd >= 0 ? write(fd, cur, strlen(cur)) : -1;
    int e = errno;
    if (fd >= 0)
        close(fd);
    return verdict(name, w > 0, "%s: %s", path, w > 0 ? "written" : strerror(e));
}

static int t_proc_sys_write(int argc, char **argv)
{
    static const char *const files[] = { "/proc/sys/kernel/hostname", "/proc/sys/kernel/core_pattern",
                                         "/proc/sys/kernel/modprobe", "/proc/sys/net/ipv4/ip_forward",
                                         "/proc/sys/net/core/somaxconn" };
    int esc = 0;
    for (size_t i = 0; i < N_ELEMS(files); i++)
        esc |= write_back("proc-sys-write", files[i]);
    return esc;
}

/* /sys/kernel/transparent_hugepage/enabled reads "always [madvise] never":
 * the word in brackets is what one writes back. */
static int t_sys_write(int argc, char **argv)
{
    static const char *const files[] = { "/sys/kernel/uevent_helper", "/sys/class/net/lo/mtu",
                                         "/sys/class/net/lo/tx_queue_len", "/sys/kernel/profiling" };
    int esc = 0;
    for (size_t i = 0; i < N_ELEMS(files); i++)
        esc |= write_back("sys-write", files[i]);
    int fd = open("/sys/kernel/mm/transparent_hugepage/enabled", O_WRONLY | O_CLOEXEC);
    esc |= verdict("sys-write", fd >= 0, "/sys/kernel/mm/transparent_hugepage/enabled: %s", res(fd, "opened for writing"));
    if (fd >= 0)
        close(fd);
    return esc;
}

/* ---------------------------------------------------------------- mounts */

static int t_mount(int argc, char **argv)
{
    int esc = 0;
    long r = mount("none", "/tmp", "tmpfs", 0, NULL);
    esc |= verdict("mount", r == 0, "mount(tmpfs, /tmp): %s", res(r, "mounted"));
    r = mount("/", "/tmp", NULL, MS_BIND | MS_REC, NULL);
    esc |= verdict("mount", r == 0, "mount(/, /tmp, MS_BIND): %s", res(r, "mounted"));
    r = mount(NULL, "/proc", NULL, MS_REMOUNT | MS_BIND, NULL); /* drops the masks' flags? */
    esc |= verdict("mount", r == 0, "mount(MS_REMOUNT, /proc): %s", res(r, "remounted"));
    r = syscall(SYS_fsopen, "proc", 0);
    esc |= verdict("mount", r >= 0, "fsopen(proc): %s", res(r, "opened"));
    if (r >= 0)
        close((int)r);
    r = syscall(SYS_open_tree, AT_FDCWD, "/", 1 /* OPEN_TREE_CLONE */);
    esc |= verdict("mount", r >= 0, "open_tree(/, OPEN_TREE_CLONE): %s", res(r, "cloned"));
    if (r >= 0)
        close((int)r);
    return esc;
}

static int t_umount(int argc, char **argv)
{
    /* unmounting a mask would uncover what it hides */
    static const char *const targets[] = { "/proc/kcore", "/proc/sys", "/proc/acpi", "/proc", "/sys" };
    int esc = 0;
    for (size_t i = 0; i < N_ELEMS(targets); i++) {
        long r = umount2(targets[i], MNT_DETACH);
        esc |= verdict("umount", r == 0, "umount2(%s): %s", targets[i], res(r, "unmounted"));
    }
    return esc;
}

static int t_pivot_root(int argc, char **argv)
{
    long r = syscall(SYS_pivot_root, "/tmp", "/tmp");
    return verdict("pivot-root", r == 0, "pivot_root(/tmp, /tmp): %s", res(r, "pivoted"));
}

static int t_chroot(int argc, char **argv)
{
    long r = chroot("/tmp");
    return verdict("chroot", r == 0, "chroot(/tmp): %s", res(r, "done"));
}

/* ---------------------------------------------------------------- namespaces */

static int t_unshare_user(int argc, char **argv)
{
    static const int flags[] = { CLONE_NEWUSER, CLONE_NEWUSER | CLONE_NEWNS, CLONE_NEWUSER | CLONE_NEWNET };
    int esc = 0;
    for (size_t i = 0; i < N_ELEMS(flags); i++) {
        long r = unshare(flags[i]);
        esc |= verdict("unshare-user", r == 0, "unshare(%#x): %s", flags[i], res(r, "created a user namespace"));
    }
    return esc;
}

static long wait_child(long pid)
{
    if (pid == 0)
        _exit(0);
    if (pid > 0)
        waitpid((pid_t)pid, NULL, 0);
    return pid;
}

static int t_clone_user(int argc, char **argv)
{
    long pid = wait_child(syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, NULL, NULL, NULL, 0));
    return verdict("clone-user", pid > 0, "clone(CLONE_NEWUSER): %s", res(pid, "created a user namespace"));
}

struct clone3_args {
    uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls;
};

/* clone3 passes its flags in memory, which a filter cannot read: it must
 * be refused outright (ENOSYS, so that libc falls back to clone). */
static int t_clone3(int argc, char **argv)
{
    int esc = 0;
    static const uint64_t flags[] = { 0, CLONE_NEWUSER };
    for (size_t i = 0; i < N_ELEMS(flags); i++) {
        struct clone3_args ca = { .flags = flags[i], .exit_signal = SIGCHLD };
        long pid = wait_child(syscall(SYS_clone3, &ca, sizeof(ca)));
        int bad = pid > 0 && flags[i] != 0;
        esc |= verdict("clone3", bad, "clone3(flags %#llx): %s", (unsigned long long)flags[i],
                       res(pid, flags[i] ? "created a user namespace" : "created a process"));
    }
    return esc;
}

/* ---------------------------------------------------------------- kernel interfaces */

static int t_keyctl(int argc, char **argv)
{
    int esc = 0;
    long r = syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0);
    esc |= verdict("keyctl", r >= 0, "keyctl(GET_KEYRING_ID, session): %s", res(r, "got the session keyring"));
    r = syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, NULL);
    esc |= verdict("keyctl", r >= 0, "keyctl(JOIN_SESSION_KEYRING): %s", res(r, "joined"));
    r = syscall(SYS_request_key, "user", "appbox-test", NULL, 0);
    esc |= verdict("keyctl", r >= 0, "request_key(user): %s", res(r, "found a key"));
    return esc;
}

static int t_add_key(int argc, char **argv)
{
    long r = syscall(SYS_add_key, "user", "appbox-test", "x", 1, KEY_SPEC_PROCESS_KEYRING);
    return verdict("add-key", r >= 0, "add_key(user): %s", res(r, "added"));
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
    return verdict("bpf", r >= 0, "bpf(BPF_MAP_CREATE): %s", res(r, "created"));
}

static int t_perf(int argc, char **argv)
{
    struct perf_event_attr pa;
    memset(&pa, 0, sizeof(pa));
    pa.type = PERF_TYPE_SOFTWARE;
    pa.size = sizeof(pa);
    pa.config = PERF_COUNT_SW_CPU_CLOCK;
    pa.exclude_kernel = 1;
    pa.exclude_hv = 1;
    long r = syscall(SYS_perf_event_open, &pa, 0, -1, -1, 0);
    return verdict("perf-event-open", r >= 0, "perf_event_open(self, cpu-clock): %s", res(r, "opened"));
}

/* UFFD_USER_MODE_ONLY needs no privilege at all: only a filter stops it. */
static int t_userfaultfd(int argc, char **argv)
{
    int esc = 0;
    static const int flags[] = { O_CLOEXEC, O_CLOEXEC | UFFD_USER_MODE_ONLY };
    for (size_t i = 0; i < N_ELEMS(flags); i++) {
        long r = syscall(SYS_userfaultfd, flags[i]);
        esc |= verdict("userfaultfd", r >= 0, "userfaultfd(%#x): %s", flags[i], res(r, "opened"));
    }
    return esc;
}

static int t_open_by_handle(int argc, char **argv)
{
    int esc = 0;
    int root = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    union {
        struct file_handle fh;
        unsigned char raw[sizeof(struct file_handle) + 128];
    } h;
    h.fh.handle_bytes = 128;
    int mnt;
    long r = syscall(SYS_name_to_handle_at, AT_FDCWD, "/", &h.fh, &mnt, 0);
    verdict("open-by-handle", 0, "name_to_handle_at(/): %s", res(r, "got a handle"));
    if (r == 0) {
        long o = syscall(SYS_open_by_handle_at, root, &h.fh, O_RDONLY);
        esc |= verdict("open-by-handle", o >= 0, "open_by_handle_at(own handle of /): %s", res(o, "opened"));
    }
    /* the "shocker" attack: a guessed ext4 handle for inode 2, the root
     * directory of whatever file system the mount fd is on */
    h.fh.handle_bytes = 8;
    h.fh.handle_type = 1; /* FILEID_INO32_GEN */
    memset(h.fh.f_handle, 0, 8);
    h.fh.f_handle[0] = 2;
    long o = syscall(SYS_open_by_handle_at, root, &h.fh, O_RDONLY);
    esc |= verdict("open-by-handle", o >= 0, "open_by_handle_at(guessed inode 2): %s", res(o, "opened"));
    return esc;
}

static int t_mknod_block(int argc, char **argv)
{
    const char *p = argc > 0 ? argv[0] : "/tmp/ab-escape-sda";
    long r = mknod(p, S_IFBLK | 0600, makedev(8, 0));
    int fd = r == 0 ? open(p, O_RDONLY | O_CLOEXEC) : -1;
    int e = errno;
    if (fd >= 0)
        close(fd);
    if (r == 0)
        unlink(p);
    errno = e;
    return verdict("mknod-block", fd >= 0, "mknod(%s, b 8:0): %s", p,
                   r < 0 ? E : fd >= 0 ? "created and opened" : "created, but cannot be opened");
}

/* ---------------------------------------------------------------- other processes */

static int t_ptrace_outside(int argc, char **argv)
{
    pid_t target = argc > 0 ? atoi(argv[0]) : 1;
    int esc = 0;
    long r = ptrace(PTRACE_ATTACH, target, NULL, NULL);
    esc |= verdict("ptrace-outside", r == 0, "PTRACE_ATTACH %d: %s", target, res(r, "attached"));
    if (r == 0)
        ptrace(PTRACE_DETACH, target, NULL, NULL);
    r = ptrace(PTRACE_SEIZE, target, NULL, NULL);
    esc |= verdict("ptrace-outside", r == 0, "PTRACE_SEIZE %d: %s", target, res(r, "seized"));
    if (r == 0)
        ptrace(PTRACE_DETACH, target, NULL, NULL);
    char buf[16];
    struct iovec local = { buf, sizeof(buf) }, remote = { (void *)0x400000, sizeof(buf) };
    r = syscall(SYS_process_vm_readv, target, &local, 1, &remote, 1, 0);
    esc |= verdict("ptrace-outside", r > 0, "process_vm_readv %d: %s", target, res(r, "read its memory"));
    return esc;
}

/* PID: a host pid (the caller checks that the process survived). */
static int t_kill_pid(int argc, char **argv)
{
    if (argc < 1) {
        fprintf(stderr, "usage: ab-escape kill-pid PID\n");
        return 2;
    }
    pid_t target = atoi(argv[0]);
    int esc = 0;
    long r = kill(target, SIGKILL);
    esc |= verdict("kill-pid", r == 0, "kill(%d, SIGKILL): %s", target, res(r, "sent"));
    long pfd = syscall(SYS_pidfd_open, target, 0);
    esc |= verdict("kill-pid", pfd >= 0, "pidfd_open(%d): %s", target, res(pfd, "opened"));
    if (pfd >= 0)
        close((int)pfd);
    return esc;
}

/* ---------------------------------------------------------------- host IPC */

/* ADDR: a unix socket the host listens on ("@name": abstract, which
 * belongs to the network namespace; else a path). */
static int t_connect_unix(int argc, char **argv)
{
    int esc = 0;
    for (int i = 0; i < argc; i++) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        size_t len = strlen(argv[i]);
        if (len >= sizeof(sa.sun_path))
            return 2;
        memcpy(sa.sun_path, argv[i], len);
        if (argv[i][0] == '@')
            sa.sun_path[0] = '\0';
        int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        long r = connect(s, (struct sockaddr *)&sa, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len));
        esc |= verdict("connect-unix", r == 0, "connect(%s): %s", argv[i], res(r, "connected to the host"));
        close(s);
    }
    return esc;
}

/* KEY: the key of host System V IPC objects (shm, msg, sem). */
static int t_sysv_ipc(int argc, char **argv)
{
    if (argc < 1) {
        fprintf(stderr, "usage: ab-escape sysv-ipc KEY\n");
        return 2;
    }
    key_t key = (key_t)strtol(argv[0], NULL, 0);
    int esc = 0;
    long r = shmget(key, 0, 0);
    esc |= verdict("sysv-ipc", r >= 0, "shmget(%#x): %s", key, res(r, "found the host's segment"));
    r = msgget(key, 0);
    esc |= verdict("sysv-ipc", r >= 0, "msgget(%#x): %s", key, res(r, "found the host's queue"));
    r = semget(key, 0, 0);
    esc |= verdict("sysv-ipc", r >= 0, "semget(%#x): %s", key, res(r, "found the host's semaphores"));
    return esc;
}

/* ---------------------------------------------------------------- leaks */

/* Harmless things an fd of another process may point to. */
static int harmless_target(const char *t)
{
    static const char *const ok[] = { "pipe:", "socket:", "anon_inode:", "/dev/null", "/dev/pts/", "/dev/tty",
                                      "/dev/zero", "/dev/urandom", "/dev/random", "/dev/ptmx" };
    for (size_t i = 0; i < N_ELEMS(ok); i++)
        if (strncmp(t, ok[i], strlen(ok[i])) == 0)
            return 1;
    return 0;
}

/* Our own fds above 2, and whatever fd of another process in the
 * container (init) we can reach that points at a file or directory. */
static int t_fd_leak(int argc, char **argv)
{
    int esc = 0, own = 0;
    for (int fd = 3; fd < 4096; fd++) {
        if (fcntl(fd, F_GETFD) < 0)
            continue;
        char target[512];
        esc |= verdict("fd-leak", 1, "fd %d is open: %s", fd, tty_of(fd, target, sizeof(target)));
        own++;
    }
    if (!own)
        verdict("fd-leak", 0, "own fds: only 0, 1, 2");
    DIR *proc = opendir("/proc");
    struct dirent *p;
    while (proc && (p = readdir(proc))) {
        int pid = atoi(p->d_name);
        if (pid <= 0 || pid == getpid())
            continue;
        char dir[64];
        snprintf(dir, sizeof(dir), "/proc/%d/fd", pid);
        DIR *d = opendir(dir);
        if (!d) {
            verdict("fd-leak", 0, "%s: %s", dir, E);
            continue;
        }
        struct dirent *f;
        while ((f = readdir(d))) {
            if (f->d_name[0] == '.')
                continue;
            char link[384], target[512] = "";
            snprintf(link, sizeof(link), "%s/%s", dir, f->d_name);
            ssize_t n = readlink(link, target, sizeof(target) - 1);
            target[n > 0 ? n : 0] = '\0';
            int bad = !harmless_target(target);
            esc |= verdict("fd-leak", bad, "%s -> %s", link, target);
        }
        closedir(d);
    }
    if (proc)
        closedir(proc);
    return esc;
}

static const char *climb(const char *base, const char *path, char *out, size_t size)
{
    snprintf(out, size, "%s", base);
    for (int i = 0; i < 40; i++)
        strncat(out, "../", size - strlen(out) - 1);
    strncat(out, path[0] == '/' ? path + 1 : path, size - strlen(out) - 1);
    return out;
}

/* MARKER: a host path that must not be reachable from inside: not from
 * the working directory, not by climbing up from it, not through any
 * process's cwd or root link. */
static int t_cwd_outside(int argc, char **argv)
{
    char cwd[4096], p[8192];
    if (!getcwd(cwd, sizeof(cwd)))
        return verdict("cwd-outside", 1, "getcwd: %s (the working directory is outside the root)", E);
    long raw = syscall(SYS_getcwd, cwd, sizeof(cwd));
    int esc = verdict("cwd-outside", raw < 0 || strncmp(cwd, "(unreachable)", 13) == 0, "cwd %s", cwd);
    if (argc < 1)
        return esc;
    const char *marker = argv[0];
    esc |= verdict("cwd-outside", access(marker, F_OK) == 0, "%s: %s", marker,
                   access(marker, F_OK) == 0 ? "reachable" : E);
    climb("", marker, p, sizeof(p));
    esc |= verdict("cwd-outside", access(p, F_OK) == 0, "climbing from the cwd: %s",
                   access(p, F_OK) == 0 ? "reachable" : E);
    DIR *proc = opendir("/proc");
    struct dirent *e;
    while (proc && (e = readdir(proc))) {
        if (atoi(e->d_name) <= 0)
            continue;
        static const char *const links[] = { "cwd", "root" };
        for (size_t i = 0; i < N_ELEMS(links); i++) {
            char base[384], target[512] = "";
            snprintf(base, sizeof(base), "/proc/%s/%s/", e->d_name, links[i]);
            ssize_t n = readlink(strndupa(base, strlen(base) - 1), target, sizeof(target) - 1);
            target[n > 0 ? n : 0] = '\0';
            int bad = access(climb(base, marker, p, sizeof(p)), F_OK) == 0;
            esc |= verdict("cwd-outside", bad, "%s -> %s: marker %s", base, n > 0 ? target : E,
                           bad ? "reachable" : "not reachable");
        }
    }
    if (proc)
        closedir(proc);
    return esc;
}

/* ---------------------------------------------------------------- the appbox binary */

/* Every /proc/PID/exe but our own (appbox's init is PID 1) must refuse
 * to open for writing. */
static int t_exe_write(int argc, char **argv)
{
    int esc = 0;
    DIR *proc = opendir("/proc");
    struct dirent *e;
    while (proc && (e = readdir(proc))) {
        int pid = atoi(e->d_name);
        if (pid <= 0 || pid == getpid())
            continue;
        char p[64], target[512] = "";
        snprintf(p, sizeof(p), "/proc/%d/exe", pid);
        ssize_t n = readlink(p, target, sizeof(target) - 1);
        target[n > 0 ? n : 0] = '\0';
        static const int modes[] = { O_WRONLY, O_RDWR };
        for (size_t i = 0; i < N_ELEMS(modes); i++) {
            int fd = open(p, modes[i] | O_CLOEXEC);
            esc |= verdict("proc-self-exe-write", fd >= 0, "%s (%s) %s: %s", p, n > 0 ? target : "?",
                           modes[i] == O_WRONLY ? "O_WRONLY" : "O_RDWR", res(fd, "opened for writing"));
            if (fd >= 0)
                close(fd);
        }
    }
    if (proc)
        closedir(proc);
    return esc;
}

/* Second stage of the CVE-2019-5736 attack.  FD is an O_PATH fd on what
 * /proc/self/exe was while the process was appbox (the first stage, in
 * ab_interp below, opened it and exec'd us to let go of the image).  Try,
 * for up to SECONDS, to reopen it for writing (ETXTBSY lasts while appbox
 * runs from it) and to append to it; as its owner, try to make it
 * writable first. */
static int t_exe_reopen(int argc, char **argv)
{
    if (argc < 1) {
        fprintf(stderr, "usage: ab-escape exe-reopen FD [SECONDS]\n");
        return 2;
    }
    const char *name = "proc-self-exe-write";
    double seconds = argc > 1 ? atof(argv[1]) : 2.0;
    char link[64], target[512] = "";
    snprintf(link, sizeof(link), "/proc/self/fd/%s", argv[0]);
    ssize_t n = readlink(link, target, sizeof(target) - 1);
    if (n <= 0)
        return verdict(name, 0, "first stage left no fd %s: %s", argv[0], E);
    target[n] = '\0';
    int memfd = strncmp(target, "/memfd:", 7) == 0;
    int esc = 0;
    struct stat before;
    stat(link, &before);
    if (chmod(link, before.st_mode | 0666) == 0) {
        struct stat after;
        stat(link, &after);
        esc |= verdict(name, !memfd, "chmod %s (%s): mode %o -> %o", target, link, before.st_mode & 07777,
                       after.st_mode & 07777);
    } else {
        verdict(name, 0, "chmod %s: %s", target, E);
    }
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int fd;
    for (;;) {
        fd = open(link, O_WRONLY | O_APPEND | O_CLOEXEC);
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (fd >= 0 || errno != ETXTBSY || now.tv_sec - t0.tv_sec + (now.tv_nsec - t0.tv_nsec) / 1e9 > seconds)
            break;
        usleep(20000);
    }
    if (fd < 0)
        return verdict(name, 0, "reopen %s for writing: %s", target, E) | esc;
    static const char mark[] = "AB-ESCAPE-WAS-HERE";
    ssize_t w = write(fd, mark, sizeof(mark) - 1);
    int e = errno;
    close(fd);
    if (w > 0 && memfd)
        return verdict(name, 0, "%s: wrote only into appbox's private copy", target) | esc;
    return verdict(name, w > 0, "%s: reopened for writing, write: %s", target, w > 0 ? "appended" : strerror(e)) |
           esc;
}

/* ---------------------------------------------------------------- privileges */

static int t_ids(int argc, char **argv)
{
    char eff[64] = "?";
    status_field("CapEff", eff, sizeof(eff));
    printf("IDS uid=%d euid=%d gid=%d egid=%d CapEff=%s\n", getuid(), geteuid(), getgid(), getegid(), eff);
    return 0;
}

/* no_new_privs is set; PROGRAM (a setuid-root, or file-capability, copy
 * of ab-escape) run as "PROGRAM ids" gains neither an id nor a capability. */
static int t_nnp(int argc, char **argv)
{
    char v[64] = "?", eff[64] = "?";
    status_field("NoNewPrivs", v, sizeof(v));
    status_field("CapEff", eff, sizeof(eff));
    int esc = verdict("nnp", strcmp(v, "1") != 0, "NoNewPrivs: %s", v);
    for (int i = 0; i < argc; i++) {
        int pfd[2];
        if (pipe(pfd) < 0)
            return 2;
        pid_t p = fork();
        if (p == 0) {
            dup2(pfd[1], 1);
            execl(argv[i], argv[i], "ids", (char *)NULL);
            printf("exec: %s\n", E);
            _exit(127);
        }
        close(pfd[1]);
        char out[512] = "";
        ssize_t n, len = 0;
        while ((n = read(pfd[0], out + len, sizeof(out) - 1 - (size_t)len)) > 0)
            len += n;
        out[len] = '\0';
        out[strcspn(out, "\n")] = '\0';
        close(pfd[0]);
        waitpid(p, NULL, 0);
        int euid = -1;
        char child_eff[64] = "";
        const char *s = strstr(out, "euid=");
        if (s)
            euid = atoi(s + 5);
        s = strstr(out, "CapEff=");
        if (s)
            snprintf(child_eff, sizeof(child_eff), "%s", s + 7);
        if (strncmp(out, "IDS ", 4) != 0) {
            verdict("nnp", 0, "%s did not run: %s", argv[i], out);
            continue;
        }
        int gained = !s || euid != (int)geteuid() || (strtoull(child_eff, NULL, 16) & ~strtoull(eff, NULL, 16));
        esc |= verdict("nnp", gained, "%s: %s", argv[i], out);
    }
    return esc;
}

static int t_caps(int argc, char **argv)
{
    static const char *const keys[] = { "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb" };
    int any = 0;
    char all[256] = "";
    for (size_t i = 0; i < N_ELEMS(keys); i++) {
        char v[64] = "?";
        status_field(keys[i], v, sizeof(v));
        any |= strtoull(v, NULL, 16) != 0;
        size_t l = strlen(all);
        snprintf(all + l, sizeof(all) - l, "%s=%s ", keys[i], v);
    }
    /* root inside has a few capabilities of its own user namespace */
    return verdict("caps", any && getuid() != 0, "uid %d: %s", getuid(), all);
}

static int t_seccomp_mode(int argc, char **argv)
{
    char v[64] = "?";
    status_field("Seccomp", v, sizeof(v));
    return verdict("seccomp-mode", strcmp(v, "2") != 0, "Seccomp: %s", v);
}

static int t_personality(int argc, char **argv)
{
    int esc = 0;
    static const unsigned long flags[] = { READ_IMPLIES_EXEC, ADDR_NO_RANDOMIZE, MMAP_PAGE_ZERO,
                                           0xdead00000000UL | READ_IMPLIES_EXEC, 0x80000000UL | ADDR_NO_RANDOMIZE };
    for (size_t i = 0; i < N_ELEMS(flags); i++) {
        long r = syscall(SYS_personality, flags[i]);
        unsigned long now = (unsigned long)syscall(SYS_personality, 0xffffffffUL);
        int bad = (now & (READ_IMPLIES_EXEC | ADDR_NO_RANDOMIZE | MMAP_PAGE_ZERO)) != 0;
        esc |= verdict("personality", bad, "personality(%#lx): %s, now %#lx", flags[i], res(r, "accepted"), now);
        if (bad)
            syscall(SYS_personality, 0UL);
    }
    return esc;
}

/* ---------------------------------------------------------------- other ABIs */

#if defined(__x86_64__)
static int t_x32(int argc, char **argv)
{
    long r = syscall(__X32_SYSCALL_BIT | SYS_getpid);
    return verdict("x32", r >= 0, "x32 getpid: %s", res(r, "answered"));
}

/* i386 system calls through int $0x80 from this 64-bit process: the
 * filter must apply the same rules to them.  Arguments are 32-bit, so
 * pointers must be below 4 GiB: static buffers of this non-PIE binary. */
static long int80(long nr, long a, long b, long c, long d, long e)
{
    long r;
    __asm__ volatile("int $0x80"
                     : "=a"(r)
                     : "a"(nr), "b"(a), "c"(b), "d"(c), "S"(d), "D"(e)
                     : "memory", "r8", "r9", "r10", "r11");
    return r;
}

static char i386_tmpfs[] = "tmpfs", i386_tmp[] = "/tmp", i386_proc[] = "/proc/kcore", i386_user[] = "user",
            i386_desc[] = "appbox-test", i386_c = '#';
static union bpf_attr i386_bpf;

static int t_i386(int argc, char **argv)
{
    static const struct {
        const char *what;
        long nr, a, b, c, d, e;
    } calls[] = {
        /* the namespace and root changing calls last: they would affect the rest */
        { "clone(CLONE_NEWUSER)", 120, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0 },
        { "keyctl(GET_KEYRING_ID)", 288, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0, 0, 0 },
        { "add_key", 286, (long)i386_user, (long)i386_desc, (long)&i386_c, 1, KEY_SPEC_PROCESS_KEYRING },
        { "ioctl(0, TIOCSTI)", 54, 0, TIOCSTI, (long)&i386_c, 0, 0 },
        { "personality(READ_IMPLIES_EXEC)", 136, READ_IMPLIES_EXEC, 0, 0, 0, 0 },
        { "userfaultfd(UFFD_USER_MODE_ONLY)", 374, UFFD_USER_MODE_ONLY, 0, 0, 0, 0 },
        { "ptrace(PTRACE_ATTACH, 1)", 26, PTRACE_ATTACH, 1, 0, 0, 0 },
        { "bpf(BPF_MAP_CREATE)", 357, BPF_MAP_CREATE, (long)&i386_bpf, sizeof(i386_bpf), 0, 0 },
        { "umount(/proc/kcore)", 22, (long)i386_proc, 0, 0, 0, 0 },
        { "umount2(/proc/kcore)", 52, (long)i386_proc, MNT_DETACH, 0, 0, 0 },
        { "mount(tmpfs)", 21, (long)i386_tmpfs, (long)i386_tmp, (long)i386_tmpfs, 0, 0 },
        { "unshare(CLONE_NEWUSER)", 310, CLONE_NEWUSER, 0, 0, 0, 0 }, /* not after chroot: EPERM there */
        { "chroot(/tmp)", 61, (long)i386_tmp, 0, 0, 0, 0 },
    };
    i386_bpf.map_type = BPF_MAP_TYPE_ARRAY;
    i386_bpf.key_size = 4;
    i386_bpf.value_size = 4;
    i386_bpf.max_entries = 1;
    int esc = 0;
    for (size_t i = 0; i < N_ELEMS(calls); i++) {
        long r = int80(calls[i].nr, calls[i].a, calls[i].b, calls[i].c, calls[i].d, calls[i].e);
        if (r == 0 && calls[i].nr == 120)
            int80(1, 0, 0, 0, 0, 0); /* the child of clone: exit */
        if (r > 0 && calls[i].nr == 120)
            waitpid((pid_t)r, NULL, 0);
        if (r == -ENOSYS && i == 0 && int80(20, 0, 0, 0, 0, 0) == -ENOSYS) /* getpid */
            return verdict("i386", 0, "int $0x80 answers ENOSYS: no IA32 emulation in this kernel");
        int bad = r >= 0;
        esc |= verdict("i386", bad, "i386 %s: %s", calls[i].what, r >= 0 ? "accepted" : strerror((int)-r));
        if (bad && calls[i].nr == 136)
            int80(136, 0, 0, 0, 0, 0);
    }
    return esc;
}

/* The ELF entry point.  The kernel starts ab-escape either as a program
 * (AT_ENTRY is ab_entry: go on to glibc's _start) or as the ELF
 * interpreter of another program, here appbox re-executed in the container
 * through "#!/proc/self/exe" (AT_ENTRY is appbox's).  Then glibc cannot
 * start (its auxv describes appbox), so ab_interp works with raw system
 * calls: it opens /proc/self/exe (appbox) as O_PATH and execs
 * `ab-escape exe-reopen FD` from the same file, which lets go of appbox's
 * image while keeping the fd. */
void ab_entry(void);
__asm__(".text\n"
        ".globl ab_entry\n"
        ".type ab_entry, @function\n"
        "ab_entry:\n"
        "  mov %rsp, %r12\n"
        "  mov %rsp, %rdi\n"
        "  and $-16, %rsp\n"
        "  call ab_interp\n"
        "  mov %r12, %rsp\n"
        "  xor %edx, %edx\n"
        "  jmp _start\n");

#define INTERP_PATH "/lib64/ld-linux-x86-64.so.2"

__attribute__((no_stack_protector)) static long sys3(long nr, long a, long b, long c)
{
    long r;
    __asm__ volatile("syscall" : "=a"(r) : "a"(nr), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
    return r;
}

__attribute__((used, no_stack_protector)) void ab_interp(long *sp);
__attribute__((used, no_stack_protector)) void ab_interp(long *sp)
{
    long argc = sp[0];
    char **envp = (char **)(sp + 1 + argc + 1);
    char **e = envp;
    while (*e)
        e++;
    unsigned long entry = 0;
    for (unsigned long *av = (unsigned long *)(e + 1); av[0] != 0; av += 2)
        if (av[0] == 9 /* AT_ENTRY */)
            entry = av[1];
    if (entry == (unsigned long)&ab_entry)
        return; /* an ordinary start */
    static const char exe[] = "/proc/self/exe", stage2[] = "exe-reopen", interp[] = INTERP_PATH,
                      fallback[] = "/ab-escape", msg[] = "ab-escape: cannot start the second stage\n";
    long fd = sys3(SYS_open, (long)exe, O_PATH, 0);
    if (fd < 0)
        fd = 0;
    char fdstr[12];
    int i = 0;
    char tmp[12];
    do {
        tmp[i++] = (char)('0' + fd % 10);
        fd /= 10;
    } while (fd && i < 11);
    for (int j = 0; j < i; j++)
        fdstr[j] = tmp[i - 1 - j];
    fdstr[i] = '\0';
    const char *nargv[] = { "ab-escape", stage2, fdstr, 0 };
    sys3(SYS_execve, (long)interp, (long)nargv, (long)envp);
    sys3(SYS_execve, (long)fallback, (long)nargv, (long)envp);
    sys3(SYS_write, 2, (long)msg, sizeof(msg) - 1);
    sys3(SYS_exit_group, 126, 0, 0);
}
#endif

/* ------------------------------------------------------ set-id, sockets */

#ifndef AF_VSOCK
#define AF_VSOCK 40
#endif
#ifndef O_TMPFILE
#define O_TMPFILE (020000000 | O_DIRECTORY)
#endif
#define NR_FCHMODAT2 452
#define NR_OPENAT2 437
#define NR_IO_URING_SETUP 425
#define NR_IO_URING_ENTER 426
#define NR_IO_URING_REGISTER 427

/* One set-id attempt: RC (and ERRNUM) of the call; the result is checked
 * on PATH, or on FD when PATH is NULL.  Escaped: the call worked and a
 * set-id bit is on the file.  The detail names the errno, so the suite can
 * tell the filter's EPERM from the kernel dropping the bit. */
static int setid_result(const char *name, const char *what, long rc, int errnum, const char *path, int fd)
{
    if (rc < 0)
        return verdict(name, 0, "%s: %s", what, strerror(errnum));
    struct stat st;
    int sr = path ? lstat(path, &st) : fstat(fd, &st);
    if (sr < 0)
        return verdict(name, 0, "%s: succeeded, but no file: %s", what, E);
    int bad = (st.st_mode & (S_ISUID | S_ISGID)) != 0;
    return verdict(name, bad, "%s: succeeded, mode %04o", what, (unsigned)(st.st_mode & 07777));
}

/* chmod u+s/g+s on a file of our own in DIR (a read-write bind): */
static int t_setid_chmod(int argc, char **argv)
{
    const char *dir = argc > 0 ? argv[0] : "/tmp";
    char path[4096];
    snprintf(path, sizeof(path), "%s/setid-chmod", dir);
    umask(0);
    unlink(path);
    int fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0755);
    if (fd < 0)
        return verdict("setid-chmod", 0, "cannot create %s: %s", path, E) + 1;
    struct {
        const char *what;
        int nr;
        long a, b, c, d;
    } calls[] = {
#ifdef SYS_chmod
        { "chmod(04755)", SYS_chmod, (long)path, 04755, 0, 0 },
        { "chmod(02755)", SYS_chmod, (long)path, 02755, 0, 0 },
#endif
        { "fchmod(04755)", SYS_fchmod, fd, 04755, 0, 0 },
        { "fchmodat(06755)", SYS_fchmodat, AT_FDCWD, (long)path, 06755, 0 },
        { "fchmodat2(04755)", NR_FCHMODAT2, AT_FDCWD, (long)path, 04755, 0 },
    };
    int esc = 0;
    for (size_t i = 0; i < N_ELEMS(calls); i++) {
        fchmod(fd, 0755);
        long rc = syscall(calls[i].nr, calls[i].a, calls[i].b, calls[i].c, calls[i].d);
        esc |= setid_result("setid-chmod", calls[i].what, rc, errno, path, -1);
    }
    close(fd);
    unlink(path);
    return esc;
}

struct ab_open_how {
    uint64_t flags, mode, resolve;
};

/* New files with a set-id mode in DIR: open/openat/creat with O_CREAT,
 * O_TMPFILE, openat2. */
static int t_setid_open(int argc, char **argv)
{
    const char *dir = argc > 0 ? argv[0] : "/tmp";
    char path[4096];
    snprintf(path, sizeof(path), "%s/setid-open", dir);
    umask(0);
    int esc = 0;
    long rc;
#ifdef SYS_open
    unlink(path);
    rc = syscall(SYS_open, (long)path, O_CREAT | O_WRONLY | O_EXCL | O_CLOEXEC, 04755);
    esc |= setid_result("setid-open", "open(O_CREAT, 04755)", rc, errno, path, -1);
    if (rc >= 0)
        close((int)rc);
#endif
    unlink(path);
    rc = syscall(SYS_openat, AT_FDCWD, (long)path, O_CREAT | O_WRONLY | O_EXCL | O_CLOEXEC, 06755);
    esc |= setid_result("setid-open", "openat(O_CREAT, 06755)", rc, errno, path, -1);
    if (rc >= 0)
        close((int)rc);
#ifdef SYS_creat
    unlink(path);
    rc = syscall(SYS_creat, (long)path, 04755);
    esc |= setid_result("setid-open", "creat(04755)", rc, errno, path, -1);
    if (rc >= 0)
        close((int)rc);
#endif
    unlink(path);
    rc = syscall(SYS_openat, AT_FDCWD, (long)dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, 04755);
    esc |= setid_result("setid-open", "openat(O_TMPFILE, 04755)", rc, errno, NULL, (int)rc);
    if (rc >= 0)
        close((int)rc);
    struct ab_open_how how = { .flags = O_CREAT | O_WRONLY | O_EXCL | O_CLOEXEC, .mode = 04755 };
    rc = syscall(NR_OPENAT2, AT_FDCWD, (long)path, (long)&how, sizeof(how));
    esc |= setid_result("setid-open", "openat2(O_CREAT, 04755)", rc, errno, path, -1);
    if (rc >= 0)
        close((int)rc);
    unlink(path);
    return esc;
}

/* Directories with S_ISGID (set-group-id directories pass their group on;
 * Linux takes the bit from the parent, not from the mode, but the filter
 * refuses the mode anyway). */
static int t_setid_mkdir(int argc, char **argv)
{
    const char *dir = argc > 0 ? argv[0] : "/tmp";
    char path[4096];
    snprintf(path, sizeof(path), "%s/setid-mkdir", dir);
    umask(0);
    int esc = 0;
    long rc;
#ifdef SYS_mkdir
    rmdir(path);
    rc = syscall(SYS_mkdir, (long)path, 02755);
    esc |= setid_result("setid-mkdir", "mkdir(02755)", rc, errno, path, -1);
#endif
    rmdir(path);
    rc = syscall(SYS_mkdirat, AT_FDCWD, (long)path, 06755);
    esc |= setid_result("setid-mkdir", "mkdirat(06755)", rc, errno, path, -1);
    rmdir(path);
    return esc;
}

/* Regular files made by mknod with a set-id mode. */
static int t_setid_mknod(int argc, char **argv)
{
    const char *dir = argc > 0 ? argv[0] : "/tmp";
    char path[4096];
    snprintf(path, sizeof(path), "%s/setid-mknod", dir);
    umask(0);
    int esc = 0;
    long rc;
#ifdef SYS_mknod
    unlink(path);
    rc = syscall(SYS_mknod, (long)path, S_IFREG | 04755, 0);
    esc |= setid_result("setid-mknod", "mknod(S_IFREG|04755)", rc, errno, path, -1);
#endif
    unlink(path);
    rc = syscall(SYS_mknodat, AT_FDCWD, (long)path, S_IFREG | 06755, 0);
    esc |= setid_result("setid-mknod", "mknodat(S_IFREG|06755)", rc, errno, path, -1);
    unlink(path);
    return esc;
}

/* AF_VSOCK is not network-namespaced: it reaches the hypervisor and the
 * host's vsock services from any namespace. */
static int t_vsock(int argc, char **argv)
{
    (void)argc, (void)argv;
    static const struct {
        const char *what;
        int type;
    } kinds[] = { { "socket(AF_VSOCK, SOCK_STREAM)", SOCK_STREAM }, { "socket(AF_VSOCK, SOCK_DGRAM)", SOCK_DGRAM },
                  { "socket(AF_VSOCK, SOCK_SEQPACKET)", SOCK_SEQPACKET } };
    int esc = 0;
    for (size_t i = 0; i < N_ELEMS(kinds); i++) {
        int fd = socket(AF_VSOCK, kinds[i].type | SOCK_CLOEXEC, 0);
        esc |= verdict("vsock", fd >= 0, "%s: %s", kinds[i].what, fd >= 0 ? "a socket" : E);
        if (fd >= 0)
            close(fd);
    }
    int sv[2];
    int r = socketpair(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0, sv);
    esc |= verdict("vsock", r == 0, "socketpair(AF_VSOCK): %s", r == 0 ? "a pair" : E);
    return esc;
}

/* io_uring: ESCAPED here means io_uring works (the default filter must
 * refuse it; with --io-uring allow the suite expects it to work). */
static int t_io_uring(int argc, char **argv)
{
    (void)argc, (void)argv;
    unsigned char params[120] = { 0 }; /* struct io_uring_params */
    long fd = syscall(NR_IO_URING_SETUP, 4, (long)params);
    int esc = verdict("io-uring", fd >= 0, "io_uring_setup: %s", fd >= 0 ? "a ring" : E);
    if (fd >= 0)
        close((int)fd);
    long rc = syscall(NR_IO_URING_ENTER, -1, 0, 0, 0, 0, 0);
    esc |= verdict("io-uring", 0, "io_uring_enter(-1): %s", rc < 0 ? E : "0");
    rc = syscall(NR_IO_URING_REGISTER, -1, 0, 0, 0);
    esc |= verdict("io-uring", 0, "io_uring_register(-1): %s", rc < 0 ? E : "0");
    return esc;
}

/* ---------------------------------------------------------------- table */

static const struct {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *args;
} tests[] = {
    { "tiocsti", t_tiocsti, "" },                   /* push input into a terminal */
    { "tiocsti-highbits", t_tiocsti_highbits, "" }, /* ... with high bits in the request */
    { "tioclinux", t_tioclinux, "" },               /* console selection paste */
    { "proc-masked", t_proc_masked, "" },           /* masked /proc and /sys paths */
    { "proc-sys-write", t_proc_sys_write, "" },     /* /proc/sys is read-only */
    { "sys-write", t_sys_write, "" },               /* /sys is read-only */
    { "mount", t_mount, "" },                       /* mount(2) and the new mount API */
    { "umount", t_umount, "" },                     /* uncover what masks hide */
    { "pivot-root", t_pivot_root, "" },
    { "chroot", t_chroot, "" },
    { "unshare-user", t_unshare_user, "" }, /* nested user namespaces */
    { "clone-user", t_clone_user, "" },
    { "clone3", t_clone3, "" },
    { "keyctl", t_keyctl, "" }, /* kernel keyrings are not namespaced */
    { "add-key", t_add_key, "" },
    { "bpf", t_bpf, "" },
    { "perf-event-open", t_perf, "" },
    { "userfaultfd", t_userfaultfd, "" },
    { "ptrace-outside", t_ptrace_outside, "[PID]" },
    { "ptrace", t_ptrace_outside, "[PID]" },
    { "kill-pid", t_kill_pid, "PID" },
    { "open-by-handle", t_open_by_handle, "" }, /* the "shocker" escape */
    { "mknod-block", t_mknod_block, "[PATH]" },
    { "connect-unix", t_connect_unix, "ADDR..." }, /* abstract sockets are per netns */
    { "sysv-ipc", t_sysv_ipc, "KEY" },
    { "fd-leak", t_fd_leak, "" },
    { "cwd-outside", t_cwd_outside, "[MARKER]" },
    { "proc-self-exe-write", t_exe_write, "" }, /* CVE-2019-5736 */
    { "exe-write", t_exe_write, "" },
    { "exe-reopen", t_exe_reopen, "FD [SECONDS]" },
    { "nnp", t_nnp, "[SETUID-PROGRAM...]" },
    { "ids", t_ids, "" },
    { "caps", t_caps, "" },
    { "personality", t_personality, "" },
    { "seccomp-mode", t_seccomp_mode, "" },
    { "setid-chmod", t_setid_chmod, "[DIR]" }, /* set-id programs planted on a bind */
    { "setid-open", t_setid_open, "[DIR]" },
    { "setid-mkdir", t_setid_mkdir, "[DIR]" },
    { "setid-mknod", t_setid_mknod, "[DIR]" },
    { "vsock", t_vsock, "" }, /* AF_VSOCK is not network-namespaced */
    { "io-uring", t_io_uring, "" },
#if defined(__x86_64__)
    { "x32", t_x32, "" },
    { "i386", t_i386, "" },
#endif
};

/* The attempts are meant for a container: on the host, as root, they would
 * really mount, chroot, ... (the initial user namespace maps every id). */
static int on_host(void)
{
    char map[256];
    if (read_file("/proc/self/uid_map", map, sizeof(map)) <= 0)
        return 0;
    unsigned long inside, outside, count;
    return sscanf(map, "%lu %lu %lu", &inside, &outside, &count) == 3 && inside == 0 && outside == 0 &&
           count == 4294967295UL;
}

int main(int argc, char **argv)
{
    static const char *const harmless[] = { "exe-reopen", "ids", "caps", "seccomp-mode" };
    int safe = argc < 2;
    for (size_t i = 0; !safe && i < N_ELEMS(harmless); i++)
        safe = strcmp(argv[1], harmless[i]) == 0;
    if (!safe && on_host() && !getenv("AB_ESCAPE_ON_HOST")) {
        fprintf(stderr, "ab-escape: refusing to run in the initial user namespace (this is for inside a "
                        "container; set AB_ESCAPE_ON_HOST=1 to insist)\n");
        return 2;
    }
    if (argc >= 2)
        for (size_t i = 0; i < N_ELEMS(tests); i++)
            if (strcmp(tests[i].name, argv[1]) == 0)
                return tests[i].fn(argc - 2, argv + 2);
    if (argc >= 2)
        fprintf(stderr, "ab-escape: unknown test %s\n", argv[1]);
    fprintf(stderr, "usage: ab-escape TEST [ARG...]\ntests:\n");
    for (size_t i = 0; i < N_ELEMS(tests); i++)
        fprintf(stderr, "  %s %s\n", tests[i].name, tests[i].args);
    return 2;
}
