#include "runtime/seccomp_filter.h"

#include <errno.h>
#include <linux/sched.h>
#include <seccomp.h>
#include <stddef.h>
#include <sys/ioctl.h>
#include <sys/personality.h>

#ifndef TIOCLINUX
#define TIOCLINUX 0x541C
#endif

/* Denied outright with EPERM. */
static const char *const denied[] = {
    /* kernel keyrings are not namespaced */
    "keyctl", "add_key", "request_key",
    /* replacing or extending the kernel */
    "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module",
    /* kernel attack surface that containers do not need */
    "bpf", "perf_event_open", "userfaultfd", "lookup_dcookie", "uselib", "acct",
    "quotactl", "swapon", "swapoff", "iopl", "ioperm", "vhangup", "syslog",
    "nfsservctl", "kcmp", "fanotify_init",
    /* file handles bypass the mount tree (the "shocker" escape) */
    "open_by_handle_at", "name_to_handle_at",
    /* the mount API, changing root, entering other namespaces */
    "mount", "umount", "umount2", "fsopen", "fsconfig", "fsmount", "fspick",
    "move_mount", "open_tree", "mount_setattr", "pivot_root", "chroot", "setns",
    /* looking into other processes */
    "ptrace", "process_vm_readv", "process_vm_writev", "pidfd_getfd",
    /* clock and time belong to the host */
    "settimeofday", "clock_settime", "clock_adjtime", "adjtimex", "stime",
};

static int add_rules(scmp_filter_ctx ctx)
{
    int r;
    for (size_t i = 0; i < sizeof(denied) / sizeof(denied[0]); i++) {
        int nr = seccomp_syscall_resolve_name(denied[i]);
        if (nr == __NR_SCMP_ERROR)
            continue; /* not on this architecture */
        r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 0);
        if (r < 0 && r != -EDOM)
            return r;
    }

    /* Pushing input into a terminal.  The request is an int in the kernel:
     * compare only the low 32 bits, so high garbage cannot slip past. */
    r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(ioctl), 1,
                         SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffULL, (scmp_datum_t)TIOCSTI));
    if (r < 0)
        return r;
    r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(ioctl), 1,
                         SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffULL, (scmp_datum_t)TIOCLINUX));
    if (r < 0)
        return r;

    /* No nested user namespaces: they re-open kernel attack surface. */
    r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(unshare), 1,
                         SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_NEWUSER, CLONE_NEWUSER));
    if (r < 0)
        return r;
    r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1,
                         SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_NEWUSER, CLONE_NEWUSER));
    if (r < 0)
        return r;
    /* clone3 passes its flags in memory, where a filter cannot look:
     * answer ENOSYS so that libc falls back to clone. */
    r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
    if (r < 0 && r != -EDOM)
        return r;

    /* personality(): flags that weaken memory protection (READ_IMPLIES_EXEC,
     * ADDR_NO_RANDOMIZE, MMAP_PAGE_ZERO, ...) are refused, but the query
     * value 0xffffffff stays allowed: programs use it to read the persona.
     * A filter compares one argument once per rule, so "flag set and not
     * the query" is: flag set with bit 31 clear, or bit 31 set with any
     * other bit clear (no persona uses bit 31; the kernel takes 32 bits). */
    static const scmp_datum_t bad_flags[] = { READ_IMPLIES_EXEC, ADDR_NO_RANDOMIZE, MMAP_PAGE_ZERO,
                                              ADDR_COMPAT_LAYOUT, ADDR_LIMIT_3GB, SHORT_INODE,
                                              WHOLE_SECONDS, STICKY_TIMEOUTS, ADDR_LIMIT_32BIT };
    const scmp_datum_t top = 0x80000000ULL;
    for (size_t i = 0; i < sizeof(bad_flags) / sizeof(bad_flags[0]); i++) {
        r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(personality), 1,
                             SCMP_A0(SCMP_CMP_MASKED_EQ, bad_flags[i] | top, bad_flags[i]));
        if (r < 0)
            return r;
    }
    for (int bit = 0; bit < 31; bit++) {
        r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(personality), 1,
                             SCMP_A0(SCMP_CMP_MASKED_EQ, top | (1ULL << bit), top));
        if (r < 0)
            return r;
    }
    return 0;
}

static void ctx_releasep(scmp_filter_ctx *ctx)
{
    if (*ctx)
        seccomp_release(*ctx);
}

static int build(scmp_filter_ctx *out, ab_error *err)
{
    /* A deny list: unlisted calls are allowed, as in bwrap. */
    __attribute__((cleanup(ctx_releasep))) scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
    if (!ctx)
        return ab_fail(err, ENOMEM, "cannot create the seccomp filter");
    /* The x32 ABI is refused entirely (calls with __X32_SYSCALL_BIT would
     * bypass native rules); i386 programs get the same rules as native. */
    int r = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
    if (r == 0)
        r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0);
    /* A binary tree of syscall numbers instead of a linear list: fewer
     * instructions on every path, so the kernel's per-syscall action cache
     * (built by emulating the filter for every number when it is loaded),
     * the JIT and each filtered call all do less. */
    if (r == 0)
        r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
    if (r == 0 && seccomp_arch_native() == SCMP_ARCH_X86_64) {
        r = seccomp_arch_add(ctx, SCMP_ARCH_X86);
        if (r == -EEXIST)
            r = 0;
    }
    if (r == 0)
        r = add_rules(ctx);
    if (r < 0)
        return ab_fail(err, -r, "cannot build the seccomp filter");
    *out = ctx;
    ctx = NULL;
    return 0;
}

int seccomp_filter_export(int fd, ab_error *err)
{
    scmp_filter_ctx ctx = NULL;
    int r = build(&ctx, err);
    if (r < 0)
        return r;
    r = seccomp_export_bpf(ctx, fd);
    seccomp_release(ctx);
    return r < 0 ? ab_fail(err, -r, "cannot export the seccomp filter") : 0;
}
