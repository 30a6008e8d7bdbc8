/* An OCI container's linux.resources written into its groups, and its
 * device rules.  config.json's values are written as given (runc's
 * meanings), not through appbox's options:
 *
 *   field                        v1 file                      v2 file
 *   memory.limit                 memory.limit_in_bytes        memory.max
 *   memory.swap (memory + swap)  memory.memsw.limit_in_bytes  memory.swap.max (swap - limit)
 *   memory.reservation           memory.soft_limit_in_bytes   memory.low
 *   memory.swappiness            memory.swappiness            (none: ignored, as runc)
 *   memory.disableOOMKiller      memory.oom_control = 1       (none: ignored, as runc)
 *   cpu.shares                   cpu.shares                   cpu.weight (1 + (shares-2)*9999/262142)
 *   cpu.quota, cpu.period        cpu.cfs_quota_us, _period_us cpu.max "QUOTA PERIOD"
 *   cpu.cpus, cpu.mems           cpuset.cpus, cpuset.mems     cpuset.cpus, cpuset.mems
 *   pids.limit (0: none)         pids.max                     pids.max
 *   blockIO.weight (10-1000)     blkio.weight (or bfq)        io.weight "default 1+(w-10)*9999/990"
 *                                                             (io.bfq.weight: w)
 *   hugepageLimits SIZE          hugetlb.SIZE.limit_in_bytes  hugetlb.SIZE.max
 *   unified FILE: VALUE          (refused at resolve)         FILE
 *
 * A write the kernel refuses names the field, the file and the value. */
#include "cgroup/oci.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cgroup/cgroup.h"
#include "spec/oci.h"
#include "spec/spec.h"

/* Write VALUE to DIR/FILE for config.json's FIELD. */
static int put(const char *dir, const char *file, const char *value, const char *field, ab_error *err)
{
    char path[PATH_MAX + 128];
    snprintf(path, sizeof(path), "%s/%s", dir, file);
    int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0 && errno == ENOENT)
        return ab_fail(err, ENOENT, "cannot apply %s: the container's group %s has no %s (its controller is not "
                                    "there: not enabled for the group, or not in this kernel)",
                       field, dir, file);
    if (fd < 0)
        return ab_fail(err, errno, "cannot apply %s (%s = %s)", field, path, value);
    ssize_t n = write(fd, value, strlen(value));
    int e = errno;
    close(fd);
    if (n != (ssize_t)strlen(value))
        return ab_fail(err, n < 0 ? e : EIO, "cannot apply %s (%s = %s)", field, file, value);
    return 0;
}

static int put_i64(const char *dir, const char *file, int64_t v, const char *field, ab_error *err)
{
    char text[32];
    snprintf(text, sizeof(text), "%" PRId64, v);
    return put(dir, file, text, field, err);
}

static bool has(const char *dir, const char *file)
{
    char path[PATH_MAX + 128];
    snprintf(path, sizeof(path), "%s/%s", dir, file);
    return access(path, F_OK) == 0;
}

/* LIMITS ("2MB=1073741824": the size names a kernel file) into DIR's
 * hugetlb.SIZE.SUFFIX files. */
static int hugepages(const char *dir, const strv *limits, const char *suffix, ab_error *err)
{
    for (size_t i = 0; i < limits->n; i++) {
        const char *entry = limits->v[i], *eq = strchr(entry, '=');
        size_t l = eq ? (size_t)(eq - entry) : 0;
        if (!eq || !l || l > 32 || !eq[1] || strcspn(entry, "/.") < l)
            return ab_usage(err, "linux.resources.hugepageLimits: '%s' is not PAGESIZE=LIMIT (as 2MB=1073741824)",
                            entry);
        char file[128];
        snprintf(file, sizeof(file), "hugetlb.%.*s.%s", (int)l, entry, suffix);
        int r = put(dir, file, eq + 1, "linux.resources.hugepageLimits", err);
        if (r < 0)
            return r;
    }
    return 0;
}

static int apply_v1(const struct spec *s, ab_error *err)
{
    const struct spec_container *c = &s->container;
    const struct spec_resources *res = &c->resources;
    const struct oci_resources *o = &s->oci->resources;
    const strv *set = &c->cgroups;
    const char *d;
    int r = 0;
    /* a rootless caller's hierarchies that are not delegated are not in
     * the set: their limits are ignored, as runc does on v1 */
    if ((d = cgroup_set_dir(set, "memory"))) {
        bool memsw = o->memory_swap_total && has(d, "memory.memsw.limit_in_bytes");
        if (res->memory) {
            ab_error first = { 0 };
            r = put_i64(d, "memory.limit_in_bytes", (int64_t)res->memory, "linux.resources.memory.limit", &first);
            /* memsw >= memory at every step: lowering both (an update)
             * goes memsw last, raising both memsw first */
            if (r < 0 && first.errnum == EINVAL && memsw) {
                r = put_i64(d, "memory.memsw.limit_in_bytes", o->memory_swap_total, "linux.resources.memory.swap", err);
                if (r == 0)
                    r = put_i64(d, "memory.limit_in_bytes", (int64_t)res->memory, "linux.resources.memory.limit", err);
                memsw = false;
            } else if (r < 0)
                *err = first;
        }
        /* no memsw files: swap is not accounted (swapaccount=0), and
         * ignored, as runc does */
        if (r == 0 && memsw)
            r = put_i64(d, "memory.memsw.limit_in_bytes", o->memory_swap_total, "linux.resources.memory.swap", err);
        if (r == 0 && o->memory_reservation)
            r = put_i64(d, "memory.soft_limit_in_bytes", o->memory_reservation, "linux.resources.memory.reservation",
                        err);
        if (r == 0 && o->memory_swappiness >= 0)
            r = put_i64(d, "memory.swappiness", o->memory_swappiness, "linux.resources.memory.swappiness", err);
        if (r == 0 && o->disable_oom_killer)
            r = put(d, "memory.oom_control", "1", "linux.resources.memory.disableOOMKiller", err);
        if (r < 0)
            return r;
    }
    if ((d = cgroup_set_dir(set, "cpu"))) {
        uint64_t shares = o->cpu_shares ? o->cpu_shares : res->cpu_weight ? cgroup_v1_cpu_shares(res->cpu_weight) : 0;
        int64_t quota = o->cpu_quota, period = (int64_t)o->cpu_period;
        if (!quota && !period && res->cpu_quota) {
            quota = (int64_t)cgroup_cpu_quota_us(res->cpu_quota);
            period = CGROUP_CPU_PERIOD_US;
        }
        if (shares && (r = put_i64(d, "cpu.shares", (int64_t)shares, "linux.resources.cpu.shares", err)) < 0)
            return r;
        /* the period first: a new group's quota is -1, any period fits */
        if (period && (r = put_i64(d, "cpu.cfs_period_us", period, "linux.resources.cpu.period", err)) < 0)
            return r;
        if (quota && (r = put_i64(d, "cpu.cfs_quota_us", quota < 0 ? -1 : quota, "linux.resources.cpu.quota", err)) < 0)
            return r;
    }
    if ((d = cgroup_set_dir(set, "cpuset"))) {
        if (o->cpuset_cpus && (r = put(d, "cpuset.cpus", o->cpuset_cpus, "linux.resources.cpu.cpus", err)) < 0)
            return r;
        if (o->cpuset_mems && (r = put(d, "cpuset.mems", o->cpuset_mems, "linux.resources.cpu.mems", err)) < 0)
            return r;
    }
    if ((d = cgroup_set_dir(set, "pids"))) {
        char text[32];
        snprintf(text, sizeof(text), c->pids_limit > 0 ? "%" PRIu64 : "max", c->pids_limit);
        if ((r = put(d, "pids.max", text, "linux.resources.pids.limit", err)) < 0)
            return r;
    }
    if ((d = cgroup_set_dir(set, "blkio"))) {
        unsigned w = o->blkio_weight ? o->blkio_weight : res->io_weight ? cgroup_v1_blkio_weight(res->io_weight) : 0;
        const char *f = has(d, "blkio.weight") ? "blkio.weight" : "blkio.bfq.weight";
        if (w && (r = put_i64(d, f, w, "linux.resources.blockIO.weight", err)) < 0)
            return r;
    }
    if ((d = cgroup_set_dir(set, "hugetlb")))
        return hugepages(d, &o->hugepage_limits, "limit_in_bytes", err);
    return 0;
}

int cgroup_oci_apply_v2(const struct spec *s, const char *d, ab_error *err)
{
    const struct spec_container *c = &s->container;
    const struct spec_resources *res = &c->resources;
    const struct oci_resources *o = &s->oci->resources;
    char text[64];
    int r;
    if (res->memory && (r = put_i64(d, "memory.max", (int64_t)res->memory, "linux.resources.memory.limit", err)) < 0)
        return r;
    if (o->memory_swap_total) {
        /* config.json's swap is memory + swap; v2's swap.max the swap only */
        if (o->memory_swap_total == -1)
            snprintf(text, sizeof(text), "max");
        else if (!res->memory)
            return ab_usage(err, "linux.resources.memory.swap (%" PRId64 ") needs linux.resources.memory.limit on "
                                 "cgroup v2 (swap.max is the swap beyond the limit)",
                            o->memory_swap_total);
        else if ((uint64_t)o->memory_swap_total < res->memory)
            return ab_usage(err, "linux.resources.memory.swap (%" PRId64 ") is less than memory.limit (%" PRIu64
                                 "): it counts memory and swap together",
                            o->memory_swap_total, res->memory);
        else
            snprintf(text, sizeof(text), "%" PRIu64, (uint64_t)o->memory_swap_total - res->memory);
        /* no swap accounting: "no swap" and "unlimited" mean nothing */
        bool moot = !has(d, "memory.swap.max") && (strcmp(text, "max") == 0 || strcmp(text, "0") == 0);
        if (!moot && (r = put(d, "memory.swap.max", text, "linux.resources.memory.swap", err)) < 0)
            return r;
    }
    if (o->memory_reservation &&
        (r = put_i64(d, "memory.low", o->memory_reservation, "linux.resources.memory.reservation", err)) < 0)
        return r;
    uint64_t weight = o->cpu_shares ? 1 + ((o->cpu_shares < 2 ? 0 : o->cpu_shares - 2) * 9999) / 262142
                                    : res->cpu_weight;
    if (weight && (r = put_i64(d, "cpu.weight", (int64_t)weight, "linux.resources.cpu.shares", err)) < 0)
        return r;
    if (o->cpu_quota || o->cpu_period || res->cpu_quota) {
        if (o->cpu_quota || o->cpu_period) {
            if (o->cpu_quota > 0)
                snprintf(text, sizeof(text), "%" PRId64 " %" PRIu64, o->cpu_quota,
                         o->cpu_period ? o->cpu_period : CGROUP_CPU_PERIOD_US);
            else
                snprintf(text, sizeof(text), "max %" PRIu64, o->cpu_period ? o->cpu_period : CGROUP_CPU_PERIOD_US);
        } else
            snprintf(text, sizeof(text), "%" PRIu64 " %d", cgroup_cpu_quota_us(res->cpu_quota), CGROUP_CPU_PERIOD_US);
        if ((r = put(d, "cpu.max", text, "linux.resources.cpu.quota", err)) < 0)
            return r;
    }
    if (o->cpuset_cpus && (r = put(d, "cpuset.cpus", o->cpuset_cpus, "linux.resources.cpu.cpus", err)) < 0)
        return r;
    if (o->cpuset_mems && (r = put(d, "cpuset.mems", o->cpuset_mems, "linux.resources.cpu.mems", err)) < 0)
        return r;
    if (c->pids_limit > 0 || has(d, "pids.max")) {
        snprintf(text, sizeof(text), c->pids_limit > 0 ? "%" PRIu64 : "max", c->pids_limit);
        if ((r = put(d, "pids.max", text, "linux.resources.pids.limit", err)) < 0)
            return r;
    }
    if (o->blkio_weight || res->io_weight) {
        bool bfq = !has(d, "io.weight") && has(d, "io.bfq.weight");
        if (o->blkio_weight && bfq)
            snprintf(text, sizeof(text), "%u", o->blkio_weight);
        else if (o->blkio_weight)
            snprintf(text, sizeof(text), "default %u", 1 + ((unsigned)o->blkio_weight - 10) * 9999 / 990);
        else
            snprintf(text, sizeof(text), "%s%u", bfq ? "" : "default ",
                     bfq && res->io_weight > 1000 ? 1000 : res->io_weight);
        if ((r = put(d, bfq ? "io.bfq.weight" : "io.weight", text, "linux.resources.blockIO.weight", err)) < 0)
            return r;
    }
    if ((r = hugepages(d, &o->hugepage_limits, "max", err)) < 0)
        return r;
    /* last, as runc: a unified entry overrides what the fields above set */
    for (size_t i = 0; i < o->unified.n; i++) {
        const char *e = o->unified.v[i], *eq = strchr(e, '=');
        char file[NAME_MAX + 1], field[NAME_MAX + 64];
        if (!eq || eq == e || (size_t)(eq - e) > NAME_MAX || memchr(e, '/', (size_t)(eq - e)) || e[0] == '.')
            return ab_usage(err, "linux.resources.unified: '%.*s' is not a file of a cgroup (a name like "
                                 "memory.high, no '/')",
                            (int)(eq ? eq - e : (ptrdiff_t)strlen(e)), e);
        snprintf(file, sizeof(file), "%.*s", (int)(eq - e), e);
        snprintf(field, sizeof(field), "linux.resources.unified[\"%s\"]", file);
        if ((r = put(d, file, eq + 1, field, err)) < 0)
            return r;
    }
    return 0;
}

int cgroup_oci_apply(const struct spec *s, ab_error *err)
{
    const strv *set = &s->container.cgroups;
    if (!s->oci)
        return ab_fail(err, EINVAL, "internal error: OCI limits for a spec without OCI settings");
    for (size_t i = 0; i < set->n; i++)
        if (!cgroup_path_is_valid(set->v[i]))
            return ab_fail(err, EINVAL, "refusing to change the cgroup %s: not below a cgroup hierarchy's mount",
                           set->v[i]);
    if (cgroup_pure_v2()) {
        const char *d = cgroup_v2_dir(s);
        return d ? cgroup_oci_apply_v2(s, d, err) : 0;
    }
    return apply_v1(s, err);
}

/* ---- device rules ---- */

/* runc's default list (libcontainer/specconv AllowedDevices): mknod of
 * any node, the standard nodes, the container's own ptys. */
static const struct cgroup_device_rule runc_defaults[] = {
    { 'c', CGROUP_ANY, CGROUP_ANY, DEV_ACCESS_MKNOD },
    { 'b', CGROUP_ANY, CGROUP_ANY, DEV_ACCESS_MKNOD },
    { 'c', 1, 3, DEV_ACCESS_ALL },            /* null */
    { 'c', 1, 8, DEV_ACCESS_ALL },            /* random */
    { 'c', 1, 7, DEV_ACCESS_ALL },            /* full */
    { 'c', 5, 0, DEV_ACCESS_ALL },            /* tty */
    { 'c', 1, 5, DEV_ACCESS_ALL },            /* zero */
    { 'c', 1, 9, DEV_ACCESS_ALL },            /* urandom */
    { 'c', 136, CGROUP_ANY, DEV_ACCESS_ALL }, /* the pts nodes */
    { 'c', 5, 2, DEV_ACCESS_ALL },            /* ptmx */
    { 'c', 5, 1, DEV_ACCESS_ALL },            /* console */
};

struct rule_list {
    struct cgroup_device_rule *v;
    size_t n, cap;
};

static int push(struct rule_list *l, struct cgroup_device_rule r)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 32;
        struct cgroup_device_rule *v = realloc(l->v, cap * sizeof(*v));
        if (!v)
            return -ENOMEM;
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = r;
    return 0;
}

/* One rule, in order, onto the allow list L (default deny): an allow is
 * added; a deny takes its access away from every entry it covers, and is
 * refused where it would cut a hole in a wider entry.  INDEX: its place
 * in linux.resources.devices, for the message. */
static int add_rule(struct rule_list *l, bool allow, char type, long maj, long min, unsigned acc, size_t index,
                    ab_error *err)
{
    const char types[2] = { type == 'a' ? 'c' : type, type == 'a' ? 'b' : 0 };
    for (size_t t = 0; t < 2 && types[t]; t++) {
        struct cgroup_device_rule r = { types[t], maj, min, acc };
        if (allow) {
            if (push(l, r) < 0)
                return ab_fail(err, ENOMEM, "cannot build the container's device rules");
            continue;
        }
        size_t k = 0;
        for (size_t i = 0; i < l->n; i++) {
            struct cgroup_device_rule *e = &l->v[i];
            bool covers = e->type == r.type && (maj == CGROUP_ANY || maj == e->major) &&
                          (min == CGROUP_ANY || min == e->minor);
            bool meets = e->type == r.type && (e->major == CGROUP_ANY || maj == CGROUP_ANY || e->major == maj) &&
                         (e->minor == CGROUP_ANY || min == CGROUP_ANY || e->minor == min) && (e->access & acc);
            if (covers)
                e->access &= ~acc;
            else if (meets) {
                char a[64], b[64];
                return ab_usage(err, "linux.resources.devices[%zu]: denying '%s' after allowing '%s' would cut a "
                                     "hole in a wider rule, which the kernel's device lists cannot hold (runc "
                                     "refuses it on cgroup v1 too): allow the devices one by one instead",
                                index, cgroup_rule_string(&r, a, sizeof(a)), cgroup_rule_string(e, b, sizeof(b)));
            }
            if (e->access)
                l->v[k++] = *e;
        }
        l->n = k;
    }
    return 0;
}

int cgroup_oci_device_rules(const struct spec *s, struct cgroup_device_rule **rules, size_t *n, ab_error *err)
{
    *rules = NULL;
    *n = 0;
    const struct spec_oci *o = s->oci;
    if (!o)
        return ab_fail(err, EINVAL, "internal error: OCI device rules for a spec without OCI settings");
    struct rule_list l = { 0 };
    int r = 0;
    for (size_t i = 0; r == 0 && i < o->n_device_rules; i++) {
        const struct oci_device_rule *d = &o->device_rules[i];
        if (d->type != 'a' && d->type != 'c' && d->type != 'b')
            r = ab_usage(err, "linux.resources.devices[%zu].type '%c' is not a device type (allowed: a, c, b)", i,
                         d->type);
        else if (d->major < -1 || d->minor < -1 || d->major > UINT32_MAX || d->minor > UINT32_MAX)
            r = ab_usage(err, "linux.resources.devices[%zu]: major %" PRId64 ", minor %" PRId64 " (allowed: a "
                              "number, or none for any)",
                         i, d->major, d->minor);
        else
            r = add_rule(&l, d->allow, d->type, (long)d->major, (long)d->minor,
                         (d->access & DEV_ACCESS_ALL) ? (d->access & DEV_ACCESS_ALL) : DEV_ACCESS_ALL, i, err);
    }
    /* what a container always may use, whatever the list said */
    for (size_t i = 0; r == 0 && i < sizeof(runc_defaults) / sizeof(runc_defaults[0]); i++)
        if (push(&l, runc_defaults[i]) < 0)
            r = ab_fail(err, ENOMEM, "cannot build the container's device rules");
    /* linux.devices' nodes are made, not allowed: access to them is the
     * list's to grant (runc's behaviour; podman adds an allow rule for
     * each --device) */
    if (r < 0) {
        free(l.v);
        return r;
    }
    *rules = l.v;
    *n = l.n;
    return 0;
}
