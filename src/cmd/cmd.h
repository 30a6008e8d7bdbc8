/* One function per verb; each parses its own arguments and prints. */
#pragma once

#include <stdio.h>

#include "context.h"

struct spec;

int cmd_sandbox(struct ab_ctx *ctx, int argc, char **argv);
int cmd_create(struct ab_ctx *ctx, int argc, char **argv);
int cmd_run(struct ab_ctx *ctx, int argc, char **argv);
int cmd_start(struct ab_ctx *ctx, int argc, char **argv);
int cmd_stop(struct ab_ctx *ctx, int argc, char **argv);
int cmd_exec(struct ab_ctx *ctx, int argc, char **argv);
int cmd_shell(struct ab_ctx *ctx, int argc, char **argv);
int cmd_list(struct ab_ctx *ctx, int argc, char **argv);
int cmd_show(struct ab_ctx *ctx, int argc, char **argv);
int cmd_config(struct ab_ctx *ctx, int argc, char **argv);
int cmd_edit(struct ab_ctx *ctx, int argc, char **argv);
int cmd_rm(struct ab_ctx *ctx, int argc, char **argv);
int cmd_launcher(struct ab_ctx *ctx, int argc, char **argv);
int cmd_update(struct ab_ctx *ctx, int argc, char **argv);
int cmd_install(struct ab_ctx *ctx, int argc, char **argv);
int cmd_image(struct ab_ctx *ctx, int argc, char **argv);
int cmd_cp(struct ab_ctx *ctx, int argc, char **argv);
int cmd_export(struct ab_ctx *ctx, int argc, char **argv);
int cmd_logs(struct ab_ctx *ctx, int argc, char **argv);
int cmd_unit(struct ab_ctx *ctx, int argc, char **argv);
int cmd_stats(struct ab_ctx *ctx, int argc, char **argv);
/* update's work, shared with run ++aptupdate/++aptupdateall */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
int update_containers(struct ab_ctx *ctx, char **names, size_t n, bool verbose);
int update_all(struct ab_ctx *ctx, bool verbose);
int cmd_help(struct ab_ctx *ctx, int argc, char **argv);
int cmd_version(struct ab_ctx *ctx, int argc, char **argv);
int cmd_completion(struct ab_ctx *ctx, int argc, char **argv);
int cmd_complete(struct ab_ctx *ctx, int argc, char **argv);

/* The verb table (main.c): dispatch, `appbox help VERB` and the shell
 * completion scripts all read it. */
struct cmd_verb {
    const char *name;
    int (*fn)(struct ab_ctx *ctx, int argc, char **argv);
    int guard_exe; /* runs container code: protect the binary first */
    int store;     /* uses named containers: the data and runtime dirs are checked first */
};
extern const struct cmd_verb cmd_verbs[];
/* What a verb takes (main.c, beside the verb table). */
enum cmd_spec_opts {
    CMD_SPEC_NONE = 0,
    CMD_SPEC_DASH, /* the registry's container options as --OPTION (sandbox, create) */
    CMD_SPEC_PLUS, /* them as ++OPTION after the name (run, start) */
};
struct cmd_verb_args {
    const char *name;
    const char *options;  /* its own options, blank-separated; "--opt=" takes a value */
    const char *operands; /* its other words: "@container", "@containers" (several), "@image",
                           * "@verbs", "@command", "@copy" (NAME: or a file),
                           * "@container-file" (NAME then a file) or a list of words; NULL: none */
    enum cmd_spec_opts spec;
};
extern const struct cmd_verb_args cmd_verb_args[];
const struct cmd_verb_args *cmd_verb_args_find(const char *name);
const struct cmd_verb *cmd_verb_find(const char *name);

/* Print "appbox: MSG" and return the exit code for ERR. */
struct ab_error;
int cmd_report(const struct ab_error *err);
/* Print a usage error "appbox: VERB: MSG" and return 2: for a command
 * line that is wrong in itself (an unknown option, a missing or extra
 * word, a value that is not allowed). */
int cmd_usage_error(const char *verb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Print "appbox: VERB: MSG" and return 125: appbox could not do it (no
 * such container, one that already exists, ...). */
int cmd_fail(const char *verb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* When ARG, found where VERB takes a name, is one of the registry's
 * container options (--network, ++bind=X, ...): print where it goes, with
 * the command line put right (ARGV/ARGC: VERB's words), and return 2.
 * Returns 0 when ARG is no such option. */
int cmd_misplaced_option(const char *verb, int argc, char **argv, int at);
/* The other way round, for verbs whose options go before the name (exec):
 * when ARGV[AT], after the name at NAME_AT, is one of VERB's options, say
 * so with the command line put right and return 2; else 0. */
int cmd_option_after_name(const char *verb, int argc, char **argv, int name_at, int at);
/* True when ARG is --help or -h. */
int cmd_is_help(const char *arg);

/* The context from the environment (HOME, XDG_*, APPBOX_*, PATH), with
 * lib/'s messages printed on stderr from AB_LOG_WARNING up (a verb lowers
 * ctx->log_min to show more). */
int cmd_context_init(struct ab_ctx *ctx, ab_error *err);

/* A "++OPTION [VALUE]" override (run, start) for any container option of
 * the registry: ARGV[*I] starts with "++".  Checked as the flag would be,
 * and added to OVERRIDES as its appbox.conf entry.  Returns 1 when it was
 * one (*I at its last word), 0 when OPTION is not a container option, or
 * minus the exit code after printing the error. */
struct conf;
int cmd_parse_override(const char *verb, int argc, char **argv, int *i, struct conf *overrides);
/* The option table as --help lines; WITH_KEYS adds each appbox.conf key. */
void cmd_print_spec_options(FILE *f, int with_keys);
/* The same as ++OPTION lines (run, start). */
void cmd_print_spec_overrides(FILE *f);
/* The absolute path of this appbox binary, for launchers. */
const char *cmd_self_path(void);
/* cp and export: open NAME (a missing one is exit 125); 0 or the exit code, printed. */
struct container;
int cmd_open_for_copy(struct ab_ctx *ctx, const char *verb, const char *name, struct container *c);
/* Launcher helpers shared by create, rm and launcher. */
int launcher_install(struct ab_ctx *ctx, const char *name, const char *as, bool replaces, int quiet);
/* 0 when NAME may install its launcher (as AS): the name is free or already NAME's. */
int launcher_check(struct ab_ctx *ctx, const char *name, const char *as, bool replaces, struct ab_error *err);
/* Another executable COMMAND on the caller's PATH than the launcher at
 * LAUNCHER (which may not exist yet) and its folder: malloc'd, or NULL. */
char *launcher_shadowed(const char *command, const char *launcher);
/* As root: a warning for each read-write bind the container cannot write
 * (bound as it is, not idmapped), with the chown that lets it. */
void cmd_warn_root_rw_binds(struct ab_ctx *ctx, const struct spec *s);

/* "appbox: killed: memory limit 32M reached" on stderr (MEMORY: the
 * container's limit, 0: none): its command died of SIGKILL and its memory
 * group saw an OOM kill (exit 137 follows). */
void cmd_report_oom(uint64_t memory);
int launcher_remove(struct ab_ctx *ctx, const char *name, int quiet);
char *launcher_path(struct ab_ctx *ctx, const char *name);   /* recorded path, malloc'd, or NULL */
void launcher_unlink(const char *path);  /* only if it is an appbox launcher */
