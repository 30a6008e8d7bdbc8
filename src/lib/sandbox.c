#include "sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/sched.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "caps.h"
#include "identity.h"
#include "idmap.h"
#include "init.h"
#include "mounts.h"
#include "pty.h"
#include "seccomp_filter.h"
#include "util/cleanup.h"
#include "util/fsutil.h"

enum msg_type { MSG_GO = 1, MSG_ERROR, MSG_PTY };

struct sync_msg {
    int type;
    int kind;
    int errnum;
    struct winsize ws;
    char text[sizeof(((ab_error *)0)->msg)];
};

struct child_args {
    const struct spec *spec;
    const struct identity *id;
    int sock;
    bool want_pty;
};

static void send_error(int sock, const ab_error *err)
{
    struct sync_msg m = { .type = MSG_ERROR, .kind = err->kind, .errnum = err->errnum };
    snprintf(m.text, sizeof(m.text), "%s", err->msg);
    fd_send(sock, -1, &m, sizeof(m));
}

static _Noreturn void child_fail(int sock, const ab_error *err)
{
    send_error(sock, err);
    _exit(ab_error_exit_code(err));
}

static int loopback_up(ab_error *err)
{
    _cleanup_close_ int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        return ab_fail(err, errno, "cannot open a socket to configure lo");
    struct ifreq ifr = { 0 };
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
    if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
        return ab_fail(err, errno, "cannot read the flags of lo");
    ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
    if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
        return ab_fail(err, errno, "cannot bring lo up");
    return 0;
}

/* The clean environment: nothing of the host's but the terminal type and
 * the locale, so no token or bus address leaks in. */
static int build_env(const struct spec *s, const struct identity *id, const char *shell, strv *env)
{
    const char *path = id->uid == 0 ? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
                                    : "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin";
    const char *const base[][2] = {
        { "PATH", path }, { "HOME", id->home }, { "USER", id->name }, { "LOGNAME", id->name }, { "SHELL", shell },
    };
    for (size_t i = 0; i < ARRAY_SIZE(base); i++) {
        char *kv;
        if (asprintf(&kv, "%s=%s", base[i][0], base[i][1]) < 0 || strv_push_take(env, kv) < 0)
            return -ENOMEM;
    }
    extern char **environ;
    for (char **e = environ; e && *e; e++)
        if (strncmp(*e, "TERM=", 5) == 0 || strncmp(*e, "LANG=", 5) == 0 || strncmp(*e, "LANGUAGE=", 9) == 0 ||
            strncmp(*e, "LC_", 3) == 0)
            strv_push(env, *e);
    for (size_t i = 0; i < s->env.n; i++) {
        size_t nlen = (size_t)(strchr(s->env.v[i], '=') - s->env.v[i]) + 1;
        bool replaced = false;
        for (size_t j = 0; j < env->n; j++)
            if (strncmp(env->v[j], s->env.v[i], nlen) == 0) {
                char *c = strdup(s->env.v[i]);
                if (!c)
                    return -ENOMEM;
                free(env->v[j]);
                env->v[j] = c;
                replaced = true;
            }
        if (!replaced && strv_push(env, s->env.v[i]) < 0)
            return -ENOMEM;
    }
    return 0;
}

static int take_identity(const struct identity *id, ab_error *err)
{
    /* Supplementary groups are only ours to set when setgroups is allowed
     * (not in a single-id namespace, where they are kept as nobody). */
    if (setgroups(0, NULL) < 0 && errno != EPERM)
        return ab_fail(err, errno, "cannot clear the supplementary groups");
    if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
        return ab_fail(err, errno, "cannot keep capabilities across the id change");
    if (setresgid(id->gid, id->gid, id->gid) < 0)
        return ab_fail(err, errno, "cannot become group %u", id->gid);
    if (setresuid(id->uid, id->uid, id->uid) < 0)
        return ab_fail(err, errno, "cannot become user %u", id->uid);
    return 0;
}

/* The command: PID 2.  Never returns. */
static _Noreturn void run_command(const struct child_args *a, const sigset_t *oldmask, const char *shell)
{
    const struct spec *s = a->spec;
    const struct identity *id = a->id;
    ab_error err = { 0 };
    init_child_reset(oldmask);

    if (setsid() < 0)
        ab_fail(&err, errno, "cannot start a new session");
    else if (take_identity(id, &err) < 0)
        ;
    else if (a->want_pty) {
        struct sync_msg m = { .type = MSG_PTY };
        if (ioctl(STDIN_FILENO, TIOCGWINSZ, &m.ws) < 0)
            memset(&m.ws, 0, sizeof(m.ws));
        /* fd 0 is still the host's terminal here: only read its size. */
        int master = pty_open_controlling(&m.ws, &err);
        if (master >= 0) {
            if (fd_send(a->sock, master, &m, sizeof(m)) < 0)
                ab_fail(&err, errno, "cannot hand the pty to appbox");
            close(master);
        }
    }
    if (err.kind)
        child_fail(a->sock, &err);

    uint64_t keep = caps_for_spec(s, id->uid == 0);
    if (caps_apply(keep, id->uid == 0, &err) < 0)
        child_fail(a->sock, &err);

    const char *dir = s->chdir ? s->chdir : id->home;
    if (chdir(dir) < 0) {
        if (s->chdir) {
            ab_fail(&err, errno, "--chdir: cannot change to %s in the container", s->chdir);
            child_fail(a->sock, &err);
        }
        /* No home in a read-only root: start in / rather than fail. */
        if (chdir("/") < 0)
            _exit(125);
    }
    char cwd[16];
    if (getcwd(cwd, sizeof(cwd)) == NULL && errno != ERANGE) {
        ab_fail(&err, errno, "the working directory is not inside the container");
        child_fail(a->sock, &err);
    }

    strv env = { 0 };
    if (build_env(s, id, shell, &env) < 0) {
        ab_fail(&err, ENOMEM, "cannot build the environment");
        child_fail(a->sock, &err);
    }

    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
        ab_fail(&err, errno, "cannot set no_new_privs");
        child_fail(a->sock, &err);
    }
    /* Only 0, 1 and 2 cross exec; the sync socket (close-on-exec) stays
     * until exec so a failure can still be reported. */
    if (syscall(SYS_close_range, 3, ~0U, CLOSE_RANGE_CLOEXEC) < 0) {
        ab_fail(&err, errno, "cannot close inherited file descriptors");
        child_fail(a->sock, &err);
    }
    if (s->seccomp && seccomp_filter_load(&err) < 0)
        child_fail(a->sock, &err);

    extern char **environ;
    environ = env.v;
    execvp(s->argv.v[0], s->argv.v);
    int e = errno;
    ab_error_set(&err, e == ENOENT ? AB_ERR_NOTFOUND : AB_ERR_EXEC, e, "cannot run %s", s->argv.v[0]);
    child_fail(a->sock, &err);
}

static const char *pick_shell(const struct identity *id)
{
    struct stat st;
    if (stat(id->shell, &st) == 0 && S_ISREG(st.st_mode))
        return id->shell;
    return "/bin/sh";
}

/* PID 1 of the container.  Never returns. */
static _Noreturn void child_main(const struct child_args *a)
{
    const struct spec *s = a->spec;
    ab_error err = { 0 };

    /* If appbox dies, so does the container (all of it: we are its init). */
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    struct sync_msg go;
    if (fd_recv(a->sock, NULL, &go, sizeof(go)) != (int)sizeof(go) || go.type != MSG_GO)
        _exit(125); /* the parent failed (its message says why) or is gone */

    /* Host root is not mapped in our namespace (container root is an
     * unprivileged host id): become the namespace's root, or files we
     * create would have no owner. */
    if (a->id->caller_uid == 0 && (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0 || setgroups(0, NULL) < 0)) {
        ab_fail(&err, errno, "cannot become root in the container's user namespace");
        child_fail(a->sock, &err);
    }
    const char *h = s->hostname ? s->hostname : "appbox";
    if (sethostname(h, strlen(h)) < 0) {
        ab_fail(&err, errno, "cannot set the host name to %s", h);
        child_fail(a->sock, &err);
    }
    if (s->net == NET_NONE && loopback_up(&err) < 0)
        child_fail(a->sock, &err);

    struct mounts_ctx mc = { .spec = s, .id = a->id, .own_netns = s->net != NET_HOST };
    if (mounts_setup(&mc, &err) < 0)
        child_fail(a->sock, &err);
    const char *shell = pick_shell(a->id);

    sigset_t oldmask;
    init_block_signals(&oldmask);
    pid_t cmd = fork();
    if (cmd < 0) {
        ab_fail(&err, errno, "cannot start the command");
        child_fail(a->sock, &err);
    }
    if (cmd == 0)
        run_command(a, &oldmask, shell);

    /* Init keeps nothing it does not need: the command's identity (so it
     * may signal it), no capabilities, not dumpable (its /proc/1/exe is the
     * appbox binary on the host), and no fd but 0-2. */
    close(a->sock);
    if (take_identity(a->id, &err) == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0); /* reset by the id change */
        caps_apply(0, true, &err);
    }
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    _exit(init_loop(cmd));
}

static pid_t clone_child(unsigned long long flags)
{
    struct clone_args ca = { .flags = flags, .exit_signal = SIGCHLD };
    long r = syscall(SYS_clone3, &ca, sizeof(ca));
    if (r < 0 && errno == ENOSYS) {
        r = syscall(SYS_clone, (unsigned long)(flags | SIGCHLD), NULL, NULL, NULL, 0);
    }
    return (pid_t)r;
}

static pid_t forward_to = 0;

static void forward_signal(int sig)
{
    if (forward_to > 0)
        kill(forward_to, sig);
}

static int wait_plain(pid_t pid, int *wstatus)
{
    static const int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH };
    struct sigaction sa = { .sa_handler = forward_signal, .sa_flags = SA_RESTART };
    sigemptyset(&sa.sa_mask);
    forward_to = pid;
    for (size_t i = 0; i < ARRAY_SIZE(sigs); i++)
        sigaction(sigs[i], &sa, NULL);
    while (waitpid(pid, wstatus, 0) < 0)
        if (errno != EINTR)
            return -errno;
    return 0;
}

int sandbox_run(const struct spec *s, int *exit_code, ab_error *err)
{
    if (s->argv.n == 0)
        return ab_usage(err, "no command given (usage: appbox sandbox [OPTIONS] [--] COMMAND [ARG...])");
    struct identity id;
    int r = identity_resolve(s, &id, err);
    if (r < 0)
        return r;
    struct idmap uids, gids;
    if ((r = idmap_choose(&uids, &gids, id.caller_uid, id.caller_gid, id.caller_name, id.uid, id.gid, err)) < 0)
        return r;

    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
        return ab_fail(err, errno, "cannot create the sync socket");
    _cleanup_close_ int sock = sv[0];
    struct child_args a = { .spec = s, .id = &id, .sock = sv[1],
                            .want_pty = isatty(STDIN_FILENO) && isatty(STDOUT_FILENO) };

    unsigned long long flags = CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS |
                               CLONE_NEWCGROUP;
    if (s->net != NET_HOST)
        flags |= CLONE_NEWNET;
    fflush(NULL);
    pid_t pid = clone_child(flags);
    if (pid < 0) {
        close(sv[1]);
        return ab_fail(err, errno, "cannot create the container's namespaces");
    }
    if (pid == 0) {
        close(sv[0]);
        child_main(&a);
    }
    close(sv[1]);

    r = idmap_write(pid, &uids, &gids, err);
    if (r == 0) {
        struct sync_msg go = { .type = MSG_GO };
        if (fd_send(sock, -1, &go, sizeof(go)) < 0)
            r = ab_fail(err, errno, "cannot start the container");
    }
    if (r < 0) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        return r;
    }

    /* Until the command execs, the child may report a failure or hand us
     * its pty; end of file means exec succeeded. */
    int master = -1;
    bool failed = false;
    for (;;) {
        struct sync_msg m;
        int fd = -1;
        int n = fd_recv(sock, &fd, &m, sizeof(m));
        if (n <= 0)
            break;
        if (m.type == MSG_PTY && fd >= 0) {
            master = fd;
        } else if (m.type == MSG_ERROR) {
            ab_error_set(err, (enum ab_error_kind)m.kind, 0, "%s", m.text);
            err->errnum = m.errnum;
            failed = true;
            if (fd >= 0)
                close(fd);
        } else if (fd >= 0) {
            close(fd);
        }
    }

    int wstatus = 0;
    if (master >= 0 && !failed) {
        r = pty_relay(master, pid, &wstatus, err);
        close(master);
    } else {
        if (master >= 0)
            close(master);
        r = wait_plain(pid, &wstatus);
        if (r < 0)
            return ab_fail(err, -r, "cannot wait for the container");
    }
    if (failed)
        return -(err->errnum ? err->errnum : EINVAL);
    if (r < 0)
        return r;
    *exit_code = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
    return 0;
}
