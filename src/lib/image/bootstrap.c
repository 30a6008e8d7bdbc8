#include "image/bootstrap.h"

#include <dirent.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "image/progress.h"
#include "util/cleanup.h"
#include "util/fsutil.h"
#include "util/interrupt.h"

static const struct {
    const char *dist, *mirror;
} dists[] = {
    { "debian", "http://deb.debian.org/debian" },
    { "ubuntu", "http://archive.ubuntu.com/ubuntu" },
};

/* mmdebstrap's variants, and what debootstrap (the fallback) calls them:
 * NULL where it has none, "" for its default set. */
static const struct {
    const char *name, *debootstrap;
} variants[] = {
    { "minbase", "minbase" }, { "buildd", "buildd" },   { "important", "" }, { "standard", "" },
    { "required", NULL },     { "essential", NULL },    { "apt", NULL },
};

bool bootstrap_base_kind(const char *base)
{
    return strncmp(base, "debian:", 7) == 0 || strncmp(base, "ubuntu:", 7) == 0;
}

int bootstrap_parse(struct ab_ctx *ctx, const char *base, struct bootstrap_opts *o, ab_error *err)
{
    static char dist[8];
    const char *colon = strchr(base, ':');
    if (!colon || (size_t)(colon - base) >= sizeof(dist))
        return 0;
    snprintf(dist, sizeof(dist), "%.*s", (int)(colon - base), base);
    if (strcmp(dist, "debian") && strcmp(dist, "ubuntu"))
        return 0;
    const char *suite = colon + 1;
    bool ok = *suite && *suite != '-' && strlen(suite) < 32;
    for (const char *p = suite; ok && *p; p++)
        ok = (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-';
    if (!ok)
        return ab_usage(err, "--base: '%s': '%s' is not a suite name (e.g. debian:bookworm, ubuntu:noble)", base,
                        suite);
    o->dist = dist;
    o->suite = suite;
    if (!o->variant)
        o->variant = "minbase";
    bool known = false;
    for (size_t i = 0; i < ARRAY_SIZE(variants); i++)
        known = known || strcmp(o->variant, variants[i].name) == 0;
    if (!known)
        return ab_usage(err, "--variant: '%s' is not a variant (allowed: minbase, apt, essential, required, "
                        "important, standard, buildd)", o->variant);
    if (o->mirror && ((strncmp(o->mirror, "http://", 7) && strncmp(o->mirror, "https://", 8) &&
                       strncmp(o->mirror, "file://", 7)) ||
                      strpbrk(o->mirror, " \t\n")))
        return ab_usage(err, "--mirror: '%s' is not a mirror URL (allowed: http://, https:// or file:// URLs)",
                        o->mirror);
    const char *pick = ctx->bootstrap_tool;
    if (pick && *pick && strcmp(pick, "mmdebstrap") && strcmp(pick, "debootstrap"))
        return ab_usage(err, "APPBOX_BOOTSTRAP: '%s' is not a bootstrap tool (allowed: mmdebstrap, debootstrap)",
                        pick);
    if (pick && strcmp(pick, "debootstrap") == 0 && getuid() != 0)
        return ab_usage(err, "APPBOX_BOOTSTRAP=debootstrap: debootstrap needs root (mmdebstrap does not)");
    return 1;
}

static const char *default_mirror(const char *dist)
{
    for (size_t i = 0; i < ARRAY_SIZE(dists); i++)
        if (strcmp(dists[i].dist, dist) == 0)
            return dists[i].mirror;
    return NULL;
}

char *bootstrap_cache_name(const struct bootstrap_opts *o)
{
    char *n = NULL;
    const char *dm = default_mirror(o->dist);
    if (o->mirror && dm && strcmp(o->mirror, dm) != 0) {
        unsigned long h = 5381;
        for (const char *p = o->mirror; *p; p++)
            h = h * 33 + (unsigned char)*p;
        if (asprintf(&n, "%s-%s-%s-%08lx", o->dist, o->suite, o->variant, h & 0xffffffffUL) < 0)
            return NULL;
    } else if (asprintf(&n, "%s-%s-%s", o->dist, o->suite, o->variant) < 0) {
        return NULL;
    }
    return n;
}

/* A cache entry's name: as a container's (letters, digits, '-', '_', '.';
 * not starting with '.' or '-'). */
static bool cache_name_valid(const char *name)
{
    size_t len = strlen(name);
    if (len == 0 || len > 128 || name[0] == '.' || name[0] == '-')
        return false;
    for (size_t i = 0; i < len; i++)
        if (!(isalnum((unsigned char)name[i]) || strchr("-_.", name[i])))
            return false;
    return true;
}

char *image_cache_dir(struct ab_ctx *ctx, ab_error *err)
{
    char *d = NULL;
    if (asprintf(&d, "%s/.images", ctx->data_dir) < 0) {
        ab_fail(err, ENOMEM, "out of memory");
        d = NULL;
    }
    return d;
}

/* What became of TOOL, which ended with wait status ST, in its own words
 * WHY (its "E: " lines, see progress.h) where it gave some. */
static int tool_status(const char *tool, int st, const char *why, const char *logpath, ab_error *err)
{
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0 && !interrupted())
        return 0;
    int sig = WIFSIGNALED(st) ? WTERMSIG(st) : 0;
    int code = WIFEXITED(st) ? WEXITSTATUS(st) : 0;
    /* Ctrl-C reaches the tool through appbox (interrupt.h); a SIGINT or
     * SIGTERM from elsewhere kills it or makes it exit 128+N */
    int intr = interrupted()                                   ? interrupted()
               : sig == SIGINT || sig == SIGTERM || sig == SIGHUP ? sig
               : code == 128 + SIGINT || code == 128 + SIGTERM ? code - 128
                                                               : 0;
    if (intr)
        return ab_error_set(err, AB_ERR_RUNTIME, 0, "%s was interrupted (signal %d); its log: %s", tool, intr,
                            logpath);
    if (code == 127)
        return ab_fail(err, ENOENT, "cannot run %s; its log: %s", tool, logpath);
    if (*why)
        return ab_error_set(err, AB_ERR_RUNTIME, 0, "%s failed: %s; its log: %s", tool, why, logpath);
    if (sig)
        return ab_error_set(err, AB_ERR_RUNTIME, 0, "%s was killed by signal %d (%s); its log: %s", tool, sig,
                            strsignal(sig), logpath);
    return ab_error_set(err, AB_ERR_RUNTIME, 0, "%s failed (exit status %d); its log: %s", tool, code, logpath);
}

/* Run ARGV with its output watched by a progress reader (see progress.h). */
static int run_tool(char *const argv[], const char *title, const char *logpath, bool verbose, ab_error *err)
{
    struct progress p;
    if (progress_start(&p, title, logpath, true, verbose, err) < 0)
        return -EIO;
    /* the log starts with what ran */
    dprintf(p.fd, "$");
    for (size_t i = 0; argv[i]; i++)
        dprintf(p.fd, " %s", argv[i]);
    dprintf(p.fd, "\n");
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        progress_end(&p, NULL, 0);
        return ab_fail(err, e, "cannot start %s", argv[0]);
    }
    if (pid == 0) {
        /* appbox killed outright: ask the tool to stop too (mmdebstrap
         * takes its time; a .part it leaves is removed by the next
         * bootstrap, which holds the lock) */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent)
            _exit(125);
        /* As root, mmdebstrap and debootstrap mount /proc, /sys and /dev
         * into their chroot: in a mount namespace of their own, a tool that
         * is killed cannot leave those mounts on the host. */
        if (getuid() == 0 && (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)) {
            fprintf(stderr, "cannot give %s a mount namespace of its own: %s\n", argv[0], strerror(errno));
            _exit(125);
        }
        int null = open("/dev/null", O_RDONLY);
        dup2(null, STDIN_FILENO);
        dup2(p.fd, STDOUT_FILENO);
        dup2(p.fd, STDERR_FILENO);
        /* its own process group: Ctrl-C reaches it through appbox, which
         * then knows the step was interrupted and cleans up */
        setpgid(0, 0);
        execvp(argv[0], argv);
        fprintf(stderr, "cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    interrupt_child(pid);
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR) {
            int e = errno;
            interrupt_child(0);
            progress_end(&p, NULL, 0);
            return ab_fail(err, e, "cannot wait for %s", argv[0]);
        }
    interrupt_child(0);
    char why[512];
    progress_end(&p, why, sizeof(why));
    return tool_status(argv[0], st, why, logpath, err);
}

static bool in_path(const struct ab_ctx *ctx, const char *tool)
{
    const char *path = ctx->path;
    _cleanup_free_ char *copy = strdup(path && *path ? path : "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    for (char *save = NULL, *d = copy ? strtok_r(copy, ":", &save) : NULL; d; d = strtok_r(NULL, ":", &save)) {
        char p[PATH_MAX];
        snprintf(p, sizeof(p), "%s/%s", d, tool);
        if (access(p, X_OK) == 0)
            return true;
    }
    return false;
}

static int bootstrap_mmdebstrap(const struct bootstrap_opts *o, const char *mirror, const char *tmp,
                                const char *title, const char *logp, ab_error *err)
{
    char variant[64];
    snprintf(variant, sizeof(variant), "--variant=%s", o->variant);
    const char *mode = getuid() == 0 ? "--mode=root" : "--mode=unshare";
    char *argv[12];
    size_t a = 0;
    argv[a++] = "mmdebstrap";
    argv[a++] = (char *)mode;
    argv[a++] = variant;
    argv[a++] = "--format=tar";
    argv[a++] = "--verbose"; /* apt's own lines: the progress counter reads them */
    if (strcmp(o->dist, "ubuntu") == 0)
        argv[a++] = "--components=main,universe";
    argv[a++] = "--";
    argv[a++] = (char *)o->suite;
    argv[a++] = (char *)tmp;
    argv[a++] = (char *)mirror;
    argv[a] = NULL;
    return run_tool(argv, title, logp, o->verbose, err);
}

/* debootstrap needs root; it fills a directory, which is then packed into
 * the same tarball mmdebstrap would have written. */
static int bootstrap_debootstrap(const struct bootstrap_opts *o, const char *mirror, const char *tmp,
                                 const char *title, const char *logp, ab_error *err)
{
    const char *dv = NULL;
    for (size_t i = 0; i < ARRAY_SIZE(variants); i++)
        if (strcmp(variants[i].name, o->variant) == 0)
            dv = variants[i].debootstrap;
    if (!dv)
        return ab_usage(err, "--variant %s needs mmdebstrap (debootstrap has no such variant): apt-get install "
                        "mmdebstrap", o->variant);
    _cleanup_free_ char *dir = NULL, *variant = NULL;
    if (asprintf(&dir, "%s.d", tmp) < 0 || asprintf(&variant, "--variant=%s", dv) < 0)
        return ab_fail(err, ENOMEM, "out of memory");
    char *rm[] = { "rm", "-rf", "--one-file-system", "--", dir, NULL };
    ab_error ignored = { 0 };
    run_tool(rm, title, "/dev/null", false, &ignored); /* a killed appbox's */
    char *argv[10];
    size_t a = 0;
    argv[a++] = "debootstrap";
    if (*dv)
        argv[a++] = variant;
    if (strcmp(o->dist, "ubuntu") == 0)
        argv[a++] = "--components=main,universe";
    /* no "--": debootstrap's parser does not know it; the suite cannot
     * start with '-' (bootstrap_parse) and the rest are absolute/URLs */
    argv[a++] = (char *)o->suite;
    argv[a++] = dir;
    argv[a++] = (char *)mirror;
    argv[a] = NULL;
    int r = run_tool(argv, title, logp, o->verbose, err);
    if (r == 0) {
        char *tar[] = { "tar", "--numeric-owner", "--xattrs", "--xattrs-include=*", "-C", dir, "-cf", (char *)tmp,
                        ".", NULL };
        _cleanup_free_ char *tlog = NULL;
        if (asprintf(&tlog, "%s.tar-log", logp) < 0)
            r = ab_fail(err, ENOMEM, "out of memory");
        else
            r = run_tool(tar, title, tlog, o->verbose, err);
        if (tlog)
            unlink(tlog);
    }
    run_tool(rm, title, "/dev/null", false, &ignored);
    return r;
}

/* mmdebstrap and debootstrap check an Ubuntu mirror's signatures with the
 * host's Ubuntu keyring, which a Debian host has only with ubuntu-keyring
 * installed; without it they would fail a minute later with "The
 * repository ... is not signed". */
#define UBUNTU_KEYRING "/usr/share/keyrings/ubuntu-archive-keyring.gpg"

static int check_keyring(const struct bootstrap_opts *o, ab_error *err)
{
    if (strcmp(o->dist, "ubuntu") != 0 || access(UBUNTU_KEYRING, R_OK) == 0)
        return 0;
    int e = errno;
    return ab_error_set(err, AB_ERR_RUNTIME, 0, "cannot bootstrap ubuntu:%s: the Ubuntu archive keyring %s is %s "
                        "(it comes with the package ubuntu-keyring)", o->suite,
                        UBUNTU_KEYRING, e == ENOENT ? "missing" : strerror(e));
}

int bootstrap_cached_tar(struct ab_ctx *ctx, const struct bootstrap_opts *o, char **tar, ab_error *err)
{
    _cleanup_free_ char *dir = image_cache_dir(ctx, err);
    _cleanup_free_ char *name = bootstrap_cache_name(o);
    if (!dir || !name)
        return -ENOMEM;
    _cleanup_free_ char *path = NULL, *lockp = NULL, *tmp = NULL, *logp = NULL, *title = NULL;
    if (asprintf(&path, "%s/%s.tar", dir, name) < 0 || asprintf(&lockp, "%s/%s.lock", dir, name) < 0 ||
        asprintf(&tmp, "%s/%s.tar.part", dir, name) < 0 || asprintf(&logp, "%s/%s.log", dir, name) < 0 ||
        asprintf(&title, "bootstrapping %s:%s", o->dist, o->suite) < 0)
        return ab_fail(err, ENOMEM, "out of memory");
    /* Refused before anything is made in the cache (a cached root needs no
     * keyring). */
    if (access(path, R_OK) < 0 && check_keyring(o, err) < 0)
        return -ENOENT;
    if (fs_mkdirs(dir, true, err) < 0)
        return -EIO;
    _cleanup_close_ int lock = open(lockp, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (lock < 0 || flock(lock, LOCK_EX) < 0)
        return ab_fail(err, errno, "cannot lock %s", lockp);
    if (access(path, R_OK) == 0) {
        *tar = take_ptr(path);
        return 0;
    }
    const char *mirror = o->mirror ? o->mirror : default_mirror(o->dist);
    unlink(tmp); /* left by an appbox that was killed */
    /* APPBOX_BOOTSTRAP picks the tool; otherwise mmdebstrap where it is
     * installed, debootstrap (root only) where it is not. */
    const char *pick = ctx->bootstrap_tool; /* checked by bootstrap_parse */
    bool mm = pick && *pick ? strcmp(pick, "mmdebstrap") == 0 : in_path(ctx, "mmdebstrap");
    if (pick && *pick && !in_path(ctx, pick))
        return ab_fail(err, ENOENT, "APPBOX_BOOTSTRAP=%s: %s is not installed (apt-get install %s)", pick, pick,
                       pick);
    if (!mm && (getuid() != 0 || !in_path(ctx, "debootstrap")))
        return ab_fail(err, ENOENT, "cannot bootstrap %s:%s: mmdebstrap is not installed%s (apt-get install "
                       "mmdebstrap)", o->dist, o->suite, getuid() == 0 ? " and neither is debootstrap" :
                       " (debootstrap, the fallback, needs root)");
    if (!o->verbose)
        ab_log(ctx, AB_LOG_INFO, "bootstrapping %s:%s (%s) from %s with %s, once for every container of this base; "
                        "log: %s", o->dist, o->suite, o->variant, mirror, mm ? "mmdebstrap" : "debootstrap", logp);
    int r = mm ? bootstrap_mmdebstrap(o, mirror, tmp, title, logp, err)
               : bootstrap_debootstrap(o, mirror, tmp, title, logp, err);
    if (r == 0 && rename(tmp, path) < 0)
        r = ab_fail(err, errno, "cannot store %s", path);
    if (r < 0) {
        unlink(tmp);
        return r;
    }
    *tar = take_ptr(path);
    return 0;
}

int image_cache_list(struct ab_ctx *ctx, strv *names, ab_error *err)
{
    _cleanup_free_ char *dir = image_cache_dir(ctx, err);
    if (!dir)
        return -ENOMEM;
    DIR *d = opendir(dir);
    if (!d)
        return errno == ENOENT ? 0 : ab_fail(err, errno, "cannot read %s", dir);
    for (struct dirent *e; (e = readdir(d));) {
        size_t len = strlen(e->d_name);
        if (len > 4 && strcmp(e->d_name + len - 4, ".tar") == 0) {
            char *n = strndup(e->d_name, len - 4);
            if (n)
                strv_push_take(names, n);
        }
    }
    closedir(d);
    return 0;
}

int image_cache_remove(struct ab_ctx *ctx, const char *name, ab_error *err)
{
    if (!cache_name_valid(name))
        return ab_usage(err, "'%s' is not an image name (see appbox image list)", name);
    _cleanup_free_ char *dir = image_cache_dir(ctx, err);
    if (!dir)
        return -ENOMEM;
    _cleanup_free_ char *tar = NULL, *log = NULL, *lockp = NULL;
    if (asprintf(&tar, "%s/%s.tar", dir, name) < 0 || asprintf(&log, "%s/%s.log", dir, name) < 0 ||
        asprintf(&lockp, "%s/%s.lock", dir, name) < 0)
        return ab_fail(err, ENOMEM, "out of memory");
    if (access(tar, F_OK) < 0)
        return ab_fail(err, 0, "no cached image named '%s' (see appbox image list)", name);
    /* Not while a create or pull builds it.  The lock file itself stays:
     * one removed under a waiter would let two bootstraps run at once. */
    _cleanup_close_ int lock = open(lockp, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (lock < 0)
        return ab_fail(err, errno, "cannot lock %s", lockp);
    if (flock(lock, LOCK_EX | LOCK_NB) < 0)
        return ab_error_set(err, AB_ERR_RUNTIME, 0, "%s is being built by another appbox right now; try again "
                            "when it is done", name);
    if (unlink(tar) < 0)
        return ab_fail(err, errno, "cannot remove %s", tar);
    unlink(log);
    _cleanup_free_ char *part = NULL;
    if (asprintf(&part, "%s.part", tar) >= 0)
        unlink(part); /* left by an appbox that was killed */
    return 0;
}
