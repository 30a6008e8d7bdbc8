#include "container/bases.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "container/container.h"
#include "container/store.h"
#include "image/bootstrap.h"
#include "runtime/identity.h"
#include "runtime/idmap.h"
#include "util/cleanup.h"
#include "util/fsutil.h"

/* As a cache name, plus one '.' and the hex part. */
static bool id_valid(const char *id)
{
    size_t len = strlen(id);
    if (len == 0 || len > 160 || id[0] == '.' || id[0] == '-' || !strchr(id, '.'))
        return false;
    for (size_t i = 0; i < len; i++)
        if (!((id[i] >= 'a' && id[i] <= 'z') || (id[i] >= 'A' && id[i] <= 'Z') || (id[i] >= '0' && id[i] <= '9') ||
              strchr("-_.", id[i])))
            return false;
    return true;
}

static char *bases_dir(struct ab_ctx *ctx, ab_error *err)
{
    _cleanup_free_ char *images = image_cache_dir(ctx, err);
    char *d = NULL;
    if (!images || asprintf(&d, "%s/bases", images) < 0) {
        ab_fail(err, ENOMEM, "out of memory");
        return NULL;
    }
    return d;
}

char *bases_root(struct ab_ctx *ctx, const char *id, ab_error *err)
{
    _cleanup_free_ char *dir = bases_dir(ctx, err);
    char *p = NULL;
    if (!dir || asprintf(&p, "%s/%s/root", dir, id) < 0) {
        ab_fail(err, ENOMEM, "out of memory");
        return NULL;
    }
    return p;
}

/* The host id container root has: a root caller's is 0 (its store holds
 * a root file system's ids, idmapped at every start). */
static unsigned long long owner_id(void)
{
    if (getuid() == 0)
        return 0;
    struct spec s;
    spec_init(&s);
    struct spec_user id;
    struct spec_idmap uids, gids;
    ab_error ignored;
    identity_resolve(&s, &id, &ignored);
    spec_free(&s);
    if (idmap_choose(&uids, &gids, id.caller_uid, id.caller_gid, id.caller_name, 0, 0, &ignored) < 0)
        return getuid();
    return idmap_outside(&uids, 0);
}

char *bases_id(struct ab_ctx *ctx, const char *tar, ab_error *err)
{
    (void)ctx;
    struct statx st;
    if (statx(AT_FDCWD, tar, 0, STATX_BASIC_STATS | STATX_BTIME, &st) < 0) {
        ab_fail(err, errno, "cannot read %s", tar);
        return NULL;
    }
    /* its birth (where the file system keeps it, else its last change):
     * a new build is a new file, even in a reused inode with the same
     * size and a modification time carried over (cp -p) */
    const struct statx_timestamp *born = (st.stx_mask & STATX_BTIME) ? &st.stx_btime : &st.stx_ctime;
    _cleanup_free_ char *copy = strdup(tar);
    if (!copy) {
        ab_fail(err, ENOMEM, "out of memory");
        return NULL;
    }
    char *name = basename(copy);
    size_t len = strlen(name);
    if (len > 4 && strcmp(name + len - 4, ".tar") == 0)
        name[len - 4] = '\0';
    /* FNV-1a over what tells one build of the tarball from another */
    unsigned long long v[] = { st.stx_ino, st.stx_size, (unsigned long long)st.stx_mtime.tv_sec, st.stx_mtime.tv_nsec,
                               (unsigned long long)born->tv_sec, born->tv_nsec, owner_id() };
    unsigned long long h = 1469598103934665603ULL;
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
        for (size_t b = 0; b < 8; b++) {
            h ^= (v[i] >> (8 * b)) & 0xff;
            h *= 1099511628211ULL;
        }
    char *id = NULL;
    if (asprintf(&id, "%s.%016llx", name, h) < 0) {
        ab_fail(err, ENOMEM, "out of memory");
        return NULL;
    }
    return id;
}

/* One lock for the bases of a store: held while a base is looked for or
 * unpacked until its use is recorded, and while unused ones are removed. */
static int lock_bases(int dirfd, ab_error *err)
{
    int fd = openat(dirfd, ".lock", O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return ab_fail(err, errno, "cannot open the lock of the shared bases");
    if (flock(fd, LOCK_EX) < 0) {
        int e = errno;
        close(fd);
        return ab_fail(err, e, "cannot lock the shared bases");
    }
    return fd;
}

int bases_prepare(struct ab_ctx *ctx, const struct image_ref *ref, const char *id, int *lock, ab_error *err)
{
    *lock = -1;
    _cleanup_free_ char *dir = bases_dir(ctx, err);
    if (!dir)
        return -ENOMEM;
    if (fs_mkdirs(dir, true, err) < 0)
        return -EIO;
    _cleanup_close_ int dfd = open(dir, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dfd < 0)
        return ab_fail(err, errno, "cannot open %s", dir);
    _cleanup_close_ int lk = lock_bases(dfd, err);
    if (lk < 0)
        return lk;
    struct stat st;
    if (fstatat(dfd, id, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode)) {
        *lock = take_fd(&lk);
        return 0;
    }
    /* Unpacked into ID.part, renamed when complete: a base that exists is
     * whole.  A .part is what an appbox that was killed left. */
    char part[200];
    snprintf(part, sizeof(part), "%s.part", id);
    int r = container_remove_tree_at(dfd, part, err);
    if (r < 0)
        return r;
    _cleanup_free_ char *partp = NULL, *rootp = NULL;
    if (asprintf(&partp, "%s/%s", dir, part) < 0 || asprintf(&rootp, "%s/root", partp) < 0)
        return ab_fail(err, ENOMEM, "out of memory");
    if (mkdirat(dfd, part, 0700) < 0 || mkdir(rootp, 0755) < 0)
        return ab_fail(err, errno, "cannot create %s", rootp);
    r = image_import(ctx, ref, rootp, err);
    if (r == 0 && renameat(dfd, part, dfd, id) < 0)
        r = ab_fail(err, errno, "cannot store the base %s/%s", dir, id);
    if (r < 0) {
        ab_error e2 = { 0 };
        container_remove_tree_at(dfd, part, &e2);
        return r;
    }
    *lock = take_fd(&lk);
    return 0;
}

char *bases_of(struct ab_ctx *ctx, const char *name)
{
    ab_error err;
    int datafd = store_name_valid(name) ? ab_ctx_data_fd_existing(ctx, &err) : -1;
    if (datafd < 0) {
        errno = ENOENT;
        return NULL;
    }
    _cleanup_close_ int dir = openat(datafd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    _cleanup_close_ int fd = dir < 0 ? -1 : openat(dir, "base", O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    char *text = fd < 0 ? NULL : fs_read_fd(fd, 256);
    if (!text) {
        errno = ENOENT;
        return NULL;
    }
    text[strcspn(text, "\n")] = '\0';
    if (!id_valid(text)) {
        free(text);
        errno = EINVAL;
        return NULL;
    }
    return text;
}

static int names_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every directory of the data dir with a base note counts, a create under
 * way (no appbox.conf yet) and its remains included: its base stays until
 * the create is done or its remains are removed. */
int bases_users(struct ab_ctx *ctx, const char *id, bool prefix, strv *names, ab_error *err)
{
    int datafd = ab_ctx_data_fd_existing(ctx, err);
    if (datafd < 0)
        return 0;
    int dupfd = openat(datafd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = dupfd < 0 ? NULL : fdopendir(dupfd);
    if (!d) {
        if (dupfd >= 0)
            close(dupfd);
        return ab_fail(err, errno, "cannot read %s", ctx->data_dir);
    }
    size_t len = strlen(id);
    for (struct dirent *e; (e = readdir(d));) {
        if (!store_name_valid(e->d_name))
            continue;
        _cleanup_free_ char *b = bases_of(ctx, e->d_name);
        if (b && (prefix ? strncmp(b, id, len) == 0 && b[len] == '.' : strcmp(b, id) == 0))
            strv_push(names, e->d_name);
    }
    closedir(d);
    if (names->n)
        qsort(names->v, names->n, sizeof(char *), names_cmp);
    return 0;
}

/* Whether base ID is the unpack of a tarball the cache holds now. */
static bool current(struct ab_ctx *ctx, const char *id)
{
    ab_error ignored;
    _cleanup_free_ char *images = image_cache_dir(ctx, &ignored);
    _cleanup_free_ char *tar = NULL;
    const char *dot = strrchr(id, '.');
    if (!images || asprintf(&tar, "%s/%.*s.tar", images, (int)(dot - id), id) < 0)
        return true; /* when in doubt, keep */
    if (access(tar, F_OK) < 0)
        return false;
    _cleanup_free_ char *now = bases_id(ctx, tar, &ignored);
    return !now || strcmp(now, id) == 0;
}

int bases_collect(struct ab_ctx *ctx, ab_error *err)
{
    _cleanup_free_ char *dir = bases_dir(ctx, err);
    if (!dir)
        return -ENOMEM;
    _cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dfd < 0)
        return errno == ENOENT ? 0 : ab_fail(err, errno, "cannot read %s", dir);
    int dupfd = fcntl(dfd, F_DUPFD_CLOEXEC, 3);
    DIR *d = dupfd < 0 ? NULL : fdopendir(dupfd);
    if (!d)
        return ab_fail(err, errno, "cannot read %s", dir);
    strv stale = { 0 };
    for (struct dirent *e; (e = readdir(d));)
        if (id_valid(e->d_name))
            strv_push(&stale, e->d_name);
    closedir(d);
    _cleanup_close_ int lk = lock_bases(dfd, err);
    if (lk < 0) {
        strv_clear(&stale);
        return lk;
    }
    int r = 0;
    for (size_t i = 0; i < stale.n; i++) {
        const char *id = stale.v[i];
        size_t len = strlen(id);
        bool part = len > 5 && strcmp(id + len - 5, ".part") == 0;
        strv users = { 0 };
        int u = part ? 0 : bases_users(ctx, id, false, &users, err);
        size_t n = users.n;
        strv_clear(&users);
        /* a .part under the lock is what a killed unpack left */
        if (u < 0 || n || (!part && current(ctx, id)))
            continue;
        if ((r = container_remove_tree_at(dfd, id, err)) < 0) {
            ab_error_prefix(err, "cannot remove the unused base %s/%s", dir, id);
            break;
        }
    }
    strv_clear(&stale);
    return r;
}
