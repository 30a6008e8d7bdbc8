#include "runtime/boot.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cgroup/cgroup.h"
#include "cgroup/delegate.h"
#include "runtime/idmap.h"
#include "runtime/seccomp_filter.h"
#include "util/cleanup.h"
#include "util/fsutil.h"

bool boot_enabled(const struct spec *s)
{
    return s && s->container.init == SPEC_INIT_BOOT;
}

/* A stable 128-bit id for the container: from its root's path (a named
 * container's root is its own, in the store), so that every boot of the
 * same container has the same machine id, as nspawn's do for a machine.
 * Two FNV-1a hashes, mixed (splitmix64): an id, not a secret. */
static void container_id(const struct spec *s, uint8_t id[16])
{
    const char *key = s->container.root ? s->container.root : "";
    uint64_t h[2] = { 0xcbf29ce484222325ULL, 0x84222325cbf29ce4ULL };
    for (int k = 0; k < 2; k++) {
        for (const char *p = key; *p; p++)
            h[k] = (h[k] ^ (uint8_t)*p) * 0x100000001b3ULL;
        uint64_t z = h[k] + 0x9e3779b97f4a7c15ULL * (uint64_t)(k + 1);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        h[k] = z ^ (z >> 31);
    }
    for (int i = 0; i < 8; i++) {
        id[i] = (uint8_t)(h[0] >> (8 * i));
        id[8 + i] = (uint8_t)(h[1] >> (8 * i));
    }
    id[6] = (id[6] & 0x0f) | 0x40; /* a version 4 UUID, as systemd makes them */
    id[8] = (id[8] & 0x3f) | 0x80;
}

/* The machine id (32 hex digits) or, with DASHES, the same as a UUID. */
static void format_id(const uint8_t id[16], bool dashes, char out[37])
{
    char *o = out;
    for (int i = 0; i < 16; i++) {
        if (dashes && (i == 4 || i == 6 || i == 8 || i == 10))
            *o++ = '-';
        o += sprintf(o, "%02x", id[i]);
    }
}

/* The host id that inside id 0 has in M, or -1. */
static int64_t root_outside(const struct spec_idmap *m)
{
    for (size_t i = 0; i < m->n; i++)
        if (m->r[i].inside == 0 && m->r[i].count > 0)
            return m->r[i].outside;
    return -1;
}

/* Whether host id OUTSIDE is mapped in M. */
static bool idmap_contains_outside(const struct spec_idmap *m, uint32_t outside)
{
    for (size_t i = 0; i < m->n; i++)
        if (outside >= m->r[i].outside && outside - m->r[i].outside < m->r[i].count)
            return true;
    return false;
}

/* Whether the root (or, under an overlay, its lower layer) has an init. */
static bool root_has_init(const struct spec_container *c)
{
    const char *roots[] = { c->root, c->root_lower };
    for (size_t i = 0; i < 2; i++) {
        if (!roots[i])
            continue;
        _cleanup_close_ int rootfd = open(roots[i], O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (rootfd < 0)
            continue;
        _cleanup_close_ int fd = fs_open_in_root(rootfd, "/sbin/init", O_PATH);
        struct stat st;
        if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
            return true;
    }
    return false;
}

static int boot_prepare(struct runner *r, ab_error *err)
{
    const struct spec_container *c = &r->spec->container;
    if (!boot_enabled(r->spec))
        return 0;
    if (!c->root)
        return ab_usage(err, "--boot (Boot=) needs a root file system with its own init (--root, or a named "
                             "container)");
    if (!r->name)
        return ab_usage(err, "--boot (Boot=) boots a named container: appbox create NAME --base ... --boot, then "
                             "appbox start NAME (appbox sandbox runs a command, not a system)");
    if (!root_has_init(c))
        return ab_usage(err, "--boot (Boot=): %s has no /sbin/init to boot (install systemd-sysv in it, or "
                             "start it without --boot)", c->root);
    if (!idmap_contains(&c->uid_map, 0) || !idmap_contains(&c->gid_map, 0) || root_outside(&c->uid_map) < 0 ||
        root_outside(&c->gid_map) < 0)
        return ab_usage(err, "--boot (Boot=) needs root mapped in the container (an ordinary user needs a range "
                             "in /etc/subuid and /etc/subgid): the init runs as the container's root");
    /* The container's group in the v2 hierarchy (cgroup/set.c: made in the
     * cgroup module's prepare, PID 1 put in it before "go"), which systemd
     * inside takes over. */
    if (!cgroup_v2_dir(r->spec)) {
        if (!cgroup_v2_mount())
            return ab_fail(err, ENOENT, "--boot needs a cgroup v2 hierarchy (systemd inside wants one at "
                                        "/sys/fs/cgroup), and this machine mounts none");
        if (getuid() != 0)
            return ab_fail(err, EACCES,
                           "--boot as an ordinary user needs a delegated cgroup v2 group (systemd inside wants a "
                           "cgroup of its own, and no group of yours in the v2 hierarchy is writable: run appbox "
                           "from a systemd user service or scope with Delegate=yes, e.g. systemd-run --user "
                           "--scope -p Delegate=yes appbox start NAME)");
        return ab_fail(err, EACCES, "--boot: the cgroup v2 hierarchy is not writable here (read-only, or appbox "
                                    "runs inside another container without a delegated group)");
    }
    return 0;
}

static int boot_host_setup(struct runner *r, ab_error *err)
{
    if (!boot_enabled(r->spec))
        return 0;
    const struct spec_container *c = &r->spec->container;
    const char *path = cgroup_v2_dir(r->spec);
    if (!path)
        return ab_fail(err, ENOENT, "--boot: the container has no cgroup v2 group");
    /* An ordinary user cannot chown to its subordinate ids, and need not:
     * the group is the user's own (made in a group delegated to it), and
     * the user's uid is mapped in the container, where its root may then
     * write the group's files (CAP_DAC_OVERRIDE over a mapped owner). */
    if (getuid() != 0) {
        if (!idmap_contains_outside(&c->uid_map, getuid()))
            return ab_fail(err, EPERM, "--boot: your uid %u is not mapped in the container, so its root could "
                                       "not manage the cgroup %s", getuid(), path);
        return 0;
    }
    return cgroup_delegate(path, (uid_t)root_outside(&c->uid_map), (gid_t)root_outside(&c->gid_map), err);
}

static int console_master = -1;

int boot_take_console(void)
{
    int fd = console_master;
    console_master = -1;
    return fd;
}

/* A pty of the container's own devpts: its slave becomes /dev/console
 * (what the init and its getty write to), its master goes to the runner. */
static int make_console(ab_error *err)
{
    int master = open("/dev/pts/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (master < 0)
        return ab_fail(err, errno, "--boot: cannot open the container's /dev/pts/ptmx for its console");
    int unlock = 0, n = -1;
    if (ioctl(master, TIOCSPTLCK, &unlock) < 0 || ioctl(master, TIOCGPTN, &n) < 0) {
        int e = errno;
        close(master);
        return ab_fail(err, e, "--boot: cannot unlock the console pty");
    }
    char slave[32];
    snprintf(slave, sizeof(slave), "/dev/pts/%d", n);
    int fd = open("/dev/console", O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd >= 0)
        close(fd);
    if (fd < 0 || mount(slave, "/dev/console", NULL, MS_BIND, NULL) < 0) {
        int e = errno;
        close(master);
        return ab_fail(err, e, "--boot: cannot bind the console pty %s to /dev/console", slave);
    }
    console_master = master;
    return 0;
}

/* /etc/machine-id: the root's own when it has one; else (empty, missing,
 * "uninitialized": a fresh bootstrap) the container's stable id, bound
 * over it from /run (a bind, not a write: a read-only root works too, and
 * the root's file stays as it was). */
static int machine_id(const struct spec *s, ab_error *err)
{
    char buf[64] = { 0 };
    int fd = open("/etc/machine-id", O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
    if (fd >= 0)
        close(fd);
    if (n >= 32 && strncmp(buf, "uninitialized", 13) != 0)
        return 0;
    if (fd < 0) {
        /* a root without the file: made where the root is writable, else
         * systemd makes its own (from container_uuid) */
        fd = open("/etc/machine-id", O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0444);
        if (fd < 0)
            return 0;
        close(fd);
    }
    uint8_t id[16];
    container_id(s, id);
    char text[40];
    format_id(id, false, text);
    strcat(text, "\n");
    fd = open("/run/machine-id", O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0444);
    if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text)) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        return ab_fail(err, e, "--boot: cannot write /run/machine-id");
    }
    close(fd);
    if (mount("/run/machine-id", "/etc/machine-id", NULL, MS_BIND, NULL) < 0 ||
        mount(NULL, "/etc/machine-id", NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL) < 0)
        return ab_fail(err, errno, "--boot: cannot bind /run/machine-id to /etc/machine-id");
    return 0;
}

static int boot_after_pivot(struct inside *in, ab_error *err)
{
    if (!boot_enabled(in->spec))
        return 0;
    /* A fresh cgroup2 of the container's cgroup namespace: its root is the
     * delegated group, which the init inside may manage. */
    if (mount("cgroup2", "/sys/fs/cgroup", "cgroup2", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
        return ab_fail(err, errno, "--boot: cannot mount cgroup2 at /sys/fs/cgroup in the container");
    int r = machine_id(in->spec, err);
    return r < 0 ? r : make_console(err);
}


const struct module boot_module = {
    .name = "boot",
    .prepare = boot_prepare,
    .host_setup = boot_host_setup,
    .after_pivot = boot_after_pivot,
};


_Noreturn void boot_exec_init(const struct spec *s, int lifeline)
{
    /* The console as fds 0-2 and the controlling terminal of a session of
     * the init's own (what nspawn gives it). */
    int con = open("/dev/console", O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (con >= 0) {
        setsid();
        ioctl(con, TIOCSCTTY, 0);
        for (int i = 0; i < 3; i++)
            dup2(con, i);
        if (con > 2)
            close(con);
    }
    /* Root of the container, with every capability of its user namespace
     * (its exec as uid 0 keeps them); no no_new_privs: su, login and
     * systemd's own units change ids. */
    if ((setgroups(0, NULL) < 0 && errno != EPERM) || setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0) {
        fprintf(stderr, "appbox: --boot: cannot become the container's root: %s\n", strerror(errno));
        _exit(125);
    }
    /* The bounding set nspawn gives its containers (its default
     * retain list): what a booted system uses, without the calls that
     * only a machine's own kernel and hardware answer (raw I/O, modules,
     * the clock, MAC, syslog); units that need those have
     * ConditionCapability= and are skipped, as in nspawn.  CAP_NET_ADMIN
     * only with a network namespace of the container's own. */
    uint64_t keep = 0;
    static const int retain[] = { CAP_AUDIT_CONTROL, CAP_AUDIT_WRITE, CAP_CHOWN, CAP_DAC_OVERRIDE,
                                  CAP_DAC_READ_SEARCH, CAP_FOWNER, CAP_FSETID, CAP_IPC_OWNER, CAP_KILL, CAP_LEASE,
                                  CAP_LINUX_IMMUTABLE, CAP_MKNOD, CAP_NET_BIND_SERVICE, CAP_NET_BROADCAST,
                                  CAP_NET_RAW, CAP_SETFCAP, CAP_SETGID, CAP_SETPCAP, CAP_SETUID, CAP_SYS_ADMIN,
                                  CAP_SYS_BOOT, CAP_SYS_CHROOT, CAP_SYS_NICE, CAP_SYS_PTRACE, CAP_SYS_RESOURCE,
                                  CAP_SYS_TTY_CONFIG };
    for (size_t i = 0; i < sizeof(retain) / sizeof(retain[0]); i++)
        keep |= 1ULL << retain[i];
    if (s->container.net != NET_HOST)
        keep |= 1ULL << CAP_NET_ADMIN;
    for (int cap = 0; cap <= 63 && prctl(PR_CAPBSET_READ, cap, 0, 0, 0) >= 0; cap++)
        if (!(keep & (1ULL << cap)) && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) {
            fprintf(stderr, "appbox: --boot: cannot drop capability %d from the bounding set: %s\n", cap,
                    strerror(errno));
            _exit(125);
        }
    /* appbox's seccomp filter, its boot variant (see seccomp_filter.h):
     * inherited by every process of the system; loaded without
     * no_new_privs, which root of the user namespace may (CAP_SYS_ADMIN
     * there), so that su, sudo and login keep working. */
    ab_error serr = { 0 };
    if (s->process.seccomp &&
        seccomp_filter_load(SECCOMP_BOOT | (s->process.io_uring ? SECCOMP_ALLOW_IO_URING : 0), &serr) < 0) {
        fprintf(stderr, "appbox: --boot: %s\n", serr.msg);
        _exit(125);
    }
    /* The id change cleared the death signal: armed again; a runner gone
     * before that sent none (its end of the lifeline is closed then). */
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    struct pollfd lp = { .fd = lifeline, .events = POLLIN };
    if (poll(&lp, 1, 0) > 0 && (lp.revents & (POLLHUP | POLLERR)))
        _exit(128 + SIGKILL);
    syscall(SYS_close_range, 3, ~0U, 0);
    /* A clean signal state: systemd sets up its own. */
    for (int sig = 1; sig < NSIG; sig++)
        signal(sig, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    if (chdir("/") < 0)
        _exit(125);

    uint8_t id[16];
    container_id(s, id);
    char uuid[37], uuid_env[64], *env[8];
    format_id(id, true, uuid);
    snprintf(uuid_env, sizeof(uuid_env), "container_uuid=%s", uuid);
    size_t n = 0;
    env[n++] = "container=appbox";
    env[n++] = uuid_env;
    env[n++] = "TERM=vt220";
    env[n++] = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    env[n] = NULL;
    char *const argv[] = { "/sbin/init", NULL };
    execve("/sbin/init", argv, env);
    fprintf(stderr, "appbox: --boot: cannot run /sbin/init: %s\n", strerror(errno));
    _exit(125);
}
