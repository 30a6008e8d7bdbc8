/* Sound: see sound.h.
 *
 *   resolve   (the starter, with start.lock held) the host's server from
 *             the context's PULSE_SERVER / XDG_RUNTIME_DIR / PIPEWIRE_*
 *             (lib/ reads no environment), a test connection, the proxy's
 *             directory (NAME's runtime dir, or .sandbox-sound.PID, not a
 *             container name, for a throwaway sandbox), the bind and the
 *             environment
 *   prepare   (the runner, before clone) the proxy's listening socket and
 *             the proxy, a runner helper: dead with the runner, so nothing
 *             is ever left loaded in the user's server
 *   teardown  the proxy's socket and directory removed (also from
 *             spec.json after a SIGKILLed supervisor) */
#include "desktop/sound.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include "desktop/pulse_proxy.h"
#include "util/cleanup.h"
#include "util/fsutil.h"

#define PROXY_SOCKET "native"

/* The last mount added: appbox's own, made at every start. */
static void mark_at_start(struct spec *s)
{
    s->container.mounts[s->container.n_mounts - 1].options |= MOUNT_AT_START;
}

/* Split PATH into an O_PATH fd of its directory and its last name. */
static int open_parent(const char *path, const char **base)
{
    const char *slash = strrchr(path, '/');
    if (!slash || !slash[1])
        return -EINVAL;
    _cleanup_free_ char *dir = strndup(path, (size_t)(slash - path) + (slash == path));
    if (!dir)
        return -ENOMEM;
    *base = slash + 1;
    int fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

/* Connect to socket BASE in DIRFD (through the directory fd: the path is
 * not looked up from the top again); 0, or -errno. */
static int try_connect(int dirfd, const char *base)
{
    struct stat st;
    if (fstatat(dirfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return -errno;
    if (!S_ISSOCK(st.st_mode))
        return -ENOTSOCK;
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    if ((size_t)snprintf(sa.sun_path, sizeof(sa.sun_path), "/proc/self/fd/%d/%s", dirfd, base) >=
        sizeof(sa.sun_path))
        return -ENAMETOOLONG;
    _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -errno;
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EAGAIN)
        return -errno;
    return 0;
}

/* Whether PATH is a socket something listens on. */
static bool server_at(const char *path)
{
    const char *base;
    _cleanup_close_ int dfd = path ? open_parent(path, &base) : -1;
    return dfd >= 0 && try_connect(dfd, base) == 0;
}

/* PULSE_SERVER's first entry as a socket path: "unix:/path" or "/path"
 * (a "{machine-id}" prefix dropped); NULL with *remote set for anything
 * else (tcp:, a host name). */
static char *pulse_server_path(const char *server, bool *remote)
{
    *remote = false;
    char word[4096];
    size_t n = strcspn(server, " \t");
    if (n >= sizeof(word))
        n = sizeof(word) - 1;
    memcpy(word, server, n);
    word[n] = '\0';
    const char *p = word;
    if (*p == '{' && strchr(p, '}'))
        p = strchr(p, '}') + 1;
    if (strncmp(p, "unix:", 5) == 0)
        p += 5;
    if (*p != '/') {
        *remote = true;
        return NULL;
    }
    return strdup(p);
}

static char *pulse_path(const struct ab_ctx *ctx, const char **from, ab_error *err)
{
    const char *server = ab_ctx_sound_env(ctx, "PULSE_SERVER");
    if (server) {
        *from = "PULSE_SERVER";
        bool remote;
        char *p = pulse_server_path(server, &remote);
        if (!p && remote)
            ab_usage(err, "--sound pulseaudio: PULSE_SERVER '%s' is not a local socket (appbox reaches the "
                          "server only through its unix socket: unix:/PATH)", server);
        else if (!p)
            ab_fail(err, ENOMEM, "--sound");
        return p;
    }
    *from = "XDG_RUNTIME_DIR";
    const char *rt = ab_ctx_sound_env(ctx, "XDG_RUNTIME_DIR");
    char *p = NULL;
    if (!rt || rt[0] != '/')
        ab_usage(err, "--sound pulseaudio: cannot find the PulseAudio server: neither PULSE_SERVER nor "
                      "XDG_RUNTIME_DIR is set (set PULSE_SERVER=unix:/PATH)");
    else if (asprintf(&p, "%s/pulse/native", rt) < 0)
        ab_fail(err, ENOMEM, "--sound");
    return p;
}

static char *pipewire_path(const struct ab_ctx *ctx)
{
    const char *remote = ab_ctx_sound_env(ctx, "PIPEWIRE_REMOTE");
    if (remote && remote[0] == '/')
        return strdup(remote);
    const char *dir = ab_ctx_sound_env(ctx, "PIPEWIRE_RUNTIME_DIR");
    if (!dir)
        dir = ab_ctx_sound_env(ctx, "XDG_RUNTIME_DIR");
    char *p = NULL;
    if (dir && dir[0] == '/' && asprintf(&p, "%s/%s", dir, remote && *remote ? remote : "pipewire-0") < 0)
        p = NULL;
    return p;
}

/* The host's cookie (PULSE_COOKIE, else ~/.config/pulse/cookie, else
 * ~/.pulse-cookie), if there is one; read by the runner, never shown to
 * the container. */
static char *pulse_cookie(const struct ab_ctx *ctx)
{
    const char *env = ab_ctx_sound_env(ctx, "PULSE_COOKIE");
    const char *home = ab_ctx_sound_env(ctx, "HOME");
    char *cand[3] = { NULL, NULL, NULL };
    if (env)
        cand[0] = strdup(env);
    else if (home && home[0] == '/') {
        if (asprintf(&cand[0], "%s/.config/pulse/cookie", home) < 0)
            cand[0] = NULL;
        if (asprintf(&cand[1], "%s/.pulse-cookie", home) < 0)
            cand[1] = NULL;
    }
    char *found = NULL;
    for (int i = 0; i < 2; i++) {
        struct stat st;
        char *real = !found && cand[i] ? realpath(cand[i], NULL) : NULL;
        if (real && stat(real, &st) == 0 && S_ISREG(st.st_mode))
            found = real;
        else
            free(real);
        free(cand[i]);
    }
    return found;
}

/* The proxy's directory: NAME/sound in the runtime dir, or
 * .sandbox-sound.PID there (a leading '.': never a container's name);
 * 0755 (the container's user must reach the socket in it; the runtime dir
 * above is 0700). */
static int make_proxy_dir(struct spec *s, struct ab_ctx *ctx, const char *name, ab_error *err)
{
    int rfd = ab_ctx_runtime_fd(ctx, err);
    if (rfd < 0)
        return rfd;
    char rel[256];
    _cleanup_close_ int parent = -1;
    if (name) {
        parent = openat(rfd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (parent < 0)
            return ab_fail(err, errno, "--sound: cannot open %s's runtime directory", name);
        snprintf(rel, sizeof(rel), "sound");
    } else {
        fs_sweep_dead_pid_dirs(rfd, ".sandbox-sound.", PROXY_SOCKET);
        snprintf(rel, sizeof(rel), ".sandbox-sound.%d", (int)getpid());
    }
    int at = name ? parent : rfd;
    if (mkdirat(at, rel, 0755) < 0 && errno != EEXIST)
        return ab_fail(err, errno, "--sound: cannot make the sound socket's directory %s", rel);
    _cleanup_close_ int fd = openat(at, rel, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 || fchmod(fd, 0755) < 0)
        return ab_fail(err, errno, "--sound: cannot open the sound socket's directory %s", rel);
    char *dir;
    if ((name ? asprintf(&dir, "%s/%s/%s", ctx->runtime_dir, name, rel)
              : asprintf(&dir, "%s/%s", ctx->runtime_dir, rel)) < 0)
        return ab_fail(err, ENOMEM, "--sound");
    free(s->container.sound_dir);
    s->container.sound_dir = dir;
    return 0;
}

static int resolve_pulse(struct spec *s, struct ab_ctx *ctx, const char *name, ab_error *err)
{
    struct spec_container *c = &s->container;
    const char *from;
    _cleanup_free_ char *path = pulse_path(ctx, &from, err);
    if (!path)
        return -(err->errnum ? err->errnum : EINVAL);
    const char *base;
    _cleanup_close_ int dfd = open_parent(path, &base);
    int r = dfd < 0 ? dfd : try_connect(dfd, base);
    if (r < 0)
        return ab_error_set(err, AB_ERR_RUNTIME, 0,
                            "--sound pulseaudio: no PulseAudio server listens at %s (from %s): %s (start "
                            "PulseAudio or PipeWire's pipewire-pulse, or set PULSE_SERVER=unix:/PATH)",
                            path, from, strerror(-r));
    struct stat st;
    if (fstat(dfd, &st) < 0)
        return ab_fail(err, errno, "--sound: %s", path);
    c->sound_dir_dev = st.st_dev;
    c->sound_dir_ino = st.st_ino;
    free(c->sound_server);
    c->sound_server = take_ptr(path);
    free(c->sound_cookie);
    c->sound_cookie = pulse_cookie(ctx);
    if ((r = make_proxy_dir(s, ctx, name, err)) < 0)
        return r;
    if (spec_add_bind(s, c->sound_dir, SOUND_DIR_INSIDE, true, "--sound") < 0)
        return ab_fail(err, ENOMEM, "--sound");
    mark_at_start(s);
    if (spec_set_env(s, "PULSE_SERVER", "unix:" SOUND_DIR_INSIDE "/" PROXY_SOCKET, NULL) < 0)
        return ab_fail(err, ENOMEM, "--sound");
    return 0;
}

static int resolve_pipewire(struct spec *s, struct ab_ctx *ctx, ab_error *err)
{
    _cleanup_free_ char *path = pipewire_path(ctx);
    if (!path)
        return ab_usage(err, "--sound pipewire: cannot find PipeWire's socket: neither PIPEWIRE_REMOTE, "
                             "PIPEWIRE_RUNTIME_DIR nor XDG_RUNTIME_DIR is set");
    if (!server_at(path))
        return ab_error_set(err, AB_ERR_RUNTIME, 0,
                            "--sound pipewire: no PipeWire server listens at %s (start PipeWire, or use "
                            "--sound pulseaudio)", path);
    free(s->container.sound_server);
    s->container.sound_server = strdup(path);
    if (!s->container.sound_server || spec_add_bind(s, path, SOUND_DIR_INSIDE "/pipewire-0", true, "--sound") < 0)
        return ab_fail(err, ENOMEM, "--sound");
    mark_at_start(s);
    if (spec_set_env(s, "PIPEWIRE_RUNTIME_DIR", SOUND_DIR_INSIDE, NULL) < 0 || spec_set_env(s, "PIPEWIRE_REMOTE", "pipewire-0", NULL) < 0)
        return ab_fail(err, ENOMEM, "--sound");
    return 0;
}

/* The device nodes of /dev/snd (not its by-id/by-path links); without
 * the microphone, not the capture PCMs. */
static int resolve_alsa(struct spec *s, ab_error *err)
{
    DIR *d = opendir("/dev/snd");
    if (!d)
        return ab_error_set(err, AB_ERR_RUNTIME, 0,
                            "--sound alsa: this host has no /dev/snd (%s): no sound card, or its driver is not "
                            "loaded; use --sound pulseaudio to play through the desktop's server",
                            strerror(errno));
    struct dirent *e;
    size_t added = 0;
    int r = 0;
    while (r == 0 && (e = readdir(d))) {
        struct stat st;
        if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISCHR(st.st_mode))
            continue;
        size_t n = strlen(e->d_name);
        if (!s->container.microphone && strncmp(e->d_name, "pcmC", 4) == 0 && e->d_name[n - 1] == 'c')
            continue;
        char path[300];
        snprintf(path, sizeof(path), "/dev/snd/%s", e->d_name);
        r = spec_add_device(s, path, "--sound alsa");
        if (r == 0)
            mark_at_start(s);
        added++;
    }
    closedir(d);
    if (r < 0)
        return ab_fail(err, ENOMEM, "--sound alsa");
    if (!added)
        return ab_error_set(err, AB_ERR_RUNTIME, 0, "--sound alsa: /dev/snd has no device nodes");
    return 0;
}

int sound_resolve(struct spec *s, struct ab_ctx *ctx, const char *name, ab_error *err)
{
    struct spec_container *c = &s->container;
    if (c->resolved || c->sound == SOUND_NONE)
        return 0;
    /* what the options mean together first: nothing is made for a spec
     * that is refused anyway */
    int r = spec_validate(s, err);
    if (r < 0)
        return r;
    if (c->sound == SOUND_HOST) {
        const char *from;
        ab_error ignored = { 0 };
        _cleanup_free_ char *pulse = pulse_path(ctx, &from, &ignored);
        _cleanup_free_ char *pw = pipewire_path(ctx);
        if (!pulse && ab_ctx_sound_env(ctx, "PULSE_SERVER")) {   /* one appbox cannot reach (tcp:) */
            *err = ignored;
            return -EINVAL;
        }
        if (server_at(pulse))
            c->sound = SOUND_PULSEAUDIO;
        else if (server_at(pw))
            c->sound = SOUND_PIPEWIRE;
        else
            return ab_error_set(err, AB_ERR_RUNTIME, 0,
                                "--sound: no sound server of the host's found: no PulseAudio protocol socket at "
                                "%s and no PipeWire socket at %s (start one, or set PULSE_SERVER=unix:/PATH)",
                                pulse ? pulse : "(PULSE_SERVER or XDG_RUNTIME_DIR unset)",
                                pw ? pw : "(XDG_RUNTIME_DIR unset)");
        if (c->sound == SOUND_PIPEWIRE && (r = spec_validate(s, err)) < 0)
            return r;
    }
    switch (c->sound) {
    case SOUND_PULSEAUDIO: return resolve_pulse(s, ctx, name, err);
    case SOUND_PIPEWIRE: return resolve_pipewire(s, ctx, err);
    case SOUND_ALSA: return resolve_alsa(s, err);
    default: return 0;
    }
}

static int read_cookie(const char *path, uint8_t *out)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
        return -1;
    size_t got = 0;
    while (got < PULSE_COOKIE_LENGTH) {
        ssize_t n = read(fd, out + got, PULSE_COOKIE_LENGTH - got);
        if (n <= 0)
            return -1;
        got += (size_t)n;
    }
    return 0;
}

static int sound_prepare(struct runner *r, ab_error *err)
{
    const struct spec_container *c = &r->spec->container;
    if (c->sound != SOUND_PULSEAUDIO || !c->sound_server || !c->sound_dir)
        return 0;
    const char *base;
    _cleanup_close_ int sdir = open_parent(c->sound_server, &base);
    struct stat st;
    if (sdir < 0 || fstat(sdir, &st) < 0 || st.st_dev != c->sound_dir_dev || st.st_ino != c->sound_dir_ino)
        return ab_fail(err, 0, "--sound: the directory of %s is no longer the one found when the container "
                               "was set up", c->sound_server);
    uint8_t cookie[PULSE_COOKIE_LENGTH];
    bool have_cookie = c->sound_cookie && read_cookie(c->sound_cookie, cookie) == 0;

    _cleanup_close_ int pdir = open(c->sound_dir, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (pdir < 0)
        return ab_fail(err, errno, "--sound: cannot open %s", c->sound_dir);
    unlinkat(pdir, PROXY_SOCKET, 0);
    _cleanup_close_ int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    snprintf(sa.sun_path, sizeof(sa.sun_path), "/proc/self/fd/%d/" PROXY_SOCKET, pdir);
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        fchmodat(pdir, PROXY_SOCKET, 0666, 0) < 0 || listen(lfd, 64) < 0)
        return ab_fail(err, errno, "--sound: cannot listen on %s/" PROXY_SOCKET, c->sound_dir);
    /* The proxy is a fork of the runner (no program to find or trust),
     * with only its two fds: the runner's locks, sockets and pipes are
     * closed before it serves anyone. */
    const int keep[] = { lfd, sdir };
    pid_t pid = runner_fork_helper(r, "appbox-sound", NULL, keep, 2, err);
    if (pid < 0)
        return ab_error_prefix(err, "--sound: cannot start the sound proxy");
    if (pid == 0)
        pulse_proxy_run(3, 4, base, have_cookie ? cookie : NULL, c->microphone);
    return 0;
}

static void sound_teardown(struct runner *r)
{
    const struct spec_container *c = &r->spec->container;
    if (c->sound != SOUND_PULSEAUDIO || !c->sound_dir)
        return;
    int fd = open(c->sound_dir, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd >= 0) {
        unlinkat(fd, PROXY_SOCKET, 0);
        close(fd);
    }
    rmdir(c->sound_dir);
}

const struct module sound_module = {
    .name = "sound",
    .prepare = sound_prepare,
    .teardown = sound_teardown,
};
