#include "container/service.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cgroup/cgroup.h"
#include "container/state.h"
#include "container/svclog.h"
#include "util/cleanup.h"

#define BACKOFF_FIRST_MS 100
#define BACKOFF_MAX_MS 30000
/* a run this long was a success of sorts: the backoff starts over */
#define BACKOFF_RESET_MS 10000

long service_backoff(long prev, int64_t ran_ms)
{
    if (prev <= 0 || ran_ms >= BACKOFF_RESET_MS)
        return BACKOFF_FIRST_MS;
    return prev * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : prev * 2;
}

const char *service_describe_status(int status, char *buf, size_t n)
{
    /* as sandbox_join() reports it (and a shell does): 128+N is signal N */
    if (status > 128 && status < 128 + 65)
        snprintf(buf, n, "killed by signal %d", status - 128);
    else
        snprintf(buf, n, "exited with status %d", status);
    return buf;
}

int service_format_status(const struct service_status *st, char *buf, size_t n)
{
    int len = snprintf(buf, n, "state=%s\npid=%d\nsince=%" PRId64 "\nrestarts=%d\nlast_status=%d\nrestart=%s\n",
                       st->state, (int)st->pid, st->since, st->restarts, st->last_status, st->restart);
    return len > 0 && (size_t)len < n ? 0 : -ENOSPC;
}

int service_parse_status(const char *text, struct service_status *st)
{
    memset(st, 0, sizeof(*st));
    st->last_status = -1;
    bool have_state = false;
    for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        int len = (int)strcspn(l, "\n");
        long long v;
        char word[16];
        if (sscanf(l, "state=%15[a-z]", word) == 1 && len < 6 + 16) {
            snprintf(st->state, sizeof(st->state), "%s", word);
            have_state = true;
        } else if (sscanf(l, "restart=%15[a-z-]", word) == 1) {
            snprintf(st->restart, sizeof(st->restart), "%s", word);
        } else if (sscanf(l, "pid=%lld", &v) == 1) {
            st->pid = v > 0 && v < INT32_MAX ? (pid_t)v : 0;
        } else if (sscanf(l, "since=%lld", &v) == 1) {
            st->since = v;
        } else if (sscanf(l, "restarts=%lld", &v) == 1) {
            st->restarts = v >= 0 && v < INT32_MAX ? (int)v : 0;
        } else if (sscanf(l, "last_status=%lld", &v) == 1) {
            st->last_status = v >= -1 && v < 256 ? (int)v : -1;
        }
    }
    return have_state ? 0 : -EINVAL;
}

int service_read_status(struct ab_ctx *ctx, const char *name, struct service_status *st)
{
    _cleanup_free_ char *text = state_read_text(ctx, name, SERVICE_STATE, 4096);
    if (!text)
        return -ENOENT;
    return service_parse_status(text, st);
}

int service_stop_signals(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigprocmask(SIG_BLOCK, &set, NULL);
    return signalfd(-1, &set, SFD_CLOEXEC);
}

/* The monitor */

struct monitor {
    struct ab_ctx *ctx;
    const char *name;
    const struct spec *s;
    const struct ns_fds *ns;
    struct svclog log;
    struct service_status st;
};

static void save(struct monitor *m, const char *state, pid_t pid)
{
    snprintf(m->st.state, sizeof(m->st.state), "%s", state);
    m->st.pid = pid;
    m->st.since = svclog_now();
    char buf[512];
    ab_error err = { 0 };
    if (service_format_status(&m->st, buf, sizeof(buf)) == 0 &&
        state_write_file(m->ctx, m->name, SERVICE_STATE, buf, &err) < 0)
        fprintf(stderr, "appbox: %s\n", err.msg);
}

/* One run of the command: this process joins the container as a session
 * would (sandbox_join()), with the pipes as stdout and stderr; its exit
 * status is the command's. */
static _Noreturn void run_child(struct monitor *m, pid_t monitor, int out, int errp, int msg)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    if (getppid() != monitor)
        _exit(125);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null < 0 || dup2(null, STDIN_FILENO) < 0 || dup2(out, STDOUT_FILENO) < 0 || dup2(errp, STDERR_FILENO) < 0)
        _exit(125);
    close(out);
    close(errp);
    ab_error e = { 0 };
    int code = 125;
    /* the container's cgroups, limits and all (the join enters them again
     * for its own child, harmlessly) */
    if (cgroup_enter(m->s, &e) == 0) {
        struct join_params jp = { .passenv = &m->ctx->passenv, .argv = m->s->process.argv.v, .service = true,
                                  .pid_fd = msg };
        if (sandbox_join(m->ns, m->s, &jp, &code, &e) < 0)
            code = e.kind == AB_ERR_NOTFOUND ? 127 : 125;
    }
    if (e.kind != AB_ERR_NONE) {
        for (char *p = e.msg; *p; p++)
            if (*p == '\n')
                *p = ' ';
        dprintf(msg, "E%s\n", e.msg);
    }
    _exit(code);
}

struct stream {
    int fd;
    const char *word;
    struct svclog_framer f;
    struct monitor *m;
};

static void emit(void *arg, const char *text, size_t len)
{
    struct stream *st = arg;
    svclog_write(&st->m->log, st->word, text, len);
}

/* Read what FD has; false at its end (or an error). */
static bool pump(struct stream *st)
{
    char buf[65536];
    ssize_t n = read(st->fd, buf, sizeof(buf));
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return true;
    if (n <= 0)
        return false;
    svclog_frame(&st->f, buf, (size_t)n, emit, st);
    return true;
}

/* The message pipe: "P<pid>" from the join when the command is forked,
 * "E<error>" from the run when it could not start it. */
static bool pump_messages(struct monitor *m, int fd, char *acc, size_t *len)
{
    ssize_t n = read(fd, acc + *len, 1023 - *len);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return true;
    if (n <= 0)
        return false;
    *len += (size_t)n;
    acc[*len] = '\0';
    char *nl;
    while ((nl = strchr(acc, '\n'))) {
        *nl = '\0';
        if (acc[0] == 'P') {
            pid_t pid = (pid_t)atoi(acc + 1);
            svclog_printf(&m->log, "started pid %d", pid);
            save(m, "running", pid);
        } else if (acc[0] == 'E') {
            svclog_printf(&m->log, "%s", acc + 1);
        }
        size_t rest = *len - (size_t)(nl + 1 - acc);
        memmove(acc, nl + 1, rest + 1);
        *len = rest;
    }
    if (*len == 1023)
        *len = 0; /* no line of ours is that long */
    return true;
}

/* A TERM (INT, HUP) came: stop for good. */
static bool stop_asked(int sfd)
{
    struct signalfd_siginfo si;
    return read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si);
}

/* Run the command once; its exit status, or -1 when it could not even be
 * forked.  *STOPPING is set when a stop came meanwhile. */
static int run_once(struct monitor *m, int sfd, bool *stopping)
{
    int out[2], errp[2], msg[2];
    if (pipe2(out, O_CLOEXEC) < 0)
        return -1;
    if (pipe2(errp, O_CLOEXEC) < 0) {
        close(out[0]);
        close(out[1]);
        return -1;
    }
    if (pipe2(msg, O_CLOEXEC) < 0) {
        close(out[0]);
        close(out[1]);
        close(errp[0]);
        close(errp[1]);
        return -1;
    }
    pid_t self = getpid();
    pid_t r = fork();
    if (r == 0) {
        close(out[0]);
        close(errp[0]);
        close(msg[0]);
        run_child(m, self, out[1], errp[1], msg[1]);
    }
    close(out[1]);
    close(errp[1]);
    close(msg[1]);
    if (r < 0) {
        svclog_printf(&m->log, "cannot start the service: %s", strerror(errno));
        close(out[0]);
        close(errp[0]);
        close(msg[0]);
        return -1;
    }
    _cleanup_close_ int pidfd = (int)syscall(SYS_pidfd_open, r, 0);
    static struct stream so, se;
    so = (struct stream){ .fd = out[0], .word = "stdout", .m = m };
    se = (struct stream){ .fd = errp[0], .word = "stderr", .m = m };
    char acc[1024];
    size_t acc_len = 0;
    int mfd = msg[0];
    int status = 0;
    for (;;) {
        struct pollfd p[5] = { { .fd = so.fd, .events = POLLIN }, { .fd = se.fd, .events = POLLIN },
                               { .fd = mfd, .events = POLLIN }, { .fd = pidfd, .events = POLLIN },
                               { .fd = sfd, .events = POLLIN } };
        if (poll(p, 5, -1) < 0)
            continue;
        if (p[0].revents && !pump(&so)) {
            close(so.fd);
            so.fd = -1;
        }
        if (p[1].revents && !pump(&se)) {
            close(se.fd);
            se.fd = -1;
        }
        if (p[2].revents && !pump_messages(m, mfd, acc, &acc_len)) {
            close(mfd);
            mfd = -1;
        }
        if (p[4].revents && stop_asked(sfd) && !*stopping) {
            *stopping = true;
            svclog_printf(&m->log, "stopping");
            save(m, "stopping", m->st.pid);
            kill(r, SIGTERM); /* forwarded by the join to the command */
        }
        if (p[3].revents || pidfd < 0) {
            int ws;
            while (waitpid(r, &ws, 0) < 0 && errno == EINTR)
                ;
            status = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
            break;
        }
    }
    /* What is left in the pipes (a process of the command's that still
     * holds them may write on: what it writes after this is lost). */
    struct stream *streams[] = { &so, &se };
    for (int i = 0; i < 2; i++) {
        struct stream *st = streams[i];
        if (st->fd >= 0) {
            fcntl(st->fd, F_SETFL, O_NONBLOCK);
            for (int k = 0; k < 64 && pump(st); k++)
                ;
            close(st->fd);
            st->fd = -1;
        }
        svclog_frame_flush(&st->f, emit, st);
    }
    if (mfd >= 0) {
        fcntl(mfd, F_SETFL, O_NONBLOCK);
        for (int k = 0; k < 4 && pump_messages(m, mfd, acc, &acc_len); k++)
            ;
        close(mfd);
    }
    return status;
}

static _Noreturn void monitor_main(struct monitor *m, pid_t supervisor)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    if (getppid() != supervisor)
        _exit(0);
    prctl(PR_SET_NAME, "appbox-service", 0, 0, 0);
    /* Nothing of the supervisor's but the namespaces (and stderr, its
     * log): not its lock, not its control socket. */
    int keep[NS_COUNT];
    for (int i = 0; i < NS_COUNT; i++)
        keep[i] = m->ns->fd[i];
    for (int i = 0; i < NS_COUNT; i++)
        for (int j = i + 1; j < NS_COUNT; j++)
            if (keep[j] < keep[i]) {
                int t = keep[i];
                keep[i] = keep[j];
                keep[j] = t;
            }
    unsigned from = 3;
    for (int i = 0; i < NS_COUNT; i++) {
        if (keep[i] < (int)from)
            continue;
        if (keep[i] > (int)from)
            syscall(SYS_close_range, from, (unsigned)keep[i] - 1, 0);
        from = (unsigned)keep[i] + 1;
    }
    syscall(SYS_close_range, from, ~0U, 0);
    m->ctx->data_fd = m->ctx->runtime_fd = -1;

    int sfd = service_stop_signals();

    ab_error err = { 0 };
    if (svclog_open(&m->log, m->ctx, m->name, m->s->container.log_size, &err) < 0)
        fprintf(stderr, "appbox: %s (the service's output is lost)\n", err.msg);
    m->st.last_status = -1;
    snprintf(m->st.restart, sizeof(m->st.restart), "%s", spec_restart_name(m->s->container.restart));
    long backoff = 0;
    bool stopping = false;
    for (;;) {
        save(m, "running", 0);
        int64_t t0 = svclog_now();
        int ooms = cgroup_oom_kills(m->s);
        int status = run_once(m, sfd, &stopping);
        char what[96];
        if (status < 0)
            status = 125;
        service_describe_status(status, what, sizeof(what));
        /* killed (KILL) while the memory group counted an OOM kill: say so,
         * with the limit, as `run` does on the terminal */
        int ooms_after = status == 128 + SIGKILL && ooms >= 0 ? cgroup_oom_kills(m->s) : -1;
        if (ooms_after > ooms && m->s->container.resources.memory) {
            char lim[32];
            snprintf(what, sizeof(what), "killed: memory limit %s reached",
                     cgroup_format_bytes(m->s->container.resources.memory, lim, sizeof(lim)));
        }
        m->st.last_status = status;
        int policy = m->s->container.restart;
        bool again = policy == SPEC_RESTART_ALWAYS || (policy == SPEC_RESTART_ON_FAILURE && status != 0);
        if (stopping || !again) {
            svclog_printf(&m->log, "%s", what);
            save(m, stopping ? "stopped" : "exited", 0);
            svclog_close(&m->log);
            _exit(0);
        }
        backoff = service_backoff(backoff, (svclog_now() - t0) / 1000);
        svclog_printf(&m->log, "%s, restarting in %.1f s", what, (double)backoff / 1000);
        save(m, "restarting", 0);
        struct pollfd p = { .fd = sfd, .events = POLLIN };
        int r;
        do
            r = poll(&p, 1, (int)backoff);
        while (r < 0 && errno == EINTR);
        if (r > 0 && stop_asked(sfd)) {
            svclog_printf(&m->log, "stopping");
            save(m, "stopped", 0);
            svclog_close(&m->log);
            _exit(0);
        }
        m->st.restarts++;
    }
}

int service_start(struct service *svc, struct ab_ctx *ctx, const char *name, const struct spec *s,
                  const struct ns_fds *ns, ab_error *err)
{
    svc->pid = -1;
    svc->pidfd = -1;
    state_remove(ctx, name, SERVICE_STATE);
    if (s->process.argv.n == 0)
        return 0;
    /* The state is there before `start` returns: show and list see a
     * service at once ("starting" until its monitor has run it). */
    struct service_status first = { .pid = 0, .since = svclog_now(), .restarts = 0, .last_status = -1 };
    snprintf(first.state, sizeof(first.state), "starting");
    snprintf(first.restart, sizeof(first.restart), "%s", spec_restart_name(s->container.restart));
    char buf[512];
    if (service_format_status(&first, buf, sizeof(buf)) == 0)
        state_write_file(ctx, name, SERVICE_STATE, buf, err);
    pid_t self = getpid();
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        return ab_fail(err, errno, "cannot start the service of %s", name);
    if (pid == 0) {
        struct monitor m = { .ctx = ctx, .name = name, .s = s, .ns = ns, .log = { .dir = -1, .fd = -1 } };
        monitor_main(&m, self);
    }
    svc->pid = pid;
    svc->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    return 0;
}

static void reap(struct service *svc)
{
    while (waitpid(svc->pid, NULL, 0) < 0 && errno == EINTR)
        ;
    if (svc->pidfd >= 0)
        close(svc->pidfd);
    svc->pid = -1;
    svc->pidfd = -1;
}

long service_stop(struct service *svc, long timeout_ms)
{
    if (svc->pid <= 0)
        return 0;
    int64_t t0 = svclog_now();
    kill(svc->pid, SIGTERM);
    struct pollfd p = { .fd = svc->pidfd, .events = POLLIN };
    int r;
    do
        r = poll(&p, svc->pidfd >= 0 ? 1 : 0, (int)(timeout_ms > INT32_MAX ? INT32_MAX : timeout_ms));
    while (r < 0 && errno == EINTR);
    if (r <= 0)
        kill(svc->pid, SIGKILL); /* its command dies with it (and with the container) */
    reap(svc);
    return (long)((svclog_now() - t0) / 1000);
}

void service_reap(struct service *svc)
{
    if (svc->pid > 0)
        reap(svc);
}
