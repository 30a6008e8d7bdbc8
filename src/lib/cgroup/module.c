/* The cgroup module of the start pipeline: the container's groups are
 * made, limited and (v2) handed to clone3(CLONE_INTO_CGROUP) in prepare,
 * PID 1 is put in every one of them in host_setup (before "go": no code
 * of the user's runs outside them), and they are removed at teardown
 * (also by the next start, from spec.json, after a SIGKILL; and swept by
 * name when their maker is dead). */
#include "cgroup/cgroup.h"
#include "cgroup/oci.h"
#include "spec/oci.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "runtime/pipeline.h"
#include "spec/spec.h"
#include "util/cleanup.h"

static const struct cgroup_backend *backend(const char *path)
{
    return cgroup_path_is_v2(path) ? &cgroup_v2_backend : &cgroup_v1_backend;
}

/* Pure v2: the controllers the limits need, enabled for the parent's
 * children, where the parent offers them.  A parent with processes of
 * its own (not the root) refuses (EBUSY: no internal processes); the
 * limits then say so when their file is missing (limits.c). */
static void enable_controllers(const char *path)
{
    char parent[PATH_MAX], file[PATH_MAX + 32], have[512], on[512];
    snprintf(parent, sizeof(parent), "%.*s", (int)(strrchr(path, '/') - path), path);
    snprintf(file, sizeof(file), "%s/cgroup.controllers", parent);
    if (cgroup_read_file(file, have, sizeof(have)) < 0)
        return;
    snprintf(file, sizeof(file), "%s/cgroup.subtree_control", parent);
    if (cgroup_read_file(file, on, sizeof(on)) < 0)
        on[0] = '\0';
    static const char *const want[] = { "memory", "pids", "cpu", "io", NULL };
    for (size_t i = 0; want[i]; i++) {
        char word[32];
        snprintf(word, sizeof(word), " %s ", want[i]);
        char h[520], o[520];
        snprintf(h, sizeof(h), " %s ", have);
        snprintf(o, sizeof(o), " %s ", on);
        for (char *p = h; *p; p++)
            if (*p == '\n')
                *p = ' ';
        for (char *p = o; *p; p++)
            if (*p == '\n')
                *p = ' ';
        if (!strstr(h, word) || strstr(o, word))
            continue;
        char text[32];
        snprintf(text, sizeof(text), "+%s", want[i]);
        ab_error ignored = { 0 };
        cgroup_write_file(parent, "cgroup.subtree_control", text, &ignored);
    }
}

/* An OCI container's groups are the caller's choice (config.json's
 * cgroupsPath, cgroup/oci.h): made with their parents as needed and
 * limited by linux.resources; never swept by appbox's name pattern. */
static int oci_prepare(struct runner *r, ab_error *err)
{
    const strv *set = &r->spec->container.cgroups;
    /* what it made is the spec's OCI part's (not const: the runtime's
     * own record), for teardown after a failed start */
    strv *made = &r->spec->oci->cgroups_made;
    int rc = cgroup_oci_create(set, made, err);
    if (rc < 0)
        return ab_error_prefix(err, "cannot set up the container's cgroups");
    if ((rc = cgroup_oci_apply(r->spec, err)) < 0) {
        cgroup_oci_remove_made(made);
        return rc;
    }
    const char *v2 = cgroup_v2_dir(r->spec);
    if (v2)
        r->cgroup_fd = open(v2, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    return 0;
}

static int cgroup_prepare(struct runner *r, ab_error *err)
{
    const strv *set = &r->spec->container.cgroups;
    if (!set->n)
        return 0;
    if (r->spec->oci)
        return oci_prepare(r, err);
    bool pure = cgroup_pure_v2();
    for (size_t i = 0; i < set->n; i++) {
        const char *p = set->v[i];
        if (!cgroup_path_is_ours(p))
            return ab_fail(err, EINVAL, "refusing to create the cgroup %s: not one of appbox's", p);
        cgroup_sweep(p);
        if (pure && cgroup_path_is_v2(p))
            enable_controllers(p);
        if (cgroup_create(backend(p), p, err) < 0)
            return ab_error_prefix(err, "cannot set up the container's cgroups");
    }
    int rc = cgroup_apply_limits(r->spec, err);
    if (rc < 0)
        return rc;
    /* clone3(CLONE_INTO_CGROUP): PID 1 is born in its v2 group */
    const char *v2 = cgroup_v2_dir(r->spec);
    if (v2 && cgroup_path_is_ours(v2))
        r->cgroup_fd = open(v2, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    return 0;
}

static int cgroup_host_setup(struct runner *r, ab_error *err)
{
    const strv *set = &r->spec->container.cgroups;
    if (r->cgroup_fd >= 0) {
        close(r->cgroup_fd);
        r->cgroup_fd = -1;
    }
    if (r->spec->oci)
        return cgroup_oci_join(set, r->child, err) < 0 ? ab_error_prefix(err, "cannot put the container in its cgroups")
                                                       : 0;
    for (size_t i = 0; i < set->n; i++)
        if (cgroup_attach(backend(set->v[i]), set->v[i], r->child, err) < 0)
            return ab_error_prefix(err, "cannot put the container in its cgroups");
    return 0;
}

static void cgroup_teardown(struct runner *r)
{
    if (r->cgroup_fd >= 0) {
        close(r->cgroup_fd);
        r->cgroup_fd = -1;
    }
    const strv *set = &r->spec->container.cgroups;
    if (r->spec->oci) {
        /* a start that failed: what it made, nothing that was there
         * before (a successful create's groups are delete's to remove) */
        cgroup_oci_remove_made(&r->spec->oci->cgroups_made);
        return;
    }
    for (size_t i = set->n; i-- > 0;)
        cgroup_destroy(backend(set->v[i]), set->v[i]);
}

const struct module cgroup_module = {
    .name = "cgroup",
    .prepare = cgroup_prepare,
    .host_setup = cgroup_host_setup,
    .teardown = cgroup_teardown,
};
