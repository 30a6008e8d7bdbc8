/* OCI hooks: host programs run at the container's lifecycle steps, each
 * with the state JSON on its stdin.  As runc runs them: the hook's own
 * args (args[0] as given) and exactly its env, no other file descriptor
 * than stdin, stdout and stderr; stdout is dropped and stderr kept (its
 * last line goes into the error), and a hook still running at its timeout
 * is killed.  A hook need not read its stdin: the state is written as far
 * as it takes it (EPIPE is no error). */
#include "oci/hooks.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/clock.h"
#include "util/interrupt.h"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

/* How much of a hook's stderr is kept for the message. */
#define STDERR_TAIL 512

static const char *const stage_names[OCI_HOOK_STAGES] = {
    [OCI_HOOK_PRESTART] = "prestart",
    [OCI_HOOK_CREATE_RUNTIME] = "createRuntime",
    [OCI_HOOK_CREATE_CONTAINER] = "createContainer",
    [OCI_HOOK_START_CONTAINER] = "startContainer",
    [OCI_HOOK_POSTSTART] = "poststart",
    [OCI_HOOK_POSTSTOP] = "poststop",
};

const char *oci_hook_stage_name(enum oci_hook_stage stage)
{
    return (unsigned)stage < OCI_HOOK_STAGES ? stage_names[stage] : "unknown";
}

/* The hook's end of the pipes, set up in the forked child (only
 * async-signal-safe calls: the caller may have threads). */
static _Noreturn void child_exec(const struct oci_hook *h, char *const argv[], char *const envp[], int in, int out,
                                 int errfd, int report)
{
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    struct sigaction dfl = { .sa_handler = SIG_DFL };
    sigaction(SIGPIPE, &dfl, NULL);
    /* above 2 first, so that no dup2 below overwrites another's source */
    int fds[3] = { fcntl(in, F_DUPFD_CLOEXEC, 3), fcntl(out, F_DUPFD_CLOEXEC, 3), fcntl(errfd, F_DUPFD_CLOEXEC, 3) };
    int e = 0;
    for (int i = 0; i < 3 && !e; i++)
        if (fds[i] < 0 || dup2(fds[i], i) < 0)
            e = errno;
    /* every other descriptor closes at exec; REPORT stays open until then,
     * for the errno of a failed exec */
    if (!e && close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
        for (int fd = 3; fd < 65536; fd++)
            fcntl(fd, F_SETFD, FD_CLOEXEC);
    if (!e) {
        execve(h->path, argv, envp);
        e = errno;
    }
    while (write(report, &e, sizeof(e)) < 0 && errno == EINTR) {
    }
    _exit(127);
}

/* Keep the last STDERR_TAIL bytes of what the hook wrote to stderr. */
struct tail {
    char buf[STDERR_TAIL];
    size_t len;
};

static void tail_add(struct tail *t, const char *p, size_t n)
{
    if (n >= sizeof(t->buf)) {
        memcpy(t->buf, p + n - sizeof(t->buf), sizeof(t->buf));
        t->len = sizeof(t->buf);
        return;
    }
    if (t->len + n > sizeof(t->buf)) {
        size_t drop = t->len + n - sizeof(t->buf);
        memmove(t->buf, t->buf + drop, t->len - drop);
        t->len -= drop;
    }
    memcpy(t->buf + t->len, p, n);
    t->len += n;
}

/* Read what FD has now into T; false at EOF or on an error. */
static bool tail_read(struct tail *t, int fd)
{
    for (;;) {
        char buf[4096];
        ssize_t k = read(fd, buf, sizeof(buf));
        if (k > 0) {
            tail_add(t, buf, (size_t)k);
            continue;
        }
        if (k < 0 && errno == EINTR)
            continue;
        return k < 0 && errno == EAGAIN;
    }
}

/* The last non-empty line of T (NUL-terminated in place), "" when none. */
static const char *tail_last_line(struct tail *t)
{
    size_t end = t->len;
    while (end > 0 && (t->buf[end - 1] == '\n' || t->buf[end - 1] == '\r' || t->buf[end - 1] == ' '))
        end--;
    if (end == sizeof(t->buf))
        end--;   /* room for the NUL: the tail loses its last byte */
    t->buf[end] = '\0';
    char *nl = memrchr(t->buf, '\n', end);
    return nl ? nl + 1 : t->buf;
}

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

/* Wait for PID (with PIDFD, or polling when the kernel has no pidfds)
 * while writing STATE to IN and reading ERRFD into TAIL, until it exits
 * or DEADLINE (ms of clock_now_ms; 0: none) passes.  1: it exited
 * (*status), 0: timed out, killed and reaped. */
static int supervise(pid_t pid, int pidfd, int *in, const char *state, int *errfd, struct tail *tail, long deadline,
                     int *status)
{
    size_t len = strlen(state), off = 0;
    if (len == 0)
        close_fd(in);
    for (;;) {
        struct pollfd p[3];
        nfds_t np = 0;
        int ip = -1, ep = -1, pp = -1;
        if (pidfd >= 0) {
            pp = (int)np;
            p[np++] = (struct pollfd){ .fd = pidfd, .events = POLLIN };
        }
        if (*in >= 0) {
            ip = (int)np;
            p[np++] = (struct pollfd){ .fd = *in, .events = POLLOUT };
        }
        if (*errfd >= 0) {
            ep = (int)np;
            p[np++] = (struct pollfd){ .fd = *errfd, .events = POLLIN };
        }
        int wait_ms = -1;
        if (deadline) {
            long left = deadline - clock_now_ms();
            wait_ms = left < 0 ? 0 : (int)left;
        }
        if (pidfd < 0 && (wait_ms < 0 || wait_ms > 20))
            wait_ms = 20;   /* no pidfd: look at the child every 20 ms */
        int r = poll(p, np, wait_ms);
        if (r < 0 && errno != EINTR)
            r = 0;
        if (r > 0 && ip >= 0 && p[ip].revents) {
            ssize_t k = write(*in, state + off, len - off);
            if (k > 0)
                off += (size_t)k;
            /* EPIPE (or POLLERR): the hook closed its stdin unread */
            if ((k < 0 && errno != EAGAIN && errno != EINTR) || off == len)
                close_fd(in);
        }
        if (r > 0 && ep >= 0 && p[ep].revents && !tail_read(tail, *errfd))
            close_fd(errfd);
        pid_t w = 0;
        if (pidfd < 0 || (r > 0 && p[pp].revents))
            w = waitpid(pid, status, WNOHANG);
        if (w == pid || (w < 0 && errno == ECHILD)) {
            /* what it wrote last; a child of the hook may hold the pipe
             * open: no waiting for EOF */
            if (*errfd >= 0)
                tail_read(tail, *errfd);
            return 1;
        }
        if (deadline && clock_now_ms() >= deadline) {
            kill(pid, SIGKILL);
            while (waitpid(pid, status, 0) < 0 && errno == EINTR) {
            }
            return 0;
        }
    }
}

static int run_one(const struct oci_hook *h, const char *stage, const char *state, ab_error *err)
{
    char *path_argv[] = { h->path, NULL };
    char *no_env[] = { NULL };
    char *const *argv = h->args.n > 0 ? h->args.v : path_argv;
    char *const *envp = h->env.n > 0 ? h->env.v : no_env;

    int in[2], errp[2], report[2];
    if (pipe2(in, O_CLOEXEC) < 0)
        return ab_fail(err, errno, "%s hook %s: cannot make its stdin pipe", stage, h->path);
    _cleanup_close_ int in_r = in[0], in_w = in[1];
    if (pipe2(errp, O_CLOEXEC) < 0)
        return ab_fail(err, errno, "%s hook %s: cannot make its stderr pipe", stage, h->path);
    _cleanup_close_ int err_r = errp[0], err_w = errp[1];
    if (pipe2(report, O_CLOEXEC) < 0)
        return ab_fail(err, errno, "%s hook %s: cannot make a pipe", stage, h->path);
    _cleanup_close_ int rep_r = report[0], rep_w = report[1];
    _cleanup_close_ int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (devnull < 0)
        return ab_fail(err, errno, "%s hook %s: cannot open /dev/null for its stdout", stage, h->path);

    /* A hook that exits without reading its stdin makes our write raise
     * SIGPIPE: blocked while it runs (the caller's handling stays its
     * own), and taken back if we caused it. */
    sigset_t pipe_set, old, pending;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    sigpending(&pending);
    bool pipe_pending = sigismember(&pending, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old);

    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        return ab_fail(err, e, "%s hook %s: cannot fork", stage, h->path);
    }
    if (pid == 0)
        child_exec(h, argv, envp, in_r, devnull, err_w, rep_w);
    interrupt_child(pid);
    close_fd(&in_r);
    close_fd(&err_w);
    close_fd(&rep_w);
    int status = 0, r;

    /* the errno of a failed exec, or EOF once it ran */
    int exec_errno = 0;
    ssize_t k;
    while ((k = read(rep_r, &exec_errno, sizeof(exec_errno))) < 0 && errno == EINTR) {
    }
    if (k == sizeof(exec_errno)) {
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
        r = ab_fail(err, exec_errno, "%s hook %s cannot be run", stage, h->path);
    } else {
        fcntl(in_w, F_SETFL, fcntl(in_w, F_GETFL) | O_NONBLOCK);
        fcntl(err_r, F_SETFL, fcntl(err_r, F_GETFL) | O_NONBLOCK);
        _cleanup_close_ int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
        struct tail tail = { .len = 0 };
        long deadline = h->timeout > 0 ? clock_now_ms() + h->timeout * 1000L : 0;
        bool exited = supervise(pid, pidfd, &in_w, state ? state : "", &err_r, &tail, deadline, &status) == 1;
        const char *line = tail_last_line(&tail);
        const char *sep = *line ? ": " : "";
        if (!exited)
            r = ab_fail(err, 0, "%s hook %s timed out after %d s%s%s", stage, h->path, h->timeout, sep, line);
        else if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
            r = 0;
        else if (WIFEXITED(status))
            r = ab_fail(err, 0, "%s hook %s exited with status %d%s%s", stage, h->path, WEXITSTATUS(status), sep,
                        line);
        else
            r = ab_fail(err, 0, "%s hook %s was killed by signal %d%s%s", stage, h->path,
                        WIFSIGNALED(status) ? WTERMSIG(status) : 0, sep, line);
    }
    interrupt_child(0);

    sigpending(&pending);
    if (!pipe_pending && sigismember(&pending, SIGPIPE)) {
        struct timespec zero = { 0, 0 };
        sigtimedwait(&pipe_set, NULL, &zero);
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return r;
}

int oci_hooks_run(const struct oci_hook *h, size_t n, enum oci_hook_stage stage, const char *state_json,
                  ab_error *err)
{
    const char *name = oci_hook_stage_name(stage);
    for (size_t i = 0; i < n; i++) {
        int r = run_one(&h[i], name, state_json, err);
        if (r < 0)
            return r;
    }
    return 0;
}
