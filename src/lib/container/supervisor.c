#include "container/supervisor.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runtime/pipeline.h"
#include "runtime/sandbox.h"
#include "spec/spec_json.h"
#include "container/service.h"
#include "container/console.h"
#include "container/state.h"
#include "container/store.h"
#include "util/cleanup.h"
#include "util/fdpass.h"
#include "util/fsutil.h"

#define DEFAULT_STOP_TIMEOUT 10

struct watcher {
    const char *name;
    int sessions_fd;
    int start_fd;
    int event_fd;
};

/* Wait until no session holds sessions.lock, then confirm it under
 * start.lock (so no session can be joining meanwhile), and tell the main
 * loop to stop.  start.lock stays held until the supervisor exits. */
static void *watch_sessions(void *arg)
{
    struct watcher *w = arg;
    for (;;) {
        if (state_lock(w->sessions_fd, LOCK_EX) < 0)
            return NULL;
        state_lock(w->sessions_fd, LOCK_UN);
        if (state_lock(w->start_fd, LOCK_EX) < 0)
            return NULL;
        if (flock(w->sessions_fd, LOCK_EX | LOCK_NB) == 0) {
            uint64_t one = 1;
            if (write(w->event_fd, &one, sizeof(one)) < 0)
                return NULL;
            return NULL;
        }
        state_lock(w->start_fd, LOCK_UN);
    }
}

/* control.sock is bound and connected below NAME's runtime dir fd, never
 * by its path: a unix socket address is a path, so it names the directory
 * through its fd, /proc/self/fd/N/control.sock (which also keeps the
 * address short, whatever the runtime dir's length).  No chdir: the
 * supervisor has threads, and a session's cwd is the user's. */
static int control_addr(int dir, const char *file, struct sockaddr_un *sa)
{
    memset(sa, 0, sizeof(*sa));
    sa->sun_family = AF_UNIX;
    return snprintf(sa->sun_path, sizeof(sa->sun_path), "/proc/self/fd/%d%s%s", dir, file ? "/" : "",
                    file ? file : "") < (int)sizeof(sa->sun_path) ? 0 : -ENAMETOOLONG;
}

static int control_listen(struct ab_ctx *ctx, const char *name, ab_error *err)
{
    _cleanup_close_ int dir = state_dir_fd(ctx, name, true, err);
    if (dir < 0)
        return dir;
    struct sockaddr_un sa;
    control_addr(dir, "control.sock", &sa);
    int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return ab_fail(err, errno, "cannot create a socket");
    unlinkat(dir, "control.sock", 0); /* a stale one from a supervisor that was killed (never followed) */
    /* bind() makes a new name and never follows one (EADDRINUSE) */
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 64) < 0) {
        int e = errno;
        close(fd);
        return ab_fail(err, e, "cannot listen on %s/%s/control.sock", ctx->runtime_dir, name);
    }
    return fd;
}

int supervisor_connect(struct ab_ctx *ctx, const char *name, struct ns_fds *ns, ab_error *err)
{
    for (int i = 0; i < NS_COUNT; i++)
        ns->fd[i] = -1;
    /* The socket itself opened O_PATH|O_NOFOLLOW and checked (a socket of
     * ours, not a link to someone's), then connected through that fd. */
    _cleanup_close_ int sock = state_open(ctx, name, "control.sock", O_PATH, err);
    if (sock < 0)
        return ab_fail(err, -sock, "cannot reach the supervisor of %s at %s/%s/control.sock", name, ctx->runtime_dir,
                       name);
    struct stat st;
    if (fstat(sock, &st) < 0 || !S_ISSOCK(st.st_mode) || st.st_uid != getuid())
        return ab_fail(err, 0, "cannot reach the supervisor of %s: %s/%s/control.sock is not a socket of yours", name,
                       ctx->runtime_dir, name);
    struct sockaddr_un sa;
    control_addr(sock, NULL, &sa);
    _cleanup_close_ int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
        return ab_fail(err, errno, "cannot reach the supervisor of %s at %s/%s/control.sock", name, ctx->runtime_dir,
                       name);
    size_t n = 0;
    int r = fds_recv(fd, ns->fd, NS_COUNT, &n, &ns->init_pid, sizeof(ns->init_pid));
    if (r != (int)sizeof(ns->init_pid) || n != NS_COUNT) {
        for (size_t i = 0; i < n; i++)
            close(ns->fd[i]);
        return ab_fail(err, r < 0 ? -r : EPROTO, "cannot get the namespaces of %s from its supervisor", name);
    }
    return 0;
}

static void cleanup_runtime(struct ab_ctx *ctx, const char *name)
{
    static const char *const files[] = { "init.pid", "supervisor.pid", "spec.json", "stop.timeout",
                                         "control.sock", "auto.stop", "stop.reason", SERVICE_STATE };
    for (size_t i = 0; i < ARRAY_SIZE(files); i++)
        state_remove(ctx, name, files[i]);
}

static int stop_timeout(struct ab_ctx *ctx, const char *name)
{
    /* absent (a TERM from elsewhere): the default; 0 is "KILL at once" */
    long t = state_read_number(ctx, name, "stop.timeout");
    return t < 0 ? DEFAULT_STOP_TIMEOUT : (int)(t > 86400 ? 86400 : t);
}

/* Released before start.lock (held by the watcher while it stops us, and
 * only dropped at exit): whoever takes start.lock next must find the
 * container stopped, not a supervisor on its way out. */
static int supervisor_lock_fd = -1;
/* The container's runner: its modules' teardown runs when it is gone. */
static struct runner runner;
/* The service `start` runs (Run=), when there is one (service.h). */
static struct service service = { .pid = -1, .pidfd = -1 };

static _Noreturn void finish(struct ab_ctx *ctx, const char *name, const char *why, bool killed)
{
    service_stop(&service, 5000); /* gone with the container, or going */
    pipeline_teardown(runtime_modules, &runner);
    cleanup_runtime(ctx, name);
    state_log(ctx, name, "stopped (%s%s)", why, killed ? ", killed after timeout" : "");
    if (supervisor_lock_fd >= 0) {
        flock(supervisor_lock_fd, LOCK_UN);
        close(supervisor_lock_fd);
    }
    _exit(0);
}

static _Noreturn void teardown(struct ab_ctx *ctx, const char *name, pid_t init, int pidfd, int timeout, const char *why)
{
    /* The service first, within the same timeout: it gets its TERM (and
     * is not restarted) before the rest of the container */
    long spent = service_stop(&service, timeout * 1000L);
    timeout = spent / 1000 >= timeout ? 0 : timeout - (int)(spent / 1000);
    /* the spec's stop signal: SIGTERM, or SIGRTMIN+3 for a booted
     * systemd (its "halt") */
    kill(init, runner.spec && runner.spec->container.stop_signal > 0 ? runner.spec->container.stop_signal : SIGTERM);
    struct pollfd p = { .fd = pidfd, .events = POLLIN };
    int r;
    do
        r = poll(&p, 1, timeout * 1000);
    while (r < 0 && errno == EINTR);
    bool killed = false;
    if (r == 0) {
        kill(init, SIGKILL); /* takes every process of the container */
        killed = true;
    }
    while (waitpid(init, NULL, 0) < 0 && errno == EINTR)
        ;
    finish(ctx, name, why, killed);
}

static _Noreturn void supervisor_main(struct ab_ctx *ctx, const char *name, const struct spec *spec, bool auto_stop, int ready_fd)
{
    ab_error err = { 0 };
    setsid();
    /* Nothing of the starter's may stay open here: an inherited lock fd
     * would keep its session counted (or start.lock held) after the
     * starter died. */
    if (dup2(ready_fd, 3) == 3)
        ready_fd = 3;
    syscall(SYS_close_range, 4, ~0U, 0);
    /* the context's directory fds went with them: opened again on use */
    ctx->data_fd = ctx->runtime_fd = -1;
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    int logfd = state_open(ctx, name, "supervisor.log", O_WRONLY | O_CREAT | O_APPEND, &err);
    if (null >= 0) {
        dup2(null, STDIN_FILENO);
        dup2(null, STDOUT_FILENO);
        dup2(logfd >= 0 ? logfd : null, STDERR_FILENO);
    }

    int sup = state_open_lock(ctx, name, "supervisor.lock", &err);
    if (sup >= 0 && flock(sup, LOCK_EX | LOCK_NB) < 0)
        sup = ab_fail(&err, errno, "%s is already running", name);
    supervisor_lock_fd = sup;
    pid_t init = -1;
    struct ns_fds ns;
    int ctl = sup >= 0 ? control_listen(ctx, name, &err) : -1;
    /* The resolved spec is written before anything is created: if this
     * supervisor is killed, the next start tears down from it. */
    _cleanup_free_ char *json = spec_to_json(spec);
    if (ctl >= 0 && !json)
        ctl = ab_fail(&err, ENOMEM, "cannot write the spec of %s", name);
    if (ctl >= 0 && state_write_file(ctx, name, "spec.json", json, &err) < 0)
        ctl = -1;
    runner_init(&runner, spec, ctx, name);
    if (ctl >= 0 && sandbox_start_service(&runner, &ns, &err) == 0) {
        init = ns.init_pid;
        char buf[32];
        snprintf(buf, sizeof(buf), "%d\n", init);
        state_write_file(ctx, name, "init.pid", buf, &err);
        snprintf(buf, sizeof(buf), "%d\n", getpid());
        state_write_file(ctx, name, "supervisor.pid", buf, &err);
        state_remove(ctx, name, "stop.timeout");
        state_log(ctx, name, "started (supervisor %d, init %d)", getpid(), init);
        /* a booted container's console: into the service log */
        ab_error cerr = { 0 };
        if (ns.console >= 0 && console_start(&runner, ctx, name, ns.console, spec->container.log_size, &cerr) < 0)
            state_log(ctx, name, "%s", cerr.msg);
        /* `start` gave the spec its Run= command: the service, now */
        ab_error serr = { 0 };
        if (service_start(&service, ctx, name, spec, &ns, &serr) < 0)
            state_log(ctx, name, "%s", serr.msg);
    }
    if (init < 0) {
        if (sup >= 0)
            state_remove(ctx, name, "spec.json");
        if (write(ready_fd, err.msg, strlen(err.msg) + 1) < 0)
            _exit(125);
        _exit(125);
    }

    int pidfd = (int)syscall(SYS_pidfd_open, init, 0);
    int sfd = service_stop_signals();
    int efd = eventfd(0, EFD_CLOEXEC);

    if (auto_stop) {
        /* sessions that end normally stop us themselves (container.c) */
        ab_error ignored_err;
        state_write_file(ctx, name, "auto.stop", "1\n", &ignored_err);
        static struct watcher w;
        w.name = name;
        w.sessions_fd = state_open_lock(ctx, name, "sessions.lock", &err);
        w.start_fd = state_open_lock(ctx, name, "start.lock", &err);
        w.event_fd = efd;
        pthread_t t;
        if (w.sessions_fd >= 0 && w.start_fd >= 0)
            pthread_create(&t, NULL, watch_sessions, &w);
    }
    /* The starter may be gone (killed); the container runs on regardless. */
    ssize_t ignored = write(ready_fd, "", 1);
    (void)ignored;
    close(ready_fd);

    for (;;) {
        struct pollfd p[5] = { { .fd = pidfd, .events = POLLIN }, { .fd = sfd, .events = POLLIN },
                               { .fd = efd, .events = POLLIN }, { .fd = ctl, .events = POLLIN },
                               { .fd = service.pidfd, .events = POLLIN } };
        if (poll(p, 5, -1) < 0)
            continue;
        if (p[4].revents)
            service_reap(&service); /* it ended (no restart): the container runs on */
        if (p[3].revents & POLLIN) {
            /* A session asks for the namespaces; only the user can reach
             * the socket (0700 runtime dir), and it gets nothing more. */
            int conn = accept4(ctl, NULL, NULL, SOCK_CLOEXEC);
            if (conn >= 0) {
                fds_send(conn, ns.fd, NS_COUNT, &ns.init_pid, sizeof(ns.init_pid));
                close(conn);
            }
        }
        if (p[0].revents) {
            while (waitpid(init, NULL, 0) < 0 && errno == EINTR)
                ;
            finish(ctx, name, "init exited", false);
        }
        if (p[1].revents) {
            /* why supervisor_stop() was called, for the log */
            _cleanup_free_ char *why = state_read_text(ctx, name, "stop.reason", 64);
            teardown(ctx, name, init, pidfd, stop_timeout(ctx, name), why && *why && !strchr(why, '\n') ? why : "stop");
        }
        if (p[2].revents)
            teardown(ctx, name, init, pidfd, DEFAULT_STOP_TIMEOUT, "last session left");
    }
}

int supervisor_start(struct ab_ctx *ctx, const char *name, const struct spec *spec, bool auto_stop, ab_error *err)
{
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) < 0)
        return ab_fail(err, errno, "cannot create a pipe");
    fflush(NULL);
    pid_t a = fork();
    if (a < 0) {
        close(pipefd[0]);
        close(pipefd[1]);
        return ab_fail(err, errno, "cannot start the supervisor");
    }
    if (a == 0) {
        /* Double fork: the supervisor is nobody's child but init's. */
        close(pipefd[0]);
        pid_t s = fork();
        if (s == 0)
            supervisor_main(ctx, name, spec, auto_stop, pipefd[1]);
        _exit(s < 0 ? 1 : 0);
    }
    close(pipefd[1]);
    while (waitpid(a, NULL, 0) < 0 && errno == EINTR)
        ;
    char msg[1024];
    size_t got = 0;
    for (;;) {
        ssize_t n = read(pipefd[0], msg + got, sizeof(msg) - 1 - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
        if (memchr(msg, '\0', got))
            break;
    }
    close(pipefd[0]);
    msg[got] = '\0';
    if (got == 0)
        return ab_fail(err, 0, "the supervisor of %s exited before the container started", name);
    if (msg[0])
        return ab_fail(err, 0, "cannot start %s: %s", name, msg);
    return 0;
}

int supervisor_stop(struct ab_ctx *ctx, const char *name, int timeout, const char *why, ab_error *err)
{
    if (!state_running(ctx, name))
        return 1;
    char buf[16];
    snprintf(buf, sizeof(buf), "%d\n", timeout);
    int r = state_write_file(ctx, name, "stop.timeout", buf, err);
    if (r == 0)
        r = why ? state_write_file(ctx, name, "stop.reason", why, err) : (state_remove(ctx, name, "stop.reason"), 0);
    if (r < 0)
        return r;
    pid_t sup = state_read_pid(ctx, name, "supervisor.pid");
    if (sup <= 0)
        return ab_fail(err, ESRCH, "cannot find the supervisor of %s", name);
    _cleanup_close_ int pidfd = (int)syscall(SYS_pidfd_open, sup, 0);
    /* The pidfd pins the process; the lock proves it is still ours. */
    if (pidfd < 0 || !state_running(ctx, name))
        return state_running(ctx, name) ? ab_fail(err, errno, "cannot reach the supervisor of %s", name) : 1;
    if (syscall(SYS_pidfd_send_signal, pidfd, SIGTERM, NULL, 0) < 0)
        return ab_fail(err, errno, "cannot signal the supervisor of %s", name);
    _cleanup_close_ int lock = state_open_lock(ctx, name, "supervisor.lock", err);
    if (lock < 0)
        return lock;
    r = state_lock(lock, LOCK_EX); /* granted when the supervisor is gone */
    if (r < 0)
        return ab_fail(err, -r, "cannot wait for %s to stop", name);
    return 0;
}

void supervisor_cleanup_stale(struct ab_ctx *ctx, const char *name)
{
    if (state_running(ctx, name))
        return;
    ab_error err;
    _cleanup_free_ char *path = store_run_path(ctx, name, "spec.json", &err);
    _cleanup_free_ char *text = path ? state_read_text(ctx, name, "spec.json", 1 << 22) : NULL;
    if (!text)
        return;
    struct spec s;
    if (spec_from_json(text, path, &s, &err) == 0) {
        struct runner r;
        runner_init(&r, &s, ctx, name);
        pipeline_teardown(runtime_modules, &r);
        state_log(ctx, name, "cleaned up after a supervisor that was killed");
    }
    spec_free(&s);
    cleanup_runtime(ctx, name);
}
