#include "spec/spec_json.h"

#include <errno.h>
#include <json-c/json.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "cgroup/cgroup.h"
#include "util/cleanup.h"

#define SPEC_JSON_VERSION 1

enum field_type { F_STRING, F_BOOL, F_INT, F_U64, F_STRV, F_NET, F_SOUND };

struct field {
    const char *key;
    enum field_type type;
    size_t offset;   /* in struct spec */
};

#define C(m) offsetof(struct spec, container.m)
#define P(m) offsetof(struct spec, process.m)
#define U(m) offsetof(struct spec, process.user.m)

/* The container part, the process part, and the resolved user: every
 * plain field of the spec is one row.  Adding a field is adding a row. */
static const struct field container_fields[] = {
    { "root", F_STRING, C(root) },
    { "rootOrigin", F_STRING, C(root_origin) },
    { "rootWritable", F_BOOL, C(writable) },
    { "rootLower", F_STRING, C(root_lower) },
    { "network", F_NET, C(net) },
    { "networkName", F_STRING, C(network.name) },
    { "networkInterface", F_STRING, C(network.iface) },
    { "networkSubnet", F_STRING, C(network.subnet) },
    { "networkAddress", F_STRING, C(network.address) },
    { "networkAllowHostLoopback", F_BOOL, C(network.allow_host_loopback) },
    { "networkAllow", F_STRV, C(network.allow) },
    { "networkPublish", F_STRV, C(network.publish) },
    { "networkLinks", F_STRV, C(network.links) },
    { "networkBackend", F_INT, C(network.backend) },
    { "networkAddr", F_STRING, C(network.addr) },
    { "networkGateway", F_STRING, C(network.gateway) },
    { "networkBridge", F_STRING, C(network.bridge) },
    { "networkHostVeth", F_STRING, C(network.host_veth) },
    { "networkDns", F_STRING, C(network.dns) },
    { "networkHosts", F_STRING, C(network.hosts) },
    { "networkDir", F_STRING, C(network.dir) },
    { "hostname", F_STRING, C(hostname) },
    { "maskedPaths", F_STRV, C(masked_paths) },
    { "readonlyPaths", F_STRV, C(readonly_paths) },
    { "devices", F_STRV, C(devices) },
    { "init", F_INT, C(init) },
    { "stopSignal", F_INT, C(stop_signal) },
    { "tmpfsSize", F_U64, C(tmpfs_size) },
    { "pidsLimit", F_U64, C(pids_limit) },
    { "memory", F_U64, C(resources.memory) },
    { "memorySwap", F_U64, C(resources.memory_swap) },
    { "cpuQuota", F_INT, C(resources.cpu_quota) },
    { "cpuWeight", F_INT, C(resources.cpu_weight) },
    { "ioWeight", F_INT, C(resources.io_weight) },
    { "restart", F_INT, C(restart) },
    { "logSize", F_U64, C(log_size) },
    { "gpu", F_INT, C(gpu) },
    { "webcam", F_BOOL, C(webcam) },
    { "cgroups", F_STRV, C(cgroups) },
    { "pidsCgroup", F_BOOL, C(pids_cgroup) },
    { "sound", F_SOUND, C(sound) },
    { "microphone", F_BOOL, C(microphone) },
    { "soundServer", F_STRING, C(sound_server) },
    { "soundCookie", F_STRING, C(sound_cookie) },
    { "soundDir", F_STRING, C(sound_dir) },
    { "soundDirDev", F_U64, C(sound_dir_dev) },
    { "soundDirIno", F_U64, C(sound_dir_ino) },
    { "resolved", F_BOOL, C(resolved) },
    { "namespaces", F_U64, C(namespaces) },
    { "display", F_INT, C(display.mode) },
    { "displayWidth", F_INT, C(display.width) },
    { "displayHeight", F_INT, C(display.height) },
    { "displayHostNumber", F_INT, C(display.host_number) },
    { "displayHost", F_STRING, C(display.host_display) },
    { "displayHostAuth", F_STRING, C(display.host_auth) },
    { "displayDir", F_STRING, C(display.dir) },
    { "noHostFiles", F_BOOL, C(no_host_files) },
};

static const struct field process_fields[] = {
    { "args", F_STRV, P(argv) },
    { "env", F_STRV, P(env) },
    { "cwd", F_STRING, P(cwd) },
    { "uidSet", F_BOOL, P(uid_set) },
    { "uid", F_INT, P(uid) },
    { "capAdd", F_U64, P(cap_add) },
    { "capDrop", F_U64, P(cap_drop) },
    { "capDropAll", F_BOOL, P(cap_drop_all) },
    { "seccomp", F_BOOL, P(seccomp) },
    { "ioUring", F_BOOL, P(io_uring) },   /* store_setid is never written: appbox's own runs only */
    { "terminal", F_BOOL, P(terminal) },
};

static const struct field user_fields[] = {
    { "callerUid", F_INT, U(caller_uid) },
    { "callerGid", F_INT, U(caller_gid) },
    { "callerName", F_STRING, U(caller_name) },   /* char arrays: see the array test below */
    { "uid", F_INT, U(uid) },
    { "gid", F_INT, U(gid) },
    { "name", F_STRING, U(name) },
    { "group", F_STRING, U(group) },
    { "home", F_STRING, U(home) },
    { "shell", F_STRING, U(shell) },
};

/* struct spec_user keeps its strings in arrays, the rest are pointers. */
static size_t array_size(size_t offset)
{
    if (offset == U(caller_name))
        return sizeof(((struct spec_user *)0)->caller_name);
    if (offset == U(name))
        return sizeof(((struct spec_user *)0)->name);
    if (offset == U(group))
        return sizeof(((struct spec_user *)0)->group);
    if (offset == U(home))
        return sizeof(((struct spec_user *)0)->home);
    if (offset == U(shell))
        return sizeof(((struct spec_user *)0)->shell);
    return 0;
}

static void *at(const struct spec *s, size_t offset)
{
    return (char *)s + offset;
}

static json_object *strv_to_json(const strv *v)
{
    json_object *a = json_object_new_array();
    for (size_t i = 0; a && i < v->n; i++)
        json_object_array_add(a, json_object_new_string(v->v[i]));
    return a;
}

static void write_fields(json_object *o, const struct spec *s, const struct field *f, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        void *p = at(s, f[i].offset);
        json_object *v = NULL;
        switch (f[i].type) {
        case F_STRING: {
            const char *str = array_size(f[i].offset) ? (const char *)p : *(char **)p;
            v = str ? json_object_new_string(str) : NULL;
            break;
        }
        case F_BOOL: v = json_object_new_boolean(*(bool *)p); break;
        case F_INT: v = json_object_new_int64(*(int *)p); break;
        case F_U64: v = json_object_new_uint64(*(uint64_t *)p); break;
        case F_STRV: v = strv_to_json(p); break;
        case F_NET: v = json_object_new_string(net_mode_name(*(enum net_mode *)p)); break;
        case F_SOUND: v = json_object_new_string(sound_mode_name(*(enum sound_mode *)p)); break;
        }
        json_object_object_add(o, f[i].key, v);
    }
}

static const struct {
    unsigned bit;
    const char *name;
} mount_option_names[] = {
    { MOUNT_RO, "ro" }, { MOUNT_NOSUID, "nosuid" }, { MOUNT_NODEV, "nodev" }, { MOUNT_NOEXEC, "noexec" },
};

static json_object *mount_to_json(const struct spec_mount *m)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "type", json_object_new_string(m->type == MOUNT_TYPE_TMPFS ? "tmpfs" : "bind"));
    json_object_object_add(o, "source", m->source ? json_object_new_string(m->source) : NULL);
    json_object_object_add(o, "destination", json_object_new_string(m->destination));
    json_object *opts = json_object_new_array();
    if (m->type == MOUNT_TYPE_BIND)
        json_object_array_add(opts, json_object_new_string(m->options & MOUNT_RECURSIVE ? "rbind" : "bind"));
    for (size_t i = 0; i < ARRAY_SIZE(mount_option_names); i++)
        if (m->options & mount_option_names[i].bit)
            json_object_array_add(opts, json_object_new_string(mount_option_names[i].name));
    if (m->data)
        json_object_array_add(opts, json_object_new_string(m->data));
    json_object_object_add(o, "options", opts);
    if (m->origin)
        json_object_object_add(o, "origin", json_object_new_string(m->origin));
    if (m->given)
        json_object_object_add(o, "sourceGiven", json_object_new_string(m->given));
    if (m->dev_access) {
        char acc[4];
        json_object_object_add(o, "access", json_object_new_string(cgroup_access_name(m->dev_access, acc)));
    }
    if (m->ino || m->dev) {
        json_object_object_add(o, "dev", json_object_new_uint64((uint64_t)m->dev));
        json_object_object_add(o, "ino", json_object_new_uint64((uint64_t)m->ino));
    }
    return o;
}

static json_object *idmap_to_json(const struct spec_idmap *m)
{
    json_object *a = json_object_new_array();
    for (size_t i = 0; i < m->n; i++) {
        json_object *r = json_object_new_object();
        json_object_object_add(r, "containerID", json_object_new_uint64(m->r[i].inside));
        json_object_object_add(r, "hostID", json_object_new_uint64(m->r[i].outside));
        json_object_object_add(r, "size", json_object_new_uint64(m->r[i].count));
        json_object_array_add(a, r);
    }
    return a;
}

char *spec_to_json(const struct spec *s)
{
    json_object *o = json_object_new_object();
    if (!o)
        return NULL;
    json_object_object_add(o, "appboxSpecVersion", json_object_new_int(SPEC_JSON_VERSION));
    write_fields(o, s, container_fields, ARRAY_SIZE(container_fields));
    json_object *mounts = json_object_new_array();
    for (size_t i = 0; i < s->container.n_mounts; i++)
        json_object_array_add(mounts, mount_to_json(&s->container.mounts[i]));
    json_object_object_add(o, "mounts", mounts);
    json_object_object_add(o, "uidMappings", idmap_to_json(&s->container.uid_map));
    json_object_object_add(o, "gidMappings", idmap_to_json(&s->container.gid_map));
    json_object_object_add(o, "uidMappingsViaHelper", json_object_new_boolean(s->container.uid_map.via_helper));
    json_object_object_add(o, "gidMappingsViaHelper", json_object_new_boolean(s->container.gid_map.via_helper));
    json_object *proc = json_object_new_object();
    write_fields(proc, s, process_fields, ARRAY_SIZE(process_fields));
    json_object *user = json_object_new_object();
    write_fields(user, s, user_fields, ARRAY_SIZE(user_fields));
    json_object_object_add(proc, "user", user);
    json_object_object_add(o, "process", proc);
    const char *text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
    char *copy = text ? strdup(text) : NULL;
    json_object_put(o);
    return copy;
}

static int bad(ab_error *err, const char *where, const char *key, const char *what)
{
    return ab_error_set(err, AB_ERR_RUNTIME, 0, "%s: \"%s\": %s", where, key, what);
}

static int read_strv(json_object *v, strv *out, const char *where, const char *key, ab_error *err)
{
    if (!json_object_is_type(v, json_type_array))
        return bad(err, where, key, "expected an array of strings");
    strv_clear(out);
    for (size_t i = 0; i < json_object_array_length(v); i++) {
        json_object *e = json_object_array_get_idx(v, i);
        if (!json_object_is_type(e, json_type_string))
            return bad(err, where, key, "expected an array of strings");
        if (strv_push(out, json_object_get_string(e)) < 0)
            return ab_fail(err, ENOMEM, "%s", where);
    }
    return 0;
}

static int read_fields(json_object *o, struct spec *s, const struct field *f, size_t n, const char *where,
                       ab_error *err)
{
    for (size_t i = 0; i < n; i++) {
        json_object *v;
        if (!json_object_object_get_ex(o, f[i].key, &v) || !v)
            continue; /* absent or null: the default */
        void *p = at(s, f[i].offset);
        switch (f[i].type) {
        case F_STRING: {
            if (!json_object_is_type(v, json_type_string))
                return bad(err, where, f[i].key, "expected a string");
            const char *str = json_object_get_string(v);
            size_t size = array_size(f[i].offset);
            if (size) {
                if (strlen(str) >= size)
                    return bad(err, where, f[i].key, "too long");
                memcpy(p, str, strlen(str) + 1);
            } else {
                char *c = strdup(str);
                if (!c)
                    return ab_fail(err, ENOMEM, "%s", where);
                free(*(char **)p);
                *(char **)p = c;
            }
            break;
        }
        case F_BOOL:
            if (!json_object_is_type(v, json_type_boolean))
                return bad(err, where, f[i].key, "expected true or false");
            *(bool *)p = json_object_get_boolean(v);
            break;
        case F_INT:
            if (!json_object_is_type(v, json_type_int))
                return bad(err, where, f[i].key, "expected a number");
            *(int *)p = (int)json_object_get_int64(v);
            break;
        case F_U64:
            if (!json_object_is_type(v, json_type_int))
                return bad(err, where, f[i].key, "expected a number");
            *(uint64_t *)p = json_object_get_uint64(v);
            break;
        case F_STRV: {
            int r = read_strv(v, p, where, f[i].key, err);
            if (r < 0)
                return r;
            break;
        }
        case F_NET:
            if (!json_object_is_type(v, json_type_string) ||
                net_mode_from_name(json_object_get_string(v), (enum net_mode *)p) < 0)
                return bad(err, where, f[i].key, "not a network mode");
            break;
        case F_SOUND:
            if (!json_object_is_type(v, json_type_string) ||
                sound_mode_from_name(json_object_get_string(v), (enum sound_mode *)p) < 0)
                return bad(err, where, f[i].key, "not a sound mode");
            break;
        }
    }
    return 0;
}

static const char *get_string(json_object *o, const char *key)
{
    json_object *v;
    return json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string)
               ? json_object_get_string(v)
               : NULL;
}

static int read_mount(json_object *o, struct spec *s, const char *where, ab_error *err)
{
    const char *type = get_string(o, "type"), *dst = get_string(o, "destination");
    if (!type || !dst || (strcmp(type, "bind") != 0 && strcmp(type, "tmpfs") != 0))
        return bad(err, where, "mounts", "each needs a type (bind, tmpfs) and a destination");
    unsigned options = 0;
    const char *data = NULL;
    json_object *opts;
    if (json_object_object_get_ex(o, "options", &opts) && json_object_is_type(opts, json_type_array))
        for (size_t i = 0; i < json_object_array_length(opts); i++) {
            const char *opt = json_object_get_string(json_object_array_get_idx(opts, i));
            bool known = false;
            if (!opt)
                continue;
            if (strcmp(opt, "rbind") == 0) {
                options |= MOUNT_RECURSIVE;
                known = true;
            } else if (strcmp(opt, "bind") == 0) {
                known = true;
            }
            for (size_t k = 0; k < ARRAY_SIZE(mount_option_names); k++)
                if (strcmp(opt, mount_option_names[k].name) == 0) {
                    options |= mount_option_names[k].bit;
                    known = true;
                }
            if (!known)
                data = opt; /* file system data, such as mode=0755 */
        }
    enum mount_type t = strcmp(type, "tmpfs") == 0 ? MOUNT_TYPE_TMPFS : MOUNT_TYPE_BIND;
    if (spec_add_mount(s, t, get_string(o, "source"), dst, options, data, get_string(o, "origin")) < 0)
        return ab_fail(err, ENOMEM, "%s", where);
    struct spec_mount *m = &s->container.mounts[s->container.n_mounts - 1];
    const char *given = get_string(o, "sourceGiven");
    if (given && !(m->given = strdup(given)))
        return ab_fail(err, ENOMEM, "%s", where);
    const char *access = get_string(o, "access");
    if (access) {
        int a = cgroup_access_parse(access);
        if (a < 0)
            return bad(err, where, "access", "not device access letters (r, w, m)");
        m->dev_access = (unsigned)a;
    } else if (spec_mount_is_device(m)) {
        m->dev_access = DEV_ACCESS_ALL;
    }
    json_object *v;
    if (json_object_object_get_ex(o, "dev", &v) && v) {
        if (!json_object_is_type(v, json_type_int))
            return bad(err, where, "dev", "expected a number");
        m->dev = (dev_t)json_object_get_uint64(v);
    }
    if (json_object_object_get_ex(o, "ino", &v) && v) {
        if (!json_object_is_type(v, json_type_int))
            return bad(err, where, "ino", "expected a number");
        m->ino = (ino_t)json_object_get_uint64(v);
    }
    return 0;
}

static int read_idmap(json_object *o, const char *key, struct spec_idmap *m, const char *where, ab_error *err)
{
    json_object *a;
    memset(m, 0, sizeof(*m));
    if (!json_object_object_get_ex(o, key, &a) || !a)
        return 0;
    if (!json_object_is_type(a, json_type_array) || json_object_array_length(a) > SPEC_IDMAP_MAX_RANGES)
        return bad(err, where, key, "expected at most 4 ranges");
    for (size_t i = 0; i < json_object_array_length(a); i++) {
        json_object *r = json_object_array_get_idx(a, i), *in, *out, *count;
        if (!json_object_object_get_ex(r, "containerID", &in) || !json_object_object_get_ex(r, "hostID", &out) ||
            !json_object_object_get_ex(r, "size", &count))
            return bad(err, where, key, "each range needs containerID, hostID and size");
        m->r[i] = (struct spec_idmap_range){ (uint32_t)json_object_get_uint64(in),
                                             (uint32_t)json_object_get_uint64(out),
                                             (uint32_t)json_object_get_uint64(count) };
        m->n++;
    }
    return 0;
}

int spec_from_json(const char *text, const char *where, struct spec *out, ab_error *err)
{
    spec_init(out);
    /* The lists come whole from the file: it was written with them. */
    strv_clear(&out->container.masked_paths);
    strv_clear(&out->container.readonly_paths);
    strv_clear(&out->container.devices);
    enum json_tokener_error jerr;
    json_object *o = json_tokener_parse_verbose(text, &jerr);
    if (!o || !json_object_is_type(o, json_type_object)) {
        json_object_put(o);
        return ab_error_set(err, AB_ERR_RUNTIME, 0, "%s: not a spec (%s)", where,
                            o ? "not an object" : json_tokener_error_desc(jerr));
    }
    int r = 0;
    json_object *v;
    if (!json_object_object_get_ex(o, "appboxSpecVersion", &v) || json_object_get_int(v) != SPEC_JSON_VERSION)
        r = bad(err, where, "appboxSpecVersion", "written by another appbox version (restart the container)");
    if (r == 0)
        r = read_fields(o, out, container_fields, ARRAY_SIZE(container_fields), where, err);
    if (r == 0 && json_object_object_get_ex(o, "mounts", &v) && v) {
        if (!json_object_is_type(v, json_type_array))
            r = bad(err, where, "mounts", "expected an array");
        for (size_t i = 0; r == 0 && i < json_object_array_length(v); i++)
            r = read_mount(json_object_array_get_idx(v, i), out, where, err);
    }
    if (r == 0)
        r = read_idmap(o, "uidMappings", &out->container.uid_map, where, err);
    if (r == 0)
        r = read_idmap(o, "gidMappings", &out->container.gid_map, where, err);
    if (r == 0 && json_object_object_get_ex(o, "uidMappingsViaHelper", &v) && v)
        r = json_object_is_type(v, json_type_boolean) ? (out->container.uid_map.via_helper = json_object_get_boolean(v), 0)
                                                       : bad(err, where, "uidMappingsViaHelper", "expected true or false");
    if (r == 0 && json_object_object_get_ex(o, "gidMappingsViaHelper", &v) && v)
        r = json_object_is_type(v, json_type_boolean) ? (out->container.gid_map.via_helper = json_object_get_boolean(v), 0)
                                                       : bad(err, where, "gidMappingsViaHelper", "expected true or false");
    json_object *proc = NULL, *user = NULL;
    if (r == 0 && json_object_object_get_ex(o, "process", &proc) && proc) {
        r = json_object_is_type(proc, json_type_object)
                ? read_fields(proc, out, process_fields, ARRAY_SIZE(process_fields), where, err)
                : bad(err, where, "process", "expected an object");
        if (r == 0 && json_object_object_get_ex(proc, "user", &user) && user && !json_object_is_type(user, json_type_object))
            r = bad(err, where, "user", "expected an object");
        if (r == 0 && json_object_object_get_ex(proc, "user", &user) && user)
            r = read_fields(user, out, user_fields, ARRAY_SIZE(user_fields), where, err);
    }
    json_object_put(o);
    if (r < 0)
        spec_free(out);
    return r;
}
