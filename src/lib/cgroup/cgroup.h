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
 * The container's groups (set.c, limits.c, module.c) are one set of
 * directories: on a v1 (hybrid) host one per controller used (memory,
 * pids, cpu, cpuacct, blkio, devices) plus its group in the v2 mount
 * (for --boot's delegated subtree), on a pure v2 host one directory.
 * The device rules (desktop/devices.c) go to the same set.
 *
 * A group is named by the directory path of each controller it uses,
 * chosen once at resolve time and kept in the spec (spec.json), so that
 * the teardown of a container whose supervisor was SIGKILLed (run by the
 * next start, from spec.json) removes the very group that was made.
 * Groups are only ever made below the caller's own group and only named
 * "appbox-*": cgroup_destroy() refuses any other path.  The one exception
 * is an OCI container (spec->oci, cgroup/oci.h), whose caller names its
 * group: those paths pass cgroup_path_is_valid() instead. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
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

/* The caller's group in the hierarchy whose /proc/self/cgroup line has
 * CONTROLLER among its controllers ("" for the v2 line "0::"); malloc'd,
 * or NULL. */
char *cgroup_own_group(const char *controller);

/* Read PATH (at most SIZE-1 bytes, NUL-terminated): its length or -errno. */
int cgroup_read_file(const char *path, char *buf, size_t size);
/* Whether the file PATH (cgroup.controllers, cgroup.subtree_control)
 * lists WORD among its space-separated words. */
bool cgroup_file_has_word(const char *path, const char *word);
/* Write TEXT to DIR/FILE (one write, as the kernel wants). */
int cgroup_write_file(const char *dir, const char *file, const char *text, ab_error *err);

/* Whether PATH is one that cgroup_devices_path() could have made: under
 * a cgroup file system mount, last component "appbox-*", no "..".
 * Checked before a path read back from spec.json is written to or
 * removed. */
bool cgroup_path_is_ours(const char *path);

/* Whether PATH may be a group named by an OCI caller (config.json's
 * cgroupsPath, cgroup/oci.h): absolute, below a cgroup hierarchy's mount
 * (never the mount itself), no empty, "." or ".." components, no control
 * characters.  Used only for a spec with `oci` set: appbox's own groups
 * keep the narrower cgroup_path_is_ours(). */
bool cgroup_path_is_valid(const char *path);

/* Remove the group PATH (cgroup_path_is_valid(); an OCI container's) and
 * the groups its processes made below it, retrying a little while its
 * last processes exit; quiet. */
void cgroup_destroy_named(const char *path);

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

/* ---- The container's group set (set.c, limits.c, module.c) ---- */

struct spec;
struct module;
#include "util/strv.h"

/* Choose the container's groups for S (spec_resolve()): every controller
 * this caller may use (root: all present, writable ones; an ordinary
 * user: those whose own group is delegated to it, i.e. writable by it),
 * kept in s->container.cgroups.  A limit that was asked for explicitly
 * but whose controller cannot be used here is refused, naming the option
 * and why (nothing is made yet).  The groups are named
 * "appbox-PID-RANDOM" (PID: this process, for cgroup_sweep()). */
int cgroup_resolve(struct spec *s, ab_error *err);

/* The set's directory for a v1 CONTROLLER ("memory", "pids", "cpu",
 * "cpuacct", "blkio", "devices"), or on a pure v2 host the v2 group when
 * the v2 equivalent is there; NULL: none. */
const char *cgroup_set_dir(const strv *set, const char *controller);
/* Whether PATH (one of a set's) lies in the v2 hierarchy. */
bool cgroup_path_is_v2(const char *path);
/* Whether this is a pure cgroup v2 host (the v2 hierarchy at /sys/fs/cgroup). */
bool cgroup_pure_v2(void);

/* Rootless on a pure v2 host whose own group is not delegated: ask the
 * systemd user manager (user bus, sd-bus) for a transient scope with
 * Delegate=yes holding this process, wait for it, and move into a leaf
 * of it (scope.c).  Called before cgroup_resolve() by a start (never by
 * `show`).  1: in a scope now; 0: nothing done (root, v1, delegated
 * already, or no user bus: cgroup_user_scope_why() says which); <0: the
 * scope failed (ERR set). */
int cgroup_user_scope(ab_error *err);
const char *cgroup_user_scope_why(void);

/* The check on one of S's groups before it is read: appbox's own
 * (cgroup_path_is_ours()), or for an OCI spec the caller's
 * (cgroup_path_is_valid()). */
bool cgroup_spec_path_ok(const struct spec *s, const char *path);

/* Move the calling process into all of the container's groups (a session,
 * a service process); 0 when there are none. */
int cgroup_enter(const struct spec *s, ab_error *err);
/* How many OOM kills the container's memory group has seen (v1
 * memory.oom_control's oom_kill, v2 memory.events' oom_kill); -1: unknown
 * (no memory group, or the kernel does not count them). */
int cgroup_oom_kills(const struct spec *s);
/* The container's group in the v2 hierarchy, or NULL. */
const char *cgroup_v2_dir(const struct spec *s);
/* The set's group that takes the device rules (v1 devices, else v2 for
 * root), or NULL. */
const char *cgroup_devices_dir(const struct spec *s);

/* For `show`: how S's limits are enforced (its groups; for a stopped
 * container, what a start by this caller would get), one line in BUF. */
const char *cgroup_enforcement(const struct spec *s, char *buf, size_t size);

/* The pipeline module: makes the groups, applies the limits and puts PID
 * 1 in them before "go"; removes them at teardown. */
extern const struct module cgroup_module;

/* Limits (limits.c): pure conversions, for the backends and the tests. */
uint64_t cgroup_v1_cpu_shares(uint32_t weight);        /* 1-10000 -> 2-262144 (100 -> 1024) */
unsigned cgroup_v1_blkio_weight(uint32_t weight);      /* 1-10000 -> 10-1000 (linear) */
/* --cpus in thousandths of a CPU -> microseconds per CGROUP_CPU_PERIOD_US */
uint64_t cgroup_cpu_quota_us(uint32_t thousandths);
#define CGROUP_CPU_PERIOD_US 100000
/* "32M", "1G", "1536K" or "1000" (bytes) in the largest binary unit that
 * divides N; BUF of at least 32 bytes. */
const char *cgroup_format_bytes(uint64_t n, char *buf, size_t size);
/* Write S's limits into its groups (made, not yet populated). */
int cgroup_apply_limits(const struct spec *s, ab_error *err);

/* Usage of a running container's groups (stats); UINT64_MAX: unknown or
 * no limit. */
struct cgroup_stats {
    uint64_t cpu_ns;         /* CPU time used, all processes, ever */
    uint64_t mem_usage, mem_limit;
    uint64_t pids_current, pids_limit;
    uint64_t io_read, io_write;   /* bytes */
};
#define CGROUP_UNKNOWN UINT64_MAX
void cgroup_stats_read(const struct spec *s, struct cgroup_stats *st);
/* Parse a v2 io.stat / v1 blkio io_service_bytes text into read and
 * written bytes (summed over devices); pure, for the tests. */
void cgroup_parse_io_v2(const char *text, uint64_t *rd, uint64_t *wr);
void cgroup_parse_io_v1(const char *text, uint64_t *rd, uint64_t *wr);
/* The number after KEY (a line "KEY N") in TEXT, or CGROUP_UNKNOWN. */
uint64_t cgroup_parse_key(const char *text, const char *key);
