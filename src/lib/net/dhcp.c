#include "net/dhcp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/filter.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/ip.h>
#include <netinet/udp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util/clock.h"

#define BOOTP_FIXED 236          /* op .. file */
#define BOOTP_MIN 300            /* the smallest message a BOOTP relay must accept */
#define DHCP_MAGIC 0x63825363u
#define PORT_SERVER 67
#define PORT_CLIENT 68

enum {
    OPT_PAD = 0,
    OPT_MASK = 1,
    OPT_ROUTER = 3,
    OPT_DNS = 6,
    OPT_HOSTNAME = 12,
    OPT_REQUESTED = 50,
    OPT_LEASE = 51,
    OPT_TYPE = 53,
    OPT_SERVER = 54,
    OPT_PARAMS = 55,
    OPT_MAXSIZE = 57,
    OPT_T1 = 58,
    OPT_T2 = 59,
    OPT_CLIENT_ID = 61,
    OPT_END = 255,
};

/* offsets in the fixed part */
enum { O_OP = 0, O_HTYPE = 1, O_HLEN = 2, O_XID = 4, O_SECS = 8, O_FLAGS = 10, O_CIADDR = 12, O_YIADDR = 16,
       O_CHADDR = 28, O_MAGIC = 236 };

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = v >> 24;
    p[1] = v >> 16;
    p[2] = v >> 8;
    p[3] = v;
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

const char *dhcp_ntoa(struct in_addr a, char *buf)
{
    if (!inet_ntop(AF_INET, &a, buf, INET_ADDRSTRLEN))
        snprintf(buf, INET_ADDRSTRLEN, "?");
    return buf;
}

/* Append option CODE with LEN bytes of DATA at *AT (below END); false when
 * it does not fit (one byte kept for OPT_END). */
static bool put_opt(uint8_t *buf, size_t *at, size_t end, uint8_t code, const void *data, size_t len)
{
    if (len > 255 || *at + 2 + len + 1 > end)
        return false;
    buf[(*at)++] = code;
    buf[(*at)++] = (uint8_t)len;
    memcpy(buf + *at, data, len);
    *at += len;
    return true;
}

size_t dhcp_build(uint8_t *buf, size_t n, enum dhcp_type type, const struct dhcp_request *q)
{
    if (n < BOOTP_MIN)
        return 0;
    memset(buf, 0, n);
    buf[O_OP] = 1;               /* BOOTREQUEST */
    buf[O_HTYPE] = 1;            /* Ethernet */
    buf[O_HLEN] = 6;
    put32(buf + O_XID, q->xid);
    buf[O_SECS] = q->secs >> 8;
    buf[O_SECS + 1] = q->secs & 0xff;
    if (q->broadcast)
        buf[O_FLAGS] = 0x80;
    memcpy(buf + O_CIADDR, &q->ciaddr, 4);
    memcpy(buf + O_CHADDR, q->mac, 6);
    put32(buf + O_MAGIC, DHCP_MAGIC);
    size_t at = O_MAGIC + 4;
    uint8_t t = (uint8_t)type;
    uint8_t cid[7] = { 1 };
    memcpy(cid + 1, q->mac, 6);
    static const uint8_t params[] = { OPT_MASK, OPT_ROUTER, OPT_DNS, OPT_LEASE, OPT_T1, OPT_T2 };
    uint8_t maxsize[2] = { 1500 >> 8, 1500 & 0xff };
    bool fits = put_opt(buf, &at, n, OPT_TYPE, &t, 1) && put_opt(buf, &at, n, OPT_CLIENT_ID, cid, sizeof(cid));
    if (fits && q->requested.s_addr)
        fits = put_opt(buf, &at, n, OPT_REQUESTED, &q->requested, 4);
    if (fits && q->server.s_addr)
        fits = put_opt(buf, &at, n, OPT_SERVER, &q->server, 4);
    if (fits && type != DHCP_RELEASE && type != DHCP_DECLINE)
        fits = put_opt(buf, &at, n, OPT_PARAMS, params, sizeof(params)) &&
               put_opt(buf, &at, n, OPT_MAXSIZE, maxsize, sizeof(maxsize));
    if (fits && q->hostname && *q->hostname && strlen(q->hostname) <= 63)
        fits = put_opt(buf, &at, n, OPT_HOSTNAME, q->hostname, strlen(q->hostname));
    if (!fits)
        return 0;
    buf[at++] = OPT_END;
    return at < BOOTP_MIN ? BOOTP_MIN : at;
}

/* The prefix length of a contiguous netmask M (network order), or -1. */
static int mask_prefix(struct in_addr m)
{
    uint32_t v = ntohl(m.s_addr);
    int p = 0;
    while (p < 32 && (v & (0x80000000u >> p)))
        p++;
    return p < 32 && (v << p) != 0 ? -1 : p;
}

int dhcp_parse(const uint8_t *buf, size_t n, uint32_t xid, const uint8_t mac[6], enum dhcp_type *type,
               struct dhcp_lease *out)
{
    if (n < O_MAGIC + 4 || buf[O_OP] != 2 || buf[O_HTYPE] != 1 || buf[O_HLEN] != 6 || get32(buf + O_XID) != xid ||
        memcmp(buf + O_CHADDR, mac, 6) != 0 || get32(buf + O_MAGIC) != DHCP_MAGIC)
        return -EINVAL;
    struct dhcp_lease l = { 0 };
    memcpy(&l.addr, buf + O_YIADDR, 4);
    l.prefix = -1;
    l.lease_s = 0;
    bool have_lease = false, have_t1 = false, have_t2 = false;
    int t = 0;
    /* options: code, length, data; pad and end are single bytes.  Option
     * overload (52: more options in sname/file) is not followed: the
     * servers we answer to fit theirs in the options field. */
    size_t i = O_MAGIC + 4;
    while (i < n && buf[i] != OPT_END) {
        uint8_t code = buf[i++];
        if (code == OPT_PAD)
            continue;
        if (i >= n || i + 1 + buf[i] > n)
            return -EINVAL;
        size_t len = buf[i++];
        const uint8_t *d = buf + i;
        i += len;
        switch (code) {
        case OPT_TYPE:
            if (len != 1)
                return -EINVAL;
            t = d[0];
            break;
        case OPT_MASK:
            if (len == 4) {
                struct in_addr m;
                memcpy(&m, d, 4);
                l.prefix = mask_prefix(m);
                if (l.prefix < 0)
                    return -EINVAL;
            }
            break;
        case OPT_ROUTER:
            if (len >= 4 && len % 4 == 0)
                memcpy(&l.router, d, 4);
            break;
        case OPT_DNS:
            for (size_t k = 0; k + 4 <= len && l.n_dns < DHCP_MAX_DNS; k += 4)
                memcpy(&l.dns[l.n_dns++], d + k, 4);
            break;
        case OPT_SERVER:
            if (len == 4)
                memcpy(&l.server, d, 4);
            break;
        case OPT_LEASE:
            if (len == 4) {
                l.lease_s = get32(d);
                have_lease = true;
            }
            break;
        case OPT_T1:
            if (len == 4) {
                l.t1_s = get32(d);
                have_t1 = true;
            }
            break;
        case OPT_T2:
            if (len == 4) {
                l.t2_s = get32(d);
                have_t2 = true;
            }
            break;
        }
    }
    if (t < DHCP_DISCOVER || t > DHCP_RELEASE)
        return -EINVAL;
    *type = (enum dhcp_type)t;
    if (t != DHCP_OFFER && t != DHCP_ACK)
        return 0;
    /* an address we can use: not 0, not multicast/broadcast, not loopback */
    uint32_t a = ntohl(l.addr.s_addr);
    if (a == 0 || a >= 0xe0000000u || (a >> 24) == 127 || l.server.s_addr == 0)
        return -EINVAL;
    if (l.prefix < 0)   /* no mask: the address's class (RFC 2131 leaves it to the client) */
        l.prefix = a < 0x80000000u ? 8 : a < 0xc0000000u ? 16 : 24;
    if (!have_lease)
        l.lease_s = 3600;   /* an ACK must carry one; an OFFER's is a hint */
    if (l.lease_s == UINT32_MAX) {
        l.t1_s = l.t2_s = UINT32_MAX;
    } else {
        if (!have_t1 || l.t1_s > l.lease_s)
            l.t1_s = l.lease_s / 2;
        if (!have_t2 || l.t2_s > l.lease_s || l.t2_s < l.t1_s)
            l.t2_s = (uint32_t)((uint64_t)l.lease_s * 7 / 8);
        if (l.t2_s < l.t1_s)
            l.t2_s = l.t1_s;
    }
    *out = l;
    return 0;
}

const uint8_t *dhcp_udp_payload(const uint8_t *pkt, size_t n, uint16_t dport, size_t *len)
{
    if (n < sizeof(struct iphdr))
        return NULL;
    struct iphdr ip;
    memcpy(&ip, pkt, sizeof(ip));
    size_t hl = (size_t)ip.ihl * 4;
    size_t total = ntohs(ip.tot_len);
    if (ip.version != 4 || hl < sizeof(struct iphdr) || total < hl + sizeof(struct udphdr) || total > n ||
        ip.protocol != IPPROTO_UDP || (ntohs(ip.frag_off) & 0x3fff) != 0)
        return NULL;
    struct udphdr u;
    memcpy(&u, pkt + hl, sizeof(u));
    size_t ulen = ntohs(u.len);
    if (ntohs(u.dest) != dport || ulen < sizeof(u) || hl + ulen > total)
        return NULL;
    *len = ulen - sizeof(u);
    return pkt + hl + sizeof(u);
}

int dhcp_link_bind(struct dhcp_link *l, const char *ifname, ab_error *err)
{
    int one = 1;
    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(PORT_CLIENT) };
    if (setsockopt(l->udp, SOL_SOCKET, SO_BINDTODEVICE, ifname, (socklen_t)strlen(ifname)) < 0 ||
        setsockopt(l->udp, SOL_SOCKET, SO_BROADCAST, &one, sizeof(one)) < 0 ||
        setsockopt(l->udp, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        bind(l->udp, (struct sockaddr *)&sin, sizeof(sin)) < 0)
        return ab_fail(err, errno, "cannot open the DHCP client's socket (UDP port 68) on %s", l->what);
    /* only UDP to port 68, unfragmented, reaches the packet socket: not a
     * copy of every packet the container receives while the renewal
     * helper sleeps (offsets from the IPv4 header: a SOCK_DGRAM socket) */
    static struct sock_filter code[] = {
        BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 9),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, IPPROTO_UDP, 0, 5),
        BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 6),
        BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, 0x3fff, 3, 0),
        BPF_STMT(BPF_LDX | BPF_B | BPF_MSH, 0),
        BPF_STMT(BPF_LD | BPF_H | BPF_IND, 2),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, PORT_CLIENT, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, 0),
        BPF_STMT(BPF_RET | BPF_K, 0xffff),
    };
    struct sock_fprog prog = { .len = sizeof(code) / sizeof(code[0]), .filter = code };
    struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_IP), .sll_ifindex = l->ifindex };
    if (setsockopt(l->packet, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)) < 0 ||
        bind(l->packet, (struct sockaddr *)&sll, sizeof(sll)) < 0)
        return ab_fail(err, errno, "cannot open the DHCP client's packet socket on %s", l->what);
    return 0;
}

static uint32_t new_xid(void)
{
    uint32_t x = 0;
    if (getrandom(&x, sizeof(x), 0) != sizeof(x))
        x = (uint32_t)clock_now_ms() ^ (uint32_t)getpid() << 16;
    return x;
}

static int send_req(const struct dhcp_link *l, enum dhcp_type type, const struct dhcp_request *q, struct in_addr to)
{
    uint8_t buf[576];
    size_t n = dhcp_build(buf, sizeof(buf), type, q);
    if (n == 0)
        return -EMSGSIZE;
    struct sockaddr_in dst = { .sin_family = AF_INET, .sin_port = htons(PORT_SERVER), .sin_addr = to };
    ssize_t w = sendto(l->udp, buf, n, 0, (struct sockaddr *)&dst, sizeof(dst));
    return w == (ssize_t)n ? 0 : -errno;
}

/* Wait up to WAIT_MS for a reply to XID of a type in WANT (a bit mask of
 * 1 << type); 0 with *TYPE and *OUT, or -ETIMEDOUT.  Anything else that
 * arrives is dropped (other clients' answers, other traffic). */
static int recv_reply(const struct dhcp_link *l, uint32_t xid, unsigned want, int wait_ms, enum dhcp_type *type,
                      struct dhcp_lease *out)
{
    long deadline = clock_now_ms() + wait_ms;
    for (;;) {
        long left = deadline - clock_now_ms();
        if (left <= 0)
            return -ETIMEDOUT;
        struct pollfd p = { .fd = l->packet, .events = POLLIN };
        int r = poll(&p, 1, (int)left);
        if (r < 0 && errno != EINTR)
            return -errno;
        if (r <= 0)
            continue;
        uint8_t pkt[2048];
        struct sockaddr_ll from;
        socklen_t fl = sizeof(from);
        ssize_t n = recvfrom(l->packet, pkt, sizeof(pkt), MSG_DONTWAIT, (struct sockaddr *)&from, &fl);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR)
                continue;
            return -errno;
        }
        if (from.sll_pkttype == PACKET_OUTGOING)
            continue;
        size_t len;
        const uint8_t *d = dhcp_udp_payload(pkt, (size_t)n, PORT_CLIENT, &len);
        enum dhcp_type t;
        struct dhcp_lease lease;
        if (d && dhcp_parse(d, len, xid, l->mac, &t, &lease) == 0 && (want & (1u << t))) {
            *type = t;
            if (t == DHCP_OFFER || t == DHCP_ACK)
                *out = lease;
            return 0;
        }
    }
}

/* Send Q as TYPE to TO and wait for an answer in WANT, TRIES times. */
static int exchange(const struct dhcp_link *l, enum dhcp_type type, struct dhcp_request *q, struct in_addr to,
                    unsigned want, int tries, long started, enum dhcp_type *got, struct dhcp_lease *out)
{
    int r = -ETIMEDOUT;
    for (int i = 0; i < tries; i++) {
        long secs = (clock_now_ms() - started) / 1000;
        q->secs = secs > 0xffff ? 0xffff : (uint16_t)secs;
        if ((r = send_req(l, type, q, to)) < 0)
            return r;
        r = recv_reply(l, q->xid, want, (i < 3 ? i + 1 : 4) * 1000, got, out);
        if (r != -ETIMEDOUT)
            return r;
    }
    return r;
}

int dhcp_acquire(const struct dhcp_link *l, int tries, struct dhcp_lease *out, ab_error *err)
{
    struct in_addr bcast = { .s_addr = htonl(INADDR_BROADCAST) };
    long started = clock_now_ms();
    for (int round = 0; round < 3; round++) {
        struct dhcp_request q = { .xid = new_xid(), .broadcast = true, .hostname = l->hostname };
        memcpy(q.mac, l->mac, 6);
        enum dhcp_type t;
        struct dhcp_lease offer;
        int r = exchange(l, DHCP_DISCOVER, &q, bcast, 1u << DHCP_OFFER, tries, started, &t, &offer);
        if (r == -ETIMEDOUT)
            return ab_fail(err, 0, "no DHCP server answered on %s (%d DISCOVERs sent; use --address A.B.C.D/N "
                                   "for a network without one)",
                           l->what, tries);
        if (r < 0)
            return ab_fail(err, -r, "cannot send a DHCP DISCOVER on %s", l->what);
        q.requested = offer.addr;
        q.server = offer.server;
        struct dhcp_lease ack;
        r = exchange(l, DHCP_REQUEST, &q, bcast, 1u << DHCP_ACK | 1u << DHCP_NAK, tries, started, &t, &ack);
        char a[INET_ADDRSTRLEN], s[INET_ADDRSTRLEN];
        if (r == -ETIMEDOUT)
            return ab_fail(err, 0, "the DHCP server %s offered %s on %s but did not answer the REQUEST for it",
                           dhcp_ntoa(offer.server, s), dhcp_ntoa(offer.addr, a), l->what);
        if (r < 0)
            return ab_fail(err, -r, "cannot send a DHCP REQUEST on %s", l->what);
        if (t == DHCP_ACK) {
            *out = ack;
            return 0;
        }
        /* NAK: the offer went to someone else meanwhile; start over */
    }
    return ab_fail(err, 0, "the DHCP server on %s refused (NAK) every address it offered", l->what);
}

int dhcp_renew(const struct dhcp_link *l, struct dhcp_lease *lease, bool broadcast, int wait_ms)
{
    struct dhcp_request q = { .xid = new_xid(), .broadcast = broadcast, .ciaddr = lease->addr,
                              .hostname = l->hostname };
    memcpy(q.mac, l->mac, 6);
    struct in_addr to = lease->server;
    if (broadcast)
        to.s_addr = htonl(INADDR_BROADCAST);
    int r = send_req(l, DHCP_REQUEST, &q, to);
    if (r < 0)
        return r;
    enum dhcp_type t;
    struct dhcp_lease ack;
    r = recv_reply(l, q.xid, 1u << DHCP_ACK | 1u << DHCP_NAK, wait_ms, &t, &ack);
    if (r < 0)
        return r;
    if (t == DHCP_NAK)
        return -ECONNREFUSED;
    *lease = ack;
    return 0;
}
