/* The PulseAudio native protocol, as much of it as a filter needs
 * (pulsecore/pstream.c, tagstruct.c, native-common.h):
 *
 *   frame   = descriptor (5 big-endian u32: length, channel, offset high,
 *             offset low, flags) + length bytes of payload
 *   channel = 0xffffffff: a control packet, a tagstruct:
 *             'L' u32 command, 'L' u32 tag, then the command's fields
 *             otherwise: audio for stream CHANNEL (a memblock); flags in
 *             0xff000000 mean shared memory (refused: the proxy turns it off)
 *   AUTH    = 'L' 8, 'L' tag, 'L' version (bit 31: SHM, bit 30: memfd),
 *             'x' u32 256 + the cookie
 *   ERROR   = 'L' 0, 'L' tag, 'L' error (1: PA_ERR_ACCESS, "Access denied")
 *   REPLY   = 'L' 2, 'L' tag, ...; to CREATE_PLAYBACK_STREAM: 'L' channel,
 *             'L' sink input index, ...
 *
 * Command numbers are PulseAudio's enum in pulsecore/native-common.h (the
 * wire protocol: stable since they were added). */
#include "desktop/pulse_proxy.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runtime/caps.h"

#define FRAME_MAX (16u << 20)   /* PulseAudio's own limit (FRAME_SIZE_MAX_ALLOW), from the server */
/* From a client: libpulse sends audio in blocks of at most 64 KiB
 * (FRAME_SIZE_MAX_USE) and small control packets; a container does not
 * get to make the proxy hold 16 MiB per connection. */
#define CLIENT_FRAME_MAX (1u << 20)
#define CONTROL 0xffffffffu
#define SHM_FLAGS 0xff000000u
#define VERSION_SHM_BITS 0xc0000000u

enum {
    CMD_ERROR = 0, CMD_REPLY = 2, CMD_CREATE_PLAYBACK_STREAM = 3, CMD_AUTH = 8,
    CMD_GET_SINK_INPUT_INFO = 29, CMD_SET_SINK_INPUT_VOLUME = 37, CMD_SET_SINK_INPUT_MUTE = 69,
};
#define PA_ERR_ACCESS 1

/* What a client may ask.  Not here (refused): EXIT, module loading and
 * unloading, killing or moving others' clients and streams, the list of
 * other clients, modules, samples and streams, sample uploads, device volumes, default
 * devices, ports, profiles, suspending, extensions (stream-restore,
 * device-manager), the shared-memory channels, and recording unless
 * --microphone yes. */
static const uint8_t always[] = {
    CMD_REPLY,   /* a client's answer to a server request */
    3, 4,        /* CREATE/DELETE_PLAYBACK_STREAM */
    9, 10,       /* SET_CLIENT_NAME, LOOKUP_SINK */
    12, 13, 14,  /* DRAIN_PLAYBACK_STREAM, STAT, GET_PLAYBACK_LATENCY */
    18,          /* PLAY_SAMPLE: the user's event sounds, by name (uploads are refused:
                  * a sample outlives the container in the user's server, can
                  * replace the user's own, and has no count limit) */
    20, 21, 22,  /* GET_SERVER_INFO, GET_SINK_INFO(_LIST) */
    23, 24,      /* GET_SOURCE_INFO(_LIST): names of devices only */
    35,          /* SUBSCRIBE: events are object indices and kinds */
    41, 42, 43,  /* CORK/FLUSH/TRIGGER_PLAYBACK_STREAM */
    46, 60,      /* SET_PLAYBACK_STREAM_NAME, PREBUF_PLAYBACK_STREAM */
    72, 74,      /* SET_PLAYBACK_STREAM_BUFFER_ATTR, UPDATE_PLAYBACK_STREAM_SAMPLE_RATE */
    81, 82, 84, 85,   /* UPDATE/REMOVE_PLAYBACK_STREAM_PROPLIST, UPDATE/REMOVE_CLIENT_PROPLIST */
    88, 89,      /* GET_CARD_INFO(_LIST) */
};
static const uint8_t own_sink_input[] = {
    CMD_GET_SINK_INPUT_INFO, CMD_SET_SINK_INPUT_VOLUME, CMD_SET_SINK_INPUT_MUTE,
};
static const uint8_t record[] = {
    5, 6,        /* CREATE/DELETE_RECORD_STREAM */
    11,          /* LOOKUP_SOURCE */
    47, 57, 58, 59,   /* SET_RECORD_STREAM_NAME, GET_RECORD_LATENCY, CORK/FLUSH_RECORD_STREAM */
    73, 75,      /* SET_RECORD_STREAM_BUFFER_ATTR, UPDATE_RECORD_STREAM_SAMPLE_RATE */
    80, 83,      /* UPDATE/REMOVE_RECORD_STREAM_PROPLIST */
};

static bool in(const uint8_t *list, size_t n, uint32_t c)
{
    for (size_t i = 0; i < n; i++)
        if (list[i] == c)
            return true;
    return false;
}

int pulse_proxy_command_allowed(uint32_t command, bool microphone)
{
    if (in(always, sizeof(always), command))
        return 1;
    if (in(own_sink_input, sizeof(own_sink_input), command))
        return 2;
    if (microphone && in(record, sizeof(record), command))
        return 1;
    return 0;
}

struct conn {
    int cfd, sfd;
    bool authed;
    bool microphone;
    const uint8_t *cookie;
    uint32_t own[64];            /* sink inputs this connection made */
    size_t n_own;
    uint32_t pending[64];        /* tags of CREATE_PLAYBACK_STREAM awaiting their reply */
    size_t n_pending;
};

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* The Nth tagstruct u32 of a control packet (0: command, 1: tag, ...),
 * when the first N+1 fields are all u32s. */
static bool get_u32(const uint8_t *pl, uint32_t len, unsigned n, uint32_t *out)
{
    size_t off = (size_t)n * 5;
    if (off + 5 > len)
        return false;
    for (unsigned i = 0; i <= n; i++)
        if (pl[i * 5] != 'L')
            return false;
    *out = be32(pl + off + 1);
    return true;
}

static int read_full(int fd, void *buf, size_t n)
{
    uint8_t *p = buf;
    while (n > 0) {
        ssize_t r = read(fd, p, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

static int write_full(int fd, const void *buf, size_t n)
{
    const uint8_t *p = buf;
    while (n > 0) {
        ssize_t r = send(fd, p, n, MSG_NOSIGNAL);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

static int send_frame(int fd, const uint8_t *hdr, const uint8_t *pl, uint32_t len)
{
    return write_full(fd, hdr, 20) < 0 || (len && write_full(fd, pl, len) < 0) ? -1 : 0;
}

/* AUTH goes out with the proxy's own credentials (SCM_CREDENTIALS), as
 * libpulse sends its own: the server accepts a client of its own user
 * without a cookie. */
static int send_auth(int fd, const uint8_t *hdr, const uint8_t *pl, uint32_t len)
{
    uint8_t frame[20 + 512];
    if (len > sizeof(frame) - 20)
        return -1;
    memcpy(frame, hdr, 20);
    memcpy(frame + 20, pl, len);
    struct ucred cred = { .pid = getpid(), .uid = getuid(), .gid = getgid() };
    union {
        char buf[CMSG_SPACE(sizeof(cred))];
        struct cmsghdr align;
    } u;
    memset(&u, 0, sizeof(u));
    struct iovec iov = { .iov_base = frame, .iov_len = 20 + len };
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof(u.buf) };
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_CREDENTIALS;
    c->cmsg_len = CMSG_LEN(sizeof(cred));
    memcpy(CMSG_DATA(c), &cred, sizeof(cred));
    ssize_t r;
    do
        r = sendmsg(fd, &msg, MSG_NOSIGNAL);
    while (r < 0 && errno == EINTR);
    if (r < 0)
        return -1;
    return (size_t)r == iov.iov_len ? 0 : write_full(fd, frame + r, iov.iov_len - (size_t)r);
}

static int refuse(struct conn *c, uint32_t tag)
{
    uint8_t hdr[20] = { 0 }, pl[15];
    put_be32(hdr, sizeof(pl));
    put_be32(hdr + 4, CONTROL);
    pl[0] = 'L';
    put_be32(pl + 1, CMD_ERROR);
    pl[5] = 'L';
    put_be32(pl + 6, tag);
    pl[10] = 'L';
    put_be32(pl + 11, PA_ERR_ACCESS);
    return send_frame(c->cfd, hdr, pl, sizeof(pl));
}

static bool own(const struct conn *c, uint32_t index)
{
    for (size_t i = 0; i < c->n_own; i++)
        if (c->own[i] == index)
            return true;
    return false;
}

/* A frame from the client: passed on, answered, or the end (-1). */
static int from_client(struct conn *c, uint8_t *hdr, uint8_t *pl, uint32_t len)
{
    if (be32(hdr + 4) != CONTROL) {
        /* audio for a stream of this connection; never shared memory */
        if (!c->authed || (be32(hdr + 16) & SHM_FLAGS))
            return -1;
        return send_frame(c->sfd, hdr, pl, len);
    }
    uint32_t cmd, tag;
    if (!get_u32(pl, len, 0, &cmd) || !get_u32(pl, len, 1, &tag))
        return -1;
    if (!c->authed) {
        uint32_t version;
        /* AUTH first, with its 256-byte cookie */
        if (cmd != CMD_AUTH || !get_u32(pl, len, 2, &version) || len < 20 + PULSE_COOKIE_LENGTH || pl[15] != 'x' ||
            be32(pl + 16) != PULSE_COOKIE_LENGTH)
            return -1;
        put_be32(pl + 11, version & ~VERSION_SHM_BITS);
        if (c->cookie)
            memcpy(pl + 20, c->cookie, PULSE_COOKIE_LENGTH);
        c->authed = true;
        return send_auth(c->sfd, hdr, pl, len);
    }
    int ok = pulse_proxy_command_allowed(cmd, c->microphone);
    if (ok == 2) {
        uint32_t index;
        ok = get_u32(pl, len, 2, &index) && own(c, index);
    }
    if (!ok)
        return refuse(c, tag);
    if (cmd == CMD_CREATE_PLAYBACK_STREAM && c->n_pending < sizeof(c->pending) / sizeof(c->pending[0]))
        c->pending[c->n_pending++] = tag;
    return send_frame(c->sfd, hdr, pl, len);
}

/* A frame from the server: passed on; the reply to a stream this client
 * made tells its sink input's index. */
static int from_server(struct conn *c, uint8_t *hdr, uint8_t *pl, uint32_t len)
{
    uint32_t cmd, tag;
    if (be32(hdr + 4) == CONTROL && get_u32(pl, len, 0, &cmd) && get_u32(pl, len, 1, &tag) &&
        (cmd == CMD_REPLY || cmd == CMD_ERROR))
        for (size_t i = 0; i < c->n_pending; i++)
            if (c->pending[i] == tag) {
                uint32_t index;
                if (cmd == CMD_REPLY && get_u32(pl, len, 3, &index) &&
                    c->n_own < sizeof(c->own) / sizeof(c->own[0]))
                    c->own[c->n_own++] = index;
                c->pending[i] = c->pending[--c->n_pending];
                break;
            }
    return send_frame(c->cfd, hdr, pl, len);
}

static int relay_one(struct conn *c, int from)
{
    uint8_t hdr[20];
    if (read_full(from, hdr, sizeof(hdr)) < 0)
        return -1;
    uint32_t len = be32(hdr);
    if (len > (from == c->cfd ? CLIENT_FRAME_MAX : FRAME_MAX))
        return -1;
    uint8_t *pl = len ? malloc(len) : NULL;
    if (len && !pl)
        return -1;
    int r = read_full(from, pl, len);
    if (r == 0)
        r = from == c->cfd ? from_client(c, hdr, pl, len) : from_server(c, hdr, pl, len);
    free(pl);
    return r;
}

static _Noreturn void serve(int cfd, int serverdir, const char *sockname, const uint8_t *cookie, bool microphone)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    struct stat st;
    /* the server's socket, looked up in its pinned directory; never
     * through a symbolic link */
    if (fstatat(serverdir, sockname, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISSOCK(st.st_mode))
        _exit(1);
    if ((size_t)snprintf(sa.sun_path, sizeof(sa.sun_path), "/proc/self/fd/%d/%s", serverdir, sockname) >=
        sizeof(sa.sun_path))
        _exit(1);
    int sfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (sfd < 0 || connect(sfd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
        _exit(1);
    struct conn c = { .cfd = cfd, .sfd = sfd, .microphone = microphone, .cookie = cookie };
    for (;;) {
        struct pollfd p[2] = { { .fd = cfd, .events = POLLIN }, { .fd = sfd, .events = POLLIN } };
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            _exit(1);
        }
        for (int i = 0; i < 2; i++)
            if (p[i].revents && relay_one(&c, p[i].fd) < 0)
                _exit(0);
    }
}

/* The proxy parses what a hostile container sends: whatever it runs as
 * (root, for a root caller), it keeps no capability and gains none. */
static void drop_privileges(void)
{
    if (caps_drop_for_good() < 0)
        _exit(1);
}

#define MAX_CONNECTIONS 64

void pulse_proxy_run(int listenfd, int serverdir, const char *sockname, const uint8_t *cookie, bool microphone)
{
    drop_privileges();
    pid_t self = getpid();
    int live = 0;
    for (;;) {
        /* at most MAX_CONNECTIONS at once: each is a host process of the
         * caller's, and the container must not make them without end */
        while (live > 0 && waitpid(-1, NULL, live >= MAX_CONNECTIONS ? 0 : WNOHANG) > 0)
            live--;
        int cfd = accept4(listenfd, NULL, NULL, SOCK_CLOEXEC);
        if (cfd < 0) {
            if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE || errno == ENFILE)
                continue;
            _exit(1);
        }
        pid_t pid = fork();
        if (pid == 0) {
            /* a connection dies with the proxy */
            prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
            if (getppid() != self)
                _exit(1);
            close(listenfd);
            serve(cfd, serverdir, sockname, cookie, microphone);
        }
        if (pid > 0)
            live++;
        close(cfd);
    }
}
