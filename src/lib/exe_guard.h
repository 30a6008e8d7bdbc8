/* CVE-2019-5736: a container process that gets the kernel to execute
 * /proc/self/exe while it still points to appbox (e.g. a "#!/proc/self/exe"
 * script) could reopen the appbox binary for writing, if the container's
 * ids may write it (a binary the user built in their own directory).
 * In that case appbox re-executes itself from a sealed, read-only memfd
 * copy, so /proc/self/exe is never the file on disk. */
#pragma once

/* Returns only when no re-exec was needed (or it failed: then the caller
 * goes on, unprotected but working, as appbox did before the guard). */
void exe_guard(char **argv);

/* Whether the running binary is a sealed copy. */
int exe_is_sealed(void);
