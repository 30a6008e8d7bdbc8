/* linux.seccomp of config.json, compiled with libseccomp when the
 * container is created (the profile is the caller's: podman's default, a
 * Kubernetes seccompProfile) and kept as the classic BPF program it
 * becomes, so that the container's PID 1 only has to hand it to seccomp(2)
 * before exec.  The rules follow runc's (libcontainer/seccomp): the native
 * architecture stays in the filter beside the listed ones, unknown syscall
 * names are skipped, a rule with the default action is left out (libseccomp
 * refuses it), and a rule with two conditions on one argument becomes one
 * rule per condition. */
#include "oci/seccomp.h"

#include <errno.h>
#include <json-c/json.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "util/cleanup.h"

#ifndef SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
#define SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV (1UL << 5)
#endif

/* The actions config.json may name, in runtime-spec's order. */
static const struct {
    const char *name;
    uint32_t action;     /* SCMP_ACT_ERRNO(0)/SCMP_ACT_TRACE(0): the errno/message goes in */
    bool with_ret;       /* takes errnoRet */
} actions[] = {
    { "SCMP_ACT_KILL", SCMP_ACT_KILL, false },
    { "SCMP_ACT_KILL_PROCESS", SCMP_ACT_KILL_PROCESS, false },
    { "SCMP_ACT_KILL_THREAD", SCMP_ACT_KILL_THREAD, false },
    { "SCMP_ACT_TRAP", SCMP_ACT_TRAP, false },
    { "SCMP_ACT_ERRNO", SCMP_ACT_ERRNO(0), true },
    { "SCMP_ACT_TRACE", SCMP_ACT_TRACE(0), true },
    { "SCMP_ACT_ALLOW", SCMP_ACT_ALLOW, false },
    { "SCMP_ACT_LOG", SCMP_ACT_LOG, false },
};
#define ACTIONS_ALLOWED                                                                              \
    "SCMP_ACT_KILL, SCMP_ACT_KILL_PROCESS, SCMP_ACT_KILL_THREAD, SCMP_ACT_TRAP, SCMP_ACT_ERRNO, " \
    "SCMP_ACT_TRACE, SCMP_ACT_ALLOW, SCMP_ACT_LOG"

static const struct {
    const char *name;
    enum scmp_compare op;
} operators[] = {
    { "SCMP_CMP_NE", SCMP_CMP_NE }, { "SCMP_CMP_LT", SCMP_CMP_LT },
    { "SCMP_CMP_LE", SCMP_CMP_LE }, { "SCMP_CMP_EQ", SCMP_CMP_EQ },
    { "SCMP_CMP_GE", SCMP_CMP_GE }, { "SCMP_CMP_GT", SCMP_CMP_GT },
    { "SCMP_CMP_MASKED_EQ", SCMP_CMP_MASKED_EQ },
};
#define OPERATORS_ALLOWED \
    "SCMP_CMP_NE, SCMP_CMP_LT, SCMP_CMP_LE, SCMP_CMP_EQ, SCMP_CMP_GE, SCMP_CMP_GT, SCMP_CMP_MASKED_EQ"

/* runtime-spec's list; libseccomp resolves them (its names are these
 * without the prefix, in lower case), so a newer libseccomp knows more. */
#define ARCHES_ALLOWED                                                                                   \
    "SCMP_ARCH_X86, SCMP_ARCH_X86_64, SCMP_ARCH_X32, SCMP_ARCH_ARM, SCMP_ARCH_AARCH64, SCMP_ARCH_MIPS, " \
    "SCMP_ARCH_MIPS64, SCMP_ARCH_MIPS64N32, SCMP_ARCH_MIPSEL, SCMP_ARCH_MIPSEL64, "                      \
    "SCMP_ARCH_MIPSEL64N32, SCMP_ARCH_PPC, SCMP_ARCH_PPC64, SCMP_ARCH_PPC64LE, SCMP_ARCH_S390, "         \
    "SCMP_ARCH_S390X, SCMP_ARCH_PARISC, SCMP_ARCH_PARISC64, SCMP_ARCH_RISCV64"

static const struct {
    const char *name;
    unsigned flag;
} filter_flags[] = {
    { "SECCOMP_FILTER_FLAG_TSYNC", SECCOMP_FILTER_FLAG_TSYNC },
    { "SECCOMP_FILTER_FLAG_LOG", SECCOMP_FILTER_FLAG_LOG },
    { "SECCOMP_FILTER_FLAG_SPEC_ALLOW", SECCOMP_FILTER_FLAG_SPEC_ALLOW },
    /* only means something with a notify listener, which appbox refuses;
     * the kernel refuses it without one: accepted and not passed on */
    { "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV", 0 },
};
#define FLAGS_ALLOWED                                                                   \
    "SECCOMP_FILTER_FLAG_TSYNC, SECCOMP_FILTER_FLAG_LOG, SECCOMP_FILTER_FLAG_SPEC_ALLOW, " \
    "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"

static void release_ctx(scmp_filter_ctx *ctx)
{
    if (*ctx)
        seccomp_release(*ctx);
}

static int bad_type(const char *what, const char *field, const char *expected, ab_error *err)
{
    return ab_usage(err, "%s.%s: not %s", what, field, expected);
}

/* The member KEY of OBJ; NULL when absent or null (the callers check
 * its type). */
static struct json_object *member(struct json_object *obj, const char *key)
{
    struct json_object *v = NULL;
    if (!json_object_object_get_ex(obj, key, &v) || json_object_is_type(v, json_type_null))
        return NULL;
    return v;
}

static int parse_action(struct json_object *v, const char *what, const char *field, uint32_t *action,
                        bool *with_ret, ab_error *err)
{
    if (!v)
        return ab_usage(err, "%s.%s: missing (expected one of " ACTIONS_ALLOWED ")", what, field);
    if (!json_object_is_type(v, json_type_string))
        return bad_type(what, field, "a string (one of " ACTIONS_ALLOWED ")", err);
    const char *s = json_object_get_string(v);
    if (strcmp(s, "SCMP_ACT_NOTIFY") == 0)
        return ab_usage(err,
                        "%s.%s: 'SCMP_ACT_NOTIFY' is not supported: appbox-oci has no seccomp "
                        "notify listener (expected one of " ACTIONS_ALLOWED ")",
                        what, field);
    for (size_t i = 0; i < ARRAY_SIZE(actions); i++)
        if (strcmp(s, actions[i].name) == 0) {
            *action = actions[i].action;
            *with_ret = actions[i].with_ret;
            return 0;
        }
    return ab_usage(err, "%s.%s: '%s' is not an action (expected one of " ACTIONS_ALLOWED ")", what, field,
                    s);
}

/* An unsigned JSON integer up to MAX into *out. */
static int parse_uint(struct json_object *v, const char *what, const char *field, uint64_t max, uint64_t *out,
                      ab_error *err)
{
    if (!json_object_is_type(v, json_type_int))
        return ab_usage(err, "%s.%s: not an integer (expected 0 to %llu)", what, field,
                        (unsigned long long)max);
    errno = 0;
    uint64_t u;
    if (json_object_get_int64(v) < 0) {
        u = 0;
        errno = ERANGE;
    } else {
        u = json_object_get_uint64(v);
    }
    if (errno == ERANGE || u > max)
        return ab_usage(err, "%s.%s: '%s' is out of range (expected 0 to %llu)", what, field,
                        json_object_to_json_string(v), (unsigned long long)max);
    *out = u;
    return 0;
}

/* ACTION with errnoRet (FIELD's parent's, or the default's) filled in:
 * SCMP_ACT_ERRNO and SCMP_ACT_TRACE carry a 16-bit value, EPERM when the
 * profile gives none (runc's default). */
static int action_with_ret(uint32_t action, bool with_ret, struct json_object *ret, const char *what,
                           const char *field, uint32_t *out, ab_error *err)
{
    if (!with_ret) {   /* errnoRet of other actions is ignored, as runc does */
        *out = action;
        return 0;
    }
    uint64_t r = EPERM;
    if (ret) {
        int e = parse_uint(ret, what, field, UINT16_MAX, &r, err);
        if (e < 0)
            return e;
    }
    *out = action == SCMP_ACT_ERRNO(0) ? SCMP_ACT_ERRNO((uint32_t)r) : SCMP_ACT_TRACE((uint32_t)r);
    return 0;
}

/* LIST (the profile's KEY) is an array of strings, each one of ALLOWED. */
static int string_array(struct json_object *list, const char *what, const char *key, const char *allowed,
                        ab_error *err)
{
    if (!json_object_is_type(list, json_type_array))
        return ab_usage(err, "%s.%s: not an array of strings (%s)", what, key, allowed);
    for (size_t i = 0; i < json_object_array_length(list); i++)
        if (!json_object_is_type(json_object_array_get_idx(list, i), json_type_string))
            return ab_usage(err, "%s.%s[%zu]: not a string (one of %s)", what, key, i, allowed);
    return 0;
}

static int add_arches(scmp_filter_ctx ctx, struct json_object *arches, const char *what, ab_error *err)
{
    if (!arches)
        return 0;
    int r = string_array(arches, what, "architectures", ARCHES_ALLOWED, err);
    if (r < 0)
        return r;
    for (size_t i = 0; i < json_object_array_length(arches); i++) {
        const char *name = json_object_get_string(json_object_array_get_idx(arches, i));
        char field[64];
        snprintf(field, sizeof(field), "architectures[%zu]", i);
        char lower[32];
        uint32_t arch = 0;
        if (strncmp(name, "SCMP_ARCH_", 10) == 0 && strlen(name + 10) < sizeof(lower)) {
            size_t n = 0;
            for (const char *p = name + 10; *p; p++)
                lower[n++] = (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
            lower[n] = '\0';
            /* "native" resolves too, but is no architecture of the spec */
            if (strcmp(lower, "native") != 0)
                arch = seccomp_arch_resolve_name(lower);
        }
        if (arch == 0)
            return ab_usage(err,
                            "%s.%s: '%s' is not an architecture this libseccomp knows (expected one of "
                            ARCHES_ALLOWED ")",
                            what, field, name);
        r = seccomp_arch_add(ctx, arch);
        if (r < 0 && r != -EEXIST)   /* EEXIST: the native one, already there */
            return ab_fail(err, -r, "%s.%s: cannot add the architecture %s to the filter", what, field, name);
    }
    return 0;
}

static int parse_flags(struct json_object *flags, const char *what, unsigned *out, ab_error *err)
{
    *out = 0;
    if (!flags)
        return 0;
    int r = string_array(flags, what, "flags", FLAGS_ALLOWED, err);
    if (r < 0)
        return r;
    for (size_t i = 0; i < json_object_array_length(flags); i++) {
        const char *name = json_object_get_string(json_object_array_get_idx(flags, i));
        size_t k = 0;
        while (k < ARRAY_SIZE(filter_flags) && strcmp(name, filter_flags[k].name) != 0)
            k++;
        if (k == ARRAY_SIZE(filter_flags))
            return ab_usage(err, "%s.flags[%zu]: '%s' is not a seccomp filter flag (expected one of " FLAGS_ALLOWED
                            ")", what, i, name);
        *out |= filter_flags[k].flag;
    }
    return 0;
}

/* syscalls[I].args into CMP (at most 6); *n their number, *same_arg
 * whether two compare one argument. */
static int parse_args(struct json_object *args, const char *what, const char *rule, struct scmp_arg_cmp *cmp,
                      unsigned *n, bool *same_arg, ab_error *err)
{
    char field[128];
    *n = 0;
    *same_arg = false;
    if (!args)
        return 0;
    snprintf(field, sizeof(field), "%s.args", rule);
    if (!json_object_is_type(args, json_type_array))
        return bad_type(what, field, "an array of objects (index, value, valueTwo, op)", err);
    size_t len = json_object_array_length(args);
    /* one condition per argument at most in one rule, six arguments: more
     * can only repeat an argument, and each becomes a rule of its own */
    if (len > 6 * 8)
        return ab_usage(err, "%s.%s: %zu conditions, more than the 48 appbox takes", what, field, len);
    unsigned seen = 0;
    for (size_t i = 0; i < len; i++) {
        struct json_object *a = json_object_array_get_idx(args, i);
        snprintf(field, sizeof(field), "%s.args[%zu]", rule, i);
        if (!json_object_is_type(a, json_type_object))
            return bad_type(what, field, "an object (index, value, valueTwo, op)", err);
        char sub[160];
        uint64_t index = 0, value = 0, value2 = 0;
        struct json_object *v = member(a, "index");
        snprintf(sub, sizeof(sub), "%s.index", field);
        if (!v)
            return ab_usage(err, "%s.%s: missing (expected 0 to 5)", what, sub);
        int r = parse_uint(v, what, sub, 5, &index, err);
        if (r < 0)
            return r;
        if ((v = member(a, "value"))) {
            snprintf(sub, sizeof(sub), "%s.value", field);
            if ((r = parse_uint(v, what, sub, UINT64_MAX, &value, err)) < 0)
                return r;
        }
        if ((v = member(a, "valueTwo"))) {
            snprintf(sub, sizeof(sub), "%s.valueTwo", field);
            if ((r = parse_uint(v, what, sub, UINT64_MAX, &value2, err)) < 0)
                return r;
        }
        snprintf(sub, sizeof(sub), "%s.op", field);
        v = member(a, "op");
        if (!v)
            return ab_usage(err, "%s.%s: missing (expected one of " OPERATORS_ALLOWED ")", what, sub);
        if (!json_object_is_type(v, json_type_string))
            return bad_type(what, sub, "a string (one of " OPERATORS_ALLOWED ")", err);
        const char *op = json_object_get_string(v);
        size_t k = 0;
        while (k < ARRAY_SIZE(operators) && strcmp(op, operators[k].name) != 0)
            k++;
        if (k == ARRAY_SIZE(operators))
            return ab_usage(err, "%s.%s: '%s' is not an operator (expected one of " OPERATORS_ALLOWED ")", what,
                            sub, op);
        if (seen & (1u << index))
            *same_arg = true;
        seen |= 1u << index;
        /* SCMP_CMP_MASKED_EQ: value is the mask, valueTwo the result */
        cmp[(*n)++] = (struct scmp_arg_cmp){ (unsigned)index, operators[k].op, value, value2 };
    }
    return 0;
}

static int add_rule(scmp_filter_ctx ctx, uint32_t action, int nr, const struct scmp_arg_cmp *cmp, unsigned n,
                    bool same_arg)
{
    if (n == 0 || !same_arg)
        return seccomp_rule_add_array(ctx, action, nr, n, cmp);
    for (unsigned i = 0; i < n; i++) {
        int r = seccomp_rule_add_array(ctx, action, nr, 1, &cmp[i]);
        if (r < 0)
            return r;
    }
    return 0;
}

static int add_syscalls(scmp_filter_ctx ctx, struct json_object *syscalls, uint32_t def_action, const char *what,
                        ab_error *err)
{
    if (!syscalls)
        return 0;
    if (!json_object_is_type(syscalls, json_type_array))
        return bad_type(what, "syscalls", "an array of objects (names, action, errnoRet, args)", err);
    for (size_t i = 0; i < json_object_array_length(syscalls); i++) {
        struct json_object *s = json_object_array_get_idx(syscalls, i);
        char rule[64], field[96];
        snprintf(rule, sizeof(rule), "syscalls[%zu]", i);
        if (!json_object_is_type(s, json_type_object))
            return bad_type(what, rule, "an object (names, action, errnoRet, args)", err);
        uint32_t action, base;
        bool with_ret;
        snprintf(field, sizeof(field), "%s.action", rule);
        int r = parse_action(member(s, "action"), what, field, &base, &with_ret, err);
        if (r < 0)
            return r;
        snprintf(field, sizeof(field), "%s.errnoRet", rule);
        if ((r = action_with_ret(base, with_ret, member(s, "errnoRet"), what, field, &action, err)) < 0)
            return r;
        struct scmp_arg_cmp cmp[48];
        unsigned n;
        bool same_arg;
        if ((r = parse_args(member(s, "args"), what, rule, cmp, &n, &same_arg, err)) < 0)
            return r;
        struct json_object *names = member(s, "names");
        snprintf(field, sizeof(field), "%s.names", rule);
        if (!names)
            return ab_usage(err, "%s.%s: missing (expected an array of syscall names)", what, field);
        if (!json_object_is_type(names, json_type_array))
            return bad_type(what, field, "an array of syscall names", err);
        for (size_t j = 0; j < json_object_array_length(names); j++) {
            struct json_object *nm = json_object_array_get_idx(names, j);
            snprintf(field, sizeof(field), "%s.names[%zu]", rule, j);
            if (!json_object_is_type(nm, json_type_string))
                return bad_type(what, field, "a syscall name", err);
            /* libseccomp refuses a rule with the filter's default action;
             * it changes nothing anyway */
            if (action == def_action)
                continue;
            const char *name = json_object_get_string(nm);
            /* a profile lists the calls of every kernel and architecture:
             * one this libseccomp does not know is skipped (runc, crun) */
            int nr = seccomp_syscall_resolve_name(name);
            if (nr == __NR_SCMP_ERROR)
                continue;
            r = add_rule(ctx, action, nr, cmp, n, same_arg);
            if (r < 0)
                return ab_fail(err, -r, "%s.%s: cannot add the rule for '%s' to the filter", what, field, name);
        }
    }
    return 0;
}

/* The program CTX compiles to, read back from a memfd (libseccomp 2.5
 * exports to a file descriptor only). */
static int export_program(scmp_filter_ctx ctx, const char *what, struct spec_oci *o, ab_error *err)
{
    _cleanup_close_ int fd = memfd_create("oci-seccomp", MFD_CLOEXEC);
    if (fd < 0)
        return ab_fail(err, errno, "%s: cannot make a memfd for the compiled filter", what);
    int r = seccomp_export_bpf(ctx, fd);
    if (r < 0)
        return ab_fail(err, -r, "%s: cannot export the compiled filter", what);
    off_t size = lseek(fd, 0, SEEK_END);
    if (size < 0)
        return ab_fail(err, errno, "%s: cannot read the compiled filter back", what);
    if (size == 0 || size % (off_t)sizeof(struct sock_filter) != 0)
        return ab_fail(err, EINVAL, "%s: the compiled filter has %lld bytes, not whole instructions", what,
                       (long long)size);
    size_t len = (size_t)size / sizeof(struct sock_filter);
    if (len > BPF_MAXINSNS)
        return ab_usage(err, "%s: compiles to %zu instructions, more than the kernel's %d", what, len,
                        BPF_MAXINSNS);
    _cleanup_free_ struct sock_filter *prog = malloc((size_t)size);
    if (!prog)
        return ab_fail(err, ENOMEM, "%s: cannot keep the compiled filter", what);
    for (size_t got = 0; got < (size_t)size;) {
        ssize_t k = pread(fd, (char *)prog + got, (size_t)size - got, (off_t)got);
        if (k <= 0)
            return ab_fail(err, k < 0 ? errno : EIO, "%s: cannot read the compiled filter back", what);
        got += (size_t)k;
    }
    free(o->seccomp_filter);
    o->seccomp_filter = take_ptr(prog);
    o->seccomp_len = (unsigned short)len;
    return 0;
}

int oci_seccomp_compile(struct json_object *seccomp, const char *what, struct spec_oci *o, ab_error *err)
{
    if (!json_object_is_type(seccomp, json_type_object))
        return ab_usage(err, "%s: not an object (expected defaultAction, architectures, flags, syscalls)", what);
    struct json_object *v;
    if ((v = member(seccomp, "listenerPath")) &&
        (!json_object_is_type(v, json_type_string) || json_object_get_string_len(v) > 0))
        return ab_usage(err, "%s.listenerPath: '%s' is not supported: appbox-oci has no seccomp notify listener",
                        what, json_object_get_string(v));
    uint32_t base, def_action;
    bool with_ret;
    int r = parse_action(member(seccomp, "defaultAction"), what, "defaultAction", &base, &with_ret, err);
    if (r < 0)
        return r;
    if ((r = action_with_ret(base, with_ret, member(seccomp, "defaultErrnoRet"), what, "defaultErrnoRet",
                             &def_action, err)) < 0)
        return r;
    unsigned flags;
    if ((r = parse_flags(member(seccomp, "flags"), what, &flags, err)) < 0)
        return r;

    __attribute__((cleanup(release_ctx))) scmp_filter_ctx ctx = seccomp_init(def_action);
    if (!ctx)
        return ab_fail(err, EINVAL, "%s.defaultAction: libseccomp cannot make a filter with this action", what);
    /* the runtime sets no_new_privs itself (process.noNewPrivileges), and
     * loads the program with seccomp(2), not through libseccomp */
    if ((r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0)) < 0 ||
        (r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, (flags & SECCOMP_FILTER_FLAG_TSYNC) != 0)) < 0)
        return ab_fail(err, -r, "%s: cannot set the filter's attributes", what);
    if ((r = add_arches(ctx, member(seccomp, "architectures"), what, err)) < 0 ||
        (r = add_syscalls(ctx, member(seccomp, "syscalls"), def_action, what, err)) < 0 ||
        (r = export_program(ctx, what, o, err)) < 0)
        return r;
    o->seccomp_flags = flags;
    o->seccomp_given = true;
    o->seccomp_default = false;
    return 0;
}

