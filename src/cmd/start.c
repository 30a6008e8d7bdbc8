/* start and stop. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "container/container.h"

int cmd_start(struct ab_ctx *ctx, int argc, char **argv)
{
    if (argc < 1 || argv[0][0] == '-' || argv[0][0] == '+') {
        if (argc >= 1 && cmd_is_help(argv[0])) {
            printf("Usage: appbox start NAME [++OPTION [VALUE]]...\n\nStart NAME; it runs until appbox stop NAME.\n"
                   "++OPTION: any container option for this start (++network host, ++env K=V, ...).\n");
            return 0;
        }
        return cmd_usage_error("start", "usage: appbox start NAME [++OPTION [VALUE]]...");
    }
    struct conf overrides = { 0 };
    for (int i = 1; i < argc; i++) {
        int k = strncmp(argv[i], "++", 2) == 0 ? cmd_parse_override("start", argc, argv, &i, &overrides) : 0;
        if (k <= 0) {
            conf_free(&overrides);
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

int cmd_stop(struct ab_ctx *ctx, int argc, char **argv)
{
    const char *name = NULL;
    long timeout = 10;
    for (int i = 0; i < argc; i++) {
        if (cmd_is_help(argv[i])) {
            printf("Usage: appbox stop NAME [--timeout SECONDS]\n\nSend TERM to every process in NAME, KILL "
                   "after SECONDS (default 10), then tear it down.\n");
            return 0;
        }
        if (strcmp(argv[i], "--timeout") == 0 || strncmp(argv[i], "--timeout=", 10) == 0) {
            const char *v = argv[i][9] == '=' ? argv[i] + 10 : (i + 1 < argc ? argv[++i] : NULL);
            char *end;
            timeout = v ? strtol(v, &end, 10) : -1;
            if (!v || !*v || *end || timeout < 0 || timeout > 86400)
                return cmd_usage_error("stop", "--timeout: '%s' is not a number of seconds (0-86400)", v ? v : "");
        } else if (argv[i][0] == '-') {
            return cmd_usage_error("stop", "%s: unknown option (allowed: --timeout)", argv[i]);
        } else if (!name) {
            name = argv[i];
        } else {
            return cmd_usage_error("stop", "unexpected argument '%s'", argv[i]);
        }
    }
    if (!name)
        return cmd_usage_error("stop", "missing NAME (usage: appbox stop NAME [--timeout SECONDS])");
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
    if (r == 1)
        fprintf(stderr, "appbox: %s is not running\n", name);
    return 0;
}
