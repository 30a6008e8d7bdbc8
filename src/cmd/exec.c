/* exec: a command in a running container, with no more than it has. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cmd/cmd.h"
#include "container/container.h"
#include "container/state.h"
#include "container/store.h"
#include "spec/options.h"

static int arg_value(int argc, char **argv, int *i, const char *opt, const char **out)
{
    size_t len = strlen(opt);
    if (strncmp(argv[*i], opt, len) == 0 && argv[*i][len] == '=') {
        *out = argv[*i] + len + 1;
        return 1;
    }
    if (strcmp(argv[*i], opt) != 0)
        return 0;
    if (*i + 1 >= argc)
        return -1;
    *out = argv[++*i];
    return 1;
}

int cmd_exec(struct ab_ctx *ctx, int argc, char **argv)
{
    bool as_root = false;
    const char *user = NULL, *v;
    /* exec takes only a process part: its options fill this one. */
    struct spec proc;
    spec_init(&proc);
    int i = 0, k;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (cmd_is_help(argv[i])) {
            printf("Usage: appbox exec [--root | --user USER] [--env K=V] [--chdir DIR] NAME [--] CMD...\n"
                   "\nRun CMD in the running container NAME, with its namespaces, root, capability\n"
                   "limits and seccomp filter, in your working directory when NAME has it at the\n"
                   "same path (else its home; --chdir chooses).\n");
            return 0;
        }
        if (strcmp(argv[i], "--") == 0)
            break;
        if (strcmp(argv[i], "--root") == 0) {
            as_root = true;
        } else if ((k = arg_value(argc, argv, &i, "--user", &v)) != 0) {
            if (k < 0 || !*v) {
                spec_free(&proc);
                return cmd_usage_error("exec", "--user: missing value (a user name or id in the container)");
            }
            user = v;
        } else if (strncmp(argv[i], "--env", 5) == 0 || strncmp(argv[i], "--chdir", 7) == 0) {
            /* Process options, through the registry: the same checks as
             * sandbox --env/--chdir and appbox.conf's keys. */
            const char *eq = strchr(argv[i], '=');
            char name[16];
            snprintf(name, sizeof(name), "%.*s", (int)((eq ? (size_t)(eq - argv[i]) : strlen(argv[i])) - 2),
                     argv[i] + 2);
            const struct spec_option *o = spec_option_find(name);
            if (!o || (strcmp(name, "env") != 0 && strcmp(name, "chdir") != 0))
                return cmd_usage_error("exec", "%s: unknown option (allowed: --root, --user, --env, --chdir)",
                                       argv[i]);
            char flag[24];
            snprintf(flag, sizeof(flag), "--%s", name);
            ab_error perr = { 0 };
            if (spec_option_take_value(o, flag, eq ? eq + 1 : NULL, argc, argv, &i, &v, &perr) < 0 ||
                spec_option_apply(&proc, o, flag, v, &perr) < 0) {
                spec_free(&proc);
                fprintf(stderr, "appbox: exec: %s\n", perr.msg);
                return ab_error_exit_code(&perr);
            }
        } else {
            spec_free(&proc);
            k = cmd_misplaced_option("exec", argc, argv, i); /* --network: the container's, not exec's */
            return k ? k : cmd_usage_error("exec", "%s: unknown option (allowed: --root, --user, --env, --chdir)",
                                           argv[i]);
        }
    }
    if (as_root && user)
        return cmd_usage_error("exec", "--root and --user: give one of them");
    if (i >= argc)
        return cmd_usage_error("exec", "missing NAME (usage: appbox exec [OPTIONS] NAME [--] CMD...)");
    const char *name = argv[i++];
    /* exec cow --root id: the option goes before the name (no command is
     * called --root; "exec cow -- --root" still runs one) */
    if (i < argc && (k = cmd_option_after_name("exec", argc, argv, i - 1, i)) != 0) {
        spec_free(&proc);
        return k;
    }
    if (i < argc && strcmp(argv[i], "--") == 0)
        i++;
    if (i >= argc)
        return cmd_usage_error("exec", "missing the command to run in %s", name);

    struct container c;
    ab_error err = { 0 };
    /* A running container is joined with what it was started with
     * (spec.conf), so appbox.conf is not read then: no parsing on this hot
     * path, and a file broken since the start does not lock anyone out.
     * A stopped one gets appbox.conf checked, for the clearer error. */
    bool running = store_name_valid(name) && state_running(ctx, name);
    if ((running ? container_open_state(ctx, name, &c, &err) : container_open(ctx, name, &c, &err)) < 0) {
        container_close(&c);
        return cmd_report(&err);
    }
    struct join_params jp = { .argv = argv + i, .as_root = as_root, .user = user, .env = &proc.process.env,
                              .chdir = proc.process.cwd };
    struct join_outcome out = { 0 };
    jp.outcome = &out;
    int code = 0;
    int r = container_session(&c, NULL, false, &jp, &code, &err);
    if (r == 0 && out.oom_killed)
        cmd_report_oom(out.memory_limit);
    container_close(&c);
    spec_free(&proc);
    return r < 0 ? cmd_report(&err) : code;
}
