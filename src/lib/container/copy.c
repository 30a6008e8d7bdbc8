/* cp and export: see copy.h.  The stream and its ends are in
 * copy_stream.c, the tar writer in copy_tar.c; here are the helper that
 * works in the container and the host side that drives it. */
#include "container/copy.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "container/copy_stream.h"
#include "runtime/idmap.h"
#include "util/cleanup.h"

/* --- the helper in the container ----------------------------------------- */

enum job_kind { JOB_IN, JOB_OUT, JOB_EXPORT, JOB_READ };

struct job {
    enum job_kind kind;
    struct container *c;
    const char *host_path; /* cp: the host side */
    const char *ctr_path;  /* cp: the container side */
    char display[PATH_MAX + 300]; /* NAME:PATH */
    char src_base[NAME_MAX + 1];
    int host_fd;           /* in: the source; out: the destination's directory; export: the tar */
    struct stat host_st;   /* in: the source */
    char host_name[NAME_MAX + 1]; /* out: the name in host_fd */
    char host_where[PATH_MAX + NAME_MAX + 2]; /* out: that entry, for messages */
    struct copy_stats *st;
    ab_error *err;
    /* read: at most MAX bytes of a regular file, into BUF (malloc'd) */
    size_t max;
    char *buf;
    size_t len;
};

/* What the helper says at the end of a copy in. */
struct helper_result {
    ab_error err;
    unsigned long dropped_setid;
};

static int write_exact(int fd, const void *p, size_t n)
{
    return stream_put_raw(fd, p, n);
}

/* In the helper, joined: the container's work.  SOCK is the stream. */
static int helper_work(struct job *J, int sock, ab_error *err)
{
    _cleanup_close_ int rootfd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (rootfd < 0)
        return ab_fail(err, errno, "cannot open the container's root");
    static struct wbuf w;
    w.fd = sock;
    if (J->kind == JOB_IN) {
        struct helper_result res = { 0 };
        int parent = -1;
        char name[NAME_MAX + 1];
        struct copy_stats st = { 0 };
        char where[sizeof(J->display) + NAME_MAX + 2];
        int r = copy_resolve_dest(rootfd, J->display, J->ctr_path, J->src_base, &parent, name, sizeof(name), where,
                                  sizeof(where), &res.err);
        if (r == 0) {
            /* inside, as the container's root: its modes as they come */
            r = copy_receive(NULL, sock, parent, name, where, 0, &st, &res.err);
            close(parent);
        }
        res.dropped_setid = st.dropped_setid;
        write_exact(sock, &res, sizeof(res));
        return r;
    }
    if (J->kind == JOB_READ) {
        /* one regular file, resolved in here; its size said first, so the
         * host side never takes more than it asked for */
        struct helper_result res = { 0 };
        int fd = -1;
        struct stat st;
        int r = copy_open_source(rootfd, J->display, J->ctr_path, &fd, &st, &res.err);
        if (r == 0 && !S_ISREG(st.st_mode))
            r = ab_fail(&res.err, 0, "%s: not a regular file", J->display);
        else if (r == 0 && (uint64_t)st.st_size > J->max)
            r = ab_fail(&res.err, EFBIG, "%s: %llu bytes, more than the %zu allowed", J->display,
                        (unsigned long long)st.st_size, J->max);
        res.dropped_setid = r == 0 ? (unsigned long)st.st_size : 0;
        write_exact(sock, &res, sizeof(res));
        for (size_t sent = 0; r == 0 && sent <= J->max;) {
            char b[8192];
            ssize_t n = read(fd, b, sizeof(b));
            if (n <= 0)
                break;
            if (write_exact(sock, b, (size_t)n) < 0)
                break;
            sent += (size_t)n;
        }
        if (fd >= 0)
            close(fd);
        return r;
    }
    struct sender S = { .w = &w, .display = J->display, .err = err };
    int fd;
    struct stat st;
    int r;
    if (J->kind == JOB_OUT) {
        r = copy_open_source(rootfd, J->display, J->ctr_path, &fd, &st, err);
    } else {
        /* The root's own file system, without what is mounted on it: a
         * detached copy of the root mount alone (no submounts); where
         * that is refused, a walk that stays on the root's mount. */
        S.owners = true;
        int tree = open_tree(AT_FDCWD, "/", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
        if (tree < 0) {
            S.one_mount = true;
            S.mnt_id = stream_mount_id(rootfd);
            tree = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        }
        fd = tree >= 0 ? openat(tree, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
        if (tree >= 0)
            close(tree);
        r = fd < 0 || fstat(fd, &st) < 0 ? ab_fail(err, errno, "cannot open the container's root") : 0;
    }
    if (r < 0) {
        stream_send_text(&w, FR_FAIL, err->msg);
        stream_flush(&w);
        return r;
    }
    r = stream_send_tree(&S, fd, &st, J->src_base);
    close(fd);
    return r;
}

static _Noreturn void helper_main(struct job *J, const struct ns_fds *ns, const struct spec *s, int sock,
                                  pid_t parent)
{
    ab_error e = { 0 };
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    if (getppid() != parent)
        _exit(1);
    /* the host's /dev/null, for stdio below */
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null < 0)
        _exit(1);
    /* The container's user namespace, as its root: what the helper may do
     * is what the container's root may do; then its mount namespace, whose
     * root is the container's root: its "/" from now on. */
    const struct spec_container *sc = &s->container;
    if (!idmap_contains(&sc->uid_map, 0) || !idmap_contains(&sc->gid_map, 0))
        ab_fail(&e, 0, "the container's root is not mapped in its user namespace");
    else if (setns(ns->fd[NS_USER], CLONE_NEWUSER) < 0)
        ab_fail(&e, errno, "cannot enter the container's user namespace");
    else if ((setgroups(0, NULL) < 0 && errno != EPERM) || setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0)
        ab_fail(&e, errno, "cannot take the container's root ids");
    else {
        /* a credential change resets both */
        prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
        prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
        if (getppid() != parent)
            _exit(1);
        if (setns(ns->fd[NS_MNT], CLONE_NEWNS) < 0 || chdir("/") < 0)
            ab_fail(&e, errno, "cannot enter the container's mount namespace");
    }
    /* Nothing of the host's but the stream: stdio to /dev/null, every
     * other fd (the namespaces', appbox's) closed. */
    if (dup2(null, 0) < 0 || dup2(null, 1) < 0 || dup2(null, 2) < 0 ||
        (sock > 3 && syscall(SYS_close_range, 3, (unsigned)sock - 1, 0) < 0) ||
        syscall(SYS_close_range, (unsigned)sock + 1, ~0U, 0) < 0)
        _exit(1);
    if (e.kind == AB_ERR_NONE) {
        umask(0);
        _exit(helper_work(J, sock, &e) < 0 ? 1 : 0);
    }
    if (J->kind == JOB_IN || J->kind == JOB_READ) {
        struct helper_result res = { .err = e };
        write_exact(sock, &res, sizeof(res));
    } else {
        struct wbuf *w = calloc(1, sizeof(*w));
        if (w) {
            w->fd = sock;
            stream_send_text(w, FR_FAIL, e.msg);
            stream_flush(w);
        }
    }
    _exit(1);
}

/* --- the host side ---------------------------------------------------------- */

static int host_side(struct job *J, int sock)
{
    ab_error *err = J->err;
    if (J->kind == JOB_IN) {
        struct wbuf *w = calloc(1, sizeof(*w));
        if (!w)
            return ab_fail(err, ENOMEM, "out of memory");
        w->fd = sock;
        ab_error mine = { 0 };
        struct sender S = { .w = w, .display = J->host_path, .log_here = J->c->ctx, .err = &mine };
        int r = stream_send_tree(&S, J->host_fd, &J->host_st, J->src_base);
        J->st->skipped += S.skipped;
        free(w);
        shutdown(sock, SHUT_WR);
        /* The helper's word comes first: when it stopped reading, that is
         * why the stream could not be sent. */
        struct helper_result res;
        if (read(sock, &res, sizeof(res)) != (ssize_t)sizeof(res))
            return r < 0 && mine.kind ? (*err = mine, r) : ab_fail(err, 0, "the copy helper in %s died", J->c->name);
        J->st->dropped_setid += res.dropped_setid;
        if (res.err.kind != AB_ERR_NONE) {
            res.err.msg[sizeof(res.err.msg) - 1] = '\0';
            *err = res.err;
            return -EIO;
        }
        if (r < 0) {
            *err = mine;
            return r;
        }
        return 0;
    }
    if (J->kind == JOB_READ) {
        struct helper_result res;
        size_t got = 0;
        while (got < sizeof(res)) {
            ssize_t n = read(sock, (char *)&res + got, sizeof(res) - got);
            if (n <= 0)
                return ab_fail(err, 0, "the copy helper in %s died", J->c->name);
            got += (size_t)n;
        }
        if (res.err.kind != AB_ERR_NONE) {
            res.err.msg[sizeof(res.err.msg) - 1] = '\0';
            *err = res.err;
            return -EIO;
        }
        /* no more than MAX, whatever the helper says or sends */
        J->buf = malloc(J->max + 1);
        if (!J->buf)
            return ab_fail(err, ENOMEM, "out of memory");
        J->len = 0;
        for (;;) {
            ssize_t n = read(sock, J->buf + J->len, J->max + 1 - J->len);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0)
                return ab_fail(err, errno, "cannot read %s", J->display);
            if (n == 0)
                break;
            J->len += (size_t)n;
            if (J->len > J->max)
                return ab_fail(err, EFBIG, "%s: more than the %zu bytes allowed", J->display, J->max);
        }
        J->buf[J->len] = '\0';
        return 0;
    }
    if (J->kind == JOB_OUT) {
        /* on the host: the caller's umask, and never group or other write
         * from the container's modes */
        mode_t um = umask(0);
        umask(um);
        return copy_receive(J->c->ctx, sock, J->host_fd, J->host_name, J->host_where, um | S_IWGRP | S_IWOTH,
                            J->st, err);
    }
    return copy_stream_to_tar(J->c->ctx, J->c->name, sock, J->host_fd, err);
}

static int joined(const struct ns_fds *ns, const struct spec *s, void *arg, ab_error *err)
{
    struct job *J = arg;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        return ab_fail(err, errno, "cannot make the copy stream");
    fflush(NULL);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(sv[0]);
        close(sv[1]);
        return ab_fail(err, e, "cannot start the copy helper");
    }
    if (pid == 0) {
        close(sv[0]);
        helper_main(J, ns, s, sv[1], parent);
    }
    close(sv[1]);
    int r = host_side(J, sv[0]);
    close(sv[0]);
    if (r < 0)
        kill(pid, SIGKILL);
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (r == 0 && (!WIFEXITED(status) || WEXITSTATUS(status) != 0))
        r = ab_fail(err, 0, "the copy helper in %s failed", J->c->name);
    return r;
}

static int run_job(struct job *J)
{
    return container_session_fn(J->c, joined, J, J->err);
}

int container_copy_in(struct container *c, const char *host_src, const char *ctr_dst, struct copy_stats *st,
                      ab_error *err)
{
    struct job J = { .kind = JOB_IN, .c = c, .host_path = host_src, .ctr_path = ctr_dst, .st = st, .err = err };
    snprintf(J.display, sizeof(J.display), "%s:%s", c->name, ctr_dst);
    copy_base_of(host_src, J.src_base, sizeof(J.src_base));
    /* the source is the caller's, read as the caller, before anything starts */
    int r = copy_open_source(-1, host_src, host_src, &J.host_fd, &J.host_st, err);
    if (r < 0)
        return r;
    r = run_job(&J);
    close(J.host_fd);
    return r;
}

int container_copy_out(struct container *c, const char *ctr_src, const char *host_dst, struct copy_stats *st,
                       ab_error *err)
{
    struct job J = { .kind = JOB_OUT, .c = c, .host_path = host_dst, .ctr_path = ctr_src, .st = st, .err = err };
    snprintf(J.display, sizeof(J.display), "%s:%s", c->name, ctr_src);
    copy_base_of(ctr_src, J.src_base, sizeof(J.src_base));
    if (!J.src_base[0])
        snprintf(J.src_base, sizeof(J.src_base), "%s", c->name);
    int r = copy_resolve_dest(-1, host_dst, host_dst, J.src_base, &J.host_fd, J.host_name, sizeof(J.host_name),
                              J.host_where, sizeof(J.host_where), err);
    if (r < 0)
        return r;
    r = run_job(&J);
    close(J.host_fd);
    return r;
}

int container_export(struct container *c, int out, struct copy_stats *st, ab_error *err)
{
    struct job J = { .kind = JOB_EXPORT, .c = c, .host_fd = out, .st = st, .err = err };
    snprintf(J.display, sizeof(J.display), "%s:", c->name);
    return run_job(&J);
}

int container_read_file(struct container *c, const char *ctr_path, size_t max, char **out, size_t *len, ab_error *err)
{
    struct job J = { .kind = JOB_READ, .c = c, .ctr_path = ctr_path, .max = max, .err = err };
    snprintf(J.display, sizeof(J.display), "%s:%s", c->name, ctr_path);
    int r = run_job(&J);
    if (r < 0) {
        free(J.buf);
        return r;
    }
    *out = J.buf;
    *len = J.len;
    return 0;
}
