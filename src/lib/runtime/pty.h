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

/* The host's terminal never crosses into a container, on any of fds 0-2.
 * With a pty (stdin and stdout are terminals) the command's 0-2 are the
 * pty and the container's processes get /dev/null until then; without
 * one, each of fds 0-2 that is a terminal is replaced by a pipe that
 * appbox relays (stdin -> pipe, pipe -> stdout/stderr), so the command
 * cannot change the terminal's modes or size, or read from it through
 * fd 1 or 2.  Other fds (files, pipes, /dev/null) pass as they are. */
struct stdio_pipes {
    int child[3];        /* the container side's new fds 0-2 (-1: kept); may repeat one fd */
    int parent[3];       /* appbox's ends: [0] is written, [1] and [2] are read */
    bool pty;            /* a pty: child[] is /dev/null, nothing to relay */
    struct winsize ws;   /* with a pty: the host terminal's size */
};

/* Decide and open (see above); PTY: the command will get a pty. */
int stdio_pipes_open(struct stdio_pipes *sp, bool pty, ab_error *err);
/* In the child, first thing: the new fds 0-2, and no other end kept. */
void stdio_pipes_child(const struct stdio_pipes *sp);
/* In the parent, after the fork: the child's ends closed. */
void stdio_pipes_close_child(struct stdio_pipes *sp);
/* Everything closed. */
void stdio_pipes_close(struct stdio_pipes *sp);
/* Whether there is something to relay. */
bool stdio_pipes_relayed(const struct stdio_pipes *sp);

/* Parent side without a pty: copy between appbox's fds 0-2 and the pipes
 * until PID exits (what is left in the pipes then is copied too);
 * forwards the terminating signals and SIGWINCH to PID. */
int stdio_relay(struct stdio_pipes *sp, pid_t pid, int *wstatus, ab_error *err);
