/* appbox-oci create, start and run. */
#include <errno.h>
#include <sys/ioctl.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "oci/cli.h"
#include "oci/config.h"
#include "oci/hooks.h"
#include "oci/seccomp.h"
#include "runtime/oci_run.h"
#include "runtime/pty.h"
#include "util/cleanup.h"
#include "util/fsutil.h"

/* What create made, for start (run) and for undoing it. */
struct created {
    struct oci_cli *cli;
    const char *id;
    int rootfd, dirfd, lockfd;
    struct oci_config cfg;
    struct oci_state st;
    pid_t pid;
    int pty_master;
    struct oci_pid_file pid_file;   /* --pid-file; dirfd -1: none */
    bool made;   /* oci_run_create succeeded: PID 1 and the cgroups exist */
};

static void created_close(struct created *c)
{
    if (c->pty_master >= 0)
        close(c->pty_master);
    if (c->lockfd >= 0)
        close(c->lockfd);
    if (c->dirfd >= 0)
        close(c->dirfd);
    if (c->rootfd >= 0)
        close(c->rootfd);
    oci_pid_file_close(&c->pid_file);
    oci_config_free(&c->cfg);
    oci_state_free(&c->st);
}

/* Undo a create that failed after its state dir was made. */
static void created_undo(struct created *c)
{
    if (c->made) {
        oci_signal_all(c->cli, &c->st, SIGKILL);
        oci_wait_gone(&c->st);
        /* PID 1 is our child until we exit */
        waitpid(c->pid, NULL, WNOHANG);
        oci_run_destroy(&c->cfg.spec);
    }
    ab_error err = { 0 };
    if (c->dirfd >= 0 && oci_state_remove_dir(c->rootfd, c->id, &err) < 0)
        oci_warn(c->cli, "%s", err.msg);
}

static char *now_rfc3339(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    char date[32];
    strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", gmtime_r(&ts.tv_sec, &tm));
    char *s = NULL;
    return asprintf(&s, "%s.%09ldZ", date, ts.tv_nsec) < 0 ? NULL : s;
}

static int run_hooks(struct created *c, enum oci_hook_stage stage, ab_error *err)
{
    if (!c->cfg.hooks.n[stage])
        return 0;
    _cleanup_free_ char *json = oci_state_json(&c->st, c->st.status);
    if (!json)
        return ab_fail(err, ENOMEM, "cannot run the %s hooks", oci_hook_stage_name(stage));
    oci_debug(c->cli, "%s: running %zu %s hook(s)", c->st.id, c->cfg.hooks.n[stage], oci_hook_stage_name(stage));
    return oci_hooks_run(c->cfg.hooks.h[stage], c->cfg.hooks.n[stage], stage, json, err);
}

/* The startContainer hooks: run by PID 1 itself, in the container (their
 * paths are the container's), after start and before the program; the
 * state is as PID 1 has it (its copy of C, status created). */
static int start_container_hooks(const struct spec_oci *o, void *arg, char *msg, size_t size)
{
    struct created *c = arg;
    ab_error err = { 0 };
    c->st.status = OCI_STATUS_CREATED;
    if (c->st.pid <= 0)
        c->st.pid = getpid();
    _cleanup_free_ char *json = oci_state_json(&c->st, OCI_STATUS_CREATED);
    int r = json ? oci_hooks_run(c->cfg.hooks.h[OCI_HOOK_START_CONTAINER], c->cfg.hooks.n[OCI_HOOK_START_CONTAINER],
                                 OCI_HOOK_START_CONTAINER, json, &err)
                 : ab_fail(&err, ENOMEM, "cannot run the startContainer hooks");
    if (r < 0)
        snprintf(msg, size, "%s", err.msg);
    return r;
}

/* oci_run_create()'s call at each point: the state (creating, PID 1's
 * pid) written for whoever looks, then the hooks of that point. */
static int create_point(void *arg, enum oci_run_point point, pid_t pid, ab_error *err)
{
    struct created *c = arg;
    c->st.pid = pid;
    c->st.start_time = oci_proc_start_time(pid);
    c->st.status = OCI_STATUS_CREATING;
    int r = oci_state_write(c->dirfd, &c->st, err);
    if (r < 0)
        return r;
    if (point == OCI_RUN_NAMESPACES_MADE) {
        r = run_hooks(c, OCI_HOOK_PRESTART, err);
        return r < 0 ? r : run_hooks(c, OCI_HOOK_CREATE_RUNTIME, err);
    }
    return run_hooks(c, OCI_HOOK_CREATE_CONTAINER, err);
}

/* The bundle's config.json: read once, kept as read (exec and delete
 * parse that copy), parsed for ID. */
static int load_bundle(struct created *c, const char *bundle_arg, const char *id, ab_error *err)
{
    _cleanup_free_ char *bundle = realpath(bundle_arg, NULL);
    if (!bundle)
        return ab_fail(err, errno, "--bundle: cannot use '%s'", bundle_arg);
    _cleanup_free_ char *path = NULL;
    if (asprintf(&path, "%s/config.json", bundle) < 0)
        return ab_fail(err, ENOMEM, "cannot read the bundle's config.json");
    _cleanup_free_ char *text = fs_read_file_at(AT_FDCWD, path, false, OCI_CONFIG_MAX);
    if (!text)
        return ab_fail(err, errno, "cannot read %s", path);
    int r = oci_config_parse(text, "config.json", bundle, id, &c->cfg, err);
    if (r < 0)
        return r;
    if (oci_state_write_file(c->dirfd, "config.json", text, err) < 0)
        return ab_error_prefix(err, "container %s", id);
    c->st.bundle = take_ptr(bundle);
    return 0;
}

/* create's work, for create and run: on success C holds the created
 * container, its dir locked; else it printed and nothing is left. */
static int do_create(struct oci_cli *cli, struct oci_args *a, bool detach, struct created *c)
{
    const char *id = a->pos[0];
    const char *bundle = a->opt[CREATE_BUNDLE].set ? a->opt[CREATE_BUNDLE].value : ".";
    const char *console = a->opt[CREATE_CONSOLE_SOCKET].set ? a->opt[CREATE_CONSOLE_SOCKET].value : NULL;
    int preserve = 0;
    if (a->opt[CREATE_PRESERVE_FDS].set &&
        oci_parse_preserve_fds(cli, "--preserve-fds", a->opt[CREATE_PRESERVE_FDS].value, &preserve))
        return 1;
    if (!oci_check_id(cli, id))
        return 1;
    c->id = id;
    ab_error err = { 0 };
    if (a->opt[CREATE_PID_FILE].set && oci_pid_file_open(a->opt[CREATE_PID_FILE].value, &c->pid_file, &err) < 0)
        return oci_report(cli, &err);
    c->rootfd = oci_state_open_root(cli->root, true, &err);
    if (c->rootfd < 0)
        return oci_report(cli, &err);
    c->dirfd = oci_state_create_dir(c->rootfd, id, &c->lockfd, &err);
    if (c->dirfd < 0)
        return oci_report(cli, &err);
    /* from here on a failure removes the state dir (created_undo) */
    _cleanup_close_ int fifo = -1;
    _cleanup_close_ int console_fd = -1;
    int r = -ENOMEM;
    c->st.id = strdup(id);
    c->st.created = now_rfc3339();
    c->st.owner = geteuid();
    c->st.status = OCI_STATUS_CREATING;
    if (!c->st.id || !c->st.created) {
        ab_fail(&err, ENOMEM, "cannot create container %s", id);
        goto fail;
    }
    if ((r = load_bundle(c, bundle, id, &err)) < 0)
        goto fail;
    c->st.rootfs = strdup(c->cfg.spec.container.root ? c->cfg.spec.container.root : "");
    c->st.annotations = c->cfg.annotations ? json_object_get(c->cfg.annotations) : NULL;
    if (c->cfg.hooks.n[OCI_HOOK_START_CONTAINER]) {
        c->cfg.oci.start_container_hooks = start_container_hooks;
        c->cfg.oci.hooks_arg = c;
    }
    if (!c->st.rootfs) {
        r = ab_fail(&err, ENOMEM, "cannot create container %s", id);
        goto fail;
    }
    bool tty = c->cfg.spec.process.terminal;
    if (detach && tty && !console) {
        r = ab_usage(&err, "config.json's process.terminal is true: a detached container needs --console-socket "
                           "to hand the terminal to (or set process.terminal to false)");
        goto fail;
    }
    if (console && (!detach || !tty)) {
        r = ab_usage(&err, "--console-socket is only for a detached container with process.terminal true "
                           "(config.json's process.terminal is %s)",
                     tty ? "true" : "false");
        goto fail;
    }
    if (c->cfg.seccomp && (r = oci_seccomp_compile(c->cfg.seccomp, "config.json: linux.seccomp", &c->cfg.oci, &err)) < 0)
        goto fail;
    c->cfg.oci.preserve_fds = preserve;
    if ((r = oci_run_resolve(&c->cfg.spec, cli->systemd_cgroup, &err)) < 0)
        goto fail;
    if (mkfifoat(c->dirfd, "exec.fifo", 0600) < 0 ||
        (fifo = openat(c->dirfd, "exec.fifo", O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOFOLLOW)) < 0) {
        r = ab_fail(&err, errno, "container %s: cannot make its exec.fifo", id);
        goto fail;
    }
    if (console && (console_fd = oci_console_connect(cli, console)) < 0) {
        created_undo(c);
        return 1;
    }
    if ((r = oci_state_write(c->dirfd, &c->st, &err)) < 0)
        goto fail;
    struct oci_run_params p = {
        .fifo_fd = fifo, .console_fd = console_fd, .callback = create_point, .arg = c,
    };
    oci_debug(cli, "%s: creating from %s", id, c->st.bundle);
    if ((r = oci_run_create(&c->cfg.spec, &p, &c->pid, &c->pty_master, &err)) < 0)
        goto fail;
    c->made = true;
    c->st.pid = c->pid;
    c->st.start_time = oci_proc_start_time(c->pid);
    c->st.status = OCI_STATUS_CREATED;
    c->st.cgroups_ours = c->cfg.oci.cgroups_path == NULL;
    for (size_t i = 0; i < c->cfg.spec.container.cgroups.n; i++)
        if ((r = strv_push(&c->st.cgroups, c->cfg.spec.container.cgroups.v[i])) < 0) {
            ab_fail(&err, ENOMEM, "cannot create container %s", id);
            goto fail;
        }
    if (c->pid_file.dirfd >= 0 && (r = oci_pid_file_write(&c->pid_file, c->pid, &err)) < 0)
        goto fail;
    if ((r = oci_state_write(c->dirfd, &c->st, &err)) < 0)
        goto fail;
    return 0;
fail:
    oci_report(cli, &err);
    created_undo(c);
    return 1;
}

/* start's work on a created container whose dir is locked. */
static int do_start(struct oci_cli *cli, int dirfd, struct oci_state *st, const struct oci_config *cfg)
{
    ab_error err = { 0 };
    if (oci_run_start(dirfd, &err) < 0)
        return oci_report(cli, &err);
    st->status = OCI_STATUS_RUNNING;
    if (oci_state_write(dirfd, st, &err) < 0)
        oci_warn(cli, "%s", err.msg);
    if (cfg->hooks.n[OCI_HOOK_POSTSTART]) {
        _cleanup_free_ char *json = oci_state_json(st, OCI_STATUS_RUNNING);
        /* poststart failures are warnings (runtime-spec, Lifecycle 9) */
        if (json && oci_hooks_run(cfg->hooks.h[OCI_HOOK_POSTSTART], cfg->hooks.n[OCI_HOOK_POSTSTART],
                                  OCI_HOOK_POSTSTART, json, &err) < 0)
            oci_warn(cli, "%s", err.msg);
    }
    return 0;
}

int oci_cmd_create(struct oci_cli *cli, struct oci_args *a)
{
    struct created c = { .cli = cli, .rootfd = -1, .dirfd = -1, .lockfd = -1, .pty_master = -1,
                          .pid_file = { .dirfd = -1 } };
    int code = do_create(cli, a, true, &c);
    created_close(&c);
    return code;
}

int oci_cmd_start(struct oci_cli *cli, struct oci_args *a)
{
    const char *id = a->pos[0];
    _cleanup_ctr_ struct oci_ctr c;
    if (oci_ctr_open(cli, id, true, &c))
        return 1;
    if (c.status == OCI_STATUS_STOPPED)
        return oci_error(cli, "cannot start a container that has stopped (container %s)", id);
    if (c.status == OCI_STATUS_RUNNING)
        return oci_error(cli, "cannot start an already running container (container %s)", id);
    if (c.status != OCI_STATUS_CREATED)
        return oci_error(cli, "cannot start a container in the %s state (container %s)", oci_status_name(c.status),
                         id);
    struct oci_config cfg = { 0 };
    ab_error err = { 0 };
    int code = oci_saved_config(c.dirfd, &c.st, &cfg, &err) < 0 ? oci_report(cli, &err)
                                                                  : do_start(cli, c.dirfd, &c.st, &cfg);
    oci_config_free(&cfg);
    return code;
}

/* run in the foreground: forward signals to PID 1 until it exits; its
 * status as an exit code (128+N for a signal). */
static int wait_forwarding(struct oci_cli *cli, struct created *c, const sigset_t *set)
{
    int ws = 0;
    ab_error err = { 0 };
    if (c->pty_master >= 0) {
        if (pty_relay(c->pty_master, c->pid, &ws, &err) < 0)
            return oci_report(cli, &err);
    } else {
        _cleanup_close_ int sfd = signalfd(-1, set, SFD_CLOEXEC);
        if (sfd < 0)
            return oci_error(cli, "cannot make a signalfd: %s", strerror(errno));
        for (;;) {
            pid_t w = waitpid(c->pid, &ws, WNOHANG);
            if (w == c->pid)
                break;
            if (w < 0 && errno != EINTR)
                return oci_error(cli, "cannot wait for container %s's process %d: %s", c->st.id, (int)c->pid,
                                 strerror(errno));
            struct signalfd_siginfo si;
            ssize_t n = read(sfd, &si, sizeof(si));
            if (n != sizeof(si) || si.ssi_signo == SIGCHLD)
                continue;
            /* our child: its pid is not reused before we reap it */
            if (kill(c->pid, (int)si.ssi_signo) < 0 && errno != ESRCH)
                oci_warn(cli, "cannot forward signal %u: %s", si.ssi_signo, strerror(errno));
        }
    }
    return WIFSIGNALED(ws) ? 128 + WTERMSIG(ws) : WEXITSTATUS(ws);
}

int oci_cmd_run(struct oci_cli *cli, struct oci_args *a)
{
    bool detach = a->opt[RUN_DETACH].set;
    struct created c = { .cli = cli, .rootfd = -1, .dirfd = -1, .lockfd = -1, .pty_master = -1,
                          .pid_file = { .dirfd = -1 } };
    int code = do_create(cli, a, detach, &c);
    if (code) {
        created_close(&c);
        return code;
    }
    /* blocked before start: PID 1 cannot exit before it, so neither its
     * SIGCHLD nor a signal meant for it is lost */
    sigset_t set, old;
    sigemptyset(&set);
    int fwd[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH, SIGCHLD };
    for (size_t i = 0; i < ARRAY_SIZE(fwd); i++)
        sigaddset(&set, fwd[i]);
    if (!detach)
        sigprocmask(SIG_BLOCK, &set, &old);
    /* the terminal relayed here: the container's starts at its size
     * (config.json's consoleSize, when it has one, was set already) */
    struct winsize wsz;
    if (c.pty_master >= 0 && !c.cfg.oci.console_height && ioctl(STDIN_FILENO, TIOCGWINSZ, &wsz) == 0 && wsz.ws_row)
        ioctl(c.pty_master, TIOCSWINSZ, &wsz);
    code = do_start(cli, c.dirfd, &c.st, &c.cfg);
    if (code) {
        created_undo(&c);
    } else if (!detach) {
        /* others may look (state, kill, exec) while it runs */
        close(c.lockfd);
        c.lockfd = -1;
        code = wait_forwarding(cli, &c, &set);
        c.st.status = OCI_STATUS_STOPPED;
        if (!a->opt[RUN_KEEP].set) {
            ab_error err = { 0 };
            _cleanup_close_ int dirfd = oci_state_open_dir(c.rootfd, c.st.id, &c.lockfd, &err);
            /* gone: someone ran delete meanwhile */
            if (dirfd >= 0) {
                oci_signal_all(cli, &c.st, SIGKILL);
                oci_teardown(cli, c.rootfd, dirfd, &c.st);
            }
        }
        sigprocmask(SIG_SETMASK, &old, NULL);
    }
    created_close(&c);
    return code;
}
