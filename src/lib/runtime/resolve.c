#include "runtime/resolve.h"

#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cgroup/cgroup.h"
#include "desktop/devices.h"
#include "runtime/identity.h"
#include "runtime/idmap.h"
#include "spec/defaults.h"
#include "util/cleanup.h"
#include "util/fsutil.h"

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
    if ((r = devices_resolve(s, err)) < 0 || (r = cgroup_resolve(s, err)) < 0)
        return r;
    c->resolved = true;
    return 0;
}

/* Whether PATH is DIR or below it (DIR "/" holds everything). */
static const char *below_dir(const char *path, const char *dir)
{
    size_t len = strlen(dir);
    if (len == 1 && dir[0] == '/')
        return path;
    if (strncmp(path, dir, len) != 0 || (path[len] != '\0' && path[len] != '/'))
        return NULL;
    return path + len; /* "" or "/rest" */
}

/* The spec mount on top at PATH: the last one whose destination is PATH
 * or a parent of it (a later mount over a parent hides an earlier, deeper
 * one); -1 when none is. */
static ssize_t mount_on_top(const struct spec_container *c, const char *path)
{
    ssize_t top = -1;
    for (size_t i = 0; i < c->n_mounts; i++)
        if (below_dir(path, c->mounts[i].destination))
            top = (ssize_t)i;
    return top;
}

char *spec_visible_cwd(const struct spec *s, const char *cwd)
{
    const struct spec_container *c = &s->container;
    if (!cwd || cwd[0] != '/')
        return NULL;
    /* A bind of the host folder that holds CWD, at the folder's own path
     * (or at the path it was given by, when that went through a link: a
     * home under a linked /home), and not hidden by a later mount. */
    for (size_t i = 0; i < c->n_mounts; i++) {
        const struct spec_mount *m = &c->mounts[i];
        const char *rest;
        if (m->type != MOUNT_TYPE_BIND || spec_mount_is_device(m) || !m->source ||
            !(rest = below_dir(cwd, m->source)))
            continue;
        _cleanup_free_ char *given = m->given && m->given[0] == '/' ? fs_clean_abs_path(m->given) : NULL;
        if (strcmp(m->destination, m->source) != 0 && !(given && strcmp(given, m->destination) == 0))
            continue;
        char *inside;
        if (asprintf(&inside, "%s%s", strcmp(m->destination, "/") == 0 && *rest ? "" : m->destination, rest) < 0)
            return NULL;
        if (mount_on_top(c, inside) == (ssize_t)i)
            return inside;
        free(inside);
    }
    if (mount_on_top(c, cwd) >= 0 || c->root)
        return NULL; /* a tmpfs, a bind of something else, or the container's own root */
    /* The host view: its read-only host folders are the host's, at the same
     * paths; what appbox mounts fresh is not (/tmp, /run, /dev, home). */
    static const char *const fresh[] = { "/tmp", "/var/tmp", "/run", "/dev", "/proc", "/sys", NULL };
    for (size_t i = 0; fresh[i]; i++)
        if (below_dir(cwd, fresh[i]))
            return NULL;
    if (below_dir(cwd, s->process.user.home))
        return NULL;
    for (size_t i = 0; spec_host_view_dirs[i]; i++)
        if (below_dir(cwd, spec_host_view_dirs[i]))
            return strdup(cwd);
    return NULL;
}

int spec_follow_caller_cwd(struct spec_process *p, const struct spec *s)
{
    free(p->cwd_follow);
    p->cwd_follow = NULL;
    if (p->cwd)
        return 0; /* a working directory of the spec's own (--chdir, WorkingDirectory=) wins */
    char buf[PATH_MAX];
    struct stat st;
    /* The caller's own working directory, through the process's own
     * reference to it: no path is looked up on the host. */
    if (!getcwd(buf, sizeof(buf)) || buf[0] != '/' || stat(".", &st) < 0)
        return 0;
    p->cwd_follow = spec_visible_cwd(s, buf);
    p->cwd_dev = st.st_dev;
    p->cwd_ino = st.st_ino;
    return 0;
}
