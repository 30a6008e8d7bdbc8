/* The default seccomp filter: a deny list of the calls that let a program
 * reach out of its box (see docs/security.md for the reasoning). */
#pragma once

#include "util/error.h"

/* Load the filter into the calling thread (no_new_privs must be set
 * already).  The program was compiled at build time (seccomp_load.c). */
int seccomp_filter_load(ab_error *err);

/* Compile the filter with libseccomp and write it as BPF to FD (used at
 * build time by src/tools/gen_seccomp.c). */
int seccomp_filter_export(int fd, ab_error *err);
