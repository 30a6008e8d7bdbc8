/* What an OCI config.json (runtime-spec 1.1) says beyond appbox's own
 * spec, for appbox-oci.  A spec with `oci` set (struct spec.oci) is run
 * verbatim, as runc and crun run a bundle: the process is the container's
 * PID 1 (no appbox init), the mounts are exactly config.json's, in order
 * (no home, no /tmp, no identity entries), the ids are the given ones
 * (nothing is looked up in passwd), the id maps are config.json's (no
 * idmapped trees), the capabilities, rlimits and no_new_privs are the
 * process's own, and the cgroup is the one cgroupsPath names.
 *
 * The parser (oci/config.c) fills the container and process parts of the
 * spec where appbox has a field for it (root, readonly root, hostname,
 * argv, env, cwd, terminal, masked and read-only paths, namespaces, id
 * maps, memory/CPU/pids/io limits) and this struct with the rest. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "util/strv.h"

/* The namespace kinds config.json names, in the order they are joined. */
enum oci_ns {
    OCI_NS_USER = 0,
    OCI_NS_PID,
    OCI_NS_NET,
    OCI_NS_IPC,
    OCI_NS_UTS,
    OCI_NS_MOUNT,
    OCI_NS_CGROUP,
    OCI_NS_TIME,
    OCI_NS_COUNT,
};

/* One entry of config.json's "mounts", as the kernel will get it. */
struct oci_mount {
    char *destination;        /* absolute, lexically clean, inside the container */
    char *type;               /* "bind", "proc", "tmpfs", "sysfs", "devpts", "mqueue", "cgroup", ...; bind
                               * when the options say bind/rbind, whatever the type */
    char *source;             /* bind: the host path, absolute (relative ones resolved against the bundle) */
    bool bind;                /* a bind mount ("bind"/"rbind" in options, or type "bind") */
    bool recursive;           /* "rbind" */
    unsigned long flags;      /* MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_NOATIME, MS_NODIRATIME,
                               * MS_RELATIME, MS_STRICTATIME, MS_SYNCHRONOUS, MS_DIRSYNC, MS_MANDLOCK,
                               * MS_LAZYTIME, MS_SILENT from the options */
    unsigned long propagation;   /* MS_PRIVATE/MS_SHARED/MS_SLAVE/MS_UNBINDABLE (| MS_REC), 0: none given */
    char *data;               /* the other options, comma-joined ("mode=755,size=65536k"); NULL: none */
};

/* One of linux.devices: a node made in the container's /dev. */
struct oci_device {
    char *path;               /* absolute, inside */
    char type;                /* 'c', 'b', 'u' (= c) or 'p' (a fifo) */
    int64_t major, minor;
    uint32_t mode;            /* permission bits; has_mode false: 0666 */
    bool has_mode;
    uid_t uid;
    gid_t gid;
    bool has_uid, has_gid;
};

/* One of linux.resources.devices (the cgroup's allow/deny list, in order). */
struct oci_device_rule {
    bool allow;
    char type;                /* 'a', 'c' or 'b' */
    int64_t major, minor;     /* -1: any ("*") */
    unsigned access;          /* DEV_ACCESS_* of cgroup/cgroup.h */
};

struct oci_rlimit {
    int resource;             /* RLIMIT_* */
    uint64_t soft, hard;      /* RLIM_INFINITY as UINT64_MAX */
};

/* linux.resources beyond spec_resources (which holds memory.limit,
 * memory.swap, cpu quota/period as milli-CPUs, cpu.shares as a weight,
 * blockIO.weight; and spec_container.pids_limit for pids.limit). */
struct oci_resources {
    int64_t memory_reservation;   /* bytes; 0: none */
    int64_t memory_swap_total;    /* memory.swap as given (memory + swap, runc's meaning); 0: none; -1: unlimited */
    int64_t memory_swappiness;    /* -1: not given */
    bool disable_oom_killer;
    uint64_t cpu_shares;          /* as given (v1 scale); 0: none */
    int64_t cpu_quota;            /* microseconds per period; 0: none; -1: unlimited */
    uint64_t cpu_period;          /* microseconds; 0: none */
    char *cpuset_cpus;            /* "0-3"; NULL: none */
    char *cpuset_mems;
    uint16_t blkio_weight;        /* 10-1000; 0: none */
    strv unified;                 /* linux.resources.unified as "FILE=VALUE" (v2) */
    strv hugepage_limits;         /* "PAGESIZE=LIMIT" ("2MB=1073741824") */
};

struct spec_oci {
    char *id;                     /* the container's id (from the command line) */
    char *bundle;                 /* the bundle directory, absolute */
    /* linux.namespaces: which are asked for (new or joined), and the path
     * to join (NULL: a new one) */
    bool ns_wanted[OCI_NS_COUNT];
    char *ns_path[OCI_NS_COUNT];
    /* process */
    gid_t *additional_gids;
    size_t n_additional_gids;
    bool umask_set;
    mode_t umask;
    /* capabilities, bit N = capability N (process.capabilities; absent: 0) */
    uint64_t cap_bounding, cap_effective, cap_inheritable, cap_permitted, cap_ambient;
    bool no_new_privileges;
    struct oci_rlimit *rlimits;
    size_t n_rlimits;
    bool oom_score_adj_set;
    int oom_score_adj;
    unsigned short console_width, console_height;   /* process.consoleSize; 0: none */
    /* process.scheduler (runtime-spec 1.1): sched_setattr(2) */
    bool sched_set;
    uint32_t sched_policy;        /* SCHED_* */
    int32_t sched_nice;
    uint32_t sched_priority;
    uint64_t sched_flags, sched_runtime, sched_deadline, sched_period;
    /* process.ioPriority (runtime-spec 1.1): ioprio_set(2) */
    bool ioprio_set;
    int ioprio_class;             /* IOPRIO_CLASS_RT 1, BE 2, IDLE 3 */
    int ioprio_level;             /* 0-7 */
    char *apparmor_profile;       /* kept for `state`; appbox enforces none (documented) */
    char *selinux_label;
    /* root and mounts */
    unsigned long rootfs_propagation;   /* linux.rootfsPropagation: MS_SHARED, MS_SLAVE | MS_REC, ...; 0: none */
    struct oci_mount *mounts;
    size_t n_mounts;
    struct oci_device *devices;
    size_t n_devices;
    /* linux */
    char *domainname;
    strv sysctl;                  /* "KEY=VALUE" (KEY with dots, as config.json has it) */
    char *cgroups_path;           /* linux.cgroupsPath as given; NULL: the runtime's choice */
    strv cgroups_made;            /* set at create (cgroup/module.c): the group directories it made, which a
                                   * failed start removes (never one that was there before) */
    struct oci_device_rule *device_rules;
    size_t n_device_rules;
    struct oci_resources resources;
    bool personality_set;
    unsigned long personality;    /* PER_LINUX or PER_LINUX32 */
    /* linux.seccomp, compiled (oci/seccomp.c) by the runtime before the
     * clone: a classic BPF program to load with seccomp(2) and its flags;
     * filter NULL: none (appbox's own default filter then applies unless
     * config.json says otherwise: see docs/oci.md) */
    void *seccomp_filter;         /* struct sock_filter[] */
    unsigned short seccomp_len;   /* instructions */
    unsigned seccomp_flags;       /* SECCOMP_FILTER_FLAG_* */
    bool seccomp_given;           /* config.json has linux.seccomp (even an empty one) */
    bool seccomp_default;         /* no linux.seccomp: appbox's own filter */
    /* the runtime's side: how the process gets its stdio */
    int preserve_fds;             /* fds 3..3+N-1 pass to the process (--preserve-fds, LISTEN_FDS) */
    /* startContainer hooks: run by PID 1 in the container after start,
     * before it execs (set by the command line, oci/hooks.c: the runtime
     * does not know hooks); NULL: none */
    int (*start_container_hooks)(const struct spec_oci *o, void *arg, char *msg, size_t size);
    void *hooks_arg;
};

void spec_oci_free(struct spec_oci *o);
