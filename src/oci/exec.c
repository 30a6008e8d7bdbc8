/* appbox-oci exec: a new process in a running container. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "oci/cli.h"
#include "oci/config.h"
#include "oci/seccomp.h"
#include "runtime/oci_run.h"
#include "util/cleanup.h"
#include "util/fsutil.h"

/* runc's exit code when exec itself fails (the process's own 1 stays
 * distinguishable) */
#define EXEC_FAILED 255

static int parse_id(const char *s, unsigned long *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (!*s || *end || errno || v > 0xfffffffeUL || *s == '-')
        return -1;
    *out = v;
    return 0;
}

/* K=V into ENV, replacing K's entry when there is one. */
static int set_env(strv *env, const char *kv)
{
    size_t klen = strcspn(kv, "=") + 1;
    for (size_t i = 0; i < env->n; i++)
        if (strncmp(env->v[i], kv, klen) == 0) {
            char *c = strdup(kv);
            if (!c)
                return -ENOMEM;
            free(env->v[i]);
            env->v[i] = c;
            return 0;
        }
    return strv_push(env, kv);
}

/* The command line's process onto the config's (runc's exec semantics:
 * the container's process with these changes). */
static int apply_flags(struct oci_cli *cli, struct oci_args *a, struct oci_config *cfg)
{
    struct spec_process *p = &cfg->spec.process;
    struct spec_oci *o = &cfg->oci;
    strv_clear(&p->argv);
    for (int i = 1; i < a->npos; i++)
        if (strv_push(&p->argv, a->pos[i]) < 0)
            return oci_error(cli, "out of memory");
    p->terminal = a->opt[EXEC_TTY].set;
    if (a->opt[EXEC_CWD].set) {
        if (a->opt[EXEC_CWD].value[0] != '/')
            return oci_error(cli, "exec: --cwd: '%s' is not an absolute path", a->opt[EXEC_CWD].value);
        free(p->cwd);
        if (!(p->cwd = strdup(a->opt[EXEC_CWD].value)))
            return oci_error(cli, "out of memory");
    }
    const strv *env = &a->opt[EXEC_ENV].list;
    for (size_t i = 0; i < env->n; i++) {
        if (!strchr(env->v[i], '=') || env->v[i][0] == '=')
            return oci_error(cli, "exec: --env: '%s' is not KEY=VALUE", env->v[i]);
        if (set_env(&p->env, env->v[i]) < 0)
            return oci_error(cli, "out of memory");
    }
    if (a->opt[EXEC_USER].set) {
        const char *u = a->opt[EXEC_USER].value;
        _cleanup_free_ char *copy = strdup(u);
        if (!copy)
            return oci_error(cli, "out of memory");
        char *colon = strchr(copy, ':');
        if (colon)
            *colon = '\0';
        unsigned long uid, gid = 0;
        if (parse_id(copy, &uid) < 0 || (colon && parse_id(colon + 1, &gid) < 0))
            return oci_error(cli, "exec: --user: '%s' is not UID[:GID] (numbers: nothing is looked up in the "
                                  "container's passwd)",
                             u);
        p->uid_set = true;
        p->uid = (uid_t)uid;
        p->user.uid = (uid_t)uid;
        /* UID alone keeps config.json's gid, as runc */
        if (colon)
            p->user.gid = (gid_t)gid;
    }
    const strv *gids = &a->opt[EXEC_ADDITIONAL_GIDS].list;
    for (size_t i = 0; i < gids->n; i++) {
        unsigned long g;
        if (parse_id(gids->v[i], &g) < 0)
            return oci_error(cli, "exec: --additional-gids: '%s' is not a group id (a number)", gids->v[i]);
        gid_t *n = realloc(o->additional_gids, (o->n_additional_gids + 1) * sizeof(*n));
        if (!n)
            return oci_error(cli, "out of memory");
        o->additional_gids = n;
        o->additional_gids[o->n_additional_gids++] = (gid_t)g;
    }
    const strv *caps = &a->opt[EXEC_CAP].list;
    for (size_t i = 0; i < caps->n; i++) {
        char name[64];
        snprintf(name, sizeof(name), "%s%s", strncasecmp(caps->v[i], "CAP_", 4) == 0 ? "" : "CAP_", caps->v[i]);
        for (char *c = name; *c; c++)
            *c = (char)(*c >= 'a' && *c <= 'z' ? *c - 32 : *c);
        int cap = oci_cap_from_name(name);
        if (cap < 0)
            return oci_error(cli, "exec: --cap: '%s' is not a capability (e.g. CAP_NET_ADMIN)", caps->v[i]);
        uint64_t bit = 1ULL << cap;
        o->cap_bounding |= bit;
        o->cap_effective |= bit;
        o->cap_permitted |= bit;
        /* ambient needs inheritable, which --cap does not add (runc) */
        if (o->cap_inheritable)
            o->cap_ambient |= bit;
    }
    if (a->opt[EXEC_NO_NEW_PRIVS].set)
        o->no_new_privileges = true;
    return 0;
}

static int do_exec(struct oci_cli *cli, struct oci_args *a)
{
    const char *id = a->pos[0];
    bool detach = a->opt[EXEC_DETACH].set;
    const char *console = a->opt[EXEC_CONSOLE_SOCKET].set ? a->opt[EXEC_CONSOLE_SOCKET].value : NULL;
    int preserve = 0;
    if (a->opt[EXEC_PRESERVE_FDS].set &&
        oci_parse_preserve_fds(cli, "exec: --preserve-fds", a->opt[EXEC_PRESERVE_FDS].value, &preserve))
        return 1;
    if (a->opt[EXEC_CGROUP].set)
        return oci_error(cli, "exec: --cgroup: '%s': a sub-cgroup is not supported (the process joins the "
                              "container's own groups)",
                         a->opt[EXEC_CGROUP].value);
    if (a->opt[EXEC_PROCESS].set && a->npos > 1)
        return oci_error(cli, "exec: --process %s and a command (%s) cannot both be given", a->opt[EXEC_PROCESS].value,
                         a->pos[1]);
    if (!a->opt[EXEC_PROCESS].set && a->npos < 2)
        return oci_error(cli, "exec: no command: %s exec [options] %s COMMAND [ARG...], or --process FILE",
                         OCI_CLI_NAME, id);
    if (a->opt[EXEC_APPARMOR].set || a->opt[EXEC_PROCESS_LABEL].set)
        oci_warn(cli, "exec: --apparmor and --process-label are ignored: appbox-oci applies no LSM label");
    ab_error err = { 0 };
    _cleanup_pid_file_ struct oci_pid_file pid_file = { .dirfd = -1 };
    if (a->opt[EXEC_PID_FILE].set && oci_pid_file_open(a->opt[EXEC_PID_FILE].value, &pid_file, &err) < 0)
        return oci_report(cli, &err);
    _cleanup_ctr_ struct oci_ctr c;
    if (oci_ctr_open(cli, id, false, &c))
        return 1;
    struct oci_config cfg = { 0 };
    int code = 0;
    _cleanup_close_ int console_fd = -1;
    enum oci_status s = c.status;
    if (s == OCI_STATUS_STOPPED || s == OCI_STATUS_CREATING)
        code = oci_error(cli, "cannot exec in a %s container (%s)", oci_status_name(s), id);
    else if (s == OCI_STATUS_PAUSED && !a->opt[EXEC_IGNORE_PAUSED].set)
        code = oci_error(cli, "cannot exec in a paused container (%s; --ignore-paused to do it anyway)", id);
    else if (oci_saved_config(c.dirfd, &c.st, &cfg, &err) < 0)
        code = oci_report(cli, &err);
    if (code == 0 && a->opt[EXEC_PROCESS].set) {
        const char *path = a->opt[EXEC_PROCESS].value;
        _cleanup_free_ char *text = fs_read_file_at(AT_FDCWD, path, false, OCI_CONFIG_MAX);
        if (!text)
            code = oci_error(cli, "exec: --process: cannot read %s: %s", path, strerror(errno));
        else if (oci_process_parse(text, path, &cfg, &err) < 0)
            code = oci_report(cli, &err);
    } else if (code == 0) {
        code = apply_flags(cli, a, &cfg);
    }
    bool tty = cfg.spec.process.terminal;
    if (code == 0 && detach && tty && !console)
        code = oci_error(cli, "exec: a detached process with a terminal needs --console-socket to hand it to");
    else if (code == 0 && console && !(detach && tty))
        code = oci_error(cli, "exec: --console-socket is only for a detached process with a terminal (--detach "
                              "and --tty, or process.terminal)");
    if (code == 0 && console && (console_fd = oci_console_connect(cli, console)) < 0)
        code = 1;
    if (code == 0 && cfg.seccomp &&
        oci_seccomp_compile(cfg.seccomp, "config.json: linux.seccomp", &cfg.oci, &err) < 0)
        code = oci_report(cli, &err);
    pid_t pid = 0;
    int exit_code = 0;
    if (code == 0) {
        cfg.oci.preserve_fds = preserve;
        struct oci_exec_params p = {
            .init_pid = c.st.pid, .cgroups = &c.st.cgroups, .console_fd = console_fd, .detach = detach,
            .preserve_fds = preserve,
        };
        if (oci_run_exec(&cfg.spec, &p, &pid, &exit_code, &err) < 0)
            code = oci_report(cli, &err);
        else if (!detach)
            code = -1 - exit_code;   /* the process's own status, passed through below */
    }
    if (code == 0 && a->opt[EXEC_PID_FILE].set) {
        if (!detach || pid <= 0)
            oci_warn(cli, "exec: --pid-file: no pid to write without --detach");
        else if (oci_pid_file_write(&pid_file, pid, &err) < 0)
            code = oci_report(cli, &err);
    }
    oci_config_free(&cfg);
    return code;
}

int oci_cmd_exec(struct oci_cli *cli, struct oci_args *a)
{
    int code = do_exec(cli, a);
    if (code < 0)
        return -1 - code;
    return code ? EXEC_FAILED : 0;
}
