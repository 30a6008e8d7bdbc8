#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "container/container.h"
#include "container/state.h"
#include "container/store.h"

int cmd_rm(struct ab_ctx *ctx, int argc, char **argv)
{
    bool force = false;
    const char *name = NULL;
    for (int i = 0; i < argc; i++) {
        if (cmd_is_help(argv[i])) {
            printf("Usage: appbox rm [--force] NAME\n\nRemove NAME: its files, state and launcher.\n"
                   "A running container is refused unless --force (which stops it first).\n");
            return 0;
        }
        if (strcmp(argv[i], "--force") == 0 || strcmp(argv[i], "-f") == 0)
            force = true;
        else if (argv[i][0] == '-')
            return cmd_usage_error("rm", "%s: unknown option (allowed: --force)", argv[i]);
        else if (!name)
            name = argv[i];
        else
            return cmd_usage_error("rm", "unexpected argument '%s'", argv[i]);
    }
    if (!name)
        return cmd_usage_error("rm", "missing NAME (usage: appbox rm [--force] NAME)");
    ab_error err = { 0 };
    if (store_check_name(name, &err) < 0)
        return cmd_report(&err);
    if (!store_exists(ctx, name))
        return cmd_usage_error("rm", "no container named '%s' (see appbox list)", name);
    char *launcher = launcher_path(ctx, name);
    if (container_remove(ctx, name, force, &err) < 0) {
        free(launcher);
        return cmd_report(&err);
    }
    launcher_unlink(launcher);
    free(launcher);
    printf("removed %s\n", name);
    return 0;
}
