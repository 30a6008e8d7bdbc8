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

int state_open_lock(const char *name, const char *file, ab_error *err)
{
    _cleanup_free_ char *dir = store_run_path(name, NULL, err);
    if (!dir || store_mkdirs(dir, true, err) < 0)
        return -EIO;
    _cleanup_free_ char *p = store_run_path(name, file, err);
    if (!p)
        return -ENOMEM;
    int fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return ab_fail(err, errno, "cannot open %s", p);
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

bool state_running(const char *name)
{
    ab_error err;
    _cleanup_free_ char *p = store_run_path(name, "supervisor.lock", &err);
    if (!p)
        return false;
    _cleanup_close_ int fd = open(p, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return false;
    if (flock(fd, LOCK_EX | LOCK_NB) == 0)
        return false; /* nobody holds it; ours is dropped by close */
    return errno == EWOULDBLOCK;
}

int state_sessions(const char *name)
{
    ab_error err;
    _cleanup_free_ char *p = store_run_path(name, "sessions.lock", &err);
    struct stat st;
    if (!p || stat(p, &st) < 0)
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

long state_read_number(const char *name, const char *file)
{
    ab_error err;
    _cleanup_free_ char *p = store_run_path(name, file, &err);
    if (!p)
        return -1;
    _cleanup_free_ char *t = fs_read_file_at(AT_FDCWD, p, false, 64);
    if (!t)
        return -1;
    char *end;
    errno = 0;
    long v = strtol(t, &end, 10);
    return end != t && v >= 0 && errno == 0 && (*end == '\n' || *end == '\0') ? v : -1;
}

pid_t state_read_pid(const char *name, const char *file)
{
    long v = state_read_number(name, file);
    return v > 0 && v <= INT_MAX ? (pid_t)v : -1; /* 0 is no process */
}

int state_write_file(const char *name, const char *file, const char *text, ab_error *err)
{
    _cleanup_free_ char *p = store_run_path(name, file, err);
    _cleanup_free_ char *tmp = NULL;
    if (!p || asprintf(&tmp, "%s.tmp", p) < 0)
        return -ENOMEM;
    _cleanup_close_ int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return ab_fail(err, errno, "cannot write %s", tmp);
    size_t len = strlen(text);
    if (write(fd, text, len) != (ssize_t)len || rename(tmp, p) < 0) {
        int e = errno;
        unlink(tmp);
        return ab_fail(err, e, "cannot write %s", p);
    }
    return 0;
}

void state_remove(const char *name, const char *file)
{
    ab_error err;
    _cleanup_free_ char *p = store_run_path(name, file, &err);
    if (p)
        unlink(p);
}

void state_log(const char *name, const char *fmt, ...)
{
    ab_error err;
    _cleanup_free_ char *p = store_path(name, "log", &err);
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
