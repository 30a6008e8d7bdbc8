/* cp's stream and its two ends (copy_stream.h).
 *
 * The stream.  A tree goes depth-first as frames: a header (struct copy_frame),
 * the entry's name (one path component, never a path), a symlink's target,
 * then a regular file's bytes (exactly `size` of them).  'D' opens a
 * directory, 'E' closes the last one opened, 'F' is a regular file, 'L' a
 * symbolic link, 'H' (export only) a hard link to an earlier file, 'W' a
 * warning, 'R' the sender's error, 'X' the end.  The receiver holds the
 * directories it opened as fds and creates each entry with *at() calls on
 * one name (O_NOFOLLOW, O_EXCL): the stream cannot name a path, so it
 * cannot lead anywhere but below where the copy goes.  Both ends are
 * appbox's own code; the container only chooses names and contents. */
#include "container/copy_stream.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <search.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/fsutil.h"

#define SETID (S_ISUID | S_ISGID)

/* --- buffered I/O on the stream ------------------------------------------ */

int stream_put_raw(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == ENOTSOCK)
            w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return w < 0 ? -errno : -EIO;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int stream_flush(struct wbuf *w)
{
    if (w->error)
        return -w->error;
    int r = stream_put_raw(w->fd, w->b, w->n);
    w->n = 0;
    if (r < 0)
        w->error = -r;
    return r;
}

int stream_put(struct wbuf *w, const void *p, size_t n)
{
    if (w->error)
        return -w->error;
    if (w->n + n > sizeof(w->b) && stream_flush(w) < 0)
        return -w->error;
    if (n >= sizeof(w->b)) {
        int r = stream_put_raw(w->fd, p, n);
        if (r < 0)
            w->error = -r;
        return r;
    }
    memcpy(w->b + w->n, p, n);
    w->n += n;
    return 0;
}

/* Exactly N bytes, or -EPIPE at the end of the stream. */
int stream_get(struct rbuf *r, void *p, size_t n)
{
    char *d = p;
    while (n > 0) {
        if (r->pos == r->len) {
            ssize_t got = read(r->fd, r->b, sizeof(r->b));
            if (got < 0 && errno == EINTR)
                continue;
            if (got < 0)
                return -errno;
            if (got == 0)
                return -EPIPE;
            r->pos = 0;
            r->len = (size_t)got;
        }
        size_t k = r->len - r->pos < n ? r->len - r->pos : n;
        memcpy(d, r->b + r->pos, k);
        r->pos += k;
        d += k;
        n -= k;
    }
    return 0;
}

static int send_frame(struct wbuf *w, struct copy_frame *f, const char *name, const char *link)
{
    f->namelen = name ? (uint32_t)strlen(name) : 0;
    f->linklen = link ? (uint32_t)strlen(link) : 0;
    int r = stream_put(w, f, sizeof(*f));
    if (r == 0 && f->namelen)
        r = stream_put(w, name, f->namelen);
    if (r == 0 && f->linklen)
        r = stream_put(w, link, f->linklen);
    return r;
}

int stream_send_text(struct wbuf *w, int type, const char *msg)
{
    struct copy_frame f = { .type = (uint8_t)type };
    char m[sizeof(((ab_error *)0)->msg)];
    size_t len = strnlen(msg, sizeof(m) - 1);
    memcpy(m, msg, len);
    m[len] = '\0';
    return send_frame(w, &f, m, NULL);
}

/* --- the sender: a tree as frames ------------------------------------------ */

struct link_seen {
    dev_t dev;
    ino_t ino;
    char *path;
};

static int link_cmp(const void *a, const void *b)
{
    const struct link_seen *x = a, *y = b;
    if (x->dev != y->dev)
        return x->dev < y->dev ? -1 : 1;
    return x->ino < y->ino ? -1 : x->ino > y->ino;
}

static void link_free(void *p)
{
    struct link_seen *l = p;
    free(l->path);
    free(l);
}

static int sfail(struct sender *S, int e, const char *what)
{
    return ab_fail(S->err, e, "%s%s: %s", S->display, S->path, what);
}

static void swarn(struct sender *S, const char *what)
{
    char m[PATH_MAX + 256];
    snprintf(m, sizeof(m), "%s%s: %s", S->display, S->path, what);
    if (S->log_here)
        ab_log(S->log_here, AB_LOG_WARNING, "%s", m);
    else
        stream_send_text(S->w, FR_WARN, m);
}

uint64_t stream_mount_id(int fd)
{
#ifdef STATX_MNT_ID
    struct statx sx;
    if (statx(fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW, STATX_MNT_ID, &sx) == 0 && (sx.stx_mask & STATX_MNT_ID))
        return sx.stx_mnt_id;
#endif
    return 0;
}

static void fill(struct copy_frame *f, int type, const struct stat *st, bool owners)
{
    memset(f, 0, sizeof(*f));
    f->type = (uint8_t)type;
    f->mode = st->st_mode & 07777;
    f->uid = owners ? st->st_uid : 0;
    f->gid = owners ? st->st_gid : 0;
    f->mtime = st->st_mtim.tv_sec;
    f->mtime_ns = (uint32_t)st->st_mtim.tv_nsec;
}

static int send_tree(struct sender *S, int dirfd, const char *name, int fd, const struct stat *st);

static int send_file(struct sender *S, const char *name, int fd, const struct stat *st)
{
    struct copy_frame f;
    if (S->owners && st->st_nlink > 1) {
        struct link_seen key = { .dev = st->st_dev, .ino = st->st_ino };
        struct link_seen **found = tfind(&key, &S->links, link_cmp);
        if (found) {
            fill(&f, FR_HARD, st, true);
            return send_frame(S->w, &f, name, (*found)->path) < 0 ? sfail(S, S->w->error, "cannot send") : 0;
        }
        struct link_seen *l = malloc(sizeof(*l));
        if (l)
            *l = key;
        if (!l || !(l->path = strdup(S->path[0] == '/' ? S->path + 1 : S->path)) || !tsearch(l, &S->links, link_cmp)) {
            if (l)
                free(l->path);
            free(l);
            return ab_fail(S->err, ENOMEM, "out of memory");
        }
    }
    fill(&f, FR_FILE, st, S->owners);
    f.size = (uint64_t)st->st_size;
    if (send_frame(S->w, &f, name, NULL) < 0)
        return sfail(S, S->w->error, "cannot send");
    /* Exactly the size announced: a file that changes meanwhile (a running
     * container) is cut or padded, and said so. */
    char buf[65536];
    uint64_t left = f.size;
    bool changed = false;
    while (left > 0) {
        size_t want = left < sizeof(buf) ? (size_t)left : sizeof(buf);
        ssize_t got = changed ? 0 : read(fd, buf, want);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            return sfail(S, errno, "cannot read");
        if (got == 0) {
            changed = true;
            memset(buf, 0, want);
            got = (ssize_t)want;
        }
        if (stream_put(S->w, buf, (size_t)got) < 0)
            return sfail(S, S->w->error, "cannot send");
        left -= (uint64_t)got;
    }
    if (changed)
        swarn(S, "the file shrank while it was copied (padded with zeros)");
    return 0;
}

static int send_dir(struct sender *S, const char *name, int fd, const struct stat *st)
{
    struct copy_frame f;
    fill(&f, FR_DIR, st, S->owners);
    if (send_frame(S->w, &f, name, NULL) < 0)
        return sfail(S, S->w->error, "cannot send");
    int dfd = dup(fd);
    DIR *d = dfd < 0 ? NULL : fdopendir(dfd);
    if (!d) {
        int e = errno;
        if (dfd >= 0)
            close(dfd);
        return sfail(S, e, "cannot list the directory");
    }
    int r = 0;
    struct dirent *de;
    for (errno = 0; r == 0 && (de = readdir(d)); errno = 0) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        size_t len = strlen(de->d_name);
        if (S->plen + 1 + len >= sizeof(S->path)) {
            r = sfail(S, ENAMETOOLONG, "cannot copy what is below");
            break;
        }
        size_t old = S->plen;
        S->path[S->plen++] = '/';
        memcpy(S->path + S->plen, de->d_name, len + 1);
        S->plen += len;
        r = send_tree(S, fd, de->d_name, -1, NULL);
        S->plen = old;
        S->path[old] = '\0';
    }
    if (r == 0 && errno != 0)
        r = sfail(S, errno, "cannot list the directory");
    closedir(d);
    if (r == 0) {
        struct copy_frame e = { .type = FR_END };
        if (send_frame(S->w, &e, NULL, NULL) < 0)
            r = sfail(S, S->w->error, "cannot send");
    }
    return r;
}

/* NAME in DIRFD (never followed), or the already open FD with its ST. */
static int send_tree(struct sender *S, int dirfd, const char *name, int fd, const struct stat *st)
{
    struct stat own;
    _cleanup_close_ int opened = -1;
    if (fd < 0) {
        if (fstatat(dirfd, name, &own, AT_SYMLINK_NOFOLLOW) < 0)
            return sfail(S, errno, "cannot read");
        st = &own;
        if (S_ISLNK(st->st_mode)) {
            char target[PATH_MAX];
            ssize_t n = readlinkat(dirfd, name, target, sizeof(target) - 1);
            if (n < 0)
                return sfail(S, errno, "cannot read the link");
            target[n] = '\0';
            struct copy_frame f;
            fill(&f, FR_LINK, st, S->owners);
            return send_frame(S->w, &f, name, target) < 0 ? sfail(S, S->w->error, "cannot send") : 0;
        }
        if (!S_ISDIR(st->st_mode) && !S_ISREG(st->st_mode)) {
            S->skipped++;
            swarn(S, S_ISFIFO(st->st_mode) ? "skipped: a fifo (only files, directories and links are copied)" :
                     S_ISSOCK(st->st_mode) ? "skipped: a socket (only files, directories and links are copied)" :
                                             "skipped: a device node (only files, directories and links are copied)");
            return 0;
        }
        /* Opened without following, then checked to be what was looked
         * at: a swap in between is refused, not copied. */
        opened = openat(dirfd, name,
                        O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC |
                            (S_ISDIR(st->st_mode) ? O_DIRECTORY : 0));
        if (opened < 0)
            return sfail(S, errno, "cannot open");
        struct stat now;
        if (fstat(opened, &now) < 0)
            return sfail(S, errno, "cannot read");
        if (now.st_ino != st->st_ino || now.st_dev != st->st_dev)
            return sfail(S, 0, "changed while it was copied");
        own = now;
        fd = opened;
        if (S->one_mount && S->mnt_id && stream_mount_id(fd) != S->mnt_id) {
            /* something mounted on the root (export): its mount point only */
            if (!S_ISDIR(st->st_mode))
                return 0;
            struct copy_frame f, e = { .type = FR_END };
            fill(&f, FR_DIR, st, S->owners);
            return send_frame(S->w, &f, name, NULL) < 0 || send_frame(S->w, &e, NULL, NULL) < 0 ?
                       sfail(S, S->w->error, "cannot send") : 0;
        }
    }
    if (S_ISDIR(st->st_mode))
        return send_dir(S, name, fd, st);
    if (S_ISREG(st->st_mode))
        return send_file(S, name, fd, st);
    S->skipped++;
    return sfail(S, 0, "not a regular file or directory (only files, directories and links are copied)");
}

/* --- the receiver: frames as a tree ---------------------------------------- */

struct receiver {
    struct rbuf *r;
    struct ab_ctx *ctx;
    const char *display; /* the destination as the user named it */
    int top_parent;      /* where the first entry goes ... */
    const char *top_name;/* ... under this name */
    unsigned long dropped_setid;
    mode_t mask;         /* mode bits never given (copy_receive()) */
    ab_error *err;
    int depth;
    char path[PATH_MAX]; /* below the top, for messages */
    size_t plen;
};

struct level {
    int fd;
    bool created;        /* made by this copy: its mode and time are the stream's */
    uint32_t mode;
    struct timespec ts[2];
    size_t plen; /* R->path's length before this level */
};

bool stream_name_ok(const char *n, size_t len)
{
    return len > 0 && len <= NAME_MAX && !memchr(n, '/', len) && !memchr(n, '\0', len) && strcmp(n, ".") != 0 &&
           strcmp(n, "..") != 0;
}

/* "DISPLAY/PATH/NAME: WHAT" (DISPLAY names the top entry itself) */
static int rfail(struct receiver *R, const char *name, int e, const char *what)
{
    if (R->depth == 0)
        return ab_fail(R->err, e, "%s: %s", R->display, what);
    return ab_fail(R->err, e, "%s%s/%s: %s", R->display, R->path, name, what);
}

/* Make room for a new NAME in DIR: an existing non-directory is replaced
 * (unlinked, never written through); a directory is refused. */
static int clear_name(struct receiver *R, int dir, const char *name)
{
    struct stat st;
    if (fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return errno == ENOENT ? 0 : rfail(R, name, errno, "cannot look at the destination");
    if (S_ISDIR(st.st_mode))
        return rfail(R, name, EISDIR, "cannot replace a directory with a file");
    if (unlinkat(dir, name, 0) < 0)
        return rfail(R, name, errno, "cannot replace");
    return 0;
}

static int recv_file(struct receiver *R, int dir, const char *name, const struct copy_frame *f)
{
    int r = clear_name(R, dir, name);
    if (r < 0)
        return r;
    _cleanup_close_ int fd = openat(dir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return rfail(R, name, errno, "cannot create");
    char buf[65536];
    uint64_t left = f->size;
    while (left > 0) {
        size_t want = left < sizeof(buf) ? (size_t)left : sizeof(buf);
        if ((r = stream_get(R->r, buf, want)) < 0)
            return rfail(R, name, -r, "the copy was cut short");
        if ((r = stream_put_raw(fd, buf, want)) < 0)
            return rfail(R, name, -r, "cannot write");
        left -= want;
    }
    uint32_t mode = f->mode & ~(uint32_t)SETID;
    if (mode != f->mode)
        R->dropped_setid++;
    mode &= ~(uint32_t)R->mask;
    struct timespec ts[2] = { { .tv_nsec = UTIME_OMIT }, { .tv_sec = f->mtime, .tv_nsec = f->mtime_ns } };
    if (fchmod(fd, mode) < 0)
        return rfail(R, name, errno, "cannot set the mode");
    futimens(fd, ts);
    return 0;
}

static int receive(struct receiver *R)
{
    struct level stack[COPY_MAX_DEPTH + 1];
    int r = 0;
#define depth R->depth
    bool top_done = false;
    char name[NAME_MAX + 1], link[PATH_MAX];
    for (;;) {
        struct copy_frame f;
        if ((r = stream_get(R->r, &f, sizeof(f))) < 0) {
            r = ab_fail(R->err, r == -EPIPE ? 0 : -r, "%s: the copy was cut short (the other side stopped)",
                        R->display);
            break;
        }
        bool text = f.type == FR_WARN || f.type == FR_FAIL;
        if (f.namelen > (text ? sizeof(R->err->msg) - 1 : NAME_MAX) || f.linklen >= sizeof(link)) {
            r = ab_fail(R->err, 0, "%s: a bad frame in the copy stream", R->display);
            break;
        }
        char msg[sizeof(R->err->msg)];
        char *np = text ? msg : name;
        if ((f.namelen && (r = stream_get(R->r, np, f.namelen)) < 0) ||
            (f.linklen && (r = stream_get(R->r, link, f.linklen)) < 0)) {
            r = ab_fail(R->err, 0, "%s: the copy was cut short", R->display);
            break;
        }
        np[f.namelen] = '\0';
        link[f.linklen] = '\0';
        if (f.type == FR_DONE) {
            r = depth == 0 && top_done ? 0 : ab_fail(R->err, 0, "%s: the copy stream ended early", R->display);
            break;
        }
        if (f.type == FR_FAIL) {
            r = ab_error_set(R->err, AB_ERR_RUNTIME, 0, "%s", msg);
            break;
        }
        if (f.type == FR_WARN) {
            if (R->ctx)
                ab_log(R->ctx, AB_LOG_WARNING, "%s", msg);
            continue;
        }
        if (f.type == FR_END) {
            if (depth == 0) {
                r = ab_fail(R->err, 0, "%s: a bad frame in the copy stream", R->display);
                break;
            }
            struct level *l = &stack[--depth];
            /* a directory that was there (merged into) keeps its own mode:
             * the stream's may be a hostile container's 0777 */
            if (l->created) {
                fchmod(l->fd, l->mode & ~(uint32_t)R->mask);
                futimens(l->fd, l->ts);
            }
            close(l->fd);
            R->plen = l->plen;
            R->path[R->plen] = '\0';
            continue;
        }
        /* an entry: the first one is the top, named by the caller */
        if (depth == 0 && top_done) {
            r = ab_fail(R->err, 0, "%s: a bad frame in the copy stream", R->display);
            break;
        }
        const char *nm = depth == 0 ? R->top_name : name;
        if (depth > 0 && !stream_name_ok(name, f.namelen)) {
            r = ab_fail(R->err, 0, "%s: a bad name in the copy stream", R->display);
            break;
        }
        int dir = depth == 0 ? R->top_parent : stack[depth - 1].fd;
        top_done = true;
        if (f.type == FR_FILE) {
            if ((r = recv_file(R, dir, nm, &f)) < 0)
                break;
        } else if (f.type == FR_LINK) {
            if ((r = clear_name(R, dir, nm)) < 0)
                break;
            if (symlinkat(link, dir, nm) < 0) {
                r = rfail(R, nm, errno, "cannot create the link");
                break;
            }
            struct timespec ts[2] = { { .tv_nsec = UTIME_OMIT }, { .tv_sec = f.mtime, .tv_nsec = f.mtime_ns } };
            utimensat(dir, nm, ts, AT_SYMLINK_NOFOLLOW);
        } else if (f.type == FR_DIR) {
            if (depth == COPY_MAX_DEPTH) {
                r = rfail(R, nm, 0, "too deep (more than 256 levels)");
                break;
            }
            bool created = mkdirat(dir, nm, 0700) == 0;
            if (!created && errno != EEXIST) {
                r = rfail(R, nm, errno, "cannot create the directory");
                break;
            }
            /* an existing directory is merged into, as cp -r does; a link
             * in its place is not followed (O_NOFOLLOW): refused */
            int fd = openat(dir, nm, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (fd < 0) {
                r = rfail(R, nm, errno == ENOTDIR || errno == ELOOP ? EEXIST : errno,
                          "cannot copy a directory there");
                break;
            }
            uint32_t mode = f.mode & ~(uint32_t)SETID;
            if (mode != f.mode)
                R->dropped_setid++;
            stack[depth] = (struct level){ .fd = fd, .created = created, .mode = mode, .plen = R->plen,
                                           .ts = { { .tv_nsec = UTIME_OMIT },
                                                   { .tv_sec = f.mtime, .tv_nsec = f.mtime_ns } } };
            if (depth > 0 && R->plen + 1 + f.namelen < sizeof(R->path))
                R->plen += (size_t)snprintf(R->path + R->plen, sizeof(R->path) - R->plen, "/%s", name);
            depth++;
        } else {
            r = ab_fail(R->err, 0, "%s: a bad frame in the copy stream", R->display);
            break;
        }
    }
    while (depth > 0)
        close(stack[--depth].fd);
#undef depth
    return r;
}

/* --- where a copy goes ------------------------------------------------------- */

static int open_path(int rootfd, const char *path, int flags)
{
    if (rootfd >= 0)
        return fs_open_in_root(rootfd, path, flags);
    int fd = open(path, flags | O_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

/* The last component of PATH (trailing slashes ignored) into OUT; "" for
 * "/", ".", "..". */
void copy_base_of(const char *path, char *out, size_t size)
{
    size_t len = strlen(path);
    while (len > 1 && path[len - 1] == '/')
        len--;
    const char *b = path + len;
    while (b > path && b[-1] != '/')
        b--;
    snprintf(out, size, "%.*s", (int)(path + len - b), b);
    if (strcmp(out, ".") == 0 || strcmp(out, "..") == 0 || strcmp(out, "/") == 0)
        out[0] = '\0';
}

/* Where DST (resolved in ROOTFD, or on the host when ROOTFD < 0) puts the
 * copy of a source named SRC_BASE: into DST when it is a directory, else as
 * DST itself.  *PARENT gets an fd of the directory, NAME the entry's name
 * ("." for the directory itself: the source's contents go into it). */
int copy_resolve_dest(int rootfd, const char *display, const char *dst, const char *src_base, int *parent,
                      char *name, size_t size, char *where, size_t wsize, ab_error *err)
{
    size_t len = strlen(dst);
    bool must_dir = len > 1 && dst[len - 1] == '/';
    int fd = open_path(rootfd, dst, O_PATH);
    struct stat st;
    snprintf(where, wsize, "%s", display);
    if (fd >= 0 && fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        *parent = fd;
        snprintf(name, size, "%s", src_base[0] ? src_base : ".");
        size_t w = strlen(where);
        while (w > 1 && where[w - 1] == '/')
            where[--w] = '\0';
        if (src_base[0])
            snprintf(where + w, wsize - w, "%s%s", where[w - 1] == '/' ? "" : "/", src_base);
        return 0;
    }
    if (fd >= 0)
        close(fd);
    if (must_dir)
        return ab_fail(err, fd >= 0 ? ENOTDIR : -fd, "%s", display);
    if (fd < 0 && fd != -ENOENT)
        return ab_fail(err, -fd, "%s", display);
    copy_base_of(dst, name, size);
    if (!name[0])
        return ab_fail(err, 0, "%s: not a place for a copy", display);
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%.*s", (int)(len - strlen(name)), dst);
    if (!dir[0])
        snprintf(dir, sizeof(dir), ".");
    fd = open_path(rootfd, dir, O_PATH | O_DIRECTORY);
    if (fd < 0)
        return ab_fail(err, -fd, "%s: its directory %s", display, dir);
    *parent = fd;
    return 0;
}

/* Open SRC (resolved in ROOTFD, or on the host) for a copy: following a
 * final symlink (within ROOTFD); then NAME in its directory is what goes. */
int copy_open_source(int rootfd, const char *display, const char *src, int *fd, struct stat *st, ab_error *err)
{
    int p = open_path(rootfd, src, O_PATH);
    if (p < 0)
        return ab_fail(err, -p, "%s", display);
    if (fstat(p, st) < 0) {
        int e = errno;
        close(p);
        return ab_fail(err, e, "%s", display);
    }
    if (!S_ISDIR(st->st_mode) && !S_ISREG(st->st_mode)) {
        close(p);
        return ab_fail(err, 0, "%s: not a regular file or directory (only files, directories and links are copied)",
                       display);
    }
    /* Re-opened for reading through the O_PATH fd's own directory entry is
     * not possible; "." of a directory is, and a file is opened again and
     * checked to be the same one. */
    int o = S_ISDIR(st->st_mode) ? openat(p, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC) :
                                   open_path(rootfd, src, O_RDONLY | O_NONBLOCK | O_NOCTTY);
    int e = o >= 0 ? 0 : S_ISDIR(st->st_mode) ? errno : -o;
    close(p);
    struct stat now;
    if (o < 0 || fstat(o, &now) < 0 || now.st_ino != st->st_ino || now.st_dev != st->st_dev) {
        if (o >= 0)
            close(o);
        return ab_fail(err, e, "%s: %s", display, e ? "cannot open" : "changed while it was opened");
    }
    *fd = o;
    return 0;
}

/* The sender's whole run: the tree, then 'X', or 'R' with the error. */
int stream_send_tree(struct sender *S, int fd, const struct stat *st, const char *top)
{
    S->path[0] = '\0';
    S->plen = 0;
    int r = send_tree(S, -1, top, fd, st);
    if (r < 0)
        stream_send_text(S->w, FR_FAIL, S->err->msg);
    else
        stream_send_text(S->w, FR_DONE, "");
    stream_flush(S->w);
    tdestroy(S->links, link_free);
    S->links = NULL;
    return r;
}

int copy_receive(struct ab_ctx *ctx, int in, int dirfd, const char *name, const char *display, mode_t mask,
                 struct copy_stats *st,
                 ab_error *err)
{
    struct rbuf *rb = calloc(1, sizeof(*rb));
    if (!rb)
        return ab_fail(err, ENOMEM, "out of memory");
    rb->fd = in;
    struct receiver R = { .r = rb, .ctx = ctx, .display = display, .top_parent = dirfd, .top_name = name,
                          .mask = mask, .err = err };
    int r = receive(&R);
    st->dropped_setid += R.dropped_setid;
    free(rb);
    return r;
}
