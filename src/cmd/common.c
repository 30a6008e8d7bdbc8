#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd/cmd.h"

#include "cgroup/cgroup.h"
#include "container/config.h"
#include "spec/options.h"
#include "util/error.h"

int cmd_report(const ab_error *err)
{
    fprintf(stderr, "appbox: %s\n", err->msg);
    return ab_error_exit_code(err);
}

/* "appbox: VERB: MSG" on stderr, MSG escaped as every message is (it may
 * echo a container's names); returns CODE. */
static int say(int code, const char *verb, const char *fmt, va_list ap)
{
    char msg[2048];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    ab_escape_controls(msg, sizeof(msg));
    fprintf(stderr, "appbox: %s: %s\n", verb, msg);
    return code;
}

int cmd_usage_error(const char *verb, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int code = say(2, verb, fmt, ap);
    va_end(ap);
    return code;
}

int cmd_fail(const char *verb, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int code = say(125, verb, fmt, ap);
    va_end(ap);
    return code;
}

/* Whether WORD (up to its '=') is one of V's own options; *VALUE: it takes
 * a value (written "--opt=" in the verb table). */
static int verb_option(const struct cmd_verb_args *v, const char *word, size_t len, int *value)
{
    const char *p = v && v->options ? v->options : "";
    while (*p) {
        size_t n = strcspn(p, " ");
        size_t bare = n && p[n - 1] == '=' ? n - 1 : n;
        if (bare == len && strncmp(p, word, len) == 0) {
            *value = bare != n;
            return 1;
        }
        p += n;
        p += strspn(p, " ");
    }
    return 0;
}

/* WORD for a shell command line: as it is when nothing in it is special. */
static void put_word(FILE *f, const char *w)
{
    if (*w && w[strspn(w, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_+=/.,:@%")] == '\0') {
        fputs(w, f);
        return;
    }
    fputc('\'', f);
    for (; *w; w++) {
        if (*w == '\'')
            fputs("'\\''", f);
        else
            fputc(*w, f);
    }
    fputc('\'', f);
}

int cmd_misplaced_option(const char *verb, int argc, char **argv, int at)
{
    const char *w = argv[at];
    if (!((w[0] == '-' && w[1] == '-') || (w[0] == '+' && w[1] == '+')) || !w[2])
        return 0;
    const struct cmd_verb_args *v = cmd_verb_args_find(verb);
    const char *eq = strchr(w, '=');
    size_t len = eq ? (size_t)(eq - w) : strlen(w);
    char name[64];
    if (len - 2 >= sizeof(name))
        return 0;
    snprintf(name, sizeof(name), "%.*s", (int)(len - 2), w + 2);
    const struct spec_option *o = spec_option_find(name);
    /* one of the verb's own options (create --base, run ++show), in
     * either spelling */
    char own[72];
    int value = 0;
    snprintf(own, sizeof(own), "--%s", name);
    int is_own = verb_option(v, own, strlen(own), &value);
    if (!is_own) {
        own[0] = own[1] = '+';
        is_own = verb_option(v, own, strlen(own), &value);
    }
    if (!is_own && o && v && v->spec != CMD_SPEC_NONE) {
        snprintf(own, sizeof(own), "%s%s", v->spec == CMD_SPEC_PLUS ? "++" : "--", name);
        value = o->metavar != NULL;
    } else if (!is_own) {
        if (!o)
            return 0;
        /* a container option where only process options go (exec) */
        fprintf(stderr, "appbox: %s: '%.*s' is a container option, set when the container starts: appbox run "
                        "NAME ++%s%s%s, or appbox start NAME ++%s%s%s\n",
                verb, (int)len, w, name, o->metavar ? " " : "", o->metavar ? o->metavar : "", name,
                o->metavar ? " " : "", o->metavar ? o->metavar : "");
        return 2;
    }
    /* the command line put right: NAME, then the option as it goes there */
    int next = at + 1;
    const char *val = eq ? eq + 1 : NULL;
    if (value && !eq && next < argc &&
        !(o && spec_option_value_optional(o) && !spec_option_value_word(o, argv[next])))   /* --sound alone */
        val = argv[next++];
    const char *ctr = next < argc && argv[next][0] != '-' && argv[next][0] != '+' ? argv[next] : "NAME";
    fprintf(stderr, "appbox: %s: '%.*s' goes after the name", verb, (int)len, w);
    if (strncmp(own, w, len) != 0 || own[len])
        fprintf(stderr, " as '%s'", own);
    fprintf(stderr, ": appbox %s ", verb);
    put_word(stderr, ctr);
    fprintf(stderr, " %s", own);
    if (val) {
        fputc(' ', stderr);
        put_word(stderr, val);
    }
    fputc('\n', stderr);
    return 2;
}

int cmd_option_after_name(const char *verb, int argc, char **argv, int name_at, int at)
{
    const char *w = argv[at];
    const char *eq = strchr(w, '=');
    size_t len = eq ? (size_t)(eq - w) : strlen(w);
    int value = 0;
    if (w[0] != '-' || w[1] != '-' || !w[2] || !verb_option(cmd_verb_args_find(verb), w, len, &value))
        return 0;
    int end = at + 1 + (value && !eq && at + 1 < argc);
    fprintf(stderr, "appbox: %s: '%.*s' goes before the name: appbox %s", verb, (int)len, w, verb);
    /* the options before the name, this one, the name, the rest */
    const int ranges[4][2] = { { 0, name_at }, { at, end }, { name_at, at }, { end, argc } };
    for (int r = 0; r < 4; r++)
        for (int i = ranges[r][0]; i < ranges[r][1]; i++) {
            fputc(' ', stderr);
            put_word(stderr, argv[i]);
        }
    fputc('\n', stderr);
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
    for (const struct spec_option_alias *a = spec_option_aliases; a->name; a++) {
        char left[48];
        snprintf(left, sizeof(left), "--%s", a->name);
        fprintf(f, "  %-24s %s", left, a->help);
        if (with_keys)
            fprintf(f, "  [Desktop] Display=%s", a->value);
        fputc('\n', f);
    }
}

void cmd_print_spec_overrides(FILE *f)
{
    for (const struct spec_option *o = spec_options; o->name; o++) {
        char left[48];
        snprintf(left, sizeof(left), "++%s%s%s", o->name, o->metavar ? " " : "", o->metavar ? o->metavar : "");
        fprintf(f, "  %-24s %s\n", left, o->help);
    }
    for (const struct spec_option_alias *a = spec_option_aliases; a->name; a++) {
        char left[48];
        snprintf(left, sizeof(left), "++%s", a->name);
        fprintf(f, "  %-24s %s\n", left, a->help);
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
    const char *alias_value = NULL;
    if (!o)
        o = spec_option_alias_find(name, &alias_value);
    if (!o)
        return 0;
    char flag[72];
    snprintf(flag, sizeof(flag), "++%s", name);
    ab_error err = { 0 };
    const char *value = alias_value;
    /* The same checks as the flag and the appbox.conf key: the one
     * registry, applied to a scratch spec. */
    struct spec scratch;
    spec_init(&scratch);
    int r = alias_value ? (eq ? ab_usage(&err, "%s: takes no value (got '%s')", flag, eq + 1) : 0)
                        : spec_option_take_value(o, flag, eq ? eq + 1 : NULL, argc, argv, i, &value, &err);
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


void cmd_report_oom(uint64_t memory)
{
    char lim[32];
    if (memory)
        fprintf(stderr, "appbox: killed: memory limit %s reached\n", cgroup_format_bytes(memory, lim, sizeof(lim)));
    else
        fprintf(stderr, "appbox: killed: out of memory (the kernel's OOM killer)\n");
}
