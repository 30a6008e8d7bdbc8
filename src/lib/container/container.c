#include "container/container.h"


#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cgroup/cgroup.h"
#include "net/proxy.h"
#include "runtime/caps.h"
#include "runtime/resolve.h"
#include "desktop/display.h"
#include "net/net.h"
#include "desktop/hostfiles.h"
#include "spec/spec_json.h"
#include "util/fsutil.h"
#include "runtime/identity.h"
#include "runtime/idmap.h"
#include "image/apt.h"
#include "spec/options.h"
#include "container/bases.h"
#include "container/pins.h"
#include "container/state.h"
#include "container/store.h"
#include "container/supervisor.h"
#include "spec/defaults.h"
#include "util/cleanup.h"

/* A step for run ++show; its arguments are only worked out when shown
 * (some read /proc/locks or pid files, on the session's hot path). */
#define SHOW(...)                                  \
    do {                                           \
        if (ab_log_enabled(ctx, AB_LOG_STEP))      \
            ab_log(ctx, AB_LOG_STEP, __VA_ARGS__); \
    } while (0)

int container_open_state(struct ab_ctx *ctx, const char *name, struct container *c, ab_error *err)
{
    memset(c, 0, sizeof(*c));
    c->ctx = ctx;
    int r = store_check_name(name, err);
    if (r < 0)
        return r;
    c->name = strdup(name);
    c->dir = store_path(ctx, name, NULL, err);
    c->conf_path = store_path(ctx, name, "appbox.conf", err);
    if (!c->name || !c->dir || !c->conf_path)
        return -ENOMEM;
    if (!store_exists(ctx, name))
        return ab_error_set(err, AB_ERR_RUNTIME, 0, "no container named '%s' (see appbox list)", name);
    return 0;
}

int container_open(struct ab_ctx *ctx, const char *name, struct container *c, ab_error *err)
{
    int r = container_open_state(ctx, name, c, err);
    if (r < 0)
        return r;
    r = conf_load(c->conf_path, &c->conf, &c->cc, err);
    if (r == 0)
        r = container_check(c, &c->conf, err);
    return r;
}

int container_open_to_join(struct ab_ctx *ctx, const char *name, struct container *c, ab_error *err)
{
    int r = container_open_state(ctx, name, c, err);
    if (r < 0)
        return r;
    r = conf_load(c->conf_path, &c->conf, &c->cc, err);
    /* A running container has its resolved spec: nothing of the file is
     * resolved again for a session; a stopped one is checked as a start
     * will see it. */
    if (r == 0 && !state_running(ctx, name))
        r = container_check(c, &c->conf, err);
    return r;
}

int container_pin(struct container *c, ab_error *err)
{
    struct spec s;
    int r = container_spec(c, &c->conf, &s, err);
    if (r == 0)
        r = spec_resolve_paths(&s, err);
    if (r == 0)
        r = pins_record(c->ctx, c->name, &s, err);
    spec_free(&s);
    return r;
}

int container_check(const struct container *c, const struct conf *entries, ab_error *err)
{
    struct spec s;
    int r = container_spec(c, entries, &s, err);
    if (r == 0)
        r = spec_resolve_paths(&s, err);
    if (r == 0 && (r = spec_validate(&s, err)) < 0) {
        /* the file's fault, said with the file's name */
        ab_error_prefix(err, "%s", c->conf_path);
        err->kind = AB_ERR_RUNTIME;
    }
    spec_free(&s);
    return r;
}

void container_close(struct container *c)
{
    conf_free(&c->conf);
    container_conf_free(&c->cc);
    free(c->name);
    free(c->dir);
    free(c->conf_path);
    memset(c, 0, sizeof(*c));
}

int container_spec(const struct container *c, const struct conf *entries, struct spec *out, ab_error *err)
{
    struct ab_ctx *ctx = c->ctx;
    memset(out, 0, sizeof(*out)); /* safe to spec_free() on every path */
    struct container_conf cc;
    int r = conf_to_container(entries, c->conf_path, &cc, err);
    if (r < 0) {
        container_conf_free(&cc);
        return r;
    }
    *out = cc.spec;
    memset(&cc.spec, 0, sizeof(cc.spec));
    if (!out->container.hostname) {
        /* a named container answers to its own name, as a host would */
        char host[72];
        spec_hostname_of(c->name, host, sizeof(host));
        if (!(out->container.hostname = strdup(host))) {
            container_conf_free(&cc);
            return ab_fail(err, ENOMEM, "out of memory");
        }
    }
    /* The base of ENTRIES, not of appbox.conf: a start runs with what it
     * was given, overrides included. */
    bool host = strcmp(cc.base, "host") == 0;
    container_conf_free(&cc);
    if (host) {
        /* The host view with a home of the container's own that persists. */
        struct spec_user id;
        identity_resolve(out, &id, err);
        _cleanup_free_ char *home = store_path(ctx, c->name, "home", err);
        if (!home || access(home, F_OK) < 0)
            return 0;
        if (spec_add_bind(out, home, id.home, false, "the container's home") < 0)
            return ab_fail(err, ENOMEM, "out of memory");
        /* the user's binds come after, so they may still go inside home */
        spec_mount_to_front(out, out->container.n_mounts - 1);
    } else if (!out->container.root) {
        out->container.writable = true;
        return container_root_paths(ctx, c->name, &out->container.root, &out->container.root_lower, err);
    }
    return 0;
}

int container_root_paths(struct ab_ctx *ctx, const char *name, char **root, char **lower, ab_error *err)
{
    *root = *lower = NULL;
    _cleanup_free_ char *id = bases_of(ctx, name);
    if (!id && errno == EINVAL)
        return ab_error_set(err, AB_ERR_RUNTIME, 0, "%s/%s/base does not name a base", ctx->data_dir, name);
    if (!id) {
        /* the full-copy layout (image bases, and containers made before
         * shared bases) */
        *root = store_path(ctx, name, "rootfs", err);
        return *root ? 0 : -ENOMEM;
    }
    *root = store_path(ctx, name, "layer", err);
    *lower = bases_root(ctx, id, err);
    if (!*root || !*lower)
        return -ENOMEM;
    if (access(*lower, F_OK) < 0)
        return ab_fail(err, errno, "%s uses the base %s, which is not in the store (%s)", name, id, *lower);
    return 0;
}

int container_running_spec(struct ab_ctx *ctx, const char *name, struct spec *out, ab_error *err)
{
    _cleanup_free_ char *path = store_run_path(ctx, name, "spec.json", err);
    if (!path)
        return -ENOMEM;
    _cleanup_free_ char *text = state_read_text(ctx, name, "spec.json", 1 << 22);
    if (!text) {
        memset(out, 0, sizeof(*out)); /* nothing to free */
        return ab_error_set(err, AB_ERR_RUNTIME, errno,
                            "cannot read %s: %s (was %s started by an older appbox? restart it)", path,
                            strerror(errno), name);
    }
    return spec_from_json(text, path, out, err);
}

static int merged_entries(const struct container *c, const struct conf *overrides, struct conf *out)
{
    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < c->conf.n; i++) {
        const struct conf_entry *e = &c->conf.e[i];
        bool overridden = false, repeatable = false;
        conf_key_known(e->section, e->key, &repeatable);
        for (size_t j = 0; overrides && !repeatable && j < overrides->n; j++)
            overridden |= strcmp(e->section, overrides->e[j].section) == 0 &&
                          strcmp(e->key, overrides->e[j].key) == 0;
        if (!overridden && conf_add(out, e->section, e->key, e->value, e->line) < 0)
            return -ENOMEM;
    }
    for (size_t j = 0; overrides && j < overrides->n; j++)
        if (conf_add(out, overrides->e[j].section, overrides->e[j].key, overrides->e[j].value, overrides->e[j].line) < 0)
            return -ENOMEM;
    return 0;
}

/* Called with start.lock held. */
static int start_locked(struct container *c, const struct conf *overrides, bool auto_stop, ab_error *err)
{
    struct ab_ctx *ctx = c->ctx;
    if (state_running(ctx, c->name)) {
        SHOW("%s is running (supervisor %d, init %d)", c->name, state_read_pid(ctx, c->name, "supervisor.pid"),
             state_read_pid(ctx, c->name, "init.pid"));
        return 1;
    }
    /* What a SIGKILLed supervisor could not undo, undone now. */
    supervisor_cleanup_stale(ctx, c->name);
    struct conf all;
    int r = merged_entries(c, overrides, &all);
    struct spec s = { 0 }; /* container_spec() fills it (spec_init() would leak here) */
    if (r == 0)
        r = container_spec(c, &all, &s, err);
    conf_free(&all);
    /* A container started to run until stopped runs its Run= command as
     * its service (container/service.c); a session's start runs none. */
    if (r == 0 && !auto_stop && c->cc.run && conf_split_command(c->cc.run, &s.process.argv) < 0)
        r = ab_fail(err, EINVAL, "%s: Run=: an unterminated quote", c->conf_path);
    /* Resolved once, here: the supervisor keeps the result for every
     * session (spec.json), which never resolves again. */
    if (r == 0)
        r = sandbox_resolve(ctx, &s, c->name, err);
    bool net_resolved = r == 0;
    /* The sources must be the objects the container was made with: it may
     * have swapped a path below one of its read-write binds since. */
    if (r == 0)
        r = pins_verify(ctx, c->name, &s, err);
    /* The display's socket, cookie and environment: in the spec that
     * spec.json keeps for sessions. */
    if (r == 0)
        r = display_resolve(ctx, &s, c->name, err);
    if (r == 0 && (r = hostfiles_resolve(ctx, &s, err)) < 0)
        display_release(&s);
    if (r == 0) {
        SHOW("starting %s: root %s, network %s%s", c->name, s.container.root ? s.container.root : "host view",
             net_mode_name(s.container.net), auto_stop ? ", stops when the last session leaves" : "");
        r = supervisor_start(ctx, c->name, &s, auto_stop, err);
        if (r == 0)
            SHOW("started %s (supervisor %d, init %d)", c->name, state_read_pid(ctx, c->name, "supervisor.pid"),
                 state_read_pid(ctx, c->name, "init.pid"));
        else
            display_release(&s);
    }
    /* What net_resolve() reserved, where no supervisor came to own it */
    if (r < 0 && net_resolved)
        net_release(ctx, &s);
    spec_free(&s);
    return r;
}

/* C's start.lock, taken exclusively: every decision to start or stop. */
static int take_start_lock(struct container *c, ab_error *err)
{
    struct ab_ctx *ctx = c->ctx;
    int start = state_open_lock(ctx, c->name, "start.lock", err);
    if (start >= 0) {
        SHOW("taking %s's start lock", c->name);
        state_lock(start, LOCK_EX);
    }
    return start;
}

int container_start(struct container *c, const struct conf *overrides, bool auto_stop, ab_error *err)
{
    _cleanup_close_ int start = take_start_lock(c, err);
    if (start < 0)
        return start;
    return start_locked(c, overrides, auto_stop, err);
}

int container_stop(struct container *c, int timeout, ab_error *err)
{
    struct ab_ctx *ctx = c->ctx;
    _cleanup_close_ int start = take_start_lock(c, err);
    if (start < 0)
        return start;
    SHOW("stopping %s: TERM to every process, KILL after %d s", c->name, timeout);
    int r = supervisor_stop(ctx, c->name, timeout, NULL, err);
    if (r == 0)
        SHOW("stopped %s", c->name);
    return r;
}

/* The last run (or launcher) of a container that it started stops it
 * before returning: like a local program, it is gone when the command
 * exits, and the next run starts afresh.  The supervisor's watcher does the
 * same for sessions that die without getting here. */
static void stop_if_last(struct ab_ctx *ctx, const char *name, int start, int sessions)
{
    state_lock(sessions, LOCK_UN);
    state_lock(start, LOCK_EX); /* waits while the watcher is stopping it */
    ab_error ignored;
    bool last = flock(sessions, LOCK_EX | LOCK_NB) == 0;
    if (last)
        flock(sessions, LOCK_UN);
    if (last && state_exists(ctx, name, "auto.stop") && state_running(ctx, name)) {
        SHOW("stopping %s: its last session left", name);
        supervisor_stop(ctx, name, -1, "last session left", &ignored);
    }
    flock(start, LOCK_UN);
}

/* A session: start if needed (AUTOSTART) and hold sessions.lock while FN
 * runs with the container's namespaces and the resolved spec it was
 * started with. */
static int session(struct container *c, const struct conf *overrides, bool autostart, container_join_fn fn,
                   void *arg, ab_error *err)
{
    struct ab_ctx *ctx = c->ctx;
    _cleanup_close_ int start = state_open_lock(ctx, c->name, "start.lock", err);
    if (start < 0)
        return start;
    _cleanup_close_ int sessions = state_open_lock(ctx, c->name, "sessions.lock", err);
    if (sessions < 0)
        return sessions;
    state_lock(start, LOCK_EX);
    int r = 0;
    if (autostart) {
        r = start_locked(c, overrides, true, err);
        if (r < 0)
            return r;
    } else if (!state_running(ctx, c->name)) {
        return ab_error_set(err, AB_ERR_RUNTIME, 0, "%s is not running (start it with: appbox start %s)", c->name,
                            c->name);
    }
    /* Our shared hold counts us in until we exit, however we exit. */
    state_lock(sessions, LOCK_SH);
    SHOW("joined %s as a session (%d now)", c->name, state_sessions(ctx, c->name));
    struct ns_fds ns;
    r = supervisor_connect(ctx, c->name, &ns, err);
    if (r < 0)
        return r;

    /* The container runs with what it was started with: the resolved spec
     * its supervisor keeps, loaded as it is (no file parsed, no path
     * resolved again). */
    struct spec s;
    r = container_running_spec(ctx, c->name, &s, err);
    flock(start, LOCK_UN);
    if (r == 0)
        r = fn(&ns, &s, arg, err);
    ns_fds_close(&ns);
    spec_free(&s);
    if (autostart)
        stop_if_last(ctx, c->name, start, sessions);
    return r;
}

struct join_command {
    struct container *c;
    const struct join_params *jp;
    int *exit_code;
};

static int join_command(const struct ns_fds *ns, const struct spec *s, void *arg, ab_error *err)
{
    struct join_command *j = arg;
    struct ab_ctx *ctx = j->c->ctx;
    SHOW("running %s in %s (init %d)", j->jp->login_shell ? "a login shell" : j->jp->argv[0], j->c->name,
         ns->init_pid);
    struct join_params with_env = *j->jp;
    with_env.passenv = &ctx->passenv;
    /* the OOM counter only when the caller wants the outcome (a file read
     * on the exec path) */
    int before = j->jp->outcome ? cgroup_oom_kills(s) : -1;
    int r = sandbox_join(ns, s, &with_env, j->exit_code, err);
    /* killed by the memory limit: a new OOM kill in the container's group
     * (read while it still runs, before a last session's stop) */
    if (r == 0 && j->jp->outcome && *j->exit_code == 128 + SIGKILL) {
        int after = cgroup_oom_kills(s);
        j->jp->outcome->oom_killed = before >= 0 && after > before;
        j->jp->outcome->memory_limit = s->container.resources.memory;
    }
    return r;
}

int container_session(struct container *c, const struct conf *overrides, bool autostart,
                      const struct join_params *jp, int *exit_code, ab_error *err)
{
    struct join_command j = { .c = c, .jp = jp, .exit_code = exit_code };
    return session(c, overrides, autostart, join_command, &j, err);
}

int container_session_fn(struct container *c, container_join_fn fn, void *arg, ab_error *err)
{
    return session(c, NULL, true, fn, arg, err);
}


/* As root of the container (see container_run_as_root()). */
static void as_container_root(struct spec *s)
{
    s->process.uid_set = true;
    s->process.uid = 0;
    /* Without a subordinate range only one id can be mapped.  As root
     * inside (0 -> the caller) the caller's own id is unmapped there, and
     * chown to it (a home in the new root) fails with EINVAL; so map the
     * caller to itself and give it root's capabilities in the namespace
     * instead: the same files, owned by the same host id, and chown works. */
    struct spec_user id;
    struct spec_idmap uids, gids;
    ab_error ignored;
    identity_resolve(s, &id, &ignored);
    if (id.caller_uid != 0 &&
        idmap_choose(&uids, &gids, id.caller_uid, id.caller_gid, id.caller_name, 0, 0, &ignored) == 0 &&
        uids.n == 1 && !uids.via_helper) {
        s->process.uid = id.caller_uid;
        s->process.cap_add = caps_default_root();
    }
}

int container_run_as_root(struct ab_ctx *ctx, const char *dir, const char *src_ro, char *const argv[], ab_error *err)
{
    struct spec s;
    spec_init(&s);
    as_container_root(&s);
    /* The container's own directory in the store is the only writable
     * tree: a dir: base copied with cp -a keeps its set-id files, as an
     * image's do (sandbox_run() checks that DIR is in the store). */
    s.process.store_setid = true;
    int r = spec_add_bind(&s, dir, "/mnt", false, NULL);
    if (r == 0 && src_ro)
        r = spec_add_bind(&s, src_ro, "/src", true, NULL);
    for (size_t i = 0; r == 0 && argv[i]; i++)
        r = strv_push(&s.process.argv, argv[i]);
    int code = 0;
    if (r == 0)
        r = sandbox_run(ctx, &s, &code, NULL, err);
    spec_free(&s);
    if (r == 0 && code != 0)
        r = ab_fail(err, 0, "%s failed (exit status %d)", argv[0], code);
    return r;
}

int container_run_in_root(struct ab_ctx *ctx, const char *root, const char *lower, char *const argv[], ab_error *err)
{
    struct spec s;
    spec_init(&s);
    as_container_root(&s);
    s.container.root = strdup(root);
    s.container.root_lower = lower ? strdup(lower) : NULL;
    s.container.writable = true;
    int r = s.container.root && (!lower || s.container.root_lower) ? 0 : -ENOMEM;
    for (size_t i = 0; r == 0 && argv[i]; i++)
        r = strv_push(&s.process.argv, argv[i]);
    int code = 0;
    if (r == 0)
        r = sandbox_run(ctx, &s, &code, NULL, err);
    else
        r = ab_fail(err, ENOMEM, "out of memory");
    spec_free(&s);
    if (r == 0 && code != 0)
        r = ab_fail(err, 0, "%s failed in the container's root (exit status %d)", argv[0], code);
    return r;
}

/* The caller's container files belong to the container's ids (its
 * subordinate range): removed by a child that enters a new user namespace
 * with the container's own id map (written by newuidmap/newgidmap, as for
 * the container) and so holds CAP_DAC_OVERRIDE and CAP_FOWNER over exactly
 * those files, nothing else of the host's.  It runs the same fd-relative
 * walk as root does (fs_remove_tree_at()), from the data dir fd it
 * inherits: no program is run, no path is resolved. */
static int remove_tree_as_container_root(int datafd, const char *name, ab_error *err)
{
    struct spec s;
    spec_init(&s);
    struct spec_user id;
    ab_error ignored;
    identity_resolve(&s, &id, &ignored);
    struct spec_idmap uids, gids;
    int r = idmap_choose(&uids, &gids, id.caller_uid, id.caller_gid, id.caller_name, 0, 0, err);
    spec_free(&s);
    if (r < 0)
        return r;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        return ab_fail(err, errno, "cannot remove %s", name);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(sv[0]);
        close(sv[1]);
        return ab_fail(err, e, "cannot remove %s", name);
    }
    if (pid == 0) {
        close(sv[0]);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        ab_error e = { 0 };
        char go = 0;
        if (getppid() != parent)
            _exit(1);
        if (unshare(CLONE_NEWUSER) < 0) {
            ab_fail(&e, errno, "cannot remove %s: cannot make a user namespace", name);
            go = 1;
        }
        /* 0: ready for the maps; 1: failed, the reason follows */
        if (write(sv[1], &go, 1) != 1)
            _exit(1);
        if (!go) {
            if (read(sv[1], &go, 1) != 1 || go != 'G')
                _exit(1);
            fs_remove_tree_at(datafd, name, &e);
        }
        ssize_t w = write(sv[1], &e, sizeof(e));
        _exit(w == (ssize_t)sizeof(e) && e.kind == AB_ERR_NONE ? 0 : 1);
    }
    close(sv[1]);
    char ready = 1;
    ab_error child = { 0 };
    r = 0;
    if (read(sv[0], &ready, 1) != 1)
        r = ab_fail(err, 0, "cannot remove %s: the helper died", name);
    else if (ready == 0 && (r = idmap_write(pid, &uids, &gids, err)) < 0)
        ab_error_prefix(err, "cannot remove %s", name);
    else if (ready == 0 && write(sv[0], "G", 1) != 1)
        r = ab_fail(err, errno, "cannot remove %s", name);
    if (r == 0) {
        ssize_t got = read(sv[0], &child, sizeof(child));
        if (got != (ssize_t)sizeof(child))
            r = ab_fail(err, 0, "cannot remove %s: the helper died", name);
        else if (child.kind != AB_ERR_NONE) {
            child.msg[sizeof(child.msg) - 1] = '\0';
            *err = child;
            r = child.errnum ? -child.errnum : -EIO;
        }
    }
    close(sv[0]);
    if (r < 0)
        kill(pid, SIGKILL);
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (r == 0 && (!WIFEXITED(status) || WEXITSTATUS(status) != 0))
        r = ab_fail(err, 0, "cannot remove %s: the helper failed", name);
    return r;
}

int container_remove_tree_at(int dirfd, const char *name, ab_error *err)
{
    return getuid() == 0 ? fs_remove_tree_at(dirfd, name, err) : remove_tree_as_container_root(dirfd, name, err);
}

int container_remove_files(struct ab_ctx *ctx, const char *name, ab_error *err)
{
    if (!store_name_valid(name))
        return store_check_name(name, err);
    ab_error none;
    /* NAME below the data dir fd (checked: the caller's own, 0700), never
     * through a link: a NAME that is a symbolic link is refused, not
     * followed, and nothing outside the data dir is ever removed. */
    int datafd = ab_ctx_data_fd_existing(ctx, &none);
    struct stat st;
    if (datafd >= 0 && fstatat(datafd, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
        _cleanup_free_ char *dir = store_path(ctx, name, NULL, err);
        if (!dir)
            return -ENOMEM;
        if (S_ISLNK(st.st_mode))
            return ab_fail(err, 0, "%s is a symbolic link, not a container: not removed (remove the link yourself)",
                           dir);
        if (!S_ISDIR(st.st_mode))
            return ab_fail(err, 0, "%s is not a directory, not a container: not removed", dir);
        /* root may remove anything: the walk itself never follows a link
         * or enters a mount; an ordinary user removes the container's ids'
         * files as the container's root */
        int r = container_remove_tree_at(datafd, name, err);
        if (r < 0) {
            ab_error_prefix(err, "%s", dir);
            return r;
        }
    }
    /* below the runtime dir fd, never through a symlink */
    static const char *const files[] = { "start.lock", "sessions.lock", "supervisor.lock", "init.pid",
                                         "supervisor.pid", "spec.json", "stop.timeout", "supervisor.log",
                                         "control.sock", "auto.stop", "stop.reason", "service.state" };
    for (size_t i = 0; i < ARRAY_SIZE(files); i++)
        state_remove(ctx, name, files[i]);
    proxy_log_remove(ctx, name);   /* NAME/network: the network helper's log */
    state_remove_dir(ctx, name);
    /* its base, when it was the last user of one the cache no longer
     * holds (image rm, or a newer build of it) */
    ab_error ignored = { 0 };
    bases_collect(ctx, &ignored);
    return 0;
}

int container_remove(struct ab_ctx *ctx, const char *name, bool force, ab_error *err)
{
    /* Under start.lock: a container stopping after its last session (its
     * supervisor holds the lock while it tears down) is waited for, not
     * reported as running. */
    _cleanup_close_ int start = state_open_lock(ctx, name, "start.lock", err);
    if (start < 0)
        return start;
    state_lock(start, LOCK_EX);
    if (state_running(ctx, name)) {
        if (!force)
            return ab_error_set(err, AB_ERR_RUNTIME, 0, "%s is running (stop it first, or use rm --force)", name);
        SHOW("stopping %s", name);
        int r = supervisor_stop(ctx, name, 10, NULL, err);
        if (r < 0)
            return r;
    }
    /* what a SIGKILLed supervisor left (a cgroup, a helper's state) goes
     * with the container */
    supervisor_cleanup_stale(ctx, name);
    /* looked at under the lock: a create under way holds it until done */
    bool remains = store_kind(ctx, name) == STORE_REMAINS;
    int r = container_remove_files(ctx, name, err);
    return r < 0 ? r : remains;
}

char *container_log_path(struct ab_ctx *ctx, const char *name, const char *what, ab_error *err)
{
    _cleanup_free_ char *root = store_data_root(ctx, err);
    _cleanup_free_ char *dir = NULL;
    char *p = NULL;
    if (!root || asprintf(&dir, "%s/.logs", root) < 0)
        return NULL;
    if (fs_mkdirs(dir, true, err) < 0)
        return NULL;
    if (asprintf(&p, "%s/%s-%s.log", dir, name, what) < 0)
        return NULL;
    unlink(p);
    return p;
}

int container_update(struct ab_ctx *ctx, const char *name, bool verbose, const char **why, ab_error *err)
{
    struct container c;
    int r = container_open(ctx, name, &c, err);
    if (r < 0) {
        container_close(&c);
        return r;
    }
    _cleanup_free_ char *rootfs = NULL, *lower = NULL;
    bool host = strcmp(c.cc.base, "host") == 0;
    container_close(&c);
    if (!host && (r = container_root_paths(ctx, name, &rootfs, &lower, err)) < 0)
        return r;
    /* apt-get looked for in the base when there is one: the layer above
     * is the container's to write, and not looked into from here */
    if (host || !apt_present(lower ? lower : rootfs)) {
        *why = host ? "skipped (the host view: update the host)" : "skipped (not a Debian/Ubuntu root: no apt-get)";
        return 1;
    }
    _cleanup_close_ int start = state_open_lock(ctx, name, "start.lock", err);
    if (start < 0)
        return start;
    state_lock(start, LOCK_EX);
    if (state_running(ctx, name))
        return ab_error_set(err, AB_ERR_RUNTIME, 0, "%s is running (stop it first)", name);
    _cleanup_free_ char *log = container_log_path(ctx, name, "update", err);
    if (!log)
        return -ENOMEM;
    SHOW("updating %s: apt-get update && apt-get upgrade, with the network on; log: %s", name, log);
    r = apt_upgrade(ctx, rootfs, lower, log, verbose, err);
    if (r == 0)
        state_log(ctx, name, "updated (apt-get upgrade)");
    return r;
}
