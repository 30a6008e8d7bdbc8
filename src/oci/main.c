/* appbox-oci: global options, the verb table, help, messages. */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <seccomp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "oci/cli.h"
#include "runtime/exe_guard.h"
#include "oci/oci.h"
#include "util/cleanup.h"

static const struct oci_opt create_opts[] = {
    [CREATE_BUNDLE] = { "bundle", 'b', OCI_OPT_VALUE, "DIR",
                        "path to the root of the bundle directory, defaults to the current directory" },
    [CREATE_CONSOLE_SOCKET] = { "console-socket", 0, OCI_OPT_VALUE, "PATH",
                                "path to an AF_UNIX socket which will receive a file descriptor referencing the "
                                "master end of the console's pseudoterminal" },
    [CREATE_PID_FILE] = { "pid-file", 0, OCI_OPT_VALUE, "PATH", "specify the file to write the process id to" },
    [CREATE_NO_PIVOT] = { "no-pivot", 0, OCI_OPT_BOOL, NULL, "accepted for runc's sake; appbox-oci always pivots" },
    [CREATE_NO_NEW_KEYRING] = { "no-new-keyring", 0, OCI_OPT_BOOL, NULL,
                                "accepted for runc's sake; no session keyring is made either way" },
    [CREATE_PRESERVE_FDS] = { "preserve-fds", 0, OCI_OPT_VALUE, "N",
                              "pass N additional file descriptors to the container (stdio + N "
                              "in total) (default: 0)" },
    [RUN_DETACH] = { "detach", 'd', OCI_OPT_BOOL, NULL, "detach from the container's process" },
    [RUN_KEEP] = { "keep", 0, OCI_OPT_BOOL, NULL, "do not delete the container after it exits" },
    [RUN_NO_SUBREAPER] = { "no-subreaper", 0, OCI_OPT_BOOL, NULL, "accepted for runc's sake" },
    [RUN_OPTS] = { NULL, 0, 0, NULL, NULL },
};
/* create: the same table without run's own */
static struct oci_opt create_only_opts[RUN_DETACH + 1];

static const struct oci_opt exec_opts[] = {
    [EXEC_CONSOLE_SOCKET] = { "console-socket", 0, OCI_OPT_VALUE, "PATH",
                              "path to an AF_UNIX socket which will receive a file descriptor referencing the "
                              "master end of the console's pseudoterminal" },
    [EXEC_CWD] = { "cwd", 0, OCI_OPT_VALUE, "DIR", "current working directory in the container" },
    [EXEC_ENV] = { "env", 'e', OCI_OPT_LIST, "K=V", "set an environment variable (repeatable)" },
    [EXEC_TTY] = { "tty", 't', OCI_OPT_BOOL, NULL, "allocate a pseudo-TTY" },
    [EXEC_USER] = { "user", 'u', OCI_OPT_VALUE, "UID[:GID]", "the user to run as" },
    [EXEC_ADDITIONAL_GIDS] = { "additional-gids", 'g', OCI_OPT_LIST, "GID", "additional gids (repeatable)" },
    [EXEC_PROCESS] = { "process", 'p', OCI_OPT_VALUE, "FILE", "path to the process.json" },
    [EXEC_DETACH] = { "detach", 'd', OCI_OPT_BOOL, NULL, "detach from the container's process" },
    [EXEC_PID_FILE] = { "pid-file", 0, OCI_OPT_VALUE, "PATH", "specify the file to write the process id to" },
    [EXEC_PROCESS_LABEL] = { "process-label", 0, OCI_OPT_VALUE, "LABEL",
                             "accepted; appbox-oci applies no SELinux label" },
    [EXEC_APPARMOR] = { "apparmor", 0, OCI_OPT_VALUE, "PROFILE", "accepted; appbox-oci applies no AppArmor profile" },
    [EXEC_NO_NEW_PRIVS] = { "no-new-privs", 0, OCI_OPT_BOOL, NULL,
                            "set the no new privileges value for the process" },
    [EXEC_CAP] = { "cap", 'c', OCI_OPT_LIST, "CAP", "add a capability to the bounding set for the process" },
    [EXEC_PRESERVE_FDS] = { "preserve-fds", 0, OCI_OPT_VALUE, "N",
                            "pass N additional file descriptors to the process (default: 0)" },
    [EXEC_CGROUP] = { "cgroup", 0, OCI_OPT_LIST, "CGROUP", "not supported: the process joins the container's groups" },
    [EXEC_IGNORE_PAUSED] = { "ignore-paused", 0, OCI_OPT_BOOL, NULL, "allow exec in a paused container" },
    [EXEC_OPTS] = { NULL, 0, 0, NULL, NULL },
};

static const struct oci_opt kill_opts[] = {
    [KILL_ALL] = { "all", 'a', OCI_OPT_BOOL, NULL, "send the specified signal to all processes inside the container" },
    { NULL, 0, 0, NULL, NULL },
};
static const struct oci_opt delete_opts[] = {
    [DELETE_FORCE] = { "force", 'f', OCI_OPT_BOOL, NULL,
                       "forcibly deletes the container if it is still running (uses SIGKILL)" },
    { NULL, 0, 0, NULL, NULL },
};
static const struct oci_opt list_opts[] = {
    [FORMAT_FORMAT] = { "format", 'f', OCI_OPT_VALUE, "table|json", "select one of: table or json (default: table)" },
    [LIST_QUIET] = { "quiet", 'q', OCI_OPT_BOOL, NULL, "display only container IDs" },
    { NULL, 0, 0, NULL, NULL },
};
static const struct oci_opt ps_opts[] = {
    [FORMAT_FORMAT] = { "format", 'f', OCI_OPT_VALUE, "table|json", "select one of: table or json (default: table)" },
    { NULL, 0, 0, NULL, NULL },
};
static const struct oci_opt spec_opts[] = {
    [SPEC_BUNDLE] = { "bundle", 'b', OCI_OPT_VALUE, "DIR", "path to the root of the bundle directory" },
    [SPEC_ROOTLESS] = { "rootless", 0, OCI_OPT_BOOL, NULL, "generate a configuration for a rootless container" },
    { NULL, 0, 0, NULL, NULL },
};
static const struct oci_opt no_opts[] = { { NULL, 0, 0, NULL, NULL } };

const struct oci_verb oci_verbs[] = {
    { "create", oci_cmd_create, "<container-id>", "create a container", create_only_opts, 1, 1, false },
    { "start", oci_cmd_start, "<container-id>", "executes the user defined process in a created container", no_opts,
      1, 1, false },
    { "run", oci_cmd_run, "<container-id>", "create and run a container", create_opts, 1, 1, false },
    { "state", oci_cmd_state, "<container-id>", "output the state of a container", no_opts, 1, 1, false },
    { "kill", oci_cmd_kill, "<container-id> [signal]",
      "kill sends the specified signal (default: SIGTERM) to the container's init process", kill_opts, 1, 2, false },
    { "delete", oci_cmd_delete, "<container-id>",
      "delete any resources held by the container often used with detached container", delete_opts, 1, 1, false },
    { "exec", oci_cmd_exec, "<container-id> <command> [command options]  ||  -p process.json <container-id>",
      "execute new process inside the container", exec_opts, 1, -1, true },
    { "ps", oci_cmd_ps, "<container-id> [ps options]", "ps displays the processes running inside a container",
      ps_opts, 1, -1, true },
    { "pause", oci_cmd_pause, "<container-id>", "pause suspends all processes inside the container", no_opts, 1, 1,
      false },
    { "resume", oci_cmd_resume, "<container-id>", "resumes all processes that have been previously paused", no_opts,
      1, 1, false },
    { "list", oci_cmd_list, "", "lists containers started by appbox-oci with the given root", list_opts, 0, 0,
      false },
    { "spec", oci_cmd_spec, "", "create a new specification file", spec_opts, 0, 0, false },
    { "features", oci_cmd_features, "", "show the enabled features", no_opts, 0, 0, false },
    { NULL, NULL, NULL, NULL, NULL, 0, 0, false },
};

const struct oci_verb *oci_verb_find(const char *name)
{
    for (const struct oci_verb *v = oci_verbs; v->name; v++)
        if (strcmp(v->name, name) == 0)
            return v;
    return NULL;
}

/* ---- messages ---- */

static void log_line(struct oci_cli *cli, const char *level, const char *msg)
{
    if (cli->log_fd < 0)
        return;
    char when[64];
    time_t now = time(NULL);
    struct tm tm;
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
    _cleanup_free_ char *line = NULL;
    int r;
    if (cli->log_json) {
        json_object *o = json_object_new_object();
        json_object_object_add(o, "level", json_object_new_string(level));
        json_object_object_add(o, "msg", json_object_new_string(msg));
        json_object_object_add(o, "time", json_object_new_string(when));
        r = asprintf(&line, "%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
                                                                          JSON_C_TO_STRING_NOSLASHESCAPE));
        json_object_put(o);
    } else {
        /* logrus's text format: msg quoted as Go's %q would */
        json_object *m = json_object_new_string(msg);
        r = asprintf(&line, "time=\"%s\" level=%s msg=%s\n", when, level,
                     json_object_to_json_string_ext(m, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
        json_object_put(m);
    }
    if (r >= 0 && write(cli->log_fd, line, strlen(line)) < 0) {
        /* nowhere else to say it */
    }
}

static void say(struct oci_cli *cli, const char *level, const char *fmt, va_list ap)
{
    char msg[2048];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    ab_escape_controls(msg, sizeof(msg));
    if (strcmp(level, "debug") != 0 || cli->debug)
        fprintf(stderr, "%s: %s%s\n", OCI_CLI_NAME, strcmp(level, "warning") == 0 ? "warning: " : "", msg);
    if (strcmp(level, "debug") != 0 || cli->debug)
        log_line(cli, level, msg);
}

int oci_error(struct oci_cli *cli, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    say(cli, "error", fmt, ap);
    va_end(ap);
    return 1;
}

void oci_warn(struct oci_cli *cli, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    say(cli, "warning", fmt, ap);
    va_end(ap);
}

void oci_debug(struct oci_cli *cli, const char *fmt, ...)
{
    if (!cli->debug)
        return;
    va_list ap;
    va_start(ap, fmt);
    say(cli, "debug", fmt, ap);
    va_end(ap);
}

int oci_report(struct oci_cli *cli, const ab_error *err)
{
    return oci_error(cli, "%s", err->msg);
}

/* ---- help ---- */

static void print_opts(FILE *f, const struct oci_opt *o)
{
    for (; o->name; o++) {
        char left[64];
        if (o->short_name)
            snprintf(left, sizeof(left), "--%s%s%s, -%c%s%s", o->name, o->metavar ? " " : "",
                     o->metavar ? o->metavar : "", o->short_name, o->metavar ? " " : "", o->metavar ? o->metavar : "");
        else
            snprintf(left, sizeof(left), "--%s%s%s", o->name, o->metavar ? " " : "", o->metavar ? o->metavar : "");
        fprintf(f, "   %-34s %s\n", left, o->help);
    }
}

void oci_verb_help(const struct oci_verb *v)
{
    printf("NAME:\n   %s %s - %s\n\nUSAGE:\n   %s %s%s %s\n", OCI_CLI_NAME, v->name, v->summary, OCI_CLI_NAME,
           v->name, v->opts[0].name ? " [command options]" : "", v->usage);
    if (v->opts[0].name) {
        printf("\nOPTIONS:\n");
        print_opts(stdout, v->opts);
    }
}

static const struct oci_opt global_opts[] = {
    { "debug", 0, OCI_OPT_BOOL, NULL, "enable debug logging" },
    { "log", 0, OCI_OPT_VALUE, "FILE", "also write errors (and with --debug, debug lines) to FILE" },
    { "log-format", 0, OCI_OPT_VALUE, "text|json", "the log file's format (default: text)" },
    { "root", 0, OCI_OPT_VALUE, "DIR",
      "root directory for storage of container state (default: /run/appbox-oci for root, "
      "$XDG_RUNTIME_DIR/appbox-oci for a user)" },
    { "systemd-cgroup", 0, OCI_OPT_BOOL, NULL,
      "cgroupsPath is of the form \"slice:prefix:name\" (the group is made where systemd would put it)" },
    { "rootless", 0, OCI_OPT_VALUE, "true|false|auto", "accepted for runc's sake (default: auto)" },
    { "criu", 0, OCI_OPT_VALUE, "PATH", "accepted for runc's sake (no checkpoint/restore)" },
    { "help", 'h', OCI_OPT_BOOL, NULL, "show help" },
    { "version", 'v', OCI_OPT_BOOL, NULL, "print the version" },
    { NULL, 0, 0, NULL, NULL },
};
enum { G_DEBUG, G_LOG, G_LOG_FORMAT, G_ROOT, G_SYSTEMD_CGROUP, G_ROOTLESS, G_CRIU, G_HELP, G_VERSION };

static void main_help(void)
{
    printf("NAME:\n   %s - an Open Container Initiative runtime (appbox's, runc compatible)\n\n"
           "USAGE:\n   %s [global options] command [command options] [arguments...]\n\nCOMMANDS:\n",
           OCI_CLI_NAME, OCI_CLI_NAME);
    for (const struct oci_verb *v = oci_verbs; v->name; v++)
        printf("   %-10s %s\n", v->name, v->summary);
    printf("   %-10s %s\n\nGLOBAL OPTIONS:\n", "help", "shows a list of commands or help for one command");
    print_opts(stdout, global_opts);
}

static int version(void)
{
    const struct scmp_version *sv = seccomp_version();
    printf("%s version %s\nspec: %s\n", OCI_CLI_NAME, APPBOX_VERSION, OCI_SPEC_VERSION);
    if (sv)
        printf("libseccomp: %u.%u.%u\n", sv->major, sv->minor, sv->micro);
    return 0;
}

/* ---- the option parser ---- */

static const struct oci_opt *find_long(const struct oci_opt *o, const char *name, size_t len, size_t *idx)
{
    for (size_t i = 0; o[i].name; i++)
        if (strlen(o[i].name) == len && strncmp(o[i].name, name, len) == 0) {
            *idx = i;
            return &o[i];
        }
    return NULL;
}

static const struct oci_opt *find_short(const struct oci_opt *o, char c, size_t *idx)
{
    for (size_t i = 0; o[i].name; i++)
        if (o[i].short_name == c) {
            *idx = i;
            return &o[i];
        }
    return NULL;
}

/* One option word at ARGV[*I] (starting with '-'); 0, or 1 after printing. */
static int parse_one(struct oci_cli *cli, const char *verb, const struct oci_opt *opts, struct oci_optval *vals,
                     int argc, char **argv, int *i)
{
    const char *w = argv[*i];
    const char *name = w + 1 + (w[1] == '-');
    const char *eq = strchr(name, '=');
    size_t len = eq ? (size_t)(eq - name) : strlen(name);
    size_t idx = 0;
    const struct oci_opt *o = find_long(opts, name, len, &idx);
    const char *inline_val = eq ? eq + 1 : NULL;
    if (!o && w[1] != '-' && len >= 1 && (o = find_short(opts, name[0], &idx))) {
        /* -d, -b DIR, -bDIR */
        inline_val = name[1] ? (name[1] == '=' ? name + 2 : name + 1) : NULL;
        if (o->kind == OCI_OPT_BOOL && name[1])
            o = NULL;
    }
    if (!o)
        return oci_error(cli, "%s%s'%.*s' is not an option (see %s%s%s --help)", verb ? verb : "", verb ? ": " : "",
                         (int)(eq ? (size_t)(eq - w) : strlen(w)), w, OCI_CLI_NAME, verb ? " " : "", verb ? verb : "");
    struct oci_optval *v = &vals[idx];
    if (o->kind == OCI_OPT_BOOL) {
        if (inline_val && strcmp(inline_val, "true") != 0 && strcmp(inline_val, "false") != 0)
            return oci_error(cli, "%s%s--%s: '%s' is not a boolean (expected true or false)", verb ? verb : "",
                             verb ? ": " : "", o->name, inline_val);
        v->set = !inline_val || strcmp(inline_val, "true") == 0;
        return 0;
    }
    if (!inline_val) {
        if (*i + 1 >= argc)
            return oci_error(cli, "%s%s--%s needs a value (%s)", verb ? verb : "", verb ? ": " : "", o->name,
                             o->metavar);
        inline_val = argv[++*i];
    }
    v->set = true;
    v->value = inline_val;
    if (o->kind == OCI_OPT_LIST && strv_push(&v->list, inline_val) < 0)
        return oci_error(cli, "out of memory");
    return 0;
}

int oci_parse(struct oci_cli *cli, const struct oci_verb *v, int argc, char **argv, struct oci_args *a)
{
    size_t n = 0;
    while (v->opts[n].name)
        n++;
    a->opt = calloc(n + 1, sizeof(*a->opt));
    a->pos = calloc((size_t)argc + 1, sizeof(char *));
    a->npos = 0;
    if (!a->opt || !a->pos)
        return oci_error(cli, "out of memory");
    bool opts_done = false;
    for (int i = 0; i < argc; i++) {
        const char *w = argv[i];
        if (!opts_done && strcmp(w, "--") == 0) {
            opts_done = true;
            continue;
        }
        if (!opts_done && (strcmp(w, "--help") == 0 || strcmp(w, "-h") == 0)) {
            oci_verb_help(v);
            return -1;
        }
        if (!opts_done && w[0] == '-' && w[1]) {
            if (parse_one(cli, v->name, v->opts, a->opt, argc, argv, &i))
                return 1;
            continue;
        }
        a->pos[a->npos++] = argv[i];
        if (v->stop_at_pos && !opts_done) {
            /* exec ID -- CMD: the "--" only ends the options */
            if (i + 1 < argc && strcmp(argv[i + 1], "--") == 0)
                i++;
            opts_done = true;
        }
    }
    if (a->npos < v->min_pos || (v->max_pos >= 0 && a->npos > v->max_pos)) {
        if (v->max_pos == 0)
            return oci_error(cli, "%s: takes no arguments ('%s' given)", v->name, a->pos[0]);
        if (v->min_pos == v->max_pos)
            return oci_error(cli, "%s: requires exactly %d argument(s) (%s %s %s), got %d", v->name, v->min_pos,
                             OCI_CLI_NAME, v->name, v->usage, a->npos);
        if (a->npos < v->min_pos)
            return oci_error(cli, "%s: requires at least %d argument(s) (%s %s %s), got %d", v->name, v->min_pos,
                             OCI_CLI_NAME, v->name, v->usage, a->npos);
        return oci_error(cli, "%s: takes at most %d argument(s) (%s %s %s), got %d", v->name, v->max_pos,
                         OCI_CLI_NAME, v->name, v->usage, a->npos);
    }
    return 0;
}

void oci_args_free(const struct oci_verb *v, struct oci_args *a)
{
    if (a->opt)
        for (size_t i = 0; v->opts[i].name; i++)
            strv_clear(&a->opt[i].list);
    free(a->opt);
    free(a->pos);
    a->opt = NULL;
    a->pos = NULL;
}

/* fds 3..3+63 open when appbox-oci started, before it opened any of its
 * own (a closed one would be filled by one: the state root, the log) */
static uint64_t inherited_fds;

int oci_parse_preserve_fds(struct oci_cli *cli, const char *opt, const char *val, int *out)
{
    char *end;
    errno = 0;
    long n = strtol(val, &end, 10);
    if (!*val || *end || errno || n < 0 || n > 64)
        return oci_error(cli, "%s: '%s' is not a number of file descriptors (expected 0 to 64)", opt, val);
    for (long i = 0; i < n; i++)
        if (!(inherited_fds & (1ULL << i)))
            return oci_error(cli, "%s %ld: file descriptor %ld is not open (the fds passed on are 3 to %ld)", opt, n,
                             3 + i, 2 + n);
    *out = (int)n;
    return 0;
}

bool oci_check_id(struct oci_cli *cli, const char *id)
{
    if (oci_id_valid(id))
        return true;
    oci_error(cli, "invalid container ID format: '%s' (expected letters, digits, '_', '.' and '-', starting with a "
                   "letter or digit, at most 1024 bytes)",
              id);
    return false;
}

int oci_ctr_open(struct oci_cli *cli, const char *id, bool lock, struct oci_ctr *c)
{
    *c = (struct oci_ctr){ .rootfd = -1, .dirfd = -1, .lock = -1 };
    if (!oci_check_id(cli, id))
        return 1;
    ab_error err = { 0 };
    c->rootfd = oci_state_open_root(cli->root, false, &err);
    if (c->rootfd == -ENOENT)
        return oci_error(cli, "container %s does not exist", id);
    if (c->rootfd < 0)
        return oci_report(cli, &err);
    c->dirfd = oci_state_open_dir(c->rootfd, id, lock ? &c->lock : NULL, &err);
    if (c->dirfd < 0)
        return oci_report(cli, &err);
    if (oci_state_read(c->dirfd, &c->st, &err) < 0) {
        ab_error_prefix(&err, "container %s", id);
        return oci_report(cli, &err);
    }
    c->status = oci_state_status(c->dirfd, &c->st);
    return 0;
}

void oci_ctr_close(struct oci_ctr *c)
{
    int *fds[] = { &c->lock, &c->dirfd, &c->rootfd };
    for (size_t i = 0; i < ARRAY_SIZE(fds); i++)
        if (*fds[i] >= 0) {
            close(*fds[i]);
            *fds[i] = -1;
        }
    oci_state_free(&c->st);
}

/* ---- main ---- */

/* Whether we run in a user namespace other than the initial one (whose
 * uid_map is the whole range mapped onto itself). */
static bool in_user_namespace(void)
{
    _cleanup_fclose_ FILE *f = fopen("/proc/self/uid_map", "re");
    unsigned long inside, outside, count;
    if (!f || fscanf(f, "%lu %lu %lu", &inside, &outside, &count) != 3)
        return false;
    return !(inside == 0 && outside == 0 && count == 4294967295UL);
}

/* runc's rule for its default root: XDG_RUNTIME_DIR for a user, and for
 * root in a user namespace unless USER is root (rootless podman runs the
 * runtime as root of its user namespace, with the user's XDG_RUNTIME_DIR);
 * never for the real root. */
static bool honor_xdg_runtime_dir(void)
{
    const char *xdg = getenv("XDG_RUNTIME_DIR");
    if (!xdg || !*xdg)
        return false;
    if (geteuid() != 0)
        return true;
    if (!in_user_namespace())
        return false;
    const char *user = getenv("USER");
    return !user || strcmp(user, "root") != 0;
}

int oci_main(int argc, char **argv)
{
    struct oci_cli cli = { .log_fd = -1 };
    for (int fd = 3; fd < 3 + 64; fd++)
        if (fcntl(fd, F_GETFD) >= 0)
            inherited_fds |= 1ULL << (fd - 3);
    struct oci_optval g[ARRAY_SIZE(global_opts)] = { 0 };
    memcpy(create_only_opts, create_opts, sizeof(struct oci_opt) * RUN_DETACH);
    /* the completion script's maker (completions/meson.build); not listed */
    if (argc >= 2 && strcmp(argv[1], "__completion") == 0)
        return oci_completion(argc > 2 ? argv[2] : NULL);
    int i = 1;
    for (; i < argc && argv[i][0] == '-' && argv[i][1]; i++)
        if (parse_one(&cli, NULL, global_opts, g, argc, argv, &i))
            return 1;
    if (g[G_VERSION].set)
        return version();
    if (g[G_HELP].set || i >= argc) {
        main_help();
        return i >= argc && !g[G_HELP].set ? 1 : 0;
    }
    if (strcmp(argv[i], "help") == 0 || strcmp(argv[i], "h") == 0) {
        const struct oci_verb *v = i + 1 < argc ? oci_verb_find(argv[i + 1]) : NULL;
        if (i + 1 < argc && !v)
            return oci_error(&cli, "help: '%s' is not a command (see %s --help)", argv[i + 1], OCI_CLI_NAME);
        v ? oci_verb_help(v) : main_help();
        return 0;
    }
    if (g[G_LOG_FORMAT].set && strcmp(g[G_LOG_FORMAT].value, "text") != 0 &&
        strcmp(g[G_LOG_FORMAT].value, "json") != 0)
        return oci_error(&cli, "--log-format: '%s' is not a log format (expected text or json)",
                         g[G_LOG_FORMAT].value);
    cli.log_json = g[G_LOG_FORMAT].set && strcmp(g[G_LOG_FORMAT].value, "json") == 0;
    if (g[G_ROOTLESS].set && strcmp(g[G_ROOTLESS].value, "true") != 0 && strcmp(g[G_ROOTLESS].value, "false") != 0 &&
        strcmp(g[G_ROOTLESS].value, "auto") != 0)
        return oci_error(&cli, "--rootless: '%s' is not allowed (expected true, false or auto)", g[G_ROOTLESS].value);
    if (g[G_LOG].set) {
        cli.log_path = g[G_LOG].value;
        cli.log_fd = open(cli.log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0600);
        if (cli.log_fd < 0)
            return oci_error(&cli, "--log: cannot open '%s': %s", cli.log_path, strerror(errno));
    }
    cli.debug = g[G_DEBUG].set;
    cli.systemd_cgroup = g[G_SYSTEMD_CGROUP].set;
    if (g[G_ROOT].set) {
        if (g[G_ROOT].value[0] != '/') {
            /* runc takes a relative root from the working directory */
            char *cwd = getcwd(NULL, 0);
            if (!cwd || asprintf(&cli.root, "%s/%s", cwd, g[G_ROOT].value) < 0)
                cli.root = NULL;
            free(cwd);
        } else {
            cli.root = strdup(g[G_ROOT].value);
        }
    } else {
        /* the environment is read here, in the command line, never in lib/ */
        cli.root = oci_state_default_root(geteuid(), honor_xdg_runtime_dir() ? getenv("XDG_RUNTIME_DIR") : NULL);
    }
    if (!cli.root)
        return oci_error(&cli, "out of memory");

    const struct oci_verb *v = oci_verb_find(argv[i]);
    int code;
    static const char *const runc_only[] = { "checkpoint", "restore", "events", "update" };
    bool runc_verb = false;
    for (size_t k = 0; k < ARRAY_SIZE(runc_only); k++)
        runc_verb |= strcmp(argv[i], runc_only[k]) == 0;
    if (!v && runc_verb) {
        code = oci_error(&cli, "'%s' is runc's, not appbox-oci's (checkpoint, restore, events and update are not "
                               "implemented; see %s --help)",
                         argv[i], OCI_CLI_NAME);
    } else if (!v) {
        code = oci_error(&cli, "'%s' is not a command (see %s --help)", argv[i], OCI_CLI_NAME);
    } else {
        cli.verb = v->name;
        struct oci_args a = { 0 };
        int r = oci_parse(&cli, v, argc - i - 1, argv + i + 1, &a);
        /* CVE-2019-5736: a container of host root (no user namespace) could
         * write the binary through /proc/PID/exe of a process of ours that
         * joined it: create, run and exec run from a sealed copy (once
         * their command line is right: not for a usage error or --help) */
        if (r == 0 && (strcmp(v->name, "create") == 0 || strcmp(v->name, "run") == 0 || strcmp(v->name, "exec") == 0))
            exe_guard_always(argv);
        oci_debug(&cli, "%s: root %s", v->name, cli.root);
        code = r < 0 ? 0 : r > 0 ? 1 : v->fn(&cli, &a);
        oci_args_free(v, &a);
    }
    for (size_t k = 0; k < ARRAY_SIZE(g); k++)
        strv_clear(&g[k].list);
    free(cli.root);
    if (cli.log_fd >= 0)
        close(cli.log_fd);
    return code;
}
