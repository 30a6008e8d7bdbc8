/* The container's limits, written into its groups (before any process is
 * in them), and its usage read back (stats).  spec_resources is in cgroup
 * v2's terms; v1 gets the equivalent:
 *
 *   memory        v2 memory.max, memory.swap.max (the swap beyond it)
 *                 v1 memory.limit_in_bytes, memory.memsw.limit_in_bytes
 *                    (memory + swap, where the kernel accounts swap)
 *   pids          pids.max (both)
 *   --cpus        v2 cpu.max "QUOTA 100000"; v1 cpu.cfs_quota_us, cfs_period_us
 *   --cpu-weight  v2 cpu.weight; v1 cpu.shares = weight * 1024 / 100
 *   --io-weight   v2 io.weight (or io.bfq.weight); v1 blkio.weight (or
 *                 blkio.bfq.weight), 1-10000 mapped linearly onto 10-1000 */
#include "cgroup/cgroup.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "spec/defaults.h"
#include "spec/spec.h"

uint64_t cgroup_v1_cpu_shares(uint32_t weight)
{
    uint64_t s = (uint64_t)weight * 1024 / 100;
    return s < 2 ? 2 : s > 262144 ? 262144 : s;
}

unsigned cgroup_v1_blkio_weight(uint32_t weight)
{
    if (weight < 1)
        weight = 1;
    if (weight > 10000)
        weight = 10000;
    /* the inverse of crun's v1 -> v2 map (1 + (w - 10) * 9999 / 990) */
    return 10 + (unsigned)(((uint64_t)weight - 1) * 990 / 9999);
}

uint64_t cgroup_cpu_quota_us(uint32_t thousandths)
{
    uint64_t us = (uint64_t)thousandths * CGROUP_CPU_PERIOD_US / 1000;
    return us < 1000 ? 1000 : us; /* the kernel's minimum quota: 1 ms */
}

const char *cgroup_format_bytes(uint64_t n, char *buf, size_t size)
{
    static const char units[] = "KMGTPE";
    int u = -1;
    while (n && n % 1024 == 0 && u < 5) {
        n /= 1024;
        u++;
    }
    if (u < 0)
        snprintf(buf, size, "%" PRIu64, n);
    else
        snprintf(buf, size, "%" PRIu64 "%c", n, units[u]);
    return buf;
}

static int write_u64(const char *dir, const char *file, uint64_t v, ab_error *err)
{
    char text[32];
    snprintf(text, sizeof(text), "%" PRIu64, v);
    return cgroup_write_file(dir, file, text, err);
}

static bool has_file(const char *dir, const char *file)
{
    char path[PATH_MAX + 64];
    snprintf(path, sizeof(path), "%s/%s", dir, file);
    return access(path, F_OK) == 0;
}

/* The first of two files that DIR has (a weight under BFQ or not). */
static const char *either(const char *dir, const char *a, const char *b)
{
    return has_file(dir, a) ? a : has_file(dir, b) ? b : NULL;
}

static int apply_v1(const struct spec *s, ab_error *err)
{
    const struct spec_container *c = &s->container;
    const struct spec_resources *res = &c->resources;
    const strv *set = &c->cgroups;
    const char *mem = cgroup_set_dir(set, "memory"), *pids = cgroup_set_dir(set, "pids");
    const char *cpu = cgroup_set_dir(set, "cpu"), *blkio = cgroup_set_dir(set, "blkio");
    int r = 0;
    if (res->memory && mem) {
        /* memsw >= memory at every step: memory first */
        r = write_u64(mem, "memory.limit_in_bytes", res->memory, err);
        if (r == 0 && has_file(mem, "memory.memsw.limit_in_bytes"))
            r = write_u64(mem, "memory.memsw.limit_in_bytes", res->memory + res->memory_swap, err);
        if (r < 0)
            return ab_error_prefix(err, "--memory");
    }
    if (pids && (r = write_u64(pids, "pids.max", c->pids_limit, err)) < 0)
        return ab_error_prefix(err, "--pids");
    if (res->cpu_quota && cpu) {
        r = write_u64(cpu, "cpu.cfs_period_us", CGROUP_CPU_PERIOD_US, err);
        if (r == 0)
            r = write_u64(cpu, "cpu.cfs_quota_us", cgroup_cpu_quota_us(res->cpu_quota), err);
        if (r < 0)
            return ab_error_prefix(err, "--cpus");
    }
    if (res->cpu_weight && cpu && (r = write_u64(cpu, "cpu.shares", cgroup_v1_cpu_shares(res->cpu_weight), err)) < 0)
        return ab_error_prefix(err, "--cpu-weight");
    if (res->io_weight && blkio) {
        const char *f = either(blkio, "blkio.weight", "blkio.bfq.weight");
        if (!f)
            return ab_fail(err, ENOENT, "--io-weight: %s has no blkio.weight or blkio.bfq.weight", blkio);
        if ((r = write_u64(blkio, f, cgroup_v1_blkio_weight(res->io_weight), err)) < 0)
            return ab_error_prefix(err, "--io-weight");
    }
    return 0;
}

/* A v2 limit: its file must be there (its controller enabled for the
 * group, by module.c) when the limit was asked for. */
static int v2_limit(const char *dir, const char *file, const char *text, const char *option, ab_error *err)
{
    if (!has_file(dir, file))
        return ab_fail(err, ENOENT, "%s: the container's group %s has no %s (its controller could not be enabled "
                                    "in the parent's cgroup.subtree_control: a group with processes of its own "
                                    "cannot hand controllers down, see docs/resources.md)",
                       option, dir, file);
    int r = cgroup_write_file(dir, file, text, err);
    return r < 0 ? ab_error_prefix(err, "%s", option) : 0;
}

static int apply_v2(const struct spec *s, const char *dir, ab_error *err)
{
    const struct spec_container *c = &s->container;
    const struct spec_resources *res = &c->resources;
    char text[64];
    int r = 0;
    if (res->memory) {
        snprintf(text, sizeof(text), "%" PRIu64, res->memory);
        r = v2_limit(dir, "memory.max", text, "--memory", err);
        snprintf(text, sizeof(text), "%" PRIu64, res->memory_swap);
        if (r == 0 && (res->memory_swap || has_file(dir, "memory.swap.max")))
            r = v2_limit(dir, "memory.swap.max", text, "--memory-swap", err);
        if (r < 0)
            return r;
    }
    /* the default pids limit only where the controller is there */
    snprintf(text, sizeof(text), "%" PRIu64, c->pids_limit);
    if ((c->pids_limit != SPEC_DEFAULT_PIDS_LIMIT || has_file(dir, "pids.max")) &&
        (r = v2_limit(dir, "pids.max", text, "--pids", err)) < 0)
        return r;
    if (res->cpu_quota) {
        snprintf(text, sizeof(text), "%" PRIu64 " %d", cgroup_cpu_quota_us(res->cpu_quota), CGROUP_CPU_PERIOD_US);
        if ((r = v2_limit(dir, "cpu.max", text, "--cpus", err)) < 0)
            return r;
    }
    if (res->cpu_weight) {
        snprintf(text, sizeof(text), "%u", res->cpu_weight);
        if ((r = v2_limit(dir, "cpu.weight", text, "--cpu-weight", err)) < 0)
            return r;
    }
    if (res->io_weight) {
        const char *f = either(dir, "io.weight", "io.bfq.weight");
        snprintf(text, sizeof(text), "%s%u", f && strcmp(f, "io.weight") == 0 ? "default " : "",
                 res->io_weight > 1000 && f && strcmp(f, "io.bfq.weight") == 0 ? 1000 : res->io_weight);
        if ((r = v2_limit(dir, f ? f : "io.weight", text, "--io-weight", err)) < 0)
            return r;
    }
    return 0;
}

int cgroup_apply_limits(const struct spec *s, ab_error *err)
{
    const strv *set = &s->container.cgroups;
    for (size_t i = 0; i < set->n; i++)
        if (!cgroup_path_is_ours(set->v[i]))
            return ab_fail(err, EINVAL, "refusing to change the cgroup %s: not one of appbox's", set->v[i]);
    if (cgroup_pure_v2()) {
        const char *dir = cgroup_v2_dir(s);
        return dir ? apply_v2(s, dir, err) : 0;
    }
    return apply_v1(s, err);
}

/* ---- usage ---- */

static uint64_t read_u64(const char *dir, const char *file)
{
    char path[PATH_MAX + 64], buf[64];
    snprintf(path, sizeof(path), "%s/%s", dir, file);
    if (cgroup_read_file(path, buf, sizeof(buf)) <= 0 || strncmp(buf, "max", 3) == 0)
        return CGROUP_UNKNOWN;
    return strtoull(buf, NULL, 10);
}

static uint64_t read_key(const char *dir, const char *file, const char *key)
{
    char path[PATH_MAX + 64], buf[8192];
    snprintf(path, sizeof(path), "%s/%s", dir, file);
    if (cgroup_read_file(path, buf, sizeof(buf)) < 0)
        return CGROUP_UNKNOWN;
    return cgroup_parse_key(buf, key);
}

void cgroup_parse_io_v2(const char *text, uint64_t *rd, uint64_t *wr)
{
    *rd = *wr = 0;
    /* "8:0 rbytes=1 wbytes=2 rios=3 ..." per device */
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        const char *eol = strchr(p, '\n');
        for (const char *q = p; q && (!eol || q < eol); q = strchr(q, ' '), q = q ? q + 1 : NULL) {
            if (strncmp(q, "rbytes=", 7) == 0)
                *rd += strtoull(q + 7, NULL, 10);
            else if (strncmp(q, "wbytes=", 7) == 0)
                *wr += strtoull(q + 7, NULL, 10);
        }
    }
}

void cgroup_parse_io_v1(const char *text, uint64_t *rd, uint64_t *wr)
{
    *rd = *wr = 0;
    /* "8:0 Read 4096" per device and operation; "Total N" at the end */
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        char dev[32], op[16];
        unsigned long long n;
        if (sscanf(p, "%31s %15s %llu", dev, op, &n) != 3)
            continue;
        if (strcmp(op, "Read") == 0)
            *rd += n;
        else if (strcmp(op, "Write") == 0)
            *wr += n;
    }
}

void cgroup_stats_read(const struct spec *s, struct cgroup_stats *st)
{
    const strv *set = &s->container.cgroups;
    *st = (struct cgroup_stats){ CGROUP_UNKNOWN, CGROUP_UNKNOWN, CGROUP_UNKNOWN, CGROUP_UNKNOWN,
                                 CGROUP_UNKNOWN, CGROUP_UNKNOWN, CGROUP_UNKNOWN };
    for (size_t i = 0; i < set->n; i++)
        if (!cgroup_spec_path_ok(s, set->v[i]))
            return;
    char buf[16384], path[PATH_MAX + 64];
    if (cgroup_pure_v2()) {
        const char *d = cgroup_v2_dir(s);
        if (!d)
            return;
        uint64_t us = read_key(d, "cpu.stat", "usage_usec");
        st->cpu_ns = us == CGROUP_UNKNOWN ? us : us * 1000;
        st->mem_usage = read_u64(d, "memory.current");
        st->mem_limit = read_u64(d, "memory.max");
        st->pids_current = read_u64(d, "pids.current");
        st->pids_limit = read_u64(d, "pids.max");
        snprintf(path, sizeof(path), "%s/io.stat", d);
        if (cgroup_read_file(path, buf, sizeof(buf)) >= 0)
            cgroup_parse_io_v2(buf, &st->io_read, &st->io_write);
        return;
    }
    const char *d;
    if ((d = cgroup_set_dir(set, "cpuacct")))
        st->cpu_ns = read_u64(d, "cpuacct.usage");
    if ((d = cgroup_set_dir(set, "memory"))) {
        st->mem_usage = read_u64(d, "memory.usage_in_bytes");
        st->mem_limit = read_u64(d, "memory.limit_in_bytes");
        if (st->mem_limit >= (UINT64_C(1) << 62))
            st->mem_limit = CGROUP_UNKNOWN; /* v1's "no limit": a page-rounded LLONG_MAX */
    }
    if ((d = cgroup_set_dir(set, "pids"))) {
        st->pids_current = read_u64(d, "pids.current");
        st->pids_limit = read_u64(d, "pids.max");
    }
    if ((d = cgroup_set_dir(set, "blkio"))) {
        snprintf(path, sizeof(path), "%s/blkio.throttle.io_service_bytes_recursive", d);
        if (cgroup_read_file(path, buf, sizeof(buf)) >= 0)
            cgroup_parse_io_v1(buf, &st->io_read, &st->io_write);
    }
}
