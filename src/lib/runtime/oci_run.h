/* Running a bundle as an OCI runtime does (appbox-oci): the container's
 * PID 1 is the process itself, set up through the same pipeline as every
 * appbox container (runtime/pipeline.h), in the layout spec.oci describes
 * (spec/oci.h), and waiting for `start` before it execs.
 *
 *   create   oci_run_create(): namespaces (new, or joined by path), id
 *            maps, cgroups and limits, the mounts, masks, devices, sysctls,
 *            hostname; the process's identity, capabilities, rlimits,
 *            no_new_privs, working directory; then PID 1 blocks reading
 *            the exec fifo.  The runner (appbox-oci create) exits: PID 1
 *            is reparented (to podman's conmon, a subreaper).
 *   start    oci_run_start(): one byte into the fifo; PID 1 runs the
 *            startContainer hooks, loads the seccomp filter, closes its
 *            fds but 0-2 and the preserved ones, and execs.
 *   exec     oci_run_exec(): a new process in the running container's
 *            namespaces and cgroups, with the same last steps. */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include "spec/spec.h"
#include "util/error.h"

/* Where create is when it calls back (hooks run there). */
enum oci_run_point {
    OCI_RUN_NAMESPACES_MADE,   /* PID 1 exists, in its namespaces and cgroups, before the mounts
                                * (prestart, createRuntime) */
    OCI_RUN_ROOT_READY,        /* the mounts done and pivoted, before the wait (createContainer) */
};

struct oci_run_params {
    /* The exec fifo, opened by the caller O_RDONLY|O_NONBLOCK (made in
     * the state dir): PID 1 keeps it and waits on it; -1: exec at once
     * (run, when it starts the container itself). */
    int fifo_fd;
    /* --console-socket, connected: with process.terminal the pty's
     * master goes there (SCM_RIGHTS); -1: none */
    int console_fd;
    /* Called at each point with PID 1's host pid; a failure stops the
     * create (the container is killed and torn down). */
    int (*callback)(void *arg, enum oci_run_point point, pid_t pid, ab_error *err);
    void *arg;
};

/* Create the container of S (spec.oci set, resolved by
 * oci_run_resolve()); *PID its PID 1's host pid.  With process.terminal
 * and no console socket, *PTY_MASTER is the pty's master (the caller
 * relays it: run), else -1.  On failure nothing is left (cgroups
 * removed, PID 1 killed). */
int oci_run_create(struct spec *s, const struct oci_run_params *p, pid_t *pid, int *pty_master, ab_error *err);

/* Resolve S for create: paths, id maps and namespaces from spec.oci
 * (never from passwd), cgroups (cgroup_oci_resolve; SYSTEMD: the path
 * syntax of --systemd-cgroup). */
int oci_run_resolve(struct spec *s, bool systemd, ab_error *err);

/* Start: write the fifo at DIRFD/exec.fifo (ENXIO: PID 1 no longer
 * waits), then remove it. */
int oci_run_start(int dirfd, ab_error *err);

struct oci_exec_params {
    pid_t init_pid;            /* the container's PID 1 */
    const strv *cgroups;       /* its groups, joined first */
    int console_fd;            /* --console-socket connected, or -1 */
    bool detach;               /* return once it runs (*pid set), else wait (*exit_code set) */
    int preserve_fds;
};

/* Run S's process (the caller is left in the container's user and PID
 * namespaces only: its own children are the container's; S: the container's config with exec's process in
 * spec.process and the process fields of spec.oci) in the running
 * container.  Detached: *PID is its host pid.  Else *EXIT_CODE its status
 * (128+N for a signal); with process.terminal and no console socket the
 * caller's terminal is relayed. */
int oci_run_exec(struct spec *s, const struct oci_exec_params *p, pid_t *pid, int *exit_code, ab_error *err);

/* Remove what create made on the host and delete must undo: S's cgroups
 * (the pipeline's teardown). */
void oci_run_destroy(struct spec *s);
