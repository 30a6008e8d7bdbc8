/* User-mode networking on the host side, for a network namespace of the
 * container's own: pasta (package passt), or slirp4netns where pasta is
 * missing.  The tool runs as a helper of the runner, opens ordinary
 * sockets in the host's network namespace for the container's connections
 * and answers the container's tap interface.  Two users:
 *
 *   NET_PASTA   apt runs (apt.c): the image's own apt-get reaches the
 *               mirror, and neither the host's loopback (its services on
 *               127.0.0.1, through the gateway address or a port mapping)
 *               nor its abstract unix sockets (which belong to the network
 *               namespace).  pasta only.
 *   NET_NAT     `--network nat` for an ordinary user (nat_user_resolve():
 *               backend NET_BACKEND_PASTA, or NET_BACKEND_SLIRP4NETNS
 *               where /usr/bin/pasta is missing): the same, plus the
 *               host's loopback at one documented address when the user
 *               says --allow-host-loopback.  Published ports and links are
 *               ports.c's (a forwarder of appbox's own), never the tool's
 *               port forwarding.  A named container's nat:NAME is the
 *               same, plus its network's names and TCP (usernet.h).
 *
 *   resolve      (NET_NAT) the backend, the container's address, gateway
 *                and nameserver, kept in spec.json for `show`
 *   host_setup   the tool on the child's network namespace, started
 *                inside the container's user namespace (so that it has
 *                rights over the container's network namespace, from
 *                there, and none it does not need), then wait until the
 *                interface has its default route
 *   before_pivot lo up (net.c)
 *   mounts       /etc/resolv.conf naming NET_PASTA_DNS (pasta: forwarded
 *                to the host's first resolver) or SLIRP_DNS (slirp4netns's)
 *   teardown     the tool is a runner helper: stopped with the others, and
 *                dead with the runner (PR_SET_PDEATHSIG) */
#include "net/net.h"
#include "net/nsfactory.h"
#include "net/usernet.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <linux/capability.h>
#include <net/if.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/clock.h"

/* Fixed paths, as for newuidmap: never a PATH lookup for a tool that a
 * root caller runs.  (A test hides pasta by binding /dev/null over it in a
 * private mount namespace: nothing of appbox's own chooses the fallback.) */
#define PASTA "/usr/bin/pasta"
#define SLIRP4NETNS "/usr/bin/slirp4netns"
#define READY_TIMEOUT_MS 10000

/* slirp4netns's fixed network (its defaults): the container's address,
 * the gateway (the host's loopback with --allow-host-loopback) and its
 * DNS forwarder. */
#define SLIRP_ADDR "10.0.2.100/24"
#define SLIRP_GATEWAY "10.0.2.2"
#define SLIRP_DNS "10.0.2.3"

/* Whether the network namespace of PID has an IPv4 default route (pasta's
 * --config-net and slirp4netns's --configure add it last, after the
 * address). */
static bool has_default_route(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/net/route", (int)pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return false;
    char line[512];
    bool found = false;
    while (!found && fgets(line, sizeof(line), f)) {
        char ifname[64];
        unsigned long dest, gw, flags;
        if (sscanf(line, "%63s %lx %lx %lx", ifname, &dest, &gw, &flags) == 4 && dest == 0 && (flags & 1))
            found = true;
    }
    fclose(f);
    return found;
}

/* The error for a TOOL that failed WHAT: its own last message, and what
 * to do where it is the usual cause. */
__attribute__((format(printf, 4, 5))) static int tool_failed(const char *tool, int errfd, ab_error *err,
                                                             const char *what, ...)
{
    char said[1024] = "";
    ssize_t n = pread(errfd, said, sizeof(said) - 1, 0);
    if (n > 0) {
        said[n] = 0;
        while (n > 0 && (said[n - 1] == '\n' || said[n - 1] == ' '))
            said[--n] = 0;
    }
    char *last = strrchr(said, '\n');
    last = last ? last + 1 : said;
    /* the line about the tun device, where there is one: slirp4netns's
     * last line is only "child failed(1)" */
    char *tun = strstr(said, "tun");
    if (tun) {
        while (tun > said && tun[-1] != '\n')
            tun--;
        char *end = strchr(tun, '\n');
        if (end)
            *end = 0;
        last = tun;
    }
    char msg[512];
    va_list ap;
    va_start(ap, what);
    vsnprintf(msg, sizeof(msg), what, ap);
    va_end(ap);
    if (tun)
        return ab_fail(err, 0,
                       "%s %s: %s (the container's root must be able to open /dev/net/tun: "
                       "Debian's udev makes it mode 0666)",
                       tool, msg, last);
    return ab_fail(err, 0, "%s %s%s%s", tool, msg, *last ? ": " : "", last);
}

/* Start TOOL (ARGV) as a helper in the container's user namespace, with
 * the container's network namespace as its fd 3, and wait until it has
 * configured the interface. */
static int start_in_netns(struct runner *r, const char *tool, char *const argv[], ab_error *err)
{
    _cleanup_close_ int ufd = -1, nfd = -1;
    int opened = ns_open_container(r->child, &ufd, &nfd, err);
    if (opened < 0)
        return opened;
    /* the tool's errors: into a memfd (a file: it never blocks on it, nor
     * dies of a closed pipe once we stop reading), read back on failure */
    _cleanup_close_ int errfd = memfd_create("netns-helper-stderr", MFD_CLOEXEC);
    if (errfd < 0)
        return ab_fail(err, errno, "cannot start %s", tool);
    struct helper_opts o = HELPER_OPTS_INIT;
    o.stderr_fd = errfd;
    o.userns_fd = ufd;
    o.pass_fd = nfd;
    int rc = runner_spawn_helper(r, tool, argv, &o, err);
    if (rc < 0)
        return rc;
    const struct runner_helper *h = &r->helpers[r->n_helpers - 1];
    long deadline = clock_now_ms() + READY_TIMEOUT_MS;
    for (;;) {
        if (has_default_route(r->child))
            return 0;
        long left = deadline - clock_now_ms();
        if (left <= 0)
            return tool_failed(tool, errfd, err, "did not set up the container's network in %d seconds",
                               READY_TIMEOUT_MS / 1000);
        if (h->pidfd >= 0) {
            struct pollfd p = { .fd = h->pidfd, .events = POLLIN };
            if (poll(&p, 1, left < 10 ? (int)left : 10) > 0)
                return tool_failed(tool, errfd, err, "exited before the container's network was up");
        } else {
            usleep(10000);
        }
    }
}

/* pasta, for apt runs (NET_PASTA) and a user's nat (NET_NAT, N the
 * network: its address, gateway and --allow-host-loopback). */
static int start_pasta(struct runner *r, const struct spec_network *n, ab_error *err)
{
    if (access(PASTA, X_OK) < 0)
        return ab_fail(err, errno, "cannot give the container a network of its own: " PASTA
                       " (package passt) is needed");
    /* -f: stays the runner's child (a helper: dies with it);
     * -q: only errors, to the runner's stderr (apt's log);
     * --config-net: address and routes of the tap interface, set by pasta;
     * -t none -u none: no port of the host forwarded in (published ports
     *   are ports.c's);
     * -T none -U none: no port of the host's loopback reachable from the
     *   container's own loopback (pasta's default forwards every port
     *   bound there);
     * --no-map-gw: the gateway address is the real gateway, not the host;
     *   left out for --allow-host-loopback, and then (this pasta has no
     *   --map-host-loopback) the gateway address is the host's 127.0.0.1;
     * --dns-forward: DNS sent to NET_PASTA_DNS goes to the host's first
     *   resolver (the container's /etc/resolv.conf names that address);
     * -a -n -g: the address and gateway that resolve chose (the host's
     *   own, as pasta would copy them), so that `show` tells the truth;
     * --runas 0:0: stays the container's root (pasta would change to
     *   "nobody", unmapped in a single-id map);
     * --netns + --netns-only: the container's network namespace, as fd 3;
     *   pasta is already in its user namespace (helper_opts.userns_fd). */
    const char *argv[32] = {
        PASTA, "-f", "-q", "--runas", "0:0", "--config-net", "-t", "none", "-u", "none", "-T", "none", "-U", "none",
        "--dns-forward", NET_PASTA_DNS,
    };
    size_t i = 16;
    if (!n || !n->allow_host_loopback)
        argv[i++] = "--no-map-gw";
    char addr[INET_ADDRSTRLEN + 4] = "", prefix[4] = "";
    if (n && n->addr && n->gateway) {
        size_t len = strcspn(n->addr, "/");
        if (len < INET_ADDRSTRLEN && n->addr[len] == '/') {
            snprintf(addr, sizeof(addr), "%.*s", (int)len, n->addr);
            snprintf(prefix, sizeof(prefix), "%s", n->addr + len + 1);
            argv[i++] = "-a";
            argv[i++] = addr;
            argv[i++] = "-n";
            argv[i++] = prefix;
            argv[i++] = "-g";
            argv[i++] = n->gateway;
        }
    }
    argv[i++] = "--netns";
    argv[i++] = "/proc/self/fd/3";
    argv[i++] = "--netns-only";
    argv[i] = NULL;
    return start_in_netns(r, "pasta", (char *const *)argv, err);
}

/* slirp4netns, a user's nat where pasta is missing. */
static int start_slirp4netns(struct runner *r, const struct spec_network *n, ab_error *err)
{
    if (access(SLIRP4NETNS, X_OK) < 0)
        return ab_fail(err, errno, "cannot give the container a network of its own: " SLIRP4NETNS " is needed");
    /* --configure: address 10.0.2.100/24, gateway 10.0.2.2, DNS 10.0.2.3;
     * --mtu: pasta's, for throughput;
     * --disable-host-loopback: nothing on the host's 127.0.0.0/8, through
     *   10.0.2.2 or otherwise; left out for --allow-host-loopback, and
     *   then 10.0.2.2 is the host's 127.0.0.1;
     * --netns-type=path: the container's network namespace, as fd 3;
     *   slirp4netns is already in its user namespace;
     * --enable-sandbox: its own mount namespace with nothing of the host's
     *   but what it needs, and no capabilities;
     * --enable-seccomp: only the system calls it uses;
     * no --api-socket: no port forwarding (ports.c's). */
    const char *argv[12] = {
        SLIRP4NETNS, "--configure", "--mtu=65520", "--netns-type=path", "--enable-sandbox", "--enable-seccomp",
    };
    size_t i = 6;
    if (!n->allow_host_loopback)
        argv[i++] = "--disable-host-loopback";
    argv[i++] = "/proc/self/fd/3";
    argv[i++] = "tap0";
    argv[i] = NULL;
    return start_in_netns(r, "slirp4netns", (char *const *)argv, err);
}

static int pasta_host_setup(struct runner *r, ab_error *err)
{
    const struct spec_container *c = &r->spec->container;
    if (c->net == NET_PASTA)
        return start_pasta(r, NULL, err);
    if (c->net != NET_NAT)
        return 0;
    if (c->network.backend == NET_BACKEND_PASTA)
        return start_pasta(r, &c->network, err);
    if (c->network.backend == NET_BACKEND_SLIRP4NETNS)
        return start_slirp4netns(r, &c->network, err);
    return 0;
}

/* The host's IPv4 default route (the one of lowest metric): its gateway,
 * and the address and prefix of its interface, which pasta copies.
 * False when there is none. */
static bool host_default_route(struct in_addr *addr, int *prefix, struct in_addr *gateway)
{
    FILE *f = fopen("/proc/net/route", "re");
    if (!f)
        return false;
    char line[512], best_if[IF_NAMESIZE + 1] = "";
    unsigned long best_metric = ~0UL, best_gw = 0;
    while (fgets(line, sizeof(line), f)) {
        char ifname[64];
        unsigned long dest, gw, flags, refcnt, use, metric;
        if (sscanf(line, "%63s %lx %lx %lx %lu %lu %lu", ifname, &dest, &gw, &flags, &refcnt, &use, &metric) == 7 &&
            dest == 0 && (flags & 0x3) == 0x3 /* RTF_UP | RTF_GATEWAY */ && metric < best_metric &&
            strlen(ifname) <= IF_NAMESIZE) {
            best_metric = metric;
            best_gw = gw;
            snprintf(best_if, sizeof(best_if), "%s", ifname);
        }
    }
    fclose(f);
    if (!*best_if)
        return false;
    struct ifaddrs *ifs;
    if (getifaddrs(&ifs) < 0)
        return false;
    bool found = false;
    for (struct ifaddrs *i = ifs; i && !found; i = i->ifa_next) {
        if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET || !i->ifa_netmask || strcmp(i->ifa_name, best_if))
            continue;
        *addr = ((struct sockaddr_in *)i->ifa_addr)->sin_addr;
        uint32_t mask = ntohl(((struct sockaddr_in *)i->ifa_netmask)->sin_addr.s_addr);
        *prefix = __builtin_popcount(mask);
        gateway->s_addr = (in_addr_t)best_gw; /* /proc/net/route: network order, in hex */
        found = true;
    }
    freeifaddrs(ifs);
    return found;
}

static int set_field(char **field, const char *value, ab_error *err)
{
    char *v = strdup(value);
    if (!v)
        return ab_fail(err, ENOMEM, "cannot resolve the network");
    free(*field);
    *field = v;
    return 0;
}

int nat_user_resolve(struct ab_ctx *ctx, struct spec *s, const char *name, ab_error *err)
{
    struct spec_network *n = &s->container.network;
    /* One pasta per container: each has the host's own address, and
     * nothing carries one container's packets to another.  A named
     * network's members reach each other's TCP ports by name instead
     * (usernet.h): names in their /etc/hosts, connections carried by their
     * port helpers. */
    if (n->name) {
        int u = usernet_resolve(ctx, s, name, err);
        if (u < 0)
            return u;
    }
    if (n->subnet)
        return ab_usage(err, "--subnet (Subnet=) applies to --network nat as root: as a user, the container's "
                             "address is the host's own (pasta) or 10.0.2.100 (slirp4netns)");
    if (n->address)
        return ab_usage(err, "--address (Address=) applies to --network nat as root: as a user, the container's "
                             "address is the host's own (pasta) or 10.0.2.100 (slirp4netns)");
    /* Both tools carry a packet the container made by hand (a raw or
     * packet socket) to whatever address it names, 127.0.0.1 included:
     * pasta (no check of its own) and slirp4netns (its
     * --disable-host-loopback lets a UDP datagram to 127.0.0.1 through);
     * tested in test_nat_user.py.  The container's root lacks CAP_NET_RAW and
     * CAP_NET_ADMIN unless the user adds them: with them, the host's
     * loopback would be reachable, which only --allow-host-loopback says
     * is fine. */
    const uint64_t raw = (1ULL << CAP_NET_RAW) | (1ULL << CAP_NET_ADMIN);
    if ((s->process.cap_add & raw) && !n->allow_host_loopback)
        return ab_usage(err, "--cap-add %s with --network nat as a user: the container could send hand-made packets "
                             "that reach the host's loopback (127.0.0.1); add --allow-host-loopback to accept that, "
                             "or leave the capability out",
                        (s->process.cap_add & (1ULL << CAP_NET_RAW)) ? "NET_RAW" : "NET_ADMIN");
    char addr[INET_ADDRSTRLEN + 4], gw[INET_ADDRSTRLEN];
    const char *dns;
    /* Neither tool sets up a container whose user namespace maps only
     * the caller's own id (no /etc/subuid range): say so, rather than
     * let it fail half-way */
    const struct spec_idmap *map = &s->container.uid_map;
    if (map->n == 1 && map->r[0].count == 1)
        return ab_fail(err, 0, "--network nat as a user needs an /etc/subuid and /etc/subgid range (the container's "
                               "user namespace maps only your own id, where pasta and slirp4netns cannot set up its "
                               "network): add one (usermod --add-subuids 100000-165535 --add-subgids 100000-165535 "
                               "%s)",
                          s->process.user.caller_name);
    if (access(PASTA, X_OK) == 0) {
        n->backend = NET_BACKEND_PASTA;
        dns = NET_PASTA_DNS;
        struct in_addr a, g;
        int prefix;
        /* none (no IPv4 default route): pasta's own choice, and its error */
        if (host_default_route(&a, &prefix, &g)) {
            char a_s[INET_ADDRSTRLEN];
            inet_ntop(AF_INET, &a, a_s, sizeof(a_s));
            inet_ntop(AF_INET, &g, gw, sizeof(gw));
            snprintf(addr, sizeof(addr), "%s/%d", a_s, prefix);
        } else {
            *addr = *gw = 0;
        }
    } else if (access(SLIRP4NETNS, X_OK) == 0) {
        n->backend = NET_BACKEND_SLIRP4NETNS;
        dns = SLIRP_DNS;
        snprintf(addr, sizeof(addr), "%s", SLIRP_ADDR);
        snprintf(gw, sizeof(gw), "%s", SLIRP_GATEWAY);
    } else {
        return ab_fail(err, 0, "--network nat as a user needs pasta (package passt) or slirp4netns: neither " PASTA
                               " nor " SLIRP4NETNS " can be run");
    }
    int r = set_field(&n->dns, dns, err);
    if (r == 0 && *addr)
        r = set_field(&n->addr, addr, err);
    if (r == 0 && *gw)
        r = set_field(&n->gateway, gw, err);
    return r;
}

const struct module pasta_module = {
    .name = "pasta",
    .host_setup = pasta_host_setup,
};
