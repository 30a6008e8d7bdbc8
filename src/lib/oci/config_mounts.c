/* config.json's "mounts": each entry as the kernel will get it (flags,
 * propagation, the file system's own options as data), in order. */
#include "oci/config_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>

#include "util/cleanup.h"

#ifndef MS_NOSYMFOLLOW
#define MS_NOSYMFOLLOW 256
#endif

enum mopt_kind {
    MOPT_SET,      /* set FLAG */
    MOPT_CLEAR,    /* clear FLAG */
    MOPT_PROP,     /* propagation FLAG */
    MOPT_BIND,
    MOPT_RBIND,
    MOPT_IGNORE,   /* accepted, nothing to do */
    MOPT_REFUSE,   /* not supported: WHY */
};

static const struct mopt {
    const char *name;
    enum mopt_kind kind;
    unsigned long flag;
    const char *why;
} mount_options[] = {
    { "ro", MOPT_SET, MS_RDONLY, NULL },
    { "rw", MOPT_CLEAR, MS_RDONLY, NULL },
    { "nosuid", MOPT_SET, MS_NOSUID, NULL },
    { "suid", MOPT_CLEAR, MS_NOSUID, NULL },
    { "nodev", MOPT_SET, MS_NODEV, NULL },
    { "dev", MOPT_CLEAR, MS_NODEV, NULL },
    { "noexec", MOPT_SET, MS_NOEXEC, NULL },
    { "exec", MOPT_CLEAR, MS_NOEXEC, NULL },
    { "noatime", MOPT_SET, MS_NOATIME, NULL },
    { "atime", MOPT_CLEAR, MS_NOATIME, NULL },
    { "nodiratime", MOPT_SET, MS_NODIRATIME, NULL },
    { "diratime", MOPT_CLEAR, MS_NODIRATIME, NULL },
    { "relatime", MOPT_SET, MS_RELATIME, NULL },
    { "norelatime", MOPT_CLEAR, MS_RELATIME, NULL },
    { "strictatime", MOPT_SET, MS_STRICTATIME, NULL },
    { "nostrictatime", MOPT_CLEAR, MS_STRICTATIME, NULL },
    { "sync", MOPT_SET, MS_SYNCHRONOUS, NULL },
    { "async", MOPT_CLEAR, MS_SYNCHRONOUS, NULL },
    { "dirsync", MOPT_SET, MS_DIRSYNC, NULL },
    { "mand", MOPT_SET, MS_MANDLOCK, NULL },
    { "nomand", MOPT_CLEAR, MS_MANDLOCK, NULL },
    { "lazytime", MOPT_SET, MS_LAZYTIME, NULL },
    { "nolazytime", MOPT_CLEAR, MS_LAZYTIME, NULL },
    { "silent", MOPT_SET, MS_SILENT, NULL },
    { "loud", MOPT_CLEAR, MS_SILENT, NULL },
    { "iversion", MOPT_SET, MS_I_VERSION, NULL },
    { "noiversion", MOPT_CLEAR, MS_I_VERSION, NULL },
    { "nosymfollow", MOPT_SET, MS_NOSYMFOLLOW, NULL },
    { "symfollow", MOPT_CLEAR, MS_NOSYMFOLLOW, NULL },
    { "private", MOPT_PROP, MS_PRIVATE, NULL },
    { "rprivate", MOPT_PROP, MS_PRIVATE | MS_REC, NULL },
    { "shared", MOPT_PROP, MS_SHARED, NULL },
    { "rshared", MOPT_PROP, MS_SHARED | MS_REC, NULL },
    { "slave", MOPT_PROP, MS_SLAVE, NULL },
    { "rslave", MOPT_PROP, MS_SLAVE | MS_REC, NULL },
    { "unbindable", MOPT_PROP, MS_UNBINDABLE, NULL },
    { "runbindable", MOPT_PROP, MS_UNBINDABLE | MS_REC, NULL },
    { "bind", MOPT_BIND, 0, NULL },
    { "rbind", MOPT_RBIND, 0, NULL },
    /* "defaults" means "rw,suid,dev,exec,auto,nouser,async": what a mount
     * has without flags; "remount" is meaningless for a fresh mount (runc
     * ignores it too); "tmpcopyup" (crun's: copy the image's directory into
     * a tmpfs) is not done: the tmpfs starts empty */
    { "defaults", MOPT_IGNORE, 0, NULL },
    { "remount", MOPT_IGNORE, 0, NULL },
    { "tmpcopyup", MOPT_IGNORE, 0, NULL },
    { "idmap", MOPT_REFUSE, 0, "ID-mapped mounts are not supported by appbox-oci" },
    { "ridmap", MOPT_REFUSE, 0, "ID-mapped mounts are not supported by appbox-oci" },
};

/* runc's recursive attributes (mount_setattr(2) with AT_RECURSIVE) */
static const char *const recursive_options[] = {
    "rro", "rrw", "rnosuid", "rsuid", "rnodev", "rdev", "rnoexec", "rexec", "rnoatime", "ratime",
    "rnodiratime", "rdiratime", "rrelatime", "rnorelatime", "rstrictatime", "rnostrictatime",
    "rnosymfollow", "rsymfollow",
};

/* For features.json: the options above that are taken (sorted by hand). */
const char *const oci_mount_option_names[] = {
    "async", "atime", "bind", "defaults", "dev", "diratime", "dirsync", "exec", "iversion", "lazytime", "loud",
    "mand", "noatime", "nodev", "nodiratime", "noexec", "noiversion", "nolazytime", "nomand", "norelatime",
    "nostrictatime", "nosuid", "nosymfollow", "private", "rbind", "relatime", "remount", "ro", "rprivate",
    "rshared", "rslave", "runbindable", "rw", "shared", "silent", "slave", "strictatime", "suid", "symfollow",
    "sync", "tmpcopyup", "unbindable", NULL,
};

static int add_data(struct oci_ctx *x, char **data, const char *opt, const char *path)
{
    size_t old = *data ? strlen(*data) : 0;
    char *n = realloc(*data, old + strlen(opt) + 2);
    if (!n)
        return ab_fail(x->err, ENOMEM, "%s: %s", x->what, path);
    if (old)
        n[old++] = ',';
    strcpy(n + old, opt);
    *data = n;
    return 0;
}

unsigned long oci_propagation_flags(const char *name)
{
    for (size_t i = 0; i < ARRAY_SIZE(mount_options); i++)
        if (mount_options[i].kind == MOPT_PROP && strcmp(name, mount_options[i].name) == 0)
            return mount_options[i].flag;
    return 0;
}

static int parse_option(struct oci_ctx *x, struct oci_mount *m, const char *opt, const char *path)
{
    for (size_t i = 0; i < ARRAY_SIZE(recursive_options); i++)
        if (strcmp(opt, recursive_options[i]) == 0)
            return oci_bad(x, path, "'%s' is not supported (recursive mount attributes: expected %s and a "
                           "separate mount for each submount)", opt, opt + 1);
    for (size_t i = 0; i < ARRAY_SIZE(mount_options); i++) {
        const struct mopt *o = &mount_options[i];
        if (strcmp(opt, o->name) != 0)
            continue;
        switch (o->kind) {
        case MOPT_SET: m->flags |= o->flag; break;
        case MOPT_CLEAR: m->flags &= ~o->flag; break;
        case MOPT_PROP: m->propagation = o->flag; break;
        case MOPT_BIND: m->bind = true; break;
        case MOPT_RBIND: m->bind = m->recursive = true; break;
        case MOPT_IGNORE: break;
        case MOPT_REFUSE: return oci_bad(x, path, "'%s' is not supported (%s)", opt, o->why);
        }
        return 0;
    }
    /* the file system's own option ("mode=755", "size=65536k", "newinstance") */
    return add_data(x, &m->data, opt, path);
}

/* DST is the mount (offset 0). */
static int f_options(struct oci_ctx *x, json_object *v, const char *path, void *dst)
{
    struct oci_mount *m = dst;
    int r = oci_need_array(x, v, path, "strings");
    size_t n = r < 0 ? 0 : json_object_array_length(v);
    for (size_t i = 0; i < n; i++) {
        char p[OCI_PATH_MAX];
        const char *opt;
        oci_path_index(p, path, i);
        if ((r = oci_get_string(x, json_object_array_get_idx(v, i), p, &opt)) < 0 ||
            (r = parse_option(x, m, opt, p)) < 0)
            return r;
    }
    return r;
}

static int f_destination(struct oci_ctx *x, json_object *v, const char *path, void *dst)
{
    const char *s;
    int r = oci_get_string(x, v, path, &s);
    if (r < 0)
        return r;
    if (!*s)
        return oci_bad(x, path, "empty (expected an absolute path inside the container)");
    /* runtime-spec 1.1 allows a relative destination (deprecated): it is
     * taken against the container's "/" (oci_clean_path does) */
    char *clean = oci_clean_path(s);
    if (!clean)
        return ab_fail(x->err, ENOMEM, "%s: %s", x->what, path);
    free(*(char **)dst);
    *(char **)dst = clean;
    return 0;
}

static int f_mount_idmap(struct oci_ctx *x, json_object *v, const char *path, void *dst)
{
    if (oci_json_empty(v))
        return 0;
    return oci_bad(x, path, "not supported (ID-mapped mounts: expected no mappings on a mount)");
}

#define MO(m) offsetof(struct oci_mount, m)

static const struct oci_field mount_fields[] = {
    { "destination", f_destination, MO(destination), OCI_REQUIRED },
    { "type", oci_f_string, MO(type), 0 },
    { "source", oci_f_string, MO(source), 0 },
    { "options", f_options, 0, 0 },
    { "uidMappings", f_mount_idmap, 0, 0 },
    { "gidMappings", f_mount_idmap, 0, 0 },
};

/* A bind: its type is "bind" whatever config.json said, and a relative
 * source is the bundle's. */
static int finish_mount(struct oci_ctx *x, struct oci_mount *m, const char *path)
{
    char p[OCI_PATH_MAX];
    if (m->type && strcmp(m->type, "bind") == 0)
        m->bind = true;
    if (!m->bind) {
        if (!m->type || !*m->type)
            return oci_bad(x, oci_path_key(p, path, "type"),
                           "missing (expected a file system type, or bind/rbind in options)");
        return 0;
    }
    if (oci_set_string(x, &m->type, "bind") < 0)
        return -ENOMEM;
    if (!m->source || !*m->source)
        return oci_bad(x, oci_path_key(p, path, "source"), "missing (required for a bind mount)");
    if (m->source[0] != '/' && x->bundle) {
        char *abs;
        if (asprintf(&abs, "%s/%s", x->bundle, m->source) < 0)
            return ab_fail(x->err, ENOMEM, "%s: %s", x->what, path);
        free(m->source);
        m->source = abs;
    }
    return 0;
}

int oci_parse_mounts(struct oci_ctx *x, json_object *v, const char *path)
{
    struct spec_oci *o = &x->cfg->oci;
    size_t n;
    int r = oci_array_alloc(x, v, path, "objects", sizeof(*o->mounts), (void **)&o->mounts, &o->n_mounts, &n);
    if (r < 0)
        return r;
    for (size_t i = 0; i < n; i++) {
        char p[OCI_PATH_MAX];
        struct oci_mount *m = &o->mounts[i];
        oci_path_index(p, path, i);
        o->n_mounts++;   /* counted first: a half-filled entry is freed with the rest */
        if ((r = oci_walk(x, json_object_array_get_idx(v, i), p, mount_fields, ARRAY_SIZE(mount_fields), m)) < 0 ||
            (r = finish_mount(x, m, p)) < 0)
            return r;
    }
    return 0;
}
