#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cmd/cmd.h"
#include "net/net.h"
#include "spec/options.h"
#include "runtime/resolve.h"
#include "runtime/sandbox.h"
#include "spec/spec.h"

static void sandbox_usage(FILE *f)
{
    fprintf(f, "Usage: appbox sandbox [OPTIONS] [--] COMMAND [ARG...]\n"
               "\n"
               "Run COMMAND in a throwaway container: own user, mount, PID, IPC, UTS,\n"
               "cgroup and network namespaces, a minimal /dev, masked /proc, no\n"
               "capabilities, no_new_privs and a seccomp filter.  Without --root the\n"
               "container sees the host's /usr, /bin, /lib and /etc read-only and a fresh,\n"
               "empty /tmp, /run, /var/tmp and home.\n"
               "\nOptions:\n");
    cmd_print_spec_options(f, false);
    fprintf(f, "  %-24s %s\n", "--help", "show this help");
}

static int sandbox_unknown(void *ud, const char *name, const char *value, ab_error *err)
{
    if (strcmp(name, "help") == 0) {
        *(int *)ud = 1;
        return 0;
    }
    return -ENOENT;
}

int cmd_sandbox(struct ab_ctx *ctx, int argc, char **argv)
{
    struct spec s;
    spec_init(&s);
    ab_error err = { 0 };
    int help = 0;
    int r = spec_parse_args(&s, argc, argv, sandbox_unknown, &help, &err);
    if (help) {
        sandbox_usage(stdout);
        spec_free(&s);
        return 0;
    }
    if (r < 0) {
        spec_free(&s);
        return cmd_report(&err);
    }
    if (s.process.argv.n == 0) {
        spec_free(&s);
        fprintf(stderr, "appbox: sandbox: no command given (usage: appbox sandbox [OPTIONS] [--] COMMAND [ARG...])\n");
        return 2;
    }
    if (spec_validate(&s, &err) < 0) {
        spec_free(&s);
        return cmd_report(&err);
    }
    if (!s.process.seccomp)
        fprintf(stderr, "appbox: warning: --seccomp off: the command may use every system call, "
                        "including those that attack the kernel\n");
    /* Resolved here (sandbox_run() then leaves it as it is): the mounts
     * say whether the caller's working directory is there to start in. */
    if (sandbox_resolve(ctx, &s, NULL, &err) < 0) {
        spec_free(&s);
        return cmd_report(&err);
    }
    if (spec_follow_caller_cwd(&s.process, &s) < 0) {
        net_release(ctx, &s); /* what the network reserved */
        spec_free(&s);
        ab_fail(&err, ENOMEM, "cannot start the sandbox");
        return cmd_report(&err);
    }
    cmd_warn_root_rw_binds(ctx, &s);
    int code = 0;
    bool oom = false;
    r = sandbox_run(ctx, &s, &code, &oom, &err);
    if (r == 0 && oom)
        cmd_report_oom(s.container.resources.memory);
    spec_free(&s);
    if (r < 0)
        return cmd_report(&err);
    return code;
}
