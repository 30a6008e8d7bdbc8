/* appbox's network helper for one container (proxy.c starts it): the
 * allow-list relay of --network proxy and the DNS server on NET_DNS_ADDR.
 * It runs on the host side (a fork of the runner, in the host's network
 * namespace: its connections out are the host's), and its listening
 * sockets are made in the container's network namespace by a socket
 * factory (nsfactory.h), which also installs the redirect there. */
#pragma once

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>

#include "net/netopts.h"

#define PROXYD_MAX_UPSTREAM 3
#define PROXYD_LOG "proxy.log"        /* in network.dir; rotated to proxy.log.1 */
#define PROXYD_LOG_MAX (1024 * 1024)

struct proxyd_config {
    bool relay;                       /* --network proxy: the relay and the allow-list DNS;
                                       * false: DNS only, every name forwarded (nat, macvlan) */
    const struct net_allow *allow;    /* the rules (relay) */
    size_t n_allow;
    struct in_addr upstream[PROXYD_MAX_UPSTREAM];   /* the host's resolvers */
    size_t n_upstream;
    const char *own_name;             /* answered with own_addr (forward mode); may be NULL */
    struct in_addr own_addr;
    const char *hosts;                /* a hosts file whose names are answered (forward mode); may be NULL */
    int log_dir;                      /* the directory of PROXYD_LOG, or -1 */
    bool log_stderr;                  /* refused lines on fd 2 ("appbox: proxy: ...") */
};

/* The helper's work: USERNS_FD and NETNS_FD are the container's; READY
 * gets one byte 0 when it serves, or an error message (then it exits). */
_Noreturn void proxyd_run(const struct proxyd_config *cfg, int userns_fd, int netns_fd, int ready);

/* The host's IPv4 resolvers from resolv.conf at PATH: their number. */
size_t proxyd_read_resolvers(const char *path, struct in_addr *out, size_t max);
/* Whether the relay may ever connect to ADDR: never loopback, "this
 * network", link-local, multicast, broadcast or reserved addresses. */
bool proxyd_addr_reachable(struct in_addr addr);
