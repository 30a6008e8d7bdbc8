#include "runtime/seccomp_filter.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <seccomp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/personality.h>
#include <sys/socket.h>
#include <sys/stat.h>

#ifndef TIOCLINUX
#define TIOCLINUX 0x541C
#endif
#ifndef AF_VSOCK
#define AF_VSOCK 40
#endif
#ifndef __O_TMPFILE
#define __O_TMPFILE 020000000
#endif
/* fchmodat2 is 452 on every architecture (the unified syscall table). */
#define FCHMODAT2_NR 452

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

/* A syscall number by name, or __NR_SCMP_ERROR when libseccomp does not
 * know the call (it is then not on this architecture). */
static int sysnr(const char *name)
{
    int nr = seccomp_syscall_resolve_name(name);
    /* A libseccomp older than the kernel must not leave a gap. */
    if (nr == __NR_SCMP_ERROR && strcmp(name, "fchmodat2") == 0)
        nr = FCHMODAT2_NR;
    return nr;
}

/* Refuse NAME with EPERM when its argument ARG (a mode) carries a set-id
 * bit; FLAGS_ARG >= 0: only when that argument (open flags) also has one of
 * the bits in FLAG_MASKS, each a flag that makes the kernel use the mode.
 * A filter compares each argument once per rule, so every combination is
 * a rule of its own. */
static int deny_setid_mode(scmp_filter_ctx ctx, const char *name, unsigned arg, int flags_arg)
{
    static const scmp_datum_t setid[] = { S_ISUID, S_ISGID };
    static const scmp_datum_t mode_flags[] = { O_CREAT, __O_TMPFILE };
    int nr = sysnr(name);
    if (nr == __NR_SCMP_ERROR)
        return 0;
    for (size_t i = 0; i < sizeof(setid) / sizeof(setid[0]); i++) {
        struct scmp_arg_cmp mode = { arg, SCMP_CMP_MASKED_EQ, setid[i], setid[i] };
        int r;
        if (flags_arg < 0) {
            r = seccomp_rule_add_array(ctx, SCMP_ACT_ERRNO(EPERM), nr, 1, &mode);
            if (r < 0 && r != -EDOM)
                return r;
            continue;
        }
        for (size_t j = 0; j < sizeof(mode_flags) / sizeof(mode_flags[0]); j++) {
            struct scmp_arg_cmp cmp[2] = {
                { (unsigned)flags_arg, SCMP_CMP_MASKED_EQ, mode_flags[j], mode_flags[j] },
                mode,
            };
            r = seccomp_rule_add_array(ctx, SCMP_ACT_ERRNO(EPERM), nr, 2, cmp);
            if (r < 0 && r != -EDOM)
                return r;
        }
    }
    return 0;
}

/* Set-user-id and set-group-id files: a file the container makes set-id
 * on a read-write bind is set-id on the host, for every host user who can
 * reach it (as flatpak refuses it).  Every call that sets a mode: */
static int add_setid_rules(scmp_filter_ctx ctx)
{
    static const struct {
        const char *name;
        unsigned mode_arg;
        int flags_arg;   /* -1: the mode always counts */
    } calls[] = {
        { "chmod", 1, -1 },   { "fchmod", 1, -1 },  { "fchmodat", 2, -1 }, { "fchmodat2", 2, -1 },
        { "creat", 1, -1 },   { "mkdir", 1, -1 },   { "mkdirat", 2, -1 },  { "mknod", 1, -1 },
        { "mknodat", 2, -1 }, { "open", 2, 1 },     { "openat", 3, 2 },
    };
    for (size_t i = 0; i < sizeof(calls) / sizeof(calls[0]); i++) {
        int r = deny_setid_mode(ctx, calls[i].name, calls[i].mode_arg, calls[i].flags_arg);
        if (r < 0)
            return r;
    }
    /* openat2 carries its flags and mode in a struct a filter cannot read:
     * ENOSYS, as on kernels before 5.6.  glibc's open(), openat() and
     * fopen() use openat, never openat2; programs that call openat2 for
     * its RESOLVE_* flags fall back to openat on ENOSYS (systemd, crun). */
    int r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(openat2), 0);
    return r < 0 && r != -EDOM ? r : 0;
}

/* SOCKETS: also the address family rules (not for i386, see build()). */
/* What SECCOMP_BOOT allows of the deny list. */
static const char *const boot_allowed[] = {
    "mount", "umount", "umount2", "fsopen", "fsconfig", "fsmount", "fspick", "move_mount", "open_tree",
    "mount_setattr", "pivot_root", "chroot", "setns", "vhangup",
};

static bool boot_allows(const char *name)
{
    for (size_t i = 0; i < sizeof(boot_allowed) / sizeof(boot_allowed[0]); i++)
        if (strcmp(boot_allowed[i], name) == 0)
            return true;
    return false;
}

static int add_rules(scmp_filter_ctx ctx, unsigned variant, bool sockets)
{
    int r;
    for (size_t i = 0; i < sizeof(denied) / sizeof(denied[0]); i++) {
        if ((variant & SECCOMP_BOOT) && boot_allows(denied[i]))
            continue;
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

    if (!(variant & SECCOMP_ALLOW_SETID)) {
        r = add_setid_rules(ctx);
        if (r < 0)
            return r;
    }

    /* Address families that are not network-namespaced reach past the
     * container's network namespace: AF_VSOCK talks to the hypervisor and
     * to the host's vsock services whatever the namespace.  EAFNOSUPPORT,
     * the kernel's own answer for a family it lacks. */
    static const char *const socket_calls[] = { "socket", "socketpair" };
    for (size_t i = 0; sockets && i < sizeof(socket_calls) / sizeof(socket_calls[0]); i++) {
        int nr = sysnr(socket_calls[i]);
        if (nr == __NR_SCMP_ERROR)
            continue;
        r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EAFNOSUPPORT), nr, 1,
                             SCMP_A0(SCMP_CMP_MASKED_EQ, 0xffffffffULL, AF_VSOCK));
        if (r < 0 && r != -EDOM)
            return r;
    }

    /* io_uring: a second system call interface whose operations (open,
     * socket, ...) no seccomp filter sees, and a frequent source of kernel
     * bugs.  ENOSYS, as on a kernel without it: programs fall back to
     * plain system calls.  `--io-uring allow` lifts it. */
    if (!(variant & SECCOMP_ALLOW_IO_URING)) {
        static const char *const uring[] = { "io_uring_setup", "io_uring_enter", "io_uring_register" };
        for (size_t i = 0; i < sizeof(uring) / sizeof(uring[0]); i++) {
            int nr = sysnr(uring[i]);
            if (nr == __NR_SCMP_ERROR)
                continue;
            r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), nr, 0);
            if (r < 0 && r != -EDOM)
                return r;
        }
    }

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

/* A context for ARCH (0: native only) with the filter's attributes. */
static scmp_filter_ctx new_ctx(uint32_t arch, int *r)
{
    /* A deny list: unlisted calls are allowed, as in bwrap. */
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
    if (!ctx) {
        *r = -ENOMEM;
        return NULL;
    }
    /* The x32 ABI is refused entirely (calls with __X32_SYSCALL_BIT would
     * bypass native rules). */
    *r = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
    if (*r == 0)
        *r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0);
    /* A binary tree of syscall numbers instead of a linear list: fewer
     * instructions on every path, so the kernel's per-syscall action cache
     * (built by emulating the filter for every number when it is loaded),
     * the JIT and each filtered call all do less. */
    if (*r == 0)
        *r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
    if (*r == 0 && arch) {
        *r = seccomp_arch_add(ctx, arch);
        if (*r == 0)
            *r = seccomp_arch_remove(ctx, SCMP_ARCH_NATIVE);
    }
    if (*r < 0) {
        seccomp_release(ctx);
        return NULL;
    }
    return ctx;
}

static int build(scmp_filter_ctx *out, unsigned variant, ab_error *err)
{
    int r;
    __attribute__((cleanup(ctx_releasep))) scmp_filter_ctx ctx = new_ctx(0, &r);
    if (ctx)
        r = add_rules(ctx, variant, true);
    /* i386 programs get the same rules as native, in a context of their
     * own merged in: there socket() and socketpair() are also reached
     * through socketcall(2), whose arguments are in memory, and libseccomp
     * would refuse every socketcall(SYS_SOCKET) to filter the family,
     * which breaks every socket of 32-bit glibc (it uses socketcall). */
    if (r == 0 && seccomp_arch_native() == SCMP_ARCH_X86_64) {
        scmp_filter_ctx x86 = new_ctx(SCMP_ARCH_X86, &r);
        if (x86)
            r = add_rules(x86, variant, false);
        if (r == 0)
            r = seccomp_merge(ctx, x86); /* takes x86 */
        else if (x86)
            seccomp_release(x86);
    }
    if (r < 0)
        return ab_fail(err, -r, "cannot build the seccomp filter");
    *out = ctx;
    ctx = NULL;
    return 0;
}

int seccomp_filter_export(int fd, unsigned variant, ab_error *err)
{
    scmp_filter_ctx ctx = NULL;
    int r = build(&ctx, variant, err);
    if (r < 0)
        return r;
    r = seccomp_export_bpf(ctx, fd);
    seccomp_release(ctx);
    return r < 0 ? ab_fail(err, -r, "cannot export the seccomp filter") : 0;
}
