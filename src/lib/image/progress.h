/* Feedback for long steps (bootstrap, apt-get): the tool's output goes to
 * its log, always; on a terminal one status line shows the current step
 * and a counter ("downloading 12/87 packages", "configuring 40/87: apt"),
 * and with --verbose the output itself is shown as well.  Off a terminal
 * nothing is printed but the log.
 *
 * A small reader process between the tool and the log does the work, so
 * that a tool run in the calling process (sandbox_run) is watched the
 * same way as a forked one. */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include "util/error.h"

struct progress {
    int fd;        /* where the tool writes (stdout and stderr); -1: none */
    pid_t reader;
};

/* Start watching: TITLE names the step ("bootstrapping debian:bookworm"),
 * LOGPATH is appended to (truncated first when TRUNCATE). */
int progress_start(struct progress *p, const char *title, const char *logpath, bool truncate, bool verbose,
                   ab_error *err);

/* The tool is done: wait until the reader has logged everything, and clear
 * the status line. */
void progress_end(struct progress *p);

/* The status line of one output LINE (exposed for the unit tests): writes
 * into OUT (size N) what the line changes, or returns false when it changes
 * nothing.  STATE carries the counters between lines. */
struct progress_state {
    unsigned total, got, unpacked, configured;
};
bool progress_line(struct progress_state *st, const char *line, char *out, size_t n);
