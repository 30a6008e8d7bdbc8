#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "spec/options.h"
#include "util/error.h"

int cmd_report(const ab_error *err)
{
    fprintf(stderr, "appbox: %s\n", err->msg);
    return ab_error_exit_code(err);
}

int cmd_usage_error(const char *verb, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "appbox: %s: ", verb);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 2;
}

int cmd_is_help(const char *arg)
{
    return strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0;
}

const char *cmd_self_path(void)
{
    static char path[PATH_MAX];
    const char *env = getenv("APPBOX_EXE"); /* set before a sealed re-exec */
    if (env && env[0] == '/')
        return env;
    ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - 1);
    if (n <= 0)
        return "appbox";
    path[n] = '\0';
    return path;
}

void cmd_print_spec_options(FILE *f, int with_keys)
{
    for (const struct spec_option *o = spec_options; o->name; o++) {
        char left[48];
        snprintf(left, sizeof(left), "--%s%s%s", o->name, o->metavar ? " " : "", o->metavar ? o->metavar : "");
        if (with_keys)
            fprintf(f, "  %-24s %s  [%s] %s=\n", left, o->help, o->section, o->key);
        else
            fprintf(f, "  %-24s %s\n", left, o->help);
    }
}
