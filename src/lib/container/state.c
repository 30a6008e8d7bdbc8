#include "container/state.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "container/store.h"
#include "util/cleanup.h"
#include "util/fsutil.h"

/* NAME's runtime directory as an fd: below the runtime root (opened once,
 * in the context), never through a symlink.  CREATE makes it (0700). */
static int state_dir(struct ab_ctx *ctx, const char *name, bool create, ab_error *err)
{
    if (!store_name_valid(name))
        return ab_usage(err, "'%s' is not a valid container name", name);
    int root = -1;
    _cleanup_close_ int own_root = -1;
    if (create) {
        root = ab_ctx_runtime_fd(ctx, err);
        if (root < 0)
            return root;
        if (mkdirat(root, name, 0700) < 0 && errno != EEXIST)
            return ab_fail(err, errno, "cannot create %s/%s", ctx->runtime_dir, name);
    } else {
        /* a query creates nothing: without the root there is no state */
        root = ctx->runtime_fd >= 0 ? ctx->runtime_fd
                                    : (own_root = open(ctx->runtime_dir, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (root < 0)
            return -errno;
    }
    int fd = openat(root, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return create ? ab_fail(err, errno, "cannot open %s/%s", ctx->runtime_dir, name) : -errno;
    return fd;
}

int state_open_lock(struct ab_ctx *ctx, const char *name, const char *file, ab_error *err)
{
    _cleanup_close_ int dir = state_dir(ctx, name, true, err);
    if (dir < 0)
        return dir;
    int fd = openat(dir, file, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return ab_fail(err, errno, "cannot open %s/%s/%s", ctx->runtime_dir, name, file);
    return fd;
}

int state_lock(int fd, int op)
{
    while (flock(fd, op) < 0) {
        if (errno != EINTR)
            return -errno;
    }
    return 0;
}

bool state_running(struct ab_ctx *ctx, const char *name)
{
    ab_error err;
    _cleanup_close_ int dir = state_dir(ctx, name, false, &err);
    _cleanup_close_ int fd = dir < 0 ? -1 : openat(dir, "supervisor.lock", O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return false;
    if (flock(fd, LOCK_EX | LOCK_NB) == 0)
        return false; /* nobody holds it; ours is dropped by close */
    return errno == EWOULDBLOCK;
}

int state_sessions(struct ab_ctx *ctx, const char *name)
{
    ab_error err;
    _cleanup_close_ int dir = state_dir(ctx, name, false, &err);
    struct stat st;
    if (dir < 0 || fstatat(dir, "sessions.lock", &st, AT_SYMLINK_NOFOLLOW) < 0)
        return 0;
    _cleanup_fclose_ FILE *f = fopen("/proc/locks", "re");
    if (!f)
        return -1;
    char line[256];
    int n = 0;
    while (fgets(line, sizeof(line), f)) {
        /* "1: FLOCK  ADVISORY  READ  1234 fd:01:5678 0 EOF" */
        char kind[16], mode[16], type[16];
        unsigned maj, min;
        unsigned long ino;
        int pid;
        if (sscanf(line, "%*d: %15s %15s %15s %d %x:%x:%lu", kind, mode, type, &pid, &maj, &min, &ino) == 7 &&
            strcmp(kind, "FLOCK") == 0 && strcmp(type, "READ") == 0 && ino == st.st_ino &&
            makedev(maj, min) == st.st_dev)
            n++;
    }
    return n;
}

long state_read_number(struct ab_ctx *ctx, const char *name, const char *file)
{
    ab_error err;
    _cleanup_close_ int dir = state_dir(ctx, name, false, &err);
    _cleanup_free_ char *t = dir < 0 ? NULL : fs_read_file_at(dir, file, false, 64);
    if (!t)
        return -1;
    char *end;
    errno = 0;
    long v = strtol(t, &end, 10);
    return end != t && v >= 0 && errno == 0 && (*end == '\n' || *end == '\0') ? v : -1;
}

pid_t state_read_pid(struct ab_ctx *ctx, const char *name, const char *file)
{
    long v = state_read_number(ctx, name, file);
    return v > 0 && v <= INT_MAX ? (pid_t)v : -1; /* 0 is no process */
}

int state_write_file(struct ab_ctx *ctx, const char *name, const char *file, const char *text, ab_error *err)
{
    _cleanup_close_ int dir = state_dir(ctx, name, true, err);
    if (dir < 0)
        return dir;
    char tmp[NAME_MAX + 1];
    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", file) >= sizeof(tmp))
        return ab_fail(err, ENAMETOOLONG, "cannot write %s: name too long", file);
    _cleanup_close_ int fd = openat(dir, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return ab_fail(err, errno, "cannot write %s/%s/%s", ctx->runtime_dir, name, tmp);
    size_t len = strlen(text);
    if (write(fd, text, len) != (ssize_t)len || renameat(dir, tmp, dir, file) < 0) {
        int e = errno;
        unlinkat(dir, tmp, 0);
        return ab_fail(err, e, "cannot write %s/%s/%s", ctx->runtime_dir, name, file);
    }
    return 0;
}

void state_remove(struct ab_ctx *ctx, const char *name, const char *file)
{
    ab_error err;
    _cleanup_close_ int dir = state_dir(ctx, name, false, &err);
    if (dir >= 0)
        unlinkat(dir, file, 0);
}

void state_log(struct ab_ctx *ctx, const char *name, const char *fmt, ...)
{
    ab_error err;
    _cleanup_free_ char *p = store_path(ctx, name, "log", &err);
    if (!p)
        return;
    _cleanup_fclose_ FILE *f = fopen(p, "ae");
    if (!f)
        return;
    char ts[32];
    time_t now = time(NULL);
    struct tm tm;
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", localtime_r(&now, &tm));
    fprintf(f, "%s ", ts);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    fputc('\n', f);
}
