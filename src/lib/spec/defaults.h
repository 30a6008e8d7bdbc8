/* The defaults of a spec, in one place: the runtime and `show` both read
 * them from here (through the spec that spec_init() fills), never from
 * copies of their own. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* Host name of a throwaway sandbox when none is given (a named container
 * has its own name: spec_hostname_of()). */
#define SPEC_DEFAULT_HOSTNAME "appbox"
/* The size of each of appbox's own tmpfs mounts (/tmp, /var/tmp, /dev/shm,
 * a throwaway home) and of a --tmpfs without size=: memory is finite, and an
 * unsized tmpfs may take half of it. */
#define SPEC_DEFAULT_TMPFS_SIZE (1ULL << 30)
/* /run holds sockets and pid files, not data. */
#define SPEC_RUN_TMPFS_SIZE (64ULL << 20)
/* Processes a container's user may have (RLIMIT_NPROC in its user
 * namespace until cgroups take over): a fork bomb inside stops there. */
#define SPEC_DEFAULT_PIDS_LIMIT 4096
/* The service log is rotated at this size (one old file is kept). */
#define SPEC_DEFAULT_LOG_SIZE (1ULL << 20)

/* --display private: Xephyr's screen when --display-size is not given. */
#define SPEC_DEFAULT_DISPLAY_WIDTH 1280
#define SPEC_DEFAULT_DISPLAY_HEIGHT 800

/* Signal that asks the container to stop. */
#define SPEC_DEFAULT_STOP_SIGNAL 15 /* SIGTERM */

/* Paths the app must not read (masked with /dev/null or an empty read-only
 * tmpfs): OCI's defaults plus the kernel's symbol table and the magic
 * SysRq trigger, and what of /sys reaches firmware and kernel internals. */
extern const char *const spec_default_masked_paths[];
/* Paths the app must not write (made read-only). */
extern const char *const spec_default_readonly_paths[];
/* Host device nodes every container gets in its fresh /dev. */
extern const char *const spec_default_devices[];
/* The host directories the host view shares read-only. */
extern const char *const spec_host_view_dirs[];
/* PATH inside, for root and for everyone else. */
const char *spec_default_path(bool root);
/* The host name of the named container NAME when none is given: NAME,
 * with '_' (no host name character) as '-'. */
void spec_hostname_of(const char *name, char *buf, size_t size);
