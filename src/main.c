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
};

static const struct verb verbs[] = {
    { "sandbox", cmd_sandbox, 1 },
    { "create", cmd_create, 1 },
    { "run", cmd_run, 1 },
    { "start", cmd_start, 1 },
    { "stop", cmd_stop, 0 },
    { "exec", cmd_exec, 1 },
    { "shell", cmd_shell, 1 },
    { "list", cmd_list, 0 },
    { "show", cmd_show, 0 },
    { "config", cmd_config, 0 },
    { "edit", cmd_edit, 0 },
    { "rm", cmd_rm, 1 },
    { "launcher", cmd_launcher, 0 },
    { "update", cmd_update, 1 },
    { "image", cmd_image, 1 },
    { "help", cmd_help, 0 },
    { "version", cmd_version, 0 },
    { NULL, NULL, 0 },
};

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
            int code = e->fn(&ctx, argc - 2, argv + 2);
            ab_ctx_free(&ctx);
            return code;
        }
    fprintf(stderr, "appbox: '%s' is not a verb (see appbox help)\n", v);
    return 2;
}
