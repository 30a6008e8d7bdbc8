#include "net/nsfactory.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/fdpass.h"

enum { REQ_SOCKET = 1, REQ_RUN = 2 };

#define RUN_MAX 8192

struct request {
    int op;
    int domain, type, protocol;   /* REQ_SOCKET */
    uint32_t argc, input_len;     /* REQ_RUN: argv strings, then the input, in the same message */
    char data[RUN_MAX];
};

struct reply {
    int status;                   /* >= 0: the exit status (REQ_RUN), or 0; < 0: -errno */
    char err[512];
};

static int lo_up(void)
{
    _cleanup_close_ int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct ifreq ifr = { 0 };
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
    if (s < 0 || ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
        return -errno;
    ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
    return ioctl(s, SIOCSIFFLAGS, &ifr) < 0 ? -errno : 0;
}

/* REQ_RUN: argv from the request, the input on a memfd as stdin, stderr
 * into a memfd read back into the reply. */
static void serve_run(const struct request *q, size_t len, struct reply *rep)
{
    size_t off = offsetof(struct request, data), used = 0;
    char *argv[64];
    if (q->argc == 0 || q->argc >= 64) {
        rep->status = -EINVAL;
        return;
    }
    for (uint32_t i = 0; i < q->argc; i++) {
        size_t n = strnlen(q->data + used, len - off - used);
        if (off + used + n >= len) {
            rep->status = -EINVAL;
            return;
        }
        argv[i] = (char *)q->data + used;
        used += n + 1;
    }
    argv[q->argc] = NULL;
    if (off + used + q->input_len > len) {
        rep->status = -EINVAL;
        return;
    }
    _cleanup_close_ int in = memfd_create("factory-stdin", MFD_CLOEXEC);
    _cleanup_close_ int errfd = memfd_create("factory-stderr", MFD_CLOEXEC);
    if (in < 0 || errfd < 0 || write(in, q->data + used, q->input_len) != (ssize_t)q->input_len ||
        lseek(in, 0, SEEK_SET) < 0) {
        rep->status = -errno;
        return;
    }
    pid_t pid = fork();
    if (pid < 0) {
        rep->status = -errno;
        return;
    }
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
        if (null < 0 || dup2(in, 0) < 0 || dup2(null, 1) < 0 || dup2(errfd, 2) < 0)
            _exit(127);
        execv(argv[0], argv);
        _exit(127);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) {
            rep->status = -errno;
            return;
        }
    ssize_t n = pread(errfd, rep->err, sizeof(rep->err) - 1, 0);
    rep->err[n > 0 ? n : 0] = 0;
    rep->status = status;
}

static _Noreturn void serve(int sock)
{
    struct request q;
    for (;;) {
        ssize_t n = recv(sock, &q, sizeof(q), 0);
        if (n <= 0) {
            if (n < 0 && errno == EINTR)
                continue;
            _exit(0);
        }
        struct reply rep = { 0 };
        int fd = -1;
        if ((size_t)n < offsetof(struct request, data)) {
            rep.status = -EINVAL;
        } else if (q.op == REQ_SOCKET) {
            fd = socket(q.domain, q.type | SOCK_CLOEXEC, q.protocol);
            rep.status = fd < 0 ? -errno : 0;
        } else if (q.op == REQ_RUN) {
            serve_run(&q, (size_t)n, &rep);
        } else {
            rep.status = -EINVAL;
        }
        int r = fd_send(sock, fd, &rep, sizeof(rep));
        if (fd >= 0)
            close(fd);
        if (r < 0)
            _exit(0);
    }
}

int ns_open_container(pid_t pid, int *userns_fd, int *netns_fd, ab_error *err)
{
    char path[64];
    *userns_fd = *netns_fd = -1;
    snprintf(path, sizeof(path), "/proc/%d/ns/user", (int)pid);
    int u = open(path, O_RDONLY | O_CLOEXEC);
    if (u < 0)
        return ab_fail(err, errno, "cannot open %s", path);
    snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)pid);
    int n = open(path, O_RDONLY | O_CLOEXEC);
    if (n < 0) {
        int e = errno;
        close(u);
        return ab_fail(err, e, "cannot open %s", path);
    }
    *userns_fd = u;
    *netns_fd = n;
    return 0;
}

int ns_factory_start(struct ns_factory *f, int userns_fd, int netns_fd, ab_error *err)
{
    f->pid = -1;
    f->sock = -1;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
        return ab_fail(err, errno, "cannot start the container's socket factory");
    int ready[2];
    if (pipe2(ready, O_CLOEXEC) < 0) {
        close(sv[0]);
        close(sv[1]);
        return ab_fail(err, errno, "cannot start the container's socket factory");
    }
    pid_t owner = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(sv[0]);
        close(sv[1]);
        close(ready[0]);
        close(ready[1]);
        return ab_fail(err, e, "cannot start the container's socket factory");
    }
    if (pid == 0) {
        close(sv[0]);
        close(ready[0]);
        int e = 0;
        prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
        if (getppid() != owner)
            _exit(127);
        /* the user namespace first, as its root; then the network
         * namespace it owns (setns() clears the death signal: again).
         * A map without 0 (a user without subordinate ids: one id) keeps
         * the ids: setns() gave every capability there all the same,
         * which is what sockets need (a program run there would lose
         * them at exec). */
        if (setns(userns_fd, CLONE_NEWUSER) < 0 || (setresgid(0, 0, 0) < 0 && errno != EINVAL))
            e = errno;
        if (!e) {
            setgroups(0, NULL);
            if ((setresuid(0, 0, 0) < 0 && errno != EINVAL) || setns(netns_fd, CLONE_NEWNET) < 0)
                e = errno;
        }
        prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
        if (getppid() != owner)
            _exit(127);
        if (!e)
            e = -lo_up();
        prctl(PR_SET_NAME, "appbox-netns", 0, 0, 0);
        if (write(ready[1], &e, sizeof(e)) != sizeof(e) || e)
            _exit(127);
        close(ready[1]);
        close(userns_fd);
        close(netns_fd);
        serve(sv[1]);
    }
    close(sv[1]);
    close(ready[1]);
    int e = 0;
    ssize_t n = read(ready[0], &e, sizeof(e));
    close(ready[0]);
    if (n != sizeof(e) || e) {
        close(sv[0]);
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        return ab_fail(err, n == sizeof(e) ? e : ECHILD,
                       "cannot enter the container's network namespace for its sockets");
    }
    f->pid = pid;
    f->sock = sv[0];
    return 0;
}

static int request(struct ns_factory *f, const struct request *q, size_t len, struct reply *rep, int *fd)
{
    if (f->sock < 0)
        return -ENOTCONN;
    if (send(f->sock, q, len, MSG_NOSIGNAL) < 0)
        return -errno;
    int r = fd_recv(f->sock, fd, rep, sizeof(*rep));
    if (r < 0)
        return r;
    return r == (int)sizeof(*rep) ? 0 : -EPROTO;
}

int ns_factory_socket(struct ns_factory *f, int domain, int type, int protocol)
{
    struct request q = { .op = REQ_SOCKET, .domain = domain, .type = type, .protocol = protocol };
    struct reply rep;
    int fd = -1;
    int r = request(f, &q, offsetof(struct request, data), &rep, &fd);
    if (r < 0)
        return r;
    if (rep.status < 0) {
        if (fd >= 0)
            close(fd);
        return rep.status;
    }
    return fd >= 0 ? fd : -EPROTO;
}

int ns_factory_run(struct ns_factory *f, char *const argv[], const char *input, char *errbuf, size_t n)
{
    static struct request q; /* 8 KiB: not on a helper's stack */
    memset(&q, 0, offsetof(struct request, data));
    q.op = REQ_RUN;
    size_t used = 0;
    for (; argv[q.argc]; q.argc++) {
        size_t len = strlen(argv[q.argc]) + 1;
        if (used + len > sizeof(q.data))
            return -E2BIG;
        memcpy(q.data + used, argv[q.argc], len);
        used += len;
    }
    size_t in_len = input ? strlen(input) : 0;
    if (used + in_len > sizeof(q.data))
        return -E2BIG;
    memcpy(q.data + used, input ? input : "", in_len);
    q.input_len = (uint32_t)in_len;
    struct reply rep;
    int fd = -1;
    int r = request(f, &q, offsetof(struct request, data) + used + in_len, &rep, &fd);
    if (fd >= 0)
        close(fd);
    if (r < 0)
        return r;
    if (errbuf && n)
        snprintf(errbuf, n, "%s", rep.err);
    return rep.status;
}

void ns_factory_stop(struct ns_factory *f)
{
    if (f->sock >= 0)
        close(f->sock);
    f->sock = -1;
    if (f->pid > 0) {
        kill(f->pid, SIGKILL);
        while (waitpid(f->pid, NULL, 0) < 0 && errno == EINTR)
            ;
    }
    f->pid = -1;
}
