#include "runtime/pipeline.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/clock.h"

void runner_init(struct runner *r, const struct spec *s, struct ab_ctx *ctx, const char *name)
{
    memset(r, 0, sizeof(*r));
    r->spec = s;
    r->child = -1;
    r->sock = -1;
    r->cgroup_fd = -1;
    r->ctx = ctx;
    r->name = name;
}

/* HOOK is a member of struct module; ARG what it takes. */
#define WALK(mods, hook, arg, err)                                                      \
    do {                                                                                \
        for (size_t i_ = 0; (mods)[i_]; i_++) {                                         \
            if (!(mods)[i_]->hook)                                                      \
                continue;                                                               \
            int r_ = (mods)[i_]->hook((arg), (err));                                    \
            if (r_ < 0)                                                                 \
                return r_;                                                              \
        }                                                                               \
        return 0;                                                                       \
    } while (0)

int pipeline_prepare(const struct module *const *mods, struct runner *r, ab_error *err)
{
    WALK(mods, prepare, r, err);
}

int pipeline_host_setup(const struct module *const *mods, struct runner *r, ab_error *err)
{
    WALK(mods, host_setup, r, err);
}

int pipeline_before_pivot(const struct module *const *mods, struct inside *in, ab_error *err)
{
    WALK(mods, before_pivot, in, err);
}

int pipeline_after_pivot(const struct module *const *mods, struct inside *in, ab_error *err)
{
    WALK(mods, after_pivot, in, err);
}

void pipeline_teardown(const struct module *const *mods, struct runner *r)
{
    size_t n = 0;
    while (mods[n])
        n++;
    while (n-- > 0)
        if (mods[n]->teardown)
            mods[n]->teardown(r);
    runner_stop_helpers(r, 1000);
}

/* The helper's side of a fork: what runner_spawn_helper() and
 * runner_fork_helper() promise, up to the fds; false when it must exit. */
static bool helper_child_setup(pid_t owner, const struct helper_opts *o)
{
    /* Dies with its owner, even a SIGKILLed one; checked after, as the
     * owner may already be gone. */
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    if (getppid() != owner)
        return false;
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    /* The container's user namespace, before anything else: the helper
     * then holds rights over the container's namespaces only, none over
     * the host's.  setns() clears the death signal: armed again, and the
     * owner checked again. */
    if (o->userns_fd >= 0) {
        /* as the namespace's root: an exec by an id unmapped there (a root
         * runner's 0) would drop the capabilities it has there */
        if (setns(o->userns_fd, CLONE_NEWUSER) < 0 || setresgid(0, 0, 0) < 0)
            return false;
        setgroups(0, NULL); /* refused where setgroups is denied: none are held there */
        if (setresuid(0, 0, 0) < 0)
            return false;
        prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
        if (getppid() != owner)
            return false;
    }
    if (!o->keep_stdio) {
        int null = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (null < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0 || dup2(null, 2) < 0)
            return false;
    }
    return o->stderr_fd < 0 || dup2(o->stderr_fd, 2) >= 0;
}

static void register_helper(struct runner *r, pid_t pid, const char *name)
{
    struct runner_helper *h = &r->helpers[r->n_helpers++];
    h->pid = pid;
    h->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    snprintf(h->name, sizeof(h->name), "%s", name);
}

/* Fork a helper of R's: in the helper, 0, with helper_child_setup() done
 * (and, when RESET_SIGNALS, the runner's handlers gone); in the runner,
 * its pid, registered; or -errno (ERR filled). */
static pid_t fork_helper(struct runner *r, const char *name, const struct helper_opts *o, bool reset_signals,
                         ab_error *err)
{
    if (r->n_helpers >= RUNNER_MAX_HELPERS)
        return ab_fail(err, EMFILE, "cannot start %s: too many helper processes", name);
    pid_t owner = getpid();
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        return ab_fail(err, errno, "cannot start %s", name);
    if (pid == 0) {
        for (int sig = 1; reset_signals && sig < NSIG; sig++)
            if (sig != SIGKILL && sig != SIGSTOP)
                signal(sig, SIG_DFL);
        if (!helper_child_setup(owner, o))
            _exit(127);
        return 0;
    }
    register_helper(r, pid, name);
    return pid;
}

int runner_spawn_helper(struct runner *r, const char *name, char *const argv[], const struct helper_opts *o,
                        ab_error *err)
{
    static const struct helper_opts defaults = HELPER_OPTS_INIT;
    if (!o)
        o = &defaults;
    pid_t pid = fork_helper(r, name, o, false, err); /* exec resets the handlers */
    if (pid != 0)
        return pid < 0 ? (int)pid : 0;
    if (o->pass_fd >= 0) {
        if (o->pass_fd == 3 ? fcntl(3, F_SETFD, 0) < 0 : dup2(o->pass_fd, 3) < 0)
            _exit(127);
    }
    syscall(SYS_close_range, o->pass_fd >= 0 ? 4 : 3, ~0U, 0);
    execv(argv[0], argv);
    _exit(127);
}

pid_t runner_fork_helper(struct runner *r, const char *name, const struct helper_opts *o, const int *keep,
                         size_t n_keep, ab_error *err)
{
    static const struct helper_opts defaults = HELPER_OPTS_INIT;
    if (!o)
        o = &defaults;
    if (n_keep > 16)
        return ab_fail(err, EINVAL, "cannot start %s: too many fds to keep", name);
    /* not exec'd: the runner's handlers would stay */
    pid_t pid = fork_helper(r, name, o, true, err);
    if (pid != 0)
        return pid;
    /* KEEP moved above the range first: any of them may be 3.. now */
    int lowest = 3 + (int)n_keep;
    int moved[16];
    for (size_t i = 0; i < n_keep; i++)
        if ((moved[i] = fcntl(keep[i], F_DUPFD_CLOEXEC, lowest)) < 0)
            _exit(127);
    for (size_t i = 0; i < n_keep; i++)
        if (dup3(moved[i], 3 + (int)i, O_CLOEXEC) < 0)
            _exit(127);
    syscall(SYS_close_range, (unsigned)lowest, ~0U, 0);
    char comm[16];
    snprintf(comm, sizeof(comm), "%s", name);
    prctl(PR_SET_NAME, comm, 0, 0, 0);
    return 0;
}

void runner_stop_helpers(struct runner *r, int timeout_ms)
{
    for (size_t i = 0; i < r->n_helpers; i++)
        kill(r->helpers[i].pid, SIGTERM);
    long deadline = clock_now_ms() + timeout_ms;
    for (size_t i = r->n_helpers; i-- > 0;) {
        struct runner_helper *h = &r->helpers[i];
        if (h->pidfd >= 0) {
            struct pollfd p = { .fd = h->pidfd, .events = POLLIN };
            long left = deadline - clock_now_ms();
            if (poll(&p, 1, left > 0 ? (int)left : 0) == 0)
                kill(h->pid, SIGKILL);
            close(h->pidfd);
        } else {
            kill(h->pid, SIGKILL);
        }
        while (waitpid(h->pid, NULL, 0) < 0 && errno == EINTR)
            ;
    }
    r->n_helpers = 0;
}
