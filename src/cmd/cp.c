/* cp: files and directories into and out of a named container. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cmd/cmd.h"
#include "container/container.h"
#include "container/copy.h"
#include "container/store.h"

/* "NAME:PATH" names a container's path when what comes before the first
 * ':' holds no '/' (a host path with a ':' can be written ./a:b). */
static bool container_ref(const char *arg)
{
    const char *colon = strchr(arg, ':');
    return colon && colon > arg && !memchr(arg, '/', (size_t)(colon - arg));
}

/* Open NAME for a copy; a missing container is a runtime error (125), as
 * for podman cp. */
int cmd_open_for_copy(struct ab_ctx *ctx, const char *verb, const char *name, struct container *c)
{
    ab_error err = { 0 };
    memset(c, 0, sizeof(*c));
    if (!store_name_valid(name)) {
        store_check_name(name, &err);
        return cmd_usage_error(verb, "%s", err.msg);
    }
    if (container_open_to_join(ctx, name, c, &err) < 0) {
        container_close(c);
        if (!store_exists(ctx, name))
            err.kind = AB_ERR_RUNTIME;
        return cmd_report(&err);
    }
    return 0;
}

int cmd_cp(struct ab_ctx *ctx, int argc, char **argv)
{
    const char *args[2];
    int n = 0;
    bool dashdash = false;
    for (int i = 0; i < argc; i++) {
        if (!dashdash && cmd_is_help(argv[i])) {
            printf("Usage: appbox cp SRC NAME:DST\n"
                   "       appbox cp NAME:SRC DST\n"
                   "\nCopy a file or a directory (recursively) into or out of the container NAME,\n"
                   "running or not (a stopped one is started for the copy and stopped again).\n"
                   "Paths in the container are absolute and resolved inside it: its symbolic\n"
                   "links never lead out of it.  Into a directory DST when it exists, else as\n"
                   "DST.  Copies in belong to the container's root, copies out to you; modes\n"
                   "and times are kept, set-id bits dropped; fifos, sockets and device nodes\n"
                   "are skipped with a warning.\n");
            return 0;
        }
        if (!dashdash && strcmp(argv[i], "--") == 0) {
            dashdash = true;
            continue;
        }
        if (!dashdash && argv[i][0] == '-' && argv[i][1])
            return cmd_usage_error("cp", "%s: unknown option (usage: appbox cp SRC NAME:DST | NAME:SRC DST)", argv[i]);
        if (n == 2)
            return cmd_usage_error("cp", "unexpected argument '%s' (one source and one destination)", argv[i]);
        args[n++] = argv[i];
    }
    if (n < 2)
        return cmd_usage_error("cp", "missing %s (usage: appbox cp SRC NAME:DST | NAME:SRC DST)",
                               n == 0 ? "SRC and DST" : "DST");
    bool in0 = container_ref(args[0]), in1 = container_ref(args[1]);
    if (in0 == in1)
        return cmd_usage_error("cp", in0 ? "'%s' and '%s': both are container paths (copy through the host)"
                                         : "'%s' and '%s': neither is a container path NAME:PATH",
                               args[0], args[1]);
    const char *ref = in0 ? args[0] : args[1], *host = in0 ? args[1] : args[0];
    const char *colon = strchr(ref, ':');
    char name[256];
    snprintf(name, sizeof(name), "%.*s", (int)(colon - ref), ref);
    const char *path = colon + 1;
    if (path[0] != '/')
        return cmd_usage_error("cp", "'%s': the path in the container must be absolute (NAME:/PATH)", ref);
    if (!host[0])
        return cmd_usage_error("cp", "an empty host path");

    struct container c;
    int code = cmd_open_for_copy(ctx, "cp", name, &c);
    if (code)
        return code;
    ab_error err = { 0 };
    struct copy_stats st = { 0 };
    int r = in1 ? container_copy_in(&c, host, path, &st, &err) : container_copy_out(&c, path, host, &st, &err);
    container_close(&c);
    if (st.dropped_setid)
        fprintf(stderr, "appbox: cp: dropped the set-id bits of %lu file%s (a copy never makes set-id files)\n",
                st.dropped_setid, st.dropped_setid == 1 ? "" : "s");
    return r < 0 ? cmd_report(&err) : 0;
}
