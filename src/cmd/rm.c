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
                   "A running container is refused unless --force (which stops it first).\n"
                   "What an interrupted create left (a directory NAME without appbox.conf in\n"
                   "the data directory) is removed too.\n");
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
    /* Anything appbox made: a container, or the directory of a create
     * that was killed before it wrote appbox.conf (the data dir is
     * appbox's own, and a valid NAME cannot be one of its dot-files). */
    enum store_kind kind = store_kind(ctx, name);
    if (kind == STORE_ABSENT)
        return cmd_usage_error("rm", "no container named '%s' (see appbox list)", name);
    if (kind == STORE_LINK || kind == STORE_OTHER) {
        ab_error_set(&err, AB_ERR_RUNTIME, 0, "'%s' in the data directory %s is %s, not a container: not removed "
                     "(appbox never makes one; remove it yourself)", name, ctx->data_dir,
                     kind == STORE_LINK ? "a symbolic link" : "not a directory");
        return cmd_report(&err);
    }
    char *launcher = launcher_path(ctx, name);
    int removed = container_remove(ctx, name, force, &err);
    if (removed < 0) {
        free(launcher);
        return cmd_report(&err);
    }
    launcher_unlink(launcher);
    free(launcher);
    if (removed == 1)
        printf("removed the remains of an interrupted create of %s\n", name);
    else
        printf("removed %s\n", name);
    return 0;
}
