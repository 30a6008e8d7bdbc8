/* The last steps of an OCI container's process (appbox-oci), inside the
 * container after the pivot: PID 1 of create, and each process of exec.
 * What config.json's process says, and only that: a terminal (its master
 * handed to the runtime), rlimits, personality, umask, the bounding set,
 * supplementary groups, gid and uid, the capability sets and the ambient
 * set, the working directory, no_new_privs, the seccomp filter (config's,
 * or appbox's own when config.json has none), the fds, exec.  The order
 * is runc's: a filter without no_new_privs goes in while the capability
 * to load it is still held. */
#pragma once

#include "runtime/pipeline.h"
#include "spec/spec.h"

struct spec_oci;

/* Never returns.  SOCK: the sync socket to the runtime (errors, the pty,
 * READY); FIFO_FD >= 0 (create's PID 1): once ready, send READY and wait
 * until `start` writes the fifo; -1 (exec): exec at once. */
_Noreturn void oci_process_main(const struct spec *s, int sock, int fifo_fd);

/* In a process of the container's side, first thing: close every fd the
 * runtime had open (its state root and directory, the lock, --log, the
 * console socket) but 0-2, the preserved ones (3..3+PRESERVE-1) and KEEP_A
 * and KEEP_B (-1: none): nothing of the host's stays in reach of the
 * container while it waits for start, or before exec. */
void oci_close_inherited(int preserve, int keep_a, int keep_b);

/* Load O's compiled linux.seccomp filter (oci/seccomp.c made it) in the
 * calling thread with its flags; 0 when there is none. */
int oci_filter_load(const struct spec_oci *o, ab_error *err);

/* The module of an OCI spec's steps inside before the mounts, through the
 * host's /proc (which shows the container's own network, IPC and UTS
 * namespaces to it): linux.sysctl, process.oomScoreAdj, domainname.  A
 * no-op for appbox's own containers. */
extern const struct module oci_module;
