/* --network nat[:NAME] for a root caller (backend NET_BACKEND_BRIDGE): a
 * veth pair from the container's network namespace into a bridge of the
 * host's, and nftables masquerade out of the host's other interfaces.
 *
 *   resolve      (the starting process) sweep stale members, find or plan
 *                the network (the default one on appbox0, 10.89.0.0/24;
 *                nat:NAME on a bridge and subnet of its own), reserve an
 *                address and a host veth name (a pending member), fill
 *                the spec (addr, gateway, bridge, host_veth, dns, hosts)
 *   host_setup   (the runner) confirm the member as the runner's; the
 *                bridge with the gateway address, ip_forward, the
 *                network's nft table; the veth pair, its peer made in the
 *                container's namespace as eth0; eth0's address, link and
 *                default route set through a netlink socket made there
 *   teardown     the host veth, the member; the network's bridge and
 *                table with its last member; ip_forward back with the
 *                last network.  Idempotent; also from spec.json after a
 *                SIGKILLed supervisor
 *
 * The default network's ports are isolated (IFLA_BRPORT_ISOLATED) and
 * routing between them through the host is dropped: unnamed containers
 * reach the outside, never each other.  A named network's members reach
 * each other by name (their /etc/hosts, kept current in natstate.c).
 * State: natstate.h. */
#include "net/net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <net/if.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "container/store.h"
#include "net/natstate.h"
#include "net/netlink.h"
#include "spec/defaults.h"
#include "net/nsfactory.h"
#include "util/cleanup.h"

/* A fixed path, as for pasta: never a PATH lookup for a tool root runs. */
#define NFT "/usr/sbin/nft"
#define DEFAULT_BRIDGE "appbox0"
#define BRIDGE_PREFIX "appbox"
#define DEFAULT_SUBNET "10.89.0.0"
#define DEFAULT_PREFIX 24
#define ADDRESS_FILE "nat.address"

static bool is_ours(const struct spec *s)
{
    return s->container.net == NET_NAT && s->container.network.backend == NET_BACKEND_BRIDGE &&
           s->container.network.host_veth;
}

static uint32_t mask_of(int prefix)
{
    return prefix <= 0 ? 0 : 0xffffffffu << (32 - prefix);
}

/* "A.B.C.D[/N]" into ADDR and *PREFIX (-1 without /N). */
static bool parse_cidr(const char *text, struct in_addr *addr, int *prefix)
{
    char buf[32];
    const char *slash = strchr(text, '/');
    size_t len = slash ? (size_t)(slash - text) : strlen(text);
    if (len >= sizeof(buf))
        return false;
    memcpy(buf, text, len);
    buf[len] = 0;
    if (inet_pton(AF_INET, buf, addr) != 1)
        return false;
    *prefix = -1;
    if (slash) {
        char *end;
        long p = strtol(slash + 1, &end, 10);
        if (*end || end == slash + 1 || p < 0 || p > 32)
            return false;
        *prefix = (int)p;
    }
    return true;
}

static const char *ntoa(struct in_addr a, char *buf)
{
    return inet_ntop(AF_INET, &a, buf, INET_ADDRSTRLEN);
}

static struct in_addr host_at(struct in_addr subnet, uint32_t n)
{
    return (struct in_addr){ htonl(ntohl(subnet.s_addr) + n) };
}

static int set_field(char **field, const char *value)
{
    free(*field);
    *field = value ? strdup(value) : NULL;
    return value && !*field ? -ENOMEM : 0;
}

/* --- nft --- */

/* Run nft -f - with SCRIPT on its stdin; its complaint lands in ERR. */
static int run_nft(const char *script, const char *what, ab_error *err)
{
    if (access(NFT, X_OK) < 0)
        return ab_fail(err, errno, "cannot %s: " NFT " (package nftables) is needed for --network nat", what);
    _cleanup_close_ int in = memfd_create("nft-script", MFD_CLOEXEC);
    _cleanup_close_ int out = memfd_create("nft-stderr", MFD_CLOEXEC);
    if (in < 0 || out < 0 || write(in, script, strlen(script)) != (ssize_t)strlen(script) ||
        lseek(in, 0, SEEK_SET) < 0)
        return ab_fail(err, errno, "cannot %s", what);
    pid_t pid = fork();
    if (pid < 0)
        return ab_fail(err, errno, "cannot %s: cannot start " NFT, what);
    if (pid == 0) {
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0)
            _exit(127);
        char *const argv[] = { NFT, "-f", "-", NULL };
        char *const envp[] = { "PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL };
        execve(NFT, argv, envp);
        _exit(127);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return ab_fail(err, errno, "cannot %s: cannot wait for " NFT, what);
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
        return 0;
    char said[512] = "";
    ssize_t n = pread(out, said, sizeof(said) - 1, 0);
    said[n > 0 ? n : 0] = 0;
    for (char *p = said; *p; p++)
        if (*p == '\n')
            *p = *(p + 1) ? ' ' : 0;
    return ab_fail(err, 0, "cannot %s: " NFT " failed%s%s", what, *said ? ": " : "", said);
}

/* The network's table, made afresh (atomically: one nft transaction). */
static int nft_apply(const struct nat_net *n, ab_error *err)
{
    char sub[INET_ADDRSTRLEN], script[2048], what[96];
    ntoa(n->subnet, sub);
    bool isolated = !n->name[0];
    snprintf(script, sizeof(script),
             "table ip appbox-%1$s\n"
             "delete table ip appbox-%1$s\n"
             "table ip appbox-%1$s {\n"
             "  chain postrouting {\n"
             "    type nat hook postrouting priority srcnat; policy accept;\n"
             "    ip saddr %2$s/%3$d oifname != \"%1$s\" masquerade\n"
             "  }\n"
             "  chain forward {\n"
             "    type filter hook forward priority filter; policy accept;\n"
             /* within the bridge: the named network's members talk (bridged,
              * seen here with br_netfilter); the default network's never */
             "    iifname \"%1$s\" oifname \"%1$s\" %4$s\n"
             /* never into another appbox network */
             "    iifname \"%1$s\" oifname \"" BRIDGE_PREFIX "*\" drop\n"
             "    iifname \"%1$s\" accept\n"
             /* in: answers, and what a published port let in (DNAT) */
             "    oifname \"%1$s\" ct state established,related accept\n"
             "    oifname \"%1$s\" ct status dnat accept\n"
             "    oifname \"%1$s\" drop\n"
             "  }\n"
             "}\n",
             n->bridge, sub, n->prefix, isolated ? "drop" : "accept");
    snprintf(what, sizeof(what), "set up the nftables rules of %s", n->bridge);
    return run_nft(script, what, err);
}

static void nft_remove(const char *bridge)
{
    char script[256];
    ab_error err;
    /* made then deleted in one transaction: never fails on a missing table */
    snprintf(script, sizeof(script), "table ip appbox-%1$s\ndelete table ip appbox-%1$s\n", bridge);
    run_nft(script, "remove the nftables rules", &err);
}

/* --- ip_forward --- */

#define IP_FORWARD "/proc/sys/net/ipv4/ip_forward"

static int read_ip_forward(void)
{
    char buf[8] = "";
    _cleanup_close_ int fd = open(IP_FORWARD, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || read(fd, buf, sizeof(buf) - 1) <= 0)
        return -1;
    return atoi(buf);
}

static int write_ip_forward(int v)
{
    char buf[8];
    int len = snprintf(buf, sizeof(buf), "%d\n", v);
    _cleanup_close_ int fd = open(IP_FORWARD, O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write(fd, buf, (size_t)len) != len)
        return -errno;
    return 0;
}

/* --- links --- */

/* Delete NAME when it is a link of KIND (never someone else's other link). */
static void link_remove(int fd, const char *name, const char *kind)
{
    struct nl_link l;
    if (fd >= 0 && nl_link_get(fd, name, &l) == 0 && strcmp(l.kind, kind) == 0)
        nl_link_del(fd, l.ifindex);
}

/* A network without members: its bridge and table go; with the last
 * network, ip_forward goes back to what it was. */
static void drop_network(struct nat_state *st, struct nat_net *n, int fd)
{
    link_remove(fd, n->bridge, "bridge");
    nft_remove(n->bridge);
    natstate_drop_net(st, n);
    if (st->n_nets == 0 && st->ip_forward >= 0) {
        write_ip_forward(st->ip_forward);
        st->ip_forward = -1;
    }
}

static void drop_member(struct nat_state *st, struct nat_member *m, int fd)
{
    link_remove(fd, m->veth, "veth");
    natstate_drop_member(st, m);
}

/* Members whose owner is gone (a runner that was SIGKILLed, a start that
 * died before its runner came), and networks left without members. */
static void sweep(struct nat_state *st, int fd)
{
    for (size_t i = st->n_members; i-- > 0;)
        if (!natstate_alive(st->members[i].owner, st->members[i].owner_start))
            drop_member(st, &st->members[i], fd);
    for (size_t i = st->n_nets; i-- > 0;)
        if (natstate_count(st, st->nets[i].bridge) == 0)
            drop_network(st, &st->nets[i], fd);
}

/* --- resolve --- */

/* What of the host's namespace overlaps SUBNET/PREFIX (an address or a
 * route not on an appbox bridge), described in WHY; false when nothing. */
static bool host_overlap(struct nat_state *st, int fd, struct in_addr subnet, int prefix, char *why, size_t n)
{
    int ours[NATSTATE_MAX_NETS];
    size_t n_ours = 0;
    for (size_t i = 0; i < st->n_nets; i++) {
        int idx = nl_ifindex(fd, st->nets[i].bridge);
        if (idx > 0)
            ours[n_ours++] = idx;
    }
    bool found = false;
    for (int pass = 0; pass < 2 && !found; pass++) {
        struct nl_prefix *v = NULL;
        size_t count = 0;
        if ((pass == 0 ? nl_addr_list(fd, &v, &count) : nl_route_list(fd, &v, &count)) < 0)
            continue;
        for (size_t i = 0; i < count && !found; i++) {
            bool own = false;
            for (size_t j = 0; j < n_ours; j++)
                own |= v[i].ifindex == ours[j];
            if (own || v[i].prefix == 0 || !nl_prefix_overlap(v[i].addr, v[i].prefix, subnet, prefix))
                continue;
            char a[INET_ADDRSTRLEN], dev[IF_NAMESIZE + 8] = "";
            if (v[i].ifindex > 0 && if_indextoname((unsigned)v[i].ifindex, dev + 5))
                memcpy(dev, " dev ", 5);
            snprintf(why, n, "the host's %s %s/%d%s", pass == 0 ? "address" : "route", ntoa(v[i].addr, a),
                     v[i].prefix, dev);
            found = true;
        }
        free(v);
    }
    return found;
}

static const struct nat_net *net_overlap(struct nat_state *st, struct in_addr subnet, int prefix)
{
    for (size_t i = 0; i < st->n_nets; i++)
        if (nl_prefix_overlap(st->nets[i].subnet, st->nets[i].prefix, subnet, prefix))
            return &st->nets[i];
    return NULL;
}

static const char *net_label(const struct nat_net *n, char *buf, size_t len)
{
    if (n->name[0])
        snprintf(buf, len, "network %s (%s)", n->name, n->bridge);
    else
        snprintf(buf, len, "the default network (%s)", n->bridge);
    return buf;
}

/* A new network NAME: its bridge and subnet (--subnet, or the first free
 * 10.89.N.0/24). */
static int plan_network(struct nat_state *st, int fd, const char *name, const char *subnet_opt, ab_error *err)
{
    if (st->n_nets == NATSTATE_MAX_NETS)
        return ab_fail(err, 0, "--network nat:%s: appbox runs %d networks already", name ? name : "", NATSTATE_MAX_NETS);
    struct nat_net n = { 0 };
    snprintf(n.name, sizeof(n.name), "%s", name ? name : "");
    struct nl_link l;
    if (!name) {
        snprintf(n.bridge, sizeof(n.bridge), DEFAULT_BRIDGE);
        if (nl_link_get(fd, n.bridge, &l) == 0)
            return ab_fail(err, 0,
                           "--network nat: a link %s exists that appbox did not make (it is not in %s): "
                           "appbox's default network needs that name; remove the link (ip link del %s)",
                           n.bridge, st->dir, n.bridge);
    } else {
        for (int i = 1;; i++) {
            if (i >= 1000)
                return ab_fail(err, 0, "--network nat:%s: no free bridge name " BRIDGE_PREFIX "N", name);
            snprintf(n.bridge, sizeof(n.bridge), BRIDGE_PREFIX "%d", i);
            if (!natstate_net_by_bridge(st, n.bridge) && nl_link_get(fd, n.bridge, &l) == -ENODEV)
                break;
        }
    }
    char why[160], label[128], a[INET_ADDRSTRLEN];
    if (subnet_opt) {
        if (!parse_cidr(subnet_opt, &n.subnet, &n.prefix) || n.prefix < 8 || n.prefix > 30)
            return ab_usage(err, "--subnet %s: an IPv4 subnet A.B.C.D/N with N from 8 to 30 is needed", subnet_opt);
        if (ntohl(n.subnet.s_addr) & ~mask_of(n.prefix))
            return ab_usage(err, "--subnet %s: not the start of a subnet (did you mean %s/%d?)", subnet_opt,
                            ntoa((struct in_addr){ htonl(ntohl(n.subnet.s_addr) & mask_of(n.prefix)) }, a), n.prefix);
        const struct nat_net *o = net_overlap(st, n.subnet, n.prefix);
        if (o)
            return ab_usage(err, "--subnet %s overlaps %s on %s/%d", subnet_opt, net_label(o, label, sizeof(label)),
                            ntoa(o->subnet, a), o->prefix);
        if (host_overlap(st, fd, n.subnet, n.prefix, why, sizeof(why)))
            return ab_usage(err, "--subnet %s overlaps %s: choose a subnet the host does not use", subnet_opt, why);
    } else {
        n.prefix = DEFAULT_PREFIX;
        struct in_addr base;
        inet_pton(AF_INET, DEFAULT_SUBNET, &base);
        /* the default network: 10.89.0.0/24; a named one: 10.89.1.0/24 on */
        bool found = false;
        for (uint32_t i = name ? 1 : 0; i < 256 && !found; i++) {
            n.subnet = (struct in_addr){ htonl(ntohl(base.s_addr) + (i << 8)) };
            const struct nat_net *o = net_overlap(st, n.subnet, n.prefix);
            if (o)
                net_label(o, why, sizeof(why));
            found = !o && !host_overlap(st, fd, n.subnet, n.prefix, why, sizeof(why));
            if (!name && !found)
                return ab_usage(err, "--network nat: the default network's subnet %s/%d overlaps %s; give it "
                                "another one with --subnet", DEFAULT_SUBNET, DEFAULT_PREFIX, why);
        }
        if (!found)
            return ab_fail(err, 0, "--network nat:%s: no free subnet 10.89.N.0/24 is left; give one with --subnet",
                           name);
    }
    st->nets[st->n_nets++] = n;
    return 0;
}

static bool addr_used(struct nat_state *st, const char *bridge, struct in_addr a)
{
    for (size_t i = 0; i < st->n_members; i++)
        if (strcmp(st->members[i].bridge, bridge) == 0 && st->members[i].addr.s_addr == a.s_addr)
            return true;
    return false;
}

/* The address a named container had last on network NET ("-": the
 * default one), from its store (ADDRESS_FILE: "NET ADDR"); 0 when none. */
static struct in_addr remembered(struct ab_ctx *ctx, const char *name, const char *net)
{
    struct in_addr a = { 0 };
    ab_error err;
    _cleanup_free_ char *path = name ? store_path(ctx, name, ADDRESS_FILE, &err) : NULL;
    _cleanup_fclose_ FILE *f = path ? fopen(path, "re") : NULL;
    char n[80], addr[32];
    if (!f || fscanf(f, "%79s %31s", n, addr) != 2 || strcmp(n, net) != 0 || inet_pton(AF_INET, addr, &a) != 1)
        a.s_addr = 0;
    return a;
}

static void remember(struct ab_ctx *ctx, const char *name, const char *net, struct in_addr a)
{
    ab_error err;
    _cleanup_free_ char *path = name ? store_path(ctx, name, ADDRESS_FILE, &err) : NULL;
    if (!path)
        return;
    char tmp[4096], ab[INET_ADDRSTRLEN];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    _cleanup_fclose_ FILE *f = fopen(tmp, "we");
    if (!f)
        return;
    fprintf(f, "%s %s\n", net, ntoa(a, ab));
    if (fflush(f) == 0 && rename(tmp, path) == 0)
        return;
    unlink(tmp);
}

/* The container's address on N: --address, else the one it had (when
 * free), else the first free one. */
static int pick_address(struct nat_state *st, const struct nat_net *n, struct ab_ctx *ctx, const char *name,
                        const char *address_opt, struct in_addr *out, ab_error *err)
{
    uint32_t base = ntohl(n->subnet.s_addr), size = 1u << (32 - n->prefix);
    char a[INET_ADDRSTRLEN], label[128];
    if (address_opt) {
        struct in_addr want;
        int p;
        if (!parse_cidr(address_opt, &want, &p))
            return ab_usage(err, "--address %s: an IPv4 address A.B.C.D[/N] is needed", address_opt);
        uint32_t h = ntohl(want.s_addr);
        if (p >= 0 && p != n->prefix)
            return ab_usage(err, "--address %s: %s has the prefix /%d", address_opt, net_label(n, label, sizeof(label)),
                            n->prefix);
        if ((h & mask_of(n->prefix)) != base)
            return ab_usage(err, "--address %s is not in the subnet %s/%d of %s", address_opt, ntoa(n->subnet, a),
                            n->prefix, net_label(n, label, sizeof(label)));
        if (h == base || h == base + size - 1)
            return ab_usage(err, "--address %s is the %s address of the subnet %s/%d, not a host's", address_opt,
                            h == base ? "network" : "broadcast", ntoa(n->subnet, a), n->prefix);
        if (h == base + 1)
            return ab_usage(err, "--address %s is the gateway of %s (the host's address there)", address_opt,
                            net_label(n, label, sizeof(label)));
        if (addr_used(st, n->bridge, want))
            return ab_usage(err, "--address %s is taken by another container on %s", address_opt,
                            net_label(n, label, sizeof(label)));
        *out = want;
        return 0;
    }
    struct in_addr had = remembered(ctx, name, n->name[0] ? n->name : "-");
    uint32_t h = ntohl(had.s_addr);
    if (had.s_addr && (h & mask_of(n->prefix)) == base && h > base + 1 && h < base + size - 1 &&
        !addr_used(st, n->bridge, had)) {
        *out = had;
        return 0;
    }
    for (uint32_t i = 2; i < size - 1; i++) {
        struct in_addr c = host_at(n->subnet, i);
        if (!addr_used(st, n->bridge, c)) {
            *out = c;
            return 0;
        }
    }
    return ab_fail(err, 0, "%s has no free address left (subnet %s/%d)", net_label(n, label, sizeof(label)),
                   ntoa(n->subnet, a), n->prefix);
}

/* A host veth name of ours: "abv" and 12 hex digits, free. */
static int pick_veth(struct nat_state *st, int fd, char name[16], ab_error *err)
{
    for (int tries = 0; tries < 32; tries++) {
        unsigned char rnd[6];
        if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd))
            return ab_fail(err, errno, "cannot name the container's veth");
        snprintf(name, 16, "abv%02x%02x%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5]);
        struct nl_link l;
        if (!natstate_member(st, name) && nl_link_get(fd, name, &l) == -ENODEV)
            return 0;
    }
    return ab_fail(err, EEXIST, "cannot name the container's veth");
}

static int fill_spec(struct spec *s, const struct nat_state *st, const struct nat_net *n, const struct nat_member *m)
{
    struct spec_network *net = &s->container.network;
    char a[INET_ADDRSTRLEN], buf[64], hosts[160];
    snprintf(buf, sizeof(buf), "%s/%d", ntoa(m->addr, a), n->prefix);
    int r = set_field(&net->addr, buf);
    if (r == 0)
        r = set_field(&net->gateway, ntoa(host_at(n->subnet, 1), a));
    if (r == 0)
        r = set_field(&net->bridge, n->bridge);
    if (r == 0)
        r = set_field(&net->host_veth, m->veth);
    if (r == 0)
        r = set_field(&net->dns, NET_DNS_ADDR);
    if (r == 0 && n->name[0]) {
        natstate_hosts_path(st, m->veth, hosts, sizeof(hosts));
        r = set_field(&net->hosts, hosts);
    }
    net->backend = NET_BACKEND_BRIDGE;
    return r;
}

int nat_bridge_resolve(struct ab_ctx *ctx, struct spec *s, const char *name, ab_error *err)
{
    struct spec_container *c = &s->container;
    const char *netname = c->network.name;
    /* resolved already (a spec is resolved once; the sandbox command
     * resolves before sandbox_run(), which asks again) */
    if (is_ours(s))
        return 0;
    if (access(NFT, X_OK) < 0)
        return ab_fail(err, errno, "--network nat: " NFT " (package nftables) is needed for the network's rules");
    const char *host = c->hostname ? c->hostname : SPEC_DEFAULT_HOSTNAME;
    _cleanup_free_ struct nat_state *st = calloc(1, sizeof(*st));
    if (!st)
        return ab_fail(err, ENOMEM, "--network nat");
    _cleanup_close_ int fd = nl_open();
    if (fd < 0)
        return ab_fail(err, -fd, "--network nat: cannot open a netlink socket");
    int r = natstate_open(st, true, err);
    if (r < 0) {
        natstate_close(st);
        return r;
    }
    sweep(st, fd);
    struct nat_net *n = natstate_net_by_name(st, netname);
    char a[INET_ADDRSTRLEN], label[128];
    if (n && c->network.subnet) {
        struct in_addr want;
        int p;
        if (!parse_cidr(c->network.subnet, &want, &p) || want.s_addr != n->subnet.s_addr || p != n->prefix) {
            r = ab_usage(err, "--subnet %s: %s runs on %s/%d; stop its containers to change it, or leave --subnet out",
                         c->network.subnet, net_label(n, label, sizeof(label)), ntoa(n->subnet, a), n->prefix);
            goto out;
        }
    }
    bool made = false;
    if (!n) {
        if ((r = plan_network(st, fd, netname, c->network.subnet, err)) < 0)
            goto out;
        n = &st->nets[st->n_nets - 1];
        made = true;
    }
    struct nat_member m = { .owner = getpid(), .pending = true };
    m.owner_start = natstate_start_time(m.owner);
    snprintf(m.bridge, sizeof(m.bridge), "%s", n->bridge);
    snprintf(m.host, sizeof(m.host), "%s", host);
    if (st->n_members == NATSTATE_MAX_MEMBERS)
        r = ab_fail(err, 0, "--network nat: appbox runs %d containers on its networks already", NATSTATE_MAX_MEMBERS);
    if (r == 0)
        r = pick_address(st, n, ctx, name, c->network.address, &m.addr, err);
    if (r == 0)
        r = pick_veth(st, fd, m.veth, err);
    if (r < 0) {
        if (made)
            natstate_drop_net(st, n);
        goto out;
    }
    st->members[st->n_members++] = m;
    r = natstate_save(st, err);
    if (r == 0 && (r = fill_spec(s, st, n, &m)) < 0)
        ab_fail(err, -r, "--network nat: cannot record the container's network");
    if (r < 0) {
        drop_member(st, &st->members[st->n_members - 1], fd);
        if (made)
            drop_network(st, natstate_net_by_bridge(st, m.bridge), fd);
        natstate_save(st, &(ab_error){ 0 });
        goto out;
    }
    remember(ctx, name, n->name[0] ? n->name : "-", m.addr);
out:
    if (r < 0)
        natstate_save(st, &(ab_error){ 0 });   /* what the sweep removed */
    natstate_close(st);
    return r;
}

/* S's member given back (its veth, its place in the hosts files; the
 * bridge and table with the last member), when it is the caller's own or
 * its owner is dead; nothing otherwise. */
static void give_back(const struct spec *s)
{
    if (!is_ours(s))
        return;
    struct nat_state *st = calloc(1, sizeof(*st));
    ab_error err;
    if (!st || natstate_open(st, false, &err) < 0) {
        free(st);
        return;
    }
    int fd = nl_open();
    struct nat_member *m = natstate_member(st, s->container.network.host_veth);
    if (m && (m->owner == getpid() || !natstate_alive(m->owner, m->owner_start))) {
        drop_member(st, m, fd);
        sweep(st, fd);
        natstate_save(st, &err);
    }
    if (fd >= 0)
        close(fd);
    natstate_close(st);
    free(st);
}

/* What resolve reserved, when no runner came to own it (or its runner is
 * gone). */
void nat_bridge_release(struct ab_ctx *ctx, const struct spec *s)
{
    give_back(s);
}

/* --- the pipeline --- */

/* eth0 in the container: its address, up, the default route via the
 * gateway, through a netlink socket made in its network namespace. */
static int configure_inside(struct runner *r, const struct nat_net *n, const struct nat_member *m, ab_error *err)
{
    _cleanup_close_ int ufd = -1, nfd = -1;
    int opened = ns_open_container(r->child, &ufd, &nfd, err);
    if (opened < 0)
        return opened;
    struct ns_factory f;
    int rc = ns_factory_start(&f, ufd, nfd, err);
    if (rc < 0)
        return rc;
    int s = ns_factory_socket(&f, AF_NETLINK, SOCK_RAW, NETLINK_ROUTE);
    ns_factory_stop(&f);
    if (s < 0)
        return ab_fail(err, -s, "cannot open a netlink socket in the container's network namespace");
    _cleanup_close_ int cfd = s;
    char a[INET_ADDRSTRLEN];
    int idx = nl_ifindex(cfd, "eth0");
    if (idx < 0)
        return ab_fail(err, -idx, "cannot find eth0 in the container");
    if ((rc = nl_addr_add(cfd, idx, m->addr, n->prefix)) < 0)
        return ab_fail(err, -rc, "cannot give the container's eth0 the address %s/%d", ntoa(m->addr, a), n->prefix);
    if ((rc = nl_link_set_up(cfd, idx, true)) < 0)
        return ab_fail(err, -rc, "cannot bring the container's eth0 up");
    if ((rc = nl_route_add_default(cfd, host_at(n->subnet, 1), idx)) < 0)
        return ab_fail(err, -rc, "cannot give the container a default route via %s", ntoa(host_at(n->subnet, 1), a));
    return 0;
}

/* The bridge of N, with the gateway's address, up: made when missing. */
static int ensure_bridge(int fd, const struct nat_net *n, ab_error *err)
{
    struct nl_link l;
    int rc = nl_link_get(fd, n->bridge, &l);
    if (rc == -ENODEV) {
        if ((rc = nl_link_add_bridge(fd, n->bridge)) < 0)
            return ab_fail(err, -rc, "cannot create the bridge %s", n->bridge);
        rc = nl_link_get(fd, n->bridge, &l);
    }
    if (rc < 0)
        return ab_fail(err, -rc, "cannot read the link %s", n->bridge);
    if (strcmp(l.kind, "bridge") != 0)
        return ab_fail(err, 0, "the link %s is a %s, not appbox's bridge: remove it (ip link del %s)", n->bridge,
                       l.kind[0] ? l.kind : "device", n->bridge);
    char a[INET_ADDRSTRLEN];
    rc = nl_addr_add(fd, l.ifindex, host_at(n->subnet, 1), n->prefix);
    if (rc < 0 && rc != -EEXIST)
        return ab_fail(err, -rc, "cannot give the bridge %s the address %s/%d", n->bridge,
                       ntoa(host_at(n->subnet, 1), a), n->prefix);
    if ((rc = nl_link_set_up(fd, l.ifindex, true)) < 0)
        return ab_fail(err, -rc, "cannot bring the bridge %s up", n->bridge);
    return l.ifindex;
}

static int nat_host_setup(struct runner *r, ab_error *err)
{
    const struct spec *s = r->spec;
    if (!is_ours(s))
        return 0;
    const char *veth = s->container.network.host_veth;
    _cleanup_free_ struct nat_state *st = calloc(1, sizeof(*st));
    if (!st)
        return ab_fail(err, ENOMEM, "--network nat");
    _cleanup_close_ int fd = nl_open();
    if (fd < 0)
        return ab_fail(err, -fd, "--network nat: cannot open a netlink socket");
    int rc = natstate_open(st, true, err);
    struct nat_member *m = rc == 0 ? natstate_member(st, veth) : NULL;
    struct nat_net *n = m ? natstate_net_by_bridge(st, m->bridge) : NULL;
    if (rc == 0 && !n)
        rc = ab_fail(err, 0, "--network nat: the reservation of %s on %s is gone (its start took too long?)", veth,
                     s->container.network.bridge);
    if (rc == 0) {
        /* the runner owns it from now on: it ends with the runner */
        m->owner = getpid();
        m->owner_start = natstate_start_time(m->owner);
        m->pending = false;
        if (st->ip_forward < 0)
            st->ip_forward = read_ip_forward();
        rc = natstate_save(st, err);
    }
    int br = rc == 0 ? ensure_bridge(fd, n, err) : rc;
    rc = br < 0 ? br : 0;
    if (rc == 0 && (rc = write_ip_forward(1)) < 0)
        rc = ab_fail(err, -rc, "cannot turn on IPv4 forwarding (" IP_FORWARD ")");
    if (rc == 0)
        rc = nft_apply(n, err);
    if (rc == 0) {
        char path[64];
        snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)r->child);
        _cleanup_close_ int nfd = open(path, O_RDONLY | O_CLOEXEC);
        if (nfd < 0)
            rc = ab_fail(err, errno, "cannot open %s", path);
        else if ((rc = nl_link_add_veth(fd, veth, "eth0", nfd)) < 0)
            rc = ab_fail(err, -rc, "cannot create the veth pair %s (eth0 in the container)", veth);
    }
    int v = rc == 0 ? nl_ifindex(fd, veth) : -1;
    if (rc == 0 && v < 0)
        rc = ab_fail(err, -v, "cannot find the link %s", veth);
    if (rc == 0 && (rc = nl_link_set_master(fd, v, br)) < 0)
        rc = ab_fail(err, -rc, "cannot attach %s to the bridge %s", veth, n->bridge);
    if (rc == 0 && !n->name[0] && (rc = nl_link_set_isolated(fd, v, true)) < 0)
        rc = ab_fail(err, -rc, "cannot isolate the bridge port %s", veth);
    if (rc == 0 && (rc = nl_link_set_up(fd, v, true)) < 0)
        rc = ab_fail(err, -rc, "cannot bring %s up", veth);
    if (rc == 0)
        rc = configure_inside(r, n, m, err);
    /* on failure, teardown (which the pipeline runs) removes the member
     * and whatever of it was made */
    natstate_close(st);
    return rc;
}

/* Ours (the runner's), or a dead runner's after a SIGKILL, from the spec
 * alone. */
static void nat_teardown(struct runner *r)
{
    give_back(r->spec);
}

const struct module nat_module = {
    .name = "nat",
    .host_setup = nat_host_setup,
    .teardown = nat_teardown,
};
