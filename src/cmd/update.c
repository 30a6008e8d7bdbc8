/* update: apt-get update and upgrade in Debian/Ubuntu containers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "container/container.h"
#include "container/store.h"
#include "util/cleanup.h"

/* One line per container: what was done on stdout, a failure on stderr
 * (like every verb's errors).  The exit status is that of the first
 * failure: 125 for a name that is no container, as for the other verbs. */
int update_containers(struct ab_ctx *ctx, char **names, size_t n, bool verbose)
{
    int code = 0;
    for (size_t i = 0; i < n; i++) {
        ab_error err = { 0 };
        const char *why = NULL;
        fflush(stdout);
        /* container_update checks the name and that the container exists */
        int r = container_update(ctx, names[i], verbose, &why, &err);
        if (r < 0) {
            fprintf(stderr, "appbox: %s: update failed: %s\n", names[i], err.msg);
            code = code ? code : ab_error_exit_code(&err);
        } else {
            printf("%s: %s\n", names[i], r == 1 ? why : "updated");
        }
        fflush(stdout);
    }
    return code;
}

int update_all(struct ab_ctx *ctx, bool verbose)
{
    ab_error err = { 0 };
    strv names = { 0 };
    if (store_list(ctx, &names, &err) < 0)
        return cmd_report(&err);
    int r = names.n ? update_containers(ctx, names.v, names.n, verbose) : 0;
    if (!names.n)
        printf("no containers\n");
    strv_clear(&names);
    return r;
}

int cmd_update(struct ab_ctx *ctx, int argc, char **argv)
{
    bool all = false, verbose = false;
    int first = argc;
    for (int i = 0; i < argc; i++) {
        if (cmd_is_help(argv[i])) {
            printf("Usage: appbox update [--verbose] NAME... | appbox update [--verbose] --all\n\n"
                   "apt-get update and a non-interactive upgrade in each (stopped) container, with\n"
                   "a network of its own (pasta) just for this; one line per container.  Containers that are not\n"
                   "Debian/Ubuntu roots are skipped.  appbox install NAME PACKAGE... adds packages the same way.\n");
            return 0;
        }
        if (strcmp(argv[i], "--all") == 0) {
            all = true;
        } else if (strcmp(argv[i], "--verbose") == 0) {
            verbose = true;
        } else if (argv[i][0] == '-') {
            return cmd_usage_error("update", "%s: unknown option (allowed: --all, --verbose)", argv[i]);
        } else {
            first = i;
            break;
        }
    }
    if (all && first < argc)
        return cmd_usage_error("update", "--all and names: give one or the other");
    if (all)
        return update_all(ctx, verbose);
    if (first >= argc)
        return cmd_usage_error("update", "missing NAME (usage: appbox update NAME... | --all)");
    for (int i = first; i < argc; i++)
        if (argv[i][0] == '-')
            return cmd_usage_error("update", "%s: options go before the names", argv[i]);
    return update_containers(ctx, argv + first, (size_t)(argc - first), verbose);
}
