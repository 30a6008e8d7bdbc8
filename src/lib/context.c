#include "context.h"

#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/cleanup.h"
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
    static const char *const sound_vars[] = { "XDG_RUNTIME_DIR=", "PULSE_SERVER=", "PULSE_COOKIE=",
                                              "PIPEWIRE_REMOTE=", "PIPEWIRE_RUNTIME_DIR=", "HOME=", NULL };
    for (char *const *e = env->environ; r == 0 && e && *e; e++)
        for (size_t i = 0; sound_vars[i]; i++)
            if (strncmp(*e, sound_vars[i], strlen(sound_vars[i])) == 0 && (*e)[strlen(sound_vars[i])])
                r = strv_push(&ctx->sound_env, *e);
    /* The session's display: read by the display module only, never
     * passed in as such (the container gets its own DISPLAY and cookie). */
    static const struct {
        const char *prefix;
        size_t off;
    } display_vars[] = {
        { "DISPLAY=", offsetof(struct ab_ctx, display) },
        { "XAUTHORITY=", offsetof(struct ab_ctx, xauthority) },
        { "WAYLAND_DISPLAY=", offsetof(struct ab_ctx, wayland_display) },
    };
    for (char *const *e = env->environ; r == 0 && e && *e; e++)
        for (size_t i = 0; i < sizeof(display_vars) / sizeof(display_vars[0]); i++) {
            size_t n = strlen(display_vars[i].prefix);
            char **slot = (char **)((char *)ctx + display_vars[i].off);
            if (strncmp(*e, display_vars[i].prefix, n) == 0 && (*e)[n] && !*slot)
                r = dup_opt(*e + n, slot);
        }
    if (r == 0)
        r = dup_opt(env->xdg_runtime_dir, &ctx->xdg_runtime_dir);
    if (r < 0) {
        ab_ctx_free(ctx);
        return ab_fail(err, ENOMEM, "out of memory");
    }
    return 0;
}

const char *ab_ctx_sound_env(const struct ab_ctx *ctx, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; ctx && i < ctx->sound_env.n; i++)
        if (strncmp(ctx->sound_env.v[i], name, n) == 0 && ctx->sound_env.v[i][n] == '=')
            return ctx->sound_env.v[i] + n + 1;
    return NULL;
}

void ab_ctx_free(struct ab_ctx *ctx)
{
    free(ctx->data_dir);
    free(ctx->runtime_dir);
    free(ctx->self_exe);
    free(ctx->bootstrap_tool);
    free(ctx->path);
    strv_clear(&ctx->passenv);
    strv_clear(&ctx->sound_env);
    free(ctx->display);
    free(ctx->xauthority);
    free(ctx->wayland_display);
    free(ctx->xdg_runtime_dir);
    if (ctx->data_fd >= 0)
        close(ctx->data_fd);
    if (ctx->runtime_fd >= 0)
        close(ctx->runtime_fd);
    memset(ctx, 0, sizeof(*ctx));
    ctx->data_fd = ctx->runtime_fd = -1;
}

/* A refusal: the message says what is wrong and what to do, no errno. */
#define refuse(err, ...) ab_error_set((err), AB_ERR_RUNTIME, 0, __VA_ARGS__)


/* A directory appbox keeps its state in (WHAT: "runtime" or "data"),
 * opened as an O_PATH fd that everything below is opened from.  It must be
 * a directory (not a symlink) that belongs to the caller; its mode is made
 * 0700 (the runtime dir: exactly; the data dir: no group or other bits),
 * which only its owner, the caller, can do.  The runtime dir's parent (the
 * /tmp of the /tmp/appbox-UID fallback) must belong to root or the caller
 * and, if others may write to it, be sticky: otherwise another user could
 * rename it away under us.  CREATE makes it (and missing parents); without
 * it, a missing directory is -ENOENT with no message.  HINT ends a refusal:
 * what the user can do. */
static int open_private_dir(const char *path, const char *what, bool runtime, bool create, int *slot,
                            ab_error *err)
{
    if (*slot >= 0)
        return *slot;
    if (path[0] != '/')
        return ab_fail(err, EINVAL, "the %s directory %s is not an absolute path", what, path);
    const char *hint = runtime ? "set XDG_RUNTIME_DIR (or APPBOX_RUNTIME_DIR) to a private directory of yours"
                               : "set XDG_DATA_HOME (or APPBOX_DATA_DIR) to a private directory of yours";
    _cleanup_free_ char *parent = strdup(path);
    if (!parent)
        return ab_fail(err, ENOMEM, "out of memory");
    size_t len = strlen(parent);
    while (len > 1 && parent[len - 1] == '/')
        parent[--len] = '\0';
    char *slash = strrchr(parent, '/');
    const char *base = slash + 1;
    if (!*base)
        return ab_fail(err, EINVAL, "the %s directory %s cannot be /", what, path);
    *slash = '\0';
    const char *pdir = parent[0] ? parent : "/";
    int r = create && parent[0] ? fs_make_path(pdir, err) : 0;
    if (r < 0)
        return r;
    /* the parent's own path may go through links (/var/run): the checks
     * below are made on what it leads to */
    _cleanup_close_ int pfd = open(pdir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (pfd < 0) {
        if (errno == ENOENT && !create)
            return -ENOENT;
        return ab_fail(err, errno, "cannot open %s (the parent of the %s directory %s)", pdir, what, path);
    }
    struct stat st;
    if (fstat(pfd, &st) < 0)
        return ab_fail(err, errno, "cannot open %s", pdir);
    uid_t me = getuid();
    if (runtime && st.st_uid != 0 && st.st_uid != me)
        return refuse(err, "the runtime directory %s is not safe: its parent %s belongs to uid %u, not to you "
                                   "or root; %s", path, pdir, (unsigned)st.st_uid, hint);
    if (runtime && (st.st_mode & 022) && !(st.st_mode & S_ISVTX))
        return refuse(err, "the runtime directory %s is not safe: others may write to its parent %s, which "
                                   "is not sticky; %s", path, pdir, hint);
    if (create && mkdirat(pfd, base, 0700) < 0 && errno != EEXIST)
        return ab_fail(err, errno, "cannot create the %s directory %s", what, path);
    int fd = openat(pfd, base, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        if (e == ENOENT && !create)
            return -ENOENT;
        if (fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
            return refuse(err, "the %s directory %s is not safe: it is a symbolic link; remove it, or %s", what,
                           path, hint);
        if (e == ENOTDIR)
            return refuse(err, "the %s directory %s is not a directory; remove it, or %s", what, path, hint);
        return ab_fail(err, e, "cannot open the %s directory %s", what, path);
    }
    if (fstat(fd, &st) < 0) {
        int e = errno;
        close(fd);
        return ab_fail(err, e, "cannot open the %s directory %s", what, path);
    }
    if (st.st_uid != me) {
        close(fd);
        return refuse(err, "the %s directory %s is not safe: it belongs to uid %u, not to you (uid %u); "
                                   "remove it, or %s", what, path, (unsigned)st.st_uid, (unsigned)me, hint);
    }
    mode_t mode = st.st_mode & 07777;
    if (runtime ? mode != 0700 : (mode & 077) != 0) {
        /* ours, so ours to repair: through the fd, never the path again */
        char self[64];
        snprintf(self, sizeof(self), "/proc/self/fd/%d", fd);
        if (chmod(self, runtime ? 0700 : (mode & 0700) | 0700) < 0) {
            int e = errno;
            close(fd);
            return ab_fail(err, e, "cannot make the %s directory %s private (mode 0700)", what, path);
        }
    }
    *slot = fd;
    return fd;
}

int ab_ctx_data_fd(struct ab_ctx *ctx, ab_error *err)
{
    return open_private_dir(ctx->data_dir, "data", false, true, &ctx->data_fd, err);
}

int ab_ctx_runtime_fd(struct ab_ctx *ctx, ab_error *err)
{
    return open_private_dir(ctx->runtime_dir, "runtime", true, true, &ctx->runtime_fd, err);
}

int ab_ctx_data_fd_existing(struct ab_ctx *ctx, ab_error *err)
{
    return open_private_dir(ctx->data_dir, "data", false, false, &ctx->data_fd, err);
}

int ab_ctx_runtime_fd_existing(struct ab_ctx *ctx, ab_error *err)
{
    return open_private_dir(ctx->runtime_dir, "runtime", true, false, &ctx->runtime_fd, err);
}

int ab_ctx_check_dirs(struct ab_ctx *ctx, ab_error *err)
{
    int r = ab_ctx_data_fd_existing(ctx, err);
    if (r < 0 && r != -ENOENT)
        return r;
    r = ab_ctx_runtime_fd_existing(ctx, err);
    return r < 0 && r != -ENOENT ? r : 0;
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
    /* log lines echo untrusted text too (a container's file names) */
    ab_escape_controls(msg, sizeof(msg));
    ctx->log(ctx->log_ud, level, msg);
}
