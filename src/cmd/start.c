/* start and stop. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "container/container.h"
#include "container/state.h"
#include "container/store.h"
#include "util/cleanup.h"

static void start_usage(void)
{
    printf("Usage: appbox start NAME [++OPTION [VALUE]]...\n\nStart NAME; it runs until appbox stop NAME.\n"
           "Its Run= command, when it has one, runs in the background as its service:\n"
           "restarted as ++restart says (no, on-failure, always), its output in its log\n"
           "(appbox logs NAME).\n"
           "\n++OPTIONs: any container option, for this start only (as appbox run takes them):\n");
    cmd_print_spec_overrides(stdout);
}

int cmd_start(struct ab_ctx *ctx, int argc, char **argv)
{
    if (argc < 1 || argv[0][0] == '-' || argv[0][0] == '+') {
        if (argc >= 1 && cmd_is_help(argv[0])) {
            start_usage();
            return 0;
        }
        int k = argc >= 1 ? cmd_misplaced_option("start", argc, argv, 0) : 0;
        if (k)
            return k;
        return argc < 1 ? cmd_usage_error("start", "missing NAME (usage: appbox start NAME [++OPTION [VALUE]]...)")
                        : cmd_usage_error("start", "'%s': unknown option; the container's name comes first (usage: "
                                                   "appbox start NAME [++OPTION [VALUE]]...)", argv[0]);
    }
    struct conf overrides = { 0 };
    for (int i = 1; i < argc; i++) {
        int k = strncmp(argv[i], "++", 2) == 0 ? cmd_parse_override("start", argc, argv, &i, &overrides) : 0;
        if (k <= 0) {
            conf_free(&overrides);
            if (k == 0 && cmd_is_help(argv[i])) {
                start_usage();
                return 0;
            }
            return k < 0 ? -k
                         : cmd_usage_error("start", "'%s': unexpected argument (usage: appbox start NAME "
                                                    "[++OPTION [VALUE]]..., such as ++network host)", argv[i]);
        }
    }
    struct container c;
    ab_error err = { 0 };
    int r = container_open(ctx, argv[0], &c, &err);
    if (r == 0)
        r = container_start(&c, &overrides, false, &err);
    container_close(&c);
    conf_free(&overrides);
    if (r < 0)
        return cmd_report(&err);
    if (r == 1)
        fprintf(stderr, "appbox: %s is already running\n", argv[0]);
    return 0;
}

#define STOP_USAGE "appbox stop [--timeout SECONDS] NAME... | appbox stop [--timeout SECONDS] --all"

/* One container: "stopped NAME" on stdout, its error on stderr; QUIET: a
 * container that is not running is not mentioned (stop --all). */
static int stop_one(struct ab_ctx *ctx, const char *name, long timeout, bool quiet)
{
    /* Stopping needs only the runtime state: a running container whose
     * appbox.conf was broken since its start can still be stopped. */
    struct container c;
    ab_error err = { 0 };
    int r = container_open_state(ctx, name, &c, &err);
    if (r == 0)
        r = container_stop(&c, (int)timeout, &err);
    container_close(&c);
    if (r < 0)
        return cmd_report(&err);
    if (r == 1 && !quiet)
        fprintf(stderr, "appbox: %s is not running\n", name);
    else if (r == 0)
        printf("stopped %s\n", name);
    fflush(stdout);
    return 0;
}

int cmd_stop(struct ab_ctx *ctx, int argc, char **argv)
{
    long timeout = 10;
    bool all = false;
    _cleanup_free_ char **names = calloc((size_t)argc + 1, sizeof(char *));
    size_t n = 0;
    if (!names)
        return cmd_fail("stop", "out of memory");
    for (int i = 0; i < argc; i++) {
        if (cmd_is_help(argv[i])) {
            printf("Usage: " STOP_USAGE "\n\nStop each NAME (or every running container with --all or -a): TERM\n"
                   "to its service (Run=), then the container's stop signal to everything in it\n"
                   "(TERM; SIGRTMIN+3, systemd's halt, for a booted container), KILL after\n"
                   "SECONDS in all (default 10), then tear it down.  Each container gets its\n"
                   "line; a name that cannot be stopped is an error for that name, and the\n"
                   "others are stopped.\n");
            return 0;
        }
        if (strcmp(argv[i], "--timeout") == 0 || strncmp(argv[i], "--timeout=", 10) == 0) {
            const char *v = argv[i][9] == '=' ? argv[i] + 10 : (i + 1 < argc ? argv[++i] : NULL);
            char *end;
            timeout = v ? strtol(v, &end, 10) : -1;
            if (!v || !*v || *end || timeout < 0 || timeout > 86400)
                return cmd_usage_error("stop", "--timeout: '%s' is not a number of seconds (0-86400)", v ? v : "");
        } else if (strcmp(argv[i], "--all") == 0 || strcmp(argv[i], "-a") == 0) {
            all = true;
        } else if (argv[i][0] == '-') {
            return cmd_usage_error("stop", "%s: unknown option (allowed: --all, --timeout)", argv[i]);
        } else {
            names[n++] = argv[i];
        }
    }
    if (all && n)
        return cmd_usage_error("stop", "--all and names: give one or the other");
    if (!all && !n)
        return cmd_usage_error("stop", "missing NAME (usage: " STOP_USAGE ")");
    ab_error err = { 0 };
    for (size_t i = 0; i < n; i++)
        if (store_check_name(names[i], &err) < 0)
            return cmd_report(&err);
    int code = 0;
    if (all) {
        strv list = { 0 };
        if (store_list(ctx, &list, &err) < 0)
            return cmd_report(&err);
        for (size_t i = 0; i < list.n; i++) {
            int r = state_running(ctx, list.v[i]) ? stop_one(ctx, list.v[i], timeout, true) : 0;
            code = code ? code : r;
        }
        strv_clear(&list);
        return code;
    }
    for (size_t i = 0; i < n; i++) {
        int r = stop_one(ctx, names[i], timeout, false);
        code = code ? code : r;
    }
    return code;
}
