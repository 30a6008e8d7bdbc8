/* CVE-2019-5736: a container process that gets the kernel to execute
 * /proc/self/exe while it still points to appbox (e.g. a "#!/proc/self/exe"
 * script) could reopen the appbox binary for writing, or chmod it first,
 * if one of the container's ids owns it or may write it (a binary the user
 * built in their own directory, even one left 0555).  So unless the binary
 * and every directory above it are root's and writable by no one else (the
 * installed case, which costs nothing), appbox re-executes itself from a
 * sealed, read-only memfd copy, so /proc/self/exe is never the file on
 * disk. */
#pragma once

/* Returns only when no re-exec was needed (or it failed: then the caller
 * goes on, unprotected but working, as appbox did before the guard). */
void exe_guard(char **argv);

/* The sealed copy whoever owns the binary: appbox-oci's create, run and
 * exec, whose container may run as host root (a config.json without a
 * user namespace), which may write even an installed binary of root's. */
void exe_guard_always(char **argv);

/* Whether the running binary is a sealed copy. */
int exe_is_sealed(void);
