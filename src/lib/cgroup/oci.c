/* The groups of an OCI container (appbox-oci): where config.json's
 * linux.cgroupsPath puts them, making and removing them, and what the OCI
 * commands do with a running container's group (pause/resume, ps, kill
 * --all, exec).  The limits and device rules are in oci_apply.c.
 *
 * Unlike appbox's own groups ("appbox-*", below the caller's group, see
 * cgroup.h), these are named by the caller (podman, containerd, a user
 * with runc's habits): any path below a hierarchy's mount, checked by
 * cgroup_path_is_valid(), never by a pattern of appbox's.  As runc: the
 * intermediate groups are made as needed and left in place (a pod's or
 * libpod_parent's group belongs to the caller); only the leaf is removed. */
#include "cgroup/oci.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#include "cgroup/cgroup.h"
#include "spec/oci.h"
#include "spec/spec.h"
#include "util/cleanup.h"

#ifndef CGROUP_SUPER_MAGIC
#define CGROUP_SUPER_MAGIC 0x27e0eb
#endif

#define CG_ROOT "/sys/fs/cgroup"

/* The v1 hierarchies an OCI container gets a group in (runc's list, less
 * the network and perf ones, which hold no limit of config.json's). */
static const char *const oci_controllers[] = { "memory", "pids", "cpu", "cpuacct", "cpuset",
                                               "blkio",  "devices", "freezer", "hugetlb", NULL };

/* ---- cgroupsPath ---- */

/* Whether REL (relative, '/'-separated) has only names a group may have. */
static int check_components(const char *rel, const char *given, ab_error *err)
{
    if (!*rel)
        return ab_usage(err, "linux.cgroupsPath '%s' names no group (the hierarchy's root is no container's)",
                        given);
    for (const char *p = rel; *p;) {
        size_t l = strcspn(p, "/");
        if (l == 0)
            return ab_usage(err, "linux.cgroupsPath '%s' has an empty component (allowed: names separated by "
                                 "single '/')",
                            given);
        if ((l == 1 && p[0] == '.') || (l == 2 && p[0] == '.' && p[1] == '.'))
            return ab_usage(err, "linux.cgroupsPath '%s' has a '%.*s' component (refused: the group must be "
                                 "below where the path starts)",
                            given, (int)l, p);
        if (l > NAME_MAX)
            return ab_usage(err, "linux.cgroupsPath '%s' has a component longer than %d bytes", given, NAME_MAX);
        for (size_t i = 0; i < l; i++)
            if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f)
                return ab_usage(err, "linux.cgroupsPath '%s' has a control character", given);
        p += l;
        if (*p == '/' && !*++p)
            return ab_usage(err, "linux.cgroupsPath '%s' ends with '/' (allowed: names separated by single '/')",
                            given);
    }
    if (strlen(rel) > PATH_MAX / 2)
        return ab_usage(err, "linux.cgroupsPath is %zu bytes long (at most %d)", strlen(rel), PATH_MAX / 2);
    return 0;
}

/* systemd's path of SLICE: "a-b-c.slice" is a.slice/a-b.slice/a-b-c.slice,
 * "-.slice" the root (as runc's ExpandSlice).  Appended to OUT. */
static int expand_slice(const char *slice, const char *given, char *out, size_t size, ab_error *err)
{
    size_t l = strlen(slice);
    if (l < 6 || strcmp(slice + l - 6, ".slice") != 0 || strchr(slice, '/'))
        return ab_usage(err, "linux.cgroupsPath '%s': '%s' is not a slice name (NAME.slice, no '/')", given, slice);
    if (strcmp(slice, "-.slice") == 0)
        return 0;
    size_t base = l - 6;
    for (size_t i = 0; i <= base; i++) {
        if (i < base && slice[i] != '-')
            continue;
        if (i == 0 || slice[i - 1] == '-' || (i < base && i + 1 == base))
            return ab_usage(err, "linux.cgroupsPath '%s': '%s' is not a slice name (empty part between '-')", given,
                            slice);
        size_t used = strlen(out);
        snprintf(out + used, size - used, "%s%.*s.slice", used ? "/" : "", (int)i, slice);
    }
    return 0;
}

int cgroup_oci_path(const char *cgroups_path, const char *id, bool systemd, char **rel, bool *absolute,
                    ab_error *err)
{
    *rel = NULL;
    *absolute = false;
    char buf[PATH_MAX];
    const char *given = cgroups_path;
    if (!cgroups_path || !*cgroups_path) {
        if (!id || !*id || strchr(id, '/'))
            return ab_usage(err, "the container id '%s' cannot name a cgroup", id ? id : "");
        if (systemd) {
            /* runc's default with --systemd-cgroup: system.slice:runc:ID */
            snprintf(buf, sizeof(buf), "system.slice/appbox-oci-%s.scope", id);
            *absolute = true;
        } else
            snprintf(buf, sizeof(buf), "appbox-oci/%s", id);
        given = buf;
    } else if (systemd) {
        /* SLICE:PREFIX:NAME */
        const char *c1 = strchr(cgroups_path, ':');
        const char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c2 || strchr(c2 + 1, ':'))
            return ab_usage(err, "linux.cgroupsPath '%s' is not of the form SLICE:PREFIX:NAME (with "
                                 "--systemd-cgroup)",
                            cgroups_path);
        char slice[NAME_MAX + 1], prefix[NAME_MAX + 1];
        const char *name = c2 + 1;
        if ((size_t)(c1 - cgroups_path) > NAME_MAX || (size_t)(c2 - c1 - 1) > NAME_MAX || strlen(name) > NAME_MAX)
            return ab_usage(err, "linux.cgroupsPath '%s': a part is longer than %d bytes", cgroups_path, NAME_MAX);
        snprintf(slice, sizeof(slice), "%.*s", (int)(c1 - cgroups_path), cgroups_path);
        snprintf(prefix, sizeof(prefix), "%.*s", (int)(c2 - c1 - 1), c1 + 1);
        if (!*name || strchr(name, '/') || strchr(prefix, '/'))
            return ab_usage(err, "linux.cgroupsPath '%s': NAME must be given, and neither PREFIX nor NAME may hold "
                                 "'/'",
                            cgroups_path);
        buf[0] = '\0';
        int r = expand_slice(*slice ? slice : "system.slice", cgroups_path, buf, sizeof(buf), err);
        if (r < 0)
            return r;
        size_t used = strlen(buf);
        size_t nl = strlen(name);
        /* a NAME that is a slice is the unit itself, else PREFIX-NAME.scope */
        if (nl > 6 && strcmp(name + nl - 6, ".slice") == 0)
            snprintf(buf + used, sizeof(buf) - used, "%s%s", used ? "/" : "", name);
        else
            snprintf(buf + used, sizeof(buf) - used, "%s%s%s%s.scope", used ? "/" : "", prefix, *prefix ? "-" : "",
                     name);
        /* systemd's units are below the hierarchy's root */
        *absolute = true;
        given = cgroups_path;
        int rc = check_components(buf, given, err);
        if (rc < 0)
            return rc;
        return (*rel = strdup(buf)) ? 0 : ab_fail(err, ENOMEM, "linux.cgroupsPath");
    } else {
        *absolute = cgroups_path[0] == '/';
        snprintf(buf, sizeof(buf), "%s", cgroups_path + (*absolute ? 1 : 0));
    }
    int rc = check_components(buf, given, err);
    if (rc < 0)
        return rc;
    return (*rel = strdup(buf)) ? 0 : ab_fail(err, ENOMEM, "linux.cgroupsPath");
}

/* ---- which hierarchies ---- */

/* Whether this caller may make DIR (below MOUNT) and move processes into
 * it: the deepest existing directory on the way is writable (root: unless
 * the mount is read-only; a user: where a group was delegated to it). */
static bool may_write(const char *dir, const char *mount)
{
    char p[PATH_MAX], procs[PATH_MAX + 16];
    snprintf(p, sizeof(p), "%s", dir);
    struct stat st;
    if (stat(p, &st) == 0) {
        snprintf(procs, sizeof(procs), "%s/cgroup.procs", p);
        return access(p, W_OK) == 0 && access(procs, W_OK) == 0;
    }
    size_t ml = strlen(mount);
    while (strlen(p) > ml) {
        *strrchr(p, '/') = '\0';
        if (stat(p, &st) == 0)
            return S_ISDIR(st.st_mode) && access(p, W_OK) == 0;
    }
    return false;
}

/* The deepest existing directory from DIR up (a group's, or the mount). */
static void existing_ancestor(const char *dir, char *out, size_t size)
{
    snprintf(out, size, "%s", dir);
    struct stat st;
    while (stat(out, &st) < 0 && strrchr(out, '/') && strrchr(out, '/') != out)
        *strrchr(out, '/') = '\0';
}

/* Pure v2: whether controller CTL can be had below DIR's deepest existing
 * ancestor (listed in its cgroup.controllers). */
static bool v2_offers(const char *dir, const char *ctl)
{
    char anc[PATH_MAX], file[PATH_MAX + 32];
    existing_ancestor(dir, anc, sizeof(anc));
    snprintf(file, sizeof(file), "%s/cgroup.controllers", anc);
    return cgroup_file_has_word(file, ctl);
}

/* Add MOUNT/[OWN/]REL to SET if this caller may write it. */
static int add_dir(strv *set, const char *mount, const char *controller, bool absolute, const char *rel)
{
    _cleanup_free_ char *own = absolute ? NULL : cgroup_own_group(controller);
    if (!absolute && !own)
        return 0;
    char dir[PATH_MAX];
    if (snprintf(dir, sizeof(dir), "%s%s/%s", mount, own && strcmp(own, "/") != 0 ? own : "", rel) >=
        (int)sizeof(dir))
        return 0;
    for (size_t k = 0; k < set->n; k++)
        if (strcmp(set->v[k], dir) == 0)
            return 0; /* co-mounted (cpu,cpuacct): one directory */
    if (!cgroup_path_is_valid(dir) || !may_write(dir, mount))
        return 0;
    return strv_push(set, dir);
}

struct need {
    bool asked;
    const char *field, *v1, *v2;
};

static const char *const not_writable_user =
    "appbox-oci runs as an ordinary user and no cgroup is delegated to it (run it in a systemd user session's "
    "scope with Delegate=yes, or have an administrator create a group and chown it and its cgroup.procs to you)";

int cgroup_oci_resolve(struct spec *s, bool systemd, ab_error *err)
{
    struct spec_container *c = &s->container;
    strv_clear(&c->cgroups);
    c->pids_cgroup = false;
    const struct spec_oci *o = s->oci;
    if (!o)
        return ab_fail(err, EINVAL, "internal error: an OCI cgroup for a spec without OCI settings");
    _cleanup_free_ char *rel = NULL;
    bool absolute = false;
    int r = cgroup_oci_path(o->cgroups_path, o->id, systemd, &rel, &absolute, err);
    if (r < 0)
        return r;
    bool root = geteuid() == 0;
    bool pure = cgroup_pure_v2();
    const char *v2 = cgroup_v2_mount();
    strv set = { 0 };
    for (size_t i = 0; r >= 0 && !pure && oci_controllers[i]; i++) {
        char mnt[PATH_MAX], real[PATH_MAX];
        snprintf(mnt, sizeof(mnt), CG_ROOT "/%s", oci_controllers[i]);
        struct statfs fs;
        if (!realpath(mnt, real) || statfs(real, &fs) < 0 || fs.f_type != CGROUP_SUPER_MAGIC)
            continue;
        /* the devices controller is the host root's (v1.c) */
        const char *why = NULL;
        if (strcmp(oci_controllers[i], "devices") == 0 && !cgroup_v1_backend.devices_usable(&why))
            continue;
        r = add_dir(&set, real, oci_controllers[i], absolute, rel);
    }
    /* the v2 group: pure v2's only one; on a hybrid host, the container's
     * view of the unified hierarchy (cgroup namespace, CLONE_INTO_CGROUP) */
    if (r >= 0 && v2)
        r = add_dir(&set, v2, "", absolute, rel);
    if (r < 0) {
        strv_clear(&set);
        return ab_fail(err, ENOMEM, "cannot name the container's cgroups");
    }

    const struct spec_resources *res = &c->resources;
    const struct oci_resources *or = &o->resources;
    if (or->unified.n && !pure) {
        strv_clear(&set);
        return ab_usage(err, "linux.resources.unified needs cgroup v2, and this machine's controllers are cgroup v1 "
                             "(refused, as runc does, rather than ignored)");
    }
    const struct need need[] = {
        { res->memory || or->memory_reservation || or->memory_swap_total || or->memory_swappiness >= 0 ||
              or->disable_oom_killer,
          "linux.resources.memory", "memory", "memory" },
        { or->cpu_shares || or->cpu_quota || or->cpu_period || res->cpu_quota || res->cpu_weight,
          "linux.resources.cpu", "cpu", "cpu" },
        { or->cpuset_cpus || or->cpuset_mems, "linux.resources.cpu.cpus/mems", "cpuset", "cpuset" },
        { c->pids_limit > 0, "linux.resources.pids", "pids", "pids" },
        { or->blkio_weight || res->io_weight, "linux.resources.blockIO", "blkio", "io" },
        { or->hugepage_limits.n > 0, "linux.resources.hugepageLimits", "hugetlb", "hugetlb" },
        { or->unified.n > 0, "linux.resources.unified", NULL, NULL },
    };
    for (size_t i = 0; i < sizeof(need) / sizeof(need[0]); i++) {
        if (!need[i].asked)
            continue;
        if (pure) {
            if (!set.n) {
                strv_clear(&set);
                return ab_usage(err, "cannot apply %s: %s", need[i].field,
                                root ? "the cgroup v2 hierarchy is not writable here" : not_writable_user);
            }
            if (need[i].v2 && !v2_offers(set.v[0], need[i].v2)) {
                strv_clear(&set);
                return ab_usage(err, "cannot apply %s: the cgroup v2 controller '%s' is not available where the "
                                     "group goes (%s: not in its parent's cgroup.controllers)",
                                need[i].field, need[i].v2, set.v[0]);
            }
            continue;
        }
        if (!need[i].v1 || cgroup_set_dir(&set, need[i].v1))
            continue;
        /* v1, rootless: ignored, as runc does (its limits need groups it
         * may not make) */
        if (!root)
            continue;
        strv_clear(&set);
        return ab_usage(err, "cannot apply %s: this machine has no writable cgroup v1 hierarchy with the '%s' "
                             "controller",
                        need[i].field, need[i].v1);
    }
    c->cgroups = set;
    c->pids_cgroup = pure ? set.n && v2_offers(set.v[0], "pids") : cgroup_set_dir(&set, "pids") != NULL;
    return 0;
}

/* ---- making and removing ---- */

/* The mount of the hierarchy PATH (valid) lies in. */
static void mount_of(const char *path, char *out, size_t size)
{
    if (cgroup_pure_v2()) {
        snprintf(out, size, CG_ROOT);
        return;
    }
    const char *h = path + strlen(CG_ROOT) + 1;
    snprintf(out, size, CG_ROOT "/%.*s", (int)strcspn(h, "/"), h);
}

/* A new v1 cpuset group has no CPUs or memory nodes, and no process may
 * join it: its parent's are copied (as runc does). */
static int cpuset_init(const char *dir, ab_error *err)
{
    static const char *const files[] = { "cpuset.cpus", "cpuset.mems" };
    char parent[PATH_MAX], path[PATH_MAX + 32], have[4096];
    snprintf(parent, sizeof(parent), "%.*s", (int)(strrchr(dir, '/') - dir), dir);
    for (size_t i = 0; i < 2; i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
        if (cgroup_read_file(path, have, sizeof(have)) < 0 || (have[0] && have[0] != '\n'))
            continue;
        snprintf(path, sizeof(path), "%s/%s", parent, files[i]);
        if (cgroup_read_file(path, have, sizeof(have)) <= 0)
            continue;
        have[strcspn(have, "\n")] = '\0';
        if (*have && cgroup_write_file(dir, files[i], have, err) < 0)
            return ab_error_prefix(err, "cannot give the new cpuset group its parent's %s", files[i]);
    }
    return 0;
}

/* Pure v2: every controller DIR's parent offers, enabled for its children
 * (the limits' files appear only then); refusals (a parent with processes
 * of its own) show as a missing file when a limit needs it. */
static void enable_in_parent(const char *dir)
{
    char parent[PATH_MAX], file[PATH_MAX + 32], have[512];
    snprintf(parent, sizeof(parent), "%.*s", (int)(strrchr(dir, '/') - dir), dir);
    snprintf(file, sizeof(file), "%s/cgroup.controllers", parent);
    if (cgroup_read_file(file, have, sizeof(have)) <= 0)
        return;
    snprintf(file, sizeof(file), "%s/cgroup.subtree_control", parent);
    char *save = NULL;
    for (char *w = strtok_r(have, " \n", &save); w; w = strtok_r(NULL, " \n", &save)) {
        if (cgroup_file_has_word(file, w))
            continue;
        char text[64];
        snprintf(text, sizeof(text), "+%s", w);
        ab_error ignored = { 0 };
        cgroup_write_file(parent, "cgroup.subtree_control", text, &ignored);
    }
}

void cgroup_oci_remove_made(strv *made)
{
    for (size_t i = made->n; i-- > 0;)
        cgroup_destroy_named(made->v[i]);
    strv_clear(made);
}

/* A group that holds processes (another container's). */
static bool in_use(const char *dir)
{
    char file[PATH_MAX + 16], buf[16];
    snprintf(file, sizeof(file), "%s/cgroup.procs", dir);
    return cgroup_read_file(file, buf, sizeof(buf)) > 0;
}

int cgroup_oci_create(const strv *set, strv *made_out, ab_error *err)
{
    strv made = { 0 };
    bool pure = cgroup_pure_v2();
    int r = 0;
    for (size_t i = 0; r == 0 && i < set->n; i++) {
        const char *path = set->v[i];
        if (!cgroup_path_is_valid(path)) {
            r = ab_fail(err, EINVAL, "refusing to create the cgroup %s: not below a cgroup hierarchy's mount", path);
            break;
        }
        char mount[PATH_MAX], dir[PATH_MAX];
        mount_of(path, mount, sizeof(mount));
        bool cpuset = !cgroup_path_is_v2(path) && strstr(mount, "cpuset") != NULL;
        /* mkdir -p below the mount; each level made gets what a group
         * needs before anything goes below it.  A parent removed meanwhile
         * (the last other container of "appbox-oci" deleted) is made
         * again: the walk restarts, a few times. */
        int restarts = 0;
        for (const char *p = path + strlen(mount) + 1; r == 0 && *p;) {
            p += strcspn(p, "/");
            snprintf(dir, sizeof(dir), "%.*s", (int)(p - path), path);
            if (*p)
                p++;
            if (pure)
                enable_in_parent(dir);
            if (mkdir(dir, 0755) < 0) {
                if (errno == ENOENT && restarts++ < 3)
                    p = path + strlen(mount) + 1;
                else if (errno != EEXIST)
                    r = ab_fail(err, errno, "cannot create the cgroup %s", dir);
                else if (!*p && in_use(dir))
                    r = ab_fail(err, EBUSY, "linux.cgroupsPath: the cgroup %s is in use (it has processes: "
                                            "another container's?)", dir);
                continue;
            }
            if (strv_push(&made, dir) < 0)
                r = ab_fail(err, ENOMEM, "cannot create the cgroup %s", dir);
            else if (cpuset)
                r = cpuset_init(dir, err);
        }
    }
    if (r < 0)
        cgroup_oci_remove_made(&made);
    else
        *made_out = made;
    return r;
}

static size_t depth(const char *path)
{
    size_t n = 0;
    for (const char *p = path; *p; p++)
        n += *p == '/';
    return n;
}

void cgroup_oci_destroy(const strv *set)
{
    /* deepest first: a set may hold a group and one below it */
    size_t done = 0;
    bool *gone = calloc(set->n ? set->n : 1, sizeof(*gone));
    if (!gone)
        return;
    while (done < set->n) {
        size_t best = set->n;
        for (size_t i = 0; i < set->n; i++)
            if (!gone[i] && (best == set->n || depth(set->v[i]) > depth(set->v[best])))
                best = i;
        gone[best] = true;
        done++;
        const char *path = set->v[best];
        if (!cgroup_path_is_valid(path))
            continue;
        cgroup_destroy_named(path);
        /* the default parent ("appbox-oci/ID") is appbox's own: removed
         * once no other container's group is in it (EBUSY otherwise) */
        char parent[PATH_MAX];
        snprintf(parent, sizeof(parent), "%.*s", (int)(strrchr(path, '/') - path), path);
        const char *base = strrchr(parent, '/');
        if (base && strcmp(base + 1, "appbox-oci") == 0 && cgroup_path_is_valid(parent))
            rmdir(parent);
    }
    free(gone);
}

/* ---- pause, ps, exec ---- */

/* The group that freezes the set: the v1 freezer group, else the v2 group
 * (cgroup.freeze is in every non-root v2 group, controllers or not). */
static const char *freezer_dir(const strv *set)
{
    const char *d = cgroup_set_dir(set, "freezer");
    for (size_t i = 0; !d && i < set->n; i++)
        if (cgroup_path_is_v2(set->v[i]))
            d = set->v[i];
    return d && cgroup_path_is_valid(d) ? d : NULL;
}

static int read_in(const char *dir, const char *file, char *buf, size_t size)
{
    char path[PATH_MAX + 32];
    snprintf(path, sizeof(path), "%s/%s", dir, file);
    return cgroup_read_file(path, buf, size);
}

static int state_of(const char *dir)
{
    char buf[256];
    if (cgroup_path_is_v2(dir)) {
        int r = read_in(dir, "cgroup.events", buf, sizeof(buf));
        return r < 0 ? r : cgroup_parse_key(buf, "frozen") == 1;
    }
    int r = read_in(dir, "freezer.state", buf, sizeof(buf));
    return r < 0 ? r : strncmp(buf, "FROZEN", 6) == 0;
}

int cgroup_oci_frozen(const strv *set)
{
    const char *d = freezer_dir(set);
    return d ? state_of(d) : 0;
}

int cgroup_oci_freeze(const strv *set, bool frozen, ab_error *err)
{
    const char *what = frozen ? "pause" : "resume";
    const char *d = freezer_dir(set);
    if (!d)
        return ab_fail(err, ENOTSUP, "cannot %s the container: it has no freezer cgroup (neither a v1 freezer "
                                     "group nor a v2 group)",
                       what);
    bool v2 = cgroup_path_is_v2(d);
    const char *file = v2 ? "cgroup.freeze" : "freezer.state";
    const char *text = v2 ? (frozen ? "1" : "0") : (frozen ? "FROZEN" : "THAWED");
    /* The kernel freezes the tasks one by one (v1: FREEZING until all
     * are; a task forking meanwhile may need the state written again, as
     * runc does); up to 10 s for a task stuck in the kernel. */
    for (int i = 0; i < 1000; i++) {
        if (cgroup_write_file(d, file, text, err) < 0)
            return ab_error_prefix(err, "cannot %s the container", what);
        int st = state_of(d);
        if (st < 0)
            return ab_fail(err, -st, "cannot %s the container: cannot read its state in %s", what, d);
        if (st == frozen)
            return 0;
        struct timespec ts = { 0, (i < 10 ? 1 : 10) * 1000 * 1000 };
        nanosleep(&ts, NULL);
    }
    if (frozen) {
        ab_error ignored = { 0 };
        cgroup_write_file(d, file, v2 ? "0" : "THAWED", &ignored);
    }
    return ab_fail(err, ETIMEDOUT, "cannot %s the container: %s did not say %s within 10 s (a process stuck in the "
                                   "kernel?)",
                   what, d, frozen ? "frozen" : "thawed");
}

struct pid_list {
    pid_t *v;
    size_t n, cap;
};

/* The processes of the group open at FD and of its groups below, read
 * through the fds (no path is built); DEPTH bounds a runaway tree. */
static int collect(int fd, int level, struct pid_list *l)
{
    if (level > 64)
        return 0;
    int pfd = openat(fd, "cgroup.procs", O_RDONLY | O_CLOEXEC);
    if (pfd < 0)
        return -errno;
    FILE *f = fdopen(pfd, "re");
    if (!f) {
        close(pfd);
        return -ENOMEM;
    }
    int pid;
    while (fscanf(f, "%d", &pid) == 1) {
        if (l->n == l->cap) {
            size_t cap = l->cap ? l->cap * 2 : 16;
            pid_t *v = realloc(l->v, cap * sizeof(*v));
            if (!v) {
                fclose(f);
                return -ENOMEM;
            }
            l->v = v;
            l->cap = cap;
        }
        l->v[l->n++] = pid;
    }
    fclose(f);
    int dfd = dup(fd);
    DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
    if (!d) {
        if (dfd >= 0)
            close(dfd);
        return -errno;
    }
    int r = 0;
    for (struct dirent *e; r >= 0 && (e = readdir(d));) {
        if (e->d_type != DT_DIR || strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        int sub = openat(dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (sub < 0)
            continue; /* removed meanwhile */
        r = collect(sub, level + 1, l);
        close(sub);
        if (r == -ENOENT)
            r = 0;
    }
    closedir(d);
    return r;
}

int cgroup_oci_pids(const strv *set, pid_t **pids, size_t *n, ab_error *err)
{
    *pids = NULL;
    *n = 0;
    for (size_t i = 0; i < set->n; i++) {
        if (!cgroup_path_is_valid(set->v[i]))
            continue;
        _cleanup_close_ int fd = open(set->v[i], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
            continue; /* not made here (removed?): the next hierarchy */
        struct pid_list l = { 0 };
        int r = collect(fd, 0, &l);
        if (r < 0) {
            free(l.v);
            return ab_fail(err, -r, "cannot list the processes of the cgroup %s", set->v[i]);
        }
        *pids = l.v;
        *n = l.n;
        return 0;
    }
    return ab_fail(err, ENOENT, "cannot list the container's processes: none of its cgroups exists");
}

int cgroup_oci_join(const strv *set, pid_t pid, ab_error *err)
{
    char text[32];
    snprintf(text, sizeof(text), "%d", (int)pid);
    for (size_t i = 0; i < set->n; i++) {
        if (!cgroup_path_is_valid(set->v[i]))
            return ab_fail(err, EINVAL, "refusing to join the cgroup %s: not below a cgroup hierarchy's mount",
                           set->v[i]);
        if (cgroup_write_file(set->v[i], "cgroup.procs", text, err) < 0)
            return ab_error_prefix(err, "cannot put process %d into the container's cgroup", (int)pid);
    }
    return 0;
}
