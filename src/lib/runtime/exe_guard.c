#include "runtime/exe_guard.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <stdbool.h>
#include <string.h>
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

/* Whether no one but host root may write ST: owned by root, and no group or
 * other write bit (a POSIX ACL granting write to anyone shows as the group
 * write bit, its mask).  A directory may be writable by others if it is
 * sticky (/tmp): then they cannot rename or remove root's entries. */
static bool only_root_writes(const struct stat *st, bool is_dir)
{
    if (st->st_uid != 0)
        return false;
    if (!(st->st_mode & (S_IWGRP | S_IWOTH)))
        return true;
    return is_dir && (st->st_mode & S_ISVTX);
}

/* The fast path, taken without a copy: PATH is the file EXE is, and it and
 * every directory above it only host root may change, so no id a container
 * can have (not the caller's own, not the subordinate range, not a group the
 * caller keeps) can write the binary, chmod it as its owner, or put another
 * one in its place.  That is the installed case (/usr/bin/appbox, 0755). */
static bool installed_by_root(const struct stat *exe, const char *path)
{
    struct stat st, onpath;
    if (!S_ISREG(exe->st_mode) || !only_root_writes(exe, false))
        return false;
    /* " (deleted)" or renamed since: the path says nothing of the file */
    if (path[0] != '/' || lstat(path, &onpath) < 0 || onpath.st_dev != exe->st_dev || onpath.st_ino != exe->st_ino)
        return false;
    _cleanup_free_ char *dir = strdup(path);
    if (!dir)
        return false;
    for (char *slash; (slash = strrchr(dir, '/'));) {
        slash[slash == dir ? 1 : 0] = '\0';
        /* the kernel's path has no symlinks: one here is a change, so distrust it */
        if (lstat(dir, &st) < 0 || !S_ISDIR(st.st_mode) || !only_root_writes(&st, true))
            return false;
        if (slash == dir)
            break;
    }
    return true;
}

/* How much of the ELF file at FD the kernel and the dynamic loader read:
 * up to the end of its last program header's bytes.  What follows (debug
 * information, the section headers: two thirds of a build with -g) is
 * left out of the copy, which is made at every start of appbox-oci.
 * SIZE (the whole file) when FD is not an ELF file this understands. */
static off_t loaded_size(int fd, off_t size)
{
    Elf64_Ehdr eh;
    if (pread(fd, &eh, sizeof(eh), 0) != (ssize_t)sizeof(eh) || memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 ||
        eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum == 0 ||
        eh.e_phnum > 64)
        return size;
    Elf64_Phdr ph[64];
    size_t len = (size_t)eh.e_phnum * sizeof(Elf64_Phdr);
    if (pread(fd, ph, len, (off_t)eh.e_phoff) != (ssize_t)len)
        return size;
    uint64_t end = eh.e_phoff + len;
    for (size_t i = 0; i < eh.e_phnum; i++)
        if (ph[i].p_offset + ph[i].p_filesz > end)
            end = ph[i].p_offset + ph[i].p_filesz;
    return end < (uint64_t)size ? (off_t)end : size;
}

static void guard(char **argv, bool always)
{
    _cleanup_close_ int exe = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
    if (exe < 0)
        return;
    int seals = fcntl(exe, F_GET_SEALS);
    if (seals >= 0 && (seals & F_SEAL_WRITE))
        return;
    /* The kernel's name of the file, for the fast path's check and for
     * launchers, which must name the file, not the sealed copy. */
    char path[4096];
    ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - 1);
    path[n > 0 ? n : 0] = '\0';
    /* Any other owner may be an id of the container's (the caller's own:
     * a read-only mode is no protection, the owner may chmod it back), or
     * one that writes a file the container then gets to run. */
    struct stat st;
    if (fstat(exe, &st) < 0 || (!always && installed_by_root(&st, path)))
        return;
    _cleanup_close_ int mfd = memfd_create("appbox", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (mfd < 0)
        return;
    off_t off = 0, size = loaded_size(exe, st.st_size);
    while (off < size) {
        ssize_t sent = sendfile(mfd, exe, &off, (size_t)(size - off));
        if (sent <= 0)
            return;
    }
    if (fcntl(mfd, F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE) < 0)
        return;
    if (path[0])
        setenv("APPBOX_EXE", path, 0);
    extern char **environ;
    fexecve(mfd, argv, environ);
}

void exe_guard(char **argv)
{
    guard(argv, false);
}

void exe_guard_always(char **argv)
{
    guard(argv, true);
}
