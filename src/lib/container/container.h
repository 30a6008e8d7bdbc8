/* Named containers: the operations behind create, run, start, stop, exec,
 * shell, rm.  A container is its data dir (appbox.conf, rootfs/ or home/)
 * plus, while it runs, a supervisor and a runtime dir (state.h). */
#pragma once

#include <stdbool.h>

#include "context.h"
#include "container/config.h"
#include "runtime/sandbox.h"
#include "spec/spec.h"
#include "util/error.h"

struct container {
    struct ab_ctx *ctx;     /* the store it is in */
    char *name;
    char *dir;              /* data dir */
    char *conf_path;
    struct conf conf;       /* appbox.conf as written */
    struct container_conf cc;
};

/* Open an existing container (name checked, appbox.conf validated). */
int container_open(struct ab_ctx *ctx, const char *name, struct container *c, ab_error *err);
/* Open an existing container for what needs only its runtime state (stop,
 * and joining it while it runs): the name is checked and appbox.conf must
 * exist, but it is not read, so a file broken after the start does not
 * make a running container unstoppable.  c->conf and c->cc stay empty. */
int container_open_state(struct ab_ctx *ctx, const char *name, struct container *c, ab_error *err);
void container_close(struct container *c);
/* For a session (run, shell, show): appbox.conf read and checked for its
 * keys, and, when the container is not running, checked as a start will
 * see it (container_check()); a running container is joined with what it
 * was started with, whatever became of its paths since. */
int container_open_to_join(struct ab_ctx *ctx, const char *name, struct container *c, ab_error *err);

/* Check ENTRIES (C's appbox.conf, or a changed copy of it) as the next
 * start will see them: every key, what the fields mean together
 * (spec_validate()), and that every path exists (the start resolves
 * again: paths may change in between).  Errors name the file. */
int container_check(const struct container *c, const struct conf *entries, ab_error *err);

/* Pin C's bind sources as they are now (pins.h): the user confirms them. */
int container_pin(struct container *c, ab_error *err);

/* The spec a container runs with: its appbox.conf entries (plus any
 * overrides such as ++network) and what its base implies (its rootfs as a
 * writable root, or for the host view a persistent home). */
int container_spec(const struct container *c, const struct conf *entries, struct spec *out, ab_error *err);
/* (OUT is always safe to spec_free() afterwards.) */

/* The resolved spec a running container was started with (its
 * supervisor's spec.json), for sessions and `show`.  OUT is always safe to
 * spec_free(). */
int container_running_spec(struct ab_ctx *ctx, const char *name, struct spec *out, ab_error *err);

/* Start the container if it is not running.  OVERRIDES are extra entries
 * (++network).  AUTO_STOP: stop when the last session leaves.
 * Returns 1 if it was already running. */
int container_start(struct container *c, const struct conf *overrides, bool auto_stop, ab_error *err);
/* Returns 1 if it was not running. */
int container_stop(struct container *c, int timeout, ab_error *err);

/* A session: start if needed (AUTOSTART) and hold sessions.lock while
 * running the command in the container. */
int container_session(struct container *c, const struct conf *overrides, bool autostart,
                      const struct join_params *jp, int *exit_code, ab_error *err);

/* A session that runs FN on the host instead of a command, with the
 * container's namespaces NS and the resolved spec S it was started with
 * (cp, export: FN forks the helper that joins them).  A stopped container
 * is started for it and stopped again when the last session leaves, as
 * for `run`. */
typedef int (*container_join_fn)(const struct ns_fds *ns, const struct spec *s, void *arg, ab_error *err);
int container_session_fn(struct container *c, container_join_fn fn, void *arg, ab_error *err);

/* Run ARGV as root of a throwaway container with the caller's id map and
 * DIR bound at /mnt: for work on files owned by the container's ids
 * (copying a rootfs). */
int container_run_as_root(struct ab_ctx *ctx, const char *dir, const char *src_ro, char *const argv[], ab_error *err);

/* Run ARGV as root of the root file system ROOT (writable), or with LOWER
 * of the overlay of ROOT's upper/ over the base LOWER (container_spec()):
 * for work that must see the container's root as the container does. */
int container_run_in_root(struct ab_ctx *ctx, const char *root, const char *lower, char *const argv[], ab_error *err);

/* NAME's root: *ROOT the full tree NAME/rootfs (and *LOWER NULL), or for a
 * container of a shared base *ROOT its layer NAME/layer and *LOWER the
 * base's tree (bases.h).  malloc'd. */
int container_root_paths(struct ab_ctx *ctx, const char *name, char **root, char **lower, ab_error *err);

/* Remove NAME below DIRFD, everything in it, as fs_remove_tree_at() does:
 * as root, or for an ordinary user as the container's root in a user
 * namespace of the container's id map (the files are the container's
 * ids'). */
int container_remove_tree_at(int dirfd, const char *name, ab_error *err);

/* Remove NAME (stopping it first when FORCE, refusing a running one
 * otherwise); also the directory NAME without appbox.conf that an
 * interrupted create left.  Returns 0 (a container was removed), 1 (such
 * remains were), or -errno. */
int container_remove(struct ab_ctx *ctx, const char *name, bool force, ab_error *err);

/* Remove NAME's files (data dir, runtime dir); it must not be running. */
int container_remove_files(struct ab_ctx *ctx, const char *name, ab_error *err);

/* apt-get update and upgrade in NAME's root (network on for this run).
 * Returns 0 updated, 1 skipped (not a Debian/Ubuntu root; *why says so),
 * or an error. */
int container_update(struct ab_ctx *ctx, const char *name, bool verbose, const char **why, ab_error *err);

/* Where appbox keeps a log of a long step for NAME ("create", "update"):
 * $DATA/.logs/NAME-WHAT.log, kept after a failure.  malloc'd. */
char *container_log_path(struct ab_ctx *ctx, const char *name, const char *what, ab_error *err);

