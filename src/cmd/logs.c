/* appbox logs NAME --network [-n N]: the log of a named container's
 * network helper (net/proxyd.c): each connection the proxy carried or
 * refused, each DNS name it refused; the older file first. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "container/store.h"
#include "net/proxy.h"
#include "net/proxyd.h"
#include "util/cleanup.h"
#include "util/strv.h"

#define LOGS_USAGE "appbox logs NAME --network [--lines N]"

/* FILE's lines (at DIR) appended to OUT. */
static void read_lines(int dir, const char *file, strv *out)
{
    int fd = openat(dir, file, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return;
    _cleanup_fclose_ FILE *f = fdopen(fd, "re");
    if (!f) {
        close(fd);
        return;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, f)) > 0) {
        if (line[n - 1] == '\n')
            line[n - 1] = 0;
        strv_push(out, line);
    }
    free(line);
}

int cmd_logs(struct ab_ctx *ctx, int argc, char **argv)
{
    const char *name = NULL;
    bool network = false;
    long last = -1;
    for (int i = 0; i < argc; i++) {
        if (cmd_is_help(argv[i])) {
            printf("Usage: " LOGS_USAGE "\n\nShow NAME's network log (--network): every connection its proxy "
                   "(--network proxy)\ncarried or refused, with bytes up and down, and every DNS name it "
                   "refused.\n--lines N (-n N): only the last N lines.\n");
            return 0;
        }
        if (strcmp(argv[i], "--network") == 0) {
            network = true;
        } else if (strcmp(argv[i], "-n") == 0 || strcmp(argv[i], "--lines") == 0 ||
                   strncmp(argv[i], "--lines=", 8) == 0) {
            const char *v = argv[i][1] == '-' && argv[i][7] == '=' ? argv[i] + 8 : i + 1 < argc ? argv[++i] : NULL;
            char *end;
            errno = 0;
            last = v ? strtol(v, &end, 10) : -1;
            if (!v || !*v || *end || errno || last < 0)
                return cmd_usage_error("logs", "--lines: '%s' is not a number of lines (expected 0 or more)",
                                       v ? v : "");
        } else if (argv[i][0] == '-') {
            return cmd_usage_error("logs", "%s: unknown option (allowed: --network, --lines N)", argv[i]);
        } else if (name) {
            return cmd_usage_error("logs", "'%s': one NAME only (usage: " LOGS_USAGE ")", argv[i]);
        } else {
            name = argv[i];
        }
    }
    if (!name)
        return cmd_usage_error("logs", "missing NAME (usage: " LOGS_USAGE ")");
    if (!network)
        return cmd_usage_error("logs", "which log? --network is the one there is (usage: " LOGS_USAGE ")");
    if (!store_name_valid(name))
        return cmd_usage_error("logs", "'%s' is not a container name", name);
    if (store_kind(ctx, name) == STORE_ABSENT)
        return cmd_fail("logs", "no container named '%s' (see appbox list)", name);
    ab_error err = { 0 };
    int dir = proxy_log_dir(ctx, name, false, NULL, &err);
    if (dir < 0 && err.msg[0])
        return cmd_report(&err);
    strv lines = { 0 };
    if (dir >= 0) {
        read_lines(dir, PROXYD_LOG ".1", &lines);
        read_lines(dir, PROXYD_LOG, &lines);
        close(dir);
    }
    size_t from = last >= 0 && (size_t)last < lines.n ? lines.n - (size_t)last : 0;
    for (size_t i = from; i < lines.n; i++)
        printf("%s\n", lines.v[i]);
    strv_clear(&lines);
    return 0;
}
