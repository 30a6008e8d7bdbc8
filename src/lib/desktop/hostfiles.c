#include "desktop/hostfiles.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/cleanup.h"

#define ORIGIN "desktop files"
/* read-only, nothing to run or open as a device; made again at every start */
#define HOSTFILES_OPTIONS (MOUNT_RO | MOUNT_NOSUID | MOUNT_NODEV | MOUNT_NOEXEC | MOUNT_AT_START)
#define FONTS_CONF_NAME "fonts.conf"
#define FONTS_CONF HOSTFILES_DIR "/fonts.conf"
#define LOCALTIME HOSTFILES_DIR "/localtime"

/* A host directory and where it goes.  HOME: the path is below the
 * caller's home.  DATA_DIR: the /run/host directory that becomes an
 * XDG data directory (icons and fonts below it). */
struct hostfile {
    bool home;
    const char *path;
    const char *dest;
    const char *data_dir;
};

static const struct hostfile hostfiles[] = {
    { false, "/usr/share/fonts", HOSTFILES_DIR "/share/fonts", HOSTFILES_DIR "/share" },
    { false, "/usr/local/share/fonts", HOSTFILES_DIR "/local-share/fonts", HOSTFILES_DIR "/local-share" },
    { true, ".local/share/fonts", HOSTFILES_DIR "/user-share/fonts", HOSTFILES_DIR "/user-share" },
    { true, ".fonts", HOSTFILES_DIR "/user-dot/fonts", HOSTFILES_DIR "/user-dot" },
    { false, "/usr/share/icons", HOSTFILES_DIR "/share/icons", HOSTFILES_DIR "/share" },
    { true, ".local/share/icons", HOSTFILES_DIR "/user-share/icons", HOSTFILES_DIR "/user-share" },
    { true, ".icons", HOSTFILES_DIR "/user-dot/icons", HOSTFILES_DIR "/user-dot" },
};

/* The root's own configuration first (ignored where the root has none),
 * then the host's font directories: fontconfig scans them recursively. */
static const char fonts_conf[] =
    "<?xml version=\"1.0\"?>\n"
    "<!DOCTYPE fontconfig SYSTEM \"fonts.dtd\">\n"
    "<!-- appbox: the root's own fonts, then the host's (read-only, under " HOSTFILES_DIR ") -->\n"
    "<fontconfig>\n"
    "  <include ignore_missing=\"yes\">/etc/fonts/fonts.conf</include>\n"
    "  <dir>" HOSTFILES_DIR "/share/fonts</dir>\n"
    "  <dir>" HOSTFILES_DIR "/local-share/fonts</dir>\n"
    "  <dir>" HOSTFILES_DIR "/user-share/fonts</dir>\n"
    "  <dir>" HOSTFILES_DIR "/user-dot/fonts</dir>\n"
    "</fontconfig>\n";

/* Bind host PATH (already checked: RESOLVED is its real path) at DEST,
 * pinned to the object opened now.  Returns 1 when bound, 0 when skipped. */
static int bind_pinned(struct spec *s, const char *resolved, const char *dest, bool want_dir, uid_t owner_ok,
                       ab_error *err)
{
    _cleanup_close_ int fd = open(resolved, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0)
        return 0;
    if (want_dir ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode))
        return 0;
    /* the owner's or root's, and no one else may change what it holds */
    if ((st.st_uid != 0 && st.st_uid != owner_ok) || (st.st_mode & S_IWOTH))
        return 0;
    if (spec_add_mount(s, MOUNT_TYPE_BIND, resolved, dest, HOSTFILES_OPTIONS, NULL, ORIGIN) < 0)
        return ab_fail(err, ENOMEM, "cannot add the host's desktop files");
    struct spec_mount *m = &s->container.mounts[s->container.n_mounts - 1];
    m->dev = st.st_dev;
    m->ino = st.st_ino;
    return 1;
}

/* A system path: whatever it resolves to, as long as that is root's. */
static int bind_system(struct spec *s, const char *path, const char *dest, bool want_dir, ab_error *err)
{
    _cleanup_free_ char *real = realpath(path, NULL);
    if (!real || spec_container_can_write(&s->container, path) || spec_container_can_write(&s->container, real))
        return 0;
    return bind_pinned(s, real, dest, want_dir, 0, err);
}

/* A path below the caller's home: no symbolic link below the home (one
 * could have been planted by anything that writes there as the caller),
 * and the caller's own. */
static int bind_home(struct spec *s, const char *home, const char *rel, const char *dest, ab_error *err)
{
    _cleanup_free_ char *real_home = realpath(home, NULL);
    _cleanup_free_ char *path = NULL, *expect = NULL, *real = NULL;
    if (!real_home || asprintf(&path, "%s/%s", home, rel) < 0 || asprintf(&expect, "%s/%s", real_home, rel) < 0)
        return 0;
    real = realpath(path, NULL);
    if (!real || strcmp(real, expect) != 0)
        return 0;
    if (spec_container_can_write(&s->container, path) || spec_container_can_write(&s->container, real))
        return 0;
    return bind_pinned(s, real, dest, true, s->process.user.caller_uid, err);
}

/* A variable of the caller's that passes as it is: short, one line. */
static int pass_env(struct spec *s, const char *name, ab_error *err)
{
    const char *v = getenv(name);
    if (!v || !*v || strlen(v) > 256 || strpbrk(v, "\n\r") || spec_get_env(s, name))
        return 0;
    return spec_set_env(s, name, v, err);
}

/* appbox's fonts.conf in the runtime directory, written when it is not
 * there with this content (a running container may have the one there
 * bound: it is replaced by a rename, never rewritten in place). */
static int fonts_conf_file(struct ab_ctx *ctx, char **out, ab_error *err)
{
    int rfd = ab_ctx_runtime_fd(ctx, err);
    if (rfd < 0)
        return rfd;
    if (asprintf(out, "%s/" FONTS_CONF_NAME, ctx->runtime_dir) < 0)
        return ab_fail(err, ENOMEM, "cannot name %s/" FONTS_CONF_NAME, ctx->runtime_dir);
    {
        _cleanup_close_ int fd = openat(rfd, FONTS_CONF_NAME, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        char buf[sizeof(fonts_conf) + 1];
        ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf)) : -1;
        if (n == (ssize_t)sizeof(fonts_conf) - 1 && memcmp(buf, fonts_conf, (size_t)n) == 0)
            return 0;
    }
    char tmp[64];
    snprintf(tmp, sizeof(tmp), FONTS_CONF_NAME ".%d", (int)getpid());
    unlinkat(rfd, tmp, 0);
    _cleanup_close_ int fd = openat(rfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0)
        return ab_fail(err, errno, "cannot create %s/%s", ctx->runtime_dir, tmp);
    if (write(fd, fonts_conf, sizeof(fonts_conf) - 1) != (ssize_t)sizeof(fonts_conf) - 1 ||
        renameat(rfd, tmp, rfd, FONTS_CONF_NAME) < 0) {
        int e = errno ? errno : EIO;
        unlinkat(rfd, tmp, 0);
        return ab_fail(err, e, "cannot write %s", *out);
    }
    return 0;
}

int hostfiles_resolve(struct ab_ctx *ctx, struct spec *s, ab_error *err)
{
    struct spec_container *c = &s->container;
    if (c->display.mode == DISPLAY_NONE || c->no_host_files || !ctx)
        return 0;
    /* the caller's HOME (as appbox's own data directory follows it), else
     * the account's */
    const char *h = getenv("HOME");
    struct passwd *pw = h && h[0] == '/' ? NULL : getpwuid(s->process.user.caller_uid);
    if (pw)
        h = pw->pw_dir;
    _cleanup_free_ char *home = h && h[0] == '/' ? strdup(h) : NULL;
    int r;
    bool fonts = false;
    char data_dirs[512] = "";
    for (size_t i = 0; i < sizeof(hostfiles) / sizeof(hostfiles[0]); i++) {
        const struct hostfile *hf = &hostfiles[i];
        /* the host view has the host's /usr already */
        if ((hf->home && !home) || (!hf->home && !c->root))
            continue;
        r = hf->home ? bind_home(s, home, hf->path, hf->dest, err) : bind_system(s, hf->path, hf->dest, true, err);
        if (r < 0)
            return r;
        if (r == 0)
            continue;
        fonts |= strstr(hf->dest, "/fonts") != NULL;
        if (!strstr(data_dirs, hf->data_dir)) {
            size_t l = strlen(data_dirs);
            snprintf(data_dirs + l, sizeof(data_dirs) - l, ":%s", hf->data_dir);
        }
    }
    if (fonts) {
        _cleanup_free_ char *conf = NULL;
        if ((r = fonts_conf_file(ctx, &conf, err)) < 0)
            return ab_error_prefix(err, "the host's fonts");
        _cleanup_free_ char *real = realpath(conf, NULL);
        if (!real)
            return ab_fail(err, errno, "the host's fonts: cannot resolve %s", conf);
        /* appbox's own file: root's, or a rootless caller's own */
        if ((r = bind_pinned(s, real, FONTS_CONF, false, s->process.user.caller_uid, err)) < 0)
            return r;
        if (r > 0 && !spec_get_env(s, "FONTCONFIG_FILE") && (r = spec_set_env(s, "FONTCONFIG_FILE", FONTS_CONF, err)) < 0)
            return r;
    }
    if (data_dirs[0]) {
        const char *have = spec_get_env(s, "XDG_DATA_DIRS");
        _cleanup_free_ char *v = NULL;
        if (asprintf(&v, "%s%s", have ? have : "/usr/local/share:/usr/share", data_dirs) < 0)
            return ab_fail(err, ENOMEM, "cannot set XDG_DATA_DIRS");
        if ((r = spec_set_env(s, "XDG_DATA_DIRS", v, err)) < 0)
            return r;
        /* libXcursor does not read XDG_DATA_DIRS: its own path, the
         * root's places first */
        _cleanup_free_ char *xc = NULL;
        if (asprintf(&xc, "~/.local/share/icons:~/.icons:/usr/share/icons:/usr/share/pixmaps%s%s%s%s%s",
                     strstr(data_dirs, "/user-share") ? ":" HOSTFILES_DIR "/user-share/icons" : "",
                     strstr(data_dirs, "/user-dot") ? ":" HOSTFILES_DIR "/user-dot/icons" : "",
                     strstr(data_dirs, HOSTFILES_DIR "/share") ? ":" HOSTFILES_DIR "/share/icons" : "",
                     strstr(data_dirs, "/local-share") ? ":" HOSTFILES_DIR "/local-share/icons" : "", "") < 0)
            return ab_fail(err, ENOMEM, "cannot set XCURSOR_PATH");
        if (!spec_get_env(s, "XCURSOR_PATH") && (r = spec_set_env(s, "XCURSOR_PATH", xc, err)) < 0)
            return r;
    }
    if ((r = pass_env(s, "XCURSOR_THEME", err)) < 0 || (r = pass_env(s, "XCURSOR_SIZE", err)) < 0)
        return r;
    /* The time zone: the file /etc/localtime names, never over the root's
     * own /etc/localtime (often a link into the root's zoneinfo, whose
     * file a bind would replace); TZ names it, or is the caller's own. */
    int zone = 0;
    if (c->root && (zone = bind_system(s, "/etc/localtime", LOCALTIME, false, err)) < 0)
        return zone;
    if (!spec_get_env(s, "TZ")) {
        const char *tz = getenv("TZ");
        if (tz && *tz && strlen(tz) <= 256 && !strpbrk(tz, "\n\r"))
            r = spec_set_env(s, "TZ", tz, err);
        else if (zone > 0)
            r = spec_set_env(s, "TZ", ":" LOCALTIME, err);
        else
            r = 0;
        if (r < 0)
            return r;
    }
    return 0;
}

const char *hostfiles_describe(const struct spec_container *c, char *buf, size_t len)
{
    if (c->display.mode == DISPLAY_NONE)
        snprintf(buf, len, "none (no display)");
    else if (c->no_host_files)
        snprintf(buf, len, "off (--desktop-files no)");
    else
        snprintf(buf, len, "the host's fonts, icon and cursor themes and time zone, read-only under " HOSTFILES_DIR);
    return buf;
}
