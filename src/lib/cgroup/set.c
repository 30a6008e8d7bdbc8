/* The container's group set: which directories, chosen once at resolve
 * time (kept in spec.json), and what sessions, stats and the OOM report
 * read from them.
 *
 * On a v1 (hybrid) host a container has one group per controller it uses
 * (memory, pids, cpu, cpuacct, blkio, devices), each below the caller's
 * own group in that hierarchy, and its group in the v2 mount (which may
 * hold no controller, as /sys/fs/cgroup/unified here: it is there for
 * --boot's delegated subtree and for CLONE_INTO_CGROUP).  On a pure v2
 * host it is one directory, the controllers enabled in its parent's
 * cgroup.subtree_control (module.c): below the caller's group when that
 * is the root, else next to it when its parent is the caller's too (a
 * delegated subtree whose processes live in a leaf; see v2_avail()).
 *
 * Who may use what: root, every controller whose hierarchy is mounted
 * and writable; an ordinary user, only what was delegated to it: its own
 * group (v1 per controller, or v2) writable by it, because an
 * administrator chowned it or systemd made it with Delegate=yes.  The v1
 * devices controller and v2 device programs stay root's. */
#include "cgroup/cgroup.h"
#include "cgroup/oci.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "spec/defaults.h"
#include "spec/spec.h"
#include "util/cleanup.h"
#include "util/fsutil.h"

#ifndef CGROUP_SUPER_MAGIC
#define CGROUP_SUPER_MAGIC 0x27e0eb
#endif

#define CG_ROOT "/sys/fs/cgroup"

static const char *const v1_controllers[] = { "memory", "pids", "cpu", "cpuacct", "blkio", "devices", NULL };

bool cgroup_pure_v2(void)
{
    const char *m = cgroup_v2_mount();
    return m && strcmp(m, CG_ROOT) == 0;
}

bool cgroup_path_is_v2(const char *path)
{
    const char *m = cgroup_v2_mount();
    if (!m || !path)
        return false;
    if (strcmp(m, CG_ROOT) == 0)
        return strncmp(path, CG_ROOT "/", strlen(CG_ROOT) + 1) == 0;
    return fs_path_within(path, m) && strcmp(path, m) != 0;
}

/* Whether PATH's v1 hierarchy (the component after /sys/fs/cgroup/, as
 * "cpu,cpuacct") has CONTROLLER. */
static bool hierarchy_has(const char *path, const char *controller)
{
    if (strncmp(path, CG_ROOT "/", strlen(CG_ROOT) + 1) != 0)
        return false;
    const char *h = path + strlen(CG_ROOT) + 1;
    const char *end = h + strcspn(h, "/");
    size_t want = strlen(controller);
    for (const char *p = h; p < end;) {
        size_t l = strcspn(p, ",/");
        if (l == want && strncmp(p, controller, l) == 0)
            return true;
        p += l;
        if (*p != ',')
            break;
        p++;
    }
    return false;
}

const char *cgroup_set_dir(const strv *set, const char *controller)
{
    for (size_t i = 0; i < set->n; i++)
        if (!cgroup_path_is_v2(set->v[i]) && hierarchy_has(set->v[i], controller))
            return set->v[i];
    if (cgroup_pure_v2())
        for (size_t i = 0; i < set->n; i++)
            if (cgroup_path_is_v2(set->v[i]))
                return set->v[i];
    return NULL;
}

const char *cgroup_v2_dir(const struct spec *s)
{
    const strv *set = &s->container.cgroups;
    for (size_t i = 0; i < set->n; i++)
        if (cgroup_path_is_v2(set->v[i]))
            return set->v[i];
    return NULL;
}

const char *cgroup_devices_dir(const struct spec *s)
{
    const strv *set = &s->container.cgroups;
    for (size_t i = 0; i < set->n; i++)
        if (!cgroup_path_is_v2(set->v[i]) && hierarchy_has(set->v[i], "devices"))
            return set->v[i];
    /* v2: a device program, root's only (v2.c) */
    const char *why = NULL;
    if (s->process.user.caller_uid == 0 && cgroup_v2_backend.devices_usable(&why))
        return cgroup_v2_dir(s);
    return NULL;
}

/* Whether the caller may make groups below DIR and move processes there:
 * root where the hierarchy is writable, an ordinary user where DIR was
 * delegated to it. */
static bool dir_writable(const char *dir)
{
    char procs[PATH_MAX];
    snprintf(procs, sizeof(procs), "%s/cgroup.procs", dir);
    return access(dir, W_OK) == 0 && access(procs, W_OK) == 0;
}

bool cgroup_file_has_word(const char *path, const char *word)
{
    char buf[1024];
    if (cgroup_read_file(path, buf, sizeof(buf)) < 0)
        return false;
    size_t n = strlen(word);
    for (char *p = buf; (p = strstr(p, word)); p += n)
        if ((p == buf || p[-1] == ' ' || p[-1] == '\n') && (p[n] == ' ' || p[n] == '\n' || p[n] == '\0'))
            return true;
    return false;
}

/* Why a controller is not usable, for the error of a limit asked for. */
struct avail {
    char parent[PATH_MAX];   /* the caller's own group there ("" none) */
    const char *why;         /* NULL: usable */
};

#define NOT_DELEGATED_FMT                                                                                    \
    "appbox runs as an ordinary user and its own group there (%s) is not delegated to it: run appbox in a "    \
    "systemd user session (a scope with Delegate=yes), or have an administrator create a group, chown it "    \
    "(and its cgroup.procs) to you and move your shell into it (see docs/resources.md)"
static const char *const not_delegated = NOT_DELEGATED_FMT;

static void v1_avail(const char *ctl, bool root, struct avail *a)
{
    char mnt[PATH_MAX], real[PATH_MAX];
    snprintf(mnt, sizeof(mnt), CG_ROOT "/%s", ctl);
    struct statfs fs;
    a->parent[0] = '\0';
    if (!realpath(mnt, real) || statfs(real, &fs) < 0 || fs.f_type != CGROUP_SUPER_MAGIC) {
        a->why = "this machine has no cgroup v1 hierarchy with that controller";
        return;
    }
    _cleanup_free_ char *own = cgroup_own_group(ctl);
    if (!own) {
        a->why = "this process's group in that hierarchy is not in /proc/self/cgroup";
        return;
    }
    snprintf(a->parent, sizeof(a->parent), "%s%s", real, strcmp(own, "/") == 0 ? "" : own);
    if (strcmp(ctl, "devices") == 0) {
        a->why = NULL;
        if (!cgroup_v1_backend.devices_usable(&a->why))
            return;
    }
    if (!dir_writable(a->parent))
        a->why = root ? "the cgroup hierarchy is not writable here (mounted read-only?)" : not_delegated;
    else
        a->why = NULL;
}

static void v2_avail(bool root, struct avail *a)
{
    const char *m = cgroup_v2_mount();
    a->parent[0] = '\0';
    if (!m) {
        a->why = "this machine has no cgroup v2 hierarchy";
        return;
    }
    _cleanup_free_ char *own = cgroup_own_group("");
    if (!own) {
        a->why = "this process's v2 group is not in /proc/self/cgroup";
        return;
    }
    snprintf(a->parent, sizeof(a->parent), "%s%s", m, strcmp(own, "/") == 0 ? "" : own);
    /* Pure v2: a group with processes (ours: appbox itself is in it)
     * cannot hand controllers to its children, the root excepted; a
     * delegated subtree keeps its processes in a leaf (D/shell), so the
     * container's group goes next to that leaf (D/appbox-*) where the
     * caller may write there. */
    char up[PATH_MAX];
    snprintf(up, sizeof(up), "%s", a->parent);
    *strrchr(up, '/') = '\0';
    if (cgroup_pure_v2() && strcmp(own, "/") != 0 && strlen(up) > strlen(m) && dir_writable(up))
        snprintf(a->parent, sizeof(a->parent), "%s", up);
    a->why = dir_writable(a->parent) ? NULL
             : root                  ? "the cgroup v2 hierarchy is not writable here (mounted read-only?)"
                                     : not_delegated;
}

/* The v2 name of a v1 controller. */
static const char *v2_name(const char *ctl)
{
    return strcmp(ctl, "cpuacct") == 0 ? "cpu" : strcmp(ctl, "blkio") == 0 ? "io" : ctl;
}

static int refuse(const char *option, const char *what, const struct avail *a, ab_error *err)
{
    char why[PATH_MAX + 1024];
    if (a->why == not_delegated) {
        snprintf(why, sizeof(why), NOT_DELEGATED_FMT, a->parent[0] ? a->parent : "?");
        if (cgroup_user_scope_why())
            snprintf(why + strlen(why), sizeof(why) - strlen(why), "; here there is %s", cgroup_user_scope_why());
    }
    else
        snprintf(why, sizeof(why), "%s", a->why ? a->why : "");
    return ab_usage(err, "%s: cannot limit the container's %s: %s", option, what, why);
}

int cgroup_resolve(struct spec *s, ab_error *err)
{
    struct spec_container *c = &s->container;
    const struct spec_resources *res = &c->resources;
    strv_clear(&c->cgroups);
    c->pids_cgroup = false;
    bool root = s->process.user.caller_uid == 0;
    uint32_t rnd = 0;
    if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
        rnd = (uint32_t)getpid() * 2654435761u;
    char leaf[64];
    snprintf(leaf, sizeof(leaf), "appbox-%d-%08x", (int)getpid(), rnd);

    bool pure = cgroup_pure_v2();
    struct avail v2;
    v2_avail(root, &v2);
    struct avail v1[6] = { 0 };
    strv set = { 0 };
    int r = 0;
    for (size_t i = 0; !pure && v1_controllers[i]; i++) {
        v1_avail(v1_controllers[i], root, &v1[i]);
        if (v1[i].why)
            continue;
        char path[PATH_MAX + 80];
        snprintf(path, sizeof(path), "%s/%s", v1[i].parent, leaf);
        bool dup = false; /* co-mounted (cpu,cpuacct): one directory */
        for (size_t k = 0; k < set.n; k++)
            dup |= strcmp(set.v[k], path) == 0;
        if (!dup && (r = strv_push(&set, path)) < 0)
            break;
    }
    if (r == 0 && !v2.why) {
        char path[PATH_MAX + 80];
        snprintf(path, sizeof(path), "%s/%s", v2.parent, leaf);
        r = strv_push(&set, path);
    }
    if (r < 0) {
        strv_clear(&set);
        return ab_fail(err, ENOMEM, "cannot name the container's cgroups");
    }

    /* Each limit asked for needs its controller; not --pids, which has
     * always been RLIMIT_NPROC where there is no pids cgroup (then only
     * the processes of the container's users count, per user). */
    struct {
        bool asked;
        const char *option, *what, *ctl;
    } const need[] = {
        { res->memory != 0, "--memory (Memory=)", "memory", "memory" },
        { res->memory_swap != 0, "--memory-swap (MemorySwap=)", "swap", "memory" },
        { res->cpu_quota != 0, "--cpus (Cpus=)", "CPU time", "cpu" },
        { res->cpu_weight != 0, "--cpu-weight (CpuWeight=)", "CPU weight", "cpu" },
        { res->io_weight != 0, "--io-weight (IoWeight=)", "block I/O weight", "blkio" },
    };
    for (size_t i = 0; r == 0 && i < sizeof(need) / sizeof(need[0]); i++) {
        if (!need[i].asked)
            continue;
        char file[PATH_MAX + 64];
        if (pure) {
            struct avail a = v2;
            snprintf(file, sizeof(file), "%s/cgroup.controllers", v2.parent);
            if (!a.why && !cgroup_file_has_word(file, v2_name(need[i].ctl)))
                a.why = "the v2 controller is not available in the parent group (its cgroup.controllers)";
            if (a.why)
                r = refuse(need[i].option, need[i].what, &a, err);
            continue;
        }
        size_t k = 0;
        while (strcmp(v1_controllers[k], need[i].ctl) != 0)
            k++;
        if (v1[k].why) {
            r = refuse(need[i].option, need[i].what, &v1[k], err);
            continue;
        }
        if (strcmp(need[i].what, "swap") == 0) {
            snprintf(file, sizeof(file), "%s/memory.memsw.limit_in_bytes", v1[k].parent);
            if (access(file, F_OK) < 0) {
                struct avail a = { .why = "the kernel does not account swap here (no memory.memsw.* files: boot "
                                          "with swapaccount=1)" };
                r = refuse(need[i].option, need[i].what, &a, err);
            }
        }
        if (strcmp(need[i].ctl, "blkio") == 0) {
            char f2[PATH_MAX + 64];
            snprintf(file, sizeof(file), "%s/blkio.weight", v1[k].parent);
            snprintf(f2, sizeof(f2), "%s/blkio.bfq.weight", v1[k].parent);
            /* a hierarchy's root group (it alone has cgroup.sane_behavior)
             * has no weight of its own: its children tell (limits.c) */
            char f3[PATH_MAX + 64];
            snprintf(f3, sizeof(f3), "%s/cgroup.sane_behavior", v1[k].parent);
            if (access(file, F_OK) < 0 && access(f2, F_OK) < 0 && access(f3, F_OK) < 0) {
                struct avail a = { .why = "the blkio controller here has no weight (no blkio.weight or "
                                          "blkio.bfq.weight: the disks' I/O scheduler is not BFQ or CFQ)" };
                r = refuse(need[i].option, need[i].what, &a, err);
            }
        }
    }
    if (r < 0) {
        strv_clear(&set);
        return r;
    }
    c->cgroups = set;
    if (pure) {
        /* pids enforced by the group only where it will have pids.max:
         * offered by the parent, and enabled there already or enabled by
         * module.c (which the kernel allows in the root, or in a parent
         * without processes of its own) */
        char file[PATH_MAX + 32], procs[64];
        snprintf(file, sizeof(file), "%s/cgroup.controllers", v2.parent);
        bool offered = !v2.why && cgroup_file_has_word(file, "pids");
        snprintf(file, sizeof(file), "%s/cgroup.subtree_control", v2.parent);
        bool enabled = cgroup_file_has_word(file, "pids");
        snprintf(file, sizeof(file), "%s/cgroup.procs", v2.parent);
        bool empty = cgroup_read_file(file, procs, sizeof(procs)) == 0;
        c->pids_cgroup = offered && (enabled || empty || strcmp(v2.parent, cgroup_v2_mount()) == 0);
    } else {
        c->pids_cgroup = cgroup_set_dir(&c->cgroups, "pids") != NULL;
    }
    return 0;
}

bool cgroup_spec_path_ok(const struct spec *s, const char *path)
{
    return s->oci ? cgroup_path_is_valid(path) : cgroup_path_is_ours(path);
}

int cgroup_enter(const struct spec *s, ab_error *err)
{
    const strv *set = &s->container.cgroups;
    if (s->oci) /* groups its caller named (cgroup/oci.h) */
        return cgroup_oci_join(set, getpid(), err) < 0 ? ab_error_prefix(err, "cannot enter the container's cgroup")
                                                       : 0;
    for (size_t i = 0; i < set->n; i++) {
        const char *p = set->v[i];
        int r = cgroup_attach(cgroup_path_is_v2(p) ? &cgroup_v2_backend : &cgroup_v1_backend, p, getpid(), err);
        if (r < 0)
            return ab_error_prefix(err, "cannot enter the container's cgroup");
    }
    return 0;
}

static int read_file(const char *dir, const char *file, char *buf, size_t size)
{
    char path[PATH_MAX + 64];
    snprintf(path, sizeof(path), "%s/%s", dir, file);
    return cgroup_read_file(path, buf, size);
}

uint64_t cgroup_parse_key(const char *text, const char *key)
{
    size_t n = strlen(key);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        if (strncmp(p, key, n) == 0 && p[n] == ' ')
            return strtoull(p + n + 1, NULL, 10);
    return CGROUP_UNKNOWN;
}

int cgroup_oom_kills(const struct spec *s)
{
    const char *dir = cgroup_set_dir(&s->container.cgroups, "memory");
    if (!dir || !cgroup_spec_path_ok(s, dir))
        return -1;
    char buf[4096];
    bool v2 = cgroup_path_is_v2(dir);
    if (read_file(dir, v2 ? "memory.events" : "memory.oom_control", buf, sizeof(buf)) < 0)
        return -1;
    uint64_t n = cgroup_parse_key(buf, "oom_kill");
    return n == CGROUP_UNKNOWN ? -1 : (int)(n > INT_MAX ? INT_MAX : n);
}

const char *cgroup_enforcement(const struct spec *s, char *buf, size_t size)
{
    /* a stopped container: what a start by this caller would get */
    struct spec trial;
    const strv *set = &s->container.cgroups;
    bool tried = false;
    if (!s->container.resolved) {
        memcpy(&trial, s, sizeof(trial));
        memset(&trial.container.cgroups, 0, sizeof(trial.container.cgroups));
        memset(&trial.container.resources, 0, sizeof(trial.container.resources));
        trial.container.pids_limit = SPEC_DEFAULT_PIDS_LIMIT;
        trial.process.user.caller_uid = getuid();
        ab_error ignored = { 0 };
        if (cgroup_resolve(&trial, &ignored) == 0)
            set = &trial.container.cgroups;
        tried = true;
    }
    static const char *const ctls[] = { "memory", "pids", "cpu", "blkio", NULL };
    char have[128] = "";
    for (size_t i = 0; ctls[i]; i++)
        if (cgroup_set_dir(set, ctls[i]) && strlen(have) + strlen(ctls[i]) + 3 < sizeof(have))
            snprintf(have + strlen(have), sizeof(have) - strlen(have), "%s%s", *have ? ", " : "", ctls[i]);
    if (*have)
        snprintf(buf, size, "cgroup %s (%s)", cgroup_pure_v2() ? "v2" : "v1", have);
    else
        snprintf(buf, size, "no cgroup (%s): rlimit only (the pids limit is RLIMIT_NPROC; other limits are "
                            "refused)",
                 getuid() == 0 ? "no usable controller here" : "rootless, and no delegated group");
    if (tried)
        strv_clear(&trial.container.cgroups);
    return buf;
}
