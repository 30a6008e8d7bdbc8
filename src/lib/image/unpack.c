#include "image/unpack.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/fsutil.h"

#define WH_PREFIX ".wh."
#define WH_OPAQUE ".wh..wh..opq"

bool unpack_path_ok(const char *name)
{
    if (!name || !*name || name[0] == '/')
        return false;
    for (const char *p = name; *p;) {
        const char *end = strchrnul(p, '/');
        if (end - p == 2 && p[0] == '.' && p[1] == '.')
            return false;
        p = *end ? end + 1 : end;
    }
    return true;
}

/* "./a/b/" -> "a/b"; "." -> "" */
static void normalize(char *name)
{
    char *src = name;
    while (src[0] == '.' && src[1] == '/')
        src += 2;
    if (strcmp(src, ".") == 0)
        src += 1;
    memmove(name, src, strlen(src) + 1);
    size_t len = strlen(name);
    while (len > 0 && name[len - 1] == '/')
        name[--len] = '\0';
}

/* Remove NAME below DIRFD, recursively, never following a symlink. */
static int remove_at(int parent, const char *name)
{
    if (unlinkat(parent, name, 0) == 0 || errno == ENOENT)
        return 0;
    if (errno != EISDIR && errno != EPERM)
        return -errno;
    int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return -errno;
    }
    int r = 0;
    for (struct dirent *e; r == 0 && (e = readdir(d));)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            r = remove_at(dirfd(d), e->d_name);
    closedir(d);
    if (r == 0 && unlinkat(parent, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
        r = -errno;
    return r;
}

/* A DIR stream on a copy of DIR (which stays open). */
static DIR *opendir_dup(int dir)
{
    int fd = dup(dir);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d && fd >= 0) {
        int e = errno;
        close(fd);
        errno = e;
    }
    return d;
}

static bool dir_is_empty(int dir)
{
    DIR *d = opendir_dup(dir);
    if (!d)
        return false;
    bool empty = true;
    for (struct dirent *e; empty && (e = readdir(d));)
        empty = !strcmp(e->d_name, ".") || !strcmp(e->d_name, "..");
    closedir(d);
    return empty;
}

static int clear_dir_at(int dir)
{
    DIR *d = opendir_dup(dir);
    if (!d)
        return -errno;
    int r = 0;
    for (struct dirent *e; r == 0 && (e = readdir(d));)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            r = remove_at(dir, e->d_name);
    closedir(d);
    return r;
}

/* A whiteout entry: delete NAME (or empty the directory for an opaque
 * marker) in the root, resolving the parent inside the root. */
static int apply_whiteout(int rootfd, const char *path, ab_error *err)
{
    _cleanup_free_ char *copy = strdup(path);
    if (!copy)
        return ab_fail(err, ENOMEM, "out of memory");
    char *slash = strrchr(copy, '/');
    const char *base = slash ? slash + 1 : copy;
    const char *parent = slash ? (*slash = '\0', copy) : ".";
    _cleanup_close_ int dirfd = fs_open_in_root(rootfd, parent, O_RDONLY | O_DIRECTORY);
    if (dirfd < 0)
        return 0; /* nothing below to hide */
    int r = strcmp(base, WH_OPAQUE) == 0 ? clear_dir_at(dirfd) : remove_at(dirfd, base + strlen(WH_PREFIX));
    if (r < 0)
        return ab_fail(err, -r, "cannot apply the whiteout %s", path);
    return 0;
}

/* Whether a directory on the way to PATH is a symlink in the root: an
 * entry written "through" it would land wherever it points.  KNOWN (when
 * not NULL) is the last parent found free of symlinks: entries come in
 * directory order, so most share it and cost no system call; the caller
 * empties it whenever it creates a link or removes anything. */
static bool through_symlink(int rootfd, const char *path, char *known)
{
    const char *last = strrchr(path, '/');
    if (!last)
        return false;
    size_t plen = (size_t)(last - path);
    if (known && known[0] && strlen(known) == plen && memcmp(known, path, plen) == 0)
        return false;
    char prefix[PATH_MAX];
    for (const char *p = strchr(path, '/'); p; p = strchr(p + 1, '/')) {
        size_t len = (size_t)(p - path);
        if (len >= sizeof(prefix))
            return true;
        memcpy(prefix, path, len);
        prefix[len] = '\0';
        struct stat st;
        if (fstatat(rootfd, prefix, &st, AT_SYMLINK_NOFOLLOW) < 0)
            return false; /* missing: created as a directory */
        if (S_ISLNK(st.st_mode))
            return true;
    }
    if (known)
        memcpy(known, path, plen), known[plen] = '\0';
    return false;
}

/* NAME's directories go through a symlink of the image (usrmerge's
 * lib -> usr/lib, say): resolve them as the container would, inside the
 * root, and give back the path the entry really names (malloc'd).  The
 * longest prefix that exists is resolved; what follows it must not exist
 * yet (it is created as directories).  A link that leads nowhere in the
 * image (to a host path, say) is refused: the entry has no place inside. */
static int resolve_in_image(int rootfd, const char *name, char **out, ab_error *err)
{
    _cleanup_free_ char *prefix = strdup(name);
    if (!prefix)
        return ab_fail(err, ENOMEM, "out of memory");
    char *cut = strrchr(prefix, '/');
    *cut = '\0';
    _cleanup_close_ int dir = -1;
    for (;;) {
        dir = fs_open_in_root(rootfd, cut ? prefix : ".", O_PATH | O_DIRECTORY);
        if (dir >= 0 || dir != -ENOENT || !cut)
            break;
        cut = strrchr(prefix, '/');
        if (cut)
            *cut = '\0';
    }
    if (dir < 0)
        return ab_error_set(err, AB_ERR_RUNTIME, 0, "refusing the archive entry '%s': %s", name, strerror(-dir));
    /* the part of NAME below the resolved prefix */
    const char *rest = name + (cut ? strlen(prefix) + 1 : 0);
    _cleanup_free_ char *first = strndup(rest, strcspn(rest, "/"));
    struct stat st;
    if (!first)
        return ab_fail(err, ENOMEM, "out of memory");
    if (strchr(rest, '/') && fstatat(dir, first, &st, AT_SYMLINK_NOFOLLOW) == 0)
        return ab_error_set(err, AB_ERR_RUNTIME, 0, "refusing the archive entry '%s': its path goes through a "
                            "symbolic link that leads out of the image", name);
    char rootpath[PATH_MAX], dirpath[PATH_MAX], link[64];
    snprintf(link, sizeof(link), "/proc/self/fd/%d", rootfd);
    ssize_t rl = readlink(link, rootpath, sizeof(rootpath) - 1);
    snprintf(link, sizeof(link), "/proc/self/fd/%d", dir);
    ssize_t dl = readlink(link, dirpath, sizeof(dirpath) - 1);
    if (rl < 0 || dl < 0)
        return ab_fail(err, errno, "cannot tell where '%s' lands in the image", name);
    rootpath[rl] = dirpath[dl] = '\0';
    size_t n = strcmp(rootpath, "/") == 0 ? 0 : (size_t)rl;
    if (strncmp(dirpath, rootpath, n) != 0 || (dirpath[n] != '/' && dirpath[n] != '\0'))
        return ab_error_set(err, AB_ERR_RUNTIME, 0, "refusing the archive entry '%s': it resolves out of the root",
                            name);
    const char *rel = dirpath + n;
    while (*rel == '/')
        rel++;
    if (asprintf(out, "%s%s%s", rel, *rel ? "/" : "", rest) < 0)
        return ab_fail(err, ENOMEM, "out of memory");
    return 0;
}

/* The entry replaces whatever is at NAME (but a directory by a directory,
 * which libarchive updates): a whole tree included, and a symlink is
 * removed, never written through.  Sets *REMOVED when it removed anything. */
static int make_room(int rootfd, const char *name, mode_t type, bool *removed, ab_error *err)
{
    struct stat st;
    if (fstatat(rootfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || (type == AE_IFDIR && S_ISDIR(st.st_mode)))
        return 0;
    int r = remove_at(rootfd, name);
    if (r < 0)
        return ab_fail(err, -r, "cannot remove '%s', which the entry replaces", name);
    *removed = true;
    return 0;
}

static bool is_whiteout(const char *path)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    return strncmp(base, WH_PREFIX, strlen(WH_PREFIX)) == 0;
}

struct idset {
    unsigned long start[8], len[8];
    int n;
};

static void load_map(const char *file, struct idset *s)
{
    s->n = 0;
    FILE *f = fopen(file, "re");
    unsigned long in, out, cnt;
    while (f && s->n < 8 && fscanf(f, "%lu %lu %lu", &in, &out, &cnt) == 3) {
        s->start[s->n] = in;
        s->len[s->n++] = cnt;
    }
    if (f)
        fclose(f);
}

static bool mapped(const struct idset *s, unsigned long id)
{
    for (int i = 0; i < s->n; i++)
        if (id >= s->start[i] && id - s->start[i] < s->len[i])
            return true;
    return false;
}

/* The entry's path, normalized (malloc'd; NULL when out of memory). */
static char *entry_name(struct archive_entry *e)
{
    const char *p = archive_entry_pathname(e);
    char *name = strdup(p ? p : "");
    if (name)
        normalize(name);
    return name;
}

static struct archive *open_reader(int fd, ab_error *err)
{
    struct archive *a = archive_read_new();
    if (!a) {
        ab_fail(err, ENOMEM, "cannot create an archive reader");
        return NULL;
    }
    archive_read_support_filter_all(a);
    archive_read_support_format_tar(a);
    archive_read_support_format_gnutar(a);
    if (archive_read_open_fd(a, fd, 65536) != ARCHIVE_OK) {
        ab_error_set(err, AB_ERR_RUNTIME, 0, "not a readable archive: %s", archive_error_string(a));
        archive_read_free(a);
        return NULL;
    }
    return a;
}

static int whiteout_pass(int fd, int rootfd, struct unpack_stats *st, ab_error *err)
{
    struct archive *a = open_reader(fd, err);
    if (!a)
        return -EINVAL;
    struct archive_entry *e;
    int r = 0, ar;
    while (r == 0 && (ar = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
        _cleanup_free_ char *name = entry_name(e);
        if (!name) {
            r = ab_fail(err, ENOMEM, "out of memory");
            break;
        }
        if (!is_whiteout(name))
            continue;
        if (!unpack_path_ok(name)) {
            r = ab_error_set(err, AB_ERR_RUNTIME, 0, "refusing the archive entry '%s': it leaves the root", name);
            break;
        }
        r = apply_whiteout(rootfd, name, err);
        st->whiteouts++;
    }
    if (r == 0 && ar != ARCHIVE_EOF && ar != ARCHIVE_OK)
        r = ab_error_set(err, AB_ERR_RUNTIME, 0, "corrupt archive: %s", archive_error_string(a));
    archive_read_free(a);
    return r;
}

int unpack_layer(int fd, const char *dest, struct unpack_stats *st, ab_error *err)
{
    _cleanup_close_ int rootfd = open(dest, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (rootfd < 0)
        return ab_fail(err, errno, "cannot open %s", dest);
    bool seekable = lseek(fd, 0, SEEK_SET) == 0;
    int r;
    /* Whiteouts hide what lower layers put there: onto an empty root (a
     * first layer, a root file system tarball) there is nothing to hide,
     * and no need to read the archive twice. */
    bool empty = dir_is_empty(rootfd);
    if (seekable && !empty) {
        if ((r = whiteout_pass(fd, rootfd, st, err)) < 0)
            return r;
        lseek(fd, 0, SEEK_SET);
    }
    if (fchdir(rootfd) < 0)
        return ab_fail(err, errno, "cannot enter %s", dest);

    struct idset uids, gids;
    load_map("/proc/self/uid_map", &uids);
    load_map("/proc/self/gid_map", &gids);

    struct archive *a = open_reader(fd, err);
    if (!a)
        return -EINVAL;
    struct archive *w = archive_write_disk_new();
    /* Not libarchive's SECURE_SYMLINKS (an open per path component per
     * entry, half the time of an unpack) nor UNLINK: the checks here do
     * that work (unpack_path_ok, through_symlink, make_room), inside a
     * sandbox where nothing but DEST is writable. */
    archive_write_disk_set_options(w, ARCHIVE_EXTRACT_OWNER | ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_TIME |
                                          ARCHIVE_EXTRACT_XATTR | ARCHIVE_EXTRACT_SECURE_NODOTDOT |
                                          ARCHIVE_EXTRACT_SECURE_NOABSOLUTEPATHS);
    char known[PATH_MAX] = "";
    struct archive_entry *e;
    int ar;
    r = 0;
    while (r == 0 && (ar = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
        _cleanup_free_ char *name = entry_name(e);
        if (!name) {
            r = ab_fail(err, ENOMEM, "out of memory");
            break;
        }
        if (!*name) {
            /* the root itself: take its mode, keep it ours */
            continue;
        }
        if (!unpack_path_ok(name)) {
            r = ab_error_set(err, AB_ERR_RUNTIME, 0, "refusing the archive entry '%s': it leaves the root",
                             archive_entry_pathname(e));
            break;
        }
        if (is_whiteout(name) && through_symlink(rootfd, name, NULL)) {
            r = ab_error_set(err, AB_ERR_RUNTIME, 0, "refusing the archive entry '%s': its path goes through a "
                             "symbolic link", name);
            break;
        }
        if (through_symlink(rootfd, name, known)) {
            char *real = NULL;
            if ((r = resolve_in_image(rootfd, name, &real, err)) < 0)
                break;
            free(name);
            name = real;
        }
        if (is_whiteout(name)) {
            known[0] = '\0';
            if (!seekable && !empty && (r = apply_whiteout(rootfd, name, err)) < 0)
                break;
            continue;
        }
        const char *hl = archive_entry_hardlink(e);
        if (hl) {
            _cleanup_free_ char *target = strdup(hl);
            if (!target) {
                r = ab_fail(err, ENOMEM, "out of memory");
                break;
            }
            normalize(target);
            if (!unpack_path_ok(target)) {
                r = ab_error_set(err, AB_ERR_RUNTIME, 0,
                                 "refusing the archive entry '%s': a hard link to '%s', out of the root", name, hl);
                break;
            }
            if (through_symlink(rootfd, target, NULL)) {
                char *real = NULL;
                if (resolve_in_image(rootfd, target, &real, err) < 0) {
                    r = ab_error_set(err, AB_ERR_RUNTIME, 0, "refusing the archive entry '%s': a hard link to "
                                     "'%s', out of the root", name, hl);
                    break;
                }
                free(target);
                target = real;
            }
            archive_entry_set_hardlink(e, target);
        }
        mode_t type = archive_entry_filetype(e);
        if (type == AE_IFCHR || type == AE_IFBLK || type == AE_IFSOCK) {
            st->skipped_devices++;
            continue;
        }
        /* Ids the container cannot map: owner becomes root, and no set-id
         * bit survives (it would make a set-id root file). */
        mode_t perm = archive_entry_perm(e);
        if (!mapped(&uids, (unsigned long)archive_entry_uid(e))) {
            archive_entry_set_uid(e, 0);
            if (perm & S_ISUID)
                st->dropped_setid++;
            perm &= (mode_t)~S_ISUID;
        }
        if (!mapped(&gids, (unsigned long)archive_entry_gid(e))) {
            archive_entry_set_gid(e, 0);
            if (perm & S_ISGID)
                st->dropped_setid++;
            perm &= (mode_t)~S_ISGID;
        }
        archive_entry_set_perm(e, perm);
        archive_entry_set_pathname(e, name);
        bool removed = false;
        if ((r = make_room(rootfd, name, type, &removed, err)) < 0)
            break;
        if (removed || type == AE_IFLNK || hl)
            known[0] = '\0';
        int wr = archive_write_header(w, e);
        if (wr < ARCHIVE_WARN) {
            r = ab_error_set(err, AB_ERR_RUNTIME, 0, "refusing the archive entry '%s': %s", name,
                             archive_error_string(w));
            break;
        }
        if (archive_entry_size(e) > 0 && wr >= ARCHIVE_WARN) {
            const void *buf;
            size_t size;
            la_int64_t off;
            int dr;
            bool write_failed = false;
            /* A failed write is only a warning to libarchive (ARCHIVE_WARN,
             * "Write failed"): for us it is a truncated file, so an error
             * that says why (no space left on the device, ...). */
            while ((dr = archive_read_data_block(a, &buf, &size, &off)) == ARCHIVE_OK)
                if (archive_write_data_block(w, buf, size, off) != ARCHIVE_OK) {
                    write_failed = true;
                    break;
                }
            if (write_failed) {
                int why = archive_errno(w);
                r = ab_error_set(err, AB_ERR_RUNTIME, why, "%s while writing '%s'",
                                 why > 0 ? strerror(why) : archive_error_string(w), name);
                break;
            }
            if (dr != ARCHIVE_EOF) {
                r = ab_error_set(err, AB_ERR_RUNTIME, 0, "cannot read '%s' from the archive: %s", name,
                                 archive_error_string(a));
                break;
            }
        }
        if (archive_write_finish_entry(w) < ARCHIVE_WARN) {
            r = ab_error_set(err, AB_ERR_RUNTIME, 0, "cannot finish '%s': %s", name, archive_error_string(w));
            break;
        }
        st->entries++;
    }
    if (r == 0 && ar != ARCHIVE_EOF)
        r = ab_error_set(err, AB_ERR_RUNTIME, 0, "corrupt archive: %s", archive_error_string(a));
    if (archive_write_close(w) < ARCHIVE_WARN && r == 0)
        r = ab_error_set(err, AB_ERR_RUNTIME, 0, "cannot finish the layer: %s", archive_error_string(w));
    archive_write_free(w);
    archive_read_free(a);
    return r;
}
