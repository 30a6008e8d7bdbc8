/* Launchers: ~/.local/bin/COMMAND, a two-line script that runs
 * `appbox run NAME`.  It holds no configuration: nothing the container can
 * write is ever executed by it or by appbox. */
#include <errno.h>
#include <fcntl.h>
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
#include "util/fsutil.h"

#define MARKER "# appbox launcher"

static char *launcher_dir(void)
{
    const char *home = getenv("HOME");
    char *d;
    if (!home || home[0] != '/' || asprintf(&d, "%s/.local/bin", home) < 0)
        return NULL;
    return d;
}

static int is_ours(const char *path)
{
    _cleanup_free_ char *t = fs_read_file_at(AT_FDCWD, path, false, 65536);
    return t && strstr(t, MARKER) != NULL;
}

/* The container a launcher runs, from its marker line ("# appbox launcher
 * for the container NAME (...)"); malloc'd, or NULL when there is none. */
static char *launcher_owner(const char *path)
{
    _cleanup_free_ char *t = fs_read_file_at(AT_FDCWD, path, false, 65536);
    const char *m = t ? strstr(t, MARKER " for the container ") : NULL;
    if (!m)
        return NULL;
    m += strlen(MARKER " for the container ");
    return strndup(m, strcspn(m, " \n"));
}

/* Whether NAME may have the launcher PATH: refused when PATH is someone
 * else's file, or the launcher of another container that still exists
 * (taking it over would make that command run NAME instead). */
static int launcher_check_path(struct ab_ctx *ctx, const char *name, const char *path, ab_error *err)
{
    if (access(path, F_OK) < 0)
        return 0;
    if (!is_ours(path))
        return ab_usage(err, "launcher: %s exists and is not an appbox launcher; choose another name with --as",
                        path);
    _cleanup_free_ char *owner = launcher_owner(path);
    if (owner && strcmp(owner, name) != 0 && store_name_valid(owner) && store_exists(ctx, owner))
        return ab_usage(err, "launcher: %s is the launcher of the container %s; choose another name with --as",
                        path, owner);
    return 0;
}

char *launcher_shadowed(const char *command, const char *launcher)
{
    struct stat self;
    bool have_self = launcher && stat(launcher, &self) == 0;
    _cleanup_free_ char *dir = launcher ? strdup(launcher) : NULL;
    if (dir && strrchr(dir, '/'))
        *strrchr(dir, '/') = '\0';
    const char *p = getenv("PATH");
    for (const char *s = p; s && *s;) {
        const char *e = strchrnul(s, ':');
        size_t len = (size_t)(e - s);
        /* only absolute folders: a relative one means another folder in
         * every directory the user is in */
        if (len > 0 && s[0] == '/' && !(dir && strlen(dir) == len && strncmp(s, dir, len) == 0)) {
            char *cand;
            struct stat st;
            if (asprintf(&cand, "%.*s/%s", (int)len, s, command) < 0)
                return NULL;
            if (stat(cand, &st) == 0 && S_ISREG(st.st_mode) && access(cand, X_OK) == 0 &&
                !(have_self && st.st_dev == self.st_dev && st.st_ino == self.st_ino))
                return cand;
            free(cand);
        }
        s = *e ? e + 1 : e;
    }
    return NULL;
}

/* Whether NAME may install its launcher as AS (or NAME); 0 when HOME is
 * not set (launcher_install says so).  Apart from launcher_install so that
 * a caller with work to do first (create) can refuse before doing it.  A
 * command of that name elsewhere on PATH is refused unless REPLACES: the
 * launcher would take its place (or be hidden by it) without a word. */
int launcher_check(struct ab_ctx *ctx, const char *name, const char *as, bool replaces, ab_error *err)
{
    _cleanup_free_ char *dir = launcher_dir();
    _cleanup_free_ char *path = NULL;
    if (!dir)
        return 0;
    const char *command = as ? as : name;
    if (asprintf(&path, "%s/%s", dir, command) < 0)
        return ab_fail(err, ENOMEM, "out of memory");
    int r = launcher_check_path(ctx, name, path, err);
    if (r < 0 || replaces)
        return r;
    _cleanup_free_ char *other = launcher_shadowed(command, path);
    if (other)
        return ab_usage(err, "launcher: '%s' is already a command on your PATH (%s): a launcher %s would stand for "
                             "it; name the launcher otherwise with --as COMMAND, or say that it is meant with "
                             "--launcher-replaces", command, other, path);
    return 0;
}

static void shell_quote(FILE *f, const char *s)
{
    fputc('\'', f);
    for (; *s; s++)
        *s == '\'' ? fputs("'\\''", f) : fputc(*s, f);
    fputc('\'', f);
}

/* A name or a theme icon's name taken from the container's entry: plain. */
static bool plain_word(const char *v, bool spaces)
{
    if (!v || !v[0] || strlen(v) > 200)
        return false;
    for (const char *p = v; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              strchr("._+-", *p) || (spaces && (*p == ' ' || *p == '(' || *p == ')'))))
            return false;
    return true;
}

/* The Name and Icon of the container's own entry for its Run= command
 * (/usr/share/applications/COMMAND.desktop), read inside the container (it
 * is started for that when stopped; nothing when that fails). */
static void run_entry(struct ab_ctx *ctx, const char *name, const char *run, char **title, char **icon)
{
    strv argv = { 0 };
    if (conf_split_command(run, &argv) < 0 || argv.n == 0) {
        strv_clear(&argv);
        return;
    }
    const char *base = strrchr(argv.v[0], '/') ? strrchr(argv.v[0], '/') + 1 : argv.v[0];
    char src[300];
    bool ok = plain_word(base, false) && base[0] != '.';
    snprintf(src, sizeof(src), "/usr/share/applications/%s.desktop", base);
    strv_clear(&argv);
    if (!ok)
        return;
    struct container c;
    ab_error err = { 0 };
    memset(&c, 0, sizeof(c));
    _cleanup_free_ char *text = NULL;
    size_t len;
    if (container_open_to_join(ctx, name, &c, &err) == 0 &&
        container_read_file(&c, src, DESKTOP_ENTRY_MAX, &text, &len, &err) == 0 && !memchr(text, '\0', len)) {
        char *t = desktop_entry_value(text, "Name"), *i = desktop_entry_value(text, "Icon");
        if (plain_word(t, true))
            *title = t;
        else
            free(t);
        /* a theme name only: a path would be the container's file */
        if (plain_word(i, false))
            *icon = i;
        else
            free(i);
    }
    container_close(&c);
}

/* For a container with a display: appbox-NAME.desktop, which runs the
 * launcher at PATH.  Its Name is the container's (or, with LOOKUP, that of
 * the container's own entry for its Run= command, with its theme icon); a
 * container without Run= opens its login shell, in a terminal. */
static void launcher_desktop_entry(struct ab_ctx *ctx, const char *name, const char *path, bool lookup, int quiet)
{
    struct container c;
    ab_error err = { 0 };
    memset(&c, 0, sizeof(c));
    if (container_open(ctx, name, &c, &err) < 0 || c.cc.spec.container.display.mode == DISPLAY_NONE) {
        container_close(&c);
        return;
    }
    bool terminal = !c.cc.run;
    _cleanup_free_ char *run = c.cc.run ? strdup(c.cc.run) : NULL;
    container_close(&c);
    _cleanup_free_ char *title = NULL, *icon = NULL;
    if (lookup && run)
        run_entry(ctx, name, run, &title, &icon);
    _cleanup_free_ char *apps = desktop_data_dir("applications");
    _cleanup_free_ char *exec = desktop_exec_quote(path), *text = NULL, *file = NULL;
    if (!apps || !exec || asprintf(&file, "appbox-%s.desktop", name) < 0 ||
        asprintf(&text, "[Desktop Entry]\nType=Application\nName=%s%s%s%s\nComment=the appbox container %s\n"
                        "Exec=%s\nIcon=%s\nTerminal=%s\n" DESKTOP_MARKER "=%s\n",
                 title ? title : name, title ? " (" : "", title ? name : "", title ? ")" : "", name, exec,
                 icon ? icon : "application-x-executable", terminal ? "true" : "false", name) < 0)
        return;
    if (desktop_write(ctx, name, apps, file, text, strlen(text), &err) < 0)
        fprintf(stderr, "appbox: warning: launcher: no menu entry: %s\n", err.msg);
    else if (!quiet)
        printf("menu entry: %s/%s\n", apps, file);
}

static void launcher_desktop_entry_remove(struct ab_ctx *ctx, const char *name)
{
    _cleanup_free_ char *apps = desktop_data_dir("applications");
    _cleanup_free_ char *path = NULL;
    if (!apps || asprintf(&path, "%s/appbox-%s.desktop", apps, name) < 0)
        return;
    desktop_remove(name, path);
    desktop_forget(ctx, name, path);
}

static int install(struct ab_ctx *ctx, const char *name, const char *as, bool replaces, bool lookup, int quiet)
{
    ab_error err = { 0 };
    _cleanup_free_ char *dir = launcher_dir();
    if (!dir) {
        fprintf(stderr, "appbox: cannot install a launcher: HOME is not set\n");
        return 125;
    }
    if (fs_mkdirs(dir, false, &err) < 0)
        return cmd_report(&err);
    _cleanup_free_ char *path = NULL, *tmp = NULL, *record = store_path(ctx, name, "launcher", &err);
    if (asprintf(&path, "%s/%s", dir, as ? as : name) < 0 || asprintf(&tmp, "%s.appbox-tmp", path) < 0 || !record)
        return 125;
    if (launcher_check(ctx, name, as, replaces, &err) < 0)
        return cmd_report(&err);
    FILE *f = fopen(tmp, "we");
    if (!f) {
        fprintf(stderr, "appbox: launcher: cannot write %s: %s\n", tmp, strerror(errno));
        return 125;
    }
    fprintf(f, "#!/bin/sh\n" MARKER " for the container %s (remove with: appbox launcher remove %s)\nexec ", name,
            name);
    shell_quote(f, cmd_self_path());
    fputs(" run ", f);
    shell_quote(f, name);
    fputs(" -- \"$@\"\n", f);
    if (fclose(f) != 0 || chmod(tmp, 0755) < 0 || rename(tmp, path) < 0) {
        fprintf(stderr, "appbox: launcher: cannot install %s: %s\n", path, strerror(errno));
        unlink(tmp);
        return 125;
    }
    FILE *r = fopen(record, "we");
    if (r) {
        fprintf(r, "%s\n", path);
        fclose(r);
    }
    launcher_desktop_entry(ctx, name, path, lookup, quiet);
    if (!quiet) {
        printf("launcher: %s\n", path);
        const char *p = getenv("PATH");
        bool on_path = false;
        for (const char *s = p; s && *s;) {
            const char *e = strchrnul(s, ':');
            on_path |= (size_t)(e - s) == strlen(dir) && strncmp(s, dir, (size_t)(e - s)) == 0;
            s = *e ? e + 1 : e;
        }
        if (!on_path)
            fprintf(stderr, "appbox: warning: %s is not on your PATH; add it to run %s by name\n", dir,
                    as ? as : name);
    }
    return 0;
}

/* create's: no lookup in the container's entries (it would start it) */
int launcher_install(struct ab_ctx *ctx, const char *name, const char *as, bool replaces, int quiet)
{
    return install(ctx, name, as, replaces, false, quiet);
}

char *launcher_path(struct ab_ctx *ctx, const char *name)
{
    ab_error err = { 0 };
    _cleanup_free_ char *record = store_path(ctx, name, "launcher", &err);
    char *path = record ? fs_read_file_at(AT_FDCWD, record, false, 8192) : NULL;
    if (path)
        path[strcspn(path, "\n")] = '\0';
    return path;
}

void launcher_unlink(const char *path)
{
    if (path && is_ours(path))
        unlink(path);
}

int launcher_remove(struct ab_ctx *ctx, const char *name, int quiet)
{
    ab_error err = { 0 };
    _cleanup_free_ char *record = store_path(ctx, name, "launcher", &err);
    _cleanup_free_ char *path = launcher_path(ctx, name);
    if (!path) {
        if (!quiet)
            fprintf(stderr, "appbox: launcher: %s has no launcher\n", name);
        return quiet ? 0 : 125;
    }
    if (is_ours(path) && unlink(path) < 0 && errno != ENOENT) {
        fprintf(stderr, "appbox: launcher: cannot remove %s: %s\n", path, strerror(errno));
        return 125;
    }
    unlink(record);
    launcher_desktop_entry_remove(ctx, name);
    if (!quiet)
        printf("removed launcher %s\n", path);
    return 0;
}

#define LAUNCHER_USAGE                                                                                          \
    "appbox launcher install NAME [--as COMMAND] [--launcher-replaces] | appbox launcher remove NAME"

int cmd_launcher(struct ab_ctx *ctx, int argc, char **argv)
{
    for (int i = 0; i < argc; i++)
        if (cmd_is_help(argv[i])) {
            printf("Usage: " LAUNCHER_USAGE "\n"
                   "\nInstall or remove ~/.local/bin/NAME (or --as COMMAND), a script that runs\n"
                   "appbox run NAME.\n"
                   "--as COMMAND: name the launcher COMMAND instead of NAME.\n"
                   "--launcher-replaces: install it even though COMMAND is already a command on your\n"
                   "PATH (the launcher then stands for it where ~/.local/bin comes first).\n"
                   "\nFor a container with a display, install also writes the menu entry\n"
                   "~/.local/share/applications/appbox-NAME.desktop (named after the container's\n"
                   "own entry for its Run= command when it has one), and remove deletes it.\n");
            return 0;
        }
    /* Usage errors are errors: one line on stderr, exit 2, as every verb's. */
    if (argc < 1)
        return cmd_usage_error("launcher", "missing install or remove (usage: " LAUNCHER_USAGE ")");
    bool installing = strcmp(argv[0], "install") == 0;
    if (!installing && strcmp(argv[0], "remove") != 0)
        return cmd_usage_error("launcher", "'%s': unknown (allowed: install, remove)", argv[0]);
    if (argc < 2)
        return cmd_usage_error("launcher", "missing NAME (usage: " LAUNCHER_USAGE ")");
    const char *name = argv[1];
    const char *as = NULL;
    bool replaces = false;
    if (installing) {
        for (int i = 2; i < argc; i++) {
            if (strcmp(argv[i], "--as") == 0 && !as) {
                if (i + 1 >= argc)
                    return cmd_usage_error("launcher", "--as: missing value (usage: " LAUNCHER_USAGE ")");
                as = argv[++i];
            } else if (strcmp(argv[i], "--launcher-replaces") == 0) {
                replaces = true;
            } else {
                return cmd_usage_error("launcher", "unexpected argument '%s' (usage: " LAUNCHER_USAGE ")", argv[i]);
            }
        }
    } else if (argc != 2) {
        return cmd_usage_error("launcher", "unexpected argument '%s' (usage: appbox launcher remove NAME)", argv[2]);
    }
    ab_error err = { 0 };
    if (store_check_name(name, &err) < 0)
        return cmd_report(&err);
    if (!store_exists(ctx, name))
        return cmd_fail("launcher", "no container named '%s' (see appbox list)", name);
    if (as && !store_name_valid(as))
        return cmd_usage_error("launcher", "--as: '%s' is not a valid command name", as);
    return installing ? install(ctx, name, as, replaces, true, 0) : launcher_remove(ctx, name, 0);
}
