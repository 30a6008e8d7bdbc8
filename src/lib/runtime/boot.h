/* --boot: the root's own init (systemd) as the container's PID 1, like
 * systemd-nspawn -b.  See docs/boot.md.
 *
 * The boot module (runtime_modules) gives the init what it needs:
 *   prepare       the root has an init; container root is mapped; the
 *                 container's cgroup v2 group is made (below the caller's
 *                 own v2 group; refused where the caller may not)
 *   host_setup    PID 1 in that group, the group delegated to the
 *                 container's root (cgroup/delegate.c)
 *   before_pivot  a cgroup namespace rooted at that group
 *   after_pivot   cgroup2 at /sys/fs/cgroup, /etc/machine-id, a console
 *                 pty (/dev/console) whose master goes to the runner
 *   teardown      the group and every group the init made below it
 * and boot_exec_init() is what PID 1 does instead of appbox's own init. */
#pragma once

#include <stdbool.h>

#include "runtime/pipeline.h"
#include "spec/spec.h"

extern const struct module boot_module;

/* Whether S boots the root's init. */
bool boot_enabled(const struct spec *s);

/* In PID 1, after after_pivot: the console pty's master (the runner reads
 * it), or -1 (no boot, or none made).  The caller owns it. */
int boot_take_console(void);



/* PID 1: become the container's root with every capability of its user
 * namespace, the console as fds 0-2, a clean signal state and the
 * environment systemd expects of a container (container=appbox,
 * container_uuid), and exec the root's /sbin/init.  LIFELINE as in
 * sandbox.c (a runner already gone: exit).  Never returns; on failure
 * PID 1 exits 125 (its message on the console). */
_Noreturn void boot_exec_init(const struct spec *s, int lifeline);
