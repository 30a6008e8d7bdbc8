/* The defaults of a spec, in one place: the runtime and `show` both read
 * them from here (through the spec that spec_init() fills), never from
 * copies of their own. */
#pragma once

#include <stdbool.h>

/* Host name when none is given. */
#define SPEC_DEFAULT_HOSTNAME "appbox"
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
