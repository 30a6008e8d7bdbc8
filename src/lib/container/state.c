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
 * in the context, and checked there: ours, 0700, not a symlink), never
 * through a symlink.  CREATE makes it (0700).  Without CREATE, a missing
 * root or directory is -ENOENT with no message (a query creates nothing). */
static int state_dir(struct ab_ctx *ctx, const char *name, bool create, ab_error *err)
{
    if (!store_name_valid(name))
        return ab_usage(err, "'%s' is not a valid container name", name);
    int root = create ? ab_ctx_runtime_fd(ctx, err) : ab_ctx_runtime_fd_existing(ctx, err);
    if (root < 0)
        return root;
    if (create && mkdirat(root, name, 0700) < 0 && errno != EEXIST)
        return ab_fail(err, errno, "cannot create %s/%s", ctx->runtime_dir, name);
    int fd = openat(root, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return create || errno != ENOENT ? ab_fail(err, errno, "cannot open %s/%s", ctx->runtime_dir, name) : -ENOENT;
    return fd;
}

int state_dir_fd(struct ab_ctx *ctx, const char *name, bool create, ab_error *err)
{
    return state_dir(ctx, name, create, err);
}

int state_open(struct ab_ctx *ctx, const char *name, const char *file, int flags, ab_error *err)
{
    _cleanup_close_ int dir = state_dir(ctx, name, (flags & O_CREAT) != 0, err);
    if (dir < 0)
        return dir;
    int fd = openat(dir, file, flags | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);
    if (fd < 0)
        return ab_fail(err, errno, "cannot open %s/%s/%s", ctx->runtime_dir, name, file);
    return fd;
}

char *state_read_text(struct ab_ctx *ctx, const char *name, const char *file, size_t max)
{
    ab_error err;
    _cleanup_close_ int dir = state_dir(ctx, name, false, &err);
    if (dir < 0) {
        errno = -dir;
        return NULL;
    }
    _cleanup_close_ int fd = openat(dir, file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK);
    struct stat st;
    if (fd < 0)
        return NULL;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        errno = EINVAL;
        return NULL;
    }
    return fs_read_fd(fd, max);
}

bool state_exists(struct ab_ctx *ctx, const char *name, const char *file)
{
    ab_error err;
    _cleanup_close_ int dir = state_dir(ctx, name, false, &err);
    struct stat st;
    return dir >= 0 && fstatat(dir, file, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

void state_remove_dir(struct ab_ctx *ctx, const char *name)
{
    ab_error err;
    int root = store_name_valid(name) ? ab_ctx_runtime_fd_existing(ctx, &err) : -1;
    if (root >= 0)
        unlinkat(root, name, AT_REMOVEDIR);
}

int state_open_lock(struct ab_ctx *ctx, const char *name, const char *file, ab_error *err)
{
    return state_open(ctx, name, file, O_RDWR | O_CREAT, err);
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
    _cleanup_free_ char *t = state_read_text(ctx, name, file, 64);
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
    /* NAME/log below the data dir fd, through no symlink */
    ab_error err;
    int root = store_name_valid(name) ? ab_ctx_data_fd_existing(ctx, &err) : -1;
    _cleanup_close_ int dir = root < 0 ? -1 : openat(root, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    int fd = dir < 0 ? -1 : openat(dir, "log", O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0644);
    if (fd < 0)
        return;
    _cleanup_fclose_ FILE *f = fdopen(fd, "a");
    if (!f) {
        close(fd);
        return;
    }
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
