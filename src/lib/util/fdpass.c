#include "util/fdpass.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int fds_send(int sock, const int *fds, size_t n, const void *data, size_t len)
{
    union {
        char buf[CMSG_SPACE(sizeof(int) * FDPASS_MAX)];
        struct cmsghdr align;
    } u;
    if (n > FDPASS_MAX)
        return -EINVAL;
    struct iovec iov = { .iov_base = (void *)data, .iov_len = len };
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
    if (n) {
        memset(&u, 0, sizeof(u));
        msg.msg_control = u.buf;
        msg.msg_controllen = CMSG_SPACE(sizeof(int) * n);
        struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * n);
        memcpy(CMSG_DATA(c), fds, sizeof(int) * n);
    }
    ssize_t r;
    do
        r = sendmsg(sock, &msg, MSG_NOSIGNAL);
    while (r < 0 && errno == EINTR);
    return r < 0 ? -errno : 0;
}

int fds_recv(int sock, int *fds, size_t max, size_t *n, void *data, size_t len)
{
    union {
        char buf[CMSG_SPACE(sizeof(int) * FDPASS_MAX)];
        struct cmsghdr align;
    } u;
    struct iovec iov = { .iov_base = data, .iov_len = len };
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof(u.buf) };
    ssize_t r;
    do
        r = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
    while (r < 0 && errno == EINTR);
    if (r < 0)
        return -errno;
    size_t got = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < k; i++) {
            int fd;
            memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
            if (got < max && fds)
                fds[got++] = fd;
            else
                close(fd); /* more than asked for: do not leak them */
        }
    }
    if (n)
        *n = got;
    return (int)r;
}

int fd_send(int sock, int fd, const void *data, size_t len)
{
    return fds_send(sock, &fd, fd >= 0 ? 1 : 0, data, len);
}

int fd_recv(int sock, int *fd, void *data, size_t len)
{
    size_t n = 0;
    int tmp = -1;
    int r = fds_recv(sock, &tmp, 1, &n, data, len);
    if (fd)
        *fd = n ? tmp : -1;
    return r;
}
