#include "runtime/resolve.h"

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "runtime/identity.h"
#include "runtime/idmap.h"
#include "spec/defaults.h"
#include "util/cleanup.h"

/* A value from the command line is a usage error; one from appbox.conf
 * (its origin starts with the file's path) is the file's. */
static int origin_error(const char *origin, const char *value, const char *sep, const char *why, ab_error *err)
{
    /* a flag or a ++override is the command line's */
    enum ab_error_kind kind = origin && (strncmp(origin, "--", 2) == 0 || strncmp(origin, "++", 2) == 0)
                                  ? AB_ERR_USAGE
                                  : AB_ERR_RUNTIME;
    return ab_error_set(err, kind, 0, "%s: '%s'%s%s", origin ? origin : "mount", value, sep, why);
}

static int resolve_host_path(const char *origin, char **path, struct stat *st, ab_error *err)
{
    char *real = realpath(*path, NULL);
    int e = errno;
    if (real && stat(real, st) < 0) {
        e = errno;
        free(real);
        real = NULL;
    }
    if (!real) {
        char why[160];
        snprintf(why, sizeof(why), "%s (expected an existing host path)", strerror(e));
        return origin_error(origin, *path, ": ", why, err);
    }
    free(*path);
    *path = real;
    return 0;
}

int spec_resolve_paths(struct spec *s, ab_error *err)
{
    struct spec_container *c = &s->container;
    int r;
    struct stat st;
    if (c->root) {
        if ((r = resolve_host_path(c->root_origin ? c->root_origin : "--root", &c->root, &st, err)) < 0)
            return r;
        if (!S_ISDIR(st.st_mode))
            return origin_error(c->root_origin ? c->root_origin : "--root", c->root, " is ",
                                "not a directory (expected a root file system directory)", err);
    }
    if (c->root_lower && (r = resolve_host_path("the container's base", &c->root_lower, &st, err)) < 0)
        return r;
    for (size_t i = 0; i < c->n_mounts; i++) {
        struct spec_mount *m = &c->mounts[i];
        if (m->type != MOUNT_TYPE_BIND)
            continue;
        if (!m->given && !(m->given = strdup(m->source)))
            return ab_fail(err, ENOMEM, "cannot resolve %s", m->source);
        if ((r = resolve_host_path(m->origin, &m->source, &st, err)) < 0)
            return r;
        if (spec_mount_is_device(m) && !(S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)))
            return origin_error(m->origin, m->destination, " is ",
                                "not a device node (expected a character or block device)", err);
        m->dev = st.st_dev;
        m->ino = st.st_ino;
    }
    return 0;
}

int spec_resolve(struct spec *s, ab_error *err)
{
    struct spec_container *c = &s->container;
    struct spec_process *p = &s->process;
    if (c->resolved)
        return 0;
    int r = spec_validate(s, err);
    if (r < 0 || (r = spec_resolve_paths(s, err)) < 0)
        return r;
    if (!c->hostname && !(c->hostname = strdup(SPEC_DEFAULT_HOSTNAME)))
        return ab_fail(err, ENOMEM, "cannot resolve the host name");
    c->namespaces = CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP;
    if (c->net != NET_HOST)
        c->namespaces |= CLONE_NEWNET;
    if ((r = identity_resolve(s, &p->user, err)) < 0)
        return r;
    const struct spec_user *u = &p->user;
    if ((r = idmap_choose(&c->uid_map, &c->gid_map, u->caller_uid, u->caller_gid, u->caller_name, u->uid, u->gid,
                          err)) < 0)
        return r;
    c->resolved = true;
    return 0;
}
