/* A socket factory in the container's network namespace.
 *
 * The network helpers (the port forwarder, the proxy, DNS) live on the
 * host side: they connect to the host's network and to other containers,
 * and the container can neither see nor signal them.  But some of their
 * sockets must be the container's: a listener on its loopback, a
 * connection to a server inside it.  A socket belongs to the network
 * namespace it was made in, for its whole life, whoever uses it; so a
 * small process in the container's user and network namespaces (as its
 * root: an ordinary user may enter a user namespace of their own, and from
 * there its network namespace, but never go back) makes them on request
 * and hands them over (SCM_RIGHTS).  It also runs programs there (nft for
 * the proxy's redirect), and brings lo up first.
 *
 * The factory is a child of the helper that started it: it dies with it
 * (PR_SET_PDEATHSIG), and its requests come from that helper only. */
#pragma once

#include <stddef.h>
#include <sys/types.h>

#include "util/error.h"

struct ns_factory {
    pid_t pid;
    int sock;   /* to the factory; -1: none */
};

/* The user and network namespaces of PID (the container's PID 1: a
 * runner's r->child), opened close-on-exec into *USERNS_FD and *NETNS_FD
 * (both -1 on failure), for a factory or a helper that works there. */
int ns_open_container(pid_t pid, int *userns_fd, int *netns_fd, ab_error *err);
/* Start a factory in the user namespace USERNS_FD and the network
 * namespace NETNS_FD (of the container); it brings lo up there. */
int ns_factory_start(struct ns_factory *f, int userns_fd, int netns_fd, ab_error *err);
/* A socket(DOMAIN, TYPE, PROTOCOL) made in the container's network
 * namespace (close-on-exec), or -errno. */
int ns_factory_socket(struct ns_factory *f, int domain, int type, int protocol);
/* Run ARGV (argv[0] a path) in the container's network namespace with
 * INPUT (may be NULL) on its stdin; its exit status (as waitpid's), or
 * -errno.  What it wrote to stderr lands in ERRBUF (N bytes, may be 0). */
int ns_factory_run(struct ns_factory *f, char *const argv[], const char *input, char *errbuf, size_t n);
/* End the factory (and wait for it). */
void ns_factory_stop(struct ns_factory *f);
