/* A small rtnetlink client: links, IPv4 addresses and routes.
 *
 * Every call works on a NETLINK_ROUTE socket given by the caller, so the
 * same code configures the host's namespace (nl_open() there) and the
 * container's (a socket made in its network namespace by
 * ns_factory_socket(f, AF_NETLINK, SOCK_RAW, NETLINK_ROUTE)): a netlink
 * socket acts on the namespace it was made in, whoever uses it.
 *
 * Calls return 0 (or a count, an ifindex) or a negative errno from the
 * kernel's answer; the caller says what it was doing.  Requests wait for
 * the kernel's acknowledgement, one at a time. */
#pragma once

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>

/* A NETLINK_ROUTE socket in the calling thread's network namespace
 * (close-on-exec), or -errno. */
int nl_open(void);

/* The index of the link NAME, or -ENODEV (or another -errno). */
int nl_ifindex(int fd, const char *name);

struct nl_link {
    int ifindex;
    int master;       /* ifindex of its bridge, 0: none */
    bool up;          /* IFF_UP */
    char name[16];
    char kind[16];    /* IFLA_INFO_KIND: "bridge", "veth", "macvlan"; "" when none */
};
/* What the link NAME is; -ENODEV when there is none. */
int nl_link_get(int fd, const char *name, struct nl_link *out);

/* New links.  Names are at most 15 bytes (IFNAMSIZ - 1): -EINVAL else. */
int nl_link_add_bridge(int fd, const char *name);
/* A veth pair: NAME here, PEER created directly in the network namespace
 * PEER_NETNS_FD (-1: here) under the name PEER there. */
int nl_link_add_veth(int fd, const char *name, const char *peer, int peer_netns_fd);
/* A macvlan link NAME (mode bridge) on the parent PARENT_IFINDEX of this
 * namespace, created directly in the network namespace NETNS_FD (-1: here)
 * under that name. */
int nl_link_add_macvlan(int fd, int parent_ifindex, const char *name, int netns_fd);
int nl_link_del(int fd, int ifindex);

/* Attach IFINDEX to the bridge MASTER (0: detach). */
int nl_link_set_master(int fd, int ifindex, int master);
int nl_link_set_up(int fd, int ifindex, bool up);
/* Bridge port isolation (IFLA_BRPORT_ISOLATED) of the port IFINDEX:
 * isolated ports forward only to non-isolated ones (the bridge itself,
 * that is the host's routing), never to each other. */
int nl_link_set_isolated(int fd, int ifindex, bool on);

/* ADDR/PREFIX on IFINDEX (IPv4; the broadcast address set too). */
int nl_addr_add(int fd, int ifindex, struct in_addr addr, int prefix);
/* A default route via GATEWAY out of IFINDEX (main table). */
int nl_route_add_default(int fd, struct in_addr gateway, int ifindex);
/* A route to DST/PREFIX directly on the link IFINDEX (scope link). */
int nl_route_add_dev(int fd, struct in_addr dst, int prefix, int ifindex);

/* An IPv4 prefix seen in this namespace. */
struct nl_prefix {
    struct in_addr addr;  /* the address (addresses) or destination (routes) */
    int prefix;           /* 0..32; a default route has 0 */
    int ifindex;          /* 0 when the route names none */
};
/* Every IPv4 address of the namespace (with its prefix length), or every
 * IPv4 route of its main table; *OUT is malloc'd (free it), *N its
 * length. */
int nl_addr_list(int fd, struct nl_prefix **out, size_t *n);
int nl_route_list(int fd, struct nl_prefix **out, size_t *n);

/* Whether A/APFX and B/BPFX share an address. */
bool nl_prefix_overlap(struct in_addr a, int apfx, struct in_addr b, int bpfx);
