/* appbox's PID 1 inside the container: forwards signals to the command,
 * reaps orphans, and exits with the command's status. */
#pragma once

#include <signal.h>
#include <sys/types.h>

/* The signals init forwards (INT, TERM, HUP, QUIT, USR1, USR2, WINCH). */
void init_forwarded_signals(sigset_t *set);

/* Block what init handles; call before forking the command so no signal
 * is lost in between.  The command unblocks with init_child_reset(). */
void init_block_signals(sigset_t *old);
void init_child_reset(const sigset_t *old);

/* Run until MAIN exits; returns the exit code to use (status, or 128+N
 * when the command was killed by signal N). */
int init_loop(pid_t main_pid);

/* Service mode: no command of its own; reap whatever runs.  On SIGTERM
 * (from the supervisor's stop) send TERM to every process in the
 * container and exit once none is left. */
int init_service_loop(void);
