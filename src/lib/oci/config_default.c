/* What `appbox-oci spec` writes (runc's default config.json, plain and
 * --rootless) and `appbox-oci features` (runtime-spec's features.json for
 * what the parser takes). */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oci/config.h"
#include "oci/config_internal.h"
#include "util/cleanup.h"

/* json-c's adds, for a parent that out of memory left NULL (json-c
 * asserts on it); a NULL child is written as null, which to_text refuses. */
static void add(json_object *o, const char *key, json_object *v)
{
    if (o)
        json_object_object_add(o, key, v);
    else
        json_object_put(v);
}

static void push(json_object *a, json_object *v)
{
    if (a)
        json_object_array_add(a, v);
    else
        json_object_put(v);
}

/* The array of the NULL-terminated LIST. */
static json_object *strings(const char *const *list)
{
    json_object *a = json_object_new_array();
    for (size_t i = 0; a && list[i]; i++)
        push(a, json_object_new_string(list[i]));
    return a;
}

static json_object *mount(const char *dst, const char *type, const char *src, const char *const *opts)
{
    json_object *m = json_object_new_object();
    add(m, "destination", json_object_new_string(dst));
    add(m, "type", json_object_new_string(type));
    add(m, "source", json_object_new_string(src));
    if (opts)
        add(m, "options", strings(opts));
    return m;
}

static json_object *idmap(uint32_t host)
{
    json_object *a = json_object_new_array(), *r = json_object_new_object();
    add(r, "containerID", json_object_new_int64(0));
    add(r, "hostID", json_object_new_int64(host));
    add(r, "size", json_object_new_int64(1));
    push(a, r);
    return a;
}

/* malloc'd text of O, indented with tabs as runc's, ending in a newline;
 * NULL when out of memory left a part out (a null: no value of these
 * documents is null). */
static char *to_text(json_object *o)
{
    if (!o)
        return NULL;
    const char *s = json_object_to_json_string_ext(
        o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_PRETTY_TAB | JSON_C_TO_STRING_SPACED |
               JSON_C_TO_STRING_NOSLASHESCAPE);
    char *out = NULL;
    if (!s || strstr(s, "null") || asprintf(&out, "%s\n", s) < 0)
        return NULL;
    return out;
}

static const char *const default_caps[] = { "CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE", NULL };

static const char *const default_masked[] = {
    "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
    "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi", NULL,
};

static const char *const default_readonly[] = {
    "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger", NULL,
};

static json_object *default_process(void)
{
    static const char *const args[] = { "sh", NULL };
    static const char *const env[] = { "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                                       "TERM=xterm", NULL };
    json_object *p = json_object_new_object(), *user = json_object_new_object(), *caps = json_object_new_object();
    json_object *rl = json_object_new_object(), *rlimits = json_object_new_array();
    add(p, "terminal", json_object_new_boolean(1));
    add(user, "uid", json_object_new_int64(0));
    add(user, "gid", json_object_new_int64(0));
    add(p, "user", user);
    add(p, "args", strings(args));
    add(p, "env", strings(env));
    add(p, "cwd", json_object_new_string("/"));
    add(caps, "bounding", strings(default_caps));
    add(caps, "effective", strings(default_caps));
    add(caps, "permitted", strings(default_caps));
    add(caps, "ambient", strings(default_caps));
    add(p, "capabilities", caps);
    add(rl, "type", json_object_new_string("RLIMIT_NOFILE"));
    add(rl, "hard", json_object_new_int64(1024));
    add(rl, "soft", json_object_new_int64(1024));
    push(rlimits, rl);
    add(p, "rlimits", rlimits);
    add(p, "noNewPrivileges", json_object_new_boolean(1));
    return p;
}

static json_object *default_mounts(bool rootless)
{
    static const char *const dev[] = { "nosuid", "strictatime", "mode=755", "size=65536k", NULL };
    /* a user namespace has no group 5 of the host's: devpts refuses gid=5 */
    static const char *const pts[] = { "nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5",
                                       NULL };
    static const char *const pts_rootless[] = { "nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620",
                                                NULL };
    static const char *const shm[] = { "nosuid", "noexec", "nodev", "mode=1777", "size=65536k", NULL };
    static const char *const plain[] = { "nosuid", "noexec", "nodev", NULL };
    static const char *const ro[] = { "nosuid", "noexec", "nodev", "ro", NULL };
    /* sysfs needs a network namespace of the user namespace's own: a
     * rootless container has none, so it binds the host's /sys */
    static const char *const sys_rootless[] = { "rbind", "nosuid", "noexec", "nodev", "ro", NULL };
    static const char *const cgroup[] = { "nosuid", "noexec", "nodev", "relatime", "ro", NULL };
    json_object *m = json_object_new_array();
    push(m, mount("/proc", "proc", "proc", NULL));
    push(m, mount("/dev", "tmpfs", "tmpfs", dev));
    push(m, mount("/dev/pts", "devpts", "devpts", rootless ? pts_rootless : pts));
    push(m, mount("/dev/shm", "tmpfs", "shm", shm));
    push(m, mount("/dev/mqueue", "mqueue", "mqueue", plain));
    push(m, rootless ? mount("/sys", "none", "/sys", sys_rootless) : mount("/sys", "sysfs", "sysfs", ro));
    push(m, mount("/sys/fs/cgroup", "cgroup", "cgroup", cgroup));
    return m;
}

static json_object *default_linux(bool rootless, uid_t uid, gid_t gid)
{
    json_object *l = json_object_new_object(), *ns = json_object_new_array();
    if (rootless) {
        add(l, "uidMappings", idmap(uid));
        add(l, "gidMappings", idmap(gid));
    } else {
        json_object *res = json_object_new_object(), *devs = json_object_new_array(),
                    *deny = json_object_new_object();
        add(deny, "allow", json_object_new_boolean(0));
        add(deny, "access", json_object_new_string("rwm"));
        push(devs, deny);
        add(res, "devices", devs);
        add(l, "resources", res);
    }
    static const char *const plain_ns[] = { "pid", "network", "ipc", "uts", "mount", NULL };
    static const char *const rootless_ns[] = { "pid", "ipc", "uts", "mount", "user", NULL };
    for (const char *const *n = rootless ? rootless_ns : plain_ns; *n; n++) {
        json_object *e = json_object_new_object();
        add(e, "type", json_object_new_string(*n));
        push(ns, e);
    }
    add(l, "namespaces", ns);
    add(l, "maskedPaths", strings(default_masked));
    add(l, "readonlyPaths", strings(default_readonly));
    return l;
}

char *oci_default_config(bool rootless, uid_t uid, gid_t gid)
{
    json_object *c = json_object_new_object(), *root = json_object_new_object();
    add(root, "path", json_object_new_string("rootfs"));
    add(root, "readonly", json_object_new_boolean(1));
    add(c, "ociVersion", json_object_new_string("1.1.0"));
    add(c, "process", default_process());
    add(c, "root", root);
    add(c, "hostname", json_object_new_string("appbox"));
    add(c, "mounts", default_mounts(rootless));
    add(c, "linux", default_linux(rootless, uid, gid));
    char *text = to_text(c);
    json_object_put(c);
    return text;
}

/* features.json */

static json_object *enabled(bool on)
{
    json_object *o = json_object_new_object();
    add(o, "enabled", json_object_new_boolean(on));
    return o;
}

static json_object *features_linux(void)
{
    static const char *const ns[] = { "cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts", NULL };
    /* what oci/seccomp.c compiles (SCMP_ACT_NOTIFY is refused: no listener) */
    static const char *const actions[] = { "SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL",
                                           "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_LOG",
                                           "SCMP_ACT_TRACE", "SCMP_ACT_TRAP", NULL };
    static const char *const operators[] = { "SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_LE",
                                             "SCMP_CMP_LT", "SCMP_CMP_MASKED_EQ", "SCMP_CMP_NE", NULL };
    /* libseccomp 2.5's architectures */
    static const char *const archs[] = {
        "SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM", "SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64", "SCMP_ARCH_MIPS64N32",
        "SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64", "SCMP_ARCH_MIPSEL64N32", "SCMP_ARCH_PPC", "SCMP_ARCH_PPC64",
        "SCMP_ARCH_PPC64LE", "SCMP_ARCH_RISCV64", "SCMP_ARCH_S390", "SCMP_ARCH_S390X", "SCMP_ARCH_X32",
        "SCMP_ARCH_X86", "SCMP_ARCH_X86_64", NULL,
    };
    json_object *l = json_object_new_object(), *cg = json_object_new_object(), *sc = enabled(true);
    json_object *ext = json_object_new_object();
    add(l, "namespaces", strings(ns));
    add(l, "capabilities", strings(oci_cap_names));
    add(cg, "v1", json_object_new_boolean(1));
    add(cg, "v2", json_object_new_boolean(1));
    add(cg, "systemd", json_object_new_boolean(0));
    add(cg, "systemdUser", json_object_new_boolean(0));
    add(l, "cgroup", cg);
    add(sc, "actions", strings(actions));
    add(sc, "operators", strings(operators));
    add(sc, "archs", strings(archs));
    add(l, "seccomp", sc);
    add(l, "apparmor", enabled(false));
    add(l, "selinux", enabled(false));
    add(l, "intelRdt", enabled(false));
    add(ext, "idmap", enabled(false));
    add(l, "mountExtensions", ext);
    return l;
}

char *oci_features_json(void)
{
    static const char *const hooks[] = { "prestart", "createRuntime", "createContainer", "startContainer",
                                         "poststart", "poststop", NULL };
    json_object *f = json_object_new_object(), *ann = json_object_new_object();
    add(f, "ociVersionMin", json_object_new_string("1.0.0"));
    add(f, "ociVersionMax", json_object_new_string("1.1.0"));
    add(f, "hooks", strings(hooks));
    add(f, "mountOptions", strings(oci_mount_option_names));
    add(f, "linux", features_linux());
    add(ann, "io.github.appbox.version", json_object_new_string(APPBOX_VERSION));
    add(f, "annotations", ann);
    char *text = to_text(f);
    json_object_put(f);
    return text;
}
