/* config.json's "process" (and `exec --process`'s bare process object):
 * the command, its environment and directory, its ids, capabilities,
 * rlimits and the rest of what the runtime applies before the exec. */
#include "oci/config_internal.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "util/cleanup.h"

const char *const oci_cap_names[] = {
    "CAP_CHOWN",            "CAP_DAC_OVERRIDE",   "CAP_DAC_READ_SEARCH", "CAP_FOWNER",
    "CAP_FSETID",           "CAP_KILL",           "CAP_SETGID",          "CAP_SETUID",
    "CAP_SETPCAP",          "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",        "CAP_NET_RAW",        "CAP_IPC_LOCK",        "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",       "CAP_SYS_RAWIO",      "CAP_SYS_CHROOT",      "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",        "CAP_SYS_ADMIN",      "CAP_SYS_BOOT",        "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",     "CAP_SYS_TIME",       "CAP_SYS_TTY_CONFIG",  "CAP_MKNOD",
    "CAP_LEASE",            "CAP_AUDIT_WRITE",    "CAP_AUDIT_CONTROL",   "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",     "CAP_MAC_ADMIN",      "CAP_SYSLOG",          "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",    "CAP_AUDIT_READ",     "CAP_PERFMON",         "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE", NULL,
};

int oci_cap_from_name(const char *name)
{
    for (int i = 0; oci_cap_names[i]; i++)
        if (strcmp(oci_cap_names[i], name) == 0)
            return i;
    return -1;
}

static const struct {
    const char *name;
    int resource;
} rlimit_names[] = {
    { "RLIMIT_CPU", RLIMIT_CPU },         { "RLIMIT_FSIZE", RLIMIT_FSIZE },
    { "RLIMIT_DATA", RLIMIT_DATA },       { "RLIMIT_STACK", RLIMIT_STACK },
    { "RLIMIT_CORE", RLIMIT_CORE },       { "RLIMIT_RSS", RLIMIT_RSS },
    { "RLIMIT_NPROC", RLIMIT_NPROC },     { "RLIMIT_NOFILE", RLIMIT_NOFILE },
    { "RLIMIT_MEMLOCK", RLIMIT_MEMLOCK }, { "RLIMIT_AS", RLIMIT_AS },
    { "RLIMIT_LOCKS", RLIMIT_LOCKS },     { "RLIMIT_SIGPENDING", RLIMIT_SIGPENDING },
    { "RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE }, { "RLIMIT_NICE", RLIMIT_NICE },
    { "RLIMIT_RTPRIO", RLIMIT_RTPRIO },   { "RLIMIT_RTTIME", RLIMIT_RTTIME },
};

static int f_console_size(struct oci_ctx *x, json_object *v, const char *path, void *dst)
{
    static const char *const keys[] = { "height", "width" };
    unsigned short *out[] = { &x->cfg->oci.console_height, &x->cfg->oci.console_width };
    int r = oci_need_object(x, v, path);
    for (size_t i = 0; r == 0 && i < ARRAY_SIZE(keys); i++) {
        char p[OCI_PATH_MAX];
        uint64_t n = 0;
        json_object *e = json_object_object_get(v, keys[i]);
        oci_path_key(p, path, keys[i]);
        if (!e)
            continue;   /* runc takes a missing one as 0 */
        if ((r = oci_get_u64(x, e, p, USHRT_MAX, &n)) == 0)
            *out[i] = (unsigned short)n;
    }
    return r;
}

static int f_id(struct oci_ctx *x, json_object *v, const char *path, void *dst)
{
    uint64_t n = 0;
    /* (uid_t)-1 means "unchanged" to setresuid(2): never an id */
    int r = oci_get_u64(x, v, path, UINT32_MAX - 1, &n);
    if (r == 0)
        *(uint32_t *)dst = (uint32_t)n;
    return r;
}

static int f_uid(struct oci_ctx *x, json_object *v, const char *path, void *dst)
{
    struct spec_process *p = &x->cfg->spec.process;
    int r = f_id(x, v, path, &p->uid);
    p->user.uid = p->uid;
    return r;
}

static int f_umask(struct oci_ctx *x, json_object *v, const char *path, void *dst)
{
    uint64_t n = 0;
    int r = oci_get_u64(x, v, path, 0777, &n);
    if (r == 0) {
        x->cfg->oci.umask = (mode_t)n;
        x->cfg->oci.umask_set = true;
    }
    return r;
}

static int f_additional_gids(struct oci_ctx *x, json_object *v, const char *path, void *dst)
{
    struct spec_oci *o = &x->cfg->oci;
    size_t n;
    int r = oci_array_alloc(x, v, path, "group ids", sizeof(gid_t), (void **)&o->additional_gids,
                            &o->n_additional_gids, &n);
    if (r < 0)
        return r;
    for (size_t i = 0; i < n; i++) {
        char p[OCI_PATH_MAX];
        if ((r = f_id(x, json_object_array_get_idx(v, i), oci_path_index(p, path, i), &o->additional_gids[i])) < 0)
            return r;
        o->n_additional_gids++;
    }
    return 0;
}

static const struct oci_field user_fields[] = {
    { "uid", f_uid, 0, 0 },
    { "gid", f_id, OCI_OFF(spec.process.user.gid), 0 },
    { "umask", f_umask, 0, 0 },
    { "additionalGids", f_additional_gids, 0, 0 },
    { "username", oci_f_ignore, 0, 0 },   /* Windows only */
};

static int f_user(struct oci_ctx *x, json_object *v, const char *path, void *dst)
{
    return oci_walk(x, v, path, user_fields, ARRAY_SIZE(user_fields), NULL);
}

static int f_args(struct oci_ctx *x, json_object *v, const char *path, void *dst)
{
    strv *argv = dst;
    int r = oci_get_strv(x, v, path, argv);
    if (r == 0 && argv->n == 0)
        return oci_bad(x, path, "empty (expected the command and its arguments)");
    return r;
}

static int f_env(struct oci_ctx *x, json_object *v, const char *path, void *dst)
{
    strv *env = dst;
    int r = oci_get_strv(x, v, path, env);
    for (size_t i = 0; r == 0 && i < env->n; i++) {
        const char *eq = strchr(env->v[i], '=');
        char p[OCI_PATH_MAX];
        if (!eq || eq == env->v[i])
            return oci_bad(x, oci_path_index(p, path, i), "'%s' is not a variable (expected NAME=VALUE)",
                           env->v[i]);
    }
    return r;
}

static int f_cap_set(struct oci_ctx *x, json_object *v, const char *path, void *dst)
{
    uint64_t *set = dst;
    int r = oci_need_array(x, v, path, "capability names");
    if (r < 0)
        return r;
    *set = 0;
    size_t n = json_object_array_length(v);
    for (size_t i = 0; i < n; i++) {
        char p[OCI_PATH_MAX];
        const char *name;
        oci_path_index(p, path, i);
        if ((r = oci_get_string(x, json_object_array_get_idx(v, i), p, &name)) < 0)
            return r;
        int cap = oci_cap_from_name(name);
        if (cap < 0)
            return oci_bad(x, p, "'%s' is not a capability (expected CAP_CHOWN ... CAP_CHECKPOINT_RESTORE, "
                           "as capabilities(7) names them)", name);
        *set |= 1ULL << cap;
    }
    return 0;
}

static const struct oci_field cap_fields[] = {
    { "bounding", f_cap_set, OCI_OFF(oci.cap_bounding), 0 },
    { "effective", f_cap_set, OCI_OFF(oci.cap_effective), 0 },
    { "inheritable", f_cap_set, OCI_OFF(oci.cap_inheritable), 0 },
    { "permitted", f_cap_set, OCI_OFF(oci.cap_permitted), 0 },
    { "ambient", f_cap_set, OCI_OFF(oci.cap_ambient), 0 },
};

static int f_capabilities(struct oci_ctx *x, json_object *v, const char *path, void *dst)
{
    return oci_walk(x, v, path, cap_fields, ARRAY_SIZE(cap_fields), NULL);
}

static int f_rlimit_type(struct oci_ctx *x, json_object *v, const char *path, void *dst)
{
    const char *name;
    int r = oci_get_string(x, v, path, &name);
    if (r < 0)
        return r;
    for (size_t i = 0; i < ARRAY_SIZE(rlimit_names); i++)
        if (strcmp(rlimit_names[i].name, name) == 0) {
            *(int *)dst = rlimit_names[i].resource;
            return 0;
        }
    return oci_bad(x, path, "'%s' is not a resource limit (expected RLIMIT_CPU, RLIMIT_NOFILE, RLIMIT_NPROC, ... "
                   "as getrlimit(2) names them)", name);
}

static int f_rlimit_value(struct oci_ctx *x, json_object *v, const char *path, void *dst)
{
    return oci_get_u64(x, v, path, UINT64_MAX, dst);
}

/* Rows of one rlimit: DST is the struct oci_rlimit being filled, so the
 * offsets are into it (see f_rlimits). */
static const struct oci_field rlimit_fields[] = {
    { "type", f_rlimit_type, offsetof(struct oci_rlimit, resource), OCI_REQUIRED },
    { "soft", f_rlimit_value, offsetof(struct oci_rlimit, soft), OCI_REQUIRED },
    { "hard", f_rlimit_value, offsetof(struct oci_rlimit, hard), OCI_REQUIRED },
};

static const char *rlimit_name(int resource)
{
    for (size_t i = 0; i < ARRAY_SIZE(rlimit_names); i++)
        if (rlimit_names[i].resource == resource)
            return rlimit_names[i].name;
    return "?";
}

static int f_rlimits(struct oci_ctx *x, json_object *v, const char *path, void *dst)
{
    struct spec_oci *o = &x->cfg->oci;
    size_t n;
    int r = oci_array_alloc(x, v, path, "objects", sizeof(*o->rlimits), (void **)&o->rlimits, &o->n_rlimits, &n);
    if (r < 0)
        return r;
    for (size_t i = 0; i < n; i++) {
        char p[OCI_PATH_MAX];
        struct oci_rlimit *l = &o->rlimits[i];
        json_object *e = json_object_array_get_idx(v, i);
        oci_path_index(p, path, i);
        if ((r = oci_need_object(x, e, p)) < 0)
            return r;
        /* the rows' offsets are into the rlimit */
        if ((r = oci_walk(x, e, p, rlimit_fields, ARRAY_SIZE(rlimit_fields), l)) < 0)
            return r;
        if (l->soft > l->hard)
            return oci_bad(x, p, "soft limit %llu is above hard limit %llu (expected soft <= hard)",
                           (unsigned long long)l->soft, (unsigned long long)l->hard);
        for (size_t j = 0; j < i; j++)
            if (o->rlimits[j].resource == l->resource)
                return oci_bad(x, p, "'%s' is given twice (expected each type once)", rlimit_name(l->resource));
        o->n_rlimits++;
    }
    return 0;
}

static int f_oom_score_adj(struct oci_ctx *x, json_object *v, const char *path, void *dst)
{
    int64_t n = 0;
    int r = oci_get_i64(x, v, path, -1000, 1000, &n);
    if (r == 0) {
        x->cfg->oci.oom_score_adj = (int)n;
        x->cfg->oci.oom_score_adj_set = true;
    }
    return r;
}

/* A string of NAMES (index = value) into *OUT; else an error listing them. */
static int get_name(struct oci_ctx *x, json_object *v, const char *path, const char *const *names, size_t n,
                    int *out)
{
    const char *s;
    int r = oci_get_string(x, v, path, &s);
    if (r < 0)
        return r;
    char list[256] = "";
    for (size_t i = 0; i < n; i++) {
        if (!names[i])
            continue;
        if (strcmp(s, names[i]) == 0) {
            *out = (int)i;
            return 0;
        }
        snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s", *list ? ", " : "", names[i]);
    }
    return oci_bad(x, path, "'%s' is not one of %s", s, list);
}

static const char *const sched_policies[] = { "SCHED_OTHER", "SCHED_FIFO", "SCHED_RR", "SCHED_BATCH",
                                              "SCHED_ISO",   "SCHED_IDLE", "SCHED_DEADLINE" };
static const char *const sched_flag_names[] = { "SCHED_FLAG_RESET_ON_FORK", "SCHED_FLAG_RECLAIM",
                                                "SCHED_FLAG_DL_OVERRUN",    "SCHED_FLAG_KEEP_POLICY",
                                                "SCHED_FLAG_KEEP_PARAMS",   "SCHED_FLAG_UTIL_CLAMP_MIN",
                                                "SCHED_FLAG_UTIL_CLAMP_MAX" };

/* The rows of process.scheduler and process.ioPriority write into
 * struct spec_oci (oci_walk's base). */
static int f_sched_policy(struct oci_ctx *x, json_object *v, const char *path, void *dst)
{
    int n = 0;
    int r = get_name(x, v, path, sched_policies, ARRAY_SIZE(sched_policies), &n);
    *(uint32_t *)dst = (uint32_t)n;
    return r;
}

static int f_sched_nice(struct oci_ctx *x, json_object *v, const char *path, void *dst)
{
    int64_t n = 0;
    int r = oci_get_i64(x, v, path, -20, 19, &n);
    *(int32_t *)dst = (int32_t)n;
    return r;
}

static int f_sched_priority(struct oci_ctx *x, json_object *v, const char *path, void *dst)
{
    uint64_t n = 0;
    int r = oci_get_u64(x, v, path, 99, &n);
    *(uint32_t *)dst = (uint32_t)n;
    return r;
}

static int f_u64(struct oci_ctx *x, json_object *v, const char *path, void *dst)
{
    return oci_get_u64(x, v, path, UINT64_MAX, dst);
}

static int f_sched_flags(struct oci_ctx *x, json_object *v, const char *path, void *dst)
{
    int r = oci_need_array(x, v, path, "strings");
    for (size_t i = 0; r == 0 && i < json_object_array_length(v); i++) {
        char p[OCI_PATH_MAX];
        int bit = 0;
        r = get_name(x, json_object_array_get_idx(v, i), oci_path_index(p, path, i), sched_flag_names,
                     ARRAY_SIZE(sched_flag_names), &bit);
        *(uint64_t *)dst |= 1ULL << bit;
    }
    return r;
}

static const struct oci_field scheduler_fields[] = {
    { "policy", f_sched_policy, offsetof(struct spec_oci, sched_policy), OCI_REQUIRED },
    { "nice", f_sched_nice, offsetof(struct spec_oci, sched_nice), 0 },
    { "priority", f_sched_priority, offsetof(struct spec_oci, sched_priority), 0 },
    { "flags", f_sched_flags, offsetof(struct spec_oci, sched_flags), 0 },
    { "runtime", f_u64, offsetof(struct spec_oci, sched_runtime), 0 },
    { "deadline", f_u64, offsetof(struct spec_oci, sched_deadline), 0 },
    { "period", f_u64, offsetof(struct spec_oci, sched_period), 0 },
};

static const char *const ioprio_classes[] = { NULL, "IOPRIO_CLASS_RT", "IOPRIO_CLASS_BE", "IOPRIO_CLASS_IDLE" };

static int f_ioprio_class(struct oci_ctx *x, json_object *v, const char *path, void *dst)
{
    return get_name(x, v, path, ioprio_classes, ARRAY_SIZE(ioprio_classes), dst);
}

static int f_ioprio_level(struct oci_ctx *x, json_object *v, const char *path, void *dst)
{
    uint64_t n = 0;
    int r = oci_get_u64(x, v, path, 7, &n);
    *(int *)dst = (int)n;
    return r;
}

static const struct oci_field io_priority_fields[] = {
    { "class", f_ioprio_class, offsetof(struct spec_oci, ioprio_class), OCI_REQUIRED },
    { "priority", f_ioprio_level, offsetof(struct spec_oci, ioprio_level), 0 },
};

static int f_scheduler(struct oci_ctx *x, json_object *v, const char *path, void *dst)
{
    struct spec_oci *o = &x->cfg->oci;
    if (oci_json_empty(v))
        return 0;
    int r = oci_walk(x, v, path, scheduler_fields, ARRAY_SIZE(scheduler_fields), o);
    o->sched_set = r == 0;
    return r;
}

static int f_io_priority(struct oci_ctx *x, json_object *v, const char *path, void *dst)
{
    struct spec_oci *o = &x->cfg->oci;
    if (oci_json_empty(v))
        return 0;
    int r = oci_walk(x, v, path, io_priority_fields, ARRAY_SIZE(io_priority_fields), o);
    o->ioprio_set = r == 0;
    return r;
}

static const struct oci_field process_fields[] = {
    { "terminal", oci_f_bool, OCI_OFF(spec.process.terminal), 0 },
    { "consoleSize", f_console_size, 0, 0 },
    { "user", f_user, 0, 0 },
    { "args", f_args, OCI_OFF(spec.process.argv), OCI_REQUIRED },
    { "commandLine", oci_f_ignore, 0, 0 },   /* Windows only */
    { "env", f_env, OCI_OFF(spec.process.env), 0 },
    { "cwd", oci_f_abs, OCI_OFF(spec.process.cwd), OCI_REQUIRED },
    { "capabilities", f_capabilities, 0, 0 },
    { "rlimits", f_rlimits, 0, 0 },
    { "noNewPrivileges", oci_f_bool, OCI_OFF(oci.no_new_privileges), 0 },
    { "oomScoreAdj", f_oom_score_adj, 0, 0 },
    { "apparmorProfile", oci_f_string, OCI_OFF(oci.apparmor_profile), 0 },
    { "selinuxLabel", oci_f_string, OCI_OFF(oci.selinux_label), 0 },
    { "scheduler", f_scheduler, 0, 0 },
    { "ioPriority", f_io_priority, 0, 0 },
    /* runtime-spec 1.2's execCPUAffinity: nothing applies it yet */
    { "execCPUAffinity", oci_f_refuse, 0, 0 },
};

/* The process part of CFG back to what a config.json without "process"
 * gives: no command, uid and gid 0, no capabilities, rlimits or flags. */
void oci_process_reset(struct oci_config *cfg)
{
    struct spec_oci *o = &cfg->oci;
    spec_process_free(&cfg->spec.process);
    /* the OCI filter (linux.seccomp) is the runtime's, not appbox's */
    cfg->spec.process.seccomp = false;
    /* OCI ids are numbers as given, never the caller's */
    cfg->spec.process.uid_set = true;
    free(o->additional_gids);
    free(o->rlimits);
    free(o->apparmor_profile);
    free(o->selinux_label);
    o->additional_gids = NULL;
    o->n_additional_gids = 0;
    o->umask_set = false;
    o->umask = 0;
    o->cap_bounding = o->cap_effective = o->cap_inheritable = o->cap_permitted = o->cap_ambient = 0;
    o->no_new_privileges = false;
    o->rlimits = NULL;
    o->n_rlimits = 0;
    o->oom_score_adj_set = false;
    o->oom_score_adj = 0;
    o->console_width = o->console_height = 0;
    o->sched_set = o->ioprio_set = false;
    o->sched_policy = o->sched_priority = 0;
    o->sched_nice = 0;
    o->sched_flags = o->sched_runtime = o->sched_deadline = o->sched_period = 0;
    o->ioprio_class = o->ioprio_level = 0;
    o->apparmor_profile = NULL;
    o->selinux_label = NULL;
}

int oci_parse_process(struct oci_ctx *x, json_object *v, const char *path)
{
    oci_process_reset(x->cfg);
    return oci_walk(x, v, path, process_fields, ARRAY_SIZE(process_fields), NULL);
}
