/* What several appbox-oci verbs do to a container: signals, waiting for
 * PID 1 to go, teardown, the pid file, the console socket. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "cgroup/cgroup.h"
#include "oci/cli.h"
#include "oci/config.h"
#include "oci/hooks.h"
#include "util/cleanup.h"
#include "util/fsutil.h"
#include "cgroup/oci.h"

static const struct {
    const char *name;
    int sig;
} signals[] = {
    { "HUP", SIGHUP },   { "INT", SIGINT },         { "QUIT", SIGQUIT }, { "ILL", SIGILL },       { "TRAP", SIGTRAP },
    { "ABRT", SIGABRT }, { "IOT", SIGIOT },         { "BUS", SIGBUS },   { "FPE", SIGFPE },       { "KILL", SIGKILL },
    { "USR1", SIGUSR1 }, { "SEGV", SIGSEGV },       { "USR2", SIGUSR2 }, { "PIPE", SIGPIPE },     { "ALRM", SIGALRM },
    { "TERM", SIGTERM }, { "STKFLT", SIGSTKFLT },   { "CHLD", SIGCHLD }, { "CONT", SIGCONT },     { "STOP", SIGSTOP },
    { "TSTP", SIGTSTP }, { "TTIN", SIGTTIN },       { "TTOU", SIGTTOU }, { "URG", SIGURG },       { "XCPU", SIGXCPU },
    { "XFSZ", SIGXFSZ }, { "VTALRM", SIGVTALRM },   { "PROF", SIGPROF }, { "WINCH", SIGWINCH },   { "IO", SIGIO },
    { "POLL", SIGPOLL }, { "PWR", SIGPWR },         { "SYS", SIGSYS },
};

int oci_signal_parse(const char *s)
{
    char *end;
    long n = strtol(s, &end, 10);
    if (*s && !*end)
        return n >= 1 && n <= SIGRTMAX ? (int)n : -1;
    const char *name = strncasecmp(s, "SIG", 3) == 0 ? s + 3 : s;
    for (size_t i = 0; i < ARRAY_SIZE(signals); i++)
        if (strcasecmp(signals[i].name, name) == 0)
            return signals[i].sig;
    /* RTMIN+N, RTMAX-N */
    if (strncasecmp(name, "RTMIN", 5) == 0 || strncasecmp(name, "RTMAX", 5) == 0) {
        bool min = strncasecmp(name, "RTMIN", 5) == 0;
        long off = 0;
        if (name[5]) {
            off = strtol(name + 5, &end, 10);
            if (*end || (min && off < 0) || (!min && off > 0))
                return -1;
        }
        long sig = (min ? SIGRTMIN : SIGRTMAX) + off;
        return sig >= SIGRTMIN && sig <= SIGRTMAX ? (int)sig : -1;
    }
    return -1;
}

int oci_signal_init(const struct oci_state *st, int sig)
{
    if (st->pid <= 0)
        return -ESRCH;
    /* a pidfd first, then the start time: once we hold the pidfd the pid
     * cannot be reused under us, so the check holds for the signal */
    _cleanup_close_ int pfd = (int)syscall(SYS_pidfd_open, st->pid, 0);
    if (pfd < 0)
        return -errno;
    unsigned long long now = oci_proc_start_time(st->pid);
    if (now == 0 || (st->start_time && now != st->start_time))
        return -ESRCH;
    if (syscall(SYS_pidfd_send_signal, pfd, sig, NULL, 0) < 0)
        return -errno;
    return 0;
}

/* Without a cgroup: the processes in PID 1's pid namespace when it has
 * its own (a rootless container without a delegated group), found by
 * their /proc/PID/ns/pid; else PID 1 alone. */
static int pidns_pids(const struct oci_state *st, pid_t **pids, size_t *n, ab_error *err)
{
    char path[64];
    struct stat ns, self, p;
    snprintf(path, sizeof(path), "/proc/%d/ns/pid", (int)st->pid);
    size_t cap = 1;
    *n = 0;
    if (!(*pids = malloc(sizeof(**pids))))
        return ab_fail(err, ENOMEM, "cannot list the processes of container %s", st->id);
    if (oci_proc_start_time(st->pid) == 0)
        return 0;
    (*pids)[(*n)++] = st->pid;
    if (stat(path, &ns) < 0 || stat("/proc/self/ns/pid", &self) < 0 || ns.st_ino == self.st_ino)
        return 0;
    _cleanup_closedir_ DIR *d = opendir("/proc");
    if (!d)
        return ab_fail(err, errno, "cannot list the processes of container %s: /proc", st->id);
    struct dirent *e;
    while ((e = readdir(d))) {
        char *end;
        long pid = strtol(e->d_name, &end, 10);
        if (*end || pid <= 0 || pid == st->pid)
            continue;
        snprintf(path, sizeof(path), "/proc/%ld/ns/pid", pid);
        if (stat(path, &p) < 0 || p.st_ino != ns.st_ino || p.st_dev != ns.st_dev)
            continue;
        if (*n == cap) {
            pid_t *m = realloc(*pids, (cap *= 2) * sizeof(**pids));
            if (!m)
                return ab_fail(err, ENOMEM, "cannot list the processes of container %s", st->id);
            *pids = m;
        }
        (*pids)[(*n)++] = (pid_t)pid;
    }
    return 0;
}

int oci_container_pids(const struct oci_state *st, pid_t **pids, size_t *n, ab_error *err)
{
    *pids = NULL;
    *n = 0;
    int r = st->cgroups.n ? cgroup_oci_pids(&st->cgroups, pids, n, err) : pidns_pids(st, pids, n, err);
    if (r < 0) {
        free(*pids);
        *pids = NULL;
        *n = 0;
    }
    return r;
}

int oci_signal_all(struct oci_cli *cli, const struct oci_state *st, int sig)
{
    int r = oci_signal_init(st, sig);
    pid_t *pids = NULL;
    size_t n = 0;
    ab_error err = { 0 };
    if (oci_container_pids(st, &pids, &n, &err) < 0)
        oci_warn(cli, "%s", err.msg);
    for (size_t i = 0; i < n; i++)
        if (pids[i] != st->pid && kill(pids[i], sig) < 0 && errno != ESRCH)
            oci_warn(cli, "cannot send signal %d to process %d: %s", sig, (int)pids[i], strerror(errno));
    free(pids);
    return r == -ESRCH ? 0 : r;
}

int oci_wait_gone(const struct oci_state *st)
{
    /* PID 1 is reaped by its parent (conmon, a subreaper, or us in run);
     * a zombie counts as gone (oci_proc_start_time) */
    for (int i = 0; i < 1000; i++) {
        unsigned long long now = oci_proc_start_time(st->pid);
        if (now == 0 || (st->start_time && now != st->start_time))
            return 0;
        struct timespec ts = { 0, 10 * 1000 * 1000 };
        nanosleep(&ts, NULL);
    }
    return -ETIMEDOUT;
}

int oci_saved_config(int dirfd, const struct oci_state *st, struct oci_config *cfg, ab_error *err)
{
    memset(cfg, 0, sizeof(*cfg));
    _cleanup_free_ char *text = fs_read_file_at(dirfd, "config.json", false, OCI_CONFIG_MAX);
    if (!text)
        return ab_fail(err, errno, "container %s: cannot read its config.json", st->id);
    return oci_config_parse(text, "config.json", st->bundle, st->id, cfg, err);
}

void oci_teardown(struct oci_cli *cli, int rootfd, int dirfd, struct oci_state *st)
{
    ab_error err = { 0 };
    {
        struct oci_config cfg = { 0 };
        if (oci_saved_config(dirfd, st, &cfg, &err) == 0) {
            if (cfg.hooks.n[OCI_HOOK_POSTSTOP]) {
                _cleanup_free_ char *json = oci_state_json(st, OCI_STATUS_STOPPED);
                if (json && oci_hooks_run(cfg.hooks.h[OCI_HOOK_POSTSTOP], cfg.hooks.n[OCI_HOOK_POSTSTOP],
                                          OCI_HOOK_POSTSTOP, json, &err) < 0)
                    oci_warn(cli, "%s", err.msg);
            }
        } else {
            oci_warn(cli, "container %s: poststop hooks not run: %s", st->id, err.msg);
        }
        oci_config_free(&cfg);
    }
    if (st->cgroups.n)
        cgroup_oci_destroy(&st->cgroups);
    if (oci_state_remove_dir(rootfd, st->id, &err) < 0)
        oci_warn(cli, "%s", err.msg);
}

int oci_pid_file_open(const char *path, struct oci_pid_file *pf, ab_error *err)
{
    *pf = (struct oci_pid_file){ .dirfd = -1, .path = path };
    _cleanup_free_ char *copy = strdup(path);
    const char *slash = strrchr(path, '/');
    if (!copy)
        return ab_fail(err, ENOMEM, "--pid-file: cannot write %s", path);
    if (slash)
        copy[slash - path == 0 ? 1 : slash - path] = '\0';
    pf->name = slash ? slash + 1 : path;
    if (!*pf->name)
        return ab_usage(err, "--pid-file: '%s' names a directory, not a file", path);
    pf->dirfd = open(slash ? copy : ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (pf->dirfd < 0)
        return ab_fail(err, errno, "--pid-file: cannot write %s", path);
    return 0;
}

int oci_pid_file_write(struct oci_pid_file *pf, pid_t pid, ab_error *err)
{
    char tmp[NAME_MAX + 1], buf[32];
    int len = snprintf(buf, sizeof(buf), "%d", (int)pid);
    _cleanup_close_ int fd = -1;
    for (int i = 0; fd < 0 && i < 100; i++) {
        if ((size_t)snprintf(tmp, sizeof(tmp), ".%.200s.%d.%d", pf->name, (int)getpid(), i) >= sizeof(tmp))
            return ab_fail(err, ENAMETOOLONG, "--pid-file: cannot write %s", pf->path);
        fd = openat(pf->dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (fd < 0 && errno != EEXIST)
            return ab_fail(err, errno, "--pid-file: cannot write %s", pf->path);
    }
    if (fd < 0)
        return ab_fail(err, EEXIST, "--pid-file: cannot write %s", pf->path);
    if (write(fd, buf, (size_t)len) != len || renameat(pf->dirfd, tmp, pf->dirfd, pf->name) < 0) {
        int e = errno ? errno : EIO;
        unlinkat(pf->dirfd, tmp, 0);
        return ab_fail(err, e, "--pid-file: cannot write %s", pf->path);
    }
    return 0;
}

void oci_pid_file_close(struct oci_pid_file *pf)
{
    if (pf->dirfd >= 0)
        close(pf->dirfd);
    pf->dirfd = -1;
}

int oci_console_connect(struct oci_cli *cli, const char *path)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    if (strlen(path) >= sizeof(sa.sun_path)) {
        oci_error(cli, "--console-socket: '%s' is too long for a socket path (at most %zu bytes)", path,
                  sizeof(sa.sun_path) - 1);
        return -1;
    }
    strcpy(sa.sun_path, path);
    _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        oci_error(cli, "--console-socket: cannot connect to %s: %s", path, strerror(errno));
        return -1;
    }
    return take_fd(&fd);
}
