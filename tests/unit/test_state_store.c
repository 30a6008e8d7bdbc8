/* Where named containers live and their runtime state: container names,
 * data and runtime paths (from the context: struct ab_env's data_dir and
 * runtime_dir, as the CLI fills them from APPBOX_DATA_DIR and
 * APPBOX_RUNTIME_DIR), private directories, listing; lock files and what the locks say (running while
 * supervisor.lock is held, sessions counted from the shared holders of
 * sessions.lock), small state files written atomically and never through
 * a symlink, read back as numbers and pids, and the container's log. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "container/state.h"
#include "container/store.h"
#include "context.h"
#include "util/fsutil.h"

static char data_dir[64], run_dir[64];
static struct ab_ctx ctx;
/* Children holding locks: killed in teardown should a test fail early. */
static pid_t holders[16];
static size_t n_holders;

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *f)
{
    return remove(p);
}

static int setup(void **state)
{
    snprintf(data_dir, sizeof(data_dir), "/tmp/abunit-data-XXXXXX");
    snprintf(run_dir, sizeof(run_dir), "/tmp/abunit-run-XXXXXX");
    if (!mkdtemp(data_dir) || !mkdtemp(run_dir))
        return -1;
    const struct ab_env env = { .home = "/nonexistent", .data_dir = data_dir, .runtime_dir = run_dir };
    ab_error err = { 0 };
    return ab_ctx_init(&ctx, &env, &err);
}

static int teardown(void **state)
{
    for (size_t i = 0; i < n_holders; i++)
        if (waitpid(holders[i], NULL, WNOHANG) == 0) {
            kill(holders[i], SIGKILL);
            waitpid(holders[i], NULL, 0);
        }
    n_holders = 0;
    int r = nftw(data_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    r |= nftw(run_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    ab_ctx_free(&ctx);
    return r;
}

static void path_in(char *buf, size_t size, const char *root, const char *a, const char *b)
{
    snprintf(buf, size, "%s/%s%s%s", root, a, b ? "/" : "", b ? b : "");
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    static char buf[4096];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/* The runtime dir of container NAME, made as state_open_lock(&ctx, ) would. */
static void make_run_dir(const char *name)
{
    char p[256];
    path_in(p, sizeof(p), run_dir, name, NULL);
    assert_int_equal(mkdir(p, 0700), 0);
}

/* ---- store ---- */

static void test_names(void **state)
{
    const char *good[] = { "a", "box", "my-box_2.0", "A9", "x.y", "1", "a-", "a." };
    for (size_t i = 0; i < sizeof(good) / sizeof(*good); i++) {
        ab_error err = { 0 };
        if (!store_name_valid(good[i]))
            fail_msg("'%s' refused", good[i]);
        assert_int_equal(store_check_name(good[i], &err), 0);
        assert_int_equal(err.kind, AB_ERR_NONE);
    }
    char max[65], over[66];
    memset(max, 'n', 64);
    max[64] = '\0';
    memset(over, 'n', 65);
    over[65] = '\0';
    assert_true(store_name_valid(max));

    const char *bad[] = { "", over, ".hidden", ".", "..", "-flag", "a/b", "/abs", "../up", "with space", " lead",
                          "tab\there", "uni\xc3\xa9", "a:b", "semi;colon", "star*" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        ab_error err = { 0 };
        if (store_name_valid(bad[i]))
            fail_msg("'%s' accepted", bad[i]);
        assert_int_equal(store_check_name(bad[i], &err), -EINVAL);
        assert_int_equal(err.kind, AB_ERR_USAGE);
        /* named as it was given, control characters escaped (no raw tab) */
        const char *named = strcmp(bad[i], "tab\there") == 0 ? "tab\\there" : bad[i];
        if (!strstr(err.msg, named) || !strstr(err.msg, "not a valid container name") || strchr(err.msg, '\t'))
            fail_msg("message '%s' does not name '%s'", err.msg, named);
    }
}

static void test_paths(void **state)
{
    ab_error err = { 0 };
    char want[256];
    char *p = store_path(&ctx, "box", "appbox.conf", &err);
    path_in(want, sizeof(want), data_dir, "box", "appbox.conf");
    assert_string_equal(p, want);
    free(p);
    p = store_path(&ctx, "box", NULL, &err);
    path_in(want, sizeof(want), data_dir, "box", NULL);
    assert_string_equal(p, want);
    free(p);
    p = store_run_path(&ctx, "box", "supervisor.lock", &err);
    path_in(want, sizeof(want), run_dir, "box", "supervisor.lock");
    assert_string_equal(p, want);
    free(p);
    p = store_run_path(&ctx, "box", NULL, &err);
    path_in(want, sizeof(want), run_dir, "box", NULL);
    assert_string_equal(p, want);
    free(p);
    p = store_data_root(&ctx, &err);
    assert_string_equal(p, data_dir);
    free(p);
    p = store_runtime_root(&ctx, &err);
    assert_string_equal(p, run_dir);
    free(p);
}

static void test_ctx_dirs(void **state)
{
    /* the roots the context chose are made (0700, ours) on first use */
    ab_error err = { 0 };
    char data[128], run[128];
    snprintf(data, sizeof(data), "%s/nested/data", data_dir);
    snprintf(run, sizeof(run), "%s/nested/run", run_dir);
    struct ab_ctx c;
    const struct ab_env env = { .home = "/nonexistent", .data_dir = data, .runtime_dir = run };
    assert_int_equal(ab_ctx_init(&c, &env, &err), 0);
    assert_string_equal(c.data_dir, data);
    assert_string_equal(c.runtime_dir, run);
    assert_int_equal(c.data_fd, -1);
    assert_int_equal(c.runtime_fd, -1);
    assert_int_equal(access(run, F_OK), -1); /* nothing made yet */
    int fd = ab_ctx_runtime_fd(&c, &err);
    assert_true(fd >= 0);
    assert_int_equal(ab_ctx_runtime_fd(&c, &err), fd); /* kept */
    struct stat st;
    assert_int_equal(lstat(run, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0700);
    /* a lock through this context lands in it */
    int lock = state_open_lock(&c, "box", "start.lock", &err);
    assert_true(lock >= 0);
    close(lock);
    char p[256];
    snprintf(p, sizeof(p), "%s/box/start.lock", run);
    assert_int_equal(access(p, F_OK), 0);
    assert_true(ab_ctx_data_fd(&c, &err) >= 0);
    assert_int_equal(lstat(data, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0700);
    ab_ctx_free(&c);
    ab_ctx_free(&c); /* twice: harmless */

    /* a runtime root that is a symlink is refused */
    char link[128];
    snprintf(link, sizeof(link), "%s/run-link", run_dir);
    assert_int_equal(symlink(run, link), 0);
    const struct ab_env lenv = { .home = "/nonexistent", .data_dir = data, .runtime_dir = link };
    assert_int_equal(ab_ctx_init(&c, &lenv, &err), 0);
    memset(&err, 0, sizeof(err));
    assert_true(ab_ctx_runtime_fd(&c, &err) < 0);
    assert_non_null(strstr(err.msg, link));
    assert_true(state_open_lock(&c, "box", "start.lock", &err) < 0);
    ab_ctx_free(&c);

    /* without overrides: root's fixed places, or the user's XDG ones */
    const struct ab_env denv = { .home = "/home/u", .xdg_data_home = "/xdg/data", .xdg_runtime_dir = "/xdg/run" };
    assert_int_equal(ab_ctx_init(&c, &denv, &err), 0);
    if (getuid() == 0) {
        assert_string_equal(c.data_dir, "/var/lib/appbox");
        assert_string_equal(c.runtime_dir, "/run/appbox");
    } else {
        assert_string_equal(c.data_dir, "/xdg/data/appbox");
        assert_string_equal(c.runtime_dir, "/xdg/run/appbox");
    }
    ab_ctx_free(&c);
}

static void test_mkdirs(void **state)
{
    ab_error err = { 0 };
    char p[256];
    path_in(p, sizeof(p), data_dir, "a/b/c", NULL);
    assert_int_equal(fs_mkdirs(p, true, &err), 0);
    const char *levels[] = { "a", "a/b", "a/b/c" };
    for (size_t i = 0; i < 3; i++) {
        char q[256];
        struct stat st;
        path_in(q, sizeof(q), data_dir, levels[i], NULL);
        assert_int_equal(lstat(q, &st), 0);
        assert_true(S_ISDIR(st.st_mode));
        assert_int_equal(st.st_mode & 07777, 0700);
        assert_int_equal(st.st_uid, getuid());
    }
    /* existing: fine, again */
    assert_int_equal(fs_mkdirs(p, true, &err), 0);

    /* an existing open directory is made private only when asked */
    char open_dir[256];
    struct stat st;
    path_in(open_dir, sizeof(open_dir), data_dir, "open", NULL);
    assert_int_equal(mkdir(open_dir, 0755), 0);
    assert_int_equal(chmod(open_dir, 0755), 0);
    assert_int_equal(fs_mkdirs(open_dir, false, &err), 0);
    assert_int_equal(stat(open_dir, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0755);
    assert_int_equal(fs_mkdirs(open_dir, true, &err), 0);
    assert_int_equal(stat(open_dir, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0700);

    /* the last component a symlink (to a directory of ours): refused */
    char link[256];
    path_in(link, sizeof(link), data_dir, "link", NULL);
    assert_int_equal(symlink(open_dir, link), 0);
    memset(&err, 0, sizeof(err));
    assert_int_equal(fs_mkdirs(link, true, &err), -EPERM);
    assert_int_equal(err.kind, AB_ERR_RUNTIME);
    if (!strstr(err.msg, link) || !strstr(err.msg, "not a directory of yours"))
        fail_msg("message '%s' does not name %s", err.msg, link);

    /* a file where the directory should be */
    char file[256];
    path_in(file, sizeof(file), data_dir, "file", NULL);
    write_text(file, "x");
    assert_int_equal(fs_mkdirs(file, false, &err), -EPERM);
    assert_non_null(strstr(err.msg, "not a directory of yours"));

    /* a file as a parent: cannot create below it */
    char below[256];
    path_in(below, sizeof(below), data_dir, "file", "sub");
    assert_true(fs_mkdirs(below, false, &err) < 0);
    assert_non_null(strstr(err.msg, "cannot create"));

    /* someone else's directory */
    char theirs[256];
    path_in(theirs, sizeof(theirs), data_dir, "theirs", NULL);
    assert_int_equal(mkdir(theirs, 0700), 0);
    if (getuid() == 0) {
        assert_int_equal(chown(theirs, 4321, 4321), 0);
        assert_int_equal(fs_mkdirs(theirs, true, &err), -EPERM);
        assert_non_null(strstr(err.msg, "not a directory of yours"));
        /* and not made private for us either */
        assert_int_equal(chmod(theirs, 0755), 0);
        assert_int_equal(fs_mkdirs(theirs, true, &err), -EPERM);
        assert_int_equal(stat(theirs, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0755);
    }
}

static void make_container(const char *name, bool with_conf)
{
    char p[256];
    path_in(p, sizeof(p), data_dir, name, NULL);
    assert_int_equal(mkdir(p, 0700), 0);
    if (with_conf) {
        path_in(p, sizeof(p), data_dir, name, "appbox.conf");
        write_text(p, "[Container]\nBase=host\n");
    }
}

static void test_list_exists(void **state)
{
    ab_error err = { 0 };
    strv names = { 0 };
    /* no data dir yet: an empty list, no error */
    char gone[128];
    snprintf(gone, sizeof(gone), "%s/not-there", data_dir);
    struct ab_ctx gctx;
    const struct ab_env genv = { .home = "/nonexistent", .data_dir = gone, .runtime_dir = run_dir };
    assert_int_equal(ab_ctx_init(&gctx, &genv, &err), 0);
    assert_int_equal(store_list(&gctx, &names, &err), 0);
    assert_int_equal(names.n, 0);
    assert_false(store_exists(&gctx, "box"));
    assert_int_equal(access(gone, F_OK), -1); /* listing creates nothing */
    ab_ctx_free(&gctx);
    assert_int_equal(store_list(&ctx, &names, &err), 0);
    assert_int_equal(names.n, 0);

    make_container("zeta", true);
    make_container("alpha", true);
    make_container("Mid", true);
    make_container("beta-2", true);
    make_container("noconf", false);
    make_container(".hidden", true);
    char p[256];
    path_in(p, sizeof(p), data_dir, "stray-file", NULL);
    write_text(p, "x");

    assert_int_equal(store_list(&ctx, &names, &err), 0);
    const char *want[] = { "Mid", "alpha", "beta-2", "zeta" };
    assert_int_equal(names.n, 4);
    for (size_t i = 0; i < 4; i++)
        assert_string_equal(names.v[i], want[i]);
    assert_null(names.v[4]);
    strv_clear(&names);

    assert_true(store_exists(&ctx, "alpha"));
    assert_true(store_exists(&ctx, "Mid"));
    assert_false(store_exists(&ctx, "noconf"));
    assert_false(store_exists(&ctx, "nobody"));
    assert_false(store_exists(&ctx, "stray-file"));
}

/* ---- state ---- */

static void test_open_lock(void **state)
{
    ab_error err = { 0 };
    int fd = state_open_lock(&ctx, "box", "start.lock", &err);
    if (fd < 0)
        fail_msg("state_open_lock: %s", err.msg);
    char p[256];
    struct stat st, fst;
    path_in(p, sizeof(p), run_dir, "box", "start.lock");
    assert_int_equal(lstat(p, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_int_equal(fstat(fd, &fst), 0);
    assert_int_equal(st.st_ino, fst.st_ino);
    assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    assert_int_equal(fcntl(fd, F_GETFL) & O_ACCMODE, O_RDWR);
    /* its directory was made, private */
    path_in(p, sizeof(p), run_dir, "box", NULL);
    assert_int_equal(lstat(p, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0700);

    assert_int_equal(state_lock(fd, LOCK_EX), 0);
    int fd2 = state_open_lock(&ctx, "box", "start.lock", &err);
    assert_true(fd2 >= 0);
    assert_int_equal(state_lock(fd2, LOCK_EX | LOCK_NB), -EWOULDBLOCK);
    close(fd);
    assert_int_equal(state_lock(fd2, LOCK_EX | LOCK_NB), 0);
    close(fd2);

    /* a symlink planted as the lock file is not followed */
    char target[256], link[256];
    path_in(target, sizeof(target), data_dir, "target", NULL);
    path_in(link, sizeof(link), run_dir, "box", "evil.lock");
    assert_int_equal(symlink(target, link), 0);
    memset(&err, 0, sizeof(err));
    assert_int_equal(state_open_lock(&ctx, "box", "evil.lock", &err), -ELOOP);
    assert_non_null(strstr(err.msg, link));
    assert_int_equal(access(target, F_OK), -1);
}

/* A child that opens NAME's FILE, takes OP on it, says so on a pipe and
 * holds it until told to go (a byte on the other pipe: later holders share
 * the pipe's write end, so closing ours would not end the read). */
struct holder {
    pid_t pid;
    int go;   /* write a byte to let it exit */
};

static struct holder hold_lock(const char *name, const char *file, int op)
{
    int ready[2], go[2];
    assert_int_equal(pipe2(ready, O_CLOEXEC), 0);
    assert_int_equal(pipe2(go, O_CLOEXEC), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(ready[0]);
        close(go[1]);
        ab_error err;
        int fd = state_open_lock(&ctx, name, file, &err);
        if (fd < 0 || state_lock(fd, op) < 0)
            _exit(1);
        char c = 'r';
        if (write(ready[1], &c, 1) != 1)
            _exit(2);
        while (read(go[0], &c, 1) < 0 && errno == EINTR)
            ;
        _exit(0);
    }
    close(ready[1]);
    close(go[0]);
    holders[n_holders++] = pid;
    char c;
    assert_int_equal(read(ready[0], &c, 1), 1);
    close(ready[0]);
    return (struct holder){ pid, go[1] };
}

static void release(struct holder *h)
{
    assert_int_equal(write(h->go, "g", 1), 1);
    close(h->go);
    int st;
    assert_int_equal(waitpid(h->pid, &st, 0), h->pid);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static void test_running(void **state)
{
    /* no runtime dir, no lock file */
    assert_false(state_running(&ctx, "box"));
    ab_error err = { 0 };
    int fd = state_open_lock(&ctx, "box", "supervisor.lock", &err);
    assert_true(fd >= 0);
    close(fd);
    assert_false(state_running(&ctx, "box"));
    /* asking does not take the lock for good */
    assert_false(state_running(&ctx, "box"));

    struct holder h = hold_lock("box", "supervisor.lock", LOCK_EX);
    assert_true(state_running(&ctx, "box"));
    assert_true(state_running(&ctx, "box"));
    assert_false(state_running(&ctx, "other"));
    release(&h);
    assert_false(state_running(&ctx, "box"));

    /* the kernel drops the lock of a SIGKILLed holder */
    h = hold_lock("box", "supervisor.lock", LOCK_EX);
    assert_true(state_running(&ctx, "box"));
    assert_int_equal(kill(h.pid, SIGKILL), 0);
    assert_int_equal(waitpid(h.pid, NULL, 0), h.pid);
    close(h.go);
    assert_false(state_running(&ctx, "box"));

    /* a shared holder (a session) is not a supervisor, but the lock is taken */
    h = hold_lock("box", "supervisor.lock", LOCK_SH);
    assert_true(state_running(&ctx, "box"));
    release(&h);
}

static void test_sessions(void **state)
{
    assert_int_equal(state_sessions(&ctx, "box"), 0); /* no lock file */
    ab_error err = { 0 };
    int fd = state_open_lock(&ctx, "box", "sessions.lock", &err);
    assert_true(fd >= 0);
    assert_int_equal(state_sessions(&ctx, "box"), 0);

    struct holder a = hold_lock("box", "sessions.lock", LOCK_SH);
    assert_int_equal(state_sessions(&ctx, "box"), 1);
    struct holder b = hold_lock("box", "sessions.lock", LOCK_SH);
    assert_int_equal(state_sessions(&ctx, "box"), 2);
    /* a shared lock on another container's file does not count here */
    struct holder c = hold_lock("other", "sessions.lock", LOCK_SH);
    assert_int_equal(state_sessions(&ctx, "box"), 2);
    assert_int_equal(state_sessions(&ctx, "other"), 1);
    /* nor does a shared lock on another file of the same container */
    struct holder d = hold_lock("box", "start.lock", LOCK_SH);
    assert_int_equal(state_sessions(&ctx, "box"), 2);
    /* with sessions inside, the supervisor cannot take it exclusively */
    assert_int_equal(state_lock(fd, LOCK_EX | LOCK_NB), -EWOULDBLOCK);

    release(&a);
    assert_int_equal(state_sessions(&ctx, "box"), 1);
    release(&b);
    assert_int_equal(state_sessions(&ctx, "box"), 0);
    release(&c);
    release(&d);
    assert_int_equal(state_sessions(&ctx, "other"), 0);
    /* nobody inside: now it can */
    assert_int_equal(state_lock(fd, LOCK_EX | LOCK_NB), 0);
    /* an exclusive holder is no session */
    assert_int_equal(state_sessions(&ctx, "box"), 0);
    close(fd);
}

static void test_files(void **state)
{
    ab_error err = { 0 };
    make_run_dir("box");
    char p[256];

    assert_int_equal(state_read_number(&ctx, "box", "stop.timeout"), -1); /* absent */
    assert_int_equal(state_read_pid(&ctx, "box", "init.pid"), -1);

    assert_int_equal(state_write_file(&ctx, "box", "init.pid", "1234\n", &err), 0);
    path_in(p, sizeof(p), run_dir, "box", "init.pid");
    assert_string_equal(read_text(p), "1234\n");
    struct stat st;
    assert_int_equal(lstat(p, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_int_equal(state_read_pid(&ctx, "box", "init.pid"), 1234);
    assert_int_equal(state_read_number(&ctx, "box", "init.pid"), 1234);
    /* no temp file left behind */
    path_in(p, sizeof(p), run_dir, "box", "init.pid.tmp");
    assert_int_equal(access(p, F_OK), -1);

    /* replaced whole, not appended to or partly overwritten */
    assert_int_equal(state_write_file(&ctx, "box", "init.pid", "7", &err), 0);
    assert_int_equal(state_read_pid(&ctx, "box", "init.pid"), 7);

    /* 0 is a number, not a pid */
    assert_int_equal(state_write_file(&ctx, "box", "stop.timeout", "0\n", &err), 0);
    assert_int_equal(state_read_number(&ctx, "box", "stop.timeout"), 0);
    assert_int_equal(state_read_pid(&ctx, "box", "stop.timeout"), -1);

    const char *garbage[] = { "", "\n", "abc", "12abc", "12 ", " x", "-5", "-1\n", "1.5", "99999999999999999999999",
                              "0x10" };
    for (size_t i = 0; i < sizeof(garbage) / sizeof(*garbage); i++) {
        assert_int_equal(state_write_file(&ctx, "box", "n", garbage[i], &err), 0);
        if (state_read_number(&ctx, "box", "n") != -1)
            fail_msg("'%s' read as %ld", garbage[i], state_read_number(&ctx, "box", "n"));
        assert_int_equal(state_read_pid(&ctx, "box", "n"), -1);
    }
    /* a pid that does not fit pid_t */
    assert_int_equal(state_write_file(&ctx, "box", "n", "4294967296", &err), 0);
    assert_int_equal(state_read_number(&ctx, "box", "n"), 4294967296L);
    assert_int_equal(state_read_pid(&ctx, "box", "n"), -1);

    /* state_remove */
    state_remove(&ctx, "box", "init.pid");
    path_in(p, sizeof(p), run_dir, "box", "init.pid");
    assert_int_equal(access(p, F_OK), -1);
    assert_int_equal(state_read_pid(&ctx, "box", "init.pid"), -1);
    state_remove(&ctx, "box", "init.pid"); /* absent: harmless */
    state_remove(&ctx, "nobody", "x");

    /* a container whose runtime dir is missing: reads find nothing and
     * create nothing; a write makes the dir (0700) */
    path_in(p, sizeof(p), run_dir, "fresh", NULL);
    assert_int_equal(state_read_number(&ctx, "fresh", "init.pid"), -1);
    assert_false(state_running(&ctx, "fresh"));
    assert_int_equal(state_sessions(&ctx, "fresh"), 0);
    state_remove(&ctx, "fresh", "init.pid");
    assert_int_equal(access(p, F_OK), -1);
    assert_int_equal(state_write_file(&ctx, "fresh", "init.pid", "99\n", &err), 0);
    assert_int_equal(lstat(p, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0700);
    assert_int_equal(state_read_pid(&ctx, "fresh", "init.pid"), 99);

    /* names that are not container names never reach the file system */
    const char *bad[] = { "../escape", "a/b", ".", "..", "", "-x" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        memset(&err, 0, sizeof(err));
        assert_true(state_write_file(&ctx, bad[i], "init.pid", "1", &err) < 0);
        assert_int_equal(err.kind, AB_ERR_USAGE);
        assert_true(state_open_lock(&ctx, bad[i], "x.lock", &err) < 0);
        assert_int_equal(err.kind, AB_ERR_USAGE);
        assert_int_equal(state_read_number(&ctx, bad[i], "init.pid"), -1);
        assert_false(state_running(&ctx, bad[i]));
    }
    char esc[256];
    snprintf(esc, sizeof(esc), "%s/escape", run_dir);
    assert_int_equal(access(esc, F_OK), -1);
    snprintf(esc, sizeof(esc), "/tmp/escape/init.pid");
    assert_int_equal(access(esc, F_OK), -1);
}

static void test_write_no_symlink(void **state)
{
    ab_error err = { 0 };
    make_run_dir("box");
    char victim[256], p[256];
    path_in(victim, sizeof(victim), data_dir, "victim", NULL);
    write_text(victim, "precious\n");

    /* planted at the temp name: refused (O_NOFOLLOW), nothing written */
    path_in(p, sizeof(p), run_dir, "box", "init.pid.tmp");
    assert_int_equal(symlink(victim, p), 0);
    assert_int_equal(state_write_file(&ctx, "box", "init.pid", "666\n", &err), -ELOOP);
    assert_int_equal(err.kind, AB_ERR_RUNTIME);
    assert_non_null(strstr(err.msg, "init.pid.tmp"));
    assert_string_equal(read_text(victim), "precious\n");
    path_in(p, sizeof(p), run_dir, "box", "init.pid");
    assert_int_equal(access(p, F_OK), -1);

    /* planted at a temp name pointing nowhere: not created through it */
    char nowhere[256];
    path_in(nowhere, sizeof(nowhere), data_dir, "created-through-link", NULL);
    path_in(p, sizeof(p), run_dir, "box", "supervisor.pid.tmp");
    assert_int_equal(symlink(nowhere, p), 0);
    assert_true(state_write_file(&ctx, "box", "supervisor.pid", "1\n", &err) < 0);
    assert_int_equal(access(nowhere, F_OK), -1);

    /* the container's runtime dir itself a symlink (to a dir of ours):
     * not followed, neither to write nor to read */
    char elsewhere[256];
    path_in(elsewhere, sizeof(elsewhere), data_dir, "elsewhere", NULL);
    assert_int_equal(mkdir(elsewhere, 0700), 0);
    path_in(p, sizeof(p), run_dir, "linked", NULL);
    assert_int_equal(symlink(elsewhere, p), 0);
    memset(&err, 0, sizeof(err));
    assert_true(state_write_file(&ctx, "linked", "init.pid", "1\n", &err) < 0);
    assert_int_equal(err.kind, AB_ERR_RUNTIME);
    assert_non_null(strstr(err.msg, "linked"));
    assert_true(state_open_lock(&ctx, "linked", "supervisor.lock", &err) < 0);
    path_in(p, sizeof(p), data_dir, "elsewhere", "init.pid");
    assert_int_equal(access(p, F_OK), -1);
    path_in(p, sizeof(p), data_dir, "elsewhere", "supervisor.lock");
    assert_int_equal(access(p, F_OK), -1);
    path_in(p, sizeof(p), data_dir, "elsewhere", "n");
    write_text(p, "5\n");
    assert_int_equal(state_read_number(&ctx, "linked", "n"), -1);

    /* planted at the target: the link itself is replaced by the new file
     * (rename), the file it pointed to is untouched */
    path_in(p, sizeof(p), run_dir, "box", "stop.timeout");
    assert_int_equal(symlink(victim, p), 0);
    assert_int_equal(state_write_file(&ctx, "box", "stop.timeout", "5\n", &err), 0);
    assert_string_equal(read_text(victim), "precious\n");
    struct stat st;
    assert_int_equal(lstat(p, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_string_equal(read_text(p), "5\n");
    assert_int_equal(state_read_number(&ctx, "box", "stop.timeout"), 5);
}

static void test_log(void **state)
{
    char p[256];
    path_in(p, sizeof(p), data_dir, "box", NULL);
    assert_int_equal(mkdir(p, 0700), 0);
    time_t before = time(NULL);
    state_log(&ctx, "box", "started pid %d", 42);
    state_log(&ctx, "box", "stopped: %s", "signal 15");
    path_in(p, sizeof(p), data_dir, "box", "log");
    char *text = read_text(p);
    assert_non_null(text);
    /* "YYYY-MM-DDTHH:MM:SS EVENT\n", in order */
    char l1[128], l2[128];
    int y, mo, d, h, mi, s, consumed = 0;
    assert_int_equal(sscanf(text, "%127[^\n]\n%127[^\n]\n%n", l1, l2, &consumed), 2);
    assert_int_equal(text[consumed], '\0');
    assert_int_equal(sscanf(l1, "%4d-%2d-%2dT%2d:%2d:%2d ", &y, &mo, &d, &h, &mi, &s), 6);
    assert_int_equal(l1[19], ' ');
    assert_string_equal(l1 + 20, "started pid 42");
    assert_int_equal(l2[19], ' ');
    assert_string_equal(l2 + 20, "stopped: signal 15");
    struct tm tm;
    localtime_r(&before, &tm);
    assert_int_equal(y, tm.tm_year + 1900);

    /* appended, not replaced */
    state_log(&ctx, "box", "again");
    text = read_text(p);
    assert_non_null(strstr(text, "started pid 42"));
    assert_non_null(strstr(text, " again\n"));

    /* the log is in the data dir, nothing in the runtime dir */
    path_in(p, sizeof(p), run_dir, "box", "log");
    assert_int_equal(access(p, F_OK), -1);
    /* no data dir for the container: nothing happens */
    state_log(&ctx, "nobody", "lost");
    path_in(p, sizeof(p), data_dir, "nobody", NULL);
    assert_int_equal(access(p, F_OK), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test_setup_teardown(test_paths, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ctx_dirs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mkdirs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_exists, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_lock, setup, teardown),
        cmocka_unit_test_setup_teardown(test_running, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sessions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_no_symlink, setup, teardown),
        cmocka_unit_test_setup_teardown(test_log, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
