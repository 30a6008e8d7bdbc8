/* The network helper's work (proxyd.h): its setup in the container's
 * namespace, then one poll loop in the helper process for the relay's
 * listener and the DNS server's sockets (proxyd_dns.c); each relayed
 * connection and each DNS-over-TCP client is a child of its own, which
 * reports back (log lines, the addresses a name resolved to) on a
 * datagram socket.
 *
 * What the relay may reach: an address a rule names, or an address that
 * this container's DNS answered for a name a rule allows (the map below,
 * filled only from answers this helper passed on): the container cannot
 * claim a name for an address.  Never the host's loopback or other
 * addresses that are no destination (proxyd_addr_reachable), whatever a
 * rule or an answer says. */
#include "net/proxyd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/netfilter_ipv4.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "net/net.h"
#include "net/nsfactory.h"
#include "net/proxyd_int.h"
#include "net/relay.h"
#include "runtime/caps.h"
#include "util/cleanup.h"
#include "util/clock.h"

#define NFT "/usr/sbin/nft"
#define MAX_CONNS 256          /* relayed connections and DNS-over-TCP clients at once */
#define CONNECT_TIMEOUT_MS 30000
#define MAP_SIZE 1024          /* addresses learned from answers */

const struct proxyd_config *cfg;
int report_w = -1;
static int log_fd = -1;

/* ---- the log --------------------------------------------------------------- */

static void open_log(void)
{
    if (cfg->log_dir >= 0)
        log_fd = openat(cfg->log_dir, PROXYD_LOG, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
}

/* One line: the time (UTC, ISO 8601), then LINE.  The file is bounded:
 * past PROXYD_LOG_MAX it becomes PROXYD_LOG.1 (the one before is gone). */
void proxyd_log_line(const char *line, bool refused)
{
    char stamp[32];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
    if (log_fd >= 0) {
        struct stat st;
        if (fstat(log_fd, &st) == 0 && st.st_size >= PROXYD_LOG_MAX) {
            renameat(cfg->log_dir, PROXYD_LOG, cfg->log_dir, PROXYD_LOG ".1");
            close(log_fd);
            open_log();
        }
        if (log_fd >= 0)
            dprintf(log_fd, "%s %s\n", stamp, line);
    }
    if (refused && cfg->log_stderr)
        dprintf(2, "appbox: proxy: %s\n", line);
}

void proxyd_child_log(bool refused, const char *fmt, ...)
{
    struct report rep = { .kind = refused ? REP_LOG_REFUSED : REP_LOG };
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rep.line, sizeof(rep.line), fmt, ap);
    va_end(ap);
    send(report_w, &rep, sizeof(rep), MSG_NOSIGNAL);
}

/* A child's end (the helper reaps it, and counts it out, in its loop). */
_Noreturn void proxyd_child_done(void)
{
    _exit(0);
}

/* ---- addresses and names -------------------------------------------------- */

bool proxyd_addr_reachable(struct in_addr addr)
{
    uint32_t a = ntohl(addr.s_addr);
    uint8_t first = (uint8_t)(a >> 24);
    if (first == 0 || first == 127 || first >= 224)   /* this network, loopback, multicast, reserved, broadcast */
        return false;
    if ((a & 0xffff0000u) == 0xa9fe0000u)              /* 169.254/16: link-local */
        return false;
    return true;
}

static struct {
    struct in_addr addr;
    char name[DNS_NAME_MAX];
} learned[MAP_SIZE];
static size_t learned_next;

void proxyd_learn(const char *name, const struct in_addr *addrs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        bool known = false;
        for (size_t k = 0; k < MAP_SIZE && !known; k++)
            known = learned[k].addr.s_addr == addrs[i].s_addr && strcmp(learned[k].name, name) == 0;
        if (known)
            continue;
        learned[learned_next].addr = addrs[i];
        snprintf(learned[learned_next].name, DNS_NAME_MAX, "%s", name);
        learned_next = (learned_next + 1) % MAP_SIZE;
    }
}

bool proxyd_name_allowed(const char *name, uint16_t port)
{
    for (size_t i = 0; i < cfg->n_allow; i++)
        if (net_allow_matches_name(&cfg->allow[i], name, port))
            return true;
    return false;
}

/* Whether the relay may carry a connection to ADDR:PORT; *NAME: a name
 * this container resolved to ADDR (the allowing one first), or "". */
static bool dest_allowed(struct in_addr addr, uint16_t port, const char **name)
{
    *name = "";
    for (size_t k = 0; k < MAP_SIZE; k++)
        if (learned[k].name[0] && learned[k].addr.s_addr == addr.s_addr) {
            if (!**name)
                *name = learned[k].name;
            if (proxyd_name_allowed(learned[k].name, port)) {
                *name = learned[k].name;
                return proxyd_addr_reachable(addr);
            }
        }
    for (size_t i = 0; i < cfg->n_allow; i++) {
        const struct net_allow *a = &cfg->allow[i];
        if (a->is_addr && a->addr.s_addr == addr.s_addr && (!a->port || a->port == port))
            return proxyd_addr_reachable(addr);
    }
    return false;
}

static void format_dest(char *buf, size_t n, const char *name, struct in_addr addr, uint16_t port)
{
    char ip[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &addr, ip, sizeof(ip));
    if (name && *name)
        snprintf(buf, n, "%s (%s:%u)", name, ip, port);
    else
        snprintf(buf, n, "%s:%u", ip, port);
}

/* ---- the relay: a child per connection -------------------------------------- */

static _Noreturn void relay_client(int c, struct in_addr addr, uint16_t port, const char *name)
{
    char dest[512];
    format_dest(dest, sizeof(dest), name, addr, port);
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port), .sin_addr = addr };
    int e = 0;
    if (s < 0) {
        e = errno;
    } else if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        if (errno != EINPROGRESS) {
            e = errno;
        } else {
            struct pollfd pf = { .fd = s, .events = POLLOUT };
            socklen_t l = sizeof(e);
            if (poll(&pf, 1, CONNECT_TIMEOUT_MS) != 1)
                e = ETIMEDOUT;
            else if (getsockopt(s, SOL_SOCKET, SO_ERROR, &e, &l) < 0)
                e = errno;
        }
    }
    if (e) {
        proxyd_child_log(true, "%s failed (%s) up=0 down=0", dest, strerror(e));
        proxyd_child_done();
    }
    fcntl(s, F_SETFL, fcntl(s, F_GETFL) & ~O_NONBLOCK);
    struct relay_bytes bytes = { 0 };
    net_relay(c, s, &bytes);
    proxyd_child_log(false, "%s allowed up=%llu down=%llu", dest, (unsigned long long)bytes.a_to_b,
              (unsigned long long)bytes.b_to_a);
    proxyd_child_done();
}

static size_t n_children;
static int own_fds[4] = { -1, -1, -1, -1 };   /* the listeners and the report reader: not a child's */

static void spawn(int c, int kind, struct in_addr addr, uint16_t port, const char *name)
{
    if (n_children >= MAX_CONNS) {
        close(c);
        return;
    }
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
        for (size_t i = 0; i < 4; i++)
            if (own_fds[i] >= 0)
                close(own_fds[i]);
        dnsd_close_pending();
        if (kind == 0)
            relay_client(c, addr, port, name);
        dnsd_tcp_client(c);
    }
    close(c);
    if (pid > 0)
        n_children++;
}

static void relay_accept(int l)
{
    int c = accept4(l, NULL, NULL, SOCK_CLOEXEC);
    if (c < 0)
        return;
    struct sockaddr_in dst;
    socklen_t dl = sizeof(dst);
    char dest[512];
    if (getsockopt(c, SOL_IP, SO_ORIGINAL_DST, &dst, &dl) < 0 || dst.sin_family != AF_INET) {
        proxyd_log_line("a connection without its destination refused", true);
        close(c);
        return;
    }
    uint16_t port = ntohs(dst.sin_port);
    const char *name;
    bool ok = dest_allowed(dst.sin_addr, port, &name);
    if (!ok) {
        char line[600];
        format_dest(dest, sizeof(dest), name, dst.sin_addr, port);
        snprintf(line, sizeof(line), "%s refused up=0 down=0", dest);
        proxyd_log_line(line, true);
        close(c);
        return;
    }
    char keep[DNS_NAME_MAX];
    snprintf(keep, sizeof(keep), "%s", name);
    spawn(c, 0, dst.sin_addr, port, keep);
}

static void read_reports(int r)
{
    struct report rep;
    while (recv(r, &rep, sizeof(rep), MSG_DONTWAIT) == sizeof(rep)) {
        rep.line[sizeof(rep.line) - 1] = 0;
        rep.name[sizeof(rep.name) - 1] = 0;
        if (rep.kind == REP_LOG || rep.kind == REP_LOG_REFUSED)
            proxyd_log_line(rep.line, rep.kind == REP_LOG_REFUSED);
        else if (rep.kind == REP_LEARN && rep.n <= MAX_ADDRS)
            proxyd_learn(rep.name, rep.addrs, rep.n);
    }
}

/* ---- setup in the container's namespace ------------------------------------ */

__attribute__((format(printf, 2, 3))) static _Noreturn void setup_failed(int ready, const char *fmt, ...)
{
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (write(ready, msg, strlen(msg)) < 0)
        _exit(1);
    _exit(1);
}

static int bound_socket(struct ns_factory *f, int type, const char *ip, uint16_t port, uint16_t *got)
{
    int s = ns_factory_socket(f, AF_INET, type, 0);
    if (s < 0)
        return s;
    int one = 1;
    /* a listener only: a UDP socket with it would let a second one (the
     * container's) bind the same address and take its datagrams */
    if (type == SOCK_STREAM)
        setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
    inet_pton(AF_INET, ip, &sa.sin_addr);
    socklen_t l = sizeof(sa);
    if (bind(s, (struct sockaddr *)&sa, sizeof(sa)) < 0 || (type == SOCK_STREAM && listen(s, 128) < 0) ||
        getsockname(s, (struct sockaddr *)&sa, &l) < 0) {
        int e = errno;
        close(s);
        return -e;
    }
    if (got)
        *got = ntohs(sa.sin_port);
    fcntl(s, F_SETFL, fcntl(s, F_GETFL) | O_NONBLOCK);
    return s;
}

/* The container's default route: "dev lo src 127.0.0.1", so that a
 * connection to any address is routed at all (and then redirected by the
 * rule below), from 127.0.0.1 (without a source the kernel picks 0.0.0.0,
 * which no answer reaches); rtnetlink on a socket of its namespace, from
 * here. */
static int default_route_lo(struct ns_factory *f)
{
    _cleanup_close_ int s = ns_factory_socket(f, AF_NETLINK, SOCK_RAW, NETLINK_ROUTE);
    if (s < 0)
        return s;
    struct {
        struct nlmsghdr nh;
        struct rtmsg rt;
        char attrs[64];
    } req = { 0 };
    req.nh.nlmsg_type = RTM_NEWROUTE;
    req.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL;
    req.nh.nlmsg_seq = 1;
    req.rt.rtm_family = AF_INET;
    req.rt.rtm_table = RT_TABLE_MAIN;
    req.rt.rtm_protocol = RTPROT_BOOT;
    req.rt.rtm_scope = RT_SCOPE_LINK;
    req.rt.rtm_type = RTN_UNICAST;
    size_t len = NLMSG_LENGTH(sizeof(struct rtmsg));
    int lo = (int)if_nametoindex("lo");   /* 1 in every namespace */
    struct in_addr src = { htonl(INADDR_LOOPBACK) };
    struct rtattr *a = (struct rtattr *)((char *)&req + NLMSG_ALIGN(len));
    a->rta_type = RTA_OIF;
    a->rta_len = RTA_LENGTH(sizeof(int));
    memcpy(RTA_DATA(a), &lo, sizeof(int));
    len = NLMSG_ALIGN(len) + RTA_ALIGN(a->rta_len);
    a = (struct rtattr *)((char *)&req + len);
    a->rta_type = RTA_PREFSRC;
    a->rta_len = RTA_LENGTH(sizeof(src));
    memcpy(RTA_DATA(a), &src, sizeof(src));
    len += RTA_ALIGN(a->rta_len);
    req.nh.nlmsg_len = (uint32_t)len;
    struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
    if (sendto(s, &req, len, 0, (struct sockaddr *)&kernel, sizeof(kernel)) < 0)
        return -errno;
    struct {
        struct nlmsghdr nh;
        struct nlmsgerr e;
        char rest[256];
    } ack;
    ssize_t n = recv(s, &ack, sizeof(ack), 0);
    if (n < 0)
        return -errno;
    if ((size_t)n < sizeof(struct nlmsghdr) + sizeof(struct nlmsgerr) || ack.nh.nlmsg_type != NLMSG_ERROR)
        return -EPROTO;
    return ack.e.error == -EEXIST ? 0 : ack.e.error;
}

static void setup(int userns_fd, int netns_fd, int ready, int *relay_l, int *udp, int *tcp)
{
    struct ns_factory f;
    ab_error err = { 0 };
    if (ns_factory_start(&f, userns_fd, netns_fd, &err) < 0)
        setup_failed(ready, "%s", err.msg);
    if (cfg->relay) {
        uint16_t port = 0;
        int r;
        if ((*relay_l = bound_socket(&f, SOCK_STREAM, "127.0.0.1", 0, &port)) < 0)
            setup_failed(ready, "cannot listen on the container's 127.0.0.1 for the relay: %s", strerror(-*relay_l));
        if ((r = default_route_lo(&f)) < 0)
            setup_failed(ready, "cannot add the container's default route (dev lo src 127.0.0.1): %s", strerror(-r));
        if (access(NFT, X_OK) < 0)
            setup_failed(ready, "%s (package nftables) is needed to redirect the container's connections", NFT);
        /* every TCP connection to an address off the container's loopback
         * goes to the relay; SO_ORIGINAL_DST tells it where it was going */
        char rules[512];
        snprintf(rules, sizeof(rules),
                 "table ip appbox_proxy {\n"
                 "  chain output {\n"
                 "    type nat hook output priority -100; policy accept;\n"
                 "    ip daddr != 127.0.0.0/8 meta l4proto tcp redirect to :%u\n"
                 "  }\n"
                 "}\n",
                 port);
        char errbuf[512] = "";
        char *const argv[] = { (char *)NFT, (char *)"-f", (char *)"-", NULL };
        int st = ns_factory_run(&f, argv, rules, errbuf, sizeof(errbuf));
        if (st != 0) {
            errbuf[strcspn(errbuf, "\n")] = 0;
            setup_failed(ready, "nft could not add the redirect in the container's network namespace: %s",
                         st < 0 ? strerror(-st) : errbuf[0] ? errbuf : "it failed");
        }
    }
    if ((*udp = bound_socket(&f, SOCK_DGRAM, NET_DNS_ADDR, 53, NULL)) < 0)
        setup_failed(ready, "cannot listen on the container's " NET_DNS_ADDR ":53/udp for DNS: %s", strerror(-*udp));
    if ((*tcp = bound_socket(&f, SOCK_STREAM, NET_DNS_ADDR, 53, NULL)) < 0)
        setup_failed(ready, "cannot listen on the container's " NET_DNS_ADDR ":53/tcp for DNS: %s", strerror(-*tcp));
    ns_factory_stop(&f);
}

/* The helper parses what a hostile container sends: once its sockets and
 * the redirect are made, whatever it runs as (root, for a root caller), it
 * keeps no capability and gains none (its connections out need none). */
static void drop_privileges(int ready)
{
    int r = caps_drop_for_good();
    if (r < 0)
        setup_failed(ready, "cannot drop the helper's capabilities: %s", strerror(-r));
}

/* ---- the loop ---------------------------------------------------------------- */

_Noreturn void proxyd_run(const struct proxyd_config *c, int userns_fd, int netns_fd, int ready)
{
    cfg = c;
    int relay_l = -1, udp = -1, tcp = -1;
    setup(userns_fd, netns_fd, ready, &relay_l, &udp, &tcp);
    close(userns_fd);
    close(netns_fd);
    drop_privileges(ready);
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv) < 0)
        setup_failed(ready, "cannot make the helper's report socket: %s", strerror(errno));
    report_w = sv[1];
    own_fds[0] = relay_l;
    own_fds[1] = udp;
    own_fds[2] = tcp;
    own_fds[3] = sv[0];
    open_log();
    dnsd_init();
    /* a peer gone while a child writes: EPIPE, not the child's death */
    signal(SIGPIPE, SIG_IGN);
    char zero = 0;
    if (write(ready, &zero, 1) != 1)
        _exit(1);
    close(ready);
    for (;;) {
        struct pollfd pf[4 + MAX_PENDING];
        size_t map[MAX_PENDING];
        nfds_t n = 0;
        pf[n++] = (struct pollfd){ .fd = sv[0], .events = POLLIN };
        pf[n++] = (struct pollfd){ .fd = udp, .events = POLLIN };
        pf[n++] = (struct pollfd){ .fd = n_children < MAX_CONNS ? tcp : -1, .events = POLLIN };
        pf[n++] = (struct pollfd){ .fd = n_children < MAX_CONNS ? relay_l : -1, .events = POLLIN };
        long wait = 1000;
        n += dnsd_poll_fds(pf + n, map, &wait);
        if (poll(pf, n, (int)wait) < 0 && errno != EINTR)
            _exit(1);
        /* children that ended, however they ended (at most a second late:
         * the poll's timeout) */
        while (n_children && waitpid(-1, NULL, WNOHANG) > 0)
            n_children--;
        if (pf[0].revents)
            read_reports(sv[0]);
        if (pf[1].revents)
            dnsd_udp_query(udp);
        if (pf[2].revents) {
            int cl = accept4(tcp, NULL, NULL, SOCK_CLOEXEC);
            if (cl >= 0)
                spawn(cl, 1, (struct in_addr){ 0 }, 0, NULL);
        }
        if (pf[3].revents)
            relay_accept(relay_l);
        for (nfds_t i = 4; i < n; i++)
            if (pf[i].revents)
                dnsd_answer(udp, map[i - 4]);
        dnsd_timeouts(udp);
    }
}

size_t proxyd_read_resolvers(const char *path, struct in_addr *out, size_t max)
{
    _cleanup_fclose_ FILE *f = fopen(path, "re");
    size_t n = 0;
    char line[512];
    while (f && n < max && fgets(line, sizeof(line), f)) {
        char word[64], ip[64];
        if (sscanf(line, " %63s %63s", word, ip) == 2 && strcmp(word, "nameserver") == 0 &&
            inet_pton(AF_INET, ip, &out[n]) == 1)
            n++;
    }
    return n;
}
