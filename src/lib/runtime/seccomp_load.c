/* Load the default filter compiled at build time (src/tools/gen_seccomp.c):
 * the same programs libseccomp makes from seccomp_filter.c, one per
 * variant, without compiling them again on every start. */
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "runtime/seccomp_filter.h"
#include "seccomp_bpf.h"

_Static_assert(sizeof(seccomp_programs) / sizeof(seccomp_programs[0]) == SECCOMP_N_VARIANTS,
               "one program per variant");

int seccomp_filter_load(unsigned variant, ab_error *err)
{
    if (variant >= SECCOMP_N_VARIANTS)
        return ab_fail(err, EINVAL, "no such seccomp filter variant: %u", variant);
    struct sock_fprog prog = {
        .len = (unsigned short)(seccomp_programs[variant].len / sizeof(struct sock_filter)),
        .filter = (struct sock_filter *)(void *)seccomp_programs[variant].bpf,
    };
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0)
        return ab_fail(err, errno, "cannot load the seccomp filter");
    return 0;
}
