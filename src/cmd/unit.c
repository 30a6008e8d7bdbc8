/* appbox unit NAME [--user|--system] [--enable] [--stdout]: a systemd
 * unit, appbox-NAME.service, that starts the named container at login
 * (--user) or at boot (--system), as machinectl enable does for
 * systemd-nspawn@.service.  `appbox start` returns once the container
 * runs, leaving its supervisor behind: Type=forking with the supervisor's
 * pid file as PIDFile=. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "container/container.h"
#include "container/store.h"
#include "util/cleanup.h"
#include "util/fsutil.h"

#define UNIT_USAGE "appbox unit NAME [--user|--system] [--enable] [--stdout]"

/* VALUE as one word of a unit file's command line or assignment: in
 * double quotes, with \ and " escaped, and % doubled (a specifier). */
static void put_quoted(FILE *f, const char *value)
{
    fputc('"', f);
    for (const char *p = value; *p; p++) {
        if (*p == '"' || *p == '\\')
            fputc('\\', f);
        if (*p == '%')
            fputc('%', f);
        fputc(*p, f);
    }
    fputc('"', f);
}

static const char *const restart_values[] = { [SPEC_RESTART_NO] = "no", [SPEC_RESTART_ON_FAILURE] = "on-failure",
                                              [SPEC_RESTART_ALWAYS] = "always" };

static void write_unit(FILE *f, struct ab_ctx *ctx, const struct container *c, bool system, const char *pidfile)
{
    const struct spec_container *sc = &c->cc.spec.container;
    const char *self = cmd_self_path();
    fprintf(f, "# Made by `appbox unit %s%s`: starts the appbox container %s %s.\n", c->name,
            system ? " --system" : " --user", c->name, system ? "at boot" : "at login");
    fprintf(f, "[Unit]\nDescription=appbox container %s\n", c->name);
    if (system)
        fprintf(f, "Wants=network-online.target\nAfter=network-online.target\n");
    fprintf(f, "\n[Service]\n");
    /* `appbox start` returns once the container runs; its supervisor
     * stays, and stops when the container does */
    fprintf(f, "Type=forking\nPIDFile=%s\n", pidfile);
    /* the same store as the caller's, where it was not the default */
    static const char *const env[] = { "APPBOX_DATA_DIR", "APPBOX_RUNTIME_DIR" };
    for (size_t i = 0; i < sizeof(env) / sizeof(env[0]); i++) {
        const char *v = getenv(env[i]);
        if (v && *v) {
            char kv[4096];
            snprintf(kv, sizeof(kv), "%s=%s", env[i], v);
            fprintf(f, "Environment=");
            put_quoted(f, kv);
            fputc('\n', f);
        }
    }
    fprintf(f, "ExecStart=");
    put_quoted(f, self);
    fprintf(f, " start %s\nExecStop=", c->name);
    put_quoted(f, self);
    fprintf(f, " stop %s\n", c->name);
    int restart = c->cc.spec.container.restart;
    fprintf(f, "Restart=%s\n",
            restart >= 0 && (size_t)restart < sizeof(restart_values) / sizeof(restart_values[0]) ? restart_values[restart]
                                                                                               : "no");
    /* appbox stop waits its own timeout (10 s) before KILL */
    fprintf(f, "TimeoutStopSec=30\n");
    /* a booted systemd inside wants a cgroup v2 group it may manage */
    if (sc->init == SPEC_INIT_BOOT)
        fprintf(f, "Delegate=yes\n");
    fprintf(f, "\n[Install]\nWantedBy=%s\n", system ? "multi-user.target" : "default.target");
    (void)ctx;
}

/* systemctl [--user] ARGS..., its output the user's; its exit status. */
static int systemctl(bool user, const char *verb, const char *unit)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        return -errno;
    if (pid == 0) {
        if (user)
            execlp("systemctl", "systemctl", "--user", verb, unit, (char *)NULL);
        else
            execlp("systemctl", "systemctl", verb, unit, (char *)NULL);
        _exit(127);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return -errno;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Whether systemd runs here as the system manager (sd_booted()'s test)
 * or, for USER, whether the user's manager can be reached (its bus). */
static bool systemd_running(bool user)
{
    if (access("/run/systemd/system", F_OK) < 0)
        return false;
    if (!user)
        return true;
    const char *rt = getenv("XDG_RUNTIME_DIR");
    char bus[4096];
    snprintf(bus, sizeof(bus), "%s/systemd/private", rt ? rt : "");
    return rt && access(bus, F_OK) == 0;
}

int cmd_unit(struct ab_ctx *ctx, int argc, char **argv)
{
    const char *name = NULL;
    int user = -1; /* -1: as the caller is (root: --system) */
    bool enable = false, to_stdout = false;
    for (int i = 0; i < argc; i++) {
        if (cmd_is_help(argv[i])) {
            printf("Usage: " UNIT_USAGE "\n\nWrite a systemd unit appbox-NAME.service that starts NAME at login "
                   "(--user,\n~/.config/systemd/user, the default for an ordinary user) or at boot (--system,\n"
                   "/etc/systemd/system, root only, the default for root).\n"
                   "  --enable   enable it with systemctl (when systemd runs here)\n"
                   "  --stdout   print the unit instead of writing it\n");
            return 0;
        }
        if (strcmp(argv[i], "--user") == 0)
            user = 1;
        else if (strcmp(argv[i], "--system") == 0)
            user = 0;
        else if (strcmp(argv[i], "--enable") == 0)
            enable = true;
        else if (strcmp(argv[i], "--stdout") == 0)
            to_stdout = true;
        else if (argv[i][0] == '-')
            return cmd_usage_error("unit", "%s: unknown option (allowed: --user, --system, --enable, --stdout)",
                                   argv[i]);
        else if (!name)
            name = argv[i];
        else
            return cmd_usage_error("unit", "unexpected argument '%s' (usage: " UNIT_USAGE ")", argv[i]);
    }
    if (!name)
        return cmd_usage_error("unit", "missing NAME (usage: " UNIT_USAGE ")");
    if (user < 0)
        user = getuid() != 0;
    if (!user && getuid() != 0)
        return cmd_usage_error("unit", "--system writes /etc/systemd/system and starts the container as root at "
                                       "boot: only root may (use --user for a unit that starts it at your login)");
    if (enable && to_stdout)
        return cmd_usage_error("unit", "--enable needs the unit written, not --stdout");

    struct container c;
    ab_error err = { 0 };
    if (container_open(ctx, name, &c, &err) < 0)
        return cmd_report(&err);
    _cleanup_free_ char *pidfile = store_run_path(ctx, name, "supervisor.pid", &err);
    if (!pidfile) {
        container_close(&c);
        return cmd_report(&err);
    }
    char unit[300];
    snprintf(unit, sizeof(unit), "appbox-%s.service", name);
    if (to_stdout) {
        write_unit(stdout, ctx, &c, !user, pidfile);
        container_close(&c);
        return 0;
    }
    _cleanup_free_ char *dir = NULL;
    if (user) {
        const char *xdg = getenv("XDG_CONFIG_HOME");
        const char *home = getenv("HOME");
        if (xdg && xdg[0] == '/' ? asprintf(&dir, "%s/systemd/user", xdg) < 0
                                 : !home || home[0] != '/' || asprintf(&dir, "%s/.config/systemd/user", home) < 0) {
            container_close(&c);
            return cmd_fail("unit", "cannot find your configuration folder ($XDG_CONFIG_HOME or $HOME)");
        }
    } else if (!(dir = strdup("/etc/systemd/system"))) {
        container_close(&c);
        return cmd_fail("unit", "out of memory");
    }
    if (fs_mkdirs(dir, false, &err) < 0) {
        container_close(&c);
        return cmd_report(&err);
    }
    _cleanup_free_ char *path = NULL, *tmp = NULL;
    if (asprintf(&path, "%s/%s", dir, unit) < 0 || asprintf(&tmp, "%s/.%s.tmp", dir, unit) < 0) {
        container_close(&c);
        return cmd_fail("unit", "out of memory");
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        container_close(&c);
        return cmd_fail("unit", "cannot write %s: %s", tmp, strerror(e));
    }
    write_unit(f, ctx, &c, !user, pidfile);
    container_close(&c);
    if (fclose(f) != 0 || rename(tmp, path) < 0) {
        int e = errno;
        unlink(tmp);
        return cmd_fail("unit", "cannot write %s: %s", path, strerror(e));
    }
    printf("wrote %s\n", path);
    if (!enable)
        return 0;
    if (!systemd_running(user))
        return cmd_fail("unit", "cannot enable %s: systemd is not running here%s (the unit is written; enable it "
                                "with systemctl%s enable %s where it is)",
                        unit, user ? " for your user (no user manager)" : "", user ? " --user" : "", unit);
    int r = systemctl(user, "enable", unit);
    if (r != 0)
        return cmd_fail("unit", "systemctl%s enable %s failed (status %d)", user ? " --user" : "", unit, r);
    return 0;
}
