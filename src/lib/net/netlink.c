#include "net/netlink.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <net/if.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* One request: the header, the family header, attributes; nested
 * attributes are opened with nest() and closed with end(). */
struct nlreq {
    char buf[4096] __attribute__((aligned(8)));
};

/* The request's netlink header, at the start of its buffer (not a union
 * member: GCC's bounds checks would then take attributes written after
 * it for writes past the header). */
#define H(r) ((struct nlmsghdr *)(void *)(r)->buf)

static void *tail(struct nlreq *r)
{
    return r->buf + NLMSG_ALIGN(H(r)->nlmsg_len);
}

static int put(struct nlreq *r, int type, const void *data, size_t len)
{
    size_t need = NLMSG_ALIGN(H(r)->nlmsg_len) + RTA_SPACE(len);
    if (need > sizeof(r->buf))
        return -ENOBUFS;
    /* through memcpy: the header may sit at any offset of the buffer
     * (and GCC's bounds analysis under ASan loses track of a cast) */
    struct rtattr hdr = { .rta_len = (unsigned short)RTA_LENGTH(len), .rta_type = (unsigned short)type };
    char *at = tail(r);
    memcpy(at, &hdr, sizeof(hdr));
    if (len)
        memcpy(at + RTA_LENGTH(0), data, len);
    H(r)->nlmsg_len = (uint32_t)need;
    return 0;
}

static int put_u32(struct nlreq *r, int type, uint32_t v)
{
    return put(r, type, &v, sizeof(v));
}

static int put_str(struct nlreq *r, int type, const char *s)
{
    return put(r, type, s, strlen(s) + 1);
}

static struct rtattr *nest(struct nlreq *r, int type)
{
    struct rtattr *a = tail(r);
    if (put(r, type | NLA_F_NESTED, NULL, 0) < 0)
        return NULL;
    return a;
}

static void end(struct nlreq *r, struct rtattr *a)
{
    a->rta_len = (unsigned short)((char *)tail(r) - (char *)a);
}

/* Room for a family header of LEN bytes after the netlink header. */
static void *start(struct nlreq *r, int type, int flags, size_t len)
{
    memset(r, 0, sizeof(*r));
    H(r)->nlmsg_len = (uint32_t)NLMSG_LENGTH(len);
    H(r)->nlmsg_type = (uint16_t)type;
    H(r)->nlmsg_flags = (uint16_t)(NLM_F_REQUEST | flags);
    return NLMSG_DATA(H(r));
}

static uint32_t next_seq(void)
{
    static uint32_t seq;
    if (!seq)
        seq = (uint32_t)time(NULL);
    return ++seq;
}

static int send_req(int fd, struct nlreq *r)
{
    struct sockaddr_nl to = { .nl_family = AF_NETLINK };
    H(r)->nlmsg_seq = next_seq();
    ssize_t w;
    do
        w = sendto(fd, r->buf, H(r)->nlmsg_len, 0, (struct sockaddr *)&to, sizeof(to));
    while (w < 0 && errno == EINTR);
    if (w < 0)
        return -errno;
    return w == (ssize_t)H(r)->nlmsg_len ? 0 : -EIO;
}

/* Receive the answers to the request with sequence SEQ: each message
 * that is not an error or the end goes to EACH (when given).  Returns 0
 * on the acknowledgement or the end of a dump, else -errno. */
static int recv_answers(int fd, uint32_t seq, int (*each)(struct nlmsghdr *, void *), void *arg)
{
    static __thread char buf[32768] __attribute__((aligned(NLMSG_ALIGNTO)));
    int result = 0;
    for (;;) {
        struct sockaddr_nl from;
        struct iovec iov = { buf, sizeof(buf) };
        struct msghdr mh = { .msg_name = &from, .msg_namelen = sizeof(from), .msg_iov = &iov, .msg_iovlen = 1 };
        ssize_t n = recvmsg(fd, &mh, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (n == 0)
            return -ECONNRESET;
        if (mh.msg_flags & MSG_TRUNC)
            return -EMSGSIZE;
        if (from.nl_pid != 0)   /* only the kernel answers */
            continue;
        for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
            if (h->nlmsg_seq != seq)
                continue;   /* a late answer to an earlier request */
            if (h->nlmsg_type == NLMSG_DONE)
                return result;
            if (h->nlmsg_type == NLMSG_ERROR) {
                const struct nlmsgerr *e = NLMSG_DATA(h);
                if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*e)))
                    return -EIO;
                return e->error ? e->error : result;
            }
            if (each && result == 0)
                result = each(h, arg);
            if (!(h->nlmsg_flags & NLM_F_MULTI))
                return result;
        }
    }
}

/* Send R with an acknowledgement asked for and wait for it. */
static int talk(int fd, struct nlreq *r)
{
    H(r)->nlmsg_flags |= NLM_F_ACK;
    int rc = send_req(fd, r);
    return rc < 0 ? rc : recv_answers(fd, H(r)->nlmsg_seq, NULL, NULL);
}

int nl_open(void)
{
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (fd < 0)
        return -errno;
    struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    return fd;
}

static int check_name(const char *name)
{
    size_t len = name ? strlen(name) : 0;
    return len == 0 || len >= IFNAMSIZ ? -EINVAL : 0;
}

/* --- links --- */

static int parse_link(struct nlmsghdr *h, void *arg)
{
    struct nl_link *l = arg;
    if (h->nlmsg_type != RTM_NEWLINK)
        return 0;
    struct ifinfomsg *ifi = NLMSG_DATA(h);
    int len = (int)IFLA_PAYLOAD(h);
    memset(l, 0, sizeof(*l));
    l->ifindex = ifi->ifi_index;
    l->up = (ifi->ifi_flags & IFF_UP) != 0;
    for (struct rtattr *a = IFLA_RTA(ifi); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
        switch (a->rta_type) {
        case IFLA_IFNAME:
            snprintf(l->name, sizeof(l->name), "%.*s", (int)RTA_PAYLOAD(a), (char *)RTA_DATA(a));
            break;
        case IFLA_MASTER:
            if (RTA_PAYLOAD(a) >= sizeof(uint32_t))
                l->master = (int)*(uint32_t *)RTA_DATA(a);
            break;
        case IFLA_LINKINFO: {
            int ilen = (int)RTA_PAYLOAD(a);
            for (struct rtattr *b = RTA_DATA(a); RTA_OK(b, ilen); b = RTA_NEXT(b, ilen))
                if ((b->rta_type & NLA_TYPE_MASK) == IFLA_INFO_KIND)
                    snprintf(l->kind, sizeof(l->kind), "%.*s", (int)RTA_PAYLOAD(b), (char *)RTA_DATA(b));
            break;
        }
        }
    }
    return 0;
}

int nl_link_get(int fd, const char *name, struct nl_link *out)
{
    if (check_name(name) < 0)
        return -EINVAL;
    struct nlreq r;
    struct ifinfomsg *ifi = start(&r, RTM_GETLINK, 0, sizeof(*ifi));
    ifi->ifi_family = AF_UNSPEC;
    int rc = put_str(&r, IFLA_IFNAME, name);
    if (rc == 0)
        rc = send_req(fd, &r);
    if (rc < 0)
        return rc;
    memset(out, 0, sizeof(*out));
    rc = recv_answers(fd, H(&r)->nlmsg_seq, parse_link, out);
    if (rc < 0)
        return rc;
    return out->ifindex > 0 ? 0 : -ENODEV;
}

int nl_ifindex(int fd, const char *name)
{
    struct nl_link l;
    int rc = nl_link_get(fd, name, &l);
    return rc < 0 ? rc : l.ifindex;
}

/* RTM_NEWLINK creating NAME of KIND; DATA (may be NULL) fills
 * IFLA_INFO_DATA. */
static int link_add(int fd, const char *name, const char *kind, int netns_fd, int parent,
                    int (*data)(struct nlreq *, const void *), const void *arg)
{
    if (check_name(name) < 0)
        return -EINVAL;
    struct nlreq r;
    struct ifinfomsg *ifi = start(&r, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, sizeof(*ifi));
    ifi->ifi_family = AF_UNSPEC;
    int rc = put_str(&r, IFLA_IFNAME, name);
    if (rc == 0 && parent > 0)
        rc = put_u32(&r, IFLA_LINK, (uint32_t)parent);
    if (rc == 0 && netns_fd >= 0)
        rc = put_u32(&r, IFLA_NET_NS_FD, (uint32_t)netns_fd);
    struct rtattr *info = rc == 0 ? nest(&r, IFLA_LINKINFO) : NULL;
    if (!info)
        return -ENOBUFS;
    rc = put_str(&r, IFLA_INFO_KIND, kind);
    if (rc == 0 && data) {
        struct rtattr *d = nest(&r, IFLA_INFO_DATA);
        rc = d ? data(&r, arg) : -ENOBUFS;
        if (rc == 0)
            end(&r, d);
    }
    if (rc < 0)
        return rc;
    end(&r, info);
    return talk(fd, &r);
}

int nl_link_add_bridge(int fd, const char *name)
{
    return link_add(fd, name, "bridge", -1, 0, NULL, NULL);
}

struct veth_peer {
    const char *name;
    int netns_fd;
};

static int veth_data(struct nlreq *r, const void *arg)
{
    const struct veth_peer *p = arg;
    struct rtattr *peer = nest(r, VETH_INFO_PEER);
    if (!peer)
        return -ENOBUFS;
    /* The peer's attributes follow an ifinfomsg of its own. */
    struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC };
    size_t at = NLMSG_ALIGN(H(r)->nlmsg_len);
    if (at + sizeof(ifi) > sizeof(r->buf))
        return -ENOBUFS;
    memcpy(r->buf + at, &ifi, sizeof(ifi));
    H(r)->nlmsg_len = (uint32_t)(at + NLMSG_ALIGN(sizeof(ifi)));
    int rc = put_str(r, IFLA_IFNAME, p->name);
    if (rc == 0 && p->netns_fd >= 0)
        rc = put_u32(r, IFLA_NET_NS_FD, (uint32_t)p->netns_fd);
    if (rc < 0)
        return rc;
    end(r, peer);
    return 0;
}

int nl_link_add_veth(int fd, const char *name, const char *peer, int peer_netns_fd)
{
    if (check_name(peer) < 0)
        return -EINVAL;
    struct veth_peer p = { peer, peer_netns_fd };
    return link_add(fd, name, "veth", -1, 0, veth_data, &p);
}

static int macvlan_data(struct nlreq *r, const void *arg)
{
    (void)arg;
    return put_u32(r, IFLA_MACVLAN_MODE, MACVLAN_MODE_BRIDGE);
}

int nl_link_add_macvlan(int fd, int parent_ifindex, const char *name, int netns_fd)
{
    if (parent_ifindex <= 0)
        return -EINVAL;
    return link_add(fd, name, "macvlan", netns_fd, parent_ifindex, macvlan_data, NULL);
}

int nl_link_del(int fd, int ifindex)
{
    struct nlreq r;
    struct ifinfomsg *ifi = start(&r, RTM_DELLINK, 0, sizeof(*ifi));
    ifi->ifi_family = AF_UNSPEC;
    ifi->ifi_index = ifindex;
    return talk(fd, &r);
}

int nl_link_set_master(int fd, int ifindex, int master)
{
    struct nlreq r;
    struct ifinfomsg *ifi = start(&r, RTM_NEWLINK, 0, sizeof(*ifi));
    ifi->ifi_family = AF_UNSPEC;
    ifi->ifi_index = ifindex;
    int rc = put_u32(&r, IFLA_MASTER, (uint32_t)master);
    return rc < 0 ? rc : talk(fd, &r);
}

int nl_link_set_up(int fd, int ifindex, bool up)
{
    struct nlreq r;
    struct ifinfomsg *ifi = start(&r, RTM_NEWLINK, 0, sizeof(*ifi));
    ifi->ifi_family = AF_UNSPEC;
    ifi->ifi_index = ifindex;
    ifi->ifi_change = IFF_UP;
    ifi->ifi_flags = up ? IFF_UP : 0;
    return talk(fd, &r);
}

int nl_link_set_isolated(int fd, int ifindex, bool on)
{
    struct nlreq r;
    struct ifinfomsg *ifi = start(&r, RTM_NEWLINK, 0, sizeof(*ifi));
    ifi->ifi_family = AF_BRIDGE;
    ifi->ifi_index = ifindex;
    struct rtattr *pi = nest(&r, IFLA_PROTINFO);
    if (!pi)
        return -ENOBUFS;
    uint8_t v = on ? 1 : 0;
    int rc = put(&r, IFLA_BRPORT_ISOLATED, &v, sizeof(v));
    if (rc < 0)
        return rc;
    end(&r, pi);
    return talk(fd, &r);
}

/* --- addresses and routes --- */

static uint32_t mask_of(int prefix)
{
    return prefix <= 0 ? 0 : htonl(0xffffffffu << (32 - prefix));
}

int nl_addr_add(int fd, int ifindex, struct in_addr addr, int prefix)
{
    if (prefix < 0 || prefix > 32)
        return -EINVAL;
    struct nlreq r;
    struct ifaddrmsg *ifa = start(&r, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, sizeof(*ifa));
    ifa->ifa_family = AF_INET;
    ifa->ifa_prefixlen = (unsigned char)prefix;
    ifa->ifa_scope = RT_SCOPE_UNIVERSE;
    ifa->ifa_index = (unsigned)ifindex;
    struct in_addr brd = { addr.s_addr | ~mask_of(prefix) };
    int rc = put(&r, IFA_LOCAL, &addr, sizeof(addr));
    if (rc == 0)
        rc = put(&r, IFA_ADDRESS, &addr, sizeof(addr));
    if (rc == 0 && prefix < 31)
        rc = put(&r, IFA_BROADCAST, &brd, sizeof(brd));
    return rc < 0 ? rc : talk(fd, &r);
}

static int route_add(int fd, struct in_addr dst, int prefix, const struct in_addr *gw, int ifindex)
{
    if (prefix < 0 || prefix > 32)
        return -EINVAL;
    struct nlreq r;
    struct rtmsg *rt = start(&r, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, sizeof(*rt));
    rt->rtm_family = AF_INET;
    rt->rtm_dst_len = (unsigned char)prefix;
    rt->rtm_table = RT_TABLE_MAIN;
    rt->rtm_protocol = RTPROT_BOOT;
    rt->rtm_scope = gw ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK;
    rt->rtm_type = RTN_UNICAST;
    dst.s_addr &= mask_of(prefix);
    int rc = 0;
    if (prefix > 0)
        rc = put(&r, RTA_DST, &dst, sizeof(dst));
    if (rc == 0 && gw)
        rc = put(&r, RTA_GATEWAY, gw, sizeof(*gw));
    if (rc == 0 && ifindex > 0)
        rc = put_u32(&r, RTA_OIF, (uint32_t)ifindex);
    return rc < 0 ? rc : talk(fd, &r);
}

int nl_route_add_default(int fd, struct in_addr gateway, int ifindex)
{
    struct in_addr any = { 0 };
    return route_add(fd, any, 0, &gateway, ifindex);
}

int nl_route_add_dev(int fd, struct in_addr dst, int prefix, int ifindex)
{
    return route_add(fd, dst, prefix, NULL, ifindex);
}

struct prefix_list {
    struct nl_prefix *v;
    size_t n, cap;
};

static int list_push(struct prefix_list *l, struct nl_prefix p)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        struct nl_prefix *v = realloc(l->v, cap * sizeof(*v));
        if (!v)
            return -ENOMEM;
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = p;
    return 0;
}

static int parse_addr(struct nlmsghdr *h, void *arg)
{
    if (h->nlmsg_type != RTM_NEWADDR)
        return 0;
    struct ifaddrmsg *ifa = NLMSG_DATA(h);
    if (ifa->ifa_family != AF_INET)
        return 0;
    int len = (int)IFA_PAYLOAD(h);
    struct nl_prefix p = { .prefix = ifa->ifa_prefixlen, .ifindex = (int)ifa->ifa_index };
    bool have = false;
    for (struct rtattr *a = IFA_RTA(ifa); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
        if ((a->rta_type == IFA_LOCAL || (a->rta_type == IFA_ADDRESS && !have)) &&
            RTA_PAYLOAD(a) >= sizeof(struct in_addr)) {
            memcpy(&p.addr, RTA_DATA(a), sizeof(p.addr));
            have = true;
        }
    }
    return have ? list_push(arg, p) : 0;
}

static int parse_route(struct nlmsghdr *h, void *arg)
{
    if (h->nlmsg_type != RTM_NEWROUTE)
        return 0;
    struct rtmsg *rt = NLMSG_DATA(h);
    if (rt->rtm_family != AF_INET)
        return 0;
    int len = (int)RTM_PAYLOAD(h);
    uint32_t table = rt->rtm_table;
    struct nl_prefix p = { .prefix = rt->rtm_dst_len };
    for (struct rtattr *a = RTM_RTA(rt); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
        if (a->rta_type == RTA_DST && RTA_PAYLOAD(a) >= sizeof(struct in_addr))
            memcpy(&p.addr, RTA_DATA(a), sizeof(p.addr));
        else if (a->rta_type == RTA_OIF && RTA_PAYLOAD(a) >= sizeof(uint32_t))
            p.ifindex = (int)*(uint32_t *)RTA_DATA(a);
        else if (a->rta_type == RTA_TABLE && RTA_PAYLOAD(a) >= sizeof(uint32_t))
            table = *(uint32_t *)RTA_DATA(a);
    }
    if (table != RT_TABLE_MAIN)
        return 0;
    return list_push(arg, p);
}

static int dump(int fd, int type, size_t hdrlen, int (*each)(struct nlmsghdr *, void *),
                struct nl_prefix **out, size_t *n)
{
    struct nlreq r;
    unsigned char *fam = start(&r, type, NLM_F_DUMP, hdrlen);
    *fam = AF_INET;   /* the family is the first byte of ifaddrmsg and rtmsg */
    struct prefix_list l = { 0 };
    int rc = send_req(fd, &r);
    if (rc == 0)
        rc = recv_answers(fd, H(&r)->nlmsg_seq, each, &l);
    if (rc < 0) {
        free(l.v);
        return rc;
    }
    *out = l.v;
    *n = l.n;
    return 0;
}

int nl_addr_list(int fd, struct nl_prefix **out, size_t *n)
{
    return dump(fd, RTM_GETADDR, sizeof(struct ifaddrmsg), parse_addr, out, n);
}

int nl_route_list(int fd, struct nl_prefix **out, size_t *n)
{
    return dump(fd, RTM_GETROUTE, sizeof(struct rtmsg), parse_route, out, n);
}

bool nl_prefix_overlap(struct in_addr a, int apfx, struct in_addr b, int bpfx)
{
    int p = apfx < bpfx ? apfx : bpfx;
    uint32_t m = mask_of(p);
    return (a.s_addr & m) == (b.s_addr & m);
}
