/* The cgroup v2 backend: one directory in the unified hierarchy; device
 * access is not a file there but an eBPF program of type
 * BPF_PROG_TYPE_CGROUP_DEVICE attached to the group (as crun and runc do):
 * the kernel runs it on every open and mknod of a device node by a process
 * of the group, and denies the access when it returns 0.
 *
 * The program is generated here from the rules, one block per rule:
 *
 *   r2 = ctx->access_type & 0xffff   device type (BPF_DEVCG_DEV_*)
 *   r3 = ctx->access_type >> 16      access asked (BPF_DEVCG_ACC_*)
 *   r4 = ctx->major, r5 = ctx->minor
 *   per rule:  if r2 != type goto next
 *              if (r3 & ~granted) != 0 goto next
 *              if r4 != major goto next     (unless *)
 *              if r5 != minor goto next     (unless *)
 *              return 1
 *   next: ...  return 0                     (default: deny)
 *
 * Loading and attaching want CAP_SYS_ADMIN (CAP_BPF) in the host's user
 * namespace: root only, like v1's devices controller; an ordinary user
 * needs a delegated group and a helper (issue 13).  These machines are
 * hybrid (v1 controllers, a v2 mount with none at /sys/fs/cgroup/unified):
 * a device program attached there applies all the same, since BPF cgroup
 * programs need no controller; the v1 backend is preferred where v1 has
 * the devices controller. */
#include "cgroup/cgroup.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "util/cleanup.h"

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

/* The instructions (the kernel's own macros are not in its uapi). */
#define INSN(c, d, s, o, i) ((struct bpf_insn){ .code = (c), .dst_reg = (d), .src_reg = (s), .off = (o), .imm = (i) })
#define LDX_W(d, s, off) INSN(BPF_LDX | BPF_W | BPF_MEM, d, s, off, 0)
#define MOV32_REG(d, s) INSN(BPF_ALU | BPF_MOV | BPF_X, d, s, 0, 0)
#define AND32_IMM(d, i) INSN(BPF_ALU | BPF_AND | BPF_K, d, 0, 0, i)
#define RSH32_IMM(d, i) INSN(BPF_ALU | BPF_RSH | BPF_K, d, 0, 0, i)
#define MOV64_IMM(d, i) INSN(BPF_ALU64 | BPF_MOV | BPF_K, d, 0, 0, i)
#define JNE_IMM(d, i, off) INSN(BPF_JMP | BPF_JNE | BPF_K, d, 0, off, i)
#define EXIT() INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0)

const char *cgroup_v2_mount(void)
{
    /* asked often during a start; the mounts do not move meanwhile */
    static const char *found;
    static bool looked;
    static const char *const places[] = { "/sys/fs/cgroup", "/sys/fs/cgroup/unified", NULL };
    for (size_t i = 0; !looked && places[i]; i++) {
        struct statfs fs;
        if (statfs(places[i], &fs) == 0 && fs.f_type == CGROUP2_SUPER_MAGIC)
            found = places[i];
        looked = found != NULL;
    }
    looked = true;
    return found;
}

static bool v2_devices_usable(const char **why)
{
    if (!cgroup_v2_mount()) {
        *why = "this machine has no cgroup v2 hierarchy";
        return false;
    }
    if (geteuid() != 0) {
        *why = "a cgroup v2 device program is loaded and attached by the host's root only (a delegated "
               "group for ordinary users is not done yet)";
        return false;
    }
    struct statvfs vfs;
    if (statvfs(cgroup_v2_mount(), &vfs) == 0 && (vfs.f_flag & ST_RDONLY)) {
        *why = "the cgroup v2 hierarchy is mounted read-only here";
        return false;
    }
    return true;
}

static int v2_create(const char *path, ab_error *err)
{
    if (mkdir(path, 0755) < 0)
        return ab_fail(err, errno, "cannot create the cgroup %s", path);
    return 0;
}

int cgroup_v2_program(const struct cgroup_device_rule *rules, size_t n, struct bpf_insn **out, size_t *count)
{
    /* 6 loads, at most 8 per rule, 2 at the end */
    struct bpf_insn *p = calloc(8 + 8 * n, sizeof(*p));
    if (!p)
        return -ENOMEM;
    size_t k = 0;
    p[k++] = LDX_W(BPF_REG_2, BPF_REG_1, offsetof(struct bpf_cgroup_dev_ctx, access_type));
    p[k++] = AND32_IMM(BPF_REG_2, 0xffff);
    p[k++] = LDX_W(BPF_REG_3, BPF_REG_1, offsetof(struct bpf_cgroup_dev_ctx, access_type));
    p[k++] = RSH32_IMM(BPF_REG_3, 16);
    p[k++] = LDX_W(BPF_REG_4, BPF_REG_1, offsetof(struct bpf_cgroup_dev_ctx, major));
    p[k++] = LDX_W(BPF_REG_5, BPF_REG_1, offsetof(struct bpf_cgroup_dev_ctx, minor));
    for (size_t i = 0; i < n; i++) {
        const struct cgroup_device_rule *r = &rules[i];
        unsigned acc = ((r->access & DEV_ACCESS_MKNOD) ? BPF_DEVCG_ACC_MKNOD : 0) |
                       ((r->access & DEV_ACCESS_READ) ? BPF_DEVCG_ACC_READ : 0) |
                       ((r->access & DEV_ACCESS_WRITE) ? BPF_DEVCG_ACC_WRITE : 0);
        bool all_acc = acc == (BPF_DEVCG_ACC_MKNOD | BPF_DEVCG_ACC_READ | BPF_DEVCG_ACC_WRITE);
        /* the block's length, so that each test jumps past its end */
        short len = (short)(1 + (all_acc ? 0 : 3) + (r->major != CGROUP_ANY) + (r->minor != CGROUP_ANY) + 2);
        size_t start = k;
#define TO_NEXT ((short)(start + (size_t)len - k - 1))
        p[k] = JNE_IMM(BPF_REG_2, r->type == 'b' ? BPF_DEVCG_DEV_BLOCK : BPF_DEVCG_DEV_CHAR, 0);
        p[k].off = TO_NEXT;
        k++;
        if (!all_acc) {
            p[k++] = MOV32_REG(BPF_REG_1, BPF_REG_3);
            p[k++] = AND32_IMM(BPF_REG_1, (int)(~acc & 0xffffu));
            p[k] = JNE_IMM(BPF_REG_1, 0, 0);
            p[k].off = TO_NEXT;
            k++;
        }
        if (r->major != CGROUP_ANY) {
            p[k] = JNE_IMM(BPF_REG_4, (int)r->major, 0);
            p[k].off = TO_NEXT;
            k++;
        }
        if (r->minor != CGROUP_ANY) {
            p[k] = JNE_IMM(BPF_REG_5, (int)r->minor, 0);
            p[k].off = TO_NEXT;
            k++;
        }
#undef TO_NEXT
        p[k++] = MOV64_IMM(BPF_REG_0, 1);
        p[k++] = EXIT();
    }
    p[k++] = MOV64_IMM(BPF_REG_0, 0);
    p[k++] = EXIT();
    *out = p;
    *count = k;
    return 0;
}

int cgroup_v2_load(const struct cgroup_device_rule *rules, size_t n, ab_error *err)
{
    struct bpf_insn *prog = NULL;
    size_t count = 0;
    if (cgroup_v2_program(rules, n, &prog, &count) < 0)
        return ab_fail(err, ENOMEM, "cannot build the device program");
    static char log[16384];
    log[0] = '\0';
    union bpf_attr a;
    memset(&a, 0, sizeof(a));
    a.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
    a.insns = (uint64_t)(uintptr_t)prog;
    a.insn_cnt = (uint32_t)count;
    a.license = (uint64_t)(uintptr_t) "GPL";
    a.log_buf = (uint64_t)(uintptr_t)log;
    a.log_size = sizeof(log);
    a.log_level = 1;
    int fd = (int)syscall(SYS_bpf, BPF_PROG_LOAD, &a, sizeof(a));
    int e = errno;
    free(prog);
    if (fd < 0) {
        size_t l = strlen(log);
        while (l && log[l - 1] == '\n')
            log[--l] = '\0';
        const char *last = strrchr(log, '\n');
        return ab_fail(err, e, "cannot load the device program%s%s", *log ? ": " : "", last ? last + 1 : log);
    }
    return fd;
}

static int v2_set_devices(const char *path, const struct cgroup_device_rule *rules, size_t n, ab_error *err)
{
    _cleanup_close_ int prog = cgroup_v2_load(rules, n, err);
    if (prog < 0)
        return prog;
    _cleanup_close_ int dir = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0)
        return ab_fail(err, errno, "cannot open the cgroup %s", path);
    union bpf_attr a;
    memset(&a, 0, sizeof(a));
    a.target_fd = (uint32_t)dir;
    a.attach_bpf_fd = (uint32_t)prog;
    a.attach_type = BPF_CGROUP_DEVICE;
    /* no flags: nothing below may attach a program of its own (and the
     * container could not: it needs CAP_SYS_ADMIN in the host's user
     * namespace); programs of the groups above still run as well */
    if (syscall(SYS_bpf, BPF_PROG_ATTACH, &a, sizeof(a)) < 0)
        return ab_fail(err, errno, "cannot attach the device program to %s", path);
    /* the group holds the program now: the fd may go */
    return 0;
}

static int v2_attach(const char *path, pid_t pid, ab_error *err)
{
    char file[4096], text[32];
    snprintf(file, sizeof(file), "%s/cgroup.procs", path);
    snprintf(text, sizeof(text), "%d", (int)pid);
    _cleanup_close_ int fd = open(file, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return ab_fail(err, errno, "cannot open %s", file);
    if (write(fd, text, strlen(text)) != (ssize_t)strlen(text))
        return ab_fail(err, errno, "cannot move process %d into %s", (int)pid, path);
    return 0;
}

static int v2_destroy(const char *path)
{
    if (rmdir(path) < 0 && errno != ENOENT)
        return -errno;
    return 0;
}

const struct cgroup_backend cgroup_v2_backend = {
    .name = "v2",
    .devices_usable = v2_devices_usable,
    .create = v2_create,
    .set_devices = v2_set_devices,
    .attach = v2_attach,
    .destroy = v2_destroy,
};
