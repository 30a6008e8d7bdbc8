/* appbox-oci's verbs and what they share: the global options, messages
 * (stderr and --log), and the option parser every verb uses. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "oci/state.h"
#include "util/error.h"
#include "util/strv.h"

#define OCI_CLI_NAME "appbox-oci"
#define OCI_SPEC_VERSION "1.1.0"

struct oci_cli {
    char *root;              /* --root, or the default for the caller */
    const char *log_path;    /* --log; NULL: none */
    bool log_json;           /* --log-format json */
    bool debug;
    bool systemd_cgroup;
    const char *verb;
    int log_fd;              /* --log opened, or -1 */
};

/* An option of a verb: "--NAME" (and "-NAME", as runc's flag parser
 * takes it), "-S" when SHORT is set. */
enum oci_opt_kind { OCI_OPT_BOOL, OCI_OPT_VALUE, OCI_OPT_LIST };
struct oci_opt {
    const char *name;
    char short_name;
    enum oci_opt_kind kind;
    const char *metavar;
    const char *help;
};

/* What the parser found: per option (index as in the verb's table) */
struct oci_optval {
    bool set;
    const char *value;       /* VALUE: the last given */
    strv list;               /* LIST: every one, in order */
};

struct oci_args {
    struct oci_optval *opt;  /* as many as the verb's options */
    char **pos;              /* the other words */
    int npos;
};

struct oci_verb {
    const char *name;
    int (*fn)(struct oci_cli *cli, struct oci_args *a);
    const char *usage;       /* what follows the options: "<container-id>" */
    const char *summary;
    const struct oci_opt *opts;   /* ends with a NULL name */
    int min_pos, max_pos;    /* the other words; max -1: any */
    bool stop_at_pos;        /* options only before the first other word (exec, ps: the rest is a command) */
};

/* Messages: "appbox-oci: MSG" on stderr and, with --log, a line at LEVEL
 * ("error", "warning", "debug") in the log file.  oci_error returns 1,
 * runc's exit code for every failure. */
int oci_error(struct oci_cli *cli, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int oci_report(struct oci_cli *cli, const ab_error *err);
void oci_warn(struct oci_cli *cli, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void oci_debug(struct oci_cli *cli, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Parse ARGV (after the verb) for V; prints the error and returns 1 on a
 * bad one, -1 after --help was printed (exit 0), else 0. */
int oci_parse(struct oci_cli *cli, const struct oci_verb *v, int argc, char **argv, struct oci_args *a);
void oci_args_free(const struct oci_verb *v, struct oci_args *a);
void oci_verb_help(const struct oci_verb *v);
/* --preserve-fds N: a number, each of fds 3..3+N-1 open when appbox-oci
 * started; else an error (1). */
int oci_parse_preserve_fds(struct oci_cli *cli, const char *opt, const char *val, int *out);

/* A container the verbs work on: its state dir (locked when asked), its
 * state and live status. */
struct oci_ctr {
    int rootfd, dirfd, lock;      /* -1: none */
    struct oci_state st;
    enum oci_status status;
};
/* Open container ID (LOCK: its lock taken); 0, or 1 after printing
 * ("container ID does not exist"). */
int oci_ctr_open(struct oci_cli *cli, const char *id, bool lock, struct oci_ctr *c);
void oci_ctr_close(struct oci_ctr *c);
#define _cleanup_ctr_ __attribute__((cleanup(oci_ctr_close)))
/* Check ID's syntax; prints runc's message. */
bool oci_check_id(struct oci_cli *cli, const char *id);

/* Signals by name ("TERM", "SIGTERM", "term") or number; -1: not one. */
int oci_signal_parse(const char *s);
/* Send SIG to the container's PID 1 if it still is ST's (pidfd, start
 * time checked); 0, -ESRCH when it is gone, or -errno. */
int oci_signal_init(const struct oci_state *st, int sig);
/* Every process of the container: its cgroups' (cgroup_oci_pids); without
 * a cgroup, those in PID 1's own pid namespace, or PID 1 alone.
 * malloc'd. */
int oci_container_pids(const struct oci_state *st, pid_t **pids, size_t *n, ab_error *err);
/* SIG to every process of the container (and PID 1 checked as
 * oci_signal_init does). */
int oci_signal_all(struct oci_cli *cli, const struct oci_state *st, int sig);
/* Wait until PID 1 is gone (10 s at most); 0 or -ETIMEDOUT. */
int oci_wait_gone(const struct oci_state *st);
/* delete's work for a stopped container: poststop hooks (warnings), its
 * cgroups, its state dir. */
void oci_teardown(struct oci_cli *cli, int rootfd, int dirfd, struct oci_state *st);
/* The config.json create kept in the state dir, parsed (start, exec,
 * delete read it, never the bundle's again). */
#define OCI_CONFIG_MAX (16 << 20)
struct oci_config;
int oci_saved_config(int dirfd, const struct oci_state *st, struct oci_config *cfg, ab_error *err);
/* --pid-file PATH: its directory opened first (exec joins the container's
 * mount namespace: PATH is the host's), then PID written atomically (a
 * temporary file renamed), as runc does. */
struct oci_pid_file {
    int dirfd;             /* -1: none */
    const char *name;      /* in PATH */
    const char *path;
};
int oci_pid_file_open(const char *path, struct oci_pid_file *pf, ab_error *err);
int oci_pid_file_write(struct oci_pid_file *pf, pid_t pid, ab_error *err);
void oci_pid_file_close(struct oci_pid_file *pf);
#define _cleanup_pid_file_ __attribute__((cleanup(oci_pid_file_close)))
/* Connect to --console-socket PATH; an fd or -1 after printing. */
int oci_console_connect(struct oci_cli *cli, const char *path);

int oci_cmd_create(struct oci_cli *cli, struct oci_args *a);
int oci_cmd_run(struct oci_cli *cli, struct oci_args *a);
int oci_cmd_start(struct oci_cli *cli, struct oci_args *a);
int oci_cmd_state(struct oci_cli *cli, struct oci_args *a);
int oci_cmd_kill(struct oci_cli *cli, struct oci_args *a);
int oci_cmd_delete(struct oci_cli *cli, struct oci_args *a);
int oci_cmd_exec(struct oci_cli *cli, struct oci_args *a);
int oci_cmd_ps(struct oci_cli *cli, struct oci_args *a);
int oci_cmd_pause(struct oci_cli *cli, struct oci_args *a);
int oci_cmd_resume(struct oci_cli *cli, struct oci_args *a);
int oci_cmd_list(struct oci_cli *cli, struct oci_args *a);
int oci_cmd_spec(struct oci_cli *cli, struct oci_args *a);
int oci_cmd_features(struct oci_cli *cli, struct oci_args *a);

/* Each verb's options, by index into its table (main.c).  run takes
 * create's, then its own. */
enum { CREATE_BUNDLE, CREATE_CONSOLE_SOCKET, CREATE_PID_FILE, CREATE_NO_PIVOT, CREATE_NO_NEW_KEYRING,
       CREATE_PRESERVE_FDS, RUN_DETACH, RUN_KEEP, RUN_NO_SUBREAPER, RUN_OPTS };
enum { EXEC_CONSOLE_SOCKET, EXEC_CWD, EXEC_ENV, EXEC_TTY, EXEC_USER, EXEC_ADDITIONAL_GIDS, EXEC_PROCESS,
       EXEC_DETACH, EXEC_PID_FILE, EXEC_PROCESS_LABEL, EXEC_APPARMOR, EXEC_NO_NEW_PRIVS, EXEC_CAP,
       EXEC_PRESERVE_FDS, EXEC_CGROUP, EXEC_IGNORE_PAUSED, EXEC_OPTS };
enum { KILL_ALL };
enum { DELETE_FORCE };
enum { FORMAT_FORMAT, LIST_QUIET };   /* list and ps */
enum { SPEC_BUNDLE, SPEC_ROOTLESS };

/* `appbox-oci __completion bash`: the completion script (completion.c). */
int oci_completion(const char *shell);

/* The verb table (main.c): the option tables are there, and each verb
 * reads its options by these indexes. */
extern const struct oci_verb oci_verbs[];
const struct oci_verb *oci_verb_find(const char *name);
