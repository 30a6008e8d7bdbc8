#include "runtime/sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/capability.h>
#include <linux/sched.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cgroup/cgroup.h"
#include "desktop/devices.h"
#include "desktop/sound.h"
#include "desktop/display.h"
#include "net/net.h"
#include "desktop/hostfiles.h"
#include "runtime/boot.h"
#include "runtime/caps.h"
#include "runtime/identity.h"
#include "runtime/idmap.h"
#include "runtime/init.h"
#include "runtime/mounts.h"
#include "runtime/oci_process.h"
#include "spec/oci.h"
#include "runtime/pipeline.h"
#include "runtime/pty.h"
#include "runtime/resolve.h"
#include "runtime/seccomp_filter.h"
#include "spec/defaults.h"
#include "util/cleanup.h"
#include "util/fsutil.h"


static const char *const ns_names[NS_COUNT] = { "user", "mnt", "pid", "ipc", "uts", "cgroup", "net" };
static const int ns_types[NS_COUNT] = { CLONE_NEWUSER, CLONE_NEWNS, CLONE_NEWPID, CLONE_NEWIPC, CLONE_NEWUTS,
                                        CLONE_NEWCGROUP, CLONE_NEWNET };

void ns_fds_close(struct ns_fds *ns)
{
    for (int i = 0; i < NS_COUNT; i++)
        if (ns->fd[i] >= 0) {
            close(ns->fd[i]);
            ns->fd[i] = -1;
        }
}

struct child_args {
    const struct spec *spec;
    const strv *passenv;
    int sock;
    bool want_pty;
    const struct stdio_pipes *stdio; /* the container side's fds 0-2 (never the host's terminal) */
    bool service;          /* init waits for stop instead of running argv */
    sigset_t mask;         /* the signal mask before appbox blocked its own */
    int lifeline;          /* read end of a pipe whose write end only the runner holds, for its life */
    /* appbox-oci (spec.oci): PID 1 is the process itself; it outlives the
     * runner (create exits), so no death signal, no lifeline; it waits on
     * the exec fifo (-1: none) once set up (runtime/oci_process.c) */
    bool oci;
    int fifo_fd;
};

void sandbox_send_error(int sock, const ab_error *err)
{
    struct sandbox_msg m = { .type = SANDBOX_MSG_ERROR, .kind = err->kind, .errnum = err->errnum };
    snprintf(m.text, sizeof(m.text), "%s", err->msg);
    fd_send(sock, -1, &m, sizeof(m));
}

static _Noreturn void child_fail(int sock, const ab_error *err)
{
    sandbox_send_error(sock, err);
    _exit(ab_error_exit_code(err));
}

/* Add NAME=VALUE entries of EXTRA to ENV, replacing same-named ones. */
static int add_env(strv *env, const strv *extra)
{
    for (size_t i = 0; extra && i < extra->n; i++) {
        size_t nlen = (size_t)(strchr(extra->v[i], '=') - extra->v[i]) + 1;
        bool replaced = false;
        for (size_t j = 0; j < env->n; j++)
            if (strncmp(env->v[j], extra->v[i], nlen) == 0) {
                char *c = strdup(extra->v[i]);
                if (!c)
                    return -ENOMEM;
                free(env->v[j]);
                env->v[j] = c;
                replaced = true;
            }
        if (!replaced && strv_push(env, extra->v[i]) < 0)
            return -ENOMEM;
    }
    return 0;
}

/* Whether the host variable KV may come in: the locale's only when the
 * root has that locale (a program would warn about it on every start). */
static bool passenv_fits(int rootfd, const char *kv)
{
    const char *eq = strchr(kv, '=');
    if (!eq || !(strncmp(kv, "LANG=", 5) == 0 || strncmp(kv, "LC_", 3) == 0))
        return true;
    return rootfd >= 0 && identity_locale_present(rootfd, eq + 1);
}

/* The clean environment: nothing of the host's but the terminal type and
 * the locale, so no token or bus address leaks in.  PATH is the one a
 * login gets in this root (its login.defs or profile), followed by the
 * folders of appbox's own default it lacks; else appbox's default. */
static int build_env(const struct spec *s, const struct spec_user *id, const char *shell, const strv *passenv,
                     strv *env)
{
    _cleanup_close_ int rootfd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
    char login_path[2048];
    const char *path = spec_default_path(id->uid == 0);
    if (rootfd >= 0 && identity_login_path(rootfd, id->uid == 0, login_path, sizeof(login_path) / 2) == 0) {
        /* The root's own order first; then what appbox always gave that it
         * lacks (Debian's ENV_PATH has no sbin: `ip`, `capsh` stay found). */
        for (const char *d = path; *d;) {
            size_t len = strcspn(d, ":");
            bool have = false;
            for (const char *h = login_path; *h && !have;) {
                size_t hl = strcspn(h, ":");
                have = hl == len && strncmp(h, d, len) == 0;
                h += hl + (h[hl] == ':');
            }
            size_t used = strlen(login_path);
            if (!have && used + len + 2 < sizeof(login_path))
                snprintf(login_path + used, sizeof(login_path) - used, ":%.*s", (int)len, d);
            d += len + (d[len] == ':');
        }
        path = login_path;
    }
    const char *const base[][2] = {
        { "PATH", path }, { "HOME", id->home }, { "USER", id->name }, { "LOGNAME", id->name }, { "SHELL", shell },
    };
    for (size_t i = 0; i < ARRAY_SIZE(base); i++) {
        char *kv;
        if (asprintf(&kv, "%s=%s", base[i][0], base[i][1]) < 0 || strv_push_take(env, kv) < 0)
            return -ENOMEM;
    }
    strv host = { 0 };
    for (size_t i = 0; passenv && i < passenv->n; i++)
        if (passenv_fits(rootfd, passenv->v[i]) && strv_push(&host, passenv->v[i]) < 0) {
            strv_clear(&host);
            return -ENOMEM;
        }
    int r = add_env(env, &host);
    strv_clear(&host);
    if (r < 0)
        return -ENOMEM;
    return add_env(env, &s->process.env);
}

static int take_identity(const struct spec_user *id, ab_error *err)
{
    /* (uid_t)-1 is no id: setresuid(-1, -1, -1) changes nothing, and the
     * process would keep whatever ids it has (a helper's host ids). */
    if (id->uid == (uid_t)-1 || id->gid == (gid_t)-1)
        return ab_fail(err, 0, "%s: %s id -1 is not an id", id->name, id->uid == (uid_t)-1 ? "user" : "group");
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
    uid_t ru, eu, su;
    gid_t rg, eg, sg;
    if (getresuid(&ru, &eu, &su) < 0 || getresgid(&rg, &eg, &sg) < 0 || ru != id->uid || eu != id->uid ||
        su != id->uid || rg != id->gid || eg != id->gid || sg != id->gid)
        return ab_fail(err, EPERM, "cannot become user %u, group %u", id->uid, id->gid);
    return 0;
}

/* The inside id that host id OUTSIDE has in map M, or (uint32_t)-1. */
static uint32_t idmap_inside(const struct spec_idmap *m, uint32_t outside)
{
    for (size_t i = 0; i < m->n; i++)
        if (outside >= m->r[i].outside && outside - m->r[i].outside < m->r[i].count)
            return m->r[i].inside + (outside - m->r[i].outside);
    return UINT32_MAX;
}

/* The join helper, right after setns(user): take ids the container's map
 * holds, so that no later id change that turns out a no-op can leave it
 * (or the command) with its host ids (host root's, for a root caller,
 * whose own ids are not mapped).  The caller's own inside ids where they
 * are mapped, else the container's root.  Entering the namespace gave
 * the helper every capability in it; a change to inside ids keeps them
 * (to root: the effective set is the permitted one again), so the other
 * namespaces can still be joined. */
static int join_take_mapped_ids(const struct spec *s, ab_error *err)
{
    const struct spec_container *c = &s->container;
    uint32_t u = idmap_inside(&c->uid_map, s->process.user.caller_uid);
    uint32_t g = idmap_inside(&c->gid_map, s->process.user.caller_gid);
    if (u == UINT32_MAX || g == UINT32_MAX) {
        u = 0;
        g = 0;
    }
    if (!idmap_contains(&c->uid_map, u) || !idmap_contains(&c->gid_map, g))
        return ab_fail(err, 0, "neither your ids nor root are mapped in the container");
    if (setgroups(0, NULL) < 0 && errno != EPERM)
        return ab_fail(err, errno, "cannot clear the supplementary groups");
    if (setresgid(g, g, g) < 0 || setresuid(u, u, u) < 0)
        return ab_fail(err, errno, "cannot take the container's ids %u:%u", u, g);
    uid_t ru, eu, su;
    if (getresuid(&ru, &eu, &su) < 0 || ru != u || eu != u || su != u)
        return ab_fail(err, EPERM, "cannot take the container's uid %u", u);
    return 0;
}

/* Which compiled program of the default filter the process gets. */
static unsigned seccomp_variant(const struct spec_process *p)
{
    return (p->io_uring ? SECCOMP_ALLOW_IO_URING : 0) | (p->store_setid ? SECCOMP_ALLOW_SETID : 0);
}

/* Whether the resolved, real path PATH lies below REAL_DATA (the data
 * store's real path). */
static bool below(const char *path, const char *real_data)
{
    size_t len = strlen(real_data);
    return path && strncmp(path, real_data, len) == 0 && path[len] == '/';
}

/* A filter that allows set-id modes is only for appbox's own runs on a
 * root in its store, which is the caller's alone (0700): every tree the
 * command can write must be in there, or a set-id program it made would
 * be one for the host users who can reach it.  Checked on the resolved
 * spec (real paths, pinned by dev/ino for the mounts module), so no bind
 * of the user's can get the variant by accident. */
static int check_store_setid(const struct ab_ctx *ctx, const struct spec *s, ab_error *err)
{
    if (!s->process.store_setid || !s->process.seccomp)
        return 0;
    _cleanup_free_ char *real_data = ctx && ctx->data_dir ? realpath(ctx->data_dir, NULL) : NULL;
    const char *outside = NULL;
    if (!real_data)
        outside = "(no data store)";
    else if (s->container.writable && !below(s->container.root, real_data))
        outside = s->container.root ? s->container.root : "/";
    for (size_t i = 0; !outside && i < s->container.n_mounts; i++) {
        const struct spec_mount *m = &s->container.mounts[i];
        if (m->type == MOUNT_TYPE_BIND && !(m->options & MOUNT_RO) && !below(m->source, real_data))
            outside = m->source;
    }
    if (outside)
        return ab_fail(err, EPERM, "internal error: set-id modes are kept only for trees in appbox's store, not '%s'",
                       outside);
    return 0;
}

/* The caller's working directory, where the spec says the container has
 * it at the same path: opened in the container's root (its links resolved
 * inside it, as the command's own ids) and entered only if it is the very
 * directory the caller is in (device and inode), so nothing the container
 * changed can send the command elsewhere; else the home. */
static bool enter_followed_cwd(const char *path, dev_t dev, ino_t ino)
{
    _cleanup_close_ int root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (root < 0)
        return false;
    _cleanup_close_ int fd = fs_open_in_root(root, path, O_PATH | O_DIRECTORY);
    struct stat st;
    return fd >= 0 && fstat(fd, &st) == 0 && st.st_dev == dev && st.st_ino == ino && fchdir(fd) == 0;
}

/* The command's last steps before exec, shared by `sandbox` (PID 2 of a
 * new container) and `exec`/`run` (a process that joined a running one):
 * identity, terminal, capabilities, working directory, environment,
 * no_new_privs, fds, seccomp, exec.  Never returns. */
_Noreturn void sandbox_exec_command(const struct exec_params *p)
{
    const struct spec *s = p->spec;
    const struct spec_user *id = p->id;
    const struct child_args *a = &(struct child_args){ .sock = p->sock, .want_pty = p->want_pty };
    const char *shell = p->shell;
    ab_error err = { 0 };

    if (setsid() < 0)
        ab_fail(&err, errno, "cannot start a new session");
    else if (take_identity(id, &err) < 0)
        ;
    else if (a->want_pty) {
        /* The host terminal's size, as appbox read it: fds 0-2 here are
         * /dev/null until the pty takes their place. */
        struct sandbox_msg m = { .type = SANDBOX_MSG_PTY, .ws = p->ws };
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

    const char *chdir_to = p->chdir ? p->chdir : s->process.cwd;
    if (chdir_to) {
        if (chdir(chdir_to) < 0) {
            ab_fail(&err, errno, "--chdir: cannot change to %s in the container", chdir_to);
            child_fail(a->sock, &err);
        }
    } else if (!(p->follow_cwd && enter_followed_cwd(p->follow_cwd, p->follow_dev, p->follow_ino)) &&
               chdir(id->home) < 0) {
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
    if (build_env(s, id, shell, p->passenv, &env) < 0 || add_env(&env, p->extra_env) < 0) {
        ab_fail(&err, ENOMEM, "cannot build the environment");
        child_fail(a->sock, &err);
    }

    /* A fork bomb inside stops at the container's limit: its pids cgroup
     * where it has one (every process of the container counts, whoever
     * it runs as), else RLIMIT_NPROC (counted for its user in its user
     * namespace), not at the host's. */
    struct rlimit nproc;
    if (s->container.pids_cgroup)
        nproc.rlim_cur = nproc.rlim_max = RLIM_INFINITY;
    else if (s->container.pids_limit && getrlimit(RLIMIT_NPROC, &nproc) == 0 &&
        (nproc.rlim_max == RLIM_INFINITY || nproc.rlim_max > s->container.pids_limit))
        nproc.rlim_cur = nproc.rlim_max = s->container.pids_limit; /* never above what the caller has */
    else
        nproc.rlim_cur = nproc.rlim_max = RLIM_INFINITY;
    if (nproc.rlim_max != RLIM_INFINITY && setrlimit(RLIMIT_NPROC, &nproc) < 0) {
        ab_fail(&err, errno, "cannot limit the container to %llu processes",
                (unsigned long long)s->container.pids_limit);
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
    if (s->process.seccomp && seccomp_filter_load(seccomp_variant(&s->process), &err) < 0)
        child_fail(a->sock, &err);

    extern char **environ;
    environ = env.v;
    char *const *argv = p->argv;
    if (p->login_shell) {
        /* A login shell: argv[0] is "-NAME" of the shell that runs, as
         * login(1) does it (a multi-call busybox picks its applet by it). */
        const char *base = strrchr(shell, '/');
        char *dash;
        if (asprintf(&dash, "-%s", base ? base + 1 : shell) >= 0) {
            ((char **)argv)[0] = dash;
            execv(shell, argv);
        }
    } else {
        execvp(argv[0], argv);
    }
    int e = errno;
    ab_error_set(&err, e == ENOENT ? AB_ERR_NOTFOUND : AB_ERR_EXEC, e, "cannot run %s",
                 p->login_shell ? shell : argv[0]);
    child_fail(a->sock, &err);
}

static const char *pick_shell(const struct spec_user *id)
{
    struct stat st;
    if (stat(id->shell, &st) == 0 && S_ISREG(st.st_mode))
        return id->shell;
    return "/bin/sh";
}

/* Init keeps nothing it does not need: an identity that may signal the
 * container's processes, no capability but CAP_KILL (as root inside, for
 * processes of other users), not dumpable (its /proc/1/exe is the appbox
 * binary on the host), and no fd but 0-2. */
static void init_drop_privileges(const struct spec_user *id, int lifeline)
{
    ab_error err;
    struct spec_user as = *id;
    if (setresgid(0, 0, 0) == 0 && setresuid(0, 0, 0) == 0) {
        /* 0 is mapped: run init as root inside, so it may signal everyone */
        as.uid = 0;
        as.gid = 0;
    }
    if (take_identity(&as, &err) == 0)
        caps_set(as.uid == 0 ? 1ULL << CAP_KILL : 0, &err); /* init never execs */
    /* The id change and the capabilities dropped both clear the death
     * signal: armed again after the last of them, or a SIGKILLed runner
     * would leave the container running, orphaned. */
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    /* A runner that died before that sent no signal: its end of the
     * lifeline is closed then (init cannot see its parent from its PID
     * namespace to ask). */
    struct pollfd lp = { .fd = lifeline, .events = POLLIN };
    if (poll(&lp, 1, 0) > 0 && (lp.revents & (POLLHUP | POLLERR)))
        _exit(128 + SIGKILL);
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    syscall(SYS_close_range, 3, ~0U, 0);
}

static int uts_after_pivot(struct inside *in, ab_error *err)
{
    /* config.json without a hostname: the namespace's as it came */
    if (in->spec->oci && (!in->spec->container.hostname || !(in->spec->container.namespaces & CLONE_NEWUTS)))
        return 0;
    const char *h = in->spec->container.hostname ? in->spec->container.hostname : SPEC_DEFAULT_HOSTNAME;
    if (sethostname(h, strlen(h)) < 0)
        return ab_fail(err, errno, "cannot set the host name to %s", h);
    return 0;
}

const struct module uts_module = {
    .name = "hostname",
    .after_pivot = uts_after_pivot,
};

struct command_start {
    const struct child_args *a;
    const char *shell;
    const sigset_t *oldmask;
};

/* The command, from clone() in child_main(): never returns. */
static int command_main(void *arg)
{
    const struct command_start *cs = arg;
    const struct child_args *a = cs->a;
    init_child_reset(cs->oldmask);
    struct exec_params p = { .spec = a->spec, .passenv = a->passenv, .id = &a->spec->process.user,
                             .argv = a->spec->process.argv.v,
                             .sock = a->sock, .want_pty = a->want_pty, .ws = a->stdio->ws, .shell = cs->shell,
                             .follow_cwd = a->spec->process.cwd_follow, .follow_dev = a->spec->process.cwd_dev,
                             .follow_ino = a->spec->process.cwd_ino };
    sandbox_exec_command(&p);
}

/* PID 1 of the container.  Never returns. */
static _Noreturn void child_main(const struct child_args *a)
{
    const struct spec *s = a->spec;
    const struct spec_user *id = &s->process.user;
    ab_error err = { 0 };

    /* If appbox dies, so does the container (all of it: we are its init);
     * not an OCI container's PID 1, which outlives `appbox-oci create`
     * (until "go" a runner that dies ends it anyway: the sync socket
     * reads end of file). */
    if (!a->oci)
        prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    else
        oci_close_inherited(s->oci->preserve_fds, a->sock, a->fifo_fd);
    /* Never the host's terminal, from the start (PID 1 keeps 0-2). */
    stdio_pipes_child(a->stdio);
    sigprocmask(SIG_SETMASK, &a->mask, NULL);
    /* Trees the runner prepared (idmapped binds), then "go". */
    struct inside in = { .spec = s, .sock = a->sock, .premade_root = -1, .premade_lower = -1 };
    for (size_t i = 0; i < RUNNER_MAX_TREES; i++)
        in.premade[i] = -1;
    for (;;) {
        struct sandbox_msg m;
        int fd = -1;
        if (fd_recv(a->sock, &fd, &m, sizeof(m)) != (int)sizeof(m))
            _exit(125); /* the runner failed (its message says why) or is gone */
        if (m.type == SANDBOX_MSG_GO)
            break;
        if (m.type == SANDBOX_MSG_TREE && fd >= 0 && m.kind == -1)
            in.premade_root = fd;
        else if (m.type == SANDBOX_MSG_TREE && fd >= 0 && m.kind == -2)
            in.premade_lower = fd;
        else if (m.type == SANDBOX_MSG_TREE && fd >= 0 && m.kind >= 0 && m.kind < RUNNER_MAX_TREES)
            in.premade[m.kind] = fd;
        else if (fd >= 0)
            close(fd);
    }

    /* The cgroup namespace, first thing after "go": PID 1 is in its groups
     * by now (host_setup), so the namespace is rooted there and the
     * container sees its own groups as "/" (not the caller's).  The
     * namespace fds a supervisor hands to sessions are taken later. */
    if ((s->container.namespaces & CLONE_NEWCGROUP) && unshare(CLONE_NEWCGROUP) < 0) {
        ab_fail(&err, errno, "cannot create the container's cgroup namespace");
        child_fail(a->sock, &err);
    }

    /* Every module's steps inside, around the pivot into the new root. */
    if (pipeline_before_pivot(runtime_modules, &in, &err) < 0 || mounts_pivot(&err) < 0 ||
        pipeline_after_pivot(runtime_modules, &in, &err) < 0)
        child_fail(a->sock, &err);
    if (a->oci)
        oci_process_main(s, a->sock, a->fifo_fd);
    const char *shell = pick_shell(id);

    sigset_t oldmask;
    init_block_signals(&oldmask);
    if (a->service) {
        struct sandbox_msg ready = { .type = SANDBOX_MSG_READY };
        int fds[NS_COUNT + 1];
        for (int i = 0; i < NS_COUNT; i++) {
            char p[32];
            snprintf(p, sizeof(p), "/proc/self/ns/%s", ns_names[i]);
            fds[i] = open(p, O_RDONLY | O_CLOEXEC);
            if (fds[i] < 0) {
                ab_fail(&err, errno, "cannot open %s", p);
                child_fail(a->sock, &err);
            }
        }
        /* a booted container's console master, after the namespaces */
        int console = boot_take_console();
        if (console >= 0)
            fds[NS_COUNT] = console;
        fds_send(a->sock, fds, NS_COUNT + (console >= 0), &ready, sizeof(ready));
        close(a->sock);
        if (boot_enabled(s))
            boot_exec_init(s, a->lifeline);
        init_drop_privileges(id, a->lifeline);
        _exit(init_service_loop());
    }
    /* The command shares PID 1's memory until it execs (CLONE_VM |
     * CLONE_VFORK, as posix_spawn does, on a stack of its own): no page
     * tables to copy, and no copy-on-write faults in either process.  PID 1
     * sleeps meanwhile, so nothing else touches that memory; the command's
     * exec (or _exit on failure) gives it back.  Credentials, capabilities,
     * the seccomp filter, signal handlers and fds stay per process.
     * PID 1 resumes only once the command runs, so it stops being
     * dumpable first: the command (same uid inside) must never reach
     * /proc/1/fd or ptrace PID 1 before init_drop_privileges().  The flag
     * belongs to the shared memory, so the command is not dumpable either
     * until its exec sets it afresh. */
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    struct command_start cs = { .a = a, .shell = shell, .oldmask = &oldmask };
    const size_t stack_size = 1 << 20;
    void *stack = mmap(NULL, stack_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    pid_t cmd = stack == MAP_FAILED ? -1
                                    : clone(command_main, (char *)stack + stack_size, CLONE_VM | CLONE_VFORK | SIGCHLD,
                                            &cs);
    if (cmd < 0) {
        ab_fail(&err, errno, "cannot start the command");
        child_fail(a->sock, &err);
    }
    munmap(stack, stack_size);

    /* Init keeps nothing it does not need: the command's identity (so it
     * may signal it), no capabilities, not dumpable (its /proc/1/exe is the
     * appbox binary on the host), and no fd but 0-2. */
    close(a->sock);
    init_drop_privileges(id, a->lifeline);
    _exit(init_loop(cmd));
}

#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif

/* CGROUP_FD >= 0: the child is born in that v2 group
 * (CLONE_INTO_CGROUP), where the kernel can; otherwise (older kernels,
 * or a group it refuses) host_setup moves it there before "go". */
static pid_t clone_child(unsigned long long flags, int cgroup_fd)
{
    /* With CLONE_PARENT the child reports to our parent with our own exit
     * signal; clone3 wants exit_signal 0 then. */
    struct clone_args ca = { .flags = flags, .exit_signal = (flags & CLONE_PARENT) ? 0 : SIGCHLD };
    long r = -1;
    if (cgroup_fd >= 0) {
        struct clone_args cg = ca;
        cg.flags |= CLONE_INTO_CGROUP;
        cg.cgroup = (uint64_t)cgroup_fd;
        r = syscall(SYS_clone3, &cg, sizeof(cg));
        if (r < 0 && errno != ENOSYS && errno != EOPNOTSUPP && errno != EBUSY && errno != E2BIG &&
            errno != EINVAL && errno != EACCES && errno != EPERM)
            return (pid_t)r;
    }
    if (r < 0)
        r = syscall(SYS_clone3, &ca, sizeof(ca));
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

/* The signals appbox forwards are blocked from before the container
 * exists until a handler is in place, so none is lost (or kills appbox)
 * in between. */
static void block_forwarded(sigset_t *old)
{
    sigset_t set;
    init_forwarded_signals(&set);
    sigprocmask(SIG_BLOCK, &set, old);
}

int sandbox_wait_forwarding(pid_t pid, int *wstatus, const sigset_t *orig_mask)
{
    static const int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH };
    struct sigaction sa = { .sa_handler = forward_signal, .sa_flags = SA_RESTART }, old[ARRAY_SIZE(sigs)];
    sigemptyset(&sa.sa_mask);
    forward_to = pid;
    for (size_t i = 0; i < ARRAY_SIZE(sigs); i++)
        sigaction(sigs[i], &sa, &old[i]);
    sigprocmask(SIG_SETMASK, orig_mask, NULL);
    int r = 0;
    while (waitpid(pid, wstatus, 0) < 0)
        if (errno != EINTR) {
            r = -errno;
            break;
        }
    /* The caller's own handlers again (create's, which clean up after a
     * Ctrl-C), with the container gone. */
    sigset_t all, prev;
    sigfillset(&all);
    sigprocmask(SIG_BLOCK, &all, &prev);
    forward_to = 0;
    for (size_t i = 0; i < ARRAY_SIZE(sigs); i++)
        sigaction(sigs[i], &old[i], NULL);
    sigprocmask(SIG_SETMASK, &prev, NULL);
    return r;
}

int runner_send_tree(struct runner *r, int index, int treefd)
{
    struct sandbox_msg m = { .type = SANDBOX_MSG_TREE, .kind = index };
    return fd_send(r->sock, treefd, &m, sizeof(m)) < 0 ? -errno : 0;
}

/* Clone the container's PID 1 and run every module's host-side steps
 * (its id maps first) before "go".  On success the runner holds its pid
 * and the parent's end of the sync socket. */
static int spawn(struct runner *run, bool service, const struct stdio_pipes *stdio, const sigset_t *orig_mask,
                 int oci_fifo, ab_error *err)
{
    const struct spec *s = run->spec;
    int r = pipeline_prepare(runtime_modules, run, err);
    if (r < 0) {
        /* what the modules before the failing one made (a helper, a file) */
        pipeline_teardown(runtime_modules, run);
        return r;
    }
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
        r = ab_fail(err, errno, "cannot create the sync socket");
        pipeline_teardown(runtime_modules, run);
        return r;
    }
    /* The lifeline's write end stays open in the runner until it exits
     * (close-on-exec: no program it starts holds it; its forked helpers
     * close it), never closed by hand. */
    int lifeline[2];
    if (pipe2(lifeline, O_CLOEXEC) < 0) {
        r = ab_fail(err, errno, "cannot create the container's lifeline pipe");
        close(sv[0]);
        close(sv[1]);
        pipeline_teardown(runtime_modules, run);
        return r;
    }
    struct child_args a = { .spec = s, .passenv = run->ctx ? &run->ctx->passenv : NULL, .sock = sv[1],
                            .want_pty = stdio->pty, .stdio = stdio, .service = service,
                            .mask = *orig_mask, .lifeline = lifeline[0], .oci = s->oci != NULL,
                            .fifo_fd = oci_fifo };
    fflush(NULL);
    /* the cgroup namespace comes later, from PID 1 itself, once it is in
     * its groups (child_main) */
    pid_t pid = clone_child(s->container.namespaces & ~(unsigned long long)CLONE_NEWCGROUP, run->cgroup_fd);
    if (pid < 0) {
        int e = errno;
        close(sv[0]);
        close(sv[1]);
        close(lifeline[0]);
        close(lifeline[1]);
        pipeline_teardown(runtime_modules, run);
        return ab_fail(err, e, "cannot create the container's namespaces");
    }
    if (pid == 0) {
        close(sv[0]);
        close(lifeline[1]);
        child_main(&a);
    }
    close(sv[1]);
    close(lifeline[0]);
    run->child = pid;
    run->sock = sv[0];

    r = pipeline_host_setup(runtime_modules, run, err);
    if (r == 0 && run->before_go)
        r = run->before_go(run, err);
    if (r == 0) {
        struct sandbox_msg go = { .type = SANDBOX_MSG_GO };
        if (fd_send(sv[0], -1, &go, sizeof(go)) < 0)
            r = ab_fail(err, errno, "cannot start the container");
    }
    if (r < 0) {
        close(sv[0]);
        run->sock = -1;
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        run->child = -1;
        pipeline_teardown(runtime_modules, run);
        return r;
    }
    return 0;
}

/* Until the command execs, the child may report a failure or hand us its
 * pty; end of file means exec succeeded (the socket is close-on-exec).
 * Then relay the terminal or forward signals until PID exits. */
static int wait_for_command(int sock, pid_t pid, struct stdio_pipes *stdio, const sigset_t *orig_mask, int *exit_code,
                            ab_error *err)
{
    int master = -1;
    bool failed = false;
    for (;;) {
        struct sandbox_msg m;
        int fd = -1;
        int n = fd_recv(sock, &fd, &m, sizeof(m));
        if (n <= 0)
            break;
        if (m.type == SANDBOX_MSG_PTY && fd >= 0) {
            master = fd;
            continue;
        }
        if (m.type == SANDBOX_MSG_ERROR) {
            ab_error_set(err, (enum ab_error_kind)m.kind, 0, "%s", m.text);
            err->errnum = m.errnum;
            failed = true;
        }
        if (fd >= 0)
            close(fd);
    }

    int wstatus = 0, r;
    if (master >= 0 && !failed) {
        r = pty_relay(master, pid, &wstatus, err);
        close(master);
        sigprocmask(SIG_SETMASK, orig_mask, NULL);
    } else if (stdio_pipes_relayed(stdio) && !failed) {
        r = stdio_relay(stdio, pid, &wstatus, err);
        sigprocmask(SIG_SETMASK, orig_mask, NULL);
    } else {
        stdio_pipes_close(stdio);
        if (master >= 0)
            close(master);
        r = sandbox_wait_forwarding(pid, &wstatus, orig_mask);
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

/* A pty when stdin and stdout are terminals (an interactive session);
 * otherwise any of fds 0-2 that is a terminal becomes a relayed pipe
 * (see struct stdio_pipes). */
static bool want_pty(void)
{
    return isatty(STDIN_FILENO) && isatty(STDOUT_FILENO);
}

int sandbox_resolve(struct ab_ctx *ctx, struct spec *s, const char *name, ab_error *err)
{
    /* once: what it reserves (an address, a port) must not be taken twice */
    if (s->container.resolved)
        return 0;
    int r = sound_resolve(s, ctx, name, err);
    /* rootless on cgroup v2: a delegated scope from systemd, if there is
     * a user manager, before the groups are chosen */
    if (r == 0 && (r = cgroup_user_scope(err)) > 0)
        r = 0;
    if (r == 0)
        r = spec_resolve(s, err);
    return r < 0 ? r : net_resolve(ctx, s, name, err);
}

int sandbox_run(struct ab_ctx *ctx, struct spec *s, int *exit_code, bool *oom_killed, ab_error *err)
{
    if (oom_killed)
        *oom_killed = false;
    if (s->process.argv.n == 0)
        return ab_usage(err, "no command given (usage: appbox sandbox [OPTIONS] [--] COMMAND [ARG...])");
    int r = sandbox_resolve(ctx, s, NULL, err);
    if (r == 0)
        r = check_store_setid(ctx, s, err);
    if (r == 0)
        r = display_resolve(ctx, s, NULL, err);
    if (r == 0 && (r = hostfiles_resolve(ctx, s, err)) < 0)
        display_release(s);
    if (r < 0) {
        net_release(ctx, s);
        return r;
    }
    struct runner run;
    runner_init(&run, s, ctx, NULL);
    struct stdio_pipes stdio;
    r = stdio_pipes_open(&stdio, want_pty(), err);
    if (r < 0) {
        display_release(s);
        return r;
    }
    sigset_t orig;
    block_forwarded(&orig);
    r = spawn(&run, false, &stdio, &orig, -1, err);
    stdio_pipes_close_child(&stdio);
    if (r < 0) {
        stdio_pipes_close(&stdio);
        sigprocmask(SIG_SETMASK, &orig, NULL);
        return r;
    }
    r = wait_for_command(run.sock, run.child, &stdio, &orig, exit_code, err);
    /* killed, and by the memory limit: read before teardown removes the group */
    if (oom_killed && r == 0 && *exit_code == 128 + SIGKILL)
        *oom_killed = cgroup_oom_kills(s) > 0;
    stdio_pipes_close(&stdio);
    close(run.sock);
    run.sock = -1;
    run.child = -1;
    pipeline_teardown(runtime_modules, &run);
    return r;
}

int sandbox_spawn_oci(struct runner *run, int fifo_fd, ab_error *err)
{
    /* the process keeps the runtime's own fds 0-2 (conmon's pipes, or a
     * terminal): an OCI runtime passes them on as they are */
    struct stdio_pipes stdio = { .child = { -1, -1, -1 }, .parent = { -1, -1, -1 } };
    sigset_t cur;
    sigprocmask(SIG_SETMASK, NULL, &cur);
    return spawn(run, false, &stdio, &cur, fifo_fd, err);
}

int sandbox_start_service(struct runner *run, struct ns_fds *ns, ab_error *err)
{
    for (int i = 0; i < NS_COUNT; i++)
        ns->fd[i] = -1;
    ns->console = -1;
    sigset_t cur;
    sigprocmask(SIG_SETMASK, NULL, &cur);
    struct stdio_pipes stdio;
    int r = stdio_pipes_open(&stdio, false, err);
    if (r < 0)
        return r;
    r = spawn(run, true, &stdio, &cur, -1, err);
    stdio_pipes_close(&stdio);
    if (r < 0)
        return r;
    struct sandbox_msg m;
    size_t n = 0;
    int fds[NS_COUNT + 1];
    int got = fds_recv(run->sock, fds, NS_COUNT + 1, &n, &m, sizeof(m));
    close(run->sock);
    run->sock = -1;
    if (got == (int)sizeof(m) && m.type == SANDBOX_MSG_READY && n >= NS_COUNT) {
        for (int i = 0; i < NS_COUNT; i++)
            ns->fd[i] = fds[i];
        ns->init_pid = run->child;
        /* a booted container's console: the runner must read it (its pty
         * would fill up and block the init otherwise) */
        if (n == NS_COUNT + 1)
            ns->console = fds[NS_COUNT];
        return 0;
    }
    for (size_t i = 0; i < n; i++)
        close(fds[i]);
    if (got == (int)sizeof(m) && m.type == SANDBOX_MSG_ERROR) {
        ab_error_set(err, (enum ab_error_kind)m.kind, 0, "%s", m.text);
        err->errnum = m.errnum;
    } else {
        ab_fail(err, 0, "the container's init exited during setup");
    }
    waitpid(run->child, NULL, 0);
    run->child = -1;
    pipeline_teardown(runtime_modules, run);
    return -(err->errnum ? err->errnum : EINVAL);
}

/* The joined command's parent: forward signals from appbox, reap, and
 * return the command's status as an exit code. */
static int join_wait(pid_t cmd, pid_t parent)
{
    sigset_t set;
    init_forwarded_signals(&set);
    sigaddset(&set, SIGCHLD);
    for (;;) {
        siginfo_t info;
        int sig = sigwaitinfo(&set, &info);
        if (sig < 0)
            continue;
        if (sig == SIGCHLD) {
            int st;
            pid_t p = waitpid(cmd, &st, WNOHANG);
            if (p == cmd)
                return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
            continue;
        }
        if (getppid() != parent)
            kill(cmd, SIGKILL); /* appbox is gone: so is its command */
        else
            kill(cmd, sig);
    }
}

int sandbox_join(const struct ns_fds *ns, const struct spec *s, const struct join_params *jp, int *exit_code,
                 ab_error *err)
{
    /* The identity the container was started with: nothing is resolved
     * again on the host. */
    struct spec_user id = s->process.user;
    if (jp->as_root) {
        id.uid = 0;
        id.gid = 0;
        snprintf(id.name, sizeof(id.name), "root");
        snprintf(id.group, sizeof(id.group), "root");
        snprintf(id.home, sizeof(id.home), "/root");
        snprintf(id.shell, sizeof(id.shell), "/bin/sh");
    }

    /* The caller's working directory, where the container has it (and
     * no --chdir or WorkingDirectory= says otherwise). */
    struct spec_process follow = { 0 };
    if (!jp->chdir && !s->process.cwd && !jp->service)
        spec_follow_caller_cwd(&follow, s);
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
        spec_process_free(&follow);
        return ab_fail(err, errno, "cannot create the sync socket");
    }
    _cleanup_close_ int sock = sv[0];
    struct stdio_pipes pipes;
    int r = stdio_pipes_open(&pipes, want_pty(), err);
    if (r < 0) {
        close(sv[1]);
        spec_process_free(&follow);
        return r;
    }
    bool pty = pipes.pty;
    fflush(NULL);
    pid_t parent = getpid();
    sigset_t orig;
    block_forwarded(&orig);
    pid_t mid = fork();
    if (mid < 0) {
        close(sv[1]);
        stdio_pipes_close(&pipes);
        sigprocmask(SIG_SETMASK, &orig, NULL);
        spec_process_free(&follow);
        return ab_fail(err, errno, "cannot fork");
    }
    if (mid == 0) {
        close(sv[0]);
        ab_error e = { 0 };
        /* Killed when appbox dies (checked below, as it may already have):
         * SIGKILL, as nothing of the container's is running yet, and the
         * forwarded signals, SIGTERM among them, are blocked here.  A
         * credential change clears it: it is armed again after each. */
        prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
        prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
        if (getppid() != parent)
            _exit(125);
        /* The container's cgroups, while still the host's: a session is
         * limited as PID 1 is (memory, pids, cpu, devices), and its view
         * of the container's cgroup namespace is "/" */
        if (cgroup_enter(s, &e) < 0)
            child_fail(sv[1], &e);
        stdio_pipes_child(&pipes);
        /* The user namespace first: it gives the rights to join the rest.
         * Then ids of the container's own, at once (see
         * join_take_mapped_ids()). */
        for (int i = 0; i < NS_COUNT; i++) {
            if (i == NS_NET && s->container.net == NET_HOST)
                continue;
            if (setns(ns->fd[i], ns_types[i]) < 0) {
                ab_fail(&e, errno, "cannot enter the container's %s namespace", ns_names[i]);
                child_fail(sv[1], &e);
            }
            if (i == NS_USER) {
                if (join_take_mapped_ids(s, &e) < 0)
                    child_fail(sv[1], &e);
                prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
                prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
                if (getppid() != parent)
                    _exit(125);
            }
        }
        if (chdir("/") < 0) {
            ab_fail(&e, errno, "cannot enter the container's root");
            child_fail(sv[1], &e);
        }
        if (jp->user && resolve_user_in_root(jp->user, &id, &e) < 0)
            child_fail(sv[1], &e);
        /* A login shell is the one the container's passwd gives the user
         * (chsh inside counts), when it names one. */
        struct spec_user pw;
        ab_error ignored = { 0 };
        if (jp->login_shell && resolve_user_in_root(id.name, &pw, &ignored) == 0 && pw.uid == id.uid &&
            pw.shell[0] == '/')
            snprintf(id.shell, sizeof(id.shell), "%s", pw.shell);
        /* A login (boot_login): login(1) runs as root and becomes the
         * user itself, through PAM. */
        char login_name[sizeof(id.name)];
        char *login_argv[] = { "login", "-f", login_name, NULL };
        if (jp->boot_login) {
            snprintf(login_name, sizeof(login_name), "%s", id.name);
            id.uid = 0;
            id.gid = 0;
            snprintf(id.name, sizeof(id.name), "root");
            snprintf(id.group, sizeof(id.group), "root");
            snprintf(id.home, sizeof(id.home), "/root");
        }
        /* Only ids of the container's maps: an id the container's passwd
         * names but the namespace does not map is no one there (and
         * (uid_t)-1 would change nothing at all). */
        if (!idmap_contains(&s->container.uid_map, id.uid) || id.uid == (uid_t)-1) {
            ab_usage(&e, "%s%s has uid %u, which is not in the container's user id map", jp->user ? "--user: " : "",
                     id.name, id.uid);
            child_fail(sv[1], &e);
        }
        if (!idmap_contains(&s->container.gid_map, id.gid) || id.gid == (gid_t)-1) {
            ab_usage(&e, "%s%s has gid %u, which is not in the container's group id map",
                     jp->user ? "--user: " : "", id.name, id.gid);
            child_fail(sv[1], &e);
        }
        /* The command must be in the container's PID namespace: only a
         * child enters it.  This process stays its parent and reaper, so
         * that no zombie of the container's is ever left to a reaper
         * outside it: it forwards signals, and if appbox dies, it kills
         * the command, reaps it and goes. */
        sigset_t oldmask = orig;
        init_block_signals(NULL);
        pid_t cmd = fork();
        if (cmd < 0 && errno == ENOMEM) {
            /* The kernel's answer to a fork into a PID namespace whose init
             * is gone: the container stopped while we joined it. */
            ab_error_set(&e, AB_ERR_RUNTIME, 0,
                         "the container stopped while this session was joining it (fork: %s)", strerror(ENOMEM));
            child_fail(sv[1], &e);
        }
        if (cmd < 0) {
            ab_fail(&e, errno, "cannot start the command in the container");
            child_fail(sv[1], &e);
        }
        if (cmd == 0) {
            init_child_reset(&oldmask);
            prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
            if (getppid() != 0)
                _exit(125); /* the helper (outside our PID namespace: 0) is gone */
            struct exec_params p = { .spec = s, .passenv = jp->passenv, .id = &id,
                                     .argv = jp->boot_login ? login_argv : jp->argv, .sock = sv[1], .want_pty = pty, .ws = pipes.ws,
                                     .shell = pick_shell(&id), .extra_env = jp->env, .chdir = jp->chdir,
                                     .login_shell = jp->login_shell && !jp->boot_login, .follow_cwd = follow.cwd_follow,
                                     .follow_dev = follow.cwd_dev, .follow_ino = follow.cwd_ino };
            sandbox_exec_command(&p);
        }
        /* From now on appbox's death is a signal join_wait() handles: it
         * kills the command and reaps it. */
        prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0);
        if (getppid() != parent)
            kill(cmd, SIGKILL);
        close(sv[1]);
        if (jp->pid_fd > 2) {
            char msg[32];
            int len = snprintf(msg, sizeof(msg), "P%d\n", cmd);
            ssize_t wrote = write(jp->pid_fd, msg, (size_t)len); /* its monitor gone: so is this, soon */
            (void)wrote;
            close(jp->pid_fd);
        }
        _exit(join_wait(cmd, parent));
    }
    close(sv[1]);
    stdio_pipes_close_child(&pipes);
    r = wait_for_command(sock, mid, &pipes, &orig, exit_code, err);
    stdio_pipes_close(&pipes);
    spec_process_free(&follow);
    return r;
}
