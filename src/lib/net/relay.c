#include "net/relay.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <unistd.h>

#define PIPE_SIZE (1 << 20)
#define CHUNK (1 << 20)

struct direction {
    int from, to;
    int pipe[2];
    size_t held;        /* bytes in the pipe */
    bool eof, done;
    uint64_t moved;
};

static void set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0)
        fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* Move what can be moved without blocking; 0 or -errno. */
static int step(struct direction *d)
{
    while (!d->done) {
        bool progress = false;
        if (!d->eof && d->held < PIPE_SIZE) {
            ssize_t n = splice(d->from, NULL, d->pipe[1], NULL, CHUNK, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
            if (n > 0) {
                d->held += (size_t)n;
                progress = true;
            } else if (n == 0) {
                d->eof = true;
                progress = true;
            } else if (errno != EAGAIN && errno != EINTR) {
                return -errno;
            }
        }
        if (d->held) {
            ssize_t n = splice(d->pipe[0], NULL, d->to, NULL, d->held, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
            if (n > 0) {
                d->held -= (size_t)n;
                d->moved += (uint64_t)n;
                progress = true;
            } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
                return -errno;
            }
        }
        if (d->eof && !d->held) {
            shutdown(d->to, SHUT_WR);
            d->done = true;
        }
        if (!progress)
            break;
    }
    return 0;
}

int net_relay(int a, int b, struct relay_bytes *bytes)
{
    struct direction dir[2] = { { .from = a, .to = b, .pipe = { -1, -1 } }, { .from = b, .to = a, .pipe = { -1, -1 } } };
    int r = 0;
    for (int i = 0; i < 2; i++) {
        if (pipe2(dir[i].pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
            r = -errno;
            goto out;
        }
        fcntl(dir[i].pipe[1], F_SETPIPE_SZ, PIPE_SIZE); /* a user over the pipe-size limit keeps 64 KiB */
    }
    set_nonblock(a);
    set_nonblock(b);
    while (!(dir[0].done && dir[1].done)) {
        for (int i = 0; i < 2; i++)
            if ((r = step(&dir[i])) < 0)
                goto out;
        if (dir[0].done && dir[1].done)
            break;
        struct pollfd p[2] = { { .fd = a }, { .fd = b } };
        for (int i = 0; i < 2; i++) {
            struct direction *d = &dir[i];
            struct pollfd *from = &p[i], *to = &p[1 - i];
            if (d->done)
                continue;
            if (!d->eof && d->held < PIPE_SIZE)
                from->events |= POLLIN;
            if (d->held)
                to->events |= POLLOUT;
        }
        if (poll(p, 2, -1) < 0 && errno != EINTR) {
            r = -errno;
            goto out;
        }
        /* a peer that reset or hung up on both ways: one more step reads
         * its end or its error, and ends */
        for (int i = 0; i < 2; i++)
            if ((p[i].revents & (POLLERR | POLLNVAL)) && !(p[i].revents & POLLIN)) {
                int e = 0;
                socklen_t l = sizeof(e);
                getsockopt(p[i].fd, SOL_SOCKET, SO_ERROR, &e, &l);
                r = e ? -e : -EPIPE;
                goto out;
            }
    }
out:
    if (bytes) {
        bytes->a_to_b = dir[0].moved;
        bytes->b_to_a = dir[1].moved;
    }
    for (int i = 0; i < 2; i++)
        for (int k = 0; k < 2; k++)
            if (dir[i].pipe[k] >= 0)
                close(dir[i].pipe[k]);
    return r;
}
