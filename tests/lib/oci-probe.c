/* oci-probe: a static helper the OCI tests put into their busybox root
 * (as /bin/oci-probe) for what busybox cannot ask the kernel.
 *
 *   oci-probe sys NR [ARG...]   syscall(NR, ARG...) (numbers, strtoul base 0);
 *                               prints "ok RET" or "errno E" and exits 0
 *
 * A seccomp rule that ERRNOs a call shows as "errno E" with the rule's
 * errnoRet, where the kernel alone would have answered otherwise. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc < 3 || strcmp(argv[1], "sys") != 0 || argc > 9) {
        fprintf(stderr, "usage: oci-probe sys NR [ARG...] (at most 6 args)\n");
        return 2;
    }
    long nr = strtol(argv[2], NULL, 0);
    unsigned long a[6] = {0};
    for (int i = 3; i < argc; i++)
        a[i - 3] = strtoul(argv[i], NULL, 0);
    errno = 0;
    long r = syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
    if (r == -1)
        printf("errno %d\n", errno);
    else
        printf("ok %ld\n", r);
    return 0;
}
