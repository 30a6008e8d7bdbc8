/* One interface to the kernel's control groups, with interchangeable
 * backends (as crun's cgroup manager):
 *
 *   v1        the legacy hierarchies, one per controller (these machines
 *             mount memory, pids, cpu and devices as v1): a group is one
 *             directory per controller, below the group the caller is in
 *             (/proc/self/cgroup); devices through devices.deny/.allow.
 *   v2        the unified hierarchy, where device access is an eBPF
 *             program (BPF_PROG_TYPE_CGROUP_DEVICE) attached to the group
 *             (v2.c); used where v1 has no devices controller.  See
 *             docs/architecture.md, "The cgroup room".
 *
 * Today only the devices controller is used (desktop/devices.c); issue 13
 * adds memory, pids and cpu and v2 delegation through the same calls.
 *
 * A group is named by the directory path of each controller it uses,
 * chosen once at resolve time and kept in the spec (spec.json), so that
 * the teardown of a container whose supervisor was SIGKILLed (run by the
 * next start, from spec.json) removes the very group that was made.
 * Groups are only ever made below the caller's own group and only named
 * "appbox-*": cgroup_destroy() refuses any other path. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "util/error.h"

/* Access letters of a device rule (devices.allow's "rwm"). */
enum {
    DEV_ACCESS_READ = 1u << 0,
    DEV_ACCESS_WRITE = 1u << 1,
    DEV_ACCESS_MKNOD = 1u << 2,
    DEV_ACCESS_ALL = DEV_ACCESS_READ | DEV_ACCESS_WRITE | DEV_ACCESS_MKNOD,
};

#define CGROUP_ANY (-1)   /* a major or minor of "*" */

struct cgroup_device_rule {
    char type;            /* 'c' or 'b' */
    long major, minor;    /* CGROUP_ANY: every one */
    unsigned access;      /* DEV_ACCESS_* */
};

/* Parse access letters ("r", "rw", "rwm", any order, each at most once).
 * Returns the DEV_ACCESS_* bits, or -1 (empty, unknown or repeated). */
int cgroup_access_parse(const char *letters);
/* "rwm" order; BUF of at least 4 bytes. */
const char *cgroup_access_name(unsigned access, char buf[static 4]);
/* "c 1:3 rwm" (devices.allow's syntax); BUF of at least 64 bytes. */
const char *cgroup_rule_string(const struct cgroup_device_rule *r, char *buf, size_t size);

/* A backend: what one cgroup version does.  PATH is a group directory as
 * cgroup_devices_path() chose it. */
struct cgroup_backend {
    const char *name;   /* "v1", for messages */
    /* whether this backend can manage device access here, for this caller;
     * false with WHY set to a sentence for `show` and the docs */
    bool (*devices_usable)(const char **why);
    int (*create)(const char *path, ab_error *err);
    /* deny every device, then allow RULES (a fresh group inherits "a *:*
     * rwm" from its parent: the deny comes first) */
    int (*set_devices)(const char *path, const struct cgroup_device_rule *rules, size_t n, ab_error *err);
    int (*attach)(const char *path, pid_t pid, ab_error *err);
    /* remove the group; 0 when gone (or never made) */
    int (*destroy)(const char *path);
};

extern const struct cgroup_backend cgroup_v1_backend;
extern const struct cgroup_backend cgroup_v2_backend;

/* The backend that manages devices on this machine for this caller (v1
 * where it has the devices controller, else v2), or NULL with *WHY saying
 * why none does (rootless: both are the host root's). */
const struct cgroup_backend *cgroup_devices_backend(const char **why);
/* The backend that made PATH (by where it is). */
const struct cgroup_backend *cgroup_backend_for_path(const char *path);

/* A new group's directory for device access with backend B: below the
 * group of the calling process in B's hierarchy, named "appbox-LEAF"
 * (LEAF: letters, digits, '-', '_' and '.').  Returns a malloc'd path, or
 * NULL with ERR set. */
char *cgroup_devices_path(const struct cgroup_backend *b, const char *leaf, ab_error *err);

/* v2 internals, for the tests: where the unified hierarchy is mounted
 * (NULL: nowhere); the device program for RULES (malloc'd, *COUNT
 * instructions); the program loaded (an fd, or a negative errno with ERR
 * holding the verifier's last word). */
struct bpf_insn;
const char *cgroup_v2_mount(void);
int cgroup_v2_program(const struct cgroup_device_rule *rules, size_t n, struct bpf_insn **out, size_t *count);
int cgroup_v2_load(const struct cgroup_device_rule *rules, size_t n, ab_error *err);

/* Whether PATH is one that cgroup_devices_path() could have made: under
 * a cgroup file system mount, last component "appbox-*", no "..".
 * Checked before a path read back from spec.json is written to or
 * removed. */
bool cgroup_path_is_ours(const char *path);

/* The backend calls, each first checking cgroup_path_is_ours(). */
int cgroup_create(const struct cgroup_backend *b, const char *path, ab_error *err);
int cgroup_set_devices(const struct cgroup_backend *b, const char *path, const struct cgroup_device_rule *rules,
                       size_t n, ab_error *err);
int cgroup_attach(const struct cgroup_backend *b, const char *path, pid_t pid, ab_error *err);
/* Remove PATH, retrying a little while its last processes exit; quiet. */
void cgroup_destroy(const struct cgroup_backend *b, const char *path);
/* Remove the empty groups next to PATH (made by cgroup_devices_path())
 * whose appbox is gone: a SIGKILLed sandbox's, which never ran its
 * teardown.  Their names carry the pid of the process that chose them
 * (the sandbox; for a named container the one that started it, whose
 * group is never empty while the container runs).  Quiet. */
void cgroup_sweep(const char *path);
