/* --network macvlan[:IFACE] (seed 001's "separate"), root only: the
 * container is a machine of its own on the host's network, with its own
 * MAC address on a host interface and its own IPv4 address, by DHCP from
 * that network's server or from --address A.B.C.D/N.
 *
 *   resolve      IFACE: the interface of the host's default route unless
 *                named; it must exist, be up, and be neither loopback nor
 *                a bridge's port (the bridge holds the port's frames: name
 *                the bridge instead).  --address needs its prefix; the
 *                gateway is the host's default gateway when that is on the
 *                address's subnet.  DNS: NET_DNS_ADDR (proxy.c's server).
 *   host_setup   a macvlan link (mode bridge: containers on one interface
 *                reach each other) on IFACE, created directly in the
 *                container's network namespace as eth0, so that it never
 *                exists in the host's, not even for a moment; then, with
 *                sockets made there by a factory (nsfactory.h): eth0 up,
 *                DHCP (dhcp.h) unless --address, the address and the
 *                default route.  A named container's lease is written to
 *                macvlan.lease in its runtime dir, for `show`; a lease with
 *                an end is renewed by a helper of the runner (below).
 *   teardown     the renewal helper, stopped with the runner's helpers,
 *                RELEASEs the lease; the link dies with the container's
 *                network namespace; the lease file is removed.  Nothing of
 *                the host's changes, also when the start fails.
 *
 * The host itself cannot reach the container through IFACE (macvlan: the
 * parent does not hear its children); other machines on the network, and
 * other macvlan containers on IFACE, can. */
#include "net/net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/if_addr.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "container/state.h"
#include "net/dhcp.h"
#include "net/netlink.h"
#include "net/netopts.h"
#include "net/nsfactory.h"
#include "runtime/caps.h"
#include "util/cleanup.h"
#include "util/clock.h"

#define CONTAINER_IFNAME "eth0"
#define LEASE_FILE "macvlan.lease"
#define DHCP_TRIES 4            /* DISCOVERs 1 + 2 + 3 + 4 seconds apart: 10 seconds in all */

/* The host's IPv4 default route with the lowest metric, from
 * /proc/net/route (this process's network namespace): its interface and
 * gateway; false when there is none. */
static bool host_default_route(char ifname[IFNAMSIZ], struct in_addr *gw)
{
    _cleanup_fclose_ FILE *f = fopen("/proc/net/route", "re");
    if (!f)
        return false;
    char line[512];
    bool found = false;
    unsigned long best = 0;
    while (fgets(line, sizeof(line), f)) {
        char name[64];
        unsigned long dest, gate, flags, refcnt, use, metric, mask;
        if (sscanf(line, "%63s %lx %lx %lx %lu %lu %lu %lx", name, &dest, &gate, &flags, &refcnt, &use, &metric,
                   &mask) != 8 ||
            dest != 0 || mask != 0 || !(flags & 1) || strlen(name) >= IFNAMSIZ)
            continue;
        if (!found || metric < best) {
            found = true;
            best = metric;
            snprintf(ifname, IFNAMSIZ, "%s", name);
            gw->s_addr = (flags & 2) ? (in_addr_t)gate : 0;   /* RTF_GATEWAY; the file holds it in network order */
        }
    }
    return found;
}

/* "eth0, wlan0": the host's interfaces but lo, for messages. */
static void host_interfaces(char *buf, size_t n)
{
    buf[0] = 0;
    struct if_nameindex *ifs = if_nameindex();
    size_t at = 0;
    for (struct if_nameindex *i = ifs; i && i->if_index; i++) {
        if (strcmp(i->if_name, "lo") == 0)
            continue;
        int w = snprintf(buf + at, n - at, "%s%s", at ? ", " : "", i->if_name);
        if (w < 0 || (size_t)w >= n - at)
            break;
        at += (size_t)w;
    }
    if (ifs)
        if_freenameindex(ifs);
    if (!buf[0])
        snprintf(buf, n, "none but lo");
}

static bool same_subnet(struct in_addr a, struct in_addr b, int prefix)
{
    uint32_t m = prefix ? htonl(~0u << (32 - prefix)) : 0;
    return (a.s_addr & m) == (b.s_addr & m);
}

/* Check IFACE as a parent for the container's macvlan (in the host's
 * namespace, through FD). */
static int check_parent(int fd, const char *iface, ab_error *err)
{
    struct nl_link l;
    int r = nl_link_get(fd, iface, &l);
    if (r == -ENODEV || r == -ENOENT) {
        char names[512];
        host_interfaces(names, sizeof(names));
        return ab_usage(err, "--network macvlan:%s: no such interface (interfaces: %s)", iface, names);
    }
    if (r < 0)
        return ab_fail(err, -r, "--network macvlan:%s: cannot read the interface", iface);
    _cleanup_close_ int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct ifreq ifr = { 0 };
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", iface);
    if (s < 0 || ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
        return ab_fail(err, errno, "--network macvlan:%s: cannot read the interface's flags", iface);
    if (ifr.ifr_flags & IFF_LOOPBACK)
        return ab_usage(err, "--network macvlan:%s: the loopback interface cannot carry a container's own address; "
                             "name an Ethernet interface",
                        iface);
    if (l.master) {
        char master[IF_NAMESIZE] = "?";
        if_indextoname((unsigned)l.master, master);
        return ab_usage(err, "--network macvlan:%s: the interface is a port of %s (its frames are the bridge's): "
                             "use --network macvlan:%s",
                        iface, master, master);
    }
    /* an 802.11 station has one MAC address: the access point drops frames
     * from a second one (the kernel makes the link all the same) */
    char path[64 + IFNAMSIZ];
    snprintf(path, sizeof(path), "/sys/class/net/%s/wireless", iface);
    if (access(path, F_OK) == 0)
        return ab_usage(err, "--network macvlan:%s: a Wi-Fi interface cannot carry the container's own MAC address "
                             "(the access point accepts only the station's): use --network nat",
                        iface);
    if (!l.up)
        return ab_usage(err, "--network macvlan:%s: the interface is down (bring it up first)", iface);
    return 0;
}

int macvlan_resolve(struct ab_ctx *ctx, struct spec *s, const char *name, ab_error *err)
{
    (void)ctx;
    (void)name;
    struct spec_network *n = &s->container.network;
    char defif[IFNAMSIZ] = "";
    struct in_addr defgw = { 0 };
    bool have_default = host_default_route(defif, &defgw);
    if (!n->iface) {
        if (!have_default) {
            char names[512];
            host_interfaces(names, sizeof(names));
            return ab_usage(err, "--network macvlan: the host has no default route to pick an interface from: "
                                 "name one, --network macvlan:IFACE (interfaces: %s)",
                            names);
        }
        if (!(n->iface = strdup(defif)))
            return ab_fail(err, ENOMEM, "--network macvlan");
    }
    _cleanup_close_ int fd = nl_open();
    if (fd < 0)
        return ab_fail(err, -fd, "--network macvlan: cannot open a netlink socket");
    int r = check_parent(fd, n->iface, err);
    if (r < 0)
        return r;
    if (n->address) {
        struct in_addr a;
        int prefix;
        if ((r = net_parse_cidr("--address", n->address, true, &a, &prefix, err)) < 0)
            return r;
        if (prefix < 0)
            return ab_usage(err, "--address %s: --network macvlan needs the prefix length too (A.B.C.D/N, e.g. "
                                 "%s/24): the subnet is the network's on %s, appbox cannot guess it",
                            n->address, n->address, n->iface);
        uint32_t host = ntohl(a.s_addr) & ~(~0u << (32 - prefix));
        if (host == 0 || host == ~(~0u << (32 - prefix)))
            return ab_usage(err, "--address %s: that is the subnet's %s address, not one a machine can have",
                            n->address, host ? "broadcast" : "network");
        free(n->addr);
        if (!(n->addr = strdup(n->address)))
            return ab_fail(err, ENOMEM, "--network macvlan");
        free(n->gateway);
        n->gateway = NULL;
        char gw[INET_ADDRSTRLEN];
        if (have_default && defgw.s_addr && strcmp(defif, n->iface) == 0 && same_subnet(defgw, a, prefix) &&
            defgw.s_addr != a.s_addr && !(n->gateway = strdup(dhcp_ntoa(defgw, gw))))
            return ab_fail(err, ENOMEM, "--network macvlan");
    }
    free(n->dns);
    if (!(n->dns = strdup(NET_DNS_ADDR)))
        return ab_fail(err, ENOMEM, "--network macvlan");
    free(n->hosts);
    n->hosts = NULL;
    return 0;
}

/* ---- the lease, for `show` ---------------------------------------------- */

/* Write TEXT as LEASE_FILE in the directory DIR (tmp + rename: a reader
 * sees the old or the new, whole). */
static int lease_file_write(int dir, const char *text)
{
    _cleanup_close_ int fd = openat(dir, LEASE_FILE ".tmp", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
                                    0600);
    size_t len = strlen(text);
    if (fd < 0 || write(fd, text, len) != (ssize_t)len || renameat(dir, LEASE_FILE ".tmp", dir, LEASE_FILE) < 0) {
        int e = errno;
        unlinkat(dir, LEASE_FILE ".tmp", 0);
        return -e;
    }
    return 0;
}

/* key=value lines (see macvlan-docs): what `show` prints. */
static void lease_text(char *buf, size_t n, const char *parent, const uint8_t mac[6], const struct dhcp_lease *l,
                       const char *state, time_t obtained, unsigned renewals)
{
    char a[INET_ADDRSTRLEN], g[INET_ADDRSTRLEN], sv[INET_ADDRSTRLEN], dns[3 * INET_ADDRSTRLEN + 3] = "";
    for (int i = 0; i < l->n_dns; i++) {
        char d[INET_ADDRSTRLEN];
        snprintf(dns + strlen(dns), sizeof(dns) - strlen(dns), "%s%s", i ? "," : "", dhcp_ntoa(l->dns[i], d));
    }
    char expires[32] = "never";
    if (l->lease_s != UINT32_MAX)
        snprintf(expires, sizeof(expires), "%lld", (long long)obtained + l->lease_s);
    snprintf(buf, n,
             "source=dhcp\nstate=%s\ninterface=" CONTAINER_IFNAME "\nparent=%s\n"
             "mac=%02x:%02x:%02x:%02x:%02x:%02x\naddress=%s/%d\nrouter=%s\nserver=%s\ndns=%s\n"
             "lease=%u\nobtained=%lld\nexpires=%s\nrenewals=%u\n",
             state, parent, mac[0], mac[1], mac[2], mac[3], mac[4], mac[5], dhcp_ntoa(l->addr, a), l->prefix,
             l->router.s_addr ? dhcp_ntoa(l->router, g) : "", dhcp_ntoa(l->server, sv), dns, l->lease_s,
             (long long)obtained, expires, renewals);
}

/* ---- the container's side, through its sockets ---------------------- */

/* The address ADDR/PREFIX on IFINDEX and a default route via ROUTER
 * (INADDR_ANY: none; off the subnet: a route to it on the link first). */
static int configure(int nl, int ifindex, struct in_addr addr, int prefix, struct in_addr router, const char *iface,
                     ab_error *err)
{
    char a[INET_ADDRSTRLEN], g[INET_ADDRSTRLEN];
    int r = nl_addr_add(nl, ifindex, addr, prefix);
    if (r < 0 && r != -EEXIST)
        return ab_fail(err, -r, "cannot give the container's " CONTAINER_IFNAME " (a macvlan on %s) the address %s/%d",
                       iface, dhcp_ntoa(addr, a), prefix);
    if (!router.s_addr)
        return 0;
    if (!same_subnet(router, addr, prefix) && (r = nl_route_add_dev(nl, router, 32, ifindex)) < 0 && r != -EEXIST)
        return ab_fail(err, -r, "cannot add the container's route to its gateway %s", dhcp_ntoa(router, g));
    if ((r = nl_route_add_default(nl, router, ifindex)) < 0 && r != -EEXIST)
        return ab_fail(err, -r, "cannot add the container's default route via %s", dhcp_ntoa(router, g));
    return 0;
}

/* Remove ADDR/PREFIX from IFINDEX (an expired lease); netlink.h has no
 * such call, and only this file needs it. */
static int addr_del(int nl, int ifindex, struct in_addr addr, int prefix)
{
    struct {
        struct nlmsghdr h;
        struct ifaddrmsg ifa;
        char attrs[64];
    } req = { 0 };
    req.h.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifaddrmsg));
    req.h.nlmsg_type = RTM_DELADDR;
    req.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
    req.h.nlmsg_seq = (uint32_t)clock_now_ms();
    req.ifa.ifa_family = AF_INET;
    req.ifa.ifa_prefixlen = (unsigned char)prefix;
    req.ifa.ifa_index = (unsigned)ifindex;
    struct rtattr *rta = (struct rtattr *)((char *)&req + NLMSG_ALIGN(req.h.nlmsg_len));
    rta->rta_type = IFA_LOCAL;
    rta->rta_len = RTA_LENGTH(4);
    memcpy(RTA_DATA(rta), &addr, 4);
    req.h.nlmsg_len = NLMSG_ALIGN(req.h.nlmsg_len) + RTA_ALIGN(rta->rta_len);
    if (send(nl, &req, req.h.nlmsg_len, 0) < 0)
        return -errno;
    char buf[4096];
    for (;;) {
        ssize_t n = recv(nl, buf, sizeof(buf), 0);
        if (n < 0)
            return errno == EINTR ? 0 : -errno;
        for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n))
            if (h->nlmsg_seq == req.h.nlmsg_seq && h->nlmsg_type == NLMSG_ERROR)
                return ((struct nlmsgerr *)NLMSG_DATA(h))->error;
    }
}

/* ---- renewal: a helper of the runner ------------------------------------ */

struct renewer {
    struct dhcp_link link;
    int nl;                   /* netlink socket in the container's namespace */
    int lease_fd;             /* the lease file (opened by the runner), or -1 */
    int ifindex;
    const char *parent;
};

/* What the helper sends when the runner stops it (SIGTERM, at teardown):
 * a RELEASE of the current lease, so that the server's pool does not fill
 * up with the addresses of containers that are gone (each start has a new
 * MAC, so a new lease).  Built beforehand: the handler only sends it. */
static uint8_t release_pkt[576];
static volatile size_t release_len;
static int release_fd = -1;
static struct sockaddr_in release_to;

static void on_term(int sig)
{
    (void)sig;
    if (release_len)
        sendto(release_fd, release_pkt, release_len, 0, (struct sockaddr *)&release_to, sizeof(release_to));
    _exit(0);
}

/* Arm the RELEASE for L (NULL: none, the address is gone). */
static void arm_release(const struct renewer *w, const struct dhcp_lease *l)
{
    sigset_t term, old;
    sigemptyset(&term);
    sigaddset(&term, SIGTERM);
    sigprocmask(SIG_BLOCK, &term, &old);
    release_len = 0;
    if (l) {
        struct dhcp_request q = { .xid = (uint32_t)clock_now_ms() ^ l->addr.s_addr, .ciaddr = l->addr,
                                  .server = l->server };
        memcpy(q.mac, w->link.mac, 6);
        release_fd = w->link.udp;
        release_to = (struct sockaddr_in){ .sin_family = AF_INET, .sin_port = htons(67), .sin_addr = l->server };
        release_len = dhcp_build(release_pkt, sizeof(release_pkt), DHCP_RELEASE, &q);
    }
    sigprocmask(SIG_SETMASK, &old, NULL);
}

static void sleep_ms(long ms)
{
    if (ms > 0)
        poll(NULL, 0, ms > 3600000L ? 3600000 : (int)ms);
}

static void renewer_record(const struct renewer *w, const struct dhcp_lease *l, const char *state, time_t obtained,
                           unsigned renewals)
{
    if (w->lease_fd < 0)
        return;
    /* in place: the helper may not create files in the runtime dir (it is
     * the container's root, not the host's); the runner opened this one */
    char text[1024];
    lease_text(text, sizeof(text), w->parent, w->link.mac, l, state, obtained, renewals);
    size_t len = strlen(text);
    if (pwrite(w->lease_fd, text, len, 0) == (ssize_t)len)
        (void)!ftruncate(w->lease_fd, (off_t)len);
}

/* The lease's life (RFC 2131 4.4.5): at T1 a REQUEST to its server
 * (RENEWING), retried at half the time left until T2; from T2 broadcast
 * (REBINDING) until it ends; then the address goes and a new lease is
 * sought (DISCOVER) every few seconds.  A NAK ends the lease at once. */
static _Noreturn void renew_loop(struct renewer *w, struct dhcp_lease l)
{
    /* it reads what the network (and the container) send: it runs as the
     * container's root (runner_fork_helper moved it into the container's
     * user namespace: no right on the host), and keeps only CAP_NET_ADMIN
     * there (the address, over its netlink socket) */
    for (int c = 0; c <= 63; c++)
        if (c != CAP_NET_ADMIN)
            prctl(PR_CAPBSET_DROP, c, 0, 0, 0);
    ab_error e;
    if (caps_set(1ULL << CAP_NET_ADMIN, &e) < 0 || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        _exit(1);
    struct sigaction sa = { .sa_handler = on_term };
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    arm_release(w, &l);
    time_t obtained = time(NULL);
    long start = clock_now_ms();
    unsigned renewals = 0;
    for (;;) {
        if (l.lease_s == UINT32_MAX)
            _exit(0);
        long t1 = start + l.t1_s * 1000L, t2 = start + l.t2_s * 1000L, end = start + l.lease_s * 1000L;
        while (clock_now_ms() < t1)
            sleep_ms(t1 - clock_now_ms());
        int r = -ETIMEDOUT;
        while (r == -ETIMEDOUT && clock_now_ms() < end) {
            bool rebinding = clock_now_ms() >= t2;
            renewer_record(w, &l, rebinding ? "rebinding" : "renewing", obtained, renewals);
            struct dhcp_lease n = l;
            r = dhcp_renew(&w->link, &n, rebinding, 4000);
            if (r < 0 && r != -ECONNREFUSED)
                r = -ETIMEDOUT;   /* not sent (the container changed its routes?), or no answer: later */
            if (r == 0) {
                if (n.addr.s_addr != l.addr.s_addr || n.prefix != l.prefix) {
                    addr_del(w->nl, w->ifindex, l.addr, l.prefix);
                    ab_error err;
                    configure(w->nl, w->ifindex, n.addr, n.prefix, n.router, w->parent, &err);
                }
                l = n;
                arm_release(w, &l);
                start = clock_now_ms();
                obtained = time(NULL);
                renewals++;
                renewer_record(w, &l, "bound", obtained, renewals);
                break;
            }
            if (r == -ETIMEDOUT) {
                long now = clock_now_ms(), until = now < t2 ? t2 : end;
                long wait = (until - now) / 2;
                sleep_ms(wait < 2000 ? 2000 : wait > 60000 ? 60000 : wait);
            }
        }
        if (r == 0)
            continue;
        /* expired or refused: the address is no longer ours */
        arm_release(w, NULL);
        addr_del(w->nl, w->ifindex, l.addr, l.prefix);
        renewer_record(w, &l, "expired", obtained, renewals);
        for (;;) {
            ab_error err;
            struct dhcp_lease n;
            if (dhcp_acquire(&w->link, DHCP_TRIES, &n, &err) == 0 &&
                configure(w->nl, w->ifindex, n.addr, n.prefix, n.router, w->parent, &err) == 0) {
                l = n;
                arm_release(w, &l);
                start = clock_now_ms();
                obtained = time(NULL);
                renewals = 0;
                renewer_record(w, &l, "bound", obtained, renewals);
                break;
            }
            sleep_ms(10000);
        }
    }
}

/* ---- the module --------------------------------------------------------- */

static int open_ns(pid_t pid, const char *ns, ab_error *err)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/ns/%s", (int)pid, ns);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    return fd < 0 ? ab_fail(err, errno, "cannot open %s", path) : fd;
}

static int factory_socket(struct ns_factory *f, int domain, int type, int protocol, const char *what, ab_error *err)
{
    int fd = ns_factory_socket(f, domain, type, protocol);
    return fd < 0 ? ab_fail(err, -fd, "cannot make %s in the container's network namespace", what) : fd;
}

static void ns_factory_stopp(struct ns_factory *f)
{
    if (f->pid > 0)
        ns_factory_stop(f);
}

static int macvlan_host_setup(struct runner *r, ab_error *err)
{
    const struct spec_network *n = &r->spec->container.network;
    if (r->spec->container.net != NET_MACVLAN)
        return 0;
    const char *parent = n->iface;
    char what[64];
    snprintf(what, sizeof(what), CONTAINER_IFNAME " (a macvlan on %s)", parent);

    /* the link, made in the host's namespace on PARENT, born in the container's */
    _cleanup_close_ int hostnl = nl_open();
    if (hostnl < 0)
        return ab_fail(err, -hostnl, "--network macvlan: cannot open a netlink socket");
    int pidx = nl_ifindex(hostnl, parent);
    if (pidx < 0)
        return ab_fail(err, -pidx, "--network macvlan:%s: cannot find the interface", parent);
    _cleanup_close_ int netns = open_ns(r->child, "net", err);
    if (netns < 0)
        return netns;
    _cleanup_close_ int userns = open_ns(r->child, "user", err);
    if (userns < 0)
        return userns;
    int rc = nl_link_add_macvlan(hostnl, pidx, CONTAINER_IFNAME, netns);
    if (rc < 0)
        return ab_fail(err, -rc, "--network macvlan:%s: cannot make the container's macvlan link on %s", parent,
                       parent);

    /* the rest from inside: sockets of the container's namespace */
    __attribute__((cleanup(ns_factory_stopp))) struct ns_factory f = { .pid = -1, .sock = -1 };
    if ((rc = ns_factory_start(&f, userns, netns, err)) < 0)
        return rc;
    _cleanup_close_ int nl = factory_socket(&f, AF_NETLINK, SOCK_RAW, NETLINK_ROUTE, "a netlink socket", err);
    if (nl < 0)
        return nl;
    _cleanup_close_ int udp = factory_socket(&f, AF_INET, SOCK_DGRAM, 0, "the DHCP client's socket", err);
    if (udp < 0)
        return udp;
    int ifindex = nl_ifindex(nl, CONTAINER_IFNAME);
    if (ifindex < 0)
        return ab_fail(err, -ifindex, "cannot find the container's " CONTAINER_IFNAME);
    if ((rc = nl_link_set_up(nl, ifindex, true)) < 0)
        return ab_fail(err, -rc, "cannot bring the container's %s up", what);
    struct ifreq ifr = { 0 };
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), CONTAINER_IFNAME);
    if (ioctl(udp, SIOCGIFHWADDR, &ifr) < 0)
        return ab_fail(err, errno, "cannot read the MAC address of the container's %s", what);
    uint8_t mac[6];
    memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);

    _cleanup_close_ int dir = -1;
    if (r->name && r->ctx && (dir = state_dir_fd(r->ctx, r->name, true, err)) < 0)
        return dir;

    if (n->addr) {   /* --address: no DHCP */
        struct in_addr a, gw = { 0 };
        int prefix;
        if ((rc = net_parse_cidr("--address", n->addr, false, &a, &prefix, err)) < 0)
            return rc;
        if (n->gateway && inet_pton(AF_INET, n->gateway, &gw) != 1)
            return ab_fail(err, EINVAL, "--network macvlan: bad gateway '%s'", n->gateway);
        if ((rc = configure(nl, ifindex, a, prefix, gw, parent, err)) < 0)
            return rc;
        if (dir >= 0) {
            char text[512];
            snprintf(text, sizeof(text),
                     "source=static\nstate=static\ninterface=" CONTAINER_IFNAME "\nparent=%s\n"
                     "mac=%02x:%02x:%02x:%02x:%02x:%02x\naddress=%s\nrouter=%s\n",
                     parent, mac[0], mac[1], mac[2], mac[3], mac[4], mac[5], n->addr, n->gateway ? n->gateway : "");
            if ((rc = lease_file_write(dir, text)) < 0)
                return ab_fail(err, -rc, "cannot write %s/%s/" LEASE_FILE, r->ctx->runtime_dir, r->name);
        }
        return 0;
    }

    _cleanup_close_ int packet = factory_socket(&f, AF_PACKET, SOCK_DGRAM, htons(ETH_P_IP),
                                                "the DHCP client's packet socket", err);
    if (packet < 0)
        return packet;
    struct dhcp_link link = { .udp = udp, .packet = packet, .ifindex = ifindex, .what = what,
                              .hostname = r->spec->container.hostname };
    memcpy(link.mac, mac, 6);
    if ((rc = dhcp_link_bind(&link, CONTAINER_IFNAME, err)) < 0)
        return rc;
    struct dhcp_lease lease;
    if ((rc = dhcp_acquire(&link, DHCP_TRIES, &lease, err)) < 0)
        return ab_error_prefix(err, "--network macvlan:%s", parent);
    if ((rc = configure(nl, ifindex, lease.addr, lease.prefix, lease.router, parent, err)) < 0)
        return rc;
    time_t obtained = time(NULL);
    if (dir >= 0) {
        char text[1024];
        lease_text(text, sizeof(text), parent, mac, &lease, "bound", obtained, 0);
        if ((rc = lease_file_write(dir, text)) < 0)
            return ab_fail(err, -rc, "cannot write %s/%s/" LEASE_FILE, r->ctx->runtime_dir, r->name);
    }
    if (lease.lease_s == UINT32_MAX)
        return 0;
    _cleanup_close_ int leasefd = -1;
    if (dir >= 0 && (leasefd = openat(dir, LEASE_FILE, O_WRONLY | O_NOFOLLOW | O_CLOEXEC)) < 0)
        return ab_fail(err, errno, "cannot open %s/%s/" LEASE_FILE, r->ctx->runtime_dir, r->name);
    ns_factory_stopp(&f);   /* the helper must not inherit it */
    int keep[4] = { udp, packet, nl, leasefd };
    struct helper_opts o = HELPER_OPTS_INIT;
    o.userns_fd = userns;
    pid_t pid = runner_fork_helper(r, "appbox-dhcp", &o, keep, leasefd >= 0 ? 4 : 3, err);
    if (pid < 0)
        return (int)pid;
    if (pid == 0) {
        struct renewer w = { .link = link, .nl = 5, .lease_fd = leasefd >= 0 ? 6 : -1, .ifindex = ifindex,
                             .parent = parent };
        w.link.udp = 3;
        w.link.packet = 4;
        char w_what[64];
        snprintf(w_what, sizeof(w_what), "%s", what);
        w.link.what = w_what;
        renew_loop(&w, lease);
    }
    return 0;
}

static void macvlan_teardown(struct runner *r)
{
    if (r->spec->container.net == NET_MACVLAN && r->name && r->ctx)
        state_remove(r->ctx, r->name, LEASE_FILE);
}

const struct module macvlan_module = {
    .name = "macvlan",
    .host_setup = macvlan_host_setup,
    .teardown = macvlan_teardown,
};
