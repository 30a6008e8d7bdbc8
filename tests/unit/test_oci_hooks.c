/* OCI hooks (oci/hooks.c): /bin/sh hooks in a temporary directory get the
 * state on stdin exactly, their args (args[0] included) and exactly their
 * env, no other descriptor; a failing hook's error carries its stderr's
 * last line, a hook past its timeout is killed, a missing one cannot be
 * run; the first failure stops the stage. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "oci/hooks.h"

static char dir[] = "/tmp/test-oci-hooks-XXXXXX";

/* DIR/NAME */
static const char *at(const char *name)
{
    static char path[4][256];
    static int i;
    i = (i + 1) % 4;
    snprintf(path[i], sizeof(path[i]), "%s/%s", dir, name);
    return path[i];
}

/* DIR/NAME, a /bin/sh script with BODY; its path */
static const char *script(const char *name, const char *body)
{
    const char *path = at(name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "#!/bin/sh\n%s\n", body);
    fclose(f);
    assert_int_equal(chmod(path, 0755), 0);
    return path;
}

/* The contents of DIR/NAME (static), NULL when it does not exist. */
static const char *slurp(const char *name)
{
    static char buf[1 << 20];
    FILE *f = fopen(at(name), "r");
    if (!f)
        return NULL;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    return buf;
}

static struct oci_hook hook(const char *path, int timeout, const char *const *args, const char *const *env)
{
    struct oci_hook h = { .path = strdup(path), .timeout = timeout };
    for (; args && *args; args++)
        assert_int_equal(strv_push(&h.args, *args), 0);
    for (; env && *env; env++)
        assert_int_equal(strv_push(&h.env, *env), 0);
    return h;
}

static void hook_free(struct oci_hook *h)
{
    free(h->path);
    strv_clear(&h->args);
    strv_clear(&h->env);
}

static int setup(void **state)
{
    (void)state;
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void test_stage_names(void **state)
{
    (void)state;
    assert_string_equal(oci_hook_stage_name(OCI_HOOK_PRESTART), "prestart");
    assert_string_equal(oci_hook_stage_name(OCI_HOOK_CREATE_RUNTIME), "createRuntime");
    assert_string_equal(oci_hook_stage_name(OCI_HOOK_CREATE_CONTAINER), "createContainer");
    assert_string_equal(oci_hook_stage_name(OCI_HOOK_START_CONTAINER), "startContainer");
    assert_string_equal(oci_hook_stage_name(OCI_HOOK_POSTSTART), "poststart");
    assert_string_equal(oci_hook_stage_name(OCI_HOOK_POSTSTOP), "poststop");
}

/* The state arrives exactly, also when it is larger than a pipe holds;
 * args[0] and env are the hook's own; no other descriptor of ours. */
static void test_state_args_env_fds(void **state)
{
    (void)state;
    /* larger than the 64 KiB a pipe holds */
    size_t len = 200000;
    char *big = malloc(len + 1);
    assert_non_null(big);
    int n = snprintf(big, len + 1, "{\"ociVersion\":\"1.1.0\",\"id\":\"c1\",\"status\":\"creating\",\"pad\":\"");
    memset(big + n, 'x', len - (size_t)n - 2);
    memcpy(big + len - 2, "\"}", 3);

    char body[1024];
    snprintf(body, sizeof(body),
             "cat > '%s/state'\n"
             "tr '\\0' '|' < /proc/$$/environ > '%s/env'\n"
             "ls /proc/$$/fd | tr '\\n' ' ' > '%s/fds'",
             dir, dir, dir);
    const char *path = script("stdin.sh", body);
    /* a descriptor of ours without O_CLOEXEC: the hook must not get it */
    int leak = open("/dev/null", O_RDONLY);
    assert_true(leak > 2);
    const char *const env[] = { "A=1", "HOOK_ENV=two words", NULL };
    struct oci_hook h = hook(path, 10, NULL, env);
    ab_error err = { 0 };
    int r = oci_hooks_run(&h, 1, OCI_HOOK_CREATE_RUNTIME, big, &err);
    if (r < 0)
        fail_msg("%s", err.msg);
    close(leak);
    assert_string_equal(slurp("state"), big);
    assert_string_equal(slurp("env"), "A=1|HOOK_ENV=two words|");
    /* dash keeps its fd 10 (the saved stdin of job control) */
    const char *fds = slurp("fds");
    if (strcmp(fds, "0 1 2 ") != 0 && strcmp(fds, "0 1 10 2 ") != 0)
        fail_msg("the hook had the descriptors %s", fds);
    hook_free(&h);

    /* args[0] as given (the interpreter is the hook here, so that
     * /proc/PID/cmdline shows what execve got) */
    snprintf(body, sizeof(body), "tr '\\0' '|' < /proc/$$/cmdline > '%s/argv'", dir);
    const char *const args[] = { "my-hook", "-c", body, NULL };
    h = hook("/bin/sh", 10, args, NULL);
    assert_int_equal(oci_hooks_run(&h, 1, OCI_HOOK_CREATE_CONTAINER, "{}", &err), 0);
    char want[2048];
    snprintf(want, sizeof(want), "my-hook|-c|%s|", body);
    assert_string_equal(slurp("argv"), want);
    /* no env at all */
    hook_free(&h);

    /* no args: argv is the path alone (sh then reads its commands from
     * stdin: the "state" here) */
    h = hook("/bin/sh", 10, NULL, NULL);
    snprintf(body, sizeof(body), "tr '\\0' '|' < /proc/$$/cmdline > '%s/argv0'; tr '\\0' '|' < /proc/$$/environ > '%s/env0'\n", dir, dir);
    assert_int_equal(oci_hooks_run(&h, 1, OCI_HOOK_START_CONTAINER, body, &err), 0);
    assert_string_equal(slurp("argv0"), "/bin/sh|");
    assert_string_equal(slurp("env0"), "");
    hook_free(&h);
    free(big);
}

/* A hook that does not read its stdin: no error, and no SIGPIPE kills us. */
static void test_state_unread(void **state)
{
    (void)state;
    size_t len = 300000;
    char *big = malloc(len + 1);
    assert_non_null(big);
    memset(big, ' ', len);
    big[len] = '\0';
    struct oci_hook h = hook(script("noread.sh", "exec 0<&-\nexit 0"), 10, NULL, NULL);
    ab_error err = { 0 };
    assert_int_equal(oci_hooks_run(&h, 1, OCI_HOOK_POSTSTART, big, &err), 0);
    /* and SIGPIPE is not left pending for us */
    sigset_t pending;
    sigpending(&pending);
    assert_false(sigismember(&pending, SIGPIPE));
    hook_free(&h);
    free(big);
}

static void test_failures(void **state)
{
    (void)state;
    ab_error err = { 0 };
    char want[1024];

    /* non-zero exit: its stderr's last line */
    const char *path = script("fail.sh", "echo noise\necho 'first line' >&2\necho 'cannot set up eth0' >&2\nexit 3");
    struct oci_hook h = hook(path, 0, NULL, NULL);
    assert_int_equal(oci_hooks_run(&h, 1, OCI_HOOK_CREATE_RUNTIME, "{}", &err), -EINVAL);
    snprintf(want, sizeof(want), "createRuntime hook %s exited with status 3: cannot set up eth0", path);
    assert_string_equal(err.msg, want);
    hook_free(&h);

    /* silent failure: the status alone */
    path = script("silent.sh", "exit 1");
    h = hook(path, 0, NULL, NULL);
    assert_int_equal(oci_hooks_run(&h, 1, OCI_HOOK_PRESTART, "{}", &err), -EINVAL);
    snprintf(want, sizeof(want), "prestart hook %s exited with status 1", path);
    assert_string_equal(err.msg, want);
    hook_free(&h);

    /* killed by a signal */
    path = script("killed.sh", "kill -9 $$");
    h = hook(path, 0, NULL, NULL);
    assert_int_equal(oci_hooks_run(&h, 1, OCI_HOOK_POSTSTOP, "{}", &err), -EINVAL);
    snprintf(want, sizeof(want), "poststop hook %s was killed by signal 9", path);
    assert_string_equal(err.msg, want);
    hook_free(&h);

    /* missing, not executable */
    h = hook("/nonexistent/hook", 0, NULL, NULL);
    assert_int_equal(oci_hooks_run(&h, 1, OCI_HOOK_CREATE_CONTAINER, "{}", &err), -ENOENT);
    assert_string_equal(err.msg, "createContainer hook /nonexistent/hook cannot be run: No such file or directory");
    hook_free(&h);
    path = script("noexec.sh", "exit 0");
    assert_int_equal(chmod(path, 0644), 0);
    h = hook(path, 0, NULL, NULL);
    assert_int_equal(oci_hooks_run(&h, 1, OCI_HOOK_CREATE_CONTAINER, "{}", &err), -EACCES);
    snprintf(want, sizeof(want), "createContainer hook %s cannot be run: Permission denied", path);
    assert_string_equal(err.msg, want);
    hook_free(&h);
}

/* A hook past its timeout is killed (and reaped): the error says so. */
static void test_timeout(void **state)
{
    (void)state;
    char body[512];
    snprintf(body, sizeof(body), "echo $$ > '%s/sleeper'\necho 'waiting for the network' >&2\nexec sleep 60", dir);
    const char *path = script("sleep.sh", body);
    struct oci_hook h = hook(path, 1, NULL, NULL);
    ab_error err = { 0 };
    assert_int_equal(oci_hooks_run(&h, 1, OCI_HOOK_CREATE_RUNTIME, "{}", &err), -EINVAL);
    char want[1024];
    snprintf(want, sizeof(want), "createRuntime hook %s timed out after 1 s: waiting for the network", path);
    assert_string_equal(err.msg, want);
    pid_t pid = (pid_t)atoi(slurp("sleeper"));
    assert_true(pid > 0);
    /* gone, not a zombie of ours */
    assert_int_equal(kill(pid, 0), -1);
    assert_int_equal(errno, ESRCH);
    hook_free(&h);
}

/* Hooks run in order; the first failure stops the stage. */
static void test_order(void **state)
{
    (void)state;
    char b1[256], b3[256];
    snprintf(b1, sizeof(b1), "echo one >> '%s/order'", dir);
    snprintf(b3, sizeof(b3), "echo three >> '%s/order'", dir);
    struct oci_hook hs[3] = {
        hook(script("h1.sh", b1), 0, NULL, NULL),
        hook(script("h2.sh", "echo 'no such device' >&2; exit 2"), 0, NULL, NULL),
        hook(script("h3.sh", b3), 0, NULL, NULL),
    };
    ab_error err = { 0 };
    assert_int_equal(oci_hooks_run(hs, 2 - 1, OCI_HOOK_CREATE_RUNTIME, "{}", &err), 0);
    assert_int_equal(oci_hooks_run(hs + 2, 1, OCI_HOOK_CREATE_RUNTIME, "{}", &err), 0);
    assert_string_equal(slurp("order"), "one\nthree\n");
    unlink(at("order"));
    assert_int_equal(oci_hooks_run(hs, 3, OCI_HOOK_CREATE_RUNTIME, "{}", &err), -EINVAL);
    assert_string_equal(slurp("order"), "one\n");
    assert_non_null(strstr(err.msg, "h2.sh exited with status 2: no such device"));
    /* none: nothing runs */
    assert_int_equal(oci_hooks_run(NULL, 0, OCI_HOOK_POSTSTOP, "{}", &err), 0);
    for (int i = 0; i < 3; i++)
        hook_free(&hs[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stage_names),
        cmocka_unit_test(test_state_args_env_fds),
        cmocka_unit_test(test_state_unread),
        cmocka_unit_test(test_failures),
        cmocka_unit_test(test_timeout),
        cmocka_unit_test(test_order),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
