/* Published ports and links (ports.c, ports_helper.c): what the module
 * and its helper process share.  Internal to net/. */
#pragma once

#include <stdint.h>
#include <stdio.h>

#include "context.h"
#include "net/netopts.h"
#include "spec/spec.h"
#include "util/error.h"

/* The socket in a named container's runtime directory where its helper
 * hands other containers (--link) a connection to one of its ports. */
#define PORTS_LINK_SOCKET "net.sock"

/* One request on PORTS_LINK_SOCKET (a SOCK_SEQPACKET socket): "a TCP
 * connection to PORT on your loopback".  The answer is a ports_link_reply
 * with the connected socket attached (SCM_RIGHTS) when status is 0. */
#define PORTS_LINK_MAGIC 0x4b4c4241u /* "ABLK" */
#define PORTS_LINK_VERSION 1
struct ports_link_request {
    uint32_t magic;
    uint16_t version;
    uint16_t port;
};
struct ports_link_reply {
    int32_t status;   /* 0, or -errno of the connection to the port */
};

/* "8080:80", "127.0.0.1:8080:80/udp": P as a user would write it. */
void ports_publish_label(const struct net_port *p, char *buf, size_t n);
/* The host-side socket of P, bound in the caller's network namespace (a
 * TCP one listening), non-blocking and close-on-exec: every address of the
 * host means IPv4 and IPv6 both where the host has IPv6.  The fd, or
 * -errno with ERR saying why, naming --publish P. */
int ports_publish_open(const struct net_port *p, ab_error *err);

/* The helper's whole life (ports_helper.c), in a process forked by the
 * runner: STATUS_FD gets an ab_error (empty when all is set up) once the
 * published ports, the link listeners and the link socket exist;
 * USERNS_FD and NETNS_FD are the container's (for its socket factory);
 * CTX's directory fds are the ones kept for it (or -1).  Never returns. */
_Noreturn void ports_helper_main(struct ab_ctx *ctx, const struct spec *s, const char *name, int status_fd,
                                 int userns_fd, int netns_fd);
