/* image: the cache of pristine Debian/Ubuntu bases. */
#include <errno.h>
#include <stdio.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cmd/cmd.h"
#include "image/bootstrap.h"
#include "util/cleanup.h"

int cmd_image(struct ab_ctx *ctx, int argc, char **argv)
{
    /* a bootstrap says it starts (it takes minutes) when someone watches */
    if (isatty(STDERR_FILENO))
        ctx->log_min = AB_LOG_INFO;
    if (argc < 1 || cmd_is_help(argv[0])) {
        fprintf(argc < 1 ? stderr : stdout,
                "Usage: appbox image list | appbox image rm NAME | appbox image pull debian:SUITE|ubuntu:SUITE "
                "[--variant V] [--mirror URL] [--verbose]\n\nThe cache of pristine bases that `appbox create "
                "--base debian:SUITE` builds once and unpacks every container from.\n");
        return argc < 1 ? 2 : 0;
    }
    ab_error err = { 0 };
    if (strcmp(argv[0], "list") == 0) {
        if (argc != 1)
            return cmd_usage_error("image", "list takes no arguments");
        strv names = { 0 };
        if (image_cache_list(ctx, &names, &err) < 0)
            return cmd_report(&err);
        _cleanup_free_ char *dir = image_cache_dir(ctx, &err);
        printf("%-40s %10s  %s\n", "NAME", "SIZE", "BUILT");
        for (size_t i = 0; i < names.n; i++) {
            _cleanup_free_ char *p = NULL;
            struct stat st;
            if (asprintf(&p, "%s/%s.tar", dir, names.v[i]) < 0 || stat(p, &st) < 0)
                continue;
            char when[32];
            struct tm tm;
            strftime(when, sizeof(when), "%Y-%m-%d %H:%M", localtime_r(&st.st_mtime, &tm));
            printf("%-40s %8.1f MB  %s\n", names.v[i], (double)st.st_size / 1e6, when);
        }
        strv_clear(&names);
        return 0;
    }
    if (strcmp(argv[0], "rm") == 0) {
        if (argc != 2)
            return cmd_usage_error("image", "usage: appbox image rm NAME");
        if (image_cache_remove(ctx, argv[1], &err) < 0)
            return cmd_report(&err);
        printf("removed %s\n", argv[1]);
        return 0;
    }
    if (strcmp(argv[0], "pull") == 0) {
        struct bootstrap_opts o = { 0 };
        const char *base = NULL;
        for (int i = 1; i < argc; i++) {
            if (strcmp(argv[i], "--verbose") == 0)
                o.verbose = true;
            else if ((strcmp(argv[i], "--variant") == 0 || strcmp(argv[i], "--mirror") == 0) && i + 1 < argc) {
                const char **slot = argv[i][2] == 'v' ? &o.variant : &o.mirror;
                *slot = argv[i + 1];
                i++;
            }
            else if (argv[i][0] == '-')
                return cmd_usage_error("image", "%s: unknown option (allowed: --variant, --mirror, --verbose)", argv[i]);
            else if (!base)
                base = argv[i];
            else
                return cmd_usage_error("image", "unexpected argument '%s'", argv[i]);
        }
        if (!base || !bootstrap_base_kind(base))
            return cmd_usage_error("image", "pull: '%s' is not a base to bootstrap (allowed: debian:SUITE, "
                                            "ubuntu:SUITE)", base ? base : "");
        if (bootstrap_parse(ctx, base, &o, &err) < 0)
            return cmd_report(&err);
        _cleanup_free_ char *tar = NULL;
        if (bootstrap_cached_tar(ctx, &o, &tar, &err) < 0)
            return cmd_report(&err);
        _cleanup_free_ char *name = bootstrap_cache_name(&o);
        printf("%s: %s\n", name, tar);
        return 0;
    }
    return cmd_usage_error("image", "'%s': unknown (allowed: list, rm, pull)", argv[0]);
}
