/* Runtime state of a named container, and session counting with locks.
 *
 *  start.lock       exclusive while someone decides to start or stop
 *  supervisor.lock  held exclusively by the supervisor for its whole life:
 *                   "running" means this lock is taken (no pid checks)
 *  sessions.lock    every run/shell/exec holds it shared while it lives;
 *                   when the supervisor can take it exclusively, nobody
 *                   is inside and a container started by `run` stops.
 * The kernel drops a lock when its holder dies, even by SIGKILL, so the
 * state is always the truth. */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include "context.h"
#include "util/error.h"

/* Everything below the runtime dir is opened from its fd (the context's,
 * checked), never through a symbolic link (O_NOFOLLOW on each name). */

/* NAME's runtime directory as an O_PATH fd; CREATE makes it.  Without
 * CREATE, -ENOENT (no message) when it does not exist. */
int state_dir_fd(struct ab_ctx *ctx, const char *name, bool create, ab_error *err);
/* Open FILE of NAME's runtime dir with FLAGS (O_CREAT: mode 0600, and the
 * directory made); O_NOFOLLOW and O_CLOEXEC always. */
int state_open(struct ab_ctx *ctx, const char *name, const char *file, int flags, ab_error *err);
/* The text of the regular file FILE (at most MAX bytes); NULL with errno. */
char *state_read_text(struct ab_ctx *ctx, const char *name, const char *file, size_t max);
/* Whether FILE exists in NAME's runtime dir (a symlink counts, unfollowed). */
bool state_exists(struct ab_ctx *ctx, const char *name, const char *file);
/* Remove NAME's (empty) runtime directory. */
void state_remove_dir(struct ab_ctx *ctx, const char *name);

/* Open (creating) the lock file FILE of NAME's runtime dir. */
int state_open_lock(struct ab_ctx *ctx, const char *name, const char *file, ab_error *err);

/* flock wrappers that retry on EINTR; 0 or -errno. */
int state_lock(int fd, int op);

/* Whether NAME's supervisor is alive (its lock is held). */
bool state_running(struct ab_ctx *ctx, const char *name);

/* Number of sessions holding sessions.lock (from /proc/locks). */
int state_sessions(struct ab_ctx *ctx, const char *name);

/* Read a non-negative number written with state_write_file(); -1 if
 * absent or not a number.  0 is a value here (stop.timeout 0: kill at
 * once), not "unset". */
long state_read_number(struct ab_ctx *ctx, const char *name, const char *file);
/* The same for a pid: -1 if absent, not a number or 0. */
pid_t state_read_pid(struct ab_ctx *ctx, const char *name, const char *file);
int state_write_file(struct ab_ctx *ctx, const char *name, const char *file, const char *text, ab_error *err);
void state_remove(struct ab_ctx *ctx, const char *name, const char *file);

/* Append "TIME EVENT" to the container's log (data dir). */
void state_log(struct ab_ctx *ctx, const char *name, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
