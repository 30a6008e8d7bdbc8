#include "image/apt.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/sandbox.h"
#include "spec/spec.h"
#include "image/progress.h"
#include "util/cleanup.h"
#include "util/interrupt.h"

#define APT "apt-get -q -o APT::Sandbox::User=root -o Dpkg::Options::=--force-confdef " \
            "-o Dpkg::Options::=--force-confold"

bool apt_present(const char *rootfs)
{
    char p[PATH_MAX];
    snprintf(p, sizeof(p), "%s/usr/bin/apt-get", rootfs);
    return access(p, F_OK) == 0;
}

bool apt_package_name_valid(const char *name)
{
    bool ok = (*name >= 'a' && *name <= 'z') || (*name >= '0' && *name <= '9');
    for (const char *c = name; ok && *c; c++)
        ok = (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || strchr("+-.:=~", *c);
    return ok;
}

/* What became of an apt-get run that ended with CODE (the shell's: 128+N
 * for a command killed by signal N), in the tool's own words WHY (its
 * "E: " lines, see progress.h) where it gave some. */
static int apt_status(int code, const char *why, const char *logpath, ab_error *err)
{
    if (code == 0)
        return 0;
    int sig = code > 128 && code < 128 + 65 ? code - 128 : 0;
    /* Ctrl-C (SIGINT, or SIGTERM/SIGHUP from whoever stops appbox): it
     * reached apt-get through the container's init */
    if (sig == SIGINT || sig == SIGTERM || sig == SIGHUP || interrupted())
        return ab_error_set(err, AB_ERR_RUNTIME, 0, "apt-get was interrupted (signal %d); its log: %s",
                            sig ? sig : interrupted(), logpath);
    if (*why)
        return ab_error_set(err, AB_ERR_RUNTIME, 0, "apt-get failed: %s; its log: %s", why, logpath);
    if (sig)
        return ab_error_set(err, AB_ERR_RUNTIME, 0, "apt-get was killed by signal %d (%s); its log: %s", sig,
                            strsignal(sig), logpath);
    return ab_error_set(err, AB_ERR_RUNTIME, 0, "apt-get failed (exit status %d); its log: %s", code, logpath);
}

/* Run SCRIPT as root of ROOTFS with a network of its own (pasta: the
 * image's apt-get is the image's code, and must not reach the host's
 * loopback services, its abstract unix sockets, or its network
 * namespace); output to LOGPATH unless VERBOSE. */
static int run_in_root(struct ab_ctx *ctx, const char *rootfs, const char *lower, const char *script, const strv *binds, const char *title,
                       const char *logpath, bool verbose, ab_error *err)
{
    struct spec s;
    spec_init(&s);
    s.container.root = strdup(rootfs);
    s.container.root_lower = lower ? strdup(lower) : NULL;
    s.container.writable = true;
    s.process.uid_set = true;
    s.process.uid = 0;
    s.container.net = NET_PASTA; /* /etc/resolv.conf: pasta's DNS forwarder (mounts.c) */
    /* dpkg installs setuid programs (su, passwd, mount): the filter keeps
     * set-id modes for this run on the store's root (sandbox_run() checks
     * that every writable tree is in the store). */
    s.process.store_setid = true;
    int r = s.container.root && (!lower || s.container.root_lower) ? 0 : -ENOMEM;
    for (size_t i = 0; r == 0 && binds && i + 1 < binds->n; i += 2)
        r = spec_add_bind(&s, binds->v[i], binds->v[i + 1], true, NULL);
    const char *argv[] = { "/bin/sh", "-c", script, NULL };
    for (size_t i = 0; r == 0 && argv[i]; i++)
        r = strv_push(&s.process.argv, argv[i]);
    if (r == 0)
        r = strv_push(&s.process.env, "DEBIAN_FRONTEND=noninteractive");
    if (r < 0) {
        spec_free(&s);
        return ab_fail(err, ENOMEM, "out of memory");
    }
    /* No terminal inside: no pty, no prompts; the output goes through the
     * progress reader to the log. */
    struct progress p;
    if (progress_start(&p, title, logpath, false, verbose, err) < 0) {
        spec_free(&s);
        return -EIO;
    }
    _cleanup_close_ int saved_out = dup(STDOUT_FILENO);
    _cleanup_close_ int saved_err = dup(STDERR_FILENO);
    _cleanup_close_ int saved_in = dup(STDIN_FILENO);
    _cleanup_close_ int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
    dup2(null, STDIN_FILENO);
    dup2(p.fd, STDOUT_FILENO);
    dup2(p.fd, STDERR_FILENO);
    int code = 0;
    r = sandbox_run(ctx, &s, &code, NULL, err);
    dup2(saved_in, STDIN_FILENO);
    dup2(saved_out, STDOUT_FILENO);
    dup2(saved_err, STDERR_FILENO);
    char why[512];
    progress_end(&p, why, sizeof(why));
    spec_free(&s);
    if (r < 0)
        return r;
    return apt_status(code, why, logpath, err);
}

static void shell_quote(FILE *f, const char *s)
{
    fputc('\'', f);
    for (; *s; s++)
        *s == '\'' ? fputs("'\\''", f) : fputc(*s, f);
    fputc('\'', f);
}

int apt_install(struct ab_ctx *ctx, const char *rootfs, const char *lower, const strv *packages, const strv *debs, const char *logpath, bool verbose,
                ab_error *err)
{
    char *script = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&script, &len);
    if (!f)
        return ab_fail(err, ENOMEM, "out of memory");
    strv binds = { 0 };
    /* "--": whatever follows is a package or a file, never an option */
    fputs(APT " update && " APT " install -y --no-install-recommends --", f);
    for (size_t i = 0; packages && i < packages->n; i++) {
        fputc(' ', f);
        shell_quote(f, packages->v[i]);
    }
    for (size_t i = 0; debs && i < debs->n; i++) {
        char dst[64];
        snprintf(dst, sizeof(dst), "/run/appbox-debs/%zu.deb", i);
        strv_push(&binds, debs->v[i]);
        strv_push(&binds, dst);
        fprintf(f, " %s", dst);
    }
    fputs(" && " APT " clean", f);
    fclose(f);
    int r = run_in_root(ctx, rootfs, lower, script, &binds, "installing packages", logpath, verbose, err);
    free(script);
    strv_clear(&binds);
    return r;
}

int apt_upgrade(struct ab_ctx *ctx, const char *rootfs, const char *lower, const char *logpath, bool verbose,
                ab_error *err)
{
    return run_in_root(ctx, rootfs, lower, APT " update && " APT " -y upgrade && " APT " clean", NULL, "upgrading", logpath,
                       verbose, err);
}
