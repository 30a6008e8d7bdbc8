/* export: a container's root as a tar archive (create --base tar:FILE
 * makes a container of it again). */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "container/container.h"
#include "container/copy.h"
#include "container/store.h"
#include "desktop/desktop_entry.h"
#include "util/cleanup.h"

#define EXPORT_USAGE "appbox export [--force] NAME FILE.tar | appbox export NAME --app APP [--remove]"

/* An application's name: the file name of its entry without .desktop. */
static bool app_name_ok(const char *a)
{
    if (!a[0] || a[0] == '.' || a[0] == '-' || strlen(a) > 200)
        return false;
    for (const char *p = a; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              strchr("._+-", *p)))
            return false;
    return true;
}

/* A value taken from the container's entry: one line, printable. */
static bool value_ok(const char *v)
{
    for (const unsigned char *p = (const unsigned char *)v; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return false;
    return true;
}

static const char *const icon_exts[] = { ".png", ".svg", ".xpm", NULL };

/* The icon of the entry, copied out of the container to the host's icons
 * folder; *OUT: the Icon value to write (a path, or the theme name when
 * nothing could be copied), NULL for none. */
static void export_icon(struct container *c, const char *name, const char *app, const char *icon, char **out)
{
    *out = NULL;
    if (!icon || !icon[0] || !value_ok(icon))
        return;
    char cands[4][PATH_MAX];
    size_t n = 0;
    if (icon[0] == '/') {
        snprintf(cands[n++], PATH_MAX, "%s", icon);
    } else if (app_name_ok(icon)) {
        snprintf(cands[n++], PATH_MAX, "/usr/share/icons/hicolor/scalable/apps/%s.svg", icon);
        snprintf(cands[n++], PATH_MAX, "/usr/share/icons/hicolor/48x48/apps/%s.png", icon);
        snprintf(cands[n++], PATH_MAX, "/usr/share/pixmaps/%s.png", icon);
    } else {
        fprintf(stderr, "appbox: export: Icon '%s' is not a file or a theme name: left out\n", icon);
        return;
    }
    _cleanup_free_ char *dir = desktop_data_dir("icons/appbox");
    for (size_t i = 0; i < n && dir; i++) {
        const char *ext = NULL;
        for (size_t k = 0; icon_exts[k]; k++) {
            size_t a = strlen(cands[i]), b = strlen(icon_exts[k]);
            if (a > b && strcmp(cands[i] + a - b, icon_exts[k]) == 0)
                ext = icon_exts[k];
        }
        if (!ext) {
            fprintf(stderr, "appbox: export: Icon %s is not a .png, .svg or .xpm file: left out\n", cands[i]);
            return;
        }
        ab_error err = { 0 };
        _cleanup_free_ char *data = NULL, *file = NULL;
        size_t len;
        if (container_read_file(c, cands[i], DESKTOP_ICON_MAX, &data, &len, &err) < 0) {
            if (icon[0] == '/')
                fprintf(stderr, "appbox: export: the icon was left out: %s\n", err.msg);
            continue;
        }
        if (asprintf(&file, "appbox-%s-%s%s", name, app, ext) < 0)
            return;
        if (desktop_write(c->ctx, name, dir, file, data, len, &err) < 0) {
            fprintf(stderr, "appbox: export: the icon was left out: %s\n", err.msg);
            return;
        }
        if (asprintf(out, "%s/%s", dir, file) < 0)
            *out = NULL;
        return;
    }
    if (icon[0] != '/')
        *out = strdup(icon);
}

static int export_app_remove(struct ab_ctx *ctx, const char *name, const char *app)
{
    if (!store_exists(ctx, name))
        return cmd_fail("export", "no container named '%s' (see appbox list)", name);
    strv all = { 0 };
    desktop_recorded(ctx, name, &all);
    char prefix[512];
    snprintf(prefix, sizeof(prefix), "appbox-%s-%s.", name, app);
    int removed = 0;
    for (size_t i = 0; i < all.n; i++) {
        const char *base = strrchr(all.v[i], '/') + 1;
        if (strncmp(base, prefix, strlen(prefix)) != 0)
            continue;
        if (desktop_remove(name, all.v[i]) > 0) {
            printf("removed %s\n", all.v[i]);
            removed++;
        }
        desktop_forget(ctx, name, all.v[i]);
    }
    strv_clear(&all);
    if (!removed)
        return cmd_fail("export", "%s has no exported entry for %s", name, app);
    return 0;
}


/* MimeType= of an exported entry without x-scheme-handler/... types: a
 * container must not become the user's handler for https: or mailto:
 * links (they would be handed every URL the user opens); file types stay. */
static void drop_scheme_handlers(char *types)
{
    char *out = types;
    for (char *p = types; *p;) {
        size_t n = strcspn(p, ";");
        bool scheme = strncmp(p, "x-scheme-handler/", 17) == 0;
        if (!scheme && n > 0) {
            memmove(out, p, n);
            out += n;
            *out++ = ';';
        }
        p += n + (p[n] == ';');
    }
    *out = '\0';
}

static int export_app(struct ab_ctx *ctx, const char *name, const char *app_arg, bool remove)
{
    _cleanup_free_ char *app = strdup(app_arg);
    if (!app)
        return cmd_fail("export", "out of memory");
    size_t al = strlen(app);
    if (al > 8 && strcmp(app + al - 8, ".desktop") == 0)
        app[al - 8] = '\0';
    if (!app_name_ok(app))
        return cmd_usage_error("export", "--app: '%s' is not an application name (letters, digits, . _ + -: the "
                                         "file name in /usr/share/applications without .desktop)", app_arg);
    if (remove)
        return export_app_remove(ctx, name, app);
    _cleanup_free_ char *apps = desktop_data_dir("applications");
    if (!apps)
        return cmd_fail("export", "--app: HOME is not set (no applications folder)");
    struct container c;
    int code = cmd_open_for_copy(ctx, "export", name, &c);
    if (code)
        return code;
    ab_error err = { 0 };
    char src[PATH_MAX];
    snprintf(src, sizeof(src), "/usr/share/applications/%s.desktop", app);
    _cleanup_free_ char *text = NULL;
    size_t len = 0;
    if (container_read_file(&c, src, DESKTOP_ENTRY_MAX, &text, &len, &err) < 0) {
        container_close(&c);
        return cmd_report(&err);
    }
    _cleanup_free_ char *type = NULL, *title = NULL, *exec = NULL, *icon = NULL, *newexec = NULL, *iconv = NULL;
    int r = 0;
    if (memchr(text, '\0', len))
        r = ab_fail(&err, 0, "%s:%s: not a text file", name, src);
    else if (!(type = desktop_entry_value(text, "Type")) || strcmp(type, "Application") != 0)
        r = ab_fail(&err, 0, "%s:%s: not an application's entry (Type=Application)", name, src);
    else if (!(title = desktop_entry_value(text, "Name")) || !title[0] || !value_ok(title))
        r = ab_fail(&err, 0, "%s:%s: no Name", name, src);
    else if (!(exec = desktop_entry_value(text, "Exec")) || !value_ok(exec))
        r = ab_fail(&err, 0, "%s:%s: no Exec", name, src);
    else if (desktop_exec_rewrite(cmd_self_path(), name, exec, &newexec, &err) < 0)
        r = ab_error_prefix(&err, "%s:%s", name, src);
    if (r == 0) {
        icon = desktop_entry_value(text, "Icon");
        export_icon(&c, name, app, icon, &iconv);
    }
    container_close(&c);
    if (r < 0)
        return cmd_report(&err);
    /* A new entry, of appbox's making: only these keys of the container's */
    char *out = NULL;
    size_t outlen = 0;
    FILE *f = open_memstream(&out, &outlen);
    if (!f)
        return cmd_fail("export", "out of memory");
    fprintf(f, "[Desktop Entry]\nType=Application\nName=%s (%s)\nExec=%s\n", title, name, newexec);
    if (iconv && value_ok(iconv))
        fprintf(f, "Icon=%s\n", iconv);
    static const char *const keep[] = { "GenericName", "Comment", "Categories", "MimeType", "Keywords",
                                        "StartupWMClass", NULL };
    for (size_t i = 0; keep[i]; i++) {
        _cleanup_free_ char *v = desktop_entry_value(text, keep[i]);
        if (v && strcmp(keep[i], "MimeType") == 0)
            drop_scheme_handlers(v);
        if (v && v[0] && value_ok(v))
            fprintf(f, "%s=%s\n", keep[i], v);
    }
    _cleanup_free_ char *term = desktop_entry_value(text, "Terminal");
    if (term && (strcmp(term, "true") == 0 || strcmp(term, "false") == 0))
        fprintf(f, "Terminal=%s\n", term);
    fprintf(f, DESKTOP_MARKER "=%s\nX-Appbox-App=%s\n", name, app);
    fclose(f);
    _cleanup_free_ char *file = NULL;
    if (asprintf(&file, "appbox-%s-%s.desktop", name, app) < 0) {
        free(out);
        return cmd_fail("export", "out of memory");
    }
    r = desktop_write(ctx, name, apps, file, out, outlen, &err);
    free(out);
    if (r < 0)
        return cmd_report(&err);
    printf("exported %s: %s/%s\n", app, apps, file);
    return 0;
}


int cmd_export(struct ab_ctx *ctx, int argc, char **argv)
{
    bool force = false, dashdash = false, remove = false;
    const char *name = NULL, *file = NULL, *app = NULL;
    for (int i = 0; i < argc; i++) {
        if (!dashdash && cmd_is_help(argv[i])) {
            printf("Usage: appbox export [--force] NAME FILE.tar\n"
                   "       appbox export NAME --app APP [--remove]\n"
                   "\nWrite the root file system of the container NAME to FILE.tar, as the\n"
                   "container sees it (its ids, modes, set-id bits, links); a container\n"
                   "created from the base tar:FILE.tar has the same root.  What is mounted on the\n"
                   "root (/proc, /dev, /tmp, binds) is not included.  A running container may\n"
                   "be exported: files it changes meanwhile are caught as they are.  An\n"
                   "existing FILE is refused unless --force.\n"
                   "\n--app APP: publish the application's entry /usr/share/applications/APP.desktop\n"
                   "of the container NAME (read inside it, at most 64 KiB) as\n"
                   "~/.local/share/applications/appbox-NAME-APP.desktop, which runs it with\n"
                   "appbox run NAME (its command line quoted again); its icon is copied to\n"
                   "~/.local/share/icons/appbox.\n"
                   "--remove takes them away again; appbox rm NAME does too.\n");
            return 0;
        }
        if (!dashdash && strcmp(argv[i], "--") == 0)
            dashdash = true;
        else if (!dashdash && (strcmp(argv[i], "--force") == 0 || strcmp(argv[i], "-f") == 0))
            force = true;
        else if (!dashdash && strcmp(argv[i], "--remove") == 0)
            remove = true;
        else if (!dashdash && strcmp(argv[i], "--app") == 0) {
            if (i + 1 >= argc)
                return cmd_usage_error("export", "--app: missing APP (usage: " EXPORT_USAGE ")");
            app = argv[++i];
        } else if (!dashdash && argv[i][0] == '-' && argv[i][1])
            return cmd_usage_error("export", "%s: unknown option (allowed: --force, --app, --remove)", argv[i]);
        else if (!name)
            name = argv[i];
        else if (!file)
            file = argv[i];
        else
            return cmd_usage_error("export", "unexpected argument '%s'", argv[i]);
    }
    if (app || remove) {
        if (!app)
            return cmd_usage_error("export", "--remove goes with --app APP (usage: " EXPORT_USAGE ")");
        if (!name)
            return cmd_usage_error("export", "missing NAME (usage: " EXPORT_USAGE ")");
        if (file)
            return cmd_usage_error("export", "unexpected argument '%s': --app publishes an entry, not a tar file",
                                   file);
        if (force)
            return cmd_usage_error("export", "--force goes with FILE.tar, not --app");
        return export_app(ctx, name, app, remove);
    }
    if (!name || !file)
        return cmd_usage_error("export", "missing %s (usage: " EXPORT_USAGE ")",
                               name ? "FILE" : "NAME and FILE");
    if (!file[0] || file[strlen(file) - 1] == '/')
        return cmd_usage_error("export", "'%s': not a file name", file);
    struct stat fst;
    if (!force && lstat(file, &fst) == 0)
        return cmd_usage_error("export", "%s exists (use --force to replace it)", file);

    struct container c;
    int code = cmd_open_for_copy(ctx, "export", name, &c);
    if (code)
        return code;
    ab_error err = { 0 };
    if (c.cc.base && strcmp(c.cc.base, "host") == 0) {
        container_close(&c);
        ab_error_set(&err, AB_ERR_USAGE, 0, "%s is a view of the host: it has no root of its own to export", name);
        return cmd_report(&err);
    }
    /* Written to a temporary file next to FILE and renamed at the end: a
     * failed export leaves nothing, and an old FILE stays until then. */
    _cleanup_free_ char *copy = strdup(file), *tmp = NULL;
    if (!copy || asprintf(&tmp, "%s/.%s.appbox-XXXXXX", dirname(copy), basename((char *)file)) < 0) {
        container_close(&c);
        return cmd_report(&(ab_error){ .kind = AB_ERR_RUNTIME, .msg = "out of memory" });
    }
    int fd = mkstemp(tmp);
    if (fd < 0) {
        ab_fail(&err, errno, "cannot create %s", file);
        container_close(&c);
        return cmd_report(&err);
    }
    /* a regular file's mode, as a plain creation would give it */
    mode_t um = umask(0);
    umask(um);
    fchmod(fd, 0666 & ~um);
    struct copy_stats st = { 0 };
    int r = container_export(&c, fd, &st, &err);
    container_close(&c);
    if (r == 0 && fsync(fd) < 0)
        r = ab_fail(&err, errno, "cannot write %s", file);
    close(fd);
    if (r == 0 && (force ? rename(tmp, file) : renameat2(AT_FDCWD, tmp, AT_FDCWD, file, RENAME_NOREPLACE)) < 0)
        r = ab_fail(&err, errno, "cannot create %s", file);
    if (r < 0) {
        unlink(tmp);
        return cmd_report(&err);
    }
    return 0;
}
