#include "image/bootstrap.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store.h"
#include "util/cleanup.h"

static const struct {
    const char *dist, *mirror;
} dists[] = {
    { "debian", "http://deb.debian.org/debian" },
    { "ubuntu", "http://archive.ubuntu.com/ubuntu" },
};

bool bootstrap_base_kind(const char *base)
{
    return strncmp(base, "debian:", 7) == 0 || strncmp(base, "ubuntu:", 7) == 0;
}

int bootstrap_parse(const char *base, struct bootstrap_opts *o, ab_error *err)
{
    static char dist[8];
    const char *colon = strchr(base, ':');
    if (!colon || (size_t)(colon - base) >= sizeof(dist))
        return 0;
    snprintf(dist, sizeof(dist), "%.*s", (int)(colon - base), base);
    if (strcmp(dist, "debian") && strcmp(dist, "ubuntu"))
        return 0;
    const char *suite = colon + 1;
    bool ok = *suite && strlen(suite) < 32;
    for (const char *p = suite; ok && *p; p++)
        ok = (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-';
    if (!ok)
        return ab_usage(err, "--base: '%s': '%s' is not a suite name (e.g. debian:bookworm, ubuntu:noble)", base,
                        suite);
    o->dist = dist;
    o->suite = suite;
    if (!o->variant)
        o->variant = "minbase";
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

char *image_cache_dir(ab_error *err)
{
    _cleanup_free_ char *root = store_data_root(err);
    char *d = NULL;
    if (root && asprintf(&d, "%s/.images", root) < 0)
        d = NULL;
    return d;
}

static int run_tool(char *const argv[], const char *logpath, bool verbose, ab_error *err)
{
    int log = open(logpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (log < 0)
        return ab_fail(err, errno, "cannot write %s", logpath);
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        close(log);
        return ab_fail(err, errno, "cannot start %s", argv[0]);
    }
    if (pid == 0) {
        int null = open("/dev/null", O_RDONLY);
        dup2(null, STDIN_FILENO);
        if (!verbose) {
            dup2(log, STDOUT_FILENO);
            dup2(log, STDERR_FILENO);
        }
        execvp(argv[0], argv);
        fprintf(stderr, "cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    close(log);
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return ab_fail(err, errno, "cannot wait for %s", argv[0]);
    if (WIFEXITED(st) && WEXITSTATUS(st) == 127)
        return ab_fail(err, ENOENT, "cannot run %s (install mmdebstrap: apt-get install mmdebstrap)", argv[0]);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        return ab_error_set(err, AB_ERR_RUNTIME, 0, "%s failed (exit status %d); its log: %s", argv[0],
                            WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st), logpath);
    return 0;
}

int bootstrap_cached_tar(const struct bootstrap_opts *o, char **tar, ab_error *err)
{
    _cleanup_free_ char *dir = image_cache_dir(err);
    _cleanup_free_ char *name = bootstrap_cache_name(o);
    if (!dir || !name)
        return -ENOMEM;
    if (store_mkdirs(dir, true, err) < 0)
        return -EIO;
    _cleanup_free_ char *path = NULL, *lockp = NULL, *tmp = NULL, *logp = NULL;
    if (asprintf(&path, "%s/%s.tar", dir, name) < 0 || asprintf(&lockp, "%s/%s.lock", dir, name) < 0 ||
        asprintf(&tmp, "%s/%s.tar.part", dir, name) < 0 || asprintf(&logp, "%s/%s.log", dir, name) < 0)
        return ab_fail(err, ENOMEM, "out of memory");
    _cleanup_close_ int lock = open(lockp, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (lock < 0 || flock(lock, LOCK_EX) < 0)
        return ab_fail(err, errno, "cannot lock %s", lockp);
    if (access(path, R_OK) == 0) {
        *tar = take_ptr(path);
        return 0;
    }
    const char *mirror = o->mirror ? o->mirror : default_mirror(o->dist);
    char variant[64];
    snprintf(variant, sizeof(variant), "--variant=%s", o->variant);
    const char *mode = getuid() == 0 ? "--mode=root" : "--mode=unshare";
    char *argv[12];
    size_t a = 0;
    argv[a++] = "mmdebstrap";
    argv[a++] = (char *)mode;
    argv[a++] = variant;
    argv[a++] = "--format=tar";
    if (strcmp(o->dist, "ubuntu") == 0)
        argv[a++] = "--components=main,universe";
    argv[a++] = (char *)o->suite;
    argv[a++] = tmp;
    argv[a++] = (char *)mirror;
    argv[a] = NULL;
    if (!o->verbose && isatty(STDERR_FILENO))
        fprintf(stderr, "appbox: bootstrapping %s:%s (%s) from %s, once for every container of this base; "
                        "log: %s\n", o->dist, o->suite, o->variant, mirror, logp);
    int r = run_tool(argv, logp, o->verbose, err);
    if (r == 0 && rename(tmp, path) < 0)
        r = ab_fail(err, errno, "cannot store %s", path);
    if (r < 0) {
        unlink(tmp);
        return r;
    }
    *tar = take_ptr(path);
    return 0;
}

int image_cache_list(strv *names, ab_error *err)
{
    _cleanup_free_ char *dir = image_cache_dir(err);
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

int image_cache_remove(const char *name, ab_error *err)
{
    if (!store_name_valid(name))
        return ab_usage(err, "'%s' is not an image name (see appbox image list)", name);
    _cleanup_free_ char *dir = image_cache_dir(err);
    if (!dir)
        return -ENOMEM;
    static const char *const exts[] = { ".tar", ".log", ".lock" };
    bool found = false;
    for (size_t i = 0; i < ARRAY_SIZE(exts); i++) {
        _cleanup_free_ char *p = NULL;
        if (asprintf(&p, "%s/%s%s", dir, name, exts[i]) < 0)
            return ab_fail(err, ENOMEM, "out of memory");
        if (unlink(p) == 0 && i == 0)
            found = true;
    }
    if (!found)
        return ab_usage(err, "no cached image named '%s' (see appbox image list)", name);
    return 0;
}
