/* appbox-oci's state: one directory per container below the runtime's
 * root (--root; default /run/appbox-oci for root, $XDG_RUNTIME_DIR/appbox-oci
 * for a user), mode 0700:
 *
 *   ROOT/ID/state.json    runtime-spec's state plus appbox's own keys
 *   ROOT/ID/config.json   the bundle's config.json as create read it
 *                         (exec and delete read it again, never the bundle)
 *   ROOT/ID/exec.fifo     while created: PID 1 waits until start writes it
 *   ROOT/ID/lock          locked (fcntl F_SETLKW, a record lock: not
 *                         inherited by PID 1) by every command that
 *                         changes the state
 *
 * Every path is opened below ROOT's fd (O_NOFOLLOW), state.json written
 * atomically (a temporary file renamed), and concurrent commands on the
 * same id serialise on its lock; create of an existing id fails (mkdirat
 * is the decider). */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include "util/error.h"
#include "util/strv.h"

struct json_object;

enum oci_status {
    OCI_STATUS_CREATING = 0,
    OCI_STATUS_CREATED,
    OCI_STATUS_RUNNING,
    OCI_STATUS_PAUSED,
    OCI_STATUS_STOPPED,
};

struct oci_state {
    char *id;
    char *bundle;
    char *rootfs;                  /* root.path, absolute (runc's "rootfs" in `state` and `list`) */
    pid_t pid;                     /* PID 1's host pid; 0 while creating */
    unsigned long long start_time; /* PID 1's start time (/proc/PID/stat field 22): a reused pid is not it */
    char *created;                 /* RFC 3339, UTC */
    uid_t owner;
    strv cgroups;                  /* the container's cgroup directories (delete removes them) */
    bool cgroups_ours;             /* appbox-oci chose (and made) them, or the caller named them */
    struct json_object *annotations;  /* owned; NULL: none */
    enum oci_status status;        /* as last written; oci_state_status() tells the live one */
};

/* The runtime's default root: XDG_RUNTIME_DIR/appbox-oci when the caller
 * passes one (it decides when, as runc does: a user, or root in a user
 * namespace that is not root's login, e.g. rootless podman's), else
 * /run/appbox-oci for uid 0 and /tmp/appbox-oci-UID for others.  lib/
 * reads no environment.  malloc'd, NULL on ENOMEM. */
char *oci_state_default_root(uid_t uid, const char *xdg_runtime_dir);
/* Open (and with CREATE make, parents too, 0700) the root directory; an
 * fd.  It must be a directory of the caller's (no symlink); without
 * CREATE, a missing root is -ENOENT with ERR filled. */
int oci_state_open_root(const char *root, bool create, ab_error *err);
/* A valid container id: [A-Za-z0-9][A-Za-z0-9_.-]*, at most 1024 bytes. */
bool oci_id_valid(const char *id);

/* Make ROOT/ID (EEXIST: "container ID already exists"), locked; returns
 * the directory's fd and *LOCK the lock's fd. */
int oci_state_create_dir(int rootfd, const char *id, int *lockfd, ab_error *err);
/* Open ROOT/ID (ENOENT: "container ID does not exist"), its lock taken
 * when LOCK is non-NULL; the directory's fd. */
int oci_state_open_dir(int rootfd, const char *id, int *lockfd, ab_error *err);
/* Write TEXT as DIRFD/NAME atomically (NAME.tmp renamed), mode 0600. */
int oci_state_write_file(int dirfd, const char *name, const char *text, ab_error *err);
/* Read and write DIRFD/state.json. */
int oci_state_read(int dirfd, struct oci_state *st, ab_error *err);
int oci_state_write(int dirfd, const struct oci_state *st, ab_error *err);
void oci_state_free(struct oci_state *st);
/* Remove ROOT/ID and everything in it. */
int oci_state_remove_dir(int rootfd, const char *id, ab_error *err);

/* The live status: creating (no pid yet), created (PID 1 alive and
 * exec.fifo there), running, paused (its freezer group frozen), stopped
 * (PID 1 gone, or its pid reused: start time differs). */
enum oci_status oci_state_status(int dirfd, const struct oci_state *st);
const char *oci_status_name(enum oci_status s);
/* runtime-spec's state JSON (ociVersion, id, status, pid, bundle,
 * annotations) with runc's extras (rootfs, created, owner ""), for
 * `state` and the hooks; pid 0 once stopped; malloc'd, NULL on ENOMEM. */
char *oci_state_json(const struct oci_state *st, enum oci_status status);
/* /proc/PID/stat's start time, 0 when PID is gone (or a zombie: it has
 * exited, only its parent has not reaped it yet). */
unsigned long long oci_proc_start_time(pid_t pid);
