/* One function per verb; each parses its own arguments and prints. */
#pragma once

#include <stdio.h>

int cmd_sandbox(int argc, char **argv);
int cmd_create(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_start(int argc, char **argv);
int cmd_stop(int argc, char **argv);
int cmd_exec(int argc, char **argv);
int cmd_shell(int argc, char **argv);
int cmd_list(int argc, char **argv);
int cmd_show(int argc, char **argv);
int cmd_config(int argc, char **argv);
int cmd_edit(int argc, char **argv);
int cmd_rm(int argc, char **argv);
int cmd_launcher(int argc, char **argv);
int cmd_update(int argc, char **argv);
int cmd_image(int argc, char **argv);
/* update's work, shared with run ++aptupdate/++aptupdateall */
#include <stdbool.h>
#include <stddef.h>
int update_containers(char **names, size_t n, bool verbose);
int update_all(bool verbose);
int cmd_help(int argc, char **argv);
int cmd_version(int argc, char **argv);

/* Print "appbox: MSG" and return the exit code for ERR. */
struct ab_error;
int cmd_report(const struct ab_error *err);
/* Print a usage error "appbox: VERB: MSG" and return 2. */
int cmd_usage_error(const char *verb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* True when ARG is --help or -h. */
int cmd_is_help(const char *arg);

/* A "++OPTION [VALUE]" override (run, start) for any container option of
 * the registry: ARGV[*I] starts with "++".  Checked as the flag would be,
 * and added to OVERRIDES as its appbox.conf entry.  Returns 1 when it was
 * one (*I at its last word), 0 when OPTION is not a container option, or
 * minus the exit code after printing the error. */
struct conf;
int cmd_parse_override(const char *verb, int argc, char **argv, int *i, struct conf *overrides);
/* The option table as --help lines; WITH_KEYS adds each appbox.conf key. */
void cmd_print_spec_options(FILE *f, int with_keys);
/* The absolute path of this appbox binary, for launchers. */
const char *cmd_self_path(void);
/* Launcher helpers shared by create, rm and launcher. */
int launcher_install(const char *name, const char *as, int quiet);
/* 0 when NAME may install its launcher (as AS): the name is free or already NAME's. */
int launcher_check(const char *name, const char *as, struct ab_error *err);
int launcher_remove(const char *name, int quiet);
char *launcher_path(const char *name);   /* recorded path, malloc'd, or NULL */
void launcher_unlink(const char *path);  /* only if it is an appbox launcher */
