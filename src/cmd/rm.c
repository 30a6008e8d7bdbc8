#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "container/container.h"
#include "container/state.h"
#include "container/store.h"
#include "desktop/desktop_entry.h"
#include "util/cleanup.h"

#define RM_USAGE "appbox rm [--force] NAME..."

/* One container: "removed NAME" on stdout, or its error on stderr;
 * returns 0 or the exit code of the error. */
static int rm_one(struct ab_ctx *ctx, const char *name, bool force)
{
    ab_error err = { 0 };
    /* Anything appbox made: a container, or the directory of a create
     * that was killed before it wrote appbox.conf (the data dir is
     * appbox's own, and a valid NAME cannot be one of its dot-files). */
    enum store_kind kind = store_kind(ctx, name);
    if (kind == STORE_ABSENT)
        return cmd_fail("rm", "no container named '%s' (see appbox list)", name);
    if (kind == STORE_LINK || kind == STORE_OTHER) {
        ab_error_set(&err, AB_ERR_RUNTIME, 0, "'%s' in the data directory %s is %s, not a container: not removed "
                     "(appbox never makes one; remove it yourself)", name, ctx->data_dir,
                     kind == STORE_LINK ? "a symbolic link" : "not a directory");
        return cmd_report(&err);
    }
    _cleanup_free_ char *launcher = launcher_path(ctx, name);
    /* its menu entries and icons (launcher, export --app), read before
     * the record goes with the container's directory */
    strv desktop = { 0 };
    desktop_recorded(ctx, name, &desktop);
    int removed = container_remove(ctx, name, force, &err);
    if (removed < 0) {
        strv_clear(&desktop);
        return cmd_report(&err);
    }
    launcher_unlink(launcher);
    desktop_remove_all(name, &desktop);
    strv_clear(&desktop);
    if (removed == 1)
        printf("removed the remains of an interrupted create of %s\n", name);
    else
        printf("removed %s\n", name);
    return 0;
}

int cmd_rm(struct ab_ctx *ctx, int argc, char **argv)
{
    bool force = false, ended = false;
    _cleanup_free_ char **names = calloc((size_t)argc + 1, sizeof(char *));
    size_t n = 0;
    if (!names)
        return cmd_fail("rm", "out of memory");
    for (int i = 0; i < argc; i++) {
        if (!ended && cmd_is_help(argv[i])) {
            printf("Usage: " RM_USAGE "\n\nRemove each NAME: its files, state, launcher and menu entries.\n"
                   "A running container is refused unless --force (-f), which stops it first.\n"
                   "What an interrupted create left (a directory NAME without appbox.conf in\n"
                   "the data directory) is removed too.  Each name gets its line; a name that\n"
                   "cannot be removed is an error for that name, and the others are removed.\n");
            return 0;
        }
        if (!ended && strcmp(argv[i], "--") == 0)
            ended = true;
        else if (!ended && (strcmp(argv[i], "--force") == 0 || strcmp(argv[i], "-f") == 0))
            force = true;
        else if (!ended && argv[i][0] == '-')
            return cmd_usage_error("rm", "%s: unknown option (allowed: --force)", argv[i]);
        else
            names[n++] = argv[i];
    }
    if (!n)
        return cmd_usage_error("rm", "missing NAME (usage: " RM_USAGE ")");
    /* A name that cannot be one is the command line's fault: nothing is
     * removed then. */
    ab_error err = { 0 };
    for (size_t i = 0; i < n; i++)
        if (store_check_name(names[i], &err) < 0)
            return cmd_report(&err);
    /* every name, in order; the exit status is the first failure's */
    int code = 0;
    for (size_t i = 0; i < n; i++) {
        int r = rm_one(ctx, names[i], force);
        fflush(stdout);
        if (r && !code)
            code = r;
    }
    return code;
}
