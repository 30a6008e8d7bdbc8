#include "runtime/oci_process.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "runtime/pty.h"
#include "runtime/sandbox.h"
#include "runtime/seccomp_filter.h"
#include "spec/oci.h"
#include "util/fdpass.h"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

/* Before READY the runtime is listening (create or exec fails with the
 * message); after it, create has returned and only the process's stderr
 * is left to say why the container did not start. */
static _Noreturn void fail(int sock, const ab_error *err)
{
    if (sock >= 0) {
        sandbox_send_error(sock, err);
    } else {
        dprintf(STDERR_FILENO, "appbox-oci: %s\n", err->msg);
    }
    _exit(ab_error_exit_code(err));
}

static const char *const rlimit_names[] = {
    [RLIMIT_CPU] = "RLIMIT_CPU",         [RLIMIT_FSIZE] = "RLIMIT_FSIZE",   [RLIMIT_DATA] = "RLIMIT_DATA",
    [RLIMIT_STACK] = "RLIMIT_STACK",     [RLIMIT_CORE] = "RLIMIT_CORE",     [RLIMIT_RSS] = "RLIMIT_RSS",
    [RLIMIT_NPROC] = "RLIMIT_NPROC",     [RLIMIT_NOFILE] = "RLIMIT_NOFILE", [RLIMIT_MEMLOCK] = "RLIMIT_MEMLOCK",
    [RLIMIT_AS] = "RLIMIT_AS",           [RLIMIT_LOCKS] = "RLIMIT_LOCKS",   [RLIMIT_SIGPENDING] = "RLIMIT_SIGPENDING",
    [RLIMIT_MSGQUEUE] = "RLIMIT_MSGQUEUE", [RLIMIT_NICE] = "RLIMIT_NICE",   [RLIMIT_RTPRIO] = "RLIMIT_RTPRIO",
    [RLIMIT_RTTIME] = "RLIMIT_RTTIME",
};

static int set_rlimits(const struct spec_oci *o, ab_error *err)
{
    for (size_t i = 0; i < o->n_rlimits; i++) {
        const struct oci_rlimit *l = &o->rlimits[i];
        struct rlimit rl = { .rlim_cur = l->soft == UINT64_MAX ? RLIM_INFINITY : l->soft,
                             .rlim_max = l->hard == UINT64_MAX ? RLIM_INFINITY : l->hard };
        if (setrlimit(l->resource, &rl) < 0) {
            const char *name = l->resource >= 0 && (size_t)l->resource < sizeof(rlimit_names) / sizeof(rlimit_names[0])
                                   ? rlimit_names[l->resource]
                                   : "?";
            return ab_fail(err, errno, "process.rlimits: cannot set %s to %llu:%llu", name,
                           (unsigned long long)l->soft, (unsigned long long)l->hard);
        }
    }
    return 0;
}

/* process.scheduler and process.ioPriority (runtime-spec 1.1), before
 * the capabilities go (a real-time policy needs CAP_SYS_NICE). */
static int set_scheduling(const struct spec_oci *o, ab_error *err)
{
    if (o->sched_set) {
        struct {
            uint32_t size, policy;
            uint64_t flags;
            int32_t nice;
            uint32_t priority;
            uint64_t runtime, deadline, period;
        } attr = { .size = 48, .policy = o->sched_policy, .flags = o->sched_flags, .nice = o->sched_nice,
                   .priority = o->sched_priority, .runtime = o->sched_runtime, .deadline = o->sched_deadline,
                   .period = o->sched_period };
        if (syscall(SYS_sched_setattr, 0, &attr, 0) < 0)
            return ab_fail(err, errno, "process.scheduler: cannot set policy %u", o->sched_policy);
    }
    if (o->ioprio_set && syscall(SYS_ioprio_set, 1 /* IOPRIO_WHO_PROCESS */, 0,
                                 (o->ioprio_class << 13) | o->ioprio_level) < 0)
        return ab_fail(err, errno, "process.ioPriority: cannot set class %d priority %d", o->ioprio_class,
                       o->ioprio_level);
    return 0;
}

int oci_filter_load(const struct spec_oci *o, ab_error *err)
{
    if (!o->seccomp_filter)
        return 0;
    struct sock_fprog prog = { .len = o->seccomp_len, .filter = o->seccomp_filter };
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, o->seccomp_flags, &prog) == 0)
        return 0;
    if (errno == ENOSYS && o->seccomp_flags == 0 && prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) == 0)
        return 0;
    if (errno == EACCES)
        return ab_fail(err, errno,
                       "cannot load the seccomp filter of config.json (%u instructions): the process has "
                       "neither no_new_privs nor CAP_SYS_ADMIN",
                       o->seccomp_len);
    return ab_fail(err, errno, "cannot load the seccomp filter of config.json (%u instructions, flags 0x%x)",
                   o->seccomp_len, o->seccomp_flags);
}

/* The filter: config.json's (compiled by the runtime before the clone),
 * or appbox's own default where config.json has no linux.seccomp. */
static int load_filter(const struct spec_oci *o, ab_error *err)
{
    if (o->seccomp_filter)
        return oci_filter_load(o, err);
    if (o->seccomp_default)
        return seccomp_filter_load(0, err);
    return 0;
}

static int drop_bounding(uint64_t keep, ab_error *err)
{
    for (int cap = 0; cap <= 63; cap++) {
        if (keep & (1ULL << cap))
            continue;
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) {
            if (errno == EINVAL)
                break; /* past the kernel's last capability */
            return ab_fail(err, errno, "process.capabilities.bounding: cannot drop capability %d", cap);
        }
    }
    return 0;
}

static int set_caps(const struct spec_oci *o, ab_error *err)
{
    struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
    struct __user_cap_data_struct d[2] = {
        { (uint32_t)o->cap_effective, (uint32_t)o->cap_permitted, (uint32_t)o->cap_inheritable },
        { (uint32_t)(o->cap_effective >> 32), (uint32_t)(o->cap_permitted >> 32),
          (uint32_t)(o->cap_inheritable >> 32) },
    };
    if (syscall(SYS_capset, &h, d) < 0)
        return ab_fail(err, errno, "process.capabilities: cannot set the effective, permitted and inheritable sets");
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
        return ab_fail(err, errno, "cannot clear the ambient capabilities");
    /* The kernel raises an ambient capability only where it is permitted
     * and inheritable: one that is not (runc's default config lists
     * ambient capabilities without inheritable ones) is left out, as runc
     * and crun do. */
    uint64_t ambient = o->cap_ambient & o->cap_permitted & o->cap_inheritable;
    for (int cap = 0; cap <= 63; cap++)
        if ((ambient & (1ULL << cap)) && prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) < 0)
            return ab_fail(err, errno, "process.capabilities.ambient: cannot raise capability %d", cap);
    return 0;
}

static int take_ids(const struct spec *s, ab_error *err)
{
    const struct spec_oci *o = s->oci;
    uid_t uid = s->process.user.uid;
    gid_t gid = s->process.user.gid;
    if (setgroups(o->n_additional_gids, o->additional_gids) < 0) {
        /* a user namespace whose setgroups is denied (an unprivileged
         * single-id map): only an empty list is what the process has
         * anyway */
        if (errno != EPERM || o->n_additional_gids)
            return ab_fail(err, errno, "process.user: cannot set the supplementary groups");
    }
    if (setresgid(gid, gid, gid) < 0)
        return ab_fail(err, errno, "process.user.gid: cannot become group %u", gid);
    /* keep the permitted set across the uid change: set_caps() then makes
     * the sets exactly what config.json says */
    prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0);
    if (setresuid(uid, uid, uid) < 0)
        return ab_fail(err, errno, "process.user.uid: cannot become user %u", uid);
    prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
    return 0;
}

/* argv[0] as execvp would find it, with the process's own PATH; a
 * command that is not there fails create (as runc's "executable file not
 * found in $PATH"), not the start. */
static int find_executable(const struct spec *s, char *out, size_t size, ab_error *err)
{
    const char *cmd = s->process.argv.v[0];
    if (strchr(cmd, '/')) {
        snprintf(out, size, "%s", cmd);
        if (access(out, F_OK) < 0)
            return ab_error_set(err, AB_ERR_NOTFOUND, errno, "cannot run %s", cmd);
        return 0;
    }
    const char *path = NULL;
    for (size_t i = 0; i < s->process.env.n; i++)
        if (strncmp(s->process.env.v[i], "PATH=", 5) == 0)
            path = s->process.env.v[i] + 5;
    if (!path)
        path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    for (const char *p = path;; p++) {
        const char *end = strchrnul(p, ':');
        int n = snprintf(out, size, "%.*s%s%s", (int)(end - p), p, end > p ? "/" : "", cmd);
        struct stat st;
        if (n > 0 && (size_t)n < size && stat(out, &st) == 0 && S_ISREG(st.st_mode) && access(out, X_OK) == 0)
            return 0;
        if (!*end)
            break;
        p = end;
    }
    return ab_error_set(err, AB_ERR_NOTFOUND, 0, "cannot run %s: executable file not found in $PATH", cmd);
}

/* /dev/console is the process's terminal (runtime-spec's default
 * devices): the pty's peer (now fd 0) bound over it, where /dev lets a
 * mount point be made (a read-only /dev goes without). */
static void bind_console(void)
{
    int f = open("/dev/console", O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC, 0600);
    if (f < 0 && errno != EEXIST)
        return;
    if (f >= 0)
        close(f);
    int t = (int)syscall(SYS_open_tree, STDIN_FILENO, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH);
    if (t < 0)
        return;
    syscall(SYS_move_mount, t, "", AT_FDCWD, "/dev/console", MOVE_MOUNT_F_EMPTY_PATH);
    close(t);
}

void oci_close_inherited(int preserve, int keep_a, int keep_b)
{
    unsigned first = 3u + (unsigned)(preserve > 0 ? preserve : 0);
    int keep[2] = { keep_a < keep_b ? keep_a : keep_b, keep_a < keep_b ? keep_b : keep_a };
    for (int i = 0; i < 2; i++) {
        if (keep[i] < 0 || (unsigned)keep[i] < first)
            continue;
        if ((unsigned)keep[i] > first)
            syscall(SYS_close_range, first, (unsigned)keep[i] - 1, 0);
        first = (unsigned)keep[i] + 1;
    }
    syscall(SYS_close_range, first, ~0U, 0);
}

/* Until `start` writes the fifo (poll sees no hang-up before a writer
 * ever came: it sleeps).  A byte arrives: go on. */
static int wait_for_start(int fifo_fd)
{
    int flags = fcntl(fifo_fd, F_GETFL);
    if (flags >= 0)
        fcntl(fifo_fd, F_SETFL, flags & ~O_NONBLOCK);
    for (;;) {
        struct pollfd p = { .fd = fifo_fd, .events = POLLIN };
        if (poll(&p, 1, -1) < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        char c;
        ssize_t n = read(fifo_fd, &c, 1);
        if (n == 1)
            return 0;
        if (n < 0 && errno == EINTR)
            continue;
        return n == 0 ? -EPIPE : -errno;
    }
}

_Noreturn void oci_process_main(const struct spec *s, int sock, int fifo_fd)
{
    const struct spec_oci *o = s->oci;
    const struct spec_process *p = &s->process;
    ab_error err = { 0 };

    if (p->terminal) {
        struct winsize ws = { .ws_row = o->console_height, .ws_col = o->console_width };
        if (setsid() < 0 && errno != EPERM) {
            ab_fail(&err, errno, "cannot start a new session for the terminal");
            fail(sock, &err);
        }
        int master = pty_open_controlling(&ws, &err);
        if (master < 0)
            fail(sock, &err);
        struct sandbox_msg m = { .type = SANDBOX_MSG_PTY };
        if (fd_send(sock, master, &m, sizeof(m)) < 0) {
            ab_fail(&err, errno, "cannot hand the terminal to the runtime");
            fail(sock, &err);
        }
        close(master);
        /* the container's console is PID 1's terminal, not an exec's */
        if (fifo_fd >= 0)
            bind_console();
    }
    if (set_rlimits(o, &err) < 0)
        fail(sock, &err);
    if (o->personality_set && personality(o->personality) < 0) {
        ab_fail(&err, errno, "linux.personality: cannot set it");
        fail(sock, &err);
    }
    if (o->umask_set)
        umask(o->umask);
    if (set_scheduling(o, &err) < 0)
        fail(sock, &err);
    if (drop_bounding(o->cap_bounding, &err) < 0)
        fail(sock, &err);
    /* without no_new_privs the filter needs CAP_SYS_ADMIN to go in: before
     * the ids and capabilities change (runc's order); the calls after it
     * are the filter's to allow */
    if (!o->no_new_privileges && load_filter(o, &err) < 0)
        fail(sock, &err);
    if (take_ids(s, &err) < 0 || set_caps(o, &err) < 0)
        fail(sock, &err);
    if (p->cwd && chdir(p->cwd) < 0) {
        ab_fail(&err, errno, "process.cwd: cannot change to %s", p->cwd);
        fail(sock, &err);
    }
    char exe[PATH_MAX];
    if (find_executable(s, exe, sizeof(exe), &err) < 0)
        fail(sock, &err);
    if (o->no_new_privileges && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
        ab_fail(&err, errno, "process.noNewPrivileges: cannot set it");
        fail(sock, &err);
    }

    if (fifo_fd >= 0) {
        /* set up: create returns; the rest is after start */
        struct sandbox_msg ready = { .type = SANDBOX_MSG_READY };
        fd_send(sock, -1, &ready, sizeof(ready));
        close(sock);
        sock = -1;
        int r = wait_for_start(fifo_fd);
        if (r < 0) {
            ab_fail(&err, -r, "the container was not started (its exec fifo)");
            fail(sock, &err);
        }
        close(fifo_fd);
        char msg[512];
        if (o->start_container_hooks && o->start_container_hooks(o, o->hooks_arg, msg, sizeof(msg)) < 0) {
            ab_fail(&err, 0, "%s", msg);
            fail(sock, &err);
        }
    }

    /* 0-2 and the preserved fds cross exec, nothing else (the sync socket
     * is close-on-exec: its end of file tells exec's caller it ran) */
    unsigned first = 3u + (unsigned)(o->preserve_fds > 0 ? o->preserve_fds : 0);
    for (unsigned fd = 3; fd < first; fd++) {
        int fl = fcntl((int)fd, F_GETFD);
        if (fl >= 0)
            fcntl((int)fd, F_SETFD, fl & ~FD_CLOEXEC);
    }
    if (syscall(SYS_close_range, first, ~0U, CLOSE_RANGE_CLOEXEC) < 0) {
        ab_fail(&err, errno, "cannot close inherited file descriptors");
        fail(sock, &err);
    }
    if (o->no_new_privileges && load_filter(o, &err) < 0)
        fail(sock, &err);
    execve(exe, p->argv.v, p->env.v ? p->env.v : (char *[]){ NULL });
    int e = errno;
    ab_error_set(&err, e == ENOENT ? AB_ERR_NOTFOUND : AB_ERR_EXEC, e, "cannot run %s", exe);
    fail(sock, &err);
}

/* KEY with dots, as config.json has it ("net.ipv4.ping_group_range"), is
 * /proc/sys/net/ipv4/ping_group_range; no ".." and no "/" in it. */
static int write_sysctl(const char *kv, ab_error *err)
{
    const char *eq = strchr(kv, '=');
    if (!eq || eq == kv || memchr(kv, '/', (size_t)(eq - kv)) || strstr(kv, ".."))
        return ab_usage(err, "config.json: linux.sysctl: '%s' is not a sysctl name", kv);
    char path[PATH_MAX];
    int n = snprintf(path, sizeof(path), "/proc/sys/%.*s", (int)(eq - kv), kv);
    if (n < 0 || (size_t)n >= sizeof(path))
        return ab_usage(err, "config.json: linux.sysctl: '%.*s' is too long", (int)(eq - kv), kv);
    for (char *c = path + strlen("/proc/sys/"); *c; c++)
        if (*c == '.')
            *c = '/';
    int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return ab_fail(err, errno, "config.json: linux.sysctl: cannot set %.*s", (int)(eq - kv), kv);
    size_t len = strlen(eq + 1);
    ssize_t w = write(fd, eq + 1, len);
    int e = errno;
    close(fd);
    if (w != (ssize_t)len)
        return ab_fail(err, w < 0 ? e : EIO, "config.json: linux.sysctl: cannot set %.*s to '%s'", (int)(eq - kv), kv,
                       eq + 1);
    return 0;
}

static int oci_before_pivot(struct inside *in, ab_error *err)
{
    const struct spec_oci *o = in->spec->oci;
    if (!o)
        return 0;
    for (size_t i = 0; i < o->sysctl.n; i++) {
        int r = write_sysctl(o->sysctl.v[i], err);
        if (r < 0)
            return r;
    }
    if (o->oom_score_adj_set) {
        char text[16];
        snprintf(text, sizeof(text), "%d", o->oom_score_adj);
        int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
        ssize_t w = fd < 0 ? -1 : write(fd, text, strlen(text));
        int e = errno;
        if (fd >= 0)
            close(fd);
        if (w < 0)
            return ab_fail(err, e, "process.oomScoreAdj: cannot set it to %d", o->oom_score_adj);
    }
    if (o->domainname && (in->spec->container.namespaces & CLONE_NEWUTS) &&
        setdomainname(o->domainname, strlen(o->domainname)) < 0)
        return ab_fail(err, errno, "domainname: cannot set it to %s", o->domainname);
    return 0;
}

/* linux.rootfsPropagation: the container's root mount, once pivoted (the
 * tree was made private first, so nothing built it reached the host). */
static int oci_after_pivot(struct inside *in, ab_error *err)
{
    const struct spec_oci *o = in->spec->oci;
    if (o && o->rootfs_propagation && mount(NULL, "/", NULL, o->rootfs_propagation, NULL) < 0)
        return ab_fail(err, errno, "linux.rootfsPropagation: cannot set the root's propagation");
    return 0;
}

const struct module oci_module = {
    .name = "oci",
    .before_pivot = oci_before_pivot,
    .after_pivot = oci_after_pivot,
};
