/* run and shell: sessions that start the container when needed. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cmd/cmd.h"
#include "container/container.h"
#include "spec/options.h"

static void run_usage(FILE *f)
{
    fprintf(f, "Usage: appbox run NAME [++OPTIONS] [--] [ARGS...]\n"
               "\nStart NAME if it is not running, run its Run= command with ARGS appended (or\n"
               "ARGS alone; neither: your login shell in NAME), and stop NAME when the last\n"
               "session leaves.\n"
               "\n++OPTIONS (before the arguments; they are appbox's, not the app's):\n"
               "  ++show            print what appbox does, step by step\n"
               "  ++start           only start the container (it then runs until stopped), as\n"
               "                    appbox start does: Run= runs as its service\n"
               "  ++stop            only stop the container\n"
               "  ++cmd CMD...      run CMD... instead of Run=\n"
               "  ++aptupdate       apt-get update + upgrade in this container, then stop\n"
               "  ++aptupdateall    the same in every container\n"
               "\nand any container option, for this start (when this run starts NAME):\n");
    cmd_print_spec_overrides(f);
}

int cmd_run(struct ab_ctx *ctx, int argc, char **argv)
{
    if (argc < 1 || cmd_is_help(argv[0])) {
        if (argc >= 1) {
            run_usage(stdout);
            return 0;
        }
        return cmd_usage_error("run", "missing NAME (usage: appbox run NAME [++OPTIONS] [--] [ARGS...])");
    }
    /* appbox run --network host NAME: say where the option goes */
    int misplaced = cmd_misplaced_option("run", argc, argv, 0);
    if (misplaced)
        return misplaced;
    if (argv[0][0] == '-' || argv[0][0] == '+')
        return cmd_usage_error("run", "'%s': unknown option; the container's name comes first (usage: appbox run "
                                      "NAME [++OPTIONS] [--] [ARGS...])", argv[0]);
    const char *name = argv[0];
    int i = 1;
    if (i < argc && strcmp(argv[i], "--") == 0)
        i++;
    bool only_start = false, only_stop = false, use_cmd = false;
    struct conf overrides = { 0 };
    for (; i < argc && strncmp(argv[i], "++", 2) == 0; i++) {
        const char *o = argv[i] + 2;
        if (strcmp(o, "show") == 0) {
            ctx->log_min = AB_LOG_STEP;
        } else if (strcmp(o, "start") == 0) {
            only_start = true;
        } else if (strcmp(o, "stop") == 0) {
            only_stop = true;
        } else if (strcmp(o, "cmd") == 0) {
            use_cmd = true;
            i++;
            break;
        } else if (strcmp(o, "aptupdate") == 0) {
            /* seed 001: start with the network on, apt update + upgrade, stop */
            conf_free(&overrides);
            return update_containers(ctx, (char **)&name, 1, false);
        } else if (strcmp(o, "aptupdateall") == 0) {
            return update_all(ctx, false);
        } else {
            int k = cmd_parse_override("run", argc, argv, &i, &overrides);
            if (k < 0) {
                conf_free(&overrides);
                return -k;
            }
            if (k == 0) {
                conf_free(&overrides);
                return cmd_usage_error("run", "%s: unknown ++option (allowed: ++show, ++start, ++stop, ++cmd, "
                                              "++aptupdate, ++aptupdateall, and any container option as "
                                              "++OPTION, such as ++network MODE: see appbox run --help)",
                                       argv[i]);
            }
        }
    }
    if (!use_cmd && i < argc && strcmp(argv[i], "--") == 0)
        i++;

    struct container c;
    ab_error err = { 0 };
    /* ++stop needs only the runtime state (as stop does), not appbox.conf */
    int r = only_stop ? container_open_state(ctx, name, &c, &err) : container_open_to_join(ctx, name, &c, &err);
    if (r < 0) {
        container_close(&c);
        conf_free(&overrides);
        return cmd_report(&err);
    }
    int code = 0;
    if (only_stop) {
        r = container_stop(&c, 10, &err);
    } else if (only_start) {
        r = container_start(&c, &overrides, false, &err);
    } else {
        strv cmd = { 0 };
        if (!use_cmd && c.cc.run)
            conf_split_command(c.cc.run, &cmd);
        for (; i < argc; i++)
            strv_push(&cmd, argv[i]);
        if (cmd.n == 0 && use_cmd) {
            container_close(&c);
            conf_free(&overrides);
            return cmd_usage_error("run", "++cmd: missing the command to run in %s (usage: appbox run %s ++cmd "
                                          "CMD [ARGS...])", name, name);
        }
        /* Nothing to run (no Run=, no arguments): the user's login shell in
         * the container, as `distrobox enter` or `toolbox enter` opens. */
        char *sh[] = { "sh", NULL };
        struct join_outcome out = { 0 };
        struct join_params jp = { .argv = cmd.n ? cmd.v : sh, .login_shell = cmd.n == 0, .outcome = &out };
        r = container_session(&c, &overrides, true, &jp, &code, &err);
        if (r == 0 && out.oom_killed)
            cmd_report_oom(out.memory_limit);
        strv_clear(&cmd);
    }
    container_close(&c);
    conf_free(&overrides);
    if (r < 0)
        return cmd_report(&err);
    return code;
}

int cmd_shell(struct ab_ctx *ctx, int argc, char **argv)
{
    bool as_root = false;
    const char *name = NULL;
    for (int i = 0; i < argc; i++) {
        if (cmd_is_help(argv[i])) {
            printf("Usage: appbox shell [--root] NAME\n\nAn interactive login shell in NAME (started if needed;\n"
                   "it counts as a session like run).  In a booted container: a login session,\n"
                   "login -f USER through PAM (logind registers it), as machinectl login.\n");
            return 0;
        }
        if (strcmp(argv[i], "--root") == 0)
            as_root = true;
        else if (argv[i][0] == '-')
            return cmd_usage_error("shell", "%s: unknown option (allowed: --root)", argv[i]);
        else if (!name)
            name = argv[i];
        else
            return cmd_usage_error("shell", "unexpected argument '%s'", argv[i]);
    }
    if (!name)
        return cmd_usage_error("shell", "missing NAME (usage: appbox shell [--root] NAME)");
    struct container c;
    ab_error err = { 0 };
    if (container_open_to_join(ctx, name, &c, &err) < 0)
        return cmd_report(&err);
    char *argv0[] = { "sh", NULL };
    /* a booted container: a login session through its own login(1) */
    bool boot = c.cc.spec.container.init == SPEC_INIT_BOOT;
    struct join_params jp = { .argv = argv0, .login_shell = true, .as_root = as_root, .boot_login = boot };
    int code = 0;
    int r = container_session(&c, NULL, true, &jp, &code, &err);
    container_close(&c);
    return r < 0 ? cmd_report(&err) : code;
}
