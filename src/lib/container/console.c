#include "container/console.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include "container/svclog.h"
#include "util/cleanup.h"

static void emit(void *arg, const char *text, size_t len)
{
    svclog_write(arg, "console", text, len);
}

int console_start(struct runner *r, struct ab_ctx *ctx, const char *name, int master, uint64_t log_size,
                  ab_error *err)
{
    _cleanup_close_ int m = master;
    struct svclog log;
    int rc = svclog_open(&log, ctx, name, log_size, err);
    if (rc < 0)
        return rc;
    int keep[2] = { m, log.dir };
    pid_t pid = runner_fork_helper(r, "console", NULL, keep, 2, err);
    if (pid != 0) {
        svclog_close(&log);
        return pid < 0 ? (int)pid : 0;
    }
    /* The helper: fd 3 the master, fd 4 the data dir (the log's). */
    log.dir = 4;
    log.fd = -1;
    struct svclog_framer f = { .len = 0 };
    char buf[4096];
    for (;;) {
        ssize_t n = read(3, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EIO) {
            /* no slave open at this moment (between two openers of
             * /dev/console); the helper is stopped at teardown */
            poll(NULL, 0, 100);
            continue;
        }
        if (n <= 0)
            break;
        svclog_frame(&f, buf, (size_t)n, emit, &log);
    }
    svclog_frame_flush(&f, emit, &log);
    _exit(0);
}
