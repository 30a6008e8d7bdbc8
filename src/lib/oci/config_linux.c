/* config.json's "linux": namespaces, id maps, masked and read-only paths,
 * device nodes, the cgroup's resources and device rules, sysctls,
 * personality, seccomp (kept as JSON for oci/seccomp.c). */
#include "oci/config_internal.h"

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/personality.h>

#include "cgroup/cgroup.h"
#include "util/cleanup.h"

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

const char *const oci_ns_names[OCI_NS_COUNT] = {
    [OCI_NS_USER] = "user", [OCI_NS_PID] = "pid",       [OCI_NS_NET] = "network", [OCI_NS_IPC] = "ipc",
    [OCI_NS_UTS] = "uts",   [OCI_NS_MOUNT] = "mount",   [OCI_NS_CGROUP] = "cgroup", [OCI_NS_TIME] = "time",
};

static const unsigned long ns_clone_flags[OCI_NS_COUNT] = {
    [OCI_NS_USER] = CLONE_NEWUSER, [OCI_NS_PID] = CLONE_NEWPID,       [OCI_NS_NET] = CLONE_NEWNET,
    [OCI_NS_IPC] = CLONE_NEWIPC,   [OCI_NS_UTS] = CLONE_NEWUTS,       [OCI_NS_MOUNT] = CLONE_NEWNS,
    [OCI_NS_CGROUP] = CLONE_NEWCGROUP, [OCI_NS_TIME] = CLONE_NEWTIME,
};

static int f_namespaces(struct oci_ctx *x, json_object *v, const char *path, void *dst)
{
    struct spec_oci *o = &x->cfg->oci;
    int r = oci_need_array(x, v, path, "objects");
    size_t n = r < 0 ? 0 : json_object_array_length(v);
    for (size_t i = 0; i < n; i++) {
        char p[OCI_PATH_MAX], pt[OCI_PATH_MAX], pp[OCI_PATH_MAX];
        json_object *e = json_object_array_get_idx(v, i);
        const char *type, *nspath;
        oci_path_index(p, path, i);
        if ((r = oci_need_object(x, e, p)) < 0)
            return r;
        json_object *t = json_object_object_get(e, "type"), *pa = json_object_object_get(e, "path");
        oci_path_key(pt, p, "type");
        if (!t)
            return oci_bad(x, pt, "missing (required)");
        if ((r = oci_get_string(x, t, pt, &type)) < 0)
            return r;
        int ns = -1;
        for (int k = 0; k < OCI_NS_COUNT; k++)
            if (strcmp(type, oci_ns_names[k]) == 0)
                ns = k;
        if (ns < 0)
            return oci_bad(x, pt, "'%s' is not a namespace (expected one of pid, network, mount, ipc, uts, user, "
                           "cgroup, time)", type);
        if (o->ns_wanted[ns])
            return oci_bad(x, pt, "'%s' is given twice (expected each namespace once)", type);
        o->ns_wanted[ns] = true;
        /* a path is a namespace to join; an empty one is a new namespace, as in runc */
        if (pa && (r = oci_get_string(x, pa, oci_path_key(pp, p, "path"), &nspath)) < 0)
            return r;
        if (pa && *nspath) {
            if (nspath[0] != '/')
                return oci_bad(x, pp, "'%s' is not an absolute path (expected a namespace file such as "
                               "/proc/PID/ns/%s)", nspath, type);
            if (oci_set_string(x, &o->ns_path[ns], nspath) < 0)
                return -ENOMEM;
        }
    }
    return r;
}

static int f_idmap(struct oci_ctx *x, json_object *v, const char *path, void *dst)
{
    struct spec_idmap *m = dst;
    static const char *const keys[] = { "containerID", "hostID", "size" };
    int r = oci_need_array(x, v, path, "objects");
    if (r < 0)
        return r;
    size_t n = json_object_array_length(v);
    if (n > SPEC_IDMAP_MAX_RANGES)
        return oci_bad(x, path, "%zu ranges are too many (expected at most %d)", n, SPEC_IDMAP_MAX_RANGES);
    m->n = 0;
    for (size_t i = 0; i < n; i++) {
        char p[OCI_PATH_MAX];
        json_object *e = json_object_array_get_idx(v, i);
        uint32_t *out[] = { &m->r[i].inside, &m->r[i].outside, &m->r[i].count };
        oci_path_index(p, path, i);
        if ((r = oci_need_object(x, e, p)) < 0)
            return r;
        for (size_t k = 0; k < ARRAY_SIZE(keys); k++) {
            char pk[OCI_PATH_MAX];
            uint64_t num;
            json_object *f = json_object_object_get(e, keys[k]);
            oci_path_key(pk, p, keys[k]);
            if (!f)
                return oci_bad(x, pk, "missing (required)");
            if ((r = oci_get_u64(x, f, pk, UINT32_MAX, &num)) < 0)
                return r;
            *out[k] = (uint32_t)num;
        }
        if (m->r[i].count == 0)
            return oci_bad(x, p, "size 0 maps nothing (expected a size of 1 or more)");
        if ((uint64_t)m->r[i].inside + m->r[i].count > 1ULL << 32 ||
            (uint64_t)m->r[i].outside + m->r[i].count > 1ULL << 32)
            return oci_bad(x, p, "the range ends beyond id 4294967295 (expected containerID + size and hostID + "
                           "size within 32 bits)");
        m->n++;
    }
    return 0;
}

static int f_abs_paths(struct oci_ctx *x, json_object *v, const char *path, void *dst)
{
    strv *list = dst;
    int r = oci_get_strv(x, v, path, list);
    for (size_t i = 0; r == 0 && i < list->n; i++)
        if (list->v[i][0] != '/') {
            char p[OCI_PATH_MAX];
            return oci_bad(x, oci_path_index(p, path, i), "'%s' is not an absolute path (expected one starting "
                           "with /)", list->v[i]);
        }
    return r;
}

static int f_device_type(struct oci_ctx *x, json_object *v, const char *path, void *dst)
{
    return oci_get_letter(x, v, path, "cbup", "device type", "c, b, u or p", dst);
}

static const struct oci_field device_fields[] = {
    { "path", oci_f_abs, offsetof(struct oci_device, path), OCI_REQUIRED },
    { "type", f_device_type, offsetof(struct oci_device, type), OCI_REQUIRED },
};

/* The numbers of a device, each optional (read apart from the table:
 * whether each was given matters). */
enum { DEV_MAJOR, DEV_MINOR, DEV_MODE, DEV_UID, DEV_GID, DEV_NUMBERS };

static const struct {
    const char *key;
    uint64_t max;
} device_numbers[DEV_NUMBERS] = {
    /* the kernel's dev_t: 12 bits of major, 20 of minor (MKDEV); (uid_t)-1 is no id */
    [DEV_MAJOR] = { "major", 0xfff },          [DEV_MINOR] = { "minor", 0xfffff },
    [DEV_MODE] = { "fileMode", 07777 },        [DEV_UID] = { "uid", UINT32_MAX - 1 },
    [DEV_GID] = { "gid", UINT32_MAX - 1 },
};

static int parse_device(struct oci_ctx *x, json_object *e, const char *path, struct oci_device *d)
{
    uint64_t num[DEV_NUMBERS] = { 0 };
    bool has[DEV_NUMBERS] = { false };
    int r = oci_walk(x, e, path, device_fields, ARRAY_SIZE(device_fields), d);
    for (int k = 0; r == 0 && k < DEV_NUMBERS; k++) {
        char p[OCI_PATH_MAX];
        json_object *f = json_object_object_get(e, device_numbers[k].key);
        if (f && (r = oci_get_u64(x, f, oci_path_key(p, path, device_numbers[k].key), device_numbers[k].max,
                                  &num[k])) == 0)
            has[k] = true;
    }
    if (r < 0)
        return r;
    if (d->type != 'p' && (!has[DEV_MAJOR] || !has[DEV_MINOR]))
        return oci_bad(x, path, "device '%s' of type %c has no %s (expected major and minor for c, b and u)",
                       d->path, d->type, has[DEV_MAJOR] ? "minor" : "major");
    d->major = (int64_t)num[DEV_MAJOR];
    d->minor = (int64_t)num[DEV_MINOR];
    d->mode = (uint32_t)num[DEV_MODE];
    d->has_mode = has[DEV_MODE];
    d->uid = (uid_t)num[DEV_UID];
    d->has_uid = has[DEV_UID];
    d->gid = (gid_t)num[DEV_GID];
    d->has_gid = has[DEV_GID];
    return 0;
}

static int f_devices(struct oci_ctx *x, json_object *v, const char *path, void *dst)
{
    struct spec_oci *o = &x->cfg->oci;
    size_t n;
    int r = oci_array_alloc(x, v, path, "objects", sizeof(*o->devices), (void **)&o->devices, &o->n_devices, &n);
    for (size_t i = 0; r == 0 && i < n; i++) {
        char p[OCI_PATH_MAX];
        o->n_devices++;   /* counted first: a half-filled entry is freed with the rest */
        r = parse_device(x, json_object_array_get_idx(v, i), oci_path_index(p, path, i), &o->devices[i]);
    }
    return r;
}

/* linux.resources.devices[i] */
static int f_rule_type(struct oci_ctx *x, json_object *v, const char *path, void *dst)
{
    return oci_get_letter(x, v, path, "acb", "device rule type", "a, c or b", dst);
}

static int f_rule_num(struct oci_ctx *x, json_object *v, const char *path, void *dst)
{
    /* -1 is "*" as some callers write it */
    return oci_get_i64(x, v, path, -1, 0xfffff, dst);
}

static int f_rule_access(struct oci_ctx *x, json_object *v, const char *path, void *dst)
{
    const char *s;
    int r = oci_get_string(x, v, path, &s);
    if (r < 0)
        return r;
    int a = cgroup_access_parse(s);
    if (a < 0)
        return oci_bad(x, path, "'%s' is not a device access (expected letters of rwm, each once)", s);
    *(unsigned *)dst = (unsigned)a;
    return 0;
}

#define DR(m) offsetof(struct oci_device_rule, m)

static const struct oci_field rule_fields[] = {
    { "allow", oci_f_bool, DR(allow), OCI_REQUIRED },
    { "type", f_rule_type, DR(type), 0 },
    { "major", f_rule_num, DR(major), 0 },
    { "minor", f_rule_num, DR(minor), 0 },
    { "access", f_rule_access, DR(access), 0 },
};

static int f_device_rules(struct oci_ctx *x, json_object *v, const char *path, void *dst)
{
    struct spec_oci *o = &x->cfg->oci;
    size_t n;
    int r = oci_array_alloc(x, v, path, "objects", sizeof(*o->device_rules), (void **)&o->device_rules,
                            &o->n_device_rules, &n);
    if (r < 0)
        return r;
    for (size_t i = 0; i < n; i++) {
        char p[OCI_PATH_MAX];
        struct oci_device_rule *d = &o->device_rules[i];
        /* absent: every type, any number, all access (runc's reading) */
        *d = (struct oci_device_rule){ .type = 'a', .major = -1, .minor = -1, .access = DEV_ACCESS_ALL };
        oci_path_index(p, path, i);
        if ((r = oci_walk(x, json_object_array_get_idx(v, i), p, rule_fields, ARRAY_SIZE(rule_fields), d)) < 0)
            return r;
        o->n_device_rules++;
    }
    return 0;
}

/* linux.resources.memory */
static int f_bytes_or_unlimited(struct oci_ctx *x, json_object *v, const char *path, void *dst)
{
    return oci_get_i64(x, v, path, -1, INT64_MAX, dst);
}

static int f_mem_limit(struct oci_ctx *x, json_object *v, const char *path, void *dst)
{
    int64_t n = 0;
    int r = f_bytes_or_unlimited(x, v, path, &n);
    if (r == 0)
        x->cfg->spec.container.resources.memory = n > 0 ? (uint64_t)n : 0;   /* -1: unlimited, 0: not set */
    return r;
}

static int f_mem_reservation(struct oci_ctx *x, json_object *v, const char *path, void *dst)
{
    int64_t n = 0;
    int r = f_bytes_or_unlimited(x, v, path, &n);
    if (r == 0)
        *(int64_t *)dst = n > 0 ? n : 0;
    return r;
}

static int f_swappiness(struct oci_ctx *x, json_object *v, const char *path, void *dst)
{
    uint64_t n = 0;
    /* Go's uint64 *; some callers write -1 for "the default" */
    if (json_object_is_type(v, json_type_int) && json_object_get_int64(v) == -1)
        return 0;
    int r = oci_get_u64(x, v, path, 100, &n);
    if (r == 0)
        *(int64_t *)dst = (int64_t)n;
    return r;
}

/* A number runtime-spec defines that appbox-oci cannot apply: 0 is taken
 * (what absent means), anything else refused. */
static int f_refuse_nonzero(struct oci_ctx *x, json_object *v, const char *path, void *dst)
{
    if (json_object_is_type(v, json_type_int) && json_object_get_int64(v) == 0)
        return 0;
    if (!json_object_is_type(v, json_type_int))
        return oci_type(x, path, "an integer");
    return oci_bad(x, path, "%s is not supported by appbox-oci (expected 0 or absent)", json_object_get_string(v));
}

#define RES(m) OCI_OFF(oci.resources.m)

static const struct oci_field memory_fields[] = {
    { "limit", f_mem_limit, 0, 0 },
    { "reservation", f_mem_reservation, RES(memory_reservation), 0 },
    { "swap", f_bytes_or_unlimited, RES(memory_swap_total), 0 },
    { "swappiness", f_swappiness, RES(memory_swappiness), 0 },
    { "disableOOMKiller", oci_f_bool, RES(disable_oom_killer), 0 },
    /* deprecated in runtime-spec 1.1 (kernel, kernelTCP) or meaningless
     * here (useHierarchy, checkBeforeUpdate): read and ignored, as runc 1.1
     * does on cgroup v2 */
    { "kernel", oci_f_ignore, 0, 0 },
    { "kernelTCP", oci_f_ignore, 0, 0 },
    { "useHierarchy", oci_f_ignore, 0, 0 },
    { "checkBeforeUpdate", oci_f_ignore, 0, 0 },
};

static int f_memory(struct oci_ctx *x, json_object *v, const char *path, void *dst)
{
    int r = oci_walk(x, v, path, memory_fields, ARRAY_SIZE(memory_fields), NULL);
    if (r < 0)
        return r;
    /* memory.swap is memory + swap (runc's meaning); appbox's spec counts
     * the swap beyond the memory */
    struct spec_resources *sr = &x->cfg->spec.container.resources;
    int64_t swap = x->cfg->oci.resources.memory_swap_total;
    if (swap > 0 && sr->memory > 0) {
        if ((uint64_t)swap < sr->memory) {
            char p[OCI_PATH_MAX];
            return oci_bad(x, oci_path_key(p, path, "swap"), "%lld is below memory.limit %llu (expected the "
                           "memory + swap total, at least the limit)", (long long)swap,
                           (unsigned long long)sr->memory);
        }
        sr->memory_swap = (uint64_t)swap - sr->memory;
    }
    return 0;
}

static int f_u64_any(struct oci_ctx *x, json_object *v, const char *path, void *dst)
{
    return oci_get_u64(x, v, path, UINT64_MAX, dst);
}

static const struct oci_field cpu_fields[] = {
    { "shares", f_u64_any, RES(cpu_shares), 0 },
    { "quota", f_bytes_or_unlimited, RES(cpu_quota), 0 },
    { "period", f_u64_any, RES(cpu_period), 0 },
    { "realtimeRuntime", f_refuse_nonzero, 0, 0 },
    { "realtimePeriod", f_refuse_nonzero, 0, 0 },
    { "cpus", oci_f_string, RES(cpuset_cpus), 0 },
    { "mems", oci_f_string, RES(cpuset_mems), 0 },
    { "idle", f_refuse_nonzero, 0, 0 },
};

static int f_cpu(struct oci_ctx *x, json_object *v, const char *path, void *dst)
{
    int r = oci_walk(x, v, path, cpu_fields, ARRAY_SIZE(cpu_fields), NULL);
    if (r < 0)
        return r;
    struct oci_resources *o = &x->cfg->oci.resources;
    struct spec_resources *sr = &x->cfg->spec.container.resources;
    if (o->cpu_quota > 0) {
        /* milli-CPUs; the kernel's default period (100 ms) when none is given */
        uint64_t period = o->cpu_period ? o->cpu_period : 100000;
        uint64_t milli = (uint64_t)o->cpu_quota * 1000 / period;
        sr->cpu_quota = milli == 0 ? 1 : milli > UINT32_MAX ? UINT32_MAX : (uint32_t)milli;
    }
    if (o->cpu_shares) {
        /* runc's conversion of v1 shares (2-262144) to a v2 weight (1-10000) */
        uint64_t s = o->cpu_shares < 2 ? 2 : o->cpu_shares > 262144 ? 262144 : o->cpu_shares;
        sr->cpu_weight = (uint32_t)(1 + ((s - 2) * 9999) / 262142);
    }
    return 0;
}

static int f_pids(struct oci_ctx *x, json_object *v, const char *path, void *dst)
{
    char p[OCI_PATH_MAX];
    int64_t n = 0;
    int r = oci_need_object(x, v, path);
    json_object *l = r < 0 ? NULL : json_object_object_get(v, "limit");
    if (r < 0 || !l)
        return r;
    if ((r = oci_get_i64(x, l, oci_path_key(p, path, "limit"), INT64_MIN, INT64_MAX, &n)) == 0)
        x->cfg->spec.container.pids_limit = n > 0 ? (uint64_t)n : 0;   /* 0, -1: unlimited */
    return r;
}

static int f_blkio_weight(struct oci_ctx *x, json_object *v, const char *path, void *dst)
{
    uint64_t n = 0;
    int r = oci_get_u64(x, v, path, 1000, &n);
    if (r < 0)
        return r;
    if (n != 0 && n < 10)
        return oci_bad(x, path, "%llu is out of range (expected 10 to 1000)", (unsigned long long)n);
    x->cfg->oci.resources.blkio_weight = (uint16_t)n;
    /* runc's conversion to cgroup v2's io.weight (1-10000) */
    if (n)
        x->cfg->spec.container.resources.io_weight = (uint32_t)(1 + (n - 10) * 9999 / 990);
    return 0;
}

static const struct oci_field blkio_fields[] = {
    { "weight", f_blkio_weight, 0, 0 },
    { "leafWeight", f_refuse_nonzero, 0, 0 },
    { "weightDevice", oci_f_refuse, 0, 0 },
    { "throttleReadBpsDevice", oci_f_refuse, 0, 0 },
    { "throttleWriteBpsDevice", oci_f_refuse, 0, 0 },
    { "throttleReadIOPSDevice", oci_f_refuse, 0, 0 },
    { "throttleWriteIOPSDevice", oci_f_refuse, 0, 0 },
};

static int f_blkio(struct oci_ctx *x, json_object *v, const char *path, void *dst)
{
    return oci_walk(x, v, path, blkio_fields, ARRAY_SIZE(blkio_fields), NULL);
}

static int f_hugepages(struct oci_ctx *x, json_object *v, const char *path, void *dst)
{
    strv *out = dst;
    int r = oci_need_array(x, v, path, "objects");
    size_t n = r < 0 ? 0 : json_object_array_length(v);
    for (size_t i = 0; i < n; i++) {
        char p[OCI_PATH_MAX], ps[OCI_PATH_MAX], pl[OCI_PATH_MAX];
        json_object *e = json_object_array_get_idx(v, i);
        const char *size;
        uint64_t limit;
        oci_path_index(p, path, i);
        if ((r = oci_need_object(x, e, p)) < 0)
            return r;
        json_object *s = json_object_object_get(e, "pageSize"), *l = json_object_object_get(e, "limit");
        oci_path_key(ps, p, "pageSize");
        oci_path_key(pl, p, "limit");
        if (!s || !l)
            return oci_bad(x, s ? pl : ps, "missing (required)");
        if ((r = oci_get_string(x, s, ps, &size)) < 0 || (r = oci_get_u64(x, l, pl, UINT64_MAX, &limit)) < 0)
            return r;
        if (!*size || strspn(size, "0123456789KMGTPB") != strlen(size))
            return oci_bad(x, ps, "'%s' is not a page size (expected a size such as 2MB or 1GB)", size);
        char *kv;
        if (asprintf(&kv, "%s=%llu", size, (unsigned long long)limit) < 0 || strv_push_take(out, kv) < 0)
            return ab_fail(x->err, ENOMEM, "%s: %s", x->what, path);
    }
    return r;
}

static int f_string_map(struct oci_ctx *x, json_object *v, const char *path, void *dst)
{
    return oci_get_string_map(x, v, path, dst);
}

static const struct oci_field resources_fields[] = {
    { "devices", f_device_rules, 0, 0 },
    { "memory", f_memory, 0, 0 },
    { "cpu", f_cpu, 0, 0 },
    { "pids", f_pids, 0, 0 },
    { "blockIO", f_blkio, 0, 0 },
    { "hugepageLimits", f_hugepages, RES(hugepage_limits), 0 },
    { "unified", f_string_map, RES(unified), 0 },
    /* rdma and network (net_cls/net_prio, v1 only): not applied, as
     * crun and runc on cgroup v2 do not either (docs/oci.md) */
    { "rdma", oci_f_ignore, 0, 0 },
    { "network", oci_f_ignore, 0, 0 },
};

static int f_resources(struct oci_ctx *x, json_object *v, const char *path, void *dst)
{
    return oci_walk(x, v, path, resources_fields, ARRAY_SIZE(resources_fields), NULL);
}

static int f_propagation(struct oci_ctx *x, json_object *v, const char *path, void *dst)
{
    const char *s;
    int r = oci_get_string(x, v, path, &s);
    if (r < 0 || !*s)
        return r;
    if (!(*(unsigned long *)dst = oci_propagation_flags(s)))
        return oci_bad(x, path, "'%s' is not a propagation (expected private, rprivate, shared, rshared, slave, "
                       "rslave, unbindable or runbindable)", s);
    return 0;
}

static int f_personality(struct oci_ctx *x, json_object *v, const char *path, void *dst)
{
    char p[OCI_PATH_MAX];
    const char *domain;
    int r = oci_need_object(x, v, path);
    if (r < 0)
        return r;
    json_object *d = json_object_object_get(v, "domain"), *f = json_object_object_get(v, "flags");
    if (f && !oci_json_empty(f))
        return oci_bad(x, oci_path_key(p, path, "flags"), "not supported by appbox-oci (expected it absent or "
                       "empty)");
    oci_path_key(p, path, "domain");
    if (!d)
        return oci_bad(x, p, "missing (required)");
    if ((r = oci_get_string(x, d, p, &domain)) < 0)
        return r;
    if (strcmp(domain, "LINUX") == 0)
        x->cfg->oci.personality = PER_LINUX;
    else if (strcmp(domain, "LINUX32") == 0)
        x->cfg->oci.personality = PER_LINUX32;
    else
        return oci_bad(x, p, "'%s' is not a personality domain (expected LINUX or LINUX32)", domain);
    x->cfg->oci.personality_set = true;
    return 0;
}

static int f_seccomp(struct oci_ctx *x, json_object *v, const char *path, void *dst)
{
    int r = oci_need_object(x, v, path);
    if (r < 0)
        return r;
    /* compiled by oci/seccomp.c at create; borrowed from the document */
    x->cfg->seccomp = v;
    x->cfg->oci.seccomp_given = true;
    return 0;
}

static const struct oci_field linux_fields[] = {
    { "namespaces", f_namespaces, 0, 0 },
    { "uidMappings", f_idmap, OCI_OFF(spec.container.uid_map), 0 },
    { "gidMappings", f_idmap, OCI_OFF(spec.container.gid_map), 0 },
    { "maskedPaths", f_abs_paths, OCI_OFF(spec.container.masked_paths), 0 },
    { "readonlyPaths", f_abs_paths, OCI_OFF(spec.container.readonly_paths), 0 },
    { "devices", f_devices, 0, 0 },
    { "resources", f_resources, 0, 0 },
    { "cgroupsPath", oci_f_string, OCI_OFF(oci.cgroups_path), 0 },
    { "sysctl", f_string_map, OCI_OFF(oci.sysctl), 0 },
    { "rootfsPropagation", f_propagation, OCI_OFF(oci.rootfs_propagation), 0 },
    { "personality", f_personality, 0, 0 },
    { "seccomp", f_seccomp, 0, 0 },
    /* SELinux is not enforced (documented), so its mount label is moot */
    { "mountLabel", oci_f_ignore, 0, 0 },
    { "intelRdt", oci_f_refuse, 0, 0 },
    { "timeOffsets", oci_f_refuse, 0, 0 },
    /* runtime-spec 1.2 */
    { "netDevices", oci_f_refuse, 0, 0 },
    { "memoryPolicy", oci_f_refuse, 0, 0 },
};

int oci_parse_linux(struct oci_ctx *x, json_object *v, const char *path)
{
    return oci_walk(x, v, path, linux_fields, ARRAY_SIZE(linux_fields), NULL);
}

/* What the namespaces mean for appbox's spec, and what they require of
 * the rest; run after the whole document is read (also without "linux"). */
int oci_check_namespaces(struct oci_ctx *x)
{
    struct spec_oci *o = &x->cfg->oci;
    struct spec_container *c = &x->cfg->spec.container;
    bool user = o->ns_wanted[OCI_NS_USER];
    if (!user && (c->uid_map.n || c->gid_map.n))
        return oci_bad(x, c->uid_map.n ? "linux.uidMappings" : "linux.gidMappings",
                       "given without a user namespace (expected linux.namespaces to have user)");
    if (user && !o->ns_path[OCI_NS_USER] && (!c->uid_map.n || !c->gid_map.n))
        return oci_bad(x, c->uid_map.n ? "linux.gidMappings" : "linux.uidMappings",
                       "missing (required with a new user namespace)");
    c->namespaces = 0;
    for (int k = 0; k < OCI_NS_COUNT; k++)
        if (o->ns_wanted[k] && !o->ns_path[k])
            c->namespaces |= ns_clone_flags[k];
    /* a new network namespace is one with only lo (appbox's none); joined
     * or the host's: appbox's network module leaves it alone */
    c->net = o->ns_wanted[OCI_NS_NET] && !o->ns_path[OCI_NS_NET] ? NET_NONE : NET_HOST;
    if (c->hostname && !o->ns_wanted[OCI_NS_UTS])
        return oci_bad(x, "hostname", "'%s' needs a UTS namespace (expected linux.namespaces to have uts)",
                       c->hostname);
    if (o->domainname && !o->ns_wanted[OCI_NS_UTS])
        return oci_bad(x, "domainname", "'%s' needs a UTS namespace (expected linux.namespaces to have uts)",
                       o->domainname);
    return 0;
}
