#include "exe_guard.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <stdbool.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/cleanup.h"

int exe_is_sealed(void)
{
    _cleanup_close_ int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    int seals = fcntl(fd, F_GET_SEALS);
    return seals >= 0 && (seals & F_SEAL_WRITE);
}

static bool writable_by_container(int fd)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return true;
    if (st.st_mode & S_IWOTH)
        return true;
    if (getuid() == 0)
        return false; /* container ids map to an unprivileged range */
    /* Container processes run with the caller's own uid and gid. */
    return access("/proc/self/exe", W_OK) == 0;
}

void exe_guard(char **argv)
{
    _cleanup_close_ int exe = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
    if (exe < 0)
        return;
    int seals = fcntl(exe, F_GET_SEALS);
    if (seals >= 0 && (seals & F_SEAL_WRITE))
        return;
    if (!writable_by_container(exe))
        return;
    struct stat st;
    if (fstat(exe, &st) < 0)
        return;
    _cleanup_close_ int mfd = memfd_create("appbox", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (mfd < 0)
        return;
    off_t off = 0;
    while (off < st.st_size) {
        ssize_t n = sendfile(mfd, exe, &off, (size_t)(st.st_size - off));
        if (n <= 0)
            return;
    }
    if (fcntl(mfd, F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE) < 0)
        return;
    /* Launchers must name the file, not the sealed copy. */
    char path[4096];
    ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - 1);
    if (n > 0) {
        path[n] = '\0';
        setenv("APPBOX_EXE", path, 0);
    }
    extern char **environ;
    fexecve(mfd, argv, environ);
}
