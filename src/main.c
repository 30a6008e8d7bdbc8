/* appbox: verb dispatch.  Everything else lives in cmd/ (one file a verb)
 * over lib/ (libappbox, which never prints or exits). */
#include <stdio.h>
#include <string.h>

#include "cmd/cmd.h"
#include "runtime/exe_guard.h"

struct verb {
    const char *name;
    int (*fn)(struct ab_ctx *ctx, int argc, char **argv);
    int guard_exe;  /* runs container code: protect the binary first */
    int store;      /* uses named containers: the data and runtime dirs are checked first */
};

static const struct verb verbs[] = {
    { "sandbox", cmd_sandbox, 1, 0 },
    { "create", cmd_create, 1, 1 },
    { "run", cmd_run, 1, 1 },
    { "start", cmd_start, 1, 1 },
    { "stop", cmd_stop, 0, 1 },
    { "exec", cmd_exec, 1, 1 },
    { "shell", cmd_shell, 1, 1 },
    { "cp", cmd_cp, 1, 1 },
    { "export", cmd_export, 1, 1 },
    { "list", cmd_list, 0, 1 },
    { "show", cmd_show, 0, 1 },
    { "config", cmd_config, 0, 1 },
    { "edit", cmd_edit, 0, 1 },
    { "rm", cmd_rm, 1, 1 },
    { "launcher", cmd_launcher, 0, 1 },
    { "update", cmd_update, 1, 1 },
    { "image", cmd_image, 1, 0 },
    { "help", cmd_help, 0, 0 },
    { "version", cmd_version, 0, 0 },
    { NULL, NULL, 0, 0 },
};

static int wants_help(int argc, char **argv)
{
    for (int i = 0; i < argc && strcmp(argv[i], "--") != 0; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return 1;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        cmd_help(NULL, 0, NULL);
        return 2;
    }
    const char *v = argv[1];
    if (strcmp(v, "--version") == 0)
        return cmd_version(NULL, 0, NULL);
    if (strcmp(v, "--help") == 0 || strcmp(v, "-h") == 0)
        return cmd_help(NULL, 0, NULL);
    for (const struct verb *e = verbs; e->name; e++)
        if (strcmp(e->name, v) == 0) {
            if (e->guard_exe)
                exe_guard(argv);
            /* The environment is read here, once, into the context that
             * every lib/ call gets. */
            struct ab_ctx ctx;
            ab_error err = { 0 };
            if (cmd_context_init(&ctx, &err) < 0)
                return cmd_report(&err);
            /* A runtime (or data) dir that is not the caller's own, e.g. a
             * /tmp/appbox-UID another user made first, is refused before
             * anything is read from it or made in it (help still works). */
            if (e->store && !wants_help(argc - 2, argv + 2) && ab_ctx_check_dirs(&ctx, &err) < 0) {
                ab_ctx_free(&ctx);
                return cmd_report(&err);
            }
            int code = e->fn(&ctx, argc - 2, argv + 2);
            ab_ctx_free(&ctx);
            return code;
        }
    fprintf(stderr, "appbox: '%s' is not a verb (see appbox help)\n", v);
    return 2;
}
