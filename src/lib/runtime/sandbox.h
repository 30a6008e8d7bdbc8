/* Run commands in containers described by a spec.
 *
 * The parent (appbox on the host) clones a child into new namespaces,
 * writes its id maps, and then only relays: signals, and the terminal when
 * there is one.  The child becomes the container's PID 1 (init.c): it builds
 * the file system (mounts.c), pivots into it, and forks the command, which
 * takes its identity, drops capabilities, sets no_new_privs, loads the
 * seccomp filter, closes every fd but 0-2 and execs.
 *
 * A named container runs the same child in service mode: PID 1 runs no
 * command and waits to be stopped; sessions join it (sandbox_join) and go
 * through the very same last steps (sandbox_exec_command), so a joined
 * process never holds more than the container's own. */
#pragma once

#include <sys/ioctl.h>

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "context.h"
#include "runtime/identity.h"
#include "runtime/pipeline.h"
#include "spec/spec.h"
#include "util/error.h"
#include "util/strv.h"

/* Resolve S for a start on this host: the desktop's host side first (the
 * sound server: its socket or devices are binds that spec_resolve() then
 * pins with the rest), then spec_resolve(); a no-op for a resolved spec.
 * NAME: the named container, or NULL for a throwaway one. */
int sandbox_resolve(struct ab_ctx *ctx, struct spec *s, const char *name, ab_error *err);

/* Resolve S (sandbox_resolve(), a no-op when it is resolved) and run its
 * command in a new container.  On success *exit_code is the command's
 * status (128+N for signal N). */
int sandbox_run(struct ab_ctx *ctx, struct spec *s, int *exit_code, bool *oom_killed, ab_error *err);

/* A running container's namespaces, as fds PID 1 handed out of itself (it
 * is not dumpable, so not even its owner may open /proc/PID/ns later). */
enum { NS_USER, NS_MNT, NS_PID, NS_IPC, NS_UTS, NS_CGROUP, NS_NET, NS_COUNT };
struct ns_fds {
    int fd[NS_COUNT];
    pid_t init_pid;
    /* sandbox_start_service() only: a booted container's console (the
     * pty master its init writes to), for the runner to read; else -1 */
    int console;
};
void ns_fds_close(struct ns_fds *ns);

/* Start a container whose PID 1 waits (service mode), from RUN's resolved
 * spec; returns once it is set up, with its host pid and namespaces.  The
 * caller is the runner: PID 1's parent, which must wait for it (if the
 * caller dies, the container dies), own its helpers, and call
 * pipeline_teardown(runtime_modules, RUN) when it is gone. */
int sandbox_start_service(struct runner *run, struct ns_fds *ns, ab_error *err);

/* appbox-oci's create (runtime/oci_run.c): clone the container of RUN's
 * spec (spec.oci set) and run the pipeline's host steps and RUN's
 * before_go; PID 1 keeps the caller's fds 0-2 and FIFO_FD, and runs
 * oci_process_main() once set up.  On success RUN holds its pid and the
 * sync socket (MSG_* as sandbox_msg below). */
int sandbox_spawn_oci(struct runner *run, int fifo_fd, ab_error *err);

/* The sync socket's messages, for runtime/oci_run.c. */
enum sandbox_msg_type { SANDBOX_MSG_GO = 1, SANDBOX_MSG_ERROR, SANDBOX_MSG_PTY, SANDBOX_MSG_READY, SANDBOX_MSG_TREE };
struct sandbox_msg {
    int type;
    int kind;
    int errnum;
    struct winsize ws;
    char text[sizeof(((ab_error *)0)->msg)];
};

/* Report ERR to the runner on the sync socket SOCK (the container side,
 * before its exec). */
void sandbox_send_error(int sock, const ab_error *err);
/* Wait for PID (a child) with ORIG_MASK as the signal mask, forwarding
 * INT, TERM, HUP, QUIT, USR1, USR2 and WINCH to it; the caller's handlers
 * again afterwards.  0 or -errno. */
int sandbox_wait_forwarding(pid_t pid, int *wstatus, const sigset_t *orig_mask);

/* The hostname module (after the pivot). */
extern const struct module uts_module;

struct join_params {
    const strv *passenv;       /* host variables passed in (the context's) */
    char *const *argv;
    bool login_shell;          /* run the user's shell as a login shell */
    bool as_root;              /* --root */
    const char *user;          /* --user NAME|UID, looked up inside */
    const strv *env;           /* extra NAME=VALUE */
    const char *chdir;
    /* A service (container/service.c): the home or WorkingDirectory=,
     * never the caller's working directory; and when PID_FD is above 2,
     * the command's host pid is written there as "P<pid>\n" once forked. */
    bool service;
    int pid_fd;
    /* A booted container's login session (`appbox shell`): `login -f
     * USER` run as the container's root, USER the session's user (root
     * with as_root), so that PAM (and logind, when installed) see a login,
     * as machinectl login does; argv and login_shell unused. */
    bool boot_login;
    /* NULL, or filled when the command is gone: it died of SIGKILL and
     * the container's memory group saw an OOM kill meanwhile (with the
     * container's memory limit, 0: none), for the caller's message */
    struct join_outcome *outcome;
};

struct join_outcome {
    bool oom_killed;
    uint64_t memory_limit;
};

/* Run a command inside the running container with namespaces NS; S is
 * the resolved spec it was started with (never resolved again). */
int sandbox_join(const struct ns_fds *ns, const struct spec *s, const struct join_params *jp, int *exit_code,
                 ab_error *err);

struct exec_params {
    const struct spec *spec;
    const strv *passenv;       /* TERM, LANG, ...: from the context, never read from the environment here */
    const struct spec_user *id;
    char *const *argv;
    int sock;                  /* errors and the pty go to the parent here */
    bool want_pty;
    struct winsize ws;         /* with want_pty: the host terminal's size, read by appbox */
    const char *shell;
    const strv *extra_env;
    const char *chdir;
    bool login_shell;
    /* Without chdir (or the spec's cwd): the caller's working directory
     * where the container has it at the same path, entered only if it is
     * still that device and inode; else the home. */
    const char *follow_cwd;
    dev_t follow_dev;
    ino_t follow_ino;
};

_Noreturn void sandbox_exec_command(const struct exec_params *p);
