#include "context.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/fsutil.h"
#include "util/fsutil.h"

static int dup_opt(const char *in, char **out)
{
    *out = NULL;
    return in && !(*out = strdup(in)) ? -ENOMEM : 0;
}

int ab_ctx_init(struct ab_ctx *ctx, const struct ab_env *env, ab_error *err)
{
    memset(ctx, 0, sizeof(*ctx));
    ctx->data_fd = ctx->runtime_fd = -1;
    bool root = getuid() == 0;
    const char *home = env->home && env->home[0] == '/' ? env->home : NULL;
    int r = 0;
    if (env->data_dir && *env->data_dir)
        r = dup_opt(env->data_dir, &ctx->data_dir);
    else if (root)
        r = dup_opt("/var/lib/appbox", &ctx->data_dir);
    else if (env->xdg_data_home && env->xdg_data_home[0] == '/')
        r = asprintf(&ctx->data_dir, "%s/appbox", env->xdg_data_home) < 0 ? -ENOMEM : 0;
    else if (home)
        r = asprintf(&ctx->data_dir, "%s/.local/share/appbox", home) < 0 ? -ENOMEM : 0;
    if (r == 0 && !ctx->data_dir)
        return ab_fail(err, ENOENT, "cannot find where to keep containers (set HOME or XDG_DATA_HOME)");
    if (r == 0) {
        if (env->runtime_dir && *env->runtime_dir)
            r = dup_opt(env->runtime_dir, &ctx->runtime_dir);
        else if (root)
            r = dup_opt("/run/appbox", &ctx->runtime_dir);
        else if (env->xdg_runtime_dir && env->xdg_runtime_dir[0] == '/')
            r = asprintf(&ctx->runtime_dir, "%s/appbox", env->xdg_runtime_dir) < 0 ? -ENOMEM : 0;
        else
            /* No session runtime dir (e.g. su without a login): a private
             * per-user dir in /tmp, created 0700 and checked to be ours. */
            r = asprintf(&ctx->runtime_dir, "/tmp/appbox-%u", getuid()) < 0 ? -ENOMEM : 0;
    }
    if (r == 0)
        r = dup_opt(env->self_exe && env->self_exe[0] == '/' ? env->self_exe : NULL, &ctx->self_exe);
    if (r == 0)
        r = dup_opt(env->bootstrap_tool, &ctx->bootstrap_tool);
    if (r == 0)
        r = dup_opt(env->path, &ctx->path);
    /* Nothing of the host's environment reaches a container but the
     * terminal type and the locale: no token, no bus address. */
    for (char *const *e = env->environ; r == 0 && e && *e; e++)
        if (strncmp(*e, "TERM=", 5) == 0 || strncmp(*e, "LANG=", 5) == 0 || strncmp(*e, "LANGUAGE=", 9) == 0 ||
            strncmp(*e, "LC_", 3) == 0)
            r = strv_push(&ctx->passenv, *e);
    if (r < 0) {
        ab_ctx_free(ctx);
        return ab_fail(err, ENOMEM, "out of memory");
    }
    return 0;
}

void ab_ctx_free(struct ab_ctx *ctx)
{
    free(ctx->data_dir);
    free(ctx->runtime_dir);
    free(ctx->self_exe);
    free(ctx->bootstrap_tool);
    free(ctx->path);
    strv_clear(&ctx->passenv);
    if (ctx->data_fd >= 0)
        close(ctx->data_fd);
    if (ctx->runtime_fd >= 0)
        close(ctx->runtime_fd);
    memset(ctx, 0, sizeof(*ctx));
    ctx->data_fd = ctx->runtime_fd = -1;
}

static int open_dir(const char *path, int *slot, ab_error *err)
{
    if (*slot >= 0)
        return *slot;
    int r = fs_mkdirs(path, true, err);
    if (r < 0)
        return r;
    int fd = open(path, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return ab_fail(err, errno, "cannot open %s", path);
    *slot = fd;
    return fd;
}

int ab_ctx_data_fd(struct ab_ctx *ctx, ab_error *err)
{
    return open_dir(ctx->data_dir, &ctx->data_fd, err);
}

int ab_ctx_runtime_fd(struct ab_ctx *ctx, ab_error *err)
{
    return open_dir(ctx->runtime_dir, &ctx->runtime_fd, err);
}

void ab_log(const struct ab_ctx *ctx, enum ab_log_level level, const char *fmt, ...)
{
    if (!ctx || !ctx->log || level < ctx->log_min)
        return;
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    ctx->log(ctx->log_ud, level, msg);
}
