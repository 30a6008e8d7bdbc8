#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "container/config.h"
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

int cmd_parse_override(const char *verb, int argc, char **argv, int *i, struct conf *overrides)
{
    const char *word = argv[*i] + 2;
    const char *eq = strchr(word, '=');
    char name[64];
    size_t nlen = eq ? (size_t)(eq - word) : strlen(word);
    if (nlen == 0 || nlen >= sizeof(name))
        return 0;
    memcpy(name, word, nlen);
    name[nlen] = '\0';
    const struct spec_option *o = spec_option_find(name);
    if (!o)
        return 0;
    char flag[72];
    snprintf(flag, sizeof(flag), "++%s", name);
    ab_error err = { 0 };
    const char *value;
    /* The same checks as the flag and the appbox.conf key: the one
     * registry, applied to a scratch spec. */
    struct spec scratch;
    spec_init(&scratch);
    int r = spec_option_take_value(o, flag, eq ? eq + 1 : NULL, argc, argv, i, &value, &err);
    if (r == 0)
        r = spec_option_apply(&scratch, o, flag, value, &err);
    spec_free(&scratch);
    if (r < 0) {
        fprintf(stderr, "appbox: %s: %s\n", verb, err.msg);
        return -ab_error_exit_code(&err);
    }
    /* A repeatable key adds to the file's (one more bind); any other
     * replaces it for this start. */
    if (!o->repeatable)
        conf_remove(overrides, o->section, o->key);
    if (conf_add(overrides, o->section, o->key, value ? value : "yes", CONF_LINE_OVERRIDE) < 0) {
        fprintf(stderr, "appbox: %s: out of memory\n", verb);
        return -125;
    }
    return 1;
}

static void log_stderr(void *ud, enum ab_log_level level, const char *msg)
{
    fprintf(stderr, "appbox: %s%s\n", level == AB_LOG_WARNING ? "warning: " : "", msg);
}

int cmd_context_init(struct ab_ctx *ctx, ab_error *err)
{
    extern char **environ;
    const struct ab_env env = {
        .home = getenv("HOME"),
        .xdg_data_home = getenv("XDG_DATA_HOME"),
        .xdg_runtime_dir = getenv("XDG_RUNTIME_DIR"),
        .data_dir = getenv("APPBOX_DATA_DIR"),
        .runtime_dir = getenv("APPBOX_RUNTIME_DIR"),
        .self_exe = getenv("APPBOX_EXE"),
        .bootstrap_tool = getenv("APPBOX_BOOTSTRAP"),
        .path = getenv("PATH"),
        .environ = environ,
    };
    int r = ab_ctx_init(ctx, &env, err);
    /* warnings always; steps with run ++show, long steps on a terminal */
    ctx->log = log_stderr;
    ctx->log_min = AB_LOG_WARNING;
    return r;
}

