/* The setup pipeline: hooks of a module list run in order, the first
 * failure stops the walk and its error comes back, teardown runs in
 * reverse; and the runner's helper processes: started with their stdio on
 * /dev/null (unless kept) and no other fd, stopped and reaped by
 * runner_stop_helpers() (TERM, then KILL), and killed when their owner
 * dies, even by SIGKILL. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "runtime/pipeline.h"
#include "spec/spec.h"

/* ---- a module list of our own ---- */

static char hook_log[512];
static const char *fail_at;      /* "name.hook" that fails, or NULL */
static struct runner *seen_runner;
static struct inside *seen_inside;

static int record(const char *name, const char *hook, ab_error *err)
{
    char what[64];
    snprintf(what, sizeof(what), "%s.%s", name, hook);
    size_t len = strlen(hook_log);
    snprintf(hook_log + len, sizeof(hook_log) - len, "%s%s", len ? " " : "", what);
    if (fail_at && strcmp(fail_at, what) == 0)
        return ab_error_set(err, AB_ERR_RUNTIME, EADDRINUSE, "module %s: %s failed", name, hook);
    return 0;
}

#define MODULE(n)                                                                                    \
    __attribute__((unused)) static int n##_prepare(struct runner *r, ab_error *err)                  \
    {                                                                                                \
        seen_runner = r;                                                                             \
        return record(#n, "prepare", err);                                                           \
    }                                                                                                \
    static int n##_host_setup(struct runner *r, ab_error *err)                                       \
    {                                                                                                \
        seen_runner = r;                                                                             \
        return record(#n, "host_setup", err);                                                        \
    }                                                                                                \
    __attribute__((unused)) static int n##_before_pivot(struct inside *in, ab_error *err)            \
    {                                                                                                \
        seen_inside = in;                                                                            \
        return record(#n, "before_pivot", err);                                                      \
    }                                                                                                \
    static int n##_after_pivot(struct inside *in, ab_error *err)                                     \
    {                                                                                                \
        seen_inside = in;                                                                            \
        return record(#n, "after_pivot", err);                                                       \
    }                                                                                                \
    static void n##_teardown(struct runner *r)                                                       \
    {                                                                                                \
        seen_runner = r;                                                                             \
        record(#n, "teardown", NULL);                                                                \
    }

MODULE(alpha)
MODULE(beta)
MODULE(gamma)

static const struct module alpha_module = {
    .name = "alpha", .prepare = alpha_prepare, .host_setup = alpha_host_setup,
    .before_pivot = alpha_before_pivot, .after_pivot = alpha_after_pivot, .teardown = alpha_teardown,
};
/* beta has only some hooks: the others are skipped */
static const struct module beta_module = {
    .name = "beta", .host_setup = beta_host_setup, .after_pivot = beta_after_pivot, .teardown = beta_teardown,
};
static const struct module gamma_module = {
    .name = "gamma", .prepare = gamma_prepare, .host_setup = gamma_host_setup,
    .before_pivot = gamma_before_pivot, .after_pivot = gamma_after_pivot, .teardown = gamma_teardown,
};
static const struct module empty_module = { .name = "empty" };

static const struct module *const test_modules[] = {
    &alpha_module, &empty_module, &beta_module, &gamma_module, NULL,
};
static const struct module *const no_modules[] = { NULL };

static struct spec spec;
static struct runner runner;

static int setup(void **state)
{
    hook_log[0] = '\0';
    fail_at = NULL;
    seen_runner = NULL;
    seen_inside = NULL;
    spec_init(&spec);
    runner_init(&runner, &spec, NULL, NULL);
    return 0;
}

static int teardown(void **state)
{
    runner_stop_helpers(&runner, 100);
    spec_free(&spec);
    return 0;
}

static void test_runner_init(void **state)
{
    struct runner r;
    memset(&r, 0x77, sizeof(r));
    struct ab_ctx ctx = { .data_fd = -1, .runtime_fd = -1 };
    runner_init(&r, &spec, &ctx, "box");
    assert_ptr_equal(r.spec, &spec);
    assert_int_equal(r.child, -1);
    assert_int_equal(r.sock, -1);
    assert_ptr_equal(r.ctx, &ctx);
    assert_string_equal(r.name, "box");
    assert_int_equal(r.n_helpers, 0);
}

static void test_order(void **state)
{
    ab_error err = { 0 };
    assert_int_equal(pipeline_prepare(test_modules, &runner, &err), 0);
    assert_string_equal(hook_log, "alpha.prepare gamma.prepare");
    assert_ptr_equal(seen_runner, &runner);

    hook_log[0] = '\0';
    assert_int_equal(pipeline_host_setup(test_modules, &runner, &err), 0);
    assert_string_equal(hook_log, "alpha.host_setup beta.host_setup gamma.host_setup");

    struct inside in = { .spec = &spec, .sock = -1, .premade_root = -1 };
    hook_log[0] = '\0';
    assert_int_equal(pipeline_before_pivot(test_modules, &in, &err), 0);
    assert_string_equal(hook_log, "alpha.before_pivot gamma.before_pivot");
    assert_ptr_equal(seen_inside, &in);
    hook_log[0] = '\0';
    assert_int_equal(pipeline_after_pivot(test_modules, &in, &err), 0);
    assert_string_equal(hook_log, "alpha.after_pivot beta.after_pivot gamma.after_pivot");

    hook_log[0] = '\0';
    pipeline_teardown(test_modules, &runner);
    assert_string_equal(hook_log, "gamma.teardown beta.teardown alpha.teardown");
    assert_int_equal(err.kind, AB_ERR_NONE);

    /* an empty list: nothing runs, nothing fails */
    hook_log[0] = '\0';
    assert_int_equal(pipeline_prepare(no_modules, &runner, &err), 0);
    assert_int_equal(pipeline_host_setup(no_modules, &runner, &err), 0);
    assert_int_equal(pipeline_before_pivot(no_modules, &in, &err), 0);
    assert_int_equal(pipeline_after_pivot(no_modules, &in, &err), 0);
    pipeline_teardown(no_modules, &runner);
    assert_string_equal(hook_log, "");
}

static void test_first_failure_stops(void **state)
{
    ab_error err = { 0 };
    fail_at = "beta.host_setup";
    int r = pipeline_host_setup(test_modules, &runner, &err);
    assert_int_equal(r, -EADDRINUSE);
    assert_string_equal(hook_log, "alpha.host_setup beta.host_setup");
    /* the failing module's own error, as it set it */
    assert_int_equal(err.kind, AB_ERR_RUNTIME);
    assert_int_equal(err.errnum, EADDRINUSE);
    assert_non_null(strstr(err.msg, "module beta: host_setup failed"));

    hook_log[0] = '\0';
    memset(&err, 0, sizeof(err));
    fail_at = "alpha.prepare";
    assert_int_equal(pipeline_prepare(test_modules, &runner, &err), -EADDRINUSE);
    assert_string_equal(hook_log, "alpha.prepare");
    assert_non_null(strstr(err.msg, "module alpha"));

    /* the last one failing: all ran before it */
    struct inside in = { .spec = &spec, .sock = -1, .premade_root = -1 };
    hook_log[0] = '\0';
    fail_at = "gamma.after_pivot";
    assert_int_equal(pipeline_after_pivot(test_modules, &in, &err), -EADDRINUSE);
    assert_string_equal(hook_log, "alpha.after_pivot beta.after_pivot gamma.after_pivot");
    hook_log[0] = '\0';
    fail_at = "gamma.before_pivot";
    assert_int_equal(pipeline_before_pivot(test_modules, &in, &err), -EADDRINUSE);
    assert_string_equal(hook_log, "alpha.before_pivot gamma.before_pivot");

    /* after a failure, teardown still runs every module, in reverse */
    hook_log[0] = '\0';
    fail_at = NULL;
    pipeline_teardown(test_modules, &runner);
    assert_string_equal(hook_log, "gamma.teardown beta.teardown alpha.teardown");
    /* and may run again */
    hook_log[0] = '\0';
    pipeline_teardown(test_modules, &runner);
    assert_string_equal(hook_log, "gamma.teardown beta.teardown alpha.teardown");
}

/* ---- helper processes ---- */

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* Wait until PID has exec'd PROG (its comm says so); false after 5 s. */
static bool wait_comm(pid_t pid, const char *prog)
{
    char p[64], comm[64];
    snprintf(p, sizeof(p), "/proc/%d/comm", pid);
    for (long end = now_ms() + 5000; now_ms() < end; usleep(2000)) {
        FILE *f = fopen(p, "re");
        if (!f)
            continue;
        bool ok = fgets(comm, sizeof(comm), f) && strncmp(comm, prog, strlen(prog)) == 0 &&
                  comm[strlen(prog)] == '\n';
        fclose(f);
        if (ok)
            return true;
    }
    return false;
}

static void fd_target(pid_t pid, int fd, char *buf, size_t size)
{
    char p[64];
    snprintf(p, sizeof(p), "/proc/%d/fd/%d", pid, fd);
    ssize_t n = readlink(p, buf, size - 1);
    buf[n < 0 ? 0 : n] = '\0';
}

static int count_fds(pid_t pid)
{
    char p[64];
    snprintf(p, sizeof(p), "/proc/%d/fd", pid);
    int n = 0;
    DIR *d = opendir(p);
    if (!d)
        return -1;
    for (struct dirent *e; (e = readdir(d));)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

static void test_helper_start_stop(void **state)
{
    ab_error err = { 0 };
    char *argv[] = { "/bin/sleep", "60", NULL };
    /* an fd without O_CLOEXEC: the helper must not inherit it */
    int leak = open("/dev/zero", O_RDONLY);
    assert_true(leak >= 0);
    int r = runner_spawn_helper(&runner, "sleeper", argv, NULL, &err);
    close(leak);
    if (r < 0)
        fail_msg("runner_spawn_helper: %s", err.msg);
    assert_int_equal(runner.n_helpers, 1);
    pid_t pid = runner.helpers[0].pid;
    assert_true(pid > 0);
    assert_true(runner.helpers[0].pidfd >= 0);
    assert_string_equal(runner.helpers[0].name, "sleeper");
    assert_int_equal(kill(pid, 0), 0);
    assert_true(wait_comm(pid, "sleep"));
    assert_int_equal(waitpid(pid, NULL, WNOHANG), 0); /* our child, alive */

    /* stdio on /dev/null, nothing else open */
    char t[PATH_MAX];
    for (int fd = 0; fd <= 2; fd++) {
        fd_target(pid, fd, t, sizeof(t));
        assert_string_equal(t, "/dev/null");
    }
    /* sleep's own start-up may hold a file a moment (its locale): what
     * stays open is what the helper got */
    for (int i = 0; i < 100 && count_fds(pid) != 3; i++)
        usleep(10000);
    assert_int_equal(count_fds(pid), 3);

    long t0 = now_ms();
    runner_stop_helpers(&runner, 2000);
    /* sleep dies of TERM at once: no waiting for the timeout */
    assert_true(now_ms() - t0 < 1500);
    assert_int_equal(runner.n_helpers, 0);
    /* ended and reaped */
    errno = 0;
    assert_int_equal(waitpid(pid, NULL, WNOHANG), -1);
    assert_int_equal(errno, ECHILD);
    /* stopping again is harmless */
    runner_stop_helpers(&runner, 100);
}

static void test_helper_keep_stdio(void **state)
{
    ab_error err = { 0 };
    char *argv[] = { "/bin/sleep", "60", NULL };
    assert_int_equal(runner_spawn_helper(&runner, "kept", argv, &(struct helper_opts){ .keep_stdio = true, .stderr_fd = -1, .userns_fd = -1, .pass_fd = -1 }, &err), 0);
    pid_t pid = runner.helpers[0].pid;
    assert_true(wait_comm(pid, "sleep"));
    char mine[PATH_MAX], theirs[PATH_MAX];
    for (int fd = 0; fd <= 2; fd++) {
        fd_target(getpid(), fd, mine, sizeof(mine));
        fd_target(pid, fd, theirs, sizeof(theirs));
        if (mine[0]) /* our fd is open: the helper has the same */
            assert_string_equal(theirs, mine);
    }
    pipeline_teardown(no_modules, &runner); /* teardown stops helpers too */
    assert_int_equal(runner.n_helpers, 0);
    errno = 0;
    assert_int_equal(waitpid(pid, NULL, WNOHANG), -1);
    assert_int_equal(errno, ECHILD);
}

static void test_helper_ignoring_term(void **state)
{
    /* a helper that ignores TERM is KILLed after the timeout */
    ab_error err = { 0 };
    char *argv[] = { "/bin/sh", "-c", "trap '' TERM; exec /bin/sleep 60", NULL };
    assert_int_equal(runner_spawn_helper(&runner, "stubborn", argv, NULL, &err), 0);
    char *argv2[] = { "/bin/sleep", "60", NULL };
    assert_int_equal(runner_spawn_helper(&runner, "meek", argv2, NULL, &err), 0);
    assert_int_equal(runner.n_helpers, 2);
    pid_t stubborn = runner.helpers[0].pid, meek = runner.helpers[1].pid;
    assert_true(wait_comm(stubborn, "sleep"));
    assert_true(wait_comm(meek, "sleep"));
    long t0 = now_ms();
    runner_stop_helpers(&runner, 300);
    long took = now_ms() - t0;
    assert_true(took >= 250);
    assert_true(took < 3000);
    assert_int_equal(runner.n_helpers, 0);
    errno = 0;
    assert_int_equal(waitpid(stubborn, NULL, WNOHANG), -1);
    assert_int_equal(errno, ECHILD);
    assert_int_equal(waitpid(meek, NULL, WNOHANG), -1);
    assert_true(kill(stubborn, 0) < 0);
}

static void test_helper_limit(void **state)
{
    ab_error err = { 0 };
    char *argv[] = { "/bin/true", NULL };
    runner.n_helpers = RUNNER_MAX_HELPERS; /* pretend the table is full */
    assert_int_equal(runner_spawn_helper(&runner, "one-too-many", argv, NULL, &err), -EMFILE);
    assert_int_equal(err.kind, AB_ERR_RUNTIME);
    assert_non_null(strstr(err.msg, "one-too-many"));
    assert_non_null(strstr(err.msg, "too many helper processes"));
    runner.n_helpers = 0;
}

/* Fork a runner that starts a helper, reports its pid and dies (by _exit
 * or SIGKILL); the helper must die with it.  We are the children's
 * subreaper here, so the orphaned helper comes back to us to reap and we
 * see how it ended. */
static void helper_dies_with_owner(bool sigkill)
{
    assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), 0);
    int p[2];
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    pid_t owner = fork();
    assert_true(owner >= 0);
    if (owner == 0) {
        close(p[0]);
        struct runner r;
        ab_error err = { 0 };
        runner_init(&r, &spec, NULL, NULL);
        char *argv[] = { "/bin/sleep", "60", NULL };
        if (runner_spawn_helper(&r, "orphan", argv, NULL, &err) < 0)
            _exit(2);
        pid_t h = r.helpers[0].pid;
        /* only once it is running sleep: its death signal is set */
        if (!wait_comm(h, "sleep"))
            _exit(3);
        if (write(p[1], &h, sizeof(h)) != sizeof(h))
            _exit(4);
        if (sigkill)
            raise(SIGKILL);
        _exit(0);
    }
    close(p[1]);
    pid_t helper = -1;
    ssize_t n = read(p[0], &helper, sizeof(helper));
    close(p[0]);
    int st;
    assert_int_equal(waitpid(owner, &st, 0), owner);
    if (n != sizeof(helper))
        fail_msg("the runner did not report its helper (status 0x%x)", st);
    if (sigkill)
        assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    else
        assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);

    /* the helper is reparented to us and must be gone within seconds */
    pid_t got = 0;
    for (long end = now_ms() + 5000; got == 0 && now_ms() < end;) {
        got = waitpid(helper, &st, WNOHANG);
        if (got == 0)
            usleep(5000);
    }
    if (got != helper) {
        kill(helper, SIGKILL);
        waitpid(helper, NULL, 0);
        prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0);
        fail_msg("helper %d still alive after its owner died", helper);
    }
    /* killed by its death signal, not ended on its own */
    assert_true(WIFSIGNALED(st));
    assert_int_equal(WTERMSIG(st), SIGKILL);
    assert_true(kill(helper, 0) < 0);
    assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0), 0);
}

static void test_helper_dies_with_exiting_owner(void **state)
{
    helper_dies_with_owner(false);
}

static void test_helper_dies_with_killed_owner(void **state)
{
    helper_dies_with_owner(true);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_runner_init, setup, teardown),
        cmocka_unit_test_setup_teardown(test_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_first_failure_stops, setup, teardown),
        cmocka_unit_test_setup_teardown(test_helper_start_stop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_helper_keep_stdio, setup, teardown),
        cmocka_unit_test_setup_teardown(test_helper_ignoring_term, setup, teardown),
        cmocka_unit_test_setup_teardown(test_helper_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_helper_dies_with_exiting_owner, setup, teardown),
        cmocka_unit_test_setup_teardown(test_helper_dies_with_killed_owner, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
