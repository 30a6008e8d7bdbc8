/* install: packages and local .deb files into a stopped Debian/Ubuntu
 * container, the way update upgrades it: apt-get as the container's root
 * on its rootfs, with a network of its own (pasta) for just this run. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "container/container.h"
#include "container/state.h"
#include "container/store.h"
#include "image/apt.h"
#include "util/cleanup.h"

static void install_usage(FILE *f)
{
    fprintf(f, "Usage: appbox install [--verbose] NAME [--] PACKAGE... | FILE.deb...\n\n"
               "Install packages from the container's mirror and/or local .deb files (their dependencies\n"
               "from the mirror) into the stopped Debian/Ubuntu container NAME: apt-get runs as its root,\n"
               "with a network of its own (pasta) just for this, as for update.  An argument with a '/'\n"
               "or ending in .deb is a file; any other is a package name.  Its output goes to\n"
               "$DATA/.logs/NAME-install.log; --verbose shows it as well.\n");
}

/* A .deb argument: an existing, readable regular file named *.deb, as an
 * absolute path (bound read-only into the container). */
static int check_deb(const char *arg, strv *debs)
{
    size_t len = strlen(arg);
    if (len < 4 || strcmp(arg + len - 4, ".deb") != 0)
        return cmd_usage_error("install", "'%s': not a .deb file (an argument with a '/' is a file, which must "
                               "be an existing FILE.deb)", arg);
    struct stat st;
    if (stat(arg, &st) < 0)
        return cmd_usage_error("install", "'%s': %s (expected an existing .deb file)", arg, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return cmd_usage_error("install", "'%s': not a regular file (expected an existing .deb file)", arg);
    char *abs = realpath(arg, NULL);
    if (!abs || access(abs, R_OK) < 0) {
        int e = errno;
        free(abs);
        return cmd_usage_error("install", "'%s': %s (expected a readable .deb file)", arg, strerror(e));
    }
    strv_push_take(debs, abs);
    return 0;
}

/* The install itself, under NAME's start.lock so that no start races it. */
static int install(struct ab_ctx *ctx, const char *name, const strv *pkgs, const strv *debs, bool verbose,
                   ab_error *err)
{
    struct container c;
    int r = container_open(ctx, name, &c, err);
    bool host = r == 0 && strcmp(c.cc.base, "host") == 0;
    container_close(&c);
    if (r < 0)
        return r;
    if (host)
        return ab_usage(err, "%s is the host view (base host): it has no packages of its own", name);
    /* a root of its own, or a layer over a shared base (apt-get looked
     * for in the base: the layer is the container's, not looked into) */
    _cleanup_free_ char *rootfs = NULL, *lower = NULL;
    if ((r = container_root_paths(ctx, name, &rootfs, &lower, err)) < 0)
        return r;
    if (!apt_present(lower ? lower : rootfs))
        return ab_usage(err, "%s is not a Debian/Ubuntu root (no apt-get)", name);
    _cleanup_close_ int start = state_open_lock(ctx, name, "start.lock", err);
    if (start < 0)
        return start;
    state_lock(start, LOCK_EX);
    /* dpkg under a running container's programs: not while it runs */
    if (state_running(ctx, name))
        return ab_error_set(err, AB_ERR_RUNTIME, 0, "%s is running (stop it first: appbox stop %s)", name, name);
    _cleanup_free_ char *log = container_log_path(ctx, name, "install", err);
    if (!log)
        return -ENOMEM;
    if (!verbose && isatty(STDERR_FILENO))
        fprintf(stderr, "appbox: installing %zu package(s) and %zu .deb file(s) into %s; log: %s\n", pkgs->n,
                debs->n, name, log);
    r = apt_install(ctx, rootfs, lower, pkgs, debs, log, verbose, err);
    if (r == 0)
        state_log(ctx, name, "installed %zu package(s) and %zu .deb file(s) (apt-get install)", pkgs->n, debs->n);
    return r;
}

int cmd_install(struct ab_ctx *ctx, int argc, char **argv)
{
    bool verbose = false, dashdash = false;
    const char *name = NULL;
    strv pkgs = { 0 }, debs = { 0 }, shown = { 0 };
    int code = 0;
    for (int i = 0; i < argc && code == 0; i++) {
        const char *a = argv[i];
        if (!dashdash && cmd_is_help(a)) {
            install_usage(stdout);
            goto out;
        }
        if (!dashdash && strcmp(a, "--") == 0) {
            dashdash = true;
        } else if (!dashdash && strcmp(a, "--verbose") == 0) {
            verbose = true;
        } else if (!dashdash && a[0] == '-') {
            code = cmd_usage_error("install", "%s: unknown option (allowed: --verbose)", a);
        } else if (!name) {
            name = a;
        } else if (strchr(a, '/') || (strlen(a) >= 4 && strcmp(a + strlen(a) - 4, ".deb") == 0)) {
            if ((code = check_deb(a, &debs)) == 0)
                strv_push(&shown, a);
        } else if (!apt_package_name_valid(a)) {
            code = cmd_usage_error("install", "'%s' is not a package name (lower-case letters, digits, + - . : = ~; "
                                              "starting with a letter or digit) nor a FILE.deb", a);
        } else {
            strv_push(&pkgs, a);
            strv_push(&shown, a);
        }
    }
    if (code == 0 && !name)
        code = cmd_usage_error("install", "missing NAME (usage: appbox install NAME PACKAGE... | FILE.deb...)");
    else if (code == 0 && pkgs.n + debs.n == 0)
        code = cmd_usage_error("install", "nothing to install into %s (usage: appbox install NAME PACKAGE... | "
                                          "FILE.deb...)", name);
    ab_error err = { 0 };
    if (code == 0 && store_check_name(name, &err) < 0)
        code = cmd_report(&err);
    if (code == 0) {
        if (install(ctx, name, &pkgs, &debs, verbose, &err) < 0) {
            fprintf(stderr, "appbox: %s: install failed: %s\n", name, err.msg);
            code = ab_error_exit_code(&err);
        } else {
            printf("%s: installed", name);
            for (size_t i = 0; i < shown.n; i++)
                printf(" %s", shown.v[i]);
            printf("\n");
        }
    }
out:
    strv_clear(&pkgs);
    strv_clear(&debs);
    strv_clear(&shown);
    return code;
}
