/* Rootless on cgroup v2 with a systemd user manager: a transient scope
 * (as podman and systemd-run --user --scope make), asked for on the user
 * bus with Delegate=yes, holding the calling process.  systemd then hands
 * the scope's directory to the user (chowned, with cgroup.procs and
 * cgroup.subtree_control): appbox moves itself into a leaf of it
 * ("runner": a group with processes cannot hand controllers down) and
 * the container's group goes next to that leaf (set.c, v2_avail()).
 *
 * Without a user bus (no systemd user session, as on these test machines)
 * nothing happens here, and a limit asked for is refused by
 * cgroup_resolve() with what delegation it needs.
 *
 * libsystemd is loaded (dlopen) only when a scope is asked for: linked,
 * it would cost every appbox start the loading of a large library. */
#include "cgroup/cgroup.h"

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <systemd/sd-bus.h>
#include <time.h>
#include <unistd.h>

#include "util/cleanup.h"

static const char *last_why;

/* The sd-bus calls used, from libsystemd.so.0. */
static struct {
    typeof(sd_bus_open_user) *open_user;
    typeof(sd_bus_flush_close_unref) *flush_close_unref;
    typeof(sd_bus_match_signal) *match_signal;
    typeof(sd_bus_message_new_method_call) *new_method_call;
    typeof(sd_bus_message_append) *append;
    typeof(sd_bus_message_open_container) *open_container;
    typeof(sd_bus_message_close_container) *close_container;
    typeof(sd_bus_call) *call;
    typeof(sd_bus_message_read) *read;
    typeof(sd_bus_process) *process;
    typeof(sd_bus_wait) *wait;
    typeof(sd_bus_error_free) *error_free;
    typeof(sd_bus_message_unref) *message_unref;
    typeof(sd_bus_slot_unref) *slot_unref;
} sd;

static bool load_sd_bus(void)
{
    static int loaded = -1;
    if (loaded >= 0)
        return loaded;
    void *h = dlopen("libsystemd.so.0", RTLD_NOW | RTLD_LOCAL);
    loaded = 0;
    if (!h)
        return false;
#define SYM(f, n) (sd.f = (typeof(sd.f))dlsym(h, n))
    if (SYM(open_user, "sd_bus_open_user") && SYM(flush_close_unref, "sd_bus_flush_close_unref") &&
        SYM(match_signal, "sd_bus_match_signal") && SYM(new_method_call, "sd_bus_message_new_method_call") &&
        SYM(append, "sd_bus_message_append") && SYM(open_container, "sd_bus_message_open_container") &&
        SYM(close_container, "sd_bus_message_close_container") && SYM(call, "sd_bus_call") &&
        SYM(read, "sd_bus_message_read") && SYM(process, "sd_bus_process") && SYM(wait, "sd_bus_wait") &&
        SYM(error_free, "sd_bus_error_free") && SYM(message_unref, "sd_bus_message_unref") &&
        SYM(slot_unref, "sd_bus_slot_unref"))
        loaded = 1;
#undef SYM
    return loaded;
}

const char *cgroup_user_scope_why(void)
{
    return last_why;
}

/* Wait for systemd's JobRemoved of JOB (the scope started, or failed). */
struct job_wait {
    const char *job;
    bool done;
    char result[32];
};

static int on_job_removed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
    (void)ret_error;
    struct job_wait *w = userdata;
    uint32_t id;
    const char *path = NULL, *unit = NULL, *result = NULL;
    if (sd.read(m, "uoss", &id, &path, &unit, &result) < 0)
        return 0;
    if (path && strcmp(path, w->job) == 0) {
        w->done = true;
        snprintf(w->result, sizeof(w->result), "%s", result ? result : "?");
    }
    return 0;
}

static int start_scope(sd_bus *bus, const char *unit, ab_error *err)
{
    sd_bus_message *m = NULL, *reply = NULL;
    sd_bus_error e = SD_BUS_ERROR_NULL;
    sd_bus_slot *slot = NULL;
    struct job_wait w = { 0 };
    int r = sd.match_signal(bus, &slot, "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
                                "org.freedesktop.systemd1.Manager", "JobRemoved", on_job_removed, &w);
    if (r >= 0)
        r = sd.new_method_call(bus, &m, "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
                                           "org.freedesktop.systemd1.Manager", "StartTransientUnit");
    if (r >= 0)
        r = sd.append(m, "ss", unit, "fail");
    if (r >= 0)
        r = sd.open_container(m, 'a', "(sv)");
    if (r >= 0)
        r = sd.append(m, "(sv)(sv)(sv)(sv)", "PIDs", "au", 1, (uint32_t)getpid(), "Delegate", "b", 1,
                                  "CollectMode", "s", "inactive-or-failed", "Description", "s",
                                  "appbox container (its cgroups)");
    if (r >= 0)
        r = sd.close_container(m);
    if (r >= 0)
        r = sd.append(m, "a(sa(sv))", 0);
    if (r < 0) {
        ab_fail(err, -r, "cannot ask systemd for a scope for the container's cgroups");
        goto out;
    }
    r = sd.call(bus, m, 10 * 1000 * 1000, &e, &reply);
    if (r < 0) {
        ab_fail(err, -r, "systemd (user manager) refused the scope %s: %s", unit, e.message ? e.message : "no reason");
        goto out;
    }
    const char *job = NULL;
    if ((r = sd.read(reply, "o", &job)) < 0) {
        ab_fail(err, -r, "systemd's answer for the scope %s is not a job", unit);
        goto out;
    }
    w.job = job;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (!w.done) {
        r = sd.process(bus, NULL);
        if (r < 0)
            break;
        if (r > 0)
            continue;
        clock_gettime(CLOCK_MONOTONIC, &t1);
        if (t1.tv_sec - t0.tv_sec > 10) {
            r = -ETIMEDOUT;
            break;
        }
        r = sd.wait(bus, 1000 * 1000);
        if (r < 0)
            break;
    }
    if (r < 0 && !w.done) {
        ab_fail(err, -r, "waiting for systemd to start the scope %s", unit);
        goto out;
    }
    if (strcmp(w.result, "done") != 0)
        r = ab_fail(err, EIO, "systemd could not start the scope %s (job %s)", unit, w.result);
    else
        r = 0;
out:
    sd.error_free(&e);
    sd.message_unref(m);
    sd.message_unref(reply);
    sd.slot_unref(slot);
    return r;
}

int cgroup_user_scope(ab_error *err)
{
    last_why = NULL;
    if (geteuid() == 0 || !cgroup_pure_v2())
        return 0;
    /* already delegated (an administrator's group, or a scope made by a
     * parent appbox): nothing to ask */
    _cleanup_free_ char *own = cgroup_own_group("");
    if (!own)
        return 0;
    char dir[PATH_MAX], up[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s%s", cgroup_v2_mount(), strcmp(own, "/") == 0 ? "" : own);
    snprintf(up, sizeof(up), "%s", dir);
    *strrchr(up, '/') = '\0';
    char procs[PATH_MAX + 16];
    snprintf(procs, sizeof(procs), "%s/cgroup.procs", up);
    if (access(up, W_OK) == 0 && access(procs, W_OK) == 0)
        return 0;
    snprintf(procs, sizeof(procs), "%s/cgroup.procs", dir);
    if (access(dir, W_OK) == 0 && access(procs, W_OK) == 0)
        return 0;

    sd_bus *bus = NULL;
    if (!load_sd_bus()) {
        last_why = "no libsystemd.so.0 to ask a systemd user manager for a delegated scope";
        return 0;
    }
    int r = sd.open_user(&bus);
    if (r < 0) {
        last_why = "no systemd user manager to ask for a delegated scope (no user bus: "
                   "$DBUS_SESSION_BUS_ADDRESS or $XDG_RUNTIME_DIR/bus)";
        return 0;
    }
    uint32_t rnd = 0;
    if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
        rnd = (uint32_t)getpid() * 2654435761u;
    char unit[64];
    snprintf(unit, sizeof(unit), "appbox-%d-%08x.scope", (int)getpid(), rnd);
    r = start_scope(bus, unit, err);
    sd.flush_close_unref(bus);
    if (r < 0)
        return r;
    /* now in the scope: into a leaf of it, so that the scope may hand its
     * controllers to the container's group next to it */
    _cleanup_free_ char *scope = cgroup_own_group("");
    if (!scope || !strstr(scope, unit))
        return ab_fail(err, EIO, "systemd started %s, but this process is not in it (%s)", unit,
                       scope ? scope : "?");
    char leaf[PATH_MAX];
    snprintf(leaf, sizeof(leaf), "%s%s/runner", cgroup_v2_mount(), scope);
    if (mkdir(leaf, 0755) < 0 && errno != EEXIST)
        return ab_fail(err, errno, "cannot create %s in the delegated scope", leaf);
    char pid[32];
    snprintf(pid, sizeof(pid), "%d", (int)getpid());
    if (cgroup_write_file(leaf, "cgroup.procs", pid, err) < 0)
        return ab_error_prefix(err, "cannot move appbox into a leaf of its scope");
    return 1;
}
