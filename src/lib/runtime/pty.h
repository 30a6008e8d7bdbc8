/* Terminals.  The command never gets the host's terminal: when appbox runs
 * on one, the command gets a pty of the container's own devpts, and appbox
 * copies bytes between the two (like a terminal emulator would), so the
 * command can use job control and see window size changes, but cannot
 * push input into the host's terminal. */
#pragma once

#include <stdbool.h>
#include <sys/ioctl.h>
#include <sys/types.h>

#include "util/error.h"
#include "util/fdpass.h"

/* Child side: open a new pty in the (already pivoted) /dev/pts, make its
 * peer our controlling terminal and fds 0-2.  Returns the master fd. */
int pty_open_controlling(const struct winsize *ws, ab_error *err);

/* Parent side: put the host terminal in raw mode and copy bytes between it
 * and MASTER until the child PID exits; forwards SIGWINCH as a size change
 * and other terminating signals to PID.  Returns the wait status. */
int pty_relay(int master, pid_t pid, int *wstatus, ab_error *err);
