#include "desktop/display.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/clock.h"
#include "util/fsutil.h"

/* Fixed paths, as for pasta: never a PATH lookup for what a root caller runs. */
#define XEPHYR "/usr/bin/Xephyr"
#define ENV "/usr/bin/env"
#define X11_SOCKET_DIR "/tmp/.X11-unix"
#define CONTAINER_X_SOCKET X11_SOCKET_DIR "/X0"
#define COOKIE_FILE "Xauthority"
#define READY_TIMEOUT_MS 10000
/* a socket or a cookie file: nothing to run, nothing below it */
#define DISPLAY_BIND_OPTIONS (MOUNT_RO | MOUNT_NOSUID | MOUNT_NODEV | MOUNT_NOEXEC)
/* Xephyr's display numbers: above those a desktop uses, below Xvfb's
 * usual ones in scripts */
#define PRIVATE_FIRST 100
#define PRIVATE_LAST 999

/* appbox-x11auth: next to this appbox (a build tree), or in the libexec
 * directory it was installed with. */
static char *x11auth_path(const struct ab_ctx *ctx)
{
    char self[PATH_MAX];
    ssize_t n;
    if (ctx && ctx->self_exe && ctx->self_exe[0] == '/')
        snprintf(self, sizeof(self), "%s", ctx->self_exe);
    else if ((n = readlink("/proc/self/exe", self, sizeof(self) - 1)) > 0)
        self[n] = '\0';
    else
        self[0] = '\0';
    char *p = NULL;
    if (self[0] == '/' && asprintf(&p, "%s/appbox-x11auth", dirname(self)) >= 0 && access(p, X_OK) == 0)
        return p;
    free(p);
    return access(APPBOX_LIBEXECDIR "/appbox-x11auth", X_OK) == 0 ? strdup(APPBOX_LIBEXECDIR "/appbox-x11auth")
                                                                    : NULL;
}

/* The number of a local display: ":N", ":N.S", "unix:N[.S]"; -1 for any
 * other (a TCP display, ssh's forwarding, a path). */
static int local_display_number(const char *d)
{
    if (strncmp(d, "unix:", 5) == 0)
        d += 4;
    if (d[0] != ':' || d[1] < '0' || d[1] > '9')
        return -1;
    char *end;
    long n = strtol(d + 1, &end, 10);
    if ((*end && *end != '.') || n < 0 || n > 65535)
        return -1;
    return (int)n;
}

static bool is_socket(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0 && S_ISSOCK(st.st_mode);
}

/* A free display number for Xephyr: no socket and no lock file. */
static int free_display_number(void)
{
    for (int n = PRIVATE_FIRST; n <= PRIVATE_LAST; n++) {
        char sock[64], lock[64];
        snprintf(sock, sizeof(sock), X11_SOCKET_DIR "/X%d", n);
        snprintf(lock, sizeof(lock), "/tmp/.X%d-lock", n);
        if (access(sock, F_OK) < 0 && errno == ENOENT && access(lock, F_OK) < 0 && errno == ENOENT)
            return n;
    }
    return -1;
}

/* The X modes' checks: a local display with its socket. */
static int host_x_display(struct ab_ctx *ctx, const char *mode, int *number, char *sock, size_t socklen,
                          ab_error *err)
{
    if (!ctx->display)
        return ab_usage(err, "--display %s: DISPLAY is not set (no X server to show the window on; "
                             "use --display wayland in a Wayland session)",
                        mode);
    *number = local_display_number(ctx->display);
    if (*number < 0)
        return ab_usage(err, "--display %s: DISPLAY '%s' is not a local display (expected :N; only a local "
                             "X server's socket can be given to a container)",
                        mode, ctx->display);
    snprintf(sock, socklen, X11_SOCKET_DIR "/X%d", *number);
    if (!is_socket(sock))
        return ab_fail(err, ENOENT, "--display %s: DISPLAY %s has no socket at %s (only a local X server's "
                                    "socket can be given to a container)",
                       mode, ctx->display, sock);
    return 0;
}

#define SANDBOX_DIR_PREFIX ".display-sandbox."

int display_resolve(struct ab_ctx *ctx, struct spec *s, const char *name, ab_error *err)
{
    struct spec_display *d = &s->container.display;
    if (d->mode == DISPLAY_NONE)
        return 0;
    if (!ctx)
        return ab_fail(err, EINVAL, "--display needs the caller's session");
    if (d->mode == DISPLAY_AUTO)
        d->mode = ctx->wayland_display ? DISPLAY_WAYLAND : DISPLAY_X11;
    /* spec_validate() saw "auto" */
    if (s->container.net == NET_HOST && (d->mode == DISPLAY_X11 || d->mode == DISPLAY_PRIVATE))
        return spec_validate(s, err);
    const char *mode = display_mode_name(d->mode);
    char sock[PATH_MAX];
    int number = -1, r;
    _cleanup_free_ char *helper = NULL;
    switch (d->mode) {
    case DISPLAY_X11:
    case DISPLAY_X11_TRUSTED:
    case DISPLAY_PRIVATE:
        if ((r = host_x_display(ctx, mode, &number, sock, sizeof(sock), err)) < 0)
            return r;
        if (!(helper = x11auth_path(ctx)))
            return ab_fail(err, ENOENT, "--display %s: cannot find appbox-x11auth (next to appbox or in "
                                        APPBOX_LIBEXECDIR ")", mode);
        if (d->mode == DISPLAY_PRIVATE) {
            if (access(XEPHYR, X_OK) < 0)
                return ab_fail(err, ENOENT, "--display private: " XEPHYR " (package xserver-xephyr) is needed");
            if ((number = free_display_number()) < 0)
                return ab_fail(err, EBUSY, "--display private: no free X display number from %d to %d",
                               PRIVATE_FIRST, PRIVATE_LAST);
            snprintf(sock, sizeof(sock), X11_SOCKET_DIR "/X%d", number);
        }
        break;
    case DISPLAY_WAYLAND: {
        const char *w = ctx->wayland_display;
        if (!w)
            return ab_usage(err, "--display wayland: WAYLAND_DISPLAY is not set (no Wayland compositor to show "
                                 "the window on; use --display x11 in an X session)");
        if (w[0] != '/' && (!ctx->xdg_runtime_dir || ctx->xdg_runtime_dir[0] != '/'))
            return ab_usage(err, "--display wayland: WAYLAND_DISPLAY '%s' is relative and XDG_RUNTIME_DIR is "
                                 "not set", w);
        snprintf(sock, sizeof(sock), "%s%s%s", w[0] == '/' ? "" : ctx->xdg_runtime_dir, w[0] == '/' ? "" : "/", w);
        if (!is_socket(sock))
            return ab_fail(err, ENOENT, "--display wayland: the compositor's socket %s is not there", sock);
        break;
    }
    default:
        return ab_fail(err, EINVAL, "--display: mode %d unknown", d->mode);
    }

    if (d->mode == DISPLAY_WAYLAND) {
        char dir[64], dst[96];
        snprintf(dir, sizeof(dir), "/run/user/%u", (unsigned)s->process.user.uid);
        snprintf(dst, sizeof(dst), "%s/wayland-0", dir);
        if (spec_add_mount(s, MOUNT_TYPE_BIND, sock, dst, DISPLAY_BIND_OPTIONS, NULL, "--display wayland") < 0)
            return ab_fail(err, ENOMEM, "--display");
        if ((r = spec_set_env(s, "XDG_RUNTIME_DIR", dir, err)) < 0 ||
            (r = spec_set_env(s, "WAYLAND_DISPLAY", "wayland-0", err)) < 0)
            return r;
        return 0;
    }

    /* X: a directory of ours for the container's cookie, in the runtime dir */
    int rfd = ab_ctx_runtime_fd(ctx, err);
    if (rfd < 0)
        return rfd;
    _cleanup_free_ char *dir = NULL, *cookie = NULL;
    /* A throwaway sandbox's directory carries its pid: the next sandbox
     * with a display removes those whose sandbox was killed before its
     * teardown (a named container's is removed by its teardown, also the
     * one run from spec.json after a killed supervisor). */
    if (!name)
        fs_sweep_dead_pid_dirs(rfd, SANDBOX_DIR_PREFIX, COOKIE_FILE);
    if ((name ? asprintf(&dir, "%s/.display-XXXXXX", ctx->runtime_dir)
              : asprintf(&dir, "%s/" SANDBOX_DIR_PREFIX "%d.XXXXXX", ctx->runtime_dir, (int)getpid())) < 0)
        return ab_fail(err, ENOMEM, "--display");
    if (!mkdtemp(dir))
        return ab_fail(err, errno, "--display: cannot make a directory for the cookie in %s", ctx->runtime_dir);
    free(d->dir);
    d->dir = strdup(dir);
    if (!d->dir || asprintf(&cookie, "%s/" COOKIE_FILE, dir) < 0) {
        display_release(s);
        return ab_fail(err, ENOMEM, "--display");
    }
    /* there now, so that it can be bound; written by appbox-x11auth */
    int fd = open(cookie, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0) {
        r = ab_fail(err, errno, "--display: cannot create %s", cookie);
        display_release(s);
        return r;
    }
    close(fd);
    d->host_number = number;
    free(d->host_display);
    free(d->host_auth);
    d->host_display = strdup(ctx->display);
    d->host_auth = ctx->xauthority ? strdup(ctx->xauthority) : NULL;
    char origin[48];
    snprintf(origin, sizeof(origin), "--display %s", mode);
    if (!d->host_display || (ctx->xauthority && !d->host_auth) ||
        spec_add_mount(s, MOUNT_TYPE_BIND, sock, CONTAINER_X_SOCKET, DISPLAY_BIND_OPTIONS, NULL, origin) < 0 ||
        spec_add_mount(s, MOUNT_TYPE_BIND, cookie, DISPLAY_XAUTHORITY, DISPLAY_BIND_OPTIONS, NULL, origin) < 0) {
        display_release(s);
        return ab_fail(err, ENOMEM, "--display");
    }
    if ((r = spec_set_env(s, "DISPLAY", ":0", err)) < 0 || (r = spec_set_env(s, "XAUTHORITY", DISPLAY_XAUTHORITY, err)) < 0) {
        display_release(s);
        return r;
    }
    (void)name;
    return 0;
}

const char *display_describe(const struct spec_display *d, char *buf, size_t len)
{
    switch (d->mode) {
    case DISPLAY_X11:
        snprintf(buf, len, "x11: the host's X socket with an untrusted cookie of its own (no XTEST, no reading "
                           "other windows or the screen; revoked at stop)");
        break;
    case DISPLAY_X11_TRUSTED:
        snprintf(buf, len, "x11-trusted: the host's X socket with your own cookie (TRUSTED: it can read the "
                           "screen, other windows and inject input)");
        break;
    case DISPLAY_WAYLAND:
        snprintf(buf, len, "wayland: the compositor's socket (WAYLAND_DISPLAY=wayland-0), nothing of X");
        break;
    case DISPLAY_PRIVATE:
        snprintf(buf, len, "private: a nested Xephyr %dx%d of its own, stopped with it", d->width, d->height);
        break;
    case DISPLAY_AUTO:
        snprintf(buf, len, "auto: wayland when WAYLAND_DISPLAY is set at start, else x11 (untrusted cookie)");
        break;
    default:
        snprintf(buf, len, "none");
        break;
    }
    return buf;
}

void display_release(const struct spec *s)
{
    const char *dir = s->container.display.dir;
    if (!dir)
        return;
    _cleanup_close_ int dfd = open(dir, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dfd >= 0)
        unlinkat(dfd, COOKIE_FILE, 0);
    rmdir(dir);
}

/* A pipe whose ends are above 2: where appbox was started with fds 0-2
 * closed, a plain pipe could take their numbers, and the helper's own
 * stdio set-up would then overwrite its end. */
static int pipe_high(int p[2])
{
    int raw[2];
    if (pipe2(raw, O_CLOEXEC) < 0)
        return -1;
    p[0] = fcntl(raw[0], F_DUPFD_CLOEXEC, 3);
    p[1] = fcntl(raw[1], F_DUPFD_CLOEXEC, 3);
    close(raw[0]);
    close(raw[1]);
    if (p[0] < 0 || p[1] < 0) {
        if (p[0] >= 0)
            close(p[0]);
        if (p[1] >= 0)
            close(p[1]);
        return -1;
    }
    return 0;
}

/* Read FD (a helper's report) to its end, READY_TIMEOUT_MS at most; 0 when
 * it said "ready", else its last line as the error. */
static int wait_report(int fd, const char *what, ab_error *err)
{
    char buf[1024];
    size_t len = 0;
    long deadline = clock_now_ms() + READY_TIMEOUT_MS;
    for (;;) {
        long left = deadline - clock_now_ms();
        struct pollfd p = { .fd = fd, .events = POLLIN };
        if (left <= 0 || poll(&p, 1, (int)left) == 0)
            return ab_fail(err, ETIMEDOUT, "%s did not answer in %d seconds", what, READY_TIMEOUT_MS / 1000);
        ssize_t n = read(fd, buf + len, sizeof(buf) - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0 || len + (size_t)n >= sizeof(buf) - 1) {
            if (n > 0)
                len += (size_t)n;
            break;
        }
        len += (size_t)n;
    }
    buf[len] = '\0';
    while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == ' '))
        buf[--len] = '\0';
    if (strcmp(buf, "ready") == 0)
        return 0;
    char *last = strrchr(buf, '\n');
    return ab_fail(err, 0, "%s", *buf ? (last ? last + 1 : buf) : "the display helper failed without a word");
}

/* appbox-x11auth MODE into the container's cookie file; with "untrusted"
 * it stays, holding the cookie, until the runner stops it. */
static int run_x11auth(struct runner *r, const char *mode, ab_error *err)
{
    const struct spec_display *d = &r->spec->container.display;
    _cleanup_free_ char *helper = x11auth_path(r->ctx), *cookie = NULL;
    if (!helper)
        return ab_fail(err, ENOENT, "cannot find appbox-x11auth (next to appbox or in " APPBOX_LIBEXECDIR ")");
    if (asprintf(&cookie, "%s/" COOKIE_FILE, d->dir) < 0)
        return ab_fail(err, ENOMEM, "--display");
    int p[2];
    if (pipe_high(p) < 0)
        return ab_fail(err, errno, "cannot start appbox-x11auth");
    char *const argv[] = { helper, (char *)mode, d->host_display ? d->host_display : (char *)"-",
                           d->host_auth ? d->host_auth : (char *)"", cookie, (char *)"0", NULL };
    struct helper_opts o = HELPER_OPTS_INIT;
    o.stderr_fd = p[1];
    int rc = runner_spawn_helper(r, "appbox-x11auth", argv, &o, err);
    close(p[1]);
    if (rc == 0)
        rc = wait_report(p[0], "appbox-x11auth", err);
    close(p[0]);
    return rc;
}

/* The error for an Xephyr that did not come up: its own last message. */
static int xephyr_failed(int errfd, int number, ab_error *err)
{
    char said[2048] = "";
    ssize_t n = pread(errfd, said, sizeof(said) - 1, 0);
    if (n > 0) {
        said[n] = 0;
        while (n > 0 && (said[n - 1] == '\n' || said[n - 1] == ' '))
            said[--n] = 0;
    }
    char *last = strrchr(said, '\n');
    last = last ? last + 1 : said;
    return ab_fail(err, 0, "--display private: Xephyr did not start on :%d%s%s", number, *last ? ": " : "", last);
}

static int start_xephyr(struct runner *r, ab_error *err)
{
    const struct spec_display *d = &r->spec->container.display;
    char disp[16], screen[32], title[128], env_display[256], env_auth[PATH_MAX + 16];
    _cleanup_free_ char *cookie = NULL;
    if (asprintf(&cookie, "%s/" COOKIE_FILE, d->dir) < 0)
        return ab_fail(err, ENOMEM, "--display");
    snprintf(disp, sizeof(disp), ":%d", d->host_number);
    snprintf(screen, sizeof(screen), "%dx%d", d->width, d->height);
    snprintf(title, sizeof(title), "%s (appbox)", r->name ? r->name : "sandbox");
    snprintf(env_display, sizeof(env_display), "DISPLAY=%s", d->host_display);
    snprintf(env_auth, sizeof(env_auth), "XAUTHORITY=%s", d->host_auth ? d->host_auth : "");
    /* -auth: the container's cookie is the server's only one;
     * -nolisten tcp: only the socket the container is given;
     * -displayfd 3: says the number when it accepts connections;
     * -no-host-grab: Ctrl+Shift never grabs the user's keyboard;
     * -noreset: an X server resets when its last client leaves, and a
     * client connecting meanwhile is refused ("unable to open display"):
     * the container's app would fail at random between two of its
     * programs (xdpyinfo, then xwd), as a desktop's server, which always
     * has clients, never makes them */
    char *argv[24];
    size_t n = 0;
    argv[n++] = (char *)ENV;
    if (d->host_auth) {
        argv[n++] = env_auth;
    } else {
        argv[n++] = (char *)"-u";
        argv[n++] = (char *)"XAUTHORITY";
    }
    char *const rest[] = { env_display, (char *)XEPHYR, disp, (char *)"-auth", cookie, (char *)"-nolisten",
                           (char *)"tcp", (char *)"-screen", screen, (char *)"-title", title,
                           (char *)"-no-host-grab", (char *)"-noreset", (char *)"-displayfd", (char *)"3", NULL };
    for (size_t i = 0; i < ARRAY_SIZE(rest); i++)
        argv[n++] = rest[i];
    _cleanup_close_ int errfd = memfd_create("xephyr-stderr", MFD_CLOEXEC);
    int p[2];
    if (errfd < 0 || pipe_high(p) < 0)
        return ab_fail(err, errno, "--display private: cannot start Xephyr");
    struct helper_opts o = HELPER_OPTS_INIT;
    o.stderr_fd = errfd;
    o.pass_fd = p[1];
    int rc = runner_spawn_helper(r, "Xephyr", argv, &o, err);
    close(p[1]);
    if (rc < 0) {
        close(p[0]);
        return rc;
    }
    /* ready: the number on the pipe; its end first: Xephyr died */
    char buf[32];
    size_t len = 0;
    long deadline = clock_now_ms() + READY_TIMEOUT_MS;
    while (len < sizeof(buf) - 1 && !memchr(buf, '\n', len)) {
        long left = deadline - clock_now_ms();
        struct pollfd pf = { .fd = p[0], .events = POLLIN };
        if (left <= 0 || poll(&pf, 1, (int)left) == 0) {
            close(p[0]);
            return xephyr_failed(errfd, d->host_number, err);
        }
        ssize_t got = read(p[0], buf + len, sizeof(buf) - 1 - len);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            break;
        len += (size_t)got;
    }
    close(p[0]);
    buf[len] = '\0';
    if (atoi(buf) != d->host_number || !memchr(buf, '\n', len))
        return xephyr_failed(errfd, d->host_number, err);
    return 0;
}

static int display_prepare(struct runner *r, ab_error *err)
{
    switch (r->spec->container.display.mode) {
    case DISPLAY_X11:
        return run_x11auth(r, "untrusted", err);
    case DISPLAY_X11_TRUSTED:
        return run_x11auth(r, "trusted", err);
    case DISPLAY_PRIVATE: {
        int rc = run_x11auth(r, "cookie", err);
        return rc < 0 ? rc : start_xephyr(r, err);
    }
    default:
        return 0;
    }
}

static void display_teardown(struct runner *r)
{
    display_release(r->spec);
}

const struct module display_module = {
    .name = "display",
    .prepare = display_prepare,
    .teardown = display_teardown,
};
