/* Published ports (--publish) and links (--link) on any network of the
 * container's own: none, nat, proxy, macvlan.
 *
 *   resolve     (the starter) every --publish's host port is tried now, so
 *               that one in use is a clear error before anything starts;
 *               every --link's OTHER must be a container of the store
 *   host_setup  one helper, "appbox-ports", a runner helper (dead with the
 *               runner, so a published port disappears with the
 *               container): it binds the host-side sockets, makes the link
 *               listeners on the container's loopback with its socket
 *               factory, and for a named container serves net.sock in the
 *               container's runtime directory, through which other
 *               containers' links reach its ports.  The container goes on
 *               only when all of that exists (or fails with the helper's
 *               error).  ports_helper.c has the helper.
 *   teardown    net.sock removed (also after a SIGKILLed supervisor); the
 *               helper is stopped with the runner's other helpers */
#include "net/ports.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "container/state.h"
#include "container/store.h"
#include "net/net.h"
#include "net/nsfactory.h"
#include "util/cleanup.h"
#include "util/clock.h"

#define READY_TIMEOUT_MS 10000

void ports_publish_label(const struct net_port *p, char *buf, size_t n)
{
    char ip[INET_ADDRSTRLEN] = "";
    if (p->host_ip.s_addr != htonl(INADDR_ANY)) {
        inet_ntop(AF_INET, &p->host_ip, ip, sizeof(ip));
        strcat(ip, ":");
    }
    snprintf(buf, n, "%s%u:%u%s", ip, p->host_port, p->port, p->proto == IPPROTO_UDP ? "/udp" : "");
}

/* The lowest port an unprivileged process may bind here. */
static int unprivileged_port_start(void)
{
    int v = 1024;
    FILE *f = fopen("/proc/sys/net/ipv4/ip_unprivileged_port_start", "re");
    if (f) {
        if (fscanf(f, "%d", &v) != 1)
            v = 1024;
        fclose(f);
    }
    return v;
}

static int publish_error(const struct net_port *p, int e, ab_error *err)
{
    char label[64], ip[INET_ADDRSTRLEN];
    ports_publish_label(p, label, sizeof(label));
    inet_ntop(AF_INET, &p->host_ip, ip, sizeof(ip));
    const char *proto = p->proto == IPPROTO_UDP ? "udp" : "tcp";
    switch (e) {
    case EADDRINUSE:
        return ab_error_set(err, AB_ERR_RUNTIME, 0, "--publish %s: host port %u/%s is in use", label, p->host_port,
                            proto);
    case EACCES:
    case EPERM:
        return ab_error_set(err, AB_ERR_RUNTIME, 0,
                            "--publish %s: host port %u/%s is privileged (below %d): only root may publish it; "
                            "choose a host port of %d or above",
                            label, p->host_port, proto, unprivileged_port_start(), unprivileged_port_start());
    case EADDRNOTAVAIL:
        return ab_error_set(err, AB_ERR_RUNTIME, 0, "--publish %s: %s is not an address of this host", label, ip);
    default:
        return ab_error_set(err, AB_ERR_RUNTIME, e, "--publish %s: cannot open host port %u/%s", label,
                            p->host_port, proto);
    }
}

static int bind_listen(int fd, const struct net_port *p, const struct sockaddr *sa, socklen_t len)
{
    int one = 1;
    /* TCP: a port whose last connections linger in TIME_WAIT is free to
     * publish again; a live listener still refuses (EADDRINUSE).  Never
     * for UDP, where it would let two sockets share the port. */
    if (p->proto == IPPROTO_TCP && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
        return -errno;
    if (bind(fd, sa, len) < 0)
        return -errno;
    if (p->proto == IPPROTO_TCP && listen(fd, 128) < 0)
        return -errno;
    return 0;
}

int ports_publish_open(const struct net_port *p, ab_error *err)
{
    int type = (p->proto == IPPROTO_UDP ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC | SOCK_NONBLOCK;
    int r = -EAFNOSUPPORT;
    if (p->host_ip.s_addr == htonl(INADDR_ANY)) {
        /* every address: one dual-stack socket, so that a client that
         * tries ::1 (localhost) first finds the port too */
        _cleanup_close_ int fd = socket(AF_INET6, type, 0);
        int zero = 0;
        if (fd >= 0 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero)) == 0) {
            struct sockaddr_in6 sa = { .sin6_family = AF_INET6, .sin6_port = htons(p->host_port),
                                       .sin6_addr = IN6ADDR_ANY_INIT };
            r = bind_listen(fd, p, (struct sockaddr *)&sa, sizeof(sa));
            if (r == 0)
                return take_fd(&fd);
        }
        /* no IPv6 here (or it is disabled): IPv4 alone */
        if (r != -EAFNOSUPPORT && r != -EADDRNOTAVAIL && fd >= 0)
            return publish_error(p, -r, err);
    }
    _cleanup_close_ int fd = socket(AF_INET, type, 0);
    if (fd < 0)
        return publish_error(p, errno, err);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(p->host_port), .sin_addr = p->host_ip };
    r = bind_listen(fd, p, (struct sockaddr *)&sa, sizeof(sa));
    if (r < 0)
        return publish_error(p, -r, err);
    return take_fd(&fd);
}

int ports_resolve(struct ab_ctx *ctx, struct spec *s, const char *name, ab_error *err)
{
    const struct spec_network *n = &s->container.network;
    /* Each host port tried here, in the starter: one in use (or not
     * ours to take) fails the start before any of it exists.  The helper
     * binds them again for good; what took a port in between fails there,
     * with the same message. */
    for (size_t i = 0; i < n->publish.n; i++) {
        struct net_port p;
        int r = net_parse_publish("--publish", n->publish.v[i], &p, err);
        if (r < 0)
            return r;
        int fd = ports_publish_open(&p, err);
        if (fd < 0)
            return fd;
        close(fd);
    }
    for (size_t i = 0; i < n->links.n; i++) {
        struct net_link l;
        int r = net_parse_link("--link", n->links.v[i], &l, err);
        if (r < 0)
            return r;
        if (!ctx)
            return ab_usage(err, "--link %s: links need the container store", n->links.v[i]);
        if (name && strcmp(name, l.other) == 0)
            return ab_usage(err, "--link %s:%u: a container cannot link to itself (its own port %u is on its "
                                 "loopback already)",
                            l.other, l.port, l.port);
        if (!store_exists(ctx, l.other))
            return ab_usage(err, "--link %s:%u: there is no container %s (appbox list shows yours)", l.other,
                            l.port, l.other);
        if (!state_running(ctx, l.other))
            ab_log(ctx, AB_LOG_WARNING,
                   "--link %s:%u: %s is not running: connections to 127.0.0.1:%u are closed until it is", l.other,
                   l.port, l.other, l.local_port);
    }
    return 0;
}

/* Whether the container gets the helper: for its published ports and
 * links, and, for a named container, for other containers' links to it. */
static bool ports_wanted(const struct runner *r)
{
    const struct spec_container *c = &r->spec->container;
    if (c->net == NET_HOST || c->net == NET_PASTA)
        return false;
    return c->network.publish.n || c->network.links.n || (r->name && r->ctx);
}

/* Wait for the helper's word: an empty ab_error when it is ready. */
static int wait_ready(int fd, ab_error *err)
{
    long deadline = clock_now_ms() + READY_TIMEOUT_MS;
    for (;;) {
        long left = deadline - clock_now_ms();
        if (left <= 0)
            return ab_fail(err, 0, "the port forwarder (appbox-ports) did not get ready in %d seconds",
                           READY_TIMEOUT_MS / 1000);
        struct pollfd p = { .fd = fd, .events = POLLIN };
        int n = poll(&p, 1, (int)left);
        if (n < 0 && errno != EINTR)
            return ab_fail(err, errno, "cannot wait for the port forwarder (appbox-ports)");
        if (n <= 0)
            continue;
        ab_error said = { 0 };
        ssize_t got = read(fd, &said, sizeof(said));
        if (got == (ssize_t)sizeof(said)) {
            if (said.kind == AB_ERR_NONE)
                return 0;
            said.msg[sizeof(said.msg) - 1] = 0;
            ab_error_set(err, said.kind, 0, "%s", said.msg);
            err->errnum = said.errnum;
            return -(said.errnum ? said.errnum : EINVAL);
        }
        return ab_fail(err, 0, "the port forwarder (appbox-ports) exited while setting up");
    }
}

static int ports_host_setup(struct runner *r, ab_error *err)
{
    if (!ports_wanted(r))
        return 0;
    _cleanup_close_ int ufd = -1, nfd = -1;
    int opened = ns_open_container(r->child, &ufd, &nfd, err);
    if (opened < 0)
        return opened;
    /* the store's directories, for net.sock (ours and OTHER's) and the
     * container's log: the helper keeps them open */
    int rt = -1, data = -1;
    if (r->ctx && (r->name || r->spec->container.network.links.n)) {
        ab_error ignored;
        if ((rt = ab_ctx_runtime_fd(r->ctx, err)) < 0)
            return rt;
        if (r->name)
            data = ab_ctx_data_fd_existing(r->ctx, &ignored);
    }
    int st[2];
    if (pipe2(st, O_CLOEXEC) < 0)
        return ab_fail(err, errno, "cannot start the port forwarder (appbox-ports)");
    int keep[5] = { st[1], ufd, nfd };
    size_t n = 3;
    int rt_at = -1, data_at = -1;
    if (rt >= 0) {
        rt_at = 3 + (int)n;
        keep[n++] = rt;
    }
    if (data >= 0) {
        data_at = 3 + (int)n;
        keep[n++] = data;
    }
    pid_t pid = runner_fork_helper(r, "appbox-ports", NULL, keep, n, err);
    if (pid == 0) {
        if (r->ctx) {
            r->ctx->runtime_fd = rt_at;
            r->ctx->data_fd = data_at;
        }
        ports_helper_main(r->ctx, r->spec, r->name, 3, 4, 5);
    }
    close(st[1]);
    _cleanup_close_ int rd = st[0];
    if (pid < 0)
        return ab_error_prefix(err, "cannot start the port forwarder");
    return wait_ready(rd, err);
}

static void ports_teardown(struct runner *r)
{
    if (!r->name || !r->ctx || r->spec->container.net == NET_HOST || r->spec->container.net == NET_PASTA)
        return;
    ab_error err;
    _cleanup_close_ int dir = state_dir_fd(r->ctx, r->name, false, &err);
    if (dir >= 0)
        unlinkat(dir, PORTS_LINK_SOCKET, 0);
}

const struct module ports_module = {
    .name = "ports",
    .host_setup = ports_host_setup,
    .teardown = ports_teardown,
};
