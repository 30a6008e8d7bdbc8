/* The state of root's nat networks in one host network namespace.
 *
 * Networks belong to a network namespace (their bridges, rules and
 * addresses live there), so their state is kept per namespace, under
 * /run/appbox-net/<inode of the namespace>/ (root's, 0755):
 *
 *   state          the networks (bridge, subnet, name), their members
 *                  (host veth, address, owner), ip_forward's value before
 *                  the first network
 *   hosts          every member's name -> address (hosts format), for the
 *                  namespace (libnss_appbox reads it)
 *   VETH.hosts     a named network's member's /etc/hosts (bound read-only
 *                  into it; rewritten in place as members come and go)
 *
 * Everything is read, changed and written under one lock (flock on
 * /run/appbox-net itself).  An inode number is reused once its namespace
 * is gone, so the state also records the namespace's cookie
 * (SO_NETNS_COOKIE, never reused): state of a namespace that died is
 * dropped, never applied to a new one.
 *
 * A member is reserved at resolve (pending, owned by the starting
 * process) and confirmed by the runner at host_setup (owned by it); a
 * member whose owner is dead is stale and swept by the next nat start. */
#pragma once

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "util/error.h"

#define NATSTATE_ROOT "/run/appbox-net"
#define NATSTATE_MAX_NETS 64
#define NATSTATE_MAX_MEMBERS 512

struct nat_net {
    char name[72];        /* nat:NAME's NAME; "" for the default network */
    char bridge[16];
    struct in_addr subnet;
    int prefix;
};

struct nat_member {
    char veth[16];        /* the host's end: the member's key */
    char bridge[16];      /* its network's */
    struct in_addr addr;
    pid_t owner;
    uint64_t owner_start; /* the owner's start time (/proc/PID/stat), against pid reuse */
    bool pending;         /* reserved at resolve, not yet confirmed by a runner */
    char host[72];        /* its host name */
};

struct nat_state {
    int lock_fd;
    char dir[96];         /* NATSTATE_ROOT/<inode> */
    uint64_t cookie;
    int ip_forward;       /* the value before the first network; -1: none saved */
    struct nat_net nets[NATSTATE_MAX_NETS];
    size_t n_nets;
    struct nat_member members[NATSTATE_MAX_MEMBERS];
    size_t n_members;
};

/* Lock and read the state of the calling process's network namespace
 * (an empty one when there is none or it was a dead namespace's).
 * CREATE: make the directories when missing (else an absent state is
 * returned as empty, nothing made). */
int natstate_open(struct nat_state *st, bool create, ab_error *err);
/* Write it back (or remove the directory when no network is left), and
 * rewrite the hosts files; keeps the lock. */
int natstate_save(struct nat_state *st, ab_error *err);
/* Unlock. */
void natstate_close(struct nat_state *st);

struct nat_net *natstate_net_by_name(struct nat_state *st, const char *name);
struct nat_net *natstate_net_by_bridge(struct nat_state *st, const char *bridge);
struct nat_member *natstate_member(struct nat_state *st, const char *veth);
size_t natstate_count(const struct nat_state *st, const char *bridge);
void natstate_drop_member(struct nat_state *st, struct nat_member *m);
void natstate_drop_net(struct nat_state *st, struct nat_net *n);

/* Whether PID still runs and started at START (0: any start). */
bool natstate_alive(pid_t pid, uint64_t start);
/* PID's start time (field 22 of /proc/PID/stat); 0 when unknown or the
 * process is a zombie. */
uint64_t natstate_start_time(pid_t pid);

/* The host file of a member of a named network: DIR/VETH.hosts. */
int natstate_hosts_path(const struct nat_state *st, const char *veth, char *buf, size_t n);
