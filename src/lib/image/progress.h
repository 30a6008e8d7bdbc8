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
#include <stddef.h>
#include <sys/types.h>

#include "util/error.h"

/* The tool's own reasons for a failure: the error lines the reader saw
 * ("E: ..." from apt-get, mmdebstrap and debootstrap, "dpkg: error ..."),
 * kept for the message that names the log.  Shared with the reader. */
#define PROGRESS_WHY_LINES 4
struct progress_why {
    unsigned n;
    bool more;    /* the last line was dpkg's "...:": its reason follows */
    char line[PROGRESS_WHY_LINES][256];
};

struct progress {
    int fd;        /* where the tool writes (stdout and stderr); -1: none */
    pid_t reader;
    struct progress_why *why;   /* shared memory the reader fills */
};

/* Start watching: TITLE names the step ("bootstrapping debian:bookworm"),
 * LOGPATH is appended to (truncated first when TRUNCATE). */
int progress_start(struct progress *p, const char *title, const char *logpath, bool truncate, bool verbose,
                   ab_error *err);

/* The tool is done: wait until the reader has logged everything, and clear
 * the status line.  WHY (size N; may be NULL) gets the tool's error lines
 * (progress_why_text()), "" when it printed none. */
void progress_end(struct progress *p, char *why, size_t n);

/* The status line of one output LINE (exposed for the unit tests): writes
 * into OUT (size N) what the line changes, or returns false when it changes
 * nothing.  STATE carries the counters between lines. */
struct progress_state {
    unsigned total, got, unpacked, configured;
};
bool progress_line(struct progress_state *st, const char *line, char *out, size_t n);

/* Keep LINE in W when it is an error line (without its "E: "); exposed,
 * with the next one, for the unit tests. */
void progress_why_add(struct progress_why *w, const char *line);
/* W's lines joined with "; " into OUT (size N), at most N - 1 bytes once a
 * message has escaped their control characters (4 bytes each): the log's
 * path after them always fits.  A line that only echoes a failed command
 * ("apt-get update ... failed", "Sub-process ... returned an error code")
 * is left out when a line with a reason is there. */
void progress_why_text(const struct progress_why *w, char *out, size_t n);
