#include "runtime/oci_run.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cgroup/oci.h"
#include "runtime/oci_process.h"
#include "runtime/pipeline.h"
#include "runtime/pty.h"
#include "runtime/resolve.h"
#include "runtime/sandbox.h"
#include "spec/oci.h"
#include "util/cleanup.h"
#include "util/fdpass.h"
#include "util/fsutil.h"

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

static const struct {
    const char *proc;   /* /proc/PID/ns/NAME */
    int flag;
} ns_kinds[OCI_NS_COUNT] = {
    [OCI_NS_USER] = { "user", CLONE_NEWUSER },     [OCI_NS_PID] = { "pid", CLONE_NEWPID },
    [OCI_NS_NET] = { "net", CLONE_NEWNET },        [OCI_NS_IPC] = { "ipc", CLONE_NEWIPC },
    [OCI_NS_UTS] = { "uts", CLONE_NEWUTS },        [OCI_NS_MOUNT] = { "mnt", CLONE_NEWNS },
    [OCI_NS_CGROUP] = { "cgroup", CLONE_NEWCGROUP }, [OCI_NS_TIME] = { "time", CLONE_NEWTIME },
};

static const char *const ns_field[OCI_NS_COUNT] = {
    [OCI_NS_USER] = "user", [OCI_NS_PID] = "pid",       [OCI_NS_NET] = "network", [OCI_NS_IPC] = "ipc",
    [OCI_NS_UTS] = "uts",   [OCI_NS_MOUNT] = "mount",   [OCI_NS_CGROUP] = "cgroup", [OCI_NS_TIME] = "time",
};

int oci_run_resolve(struct spec *s, bool systemd, ab_error *err)
{
    struct spec_container *c = &s->container;
    struct spec_oci *o = s->oci;
    if (!o)
        return ab_fail(err, EINVAL, "not an OCI spec");
    if (c->resolved)
        return 0;
    s->process.user.caller_uid = getuid();
    s->process.user.caller_gid = getgid();
    if (o->ns_path[OCI_NS_MOUNT])
        return ab_usage(err, "config.json: linux.namespaces: joining a mount namespace (path %s) is not supported "
                             "by appbox-oci (a new mount namespace is: leave out its path)",
                        o->ns_path[OCI_NS_MOUNT]);
    if (!o->ns_wanted[OCI_NS_MOUNT])
        return ab_usage(err, "config.json: linux.namespaces: appbox-oci needs a mount namespace of the container's "
                             "own (add {\"type\": \"mount\"})");
    int r = spec_resolve_paths(s, err);
    if (r < 0)
        return r;
    if (c->namespaces & CLONE_NEWUSER) {
        if (!c->uid_map.n || !c->gid_map.n)
            return ab_usage(err, "config.json: linux.uidMappings and linux.gidMappings are needed with a new user "
                                 "namespace");
        /* an ordinary user maps itself alone without help; anything more
         * takes newuidmap/newgidmap and the ranges of /etc/subuid */
        uid_t me = getuid();
        gid_t mygid = getgid();
        bool self_only = c->uid_map.n == 1 && c->uid_map.r[0].count == 1 && c->uid_map.r[0].outside == me &&
                         c->gid_map.n == 1 && c->gid_map.r[0].count == 1 && c->gid_map.r[0].outside == mygid;
        c->uid_map.via_helper = c->gid_map.via_helper = me != 0 && !self_only;
    }
    if ((r = cgroup_oci_resolve(s, systemd, err)) < 0)
        return r;
    c->resolved = true;
    return 0;
}

/* Join the namespaces config.json names by path, in the runtime itself
 * before the clone (create exits right after: nothing of its own runs in
 * them but the clone, the maps and the cgroup writes).  The user namespace
 * first, so that the others (owned by it) may be joined. */
static int join_paths(const struct spec_oci *o, ab_error *err)
{
    int fds[OCI_NS_COUNT];
    for (int i = 0; i < OCI_NS_COUNT; i++)
        fds[i] = -1;
    int r = 0;
    for (int i = 0; i < OCI_NS_COUNT && r == 0; i++) {
        if (!o->ns_path[i])
            continue;
        fds[i] = open(o->ns_path[i], O_RDONLY | O_CLOEXEC);
        if (fds[i] < 0)
            r = ab_fail(err, errno, "config.json: linux.namespaces: cannot open the %s namespace %s", ns_field[i],
                        o->ns_path[i]);
    }
    for (int i = 0; i < OCI_NS_COUNT && r == 0; i++)
        if (fds[i] >= 0 && setns(fds[i], ns_kinds[i].flag) < 0)
            r = ab_fail(err, errno, "config.json: linux.namespaces: cannot join the %s namespace %s", ns_field[i],
                        o->ns_path[i]);
    for (int i = 0; i < OCI_NS_COUNT; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    return r;
}

static int before_go(struct runner *run, ab_error *err)
{
    const struct oci_run_params *p = run->before_go_arg;
    return p->callback ? p->callback(p->arg, OCI_RUN_NAMESPACES_MADE, run->child, err) : 0;
}

static void kill_and_teardown(struct runner *run)
{
    if (run->child > 0) {
        kill(run->child, SIGKILL);
        while (waitpid(run->child, NULL, 0) < 0 && errno == EINTR)
            ;
        run->child = -1;
    }
    pipeline_teardown(runtime_modules, run);
}

/* What the container's side reports on SOCK until it runs (end of file:
 * its exec closed the socket) or, with STOP_AT_READY, is set up: its
 * terminal's master (*MASTER, the last one kept), READY (*READY), or an
 * error (returned, ERR filled). */
static int read_reports(int sock, bool stop_at_ready, int *master, bool *ready, ab_error *err)
{
    for (;;) {
        struct sandbox_msg m;
        int fd = -1;
        int n = fd_recv(sock, &fd, &m, sizeof(m));
        if (n <= 0)
            return 0;
        if (m.type == SANDBOX_MSG_PTY && fd >= 0) {
            if (*master >= 0)
                close(*master);
            *master = fd;
            continue;
        }
        if (fd >= 0)
            close(fd);
        if (m.type == SANDBOX_MSG_ERROR) {
            ab_error_set(err, (enum ab_error_kind)m.kind, 0, "%s", m.text);
            err->errnum = m.errnum;
            return -(m.errnum ? m.errnum : EINVAL);
        }
        if (m.type == SANDBOX_MSG_READY && stop_at_ready) {
            *ready = true;
            return 0;
        }
    }
}

int oci_run_create(struct spec *s, const struct oci_run_params *p, pid_t *pid, int *pty_master, ab_error *err)
{
    *pid = -1;
    *pty_master = -1;
    int r = join_paths(s->oci, err);
    if (r < 0)
        return r;
    struct runner run;
    runner_init(&run, s, NULL, NULL);
    run.before_go = before_go;
    run.before_go_arg = (void *)p;
    r = sandbox_spawn_oci(&run, p->fifo_fd, err);
    if (r < 0)
        return r;
    /* PID 1 reports: its terminal (with process.terminal), then READY, or
     * an error; end of file without READY: it died */
    int master = -1;
    bool ready = false;
    r = read_reports(run.sock, true, &master, &ready, err);
    close(run.sock);
    run.sock = -1;
    if (r == 0 && !ready)
        r = ab_fail(err, 0, "the container's process exited while it was set up");
    if (r == 0 && master >= 0 && p->console_fd >= 0) {
        /* the terminal's master goes to whoever asked (conmon) */
        if (fd_send(p->console_fd, master, "/dev/ptmx", 10) < 0)
            r = ab_fail(err, errno, "--console-socket: cannot send the terminal");
        close(master);
        master = -1;
    }
    if (r == 0 && p->callback)
        r = p->callback(p->arg, OCI_RUN_ROOT_READY, run.child, err);
    if (r < 0) {
        if (master >= 0)
            close(master);
        kill_and_teardown(&run);
        return r;
    }
    *pid = run.child;
    *pty_master = master;
    return 0;
}

int oci_run_start(int dirfd, ab_error *err)
{
    int fd = openat(dirfd, "exec.fifo", O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        if (errno == ENXIO)
            return ab_fail(err, 0, "cannot start the container: its process no longer waits for start");
        return ab_fail(err, errno, "cannot start the container: cannot open its exec fifo");
    }
    ssize_t n = write(fd, "0", 1);
    int e = errno;
    close(fd);
    if (n != 1)
        return ab_fail(err, e, "cannot start the container: cannot write its exec fifo");
    unlinkat(dirfd, "exec.fifo", 0);
    return 0;
}

/* ---- exec ---- */

/* Open the namespaces of PID that differ from ours, all before joining
 * any (a path may depend on the namespaces we are in). */
static int open_namespaces(pid_t pid, int fds[OCI_NS_COUNT], ab_error *err)
{
    for (int i = 0; i < OCI_NS_COUNT; i++) {
        fds[i] = -1;
        char theirs[64], ours[64];
        snprintf(theirs, sizeof(theirs), "/proc/%d/ns/%s", (int)pid, ns_kinds[i].proc);
        snprintf(ours, sizeof(ours), "/proc/self/ns/%s", ns_kinds[i].proc);
        struct stat a, b;
        if (stat(theirs, &a) < 0) {
            if (errno == ENOENT && i == OCI_NS_TIME)
                continue; /* a kernel without time namespaces */
            for (int k = 0; k < i; k++)
                if (fds[k] >= 0)
                    close(fds[k]);
            return ab_fail(err, errno, "cannot find the container's %s namespace (%s)", ns_field[i], theirs);
        }
        if (stat(ours, &b) == 0 && a.st_ino == b.st_ino && a.st_dev == b.st_dev)
            continue;
        fds[i] = open(theirs, O_RDONLY | O_CLOEXEC);
        if (fds[i] < 0) {
            int e = errno;
            for (int k = 0; k < i; k++)
                if (fds[k] >= 0)
                    close(fds[k]);
            return ab_fail(err, e, "cannot open the container's %s namespace", ns_field[i]);
        }
    }
    return 0;
}

int oci_run_exec(struct spec *s, const struct oci_exec_params *p, pid_t *pid, int *exit_code, ab_error *err)
{
    *pid = -1;
    *exit_code = 0;
    int r;
    int fds[OCI_NS_COUNT];
    if ((r = open_namespaces(p->init_pid, fds, err)) < 0)
        return r;
    /* The runtime joins the user namespace (a PID namespace is joined
     * from inside the one that owns it) and the PID namespace (it counts
     * for its children only), nothing else: it stays in its own cgroups
     * and mount namespace, never frozen with a paused container, never a
     * process of it.  The child joins the rest once the runtime put it in
     * the container's cgroups. */
    if (fds[OCI_NS_USER] >= 0 && setns(fds[OCI_NS_USER], CLONE_NEWUSER) < 0)
        r = ab_fail(err, errno, "cannot join the container's user namespace");
    else if (fds[OCI_NS_PID] >= 0 && setns(fds[OCI_NS_PID], CLONE_NEWPID) < 0)
        r = ab_fail(err, errno, "cannot join the container's pid namespace");
    int sv[2] = { -1, -1 };
    if (r == 0 && socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
        r = ab_fail(err, errno, "cannot create the sync socket");
    pid_t child = -1;
    if (r == 0) {
        fflush(NULL);
        child = fork();
        if (child < 0) {
            int e = errno;
            /* a PID namespace whose init is gone takes no new process */
            r = e == ENOMEM ? ab_fail(err, 0, "cannot start the process in the container: the container has "
                                              "stopped (its process 1 exited)")
                            : ab_fail(err, e, "cannot start the process in the container");
        }
    }
    if (child == 0) {
        close(sv[0]);
        char go;
        if (read(sv[1], &go, 1) != 1)
            _exit(125); /* the runtime failed (its message says why) */
        static const int order[] = { OCI_NS_MOUNT, OCI_NS_NET, OCI_NS_IPC, OCI_NS_UTS, OCI_NS_CGROUP, OCI_NS_TIME };
        for (size_t k = 0; k < sizeof(order) / sizeof(order[0]); k++) {
            int i = order[k];
            if (fds[i] >= 0 && setns(fds[i], ns_kinds[i].flag) < 0) {
                ab_fail(err, errno, "cannot join the container's %s namespace", ns_field[i]);
                sandbox_send_error(sv[1], err);
                _exit(125);
            }
        }
        oci_close_inherited(p->preserve_fds, sv[1], -1);
        oci_process_main(s, sv[1], -1);
    }
    for (int i = 0; i < OCI_NS_COUNT; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    if (r < 0) {
        if (sv[0] >= 0) {
            close(sv[0]);
            close(sv[1]);
        }
        return r;
    }
    if (p->cgroups && p->cgroups->n && (r = cgroup_oci_join(p->cgroups, child, err)) < 0) {
        close(sv[0]);
        close(sv[1]);
        kill(child, SIGKILL);
        waitpid(child, NULL, 0);
        return r;
    }
    if (write(sv[0], "g", 1) != 1) {
        r = ab_fail(err, errno, "cannot start the process in the container");
        close(sv[0]);
        close(sv[1]);
        kill(child, SIGKILL);
        waitpid(child, NULL, 0);
        return r;
    }
    close(sv[1]);
    /* until exec: an error, or the terminal; end of file: it runs */
    int master = -1;
    bool ready = false;
    r = read_reports(sv[0], false, &master, &ready, err);
    close(sv[0]);
    if (r == 0 && master >= 0 && p->console_fd >= 0) {
        if (fd_send(p->console_fd, master, "/dev/ptmx", 10) < 0)
            r = ab_fail(err, errno, "--console-socket: cannot send the terminal");
        close(master);
        master = -1;
    }
    if (r < 0) {
        if (master >= 0)
            close(master);
        kill(child, SIGKILL);
        waitpid(child, NULL, 0);
        return r;
    }
    *pid = child;
    if (p->detach) {
        if (master >= 0)
            close(master);
        return 0;
    }
    int status = 0;
    if (master >= 0) {
        r = pty_relay(master, child, &status, err);
        close(master);
    } else {
        sigset_t cur;
        sigprocmask(SIG_SETMASK, NULL, &cur);
        r = sandbox_wait_forwarding(child, &status, &cur);
        if (r < 0)
            return ab_fail(err, -r, "cannot wait for the process");
    }
    if (r < 0)
        return r;
    *exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return 0;
}

void oci_run_destroy(struct spec *s)
{
    cgroup_oci_destroy(&s->container.cgroups);
}
