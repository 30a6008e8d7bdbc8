/* The default seccomp filter: a deny list of the calls that let a program
 * reach out of its box (see docs/security.md for the reasoning). */
#pragma once

#include "util/error.h"

/* Variants of the default filter, as bits; each combination is compiled
 * at build time (SECCOMP_N_VARIANTS programs). */
enum {
    /* io_uring_setup/enter/register allowed (`--io-uring allow`). */
    SECCOMP_ALLOW_IO_URING = 1u << 0,
    /* Set-id modes (chmod u+s, open/mkdir/mknod with S_ISUID/S_ISGID) and
     * openat2 allowed.  Never from an option: only appbox's own runs on a
     * root in its private store (apt-get/dpkg, the image unpacker), whose
     * writable trees sandbox_run() checks are all inside the store. */
    SECCOMP_ALLOW_SETID = 1u << 1,
    /* A booted system (--boot): its init and units mount (API file
     * systems, PrivateTmp=, ProtectSystem=: all in the container's user
     * namespace), enter namespaces (JoinsNamespaceOf=), chroot
     * (RootDirectory=), and its getty and login call vhangup() on the
     * container's own terminals.  Those calls allowed; the rest of the
     * deny list stays. */
    SECCOMP_BOOT = 1u << 2,
};
#define SECCOMP_N_VARIANTS 8

/* Load the filter VARIANT (SECCOMP_ALLOW_* bits) into the calling thread
 * (no_new_privs must be set already).  The programs were compiled at build
 * time (seccomp_load.c). */
int seccomp_filter_load(unsigned variant, ab_error *err);

/* Compile the filter VARIANT with libseccomp and write it as BPF to FD
 * (used at build time by src/tools/gen_seccomp.c). */
int seccomp_filter_export(int fd, unsigned variant, ab_error *err);
