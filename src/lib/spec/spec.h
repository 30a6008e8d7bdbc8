/* The spec: one in-memory description of a container, in two parts shaped
 * like OCI's config.json (and nspawn's Settings):
 *
 *  - the container part: root, an ordered list of mounts, namespaces, id
 *    maps, network, devices, masked and read-only paths, hostname, how PID
 *    1 runs, the stop signal;
 *  - the process part: argv, env, cwd, user, capabilities, seccomp (and
 *    whether it allows io_uring),
 *    terminal.  `exec` and a session carry only this part.
 *
 * Its life: the option registry (options.h) fills it from any source,
 * checking syntax only; spec_validate() checks what fields mean together;
 * spec_resolve() resolves it once, at start (paths, identity, id maps);
 * the resolved spec is written as JSON (spec_json.h) for sessions to load,
 * and the runtime only reads it. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "util/error.h"
#include "util/strv.h"

enum net_mode {
    NET_NONE = 0,   /* own network namespace with only lo, up */
    NET_HOST,       /* the host's network namespace */
    NET_PASTA,      /* own network namespace, pasta's user-mode networking, the host's loopback out of
                     * reach; internal (apt runs), not accepted from --network or appbox.conf */
    NET_NAT,        /* a private address, out through NAT: a veth into a bridge (root), pasta (a user) */
    NET_MACVLAN,    /* an address of its own on a host interface (root), by DHCP or --address */
    NET_PROXY,      /* only lo; outgoing TCP and DNS through appbox's allow-list relay */
};

/* How a NET_NAT network is carried (set by net_resolve()). */
enum net_backend {
    NET_BACKEND_NONE = 0,
    NET_BACKEND_BRIDGE,       /* root: a veth into a bridge, nftables masquerade */
    NET_BACKEND_PASTA,        /* a user: pasta (package passt) */
    NET_BACKEND_SLIRP4NETNS,  /* a user without pasta: slirp4netns */
};

/* A network's settings beyond its mode (net/).  The lists hold canonical
 * strings (net/netopts.h parses and writes them), so that spec.json and
 * `show` carry them as text. */
struct spec_network {
    char *name;               /* nat: the named network (nat:NAME); NULL: one of the container's own */
    char *iface;              /* macvlan: the host interface; NULL: the default route's */
    char *subnet;             /* nat (root): the network's IPv4 subnet "A.B.C.D/N"; NULL: allocated */
    char *address;            /* nat (root), macvlan: "A.B.C.D[/N]"; NULL: allocated (nat), DHCP (macvlan) */
    bool allow_host_loopback; /* nat as a user: the host's loopback reachable from the container */
    strv allow;               /* proxy: "HOST[:PORT]" (HOST a name, "*.domain" or an address) */
    strv publish;             /* "IP:HOSTPORT:PORT/PROTO" */
    strv links;               /* "OTHER:PORT:LOCALPORT" */
    /* Set at start (net_resolve()), kept in spec.json for sessions, `show`
     * and a teardown after a SIGKILLed supervisor. */
    int backend;              /* enum net_backend (nat) */
    char *addr;               /* the container's address with its prefix ("10.89.0.5/24"), when it has one */
    char *gateway;            /* its default gateway */
    char *bridge;             /* nat (root): the bridge */
    char *host_veth;          /* nat (root): the host's end of the veth pair */
    char *dns;                /* the nameserver its /etc/resolv.conf names; NULL: the root's own file */
    char *hosts;              /* a host file bound read-only as /etc/hosts (a named network's, kept current
                               * as members come and go); NULL: a file of appbox's with the container's name */
    char *dir;                /* a runtime directory of appbox's for the network helper (sockets, log) */
};

/* Sound (desktop/sound.c): which host sound server the container reaches. */
enum sound_mode {
    SOUND_NONE = 0,      /* none */
    SOUND_HOST,          /* --sound alone: the host's server, chosen when the container starts */
    SOUND_PULSEAUDIO,    /* the PulseAudio protocol (PulseAudio or PipeWire's pulse), through appbox's proxy */
    SOUND_PIPEWIRE,      /* PipeWire's native socket, bound */
    SOUND_ALSA,          /* /dev/snd device nodes */
};

enum mount_type {
    MOUNT_TYPE_BIND,    /* a host tree (or a single node) at destination */
    MOUNT_TYPE_TMPFS,   /* a fresh tmpfs; data holds its options */
};

/* --gpu: none, the render nodes, or every DRM node (and NVIDIA's). */
enum spec_gpu {
    SPEC_GPU_NONE = 0,
    SPEC_GPU_RENDER,
    SPEC_GPU_ALL,
};

/* Mount options, as OCI's "options" strings: "ro", "nosuid", "nodev",
 * "noexec", "rbind" (MOUNT_RECURSIVE) vs "bind". */
enum {
    MOUNT_RO = 1u << 0,
    MOUNT_NOSUID = 1u << 1,
    MOUNT_NODEV = 1u << 2,
    MOUNT_NOEXEC = 1u << 3,
    MOUNT_RECURSIVE = 1u << 4,
    /* made by appbox when the container starts (the sound socket, /dev/snd
     * nodes): derived again at every start, so not in NAME's pins file */
    MOUNT_AT_START = 1u << 5,
};

struct spec_mount {
    enum mount_type type;
    char *source;        /* host path; as given until resolved, then absolute and real; NULL for tmpfs */
    char *destination;   /* absolute, lexically clean path inside the container */
    unsigned options;    /* MOUNT_* */
    char *data;          /* file system options ("mode=0755"); NULL: none */
    char *origin;        /* who asked for it, for messages ("--bind", "appbox.conf:12: Bind"); may be NULL */
    /* Set by spec_resolve(): the source as it was given (before symlinks
     * were followed), and the object it named then (pinned). */
    char *given;
    dev_t dev;
    ino_t ino;
    /* A device bind (spec_mount_is_device): the cgroup access granted,
     * DEV_ACCESS_* of cgroup/cgroup.h ("rwm"); 0 on other mounts. */
    unsigned dev_access;
};

/* A bind of a device node: alone (not recursive) and without nodev. */
bool spec_mount_is_device(const struct spec_mount *m);
/* "rw", "ro", "tmpfs" or "device", for `show`. */
const char *spec_mount_mode_name(const struct spec_mount *m);

/* Who the process is, inside and outside.  Filled by spec_resolve(). */
struct spec_user {
    uid_t caller_uid;
    gid_t caller_gid;
    char caller_name[64];
    uid_t uid;              /* inside */
    gid_t gid;
    char name[64];
    char group[64];
    char home[256];
    char shell[256];        /* the caller's login shell; checked inside later */
};

#define SPEC_IDMAP_MAX_RANGES 4

struct spec_idmap_range {
    uint32_t inside, outside, count;
};

struct spec_idmap {
    struct spec_idmap_range r[SPEC_IDMAP_MAX_RANGES];
    size_t n;
    bool via_helper;   /* written by newuidmap/newgidmap */
};

/* Which display the container's apps draw on (desktop/display.c). */
enum display_mode {
    DISPLAY_NONE = 0,      /* nothing of the host's display */
    DISPLAY_X11,           /* the host's X socket, with an untrusted SECURITY cookie of the container's own */
    DISPLAY_X11_TRUSTED,   /* the host's X socket, with the user's own cookie */
    DISPLAY_WAYLAND,       /* the compositor's socket */
    DISPLAY_PRIVATE,       /* a nested Xephyr of the container's own */
    DISPLAY_AUTO,          /* --gui: the host session's kind, chosen at start (wayland, else x11) */
};

struct spec_display {
    int mode;                /* enum display_mode */
    int width, height;       /* private: Xephyr's screen */
    /* Set at start (display_resolve()), for the module and teardown. */
    int host_number;         /* x11: the host's display number; private: Xephyr's */
    char *host_display;      /* x11: the host's DISPLAY, for the cookie helper and Xephyr */
    char *host_auth;         /* the user's Xauthority file, when set */
    char *dir;               /* a directory of ours (0700) with the container's cookie; removed at teardown */
};

/* How PID 1 runs. */
enum spec_init {
    SPEC_INIT_APPBOX = 0,   /* appbox's own init: forwards signals, reaps, exits with the command */
    SPEC_INIT_BOOT,         /* --boot: the root's own /sbin/init (systemd) is PID 1 */
};

/* What `start` does when the service (Run=) exits (container/service.c). */
enum spec_restart {
    SPEC_RESTART_NO = 0,      /* leave it exited; the container stays up until stop */
    SPEC_RESTART_ON_FAILURE,  /* again after a non-zero exit or a signal, with a backoff */
    SPEC_RESTART_ALWAYS,      /* again after any exit, with a backoff */
};

/* Limits through the container's cgroup (cgroup/).  0: none (the
 * kernel's default); the pids limit is spec_container.pids_limit. */
struct spec_resources {
    uint64_t memory;          /* --memory: bytes */
    uint64_t memory_swap;     /* --memory-swap: bytes of swap beyond memory (0: none, swap off) */
    uint32_t cpu_quota;       /* --cpus: thousandths of a CPU (100: 0.1, seed 004's CPUQuota=10%) */
    uint32_t cpu_weight;      /* --cpu-weight: 1-10000 (cgroup v2's scale, default 100) */
    uint32_t io_weight;       /* --io-weight: 1-10000 (cgroup v2's scale, default 100) */
};

struct spec_container {
    char *root;              /* NULL: the host view */
    char *root_origin;       /* who set it, for messages (as spec_mount.origin); may be NULL */
    bool writable;           /* the root is writable */
    /* Internal (named containers from a shared base): when set, the root is
     * an overlay of this read-only tree (the base, in the store) under ROOT,
     * which then holds the container's own changes (upper/ and work/).
     * Never set from an option or appbox.conf. */
    char *root_lower;
    struct spec_mount *mounts;   /* the user's mounts, in order, after the defaults */
    size_t n_mounts;
    enum net_mode net;
    struct spec_network network;   /* the rest of the network's settings */
    char *hostname;          /* NULL until resolved: then the default */
    strv masked_paths;       /* absolute paths under /proc and /sys hidden from the app */
    strv readonly_paths;     /* absolute paths under /proc made read-only */
    strv devices;            /* device nodes of the host bound into the fresh /dev */
    enum spec_init init;
    int stop_signal;
    /* Resources (until cgroups: limits the kernel gives without them). */
    uint64_t tmpfs_size;     /* bytes, each of appbox's own tmpfs mounts and a --tmpfs without size= */
    uint64_t pids_limit;     /* RLIMIT_NPROC of the container's processes, and its cgroup's pids limit */
    struct spec_resources resources;
    /* The service (`start` runs Run= in the background): restart policy
     * and how much log it keeps (container/service.c). */
    int restart;             /* enum spec_restart */
    uint64_t log_size;       /* bytes of service.log before it is rotated */
    /* Devices (desktop/devices.c): expanded into device binds (and, for
     * the NVIDIA driver in a foreign root, read-only library binds) when
     * the spec is resolved. */
    enum spec_gpu gpu;
    bool webcam;             /* /dev/video* and /dev/v4l */
    /* Set by spec_resolve() (cgroup_resolve()): the container's cgroup
     * directories, one per v1 hierarchy used and/or its v2 group, made
     * before "go" and removed at teardown (cgroup/cgroup.h); empty: none
     * (rootless without a delegated group). */
    strv cgroups;
    bool pids_cgroup;        /* set with cgroups: its pids controller enforces pids_limit (no RLIMIT_NPROC then) */
    /* Sound (desktop/sound.c).  Resolved at start (sound_resolve()): the
     * mode made concrete, the host's server socket and cookie, and the
     * directory of appbox's proxy socket (bound into the container). */
    enum sound_mode sound;
    bool microphone;         /* recording allowed (--microphone yes) */
    char *sound_server;      /* host path of the server's socket */
    char *sound_cookie;      /* host path of the PulseAudio cookie, or NULL */
    char *sound_dir;         /* host directory of the proxy's socket */
    uint64_t sound_dir_dev, sound_dir_ino;   /* the server socket's directory, pinned */
    struct spec_display display;   /* desktop/display.h */
    /* --desktop-files no: none of the host's fonts, icons, time zone (desktop/hostfiles.h) */
    bool no_host_files;
    /* Set by spec_resolve(). */
    bool resolved;
    unsigned long namespaces;   /* CLONE_NEW* flags of the namespaces made new */
    struct spec_idmap uid_map, gid_map;
};

struct spec_process {
    strv argv;               /* the command */
    strv env;                /* K=V added to the clean environment */
    char *cwd;               /* absolute; NULL: home */
    /* Not kept in spec.json: the caller's working directory where the
     * container sees it at the same path (spec_follow_caller_cwd()), used
     * when cwd is NULL and only if it is still the directory of that
     * device and inode when opened inside; else the home. */
    char *cwd_follow;
    dev_t cwd_dev;
    ino_t cwd_ino;
    bool uid_set;
    uid_t uid;               /* uid inside; default: the caller's own */
    uint64_t cap_add;        /* bit N = capability N */
    uint64_t cap_drop;
    bool cap_drop_all;
    bool seccomp;            /* default filter on (true) or off */
    bool io_uring;           /* the filter allows io_uring (--io-uring allow) */
    /* Internal: the filter keeps set-id modes (chmod u+s, ...) allowed.
     * Never set from an option, appbox.conf or spec.json: only by appbox's
     * own runs on a root in its private store (apt-get/dpkg, the image
     * unpacker); sandbox_run() refuses it when a writable tree is outside
     * the store. */
    bool store_setid;
    bool terminal;           /* a pty of the container's own (decided at run time) */
    struct spec_user user;   /* set by spec_resolve() */
};

struct spec_oci;

struct spec {
    struct spec_container container;
    struct spec_process process;
    /* appbox-oci: config.json's own layout and what appbox's spec has no
     * field for (spec/oci.h); NULL for appbox's own containers.  Not
     * owned (the OCI config holds it), never in spec.json. */
    struct spec_oci *oci;
};

void spec_init(struct spec *s);
void spec_free(struct spec *s);
void spec_process_free(struct spec_process *p);

/* Append a mount; strings are copied.  ORIGIN may be NULL. */
int spec_add_mount(struct spec *s, enum mount_type type, const char *source, const char *destination,
                   unsigned options, const char *data, const char *origin);
int spec_add_bind(struct spec *s, const char *source, const char *destination, bool read_only,
                  const char *origin);
int spec_add_tmpfs(struct spec *s, const char *destination, const char *origin);
/* A tmpfs of SIZE bytes (--tmpfs DST:size=SIZE). */
int spec_add_tmpfs_sized(struct spec *s, const char *destination, uint64_t size, const char *origin);
int spec_add_device(struct spec *s, const char *path, const char *origin);
/* A device bind with cgroup access ACCESS (DEV_ACCESS_*), SOURCE at DESTINATION. */
int spec_add_device_access(struct spec *s, const char *source, const char *destination, unsigned access,
                           const char *origin);
/* Move mount I to the front (its destination may be a parent of later ones). */
void spec_mount_to_front(struct spec *s, size_t i);
/* Whether the container's own ids can write at host PATH, below it or
 * above it: through a read-write bind or a writable root that is PATH,
 * holds it, or lies inside it.  What such a PATH names may be the
 * container's choice: never followed, idmapped or trusted by the host. */
bool spec_container_can_write(const struct spec_container *c, const char *path);
/* NAME=VALUE in the process's environment, replacing one of that name;
 * -ENOMEM (ERR filled, when given). */
int spec_set_env(struct spec *s, const char *name, const char *value, ab_error *err);
/* NAME's value in the process's environment, or NULL. */
const char *spec_get_env(const struct spec *s, const char *name);

/* Names for messages and `show`. */
const char *net_mode_name(enum net_mode m);
int net_mode_from_name(const char *name, enum net_mode *out);

const char *sound_mode_name(enum sound_mode m);
int sound_mode_from_name(const char *name, enum sound_mode *out);
const char *display_mode_name(int m);
const char *spec_restart_name(int r);
int spec_restart_from_name(const char *name, int *out);
int display_mode_from_name(const char *name, int *out);

/* What fields mean together: checked once, for every source, before
 * anything is created.  Errors are usage errors naming the fields. */
int spec_validate(const struct spec *s, ab_error *err);
