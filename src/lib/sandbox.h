/* Run one command in a new container described by a spec.
 *
 * The parent (appbox on the host) clones a child into new namespaces,
 * writes its id maps, and then only relays: signals, and the terminal when
 * there is one.  The child becomes the container's PID 1 (init.c): it builds
 * the file system (mounts.c), pivots into it, and forks the command, which
 * takes its identity, drops capabilities, sets no_new_privs, loads the
 * seccomp filter, closes every fd but 0-2 and execs. */
#pragma once

#include "spec.h"
#include "util/error.h"

/* On success *exit_code is the command's status (128+N for signal N). */
int sandbox_run(const struct spec *s, int *exit_code, ab_error *err);
