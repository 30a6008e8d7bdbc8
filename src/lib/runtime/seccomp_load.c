/* Load the default filter compiled at build time (src/tools/gen_seccomp.c):
 * the same program libseccomp makes from seccomp_filter.c, without
 * compiling it again on every start. */
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "runtime/seccomp_filter.h"
#include "seccomp_bpf.h"

int seccomp_filter_load(ab_error *err)
{
    struct sock_fprog prog = {
        .len = (unsigned short)(sizeof(default_filter_bpf) / sizeof(struct sock_filter)),
        .filter = (struct sock_filter *)(void *)default_filter_bpf,
    };
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0)
        return ab_fail(err, errno, "cannot load the seccomp filter");
    return 0;
}
