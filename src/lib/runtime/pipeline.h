/* The setup pipeline: starting a container is an ordered list of modules,
 * each with hooks at fixed points of the start.  A new capability (a
 * network mode, a display, a cgroup) is a module in runtime_modules[]; it
 * does not edit sandbox.c.
 *
 *   host:    prepare        before anything is created: check, allocate
 *   [clone into the new namespaces]
 *   host:    host_setup     after clone, before "go": id maps, idmapped
 *                           trees, a veth, a cgroup, helper processes
 *   inside:  before_pivot   in the new namespaces, host paths still in
 *                           reach: loopback, the mount tree
 *   [pivot_root]
 *   inside:  after_pivot    host name, last changes inside
 *   [the command's own steps: identity, caps, no_new_privs, seccomp, exec]
 *   host:    teardown       in reverse order, when the container is gone;
 *                           also for a container whose owner was SIGKILLed
 *                           (run by the next start, from its spec.json)
 *
 * Helper processes (pasta, Xephyr, a proxy) are started with
 * runner_spawn_helper(): they belong to the runner (the sandbox parent, or
 * a named container's supervisor), die with it (PR_SET_PDEATHSIG), and are
 * stopped at teardown. */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include "context.h"
#include "spec/spec.h"
#include "util/error.h"

#define RUNNER_MAX_HELPERS 8
#define RUNNER_MAX_TREES 64

struct runner_helper {
    pid_t pid;
    int pidfd;
    char name[32];
};

/* The host side of one container start: whoever runs the container. */
struct runner {
    const struct spec *spec;     /* resolved */
    pid_t child;                 /* the container's PID 1 (host pid), after clone */
    int sock;                    /* the sync socket to it, after clone */
    struct ab_ctx *ctx;          /* the store (a module's state lives in NAME's runtime dir); may be NULL */
    const char *name;            /* the named container, or NULL for a throwaway sandbox */
    /* the container's v2 group, open for clone3(CLONE_INTO_CGROUP) from
     * prepare until host_setup (cgroup/module.c), or -1 */
    int cgroup_fd;
    struct runner_helper helpers[RUNNER_MAX_HELPERS];
    size_t n_helpers;
    /* NULL, or called after every module's host_setup, before "go"
     * (appbox-oci: the prestart and createRuntime hooks) */
    int (*before_go)(struct runner *r, ab_error *err);
    void *before_go_arg;
};

/* What the hooks inside the container see. */
struct inside {
    const struct spec *spec;
    int sock;                    /* to the runner (errors) */
    /* Trees the runner prepared (idmapped for a root caller), or -1:
     * premade_root for the root, premade_lower for the base under an
     * overlay root, premade[i] for spec mounts[i]. */
    int premade_root;
    int premade_lower;
    int premade[RUNNER_MAX_TREES];
};

struct module {
    const char *name;
    int (*prepare)(struct runner *r, ab_error *err);
    int (*host_setup)(struct runner *r, ab_error *err);
    int (*before_pivot)(struct inside *in, ab_error *err);
    int (*after_pivot)(struct inside *in, ab_error *err);
    void (*teardown)(struct runner *r);
};

/* The modules of a start, in order; NULL-terminated. */
extern const struct module *const runtime_modules[];

void runner_init(struct runner *r, const struct spec *s, struct ab_ctx *ctx, const char *name);

/* Run one hook of every module in MODS that has it, in order; the first
 * failure stops the walk and its error comes back as the module made it
 * (a message that says what was done to what, for the user). */
int pipeline_prepare(const struct module *const *mods, struct runner *r, ab_error *err);
int pipeline_host_setup(const struct module *const *mods, struct runner *r, ab_error *err);
int pipeline_before_pivot(const struct module *const *mods, struct inside *in, ab_error *err);
int pipeline_after_pivot(const struct module *const *mods, struct inside *in, ab_error *err);
/* Teardown in reverse order, then stop the runner's helpers (TERM, then
 * KILL after a second).  Safe to call more than once. */
void pipeline_teardown(const struct module *const *mods, struct runner *r);

/* Hand the child a detached mount tree for the root (INDEX -1) or spec
 * mount INDEX, before "go" (sandbox.c owns the sync protocol). */
int runner_send_tree(struct runner *r, int index, int treefd);

/* How a helper starts (runner_spawn_helper); zero-initialised fds are
 * NOT "none": use HELPER_OPTS_INIT. */
struct helper_opts {
    bool keep_stdio;   /* fds 0-2 the runner's own; else /dev/null */
    int stderr_fd;     /* >= 0: the helper's fd 2 (a pipe the module reads its errors from) */
    /* >= 0: the helper moves into this user namespace (the container's)
     * as its root (ids 0) before it executes: a helper that works on the
     * container's namespaces (pasta on its network namespace) gets its
     * rights from the container's user namespace, none from the host */
    int userns_fd;
    int pass_fd;       /* >= 0: handed to the helper as its fd 3 */
};
#define HELPER_OPTS_INIT { .keep_stdio = false, .stderr_fd = -1, .userns_fd = -1, .pass_fd = -1 }

/* Start a helper process owned by R: ARGV (argv[0] a path) with fds as O
 * says (NULL: HELPER_OPTS_INIT), every other fd closed, and a death
 * signal so that it dies with the runner. */
int runner_spawn_helper(struct runner *r, const char *name, char *const argv[], const struct helper_opts *o,
                        ab_error *err);
/* Fork a helper process owned by R that runs appbox's own code (a proxy,
 * a forwarder), not a program: signal handlers and mask reset, the death
 * signal, fds 0-2 and the user namespace as O says (pass_fd unused; NULL:
 * HELPER_OPTS_INIT), KEEP[0..N_KEEP) (at most 16) as fds 3, 4, ...
 * (close-on-exec), every other fd closed, NAME as the process's name (15
 * bytes).  Returns 0 in the helper, which never returns from its work
 * (_exit), its pid in the runner (registered: stopped with the others),
 * or a negative errno (ERR filled). */
pid_t runner_fork_helper(struct runner *r, const char *name, const struct helper_opts *o, const int *keep,
                         size_t n_keep, ab_error *err);
/* Stop R's helpers: TERM, and KILL those still alive after TIMEOUT_MS. */
void runner_stop_helpers(struct runner *r, int timeout_ms);
