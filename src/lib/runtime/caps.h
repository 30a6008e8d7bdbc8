/* Capabilities of the command.  All of them are relative to the container's
 * own user namespace: even CAP_SYS_ADMIN here gives nothing on the host. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "spec/spec.h"
#include "util/error.h"

/* What root inside gets by default: enough to run package managers and
 * daemons that drop privileges, nothing that reaches the kernel. */
uint64_t caps_default_root(void);

/* The set the command will hold, from the spec and whether it runs as uid 0. */
uint64_t caps_for_spec(const struct spec *s, bool root_inside);

/* Make KEEP the bounding, permitted, effective and inheritable sets (and the
 * ambient set when !root_inside, so non-root keeps them across exec).  Must
 * run after setresuid(). */
int caps_apply(uint64_t keep, bool root_inside, ab_error *err);

/* Only the permitted, effective and inheritable sets: for a process that
 * never execs (init), where the bounding and ambient sets do not matter. */
int caps_set(uint64_t keep, ab_error *err);

/* "cap_chown,cap_kill" for messages and `show`. */
int caps_format(uint64_t set, char *buf, size_t size);
/* No capability from now on, in any set, nor any to gain (bounding set
 * emptied, no_new_privs): for a helper that parses what a hostile
 * container sends.  0 or -errno. */
int caps_drop_for_good(void);
