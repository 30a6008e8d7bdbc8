/* The port helper "appbox-ports" (see ports.c): one process per container,
 * on the host side, owned by the runner.
 *
 *   --publish tcp   a listener in the runner's network namespace; per
 *                   connection, a socket made in the container (its
 *                   factory) connects to 127.0.0.1:PORT there, and a
 *                   forked child relays the two (splice)
 *   --publish udp   a socket in the runner's namespace; per client
 *                   address, a socket made in the container, connected to
 *                   127.0.0.1:PORT there; what the server answers goes
 *                   back to that client from the published socket; a
 *                   client silent for UDP_IDLE_MS is forgotten
 *   --link          a listener on the container's 127.0.0.1:LOCALPORT (a
 *                   factory socket, bound from here); per connection, a
 *                   request to OTHER's net.sock for PORT, whose answer is
 *                   a connection made inside OTHER, relayed by a child
 *   net.sock        (a named container) the other end of a link: a
 *                   request names a port, the answer is a socket made by
 *                   our factory and connected to 127.0.0.1:PORT here
 *   nat:NAME        (a user's named network, usernet.h) a listener on the
 *                   container's 127.0.0.1 where nftables redirects its TCP
 *                   to 127.77.0.0/16; per connection, the original
 *                   destination's member of NAME is asked for the port on
 *                   its net.sock, as for a link; no member there: a reset
 *
 * Children die with the helper (PR_SET_PDEATHSIG) and hold only their two
 * sockets, so that when the runner stops the helper, every published port
 * and link listener is closed at once.  Nothing the container sends is
 * parsed here: its bytes go through pipes (splice) from one socket to the
 * other. */
#include <arpa/inet.h>
#include <linux/netfilter_ipv4.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "container/state.h"
#include "net/nsfactory.h"
#include "net/ports.h"
#include "net/relay.h"
#include "net/usernet.h"
#include "util/cleanup.h"
#include "util/clock.h"
#include "util/fdpass.h"

#define CONNECT_TIMEOUT_MS 10000
#define REQUEST_TIMEOUT_S 10
#define MAX_CHILDREN 1024       /* relays at once; more connections are refused */
#define MAX_FLOWS 256           /* UDP clients at once; the idlest goes first */
#define UDP_IDLE_MS 60000
#define UDP_BATCH 64            /* datagrams per wake-up, per socket */
#define NFT "/usr/sbin/nft"
#define STOP_GRACE_MS 800       /* the runner KILLs its helpers a second after TERM */

struct pub {
    struct net_port p;
    int fd;
};

struct link {
    struct net_link l;
    int fd;
    int state;                  /* 1 reachable, -1 not (logged once), 0 not known yet */
};

struct flow {
    size_t pub;                 /* index in pubs */
    struct sockaddr_storage peer;
    socklen_t peer_len;
    int fd;                     /* a socket in the container, connected to its 127.0.0.1:PORT */
    long last;
};

struct helper {
    struct ab_ctx *ctx;
    const char *name;           /* the named container, or NULL */
    struct ns_factory f;
    struct pub *pubs;
    size_t n_pubs;
    struct link *links;
    size_t n_links;
    int serve;                  /* net.sock's listener, or -1 */
    const char *usernet;        /* a user's named network's NAME, or NULL */
    int peers;                  /* its relay's listener (the redirect's target), or -1 */
    struct in_addr missing;     /* the address last logged as no member's (logged once in a row) */
    int sigfd;
    struct flow flows[MAX_FLOWS];
    size_t n_flows;
    pid_t kids[MAX_CHILDREN];   /* the relays and requests at work */
    unsigned children;
    pid_t self;
};

/* A connection refused with a reset, not an orderly end: the client sees
 * "connection reset", not an empty answer. */
static void reset_close(int fd)
{
    struct linger l = { .l_onoff = 1, .l_linger = 0 };
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
    close(fd);
}

/* Connect FD (a socket made in a container) to 127.0.0.1:PORT there, for
 * at most CONNECT_TIMEOUT_MS (a container may drop the SYN); 0 or -errno. */
static int connect_loopback(int fd, uint16_t port)
{
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port),
                              .sin_addr = { htonl(INADDR_LOOPBACK) } };
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
        return -errno;
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
        return 0;
    if (errno != EINPROGRESS)
        return -errno;
    struct pollfd p = { .fd = fd, .events = POLLOUT };
    int n;
    while ((n = poll(&p, 1, CONNECT_TIMEOUT_MS)) < 0 && errno == EINTR)
        ;
    if (n == 0)
        return -ETIMEDOUT;
    int e = 0;
    socklen_t len = sizeof(e);
    if (n < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len) < 0)
        return -errno;
    return -e;
}

/* In a child of the helper: dies with it, and keeps FDS[0..N) only, as
 * fds 3, 4, ... (FDS updated); false when it must exit. */
static bool child_setup(struct helper *h, int *fds, size_t n)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    if (getppid() != h->self)
        return false;
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    int lowest = 3 + (int)n, moved[4];
    for (size_t i = 0; i < n; i++)
        if ((moved[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, lowest)) < 0)
            return false;
    for (size_t i = 0; i < n; i++) {
        if (dup3(moved[i], 3 + (int)i, O_CLOEXEC) < 0)
            return false;
        fds[i] = 3 + (int)i;
    }
    syscall(SYS_close_range, (unsigned)lowest, ~0U, 0);
    return true;
}

/* Fork a child that runs FN on A and B; the helper's copies are closed
 * either way.  Refused (A reset) at MAX_CHILDREN. */
static void spawn_child(struct helper *h, int a, int b, uint16_t port, void (*fn)(int, int, uint16_t))
{
    pid_t pid = h->children < MAX_CHILDREN ? fork() : -1;
    if (pid == 0) {
        int fds[2] = { a, b };
        if (!child_setup(h, fds, 2))
            _exit(1);
        fn(fds[0], fds[1], port);
        _exit(0);
    }
    if (pid > 0)
        h->kids[h->children++] = pid;
    if (pid < 0)
        reset_close(a);
    else
        close(a);
    close(b);
}

/* --publish tcp, in a child: CLIENT (host side) to the container's
 * 127.0.0.1:PORT through INSIDE. */
static void publish_tcp_child(int client, int inside, uint16_t port)
{
    if (connect_loopback(inside, port) < 0) {
        reset_close(client);
        return;
    }
    net_relay(client, inside, NULL);
}

/* net.sock, in a child: one request from CONN, answered with INSIDE
 * connected to the asked port (or the error of that). */
static void serve_child(int conn, int inside, uint16_t unused)
{
    (void)unused;
    struct timeval tv = { .tv_sec = REQUEST_TIMEOUT_S };
    setsockopt(conn, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    union {
        struct ports_link_request q;
        char raw[64];
    } m;
    ssize_t n = recv(conn, &m, sizeof(m), 0);
    struct ports_link_reply rep = { .status = -EINVAL };
    /* exactly one request of this version, for a port: nothing else */
    if (n == (ssize_t)sizeof(m.q) && m.q.magic == PORTS_LINK_MAGIC && m.q.version == PORTS_LINK_VERSION &&
        m.q.port != 0)
        rep.status = connect_loopback(inside, m.q.port);
    fd_send(conn, rep.status == 0 ? inside : -1, &rep, sizeof(rep));
}

/* --link, in a child: the request went out on LINKSOCK; the answer's
 * socket (a connection inside OTHER) carries CLIENT's bytes. */
static void link_child(int client, int linksock, uint16_t unused)
{
    (void)unused;
    int fl = fcntl(linksock, F_GETFL);
    fcntl(linksock, F_SETFL, fl & ~O_NONBLOCK);
    struct timeval tv = { .tv_sec = CONNECT_TIMEOUT_MS / 1000 + REQUEST_TIMEOUT_S };
    setsockopt(linksock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    struct ports_link_reply rep;
    int fd = -1;
    int n = fd_recv(linksock, &fd, &rep, sizeof(rep));
    if (n != (int)sizeof(rep) || rep.status != 0 || fd < 0) {
        if (fd >= 0)
            close(fd);
        reset_close(client);
        return;
    }
    close(linksock);
    net_relay(client, fd, NULL);
}

static void helper_log(struct helper *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void helper_log(struct helper *h, const char *fmt, ...)
{
    if (!h->name || !h->ctx)
        return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    state_log(h->ctx, h->name, "%s", msg);
}

/* A connection to OTHER's net.sock with the request for PORT sent;
 * -errno when OTHER cannot be reached (not running, or no link socket). */
static int link_request_to(struct helper *h, const char *other, uint16_t port)
{
    int root = h->ctx ? h->ctx->runtime_fd : -1;
    if (root < 0)
        return -ENOENT;
    _cleanup_close_ int dir = openat(root, other, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dir < 0)
        return -errno;
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    snprintf(sa.sun_path, sizeof(sa.sun_path), "/proc/self/fd/%d/" PORTS_LINK_SOCKET, dir);
    _cleanup_close_ int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
        return -errno;
    /* the other end is the owner's: the runtime dir is 0700, and this
     * says so again */
    struct ucred cred;
    socklen_t len = sizeof(cred);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 || cred.uid != getuid())
        return -EPERM;
    struct ports_link_request q = { .magic = PORTS_LINK_MAGIC, .version = PORTS_LINK_VERSION, .port = port };
    if (send(fd, &q, sizeof(q), MSG_NOSIGNAL) != (ssize_t)sizeof(q))
        return -errno;
    return take_fd(&fd);
}

static int link_request(struct helper *h, const struct net_link *l)
{
    return link_request_to(h, l->other, l->port);
}

/* nat:NAME: a connection to a peer's 127.77 address, redirected here;
 * carried to that peer's port as a link's would be.  The container
 * chooses the address and port: the peer is looked up among the running
 * members of the network only, and the port is the peer's own loopback. */
static void peers_accept(struct helper *h)
{
    int c = accept4(h->peers, NULL, NULL, SOCK_CLOEXEC);
    if (c < 0)
        return;
    struct sockaddr_in dst;
    socklen_t dl = sizeof(dst);
    if (getsockopt(c, SOL_IP, SO_ORIGINAL_DST, &dst, &dl) < 0 || dst.sin_family != AF_INET) {
        reset_close(c);
        return;
    }
    char a[INET_ADDRSTRLEN], peer[72];
    inet_ntop(AF_INET, &dst.sin_addr, a, sizeof(a));
    uint16_t port = ntohs(dst.sin_port);
    /* logged once for an address in a row: the container can knock as
     * often as it likes without filling its log */
    bool quiet = h->missing.s_addr == dst.sin_addr.s_addr;
    if (!usernet_lookup(h->ctx, h->usernet, dst.sin_addr, peer, sizeof(peer))) {
        if (!quiet)
            helper_log(h, "nat:%s: no running member at %s: connection to port %u reset", h->usernet, a, port);
        h->missing = dst.sin_addr;
        reset_close(c);
        return;
    }
    int u = link_request_to(h, peer, port);
    if (u < 0) {
        if (!quiet)
            helper_log(h, "nat:%s: %s (%s) takes no connections (%s): connection to port %u reset", h->usernet,
                       peer, a, strerror(-u), port);
        h->missing = dst.sin_addr;
        reset_close(c);
        return;
    }
    h->missing.s_addr = 0;
    spawn_child(h, c, u, 0, link_child);
}

static void link_accept(struct helper *h, struct link *k)
{
    int c = accept4(k->fd, NULL, NULL, SOCK_CLOEXEC);
    if (c < 0)
        return;
    int u = link_request(h, &k->l);
    if (u < 0) {
        /* said before the connection is closed: whoever sees it closed
         * finds the reason in the log already */
        if (k->state != -1) {
            bool running = h->ctx && state_running(h->ctx, k->l.other);
            helper_log(h, "link %s:%u: %s%s; connections to 127.0.0.1:%u are closed until it is", k->l.other,
                       k->l.port, k->l.other,
                       running ? " is running but takes no links (its network is not its own)" : " is not running",
                       k->l.local_port);
            k->state = -1;
        }
        reset_close(c);
        return;
    }
    if (k->state == -1)
        helper_log(h, "link %s:%u: %s is reachable again at 127.0.0.1:%u", k->l.other, k->l.port, k->l.other,
                   k->l.local_port);
    k->state = 1;
    spawn_child(h, c, u, 0, link_child);
}

static void serve_accept(struct helper *h)
{
    int c = accept4(h->serve, NULL, NULL, SOCK_CLOEXEC);
    if (c < 0)
        return;
    struct ucred cred;
    socklen_t len = sizeof(cred);
    if (getsockopt(c, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 || cred.uid != getuid()) {
        close(c);
        return;
    }
    int inside = ns_factory_socket(&h->f, AF_INET, SOCK_STREAM, 0);
    if (inside < 0) {
        close(c);
        return;
    }
    spawn_child(h, c, inside, 0, serve_child);
}

static void publish_tcp_accept(struct helper *h, struct pub *p)
{
    int c = accept4(p->fd, NULL, NULL, SOCK_CLOEXEC);
    if (c < 0)
        return;
    int inside = ns_factory_socket(&h->f, AF_INET, SOCK_STREAM, 0);
    if (inside < 0) {
        reset_close(c);
        return;
    }
    spawn_child(h, c, inside, p->p.port, publish_tcp_child);
}

static void flow_drop(struct helper *h, size_t i)
{
    close(h->flows[i].fd);
    h->flows[i] = h->flows[--h->n_flows];
}

/* The flow of PEER on published socket PUB, made when new; NULL when the
 * container's socket cannot be made. */
static struct flow *flow_get(struct helper *h, size_t pub, const struct sockaddr_storage *peer, socklen_t len)
{
    for (size_t i = 0; i < h->n_flows; i++)
        if (h->flows[i].pub == pub && h->flows[i].peer_len == len && memcmp(&h->flows[i].peer, peer, len) == 0)
            return &h->flows[i];
    if (h->n_flows == MAX_FLOWS) {
        size_t idlest = 0;
        for (size_t i = 1; i < h->n_flows; i++)
            if (h->flows[i].last < h->flows[idlest].last)
                idlest = i;
        flow_drop(h, idlest);
    }
    int fd = ns_factory_socket(&h->f, AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return NULL;
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(h->pubs[pub].p.port),
                              .sin_addr = { htonl(INADDR_LOOPBACK) } };
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        close(fd);
        return NULL;
    }
    struct flow *f = &h->flows[h->n_flows++];
    *f = (struct flow){ .pub = pub, .peer_len = len, .fd = fd, .last = clock_now_ms() };
    memcpy(&f->peer, peer, len);
    return f;
}

static char dgram[65536];

static void publish_udp_read(struct helper *h, size_t pub)
{
    for (int i = 0; i < UDP_BATCH; i++) {
        struct sockaddr_storage peer;
        socklen_t len = sizeof(peer);
        ssize_t n = recvfrom(h->pubs[pub].fd, dgram, sizeof(dgram), 0, (struct sockaddr *)&peer, &len);
        if (n < 0)
            return;
        struct flow *f = flow_get(h, pub, &peer, len);
        if (!f)
            continue;
        f->last = clock_now_ms();
        send(f->fd, dgram, (size_t)n, MSG_NOSIGNAL); /* a lost datagram is UDP's */
    }
}

static void flow_read(struct helper *h, size_t i)
{
    struct flow *f = &h->flows[i];
    for (int k = 0; k < UDP_BATCH; k++) {
        ssize_t n = recv(f->fd, dgram, sizeof(dgram), 0);
        if (n < 0)
            return; /* EAGAIN, or ECONNREFUSED: nothing listens there (yet) */
        f->last = clock_now_ms();
        sendto(h->pubs[f->pub].fd, dgram, (size_t)n, MSG_NOSIGNAL, (struct sockaddr *)&f->peer, f->peer_len);
    }
}

static void forget_child(struct helper *h, pid_t pid)
{
    for (unsigned i = 0; i < h->children; i++)
        if (h->kids[i] == pid) {
            h->kids[i] = h->kids[--h->children];
            return;
        }
}

/* Stopped (the runner's TERM, then KILL a second later): the ports and
 * listeners closed at once, so they are gone with the container; the
 * relays at work get a moment to pass on what the container already sent
 * (a server that answered and exited), then are ended and reaped here,
 * not left to whoever inherits them (a PID 1 that never reaps). */
static _Noreturn void finish(struct helper *h, int status)
{
    for (size_t i = 0; i < h->n_pubs; i++)
        close(h->pubs[i].fd);
    for (size_t i = 0; i < h->n_links; i++)
        close(h->links[i].fd);
    for (size_t i = 0; i < h->n_flows; i++)
        close(h->flows[i].fd);
    if (h->serve >= 0)
        close(h->serve);
    if (h->peers >= 0)
        close(h->peers);
    long deadline = clock_now_ms() + STOP_GRACE_MS;
    while (h->children && h->sigfd >= 0) {
        long left = deadline - clock_now_ms();
        struct pollfd p = { .fd = h->sigfd, .events = POLLIN };
        if (left <= 0 || poll(&p, 1, (int)left) <= 0)
            break;
        struct signalfd_siginfo si;
        while (read(h->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
            ;
        pid_t pid;
        while ((pid = waitpid(-1, NULL, WNOHANG)) > 0)
            forget_child(h, pid);
    }
    for (unsigned i = 0; i < h->children; i++)
        kill(h->kids[i], SIGKILL);
    ns_factory_stop(&h->f);
    for (unsigned i = 0; i < h->children; i++)
        while (waitpid(h->kids[i], NULL, 0) < 0 && errno == EINTR)
            ;
    _exit(status);
}

static void on_signal(struct helper *h)
{
    struct signalfd_siginfo si;
    bool term = false;
    while (read(h->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
        term |= si.ssi_signo != SIGCHLD;
    pid_t pid;
    while ((pid = waitpid(-1, NULL, WNOHANG)) > 0) {
        if (pid == h->f.pid) {
            h->f.pid = -1;
            finish(h, 1); /* the factory is gone: nothing can reach the container any more */
        }
        forget_child(h, pid);
    }
    if (term)
        finish(h, 0);
}

/* The link listener of L: a socket of the container's, on its loopback. */
static int link_listen(struct helper *h, struct link *k, ab_error *err)
{
    int fd = ns_factory_socket(&h->f, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return ab_fail(err, -fd, "--link %s:%u: cannot make a socket in the container", k->l.other, k->l.port);
    int one = 1;
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(k->l.local_port),
                              .sin_addr = { htonl(INADDR_LOOPBACK) } };
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 128) < 0) {
        int e = errno;
        close(fd);
        return ab_fail(err, e, "--link %s:%u:%u: cannot listen on 127.0.0.1:%u in the container", k->l.other,
                       k->l.port, k->l.local_port, k->l.local_port);
    }
    k->fd = fd;
    return 0;
}

/* net.sock in the container's runtime directory (0700: its owner's). */
static int serve_listen(struct helper *h, ab_error *err)
{
    int root = h->ctx->runtime_fd;
    _cleanup_close_ int dir = root < 0 ? -1 : openat(root, h->name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dir < 0)
        return ab_fail(err, errno, "cannot open %s/%s", h->ctx->runtime_dir, h->name);
    unlinkat(dir, PORTS_LINK_SOCKET, 0);
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    snprintf(sa.sun_path, sizeof(sa.sun_path), "/proc/self/fd/%d/" PORTS_LINK_SOCKET, dir);
    int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || fchmodat(dir, PORTS_LINK_SOCKET, 0600, 0) < 0 ||
        listen(fd, 128) < 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        return ab_fail(err, e, "cannot listen on %s/%s/" PORTS_LINK_SOCKET, h->ctx->runtime_dir, h->name);
    }
    h->serve = fd;
    return 0;
}

/* nat:NAME: the relay's listener on the container's 127.0.0.1 (a port
 * the kernel chooses), and nftables in its network namespace sending its
 * TCP to the peers' addresses there. */
static int peers_listen(struct helper *h, ab_error *err)
{
    int fd = ns_factory_socket(&h->f, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return ab_fail(err, -fd, "--network nat:%s: cannot make a socket in the container", h->usernet);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr = { htonl(INADDR_LOOPBACK) } };
    socklen_t len = sizeof(sa);
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 128) < 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &len) < 0) {
        int e = errno;
        close(fd);
        return ab_fail(err, e, "--network nat:%s: cannot listen on the container's 127.0.0.1", h->usernet);
    }
    h->peers = fd;
    if (access(NFT, X_OK) < 0)
        return ab_fail(err, 0, "--network nat:%s as a user: %s (package nftables) is needed to carry the "
                       "members' connections", h->usernet, NFT);
    char rules[512], errbuf[512] = "";
    snprintf(rules, sizeof(rules),
             "table ip appbox_usernet {\n"
             "  chain output {\n"
             "    type nat hook output priority -100; policy accept;\n"
             "    ip daddr " USERNET_SUBNET " meta l4proto tcp redirect to :%u\n"
             "  }\n"
             "}\n",
             ntohs(sa.sin_port));
    char *const argv[] = { (char *)NFT, (char *)"-f", (char *)"-", NULL };
    int st = ns_factory_run(&h->f, argv, rules, errbuf, sizeof(errbuf));
    if (st != 0) {
        errbuf[strcspn(errbuf, "\n")] = 0;
        return ab_fail(err, st < 0 ? -st : 0,
                       "--network nat:%s: nft could not add the redirect in the container's network namespace%s%s",
                       h->usernet, st < 0 || !errbuf[0] ? "" : ": ", st < 0 ? "" : errbuf);
    }
    return 0;
}

static int setup(struct helper *h, const struct spec *s, int userns_fd, int netns_fd, ab_error *err)
{
    const struct spec_network *n = &s->container.network;
    int r = ns_factory_start(&h->f, userns_fd, netns_fd, err);
    if (r < 0)
        return r;
    h->pubs = calloc(n->publish.n + 1, sizeof(*h->pubs));
    h->links = calloc(n->links.n + 1, sizeof(*h->links));
    if (!h->pubs || !h->links)
        return ab_fail(err, ENOMEM, "cannot start the port forwarder");
    for (size_t i = 0; i < n->publish.n; i++) {
        struct pub *p = &h->pubs[h->n_pubs];
        if ((r = net_parse_publish("--publish", n->publish.v[i], &p->p, err)) < 0 ||
            (p->fd = ports_publish_open(&p->p, err)) < 0)
            return r < 0 ? r : p->fd;
        h->n_pubs++;
    }
    for (size_t i = 0; i < n->links.n; i++) {
        struct link *k = &h->links[h->n_links];
        if ((r = net_parse_link("--link", n->links.v[i], &k->l, err)) < 0 || (r = link_listen(h, k, err)) < 0)
            return r;
        h->n_links++;
    }
    if (h->name && h->ctx && (r = serve_listen(h, err)) < 0)
        return r;
    if (h->name && h->ctx && (h->usernet = usernet_name(s)) && (r = peers_listen(h, err)) < 0)
        return r;
    return 0;
}

_Noreturn void ports_helper_main(struct ab_ctx *ctx, const struct spec *s, const char *name, int status_fd,
                                 int userns_fd, int netns_fd)
{
    static struct helper hh;
    struct helper *h = &hh;
    h->ctx = ctx;
    h->name = name;
    h->serve = -1;
    h->peers = -1;
    h->self = getpid();
    h->f.pid = -1;
    h->f.sock = -1;
    /* a relay's peer that went away is an error to read, not a signal */
    signal(SIGPIPE, SIG_IGN);
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGCHLD);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGHUP);
    sigprocmask(SIG_BLOCK, &sigs, NULL);
    h->sigfd = signalfd(-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK);

    ab_error err = { 0 };
    if (h->sigfd < 0)
        ab_fail(&err, errno, "cannot start the port forwarder");
    else
        setup(h, s, userns_fd, netns_fd, &err);
    close(userns_fd);
    close(netns_fd);
    if (write(status_fd, &err, sizeof(err)) != (ssize_t)sizeof(err) || err.kind != AB_ERR_NONE)
        finish(h, 1);
    close(status_fd);

    size_t cap = 3 + h->n_pubs + h->n_links + MAX_FLOWS;
    struct pollfd *pf = calloc(cap, sizeof(*pf));
    if (!pf)
        finish(h, 1);
    for (;;) {
        size_t np = 0;
        pf[np++] = (struct pollfd){ .fd = h->sigfd, .events = POLLIN };
        pf[np++] = (struct pollfd){ .fd = h->serve, .events = POLLIN };
        pf[np++] = (struct pollfd){ .fd = h->peers, .events = POLLIN };
        for (size_t i = 0; i < h->n_pubs; i++)
            pf[np++] = (struct pollfd){ .fd = h->pubs[i].fd, .events = POLLIN };
        for (size_t i = 0; i < h->n_links; i++)
            pf[np++] = (struct pollfd){ .fd = h->links[i].fd, .events = POLLIN };
        size_t flows_at = np, n_flows = h->n_flows;
        long now = clock_now_ms(), wait = -1;
        for (size_t i = 0; i < n_flows; i++) {
            pf[np++] = (struct pollfd){ .fd = h->flows[i].fd, .events = POLLIN };
            long left = h->flows[i].last + UDP_IDLE_MS - now;
            if (wait < 0 || left < wait)
                wait = left < 0 ? 0 : left;
        }
        if (poll(pf, np, (int)wait) < 0) {
            if (errno == EINTR)
                continue;
            finish(h, 1);
        }
        if (pf[0].revents)
            on_signal(h);
        if (pf[1].revents & POLLIN)
            serve_accept(h);
        if (pf[2].revents & POLLIN)
            peers_accept(h);
        size_t k = 3;
        for (size_t i = 0; i < h->n_pubs; i++, k++) {
            if (!(pf[k].revents & POLLIN))
                continue;
            if (h->pubs[i].p.proto == IPPROTO_UDP)
                publish_udp_read(h, i);
            else
                publish_tcp_accept(h, &h->pubs[i]);
        }
        for (size_t i = 0; i < h->n_links; i++, k++)
            if (pf[k].revents & POLLIN)
                link_accept(h, &h->links[i]);
        /* replies, then the idle flows forgotten (from the end: a drop
         * moves the last flow into the freed place) */
        for (size_t i = 0; i < n_flows && i < h->n_flows; i++)
            if (pf[flows_at + i].fd == h->flows[i].fd && (pf[flows_at + i].revents & POLLIN))
                flow_read(h, i);
        now = clock_now_ms();
        for (size_t i = h->n_flows; i-- > 0;)
            if (now - h->flows[i].last >= UDP_IDLE_MS)
                flow_drop(h, i);
    }
}
