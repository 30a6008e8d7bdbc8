/* image: the cache of pristine Debian/Ubuntu bases. */
#include <errno.h>
#include <json-c/json.h>
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cmd/cmd.h"
#include "container/bases.h"
#include "image/bootstrap.h"
#include "util/cleanup.h"

int cmd_image(struct ab_ctx *ctx, int argc, char **argv)
{
    /* a bootstrap says it starts (it takes minutes) when someone watches */
    if (isatty(STDERR_FILENO))
        ctx->log_min = AB_LOG_INFO;
    bool help = argc < 1;
    for (int i = 0; i < argc; i++)
        help = help || cmd_is_help(argv[i]);
    if (help) {
        fprintf(argc < 1 ? stderr : stdout,
                "Usage: appbox image list [--json | --names] | appbox image rm NAME\n"
                "       appbox image pull debian:SUITE|ubuntu:SUITE [--variant V] [--mirror URL] [--verbose]\n"
                "\nThe cache of pristine Debian/Ubuntu bases: appbox create builds one once for a base\n"
                "debian:SUITE or ubuntu:SUITE and unpacks it once, read-only, for every container of it.\n"
                "list --json: the name, path, size (bytes) and build time (ISO 8601) of each;\n"
                "list --names: the names alone.\n"
                "image rm removes a cached base; an unpacked base that containers still use is kept\n"
                "until the last of them is removed (they keep working).\n");
        return argc < 1 ? 2 : 0;
    }
    ab_error err = { 0 };
    if (strcmp(argv[0], "list") == 0) {
        bool json = false, names_only = false;
        for (int i = 1; i < argc; i++) {
            if (strcmp(argv[i], "--json") == 0)
                json = true;
            else if (strcmp(argv[i], "--names") == 0)
                names_only = true;
            else
                return cmd_usage_error("image", "list: '%s': unknown argument (allowed: --json, --names)", argv[i]);
        }
        if (json && names_only)
            return cmd_usage_error("image", "list: --json and --names: give one of them");
        strv names = { 0 };
        if (image_cache_list(ctx, &names, &err) < 0)
            return cmd_report(&err);
        _cleanup_free_ char *dir = image_cache_dir(ctx, &err);
        json_object *arr = json_object_new_array();
        int width = 4;
        for (size_t i = 0; i < names.n; i++)
            width = (int)strlen(names.v[i]) > width ? (int)strlen(names.v[i]) : width;
        if (!json && !names_only)
            printf("%-*s %10s  %s\n", width, "NAME", "SIZE", "BUILT");
        for (size_t i = 0; i < names.n; i++) {
            _cleanup_free_ char *p = NULL;
            struct stat st;
            if (asprintf(&p, "%s/%s.tar", dir, names.v[i]) < 0 || stat(p, &st) < 0)
                continue;
            struct tm tm;
            localtime_r(&st.st_mtime, &tm);
            if (names_only) {
                printf("%s\n", names.v[i]);
            } else if (json) {
                char iso[40];
                strftime(iso, sizeof(iso), "%Y-%m-%dT%H:%M:%S%z", &tm);
                json_object *o = json_object_new_object();
                json_object_object_add(o, "name", json_object_new_string(names.v[i]));
                json_object_object_add(o, "path", json_object_new_string(p));
                json_object_object_add(o, "size", json_object_new_int64((int64_t)st.st_size));
                json_object_object_add(o, "built", json_object_new_string(iso));
                json_object_array_add(arr, o);
            } else {
                char when[32];
                strftime(when, sizeof(when), "%Y-%m-%d %H:%M", &tm);
                printf("%-*s %7.1f MB  %s\n", width, names.v[i], (double)st.st_size / 1e6, when);
            }
        }
        if (json)
            printf("%s\n", json_object_to_json_string_ext(arr, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
        json_object_put(arr);
        strv_clear(&names);
        return 0;
    }
    if (strcmp(argv[0], "rm") == 0) {
        if (argc != 2)
            return cmd_usage_error("image", "usage: appbox image rm NAME");
        if (image_cache_remove(ctx, argv[1], &err) < 0)
            return cmd_report(&err);
        printf("removed %s\n", argv[1]);
        /* Its unpacked bases go with it, but for those containers still
         * use: each is kept until the last of its containers is removed. */
        strv users = { 0 };
        if (bases_collect(ctx, &err) < 0 || bases_users(ctx, argv[1], true, &users, &err) < 0) {
            strv_clear(&users);
            return cmd_report(&err);
        }
        if (users.n) {
            printf("kept its unpacked base for the container%s that use%s it:", users.n > 1 ? "s" : "",
                   users.n > 1 ? "" : "s");
            for (size_t i = 0; i < users.n; i++)
                printf("%s %s", i ? "," : "", users.v[i]);
            printf(" (removed with the last of them)\n");
        }
        strv_clear(&users);
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
