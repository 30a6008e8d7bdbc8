/* appbox stats [NAME...] [--no-stream] [--json]: the running containers'
 * usage from their cgroups (cgroup/limits.c): CPU % over the interval,
 * memory usage and limit, processes and their limit, block I/O.  On a
 * terminal it redraws every second (as podman stats) until Ctrl-C; with
 * --no-stream, or when the output is not a terminal, one sample. */
#include <errno.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cgroup/cgroup.h"
#include "cmd/cmd.h"
#include "container/container.h"
#include "container/state.h"
#include "container/store.h"
#include "util/cleanup.h"

struct row {
    char *name;
    struct spec spec;
    bool have;              /* running, spec read */
    struct cgroup_stats a, b;
};

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static double cpu_percent(const struct row *r, uint64_t wall_ns)
{
    if (r->a.cpu_ns == CGROUP_UNKNOWN || r->b.cpu_ns == CGROUP_UNKNOWN || !wall_ns || r->b.cpu_ns < r->a.cpu_ns)
        return -1;
    return (double)(r->b.cpu_ns - r->a.cpu_ns) * 100.0 / (double)wall_ns;
}

static const char *human(uint64_t n, char *buf, size_t size)
{
    if (n == CGROUP_UNKNOWN) {
        snprintf(buf, size, "-");
        return buf;
    }
    static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
    double v = (double)n;
    size_t u = 0;
    while (v >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
        v /= 1024;
        u++;
    }
    snprintf(buf, size, u ? "%.1f%s" : "%.0f%s", v, units[u]);
    return buf;
}

static json_object *u64_or_null(uint64_t v)
{
    return v == CGROUP_UNKNOWN ? NULL : json_object_new_uint64(v);
}

static void print_json(struct row *rows, size_t n, uint64_t wall_ns)
{
    json_object *arr = json_object_new_array();
    for (size_t i = 0; i < n; i++) {
        const struct row *r = &rows[i];
        if (!r->have)
            continue;
        json_object *o = json_object_new_object();
        double cpu = cpu_percent(r, wall_ns);
        json_object_object_add(o, "name", json_object_new_string(r->name));
        json_object_object_add(o, "cpu_percent", cpu < 0 ? NULL : json_object_new_double(cpu));
        json_object_object_add(o, "cpu_time_ns", u64_or_null(r->b.cpu_ns));
        json_object_object_add(o, "memory_usage", u64_or_null(r->b.mem_usage));
        json_object_object_add(o, "memory_limit", u64_or_null(r->b.mem_limit));
        json_object_object_add(o, "pids", u64_or_null(r->b.pids_current));
        json_object_object_add(o, "pids_limit", u64_or_null(r->b.pids_limit));
        json_object_object_add(o, "block_read", u64_or_null(r->b.io_read));
        json_object_object_add(o, "block_write", u64_or_null(r->b.io_write));
        json_object_object_add(o, "cgroups", json_object_new_int((int)r->spec.container.cgroups.n));
        json_object_array_add(arr, o);
    }
    printf("%s\n", json_object_to_json_string_ext(arr, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(arr);
}

static void print_table(struct row *rows, size_t n, uint64_t wall_ns)
{
    printf("%-20s %8s %24s %7s %14s %24s\n", "NAME", "CPU %", "MEM USAGE / LIMIT", "MEM %", "PIDS", "BLOCK I/O");
    for (size_t i = 0; i < n; i++) {
        const struct row *r = &rows[i];
        if (!r->have)
            continue;
        char cpu[32], mem[64], memp[32], pids[64], io[64], x[24], y[24];
        double c = cpu_percent(r, wall_ns);
        if (c < 0)
            snprintf(cpu, sizeof(cpu), "-");
        else
            snprintf(cpu, sizeof(cpu), "%.2f%%", c);
        snprintf(mem, sizeof(mem), "%s / %s", human(r->b.mem_usage, x, sizeof(x)),
                 r->b.mem_limit == CGROUP_UNKNOWN ? "-" : human(r->b.mem_limit, y, sizeof(y)));
        if (r->b.mem_usage != CGROUP_UNKNOWN && r->b.mem_limit != CGROUP_UNKNOWN && r->b.mem_limit)
            snprintf(memp, sizeof(memp), "%.2f%%", (double)r->b.mem_usage * 100.0 / (double)r->b.mem_limit);
        else
            snprintf(memp, sizeof(memp), "-");
        if (r->b.pids_current == CGROUP_UNKNOWN)
            snprintf(pids, sizeof(pids), "-");
        else if (r->b.pids_limit == CGROUP_UNKNOWN)
            snprintf(pids, sizeof(pids), "%llu", (unsigned long long)r->b.pids_current);
        else
            snprintf(pids, sizeof(pids), "%llu / %llu", (unsigned long long)r->b.pids_current,
                     (unsigned long long)r->b.pids_limit);
        snprintf(io, sizeof(io), "%s / %s", human(r->b.io_read, x, sizeof(x)), human(r->b.io_write, y, sizeof(y)));
        printf("%-20s %8s %24s %7s %14s %24s\n", r->name, cpu, mem, memp, pids, io);
    }
    fflush(stdout);
}

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR && !interrupted)
        ;
}

/* The last sample becomes the previous one (a), a fresh one is b. */
static void sample(struct ab_ctx *ctx, struct row *rows, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct row *r = &rows[i];
        if (!r->have)
            continue;
        if (!state_running(ctx, r->name)) {
            r->have = false; /* stopped meanwhile: no longer shown */
            continue;
        }
        r->a = r->b;
        cgroup_stats_read(&r->spec, &r->b);
    }
}

int cmd_stats(struct ab_ctx *ctx, int argc, char **argv)
{
    bool json = false, no_stream = false;
    strv names = { 0 };
    for (int i = 0; i < argc; i++) {
        if (cmd_is_help(argv[i])) {
            printf("Usage: appbox stats [NAME...] [--no-stream] [--json]\n\n"
                   "Running containers' usage from their cgroups: CPU %% (over the last interval),\n"
                   "memory usage / limit, processes / limit, block I/O read / written.  No NAME:\n"
                   "every running container.  On a terminal the table is redrawn every second until\n"
                   "Ctrl-C; --no-stream (or output that is not a terminal): one sample.  --json: an\n"
                   "array of objects (name, cpu_percent, cpu_time_ns, memory_usage, memory_limit,\n"
                   "pids, pids_limit, block_read, block_write; null: unknown or no limit).\n");
            strv_clear(&names);
            return 0;
        }
        if (strcmp(argv[i], "--json") == 0)
            json = true;
        else if (strcmp(argv[i], "--no-stream") == 0)
            no_stream = true;
        else if (argv[i][0] == '-') {
            strv_clear(&names);
            return cmd_usage_error("stats", "%s: unknown option (allowed: --no-stream, --json)", argv[i]);
        } else if (strv_push(&names, argv[i]) < 0) {
            strv_clear(&names);
            return cmd_fail("stats", "out of memory");
        }
    }
    ab_error err = { 0 };
    bool all = names.n == 0;
    if (all && store_list(ctx, &names, &err) < 0)
        return cmd_report(&err);
    struct row *rows = calloc(names.n ? names.n : 1, sizeof(*rows));
    if (!rows) {
        strv_clear(&names);
        return cmd_fail("stats", "out of memory");
    }
    int rc = 0;
    size_t n = 0;
    for (size_t i = 0; i < names.n; i++) {
        struct row *r = &rows[n];
        r->name = names.v[i];
        if (!state_running(ctx, r->name)) {
            if (!all) {
                fprintf(stderr, "appbox: stats: %s is not running\n", r->name);
                rc = 125;
            }
            continue;
        }
        ab_error e = { 0 };
        if (container_running_spec(ctx, r->name, &r->spec, &e) < 0) {
            if (!all)
                rc = cmd_report(&e);
            continue;
        }
        r->have = true;
        n++;
    }
    if (rc) {
        for (size_t i = 0; i < n; i++)
            spec_free(&rows[i].spec);
        free(rows);
        strv_clear(&names);
        return rc;
    }
    bool stream = !no_stream && isatty(STDOUT_FILENO);
    struct sigaction sa = { .sa_handler = on_signal };
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sample(ctx, rows, n);
    uint64_t t0 = now_ns();
    /* one sample: CPU % over half a second; streaming: over each second */
    sleep_ms(stream ? 1000 : 500);
    for (;;) {
        sample(ctx, rows, n);
        uint64_t t1 = now_ns();
        if (stream)
            printf("\033[H\033[J");
        if (json)
            print_json(rows, n, t1 - t0);
        else
            print_table(rows, n, t1 - t0);
        if (!stream || interrupted)
            break;
        t0 = t1;
        sleep_ms(1000);
        if (interrupted)
            break;
    }
    for (size_t i = 0; i < n; i++)
        spec_free(&rows[i].spec);
    free(rows);
    strv_clear(&names);
    return 0;
}
