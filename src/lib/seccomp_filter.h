/* The default seccomp filter: a deny list of the calls that let a program
 * reach out of its box (see docs/security.md for the reasoning). */
#pragma once

#include "util/error.h"

/* Build and load the filter into the calling thread (no_new_privs must be
 * set already). */
int seccomp_filter_load(ab_error *err);

/* Export the filter as BPF to FD (for `appbox show` and tests). */
int seccomp_filter_export(int fd, ab_error *err);
