/* A small DHCPv4 client (RFC 2131) for --network macvlan.
 *
 * It runs on the host side, in the runner or its renewal helper, with
 * sockets made in the container's network namespace (net/nsfactory.h):
 *
 *   send  a UDP socket bound to 0.0.0.0:68 on the interface
 *         (SO_BINDTODEVICE, SO_BROADCAST): broadcasts to 255.255.255.255:67
 *         leave with source 0.0.0.0 before the interface has an address,
 *         and renewals go to the server's address from the leased one
 *   recv  a packet socket (AF_PACKET, SOCK_DGRAM, ETH_P_IP) bound to the
 *         interface: it sees the server's answers before the interface has
 *         an address, whatever the reverse-path filter says (a UDP socket
 *         would lose a broadcast reply that rp_filter drops for want of a
 *         route back to the server)
 *
 * Requests set the broadcast flag (the server answers to the broadcast
 * address: nothing to resolve, no ARP for an address we do not have yet).
 * Everything received is the container's or the network's to forge: the
 * parser checks every length and takes an answer only when its xid and
 * client hardware address are ours. */
#pragma once

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

enum dhcp_type {
    DHCP_DISCOVER = 1,
    DHCP_OFFER = 2,
    DHCP_REQUEST = 3,
    DHCP_DECLINE = 4,
    DHCP_ACK = 5,
    DHCP_NAK = 6,
    DHCP_RELEASE = 7,
};

#define DHCP_MAX_DNS 3

/* What an OFFER or ACK gave. */
struct dhcp_lease {
    struct in_addr addr;       /* yiaddr */
    int prefix;                /* from option 1 (the subnet mask); the address's class when absent */
    struct in_addr router;     /* option 3 (the first); INADDR_ANY: none */
    struct in_addr server;     /* option 54, the server identifier */
    uint32_t lease_s;          /* option 51; UINT32_MAX: infinite */
    uint32_t t1_s, t2_s;       /* options 58, 59; else lease/2 and lease*7/8 */
    struct in_addr dns[DHCP_MAX_DNS];   /* option 6 */
    int n_dns;
};

/* What a request carries besides its type. */
struct dhcp_request {
    uint32_t xid;
    uint16_t secs;             /* seconds since the exchange began */
    uint8_t mac[6];
    bool broadcast;            /* the broadcast flag */
    struct in_addr ciaddr;     /* renewing, rebinding: our address; else 0 */
    struct in_addr requested;  /* option 50 (selecting); INADDR_ANY: none */
    struct in_addr server;     /* option 54 (selecting); INADDR_ANY: none */
    const char *hostname;      /* option 12; NULL: none */
};

/* The BOOTP message of TYPE for Q in BUF (N bytes, at least 300: the
 * minimum BOOTP size, padded); its length, or 0 when it does not fit. */
size_t dhcp_build(uint8_t *buf, size_t n, enum dhcp_type type, const struct dhcp_request *q);

/* Parse the BOOTP message BUF (N bytes): a reply (op 2) with xid XID for
 * the hardware address MAC, with a message type.  0 with *TYPE and, for an
 * OFFER or ACK, *OUT filled; -EINVAL when it is not one for us or
 * malformed (an OFFER/ACK without a server identifier or a usable
 * address, too). */
int dhcp_parse(const uint8_t *buf, size_t n, uint32_t xid, const uint8_t mac[6], enum dhcp_type *type,
               struct dhcp_lease *out);

/* The UDP payload of the IPv4 packet PKT (N bytes, as a SOCK_DGRAM packet
 * socket gives it) when it is a UDP datagram to port DPORT, unfragmented,
 * with consistent lengths; NULL otherwise (*LEN its length). */
const uint8_t *dhcp_udp_payload(const uint8_t *pkt, size_t n, uint16_t dport, size_t *len);

/* The sockets of one interface, made in its network namespace. */
struct dhcp_link {
    int udp;                   /* bound 0.0.0.0:68, SO_BINDTODEVICE, SO_BROADCAST */
    int packet;                /* AF_PACKET SOCK_DGRAM ETH_P_IP, bound to the interface */
    int ifindex;
    uint8_t mac[6];
    const char *what;          /* for messages: "eth0 (a macvlan on wlan0)" */
    const char *hostname;      /* sent as option 12; may be NULL */
};

/* Set up L's two sockets (already made: L->udp a fresh AF_INET SOCK_DGRAM,
 * L->packet a fresh AF_PACKET SOCK_DGRAM htons(ETH_P_IP)) on the interface
 * IFNAME (index L->ifindex). */
int dhcp_link_bind(struct dhcp_link *l, const char *ifname, ab_error *err);

/* DISCOVER, OFFER, REQUEST, ACK (a NAK starts over), each request sent up
 * to TRIES times, waiting 1, 2, 3... seconds (capped at 4) for the answer.
 * -ETIMEDOUT with "no DHCP server answered on ..." when nothing came. */
int dhcp_acquire(const struct dhcp_link *l, int tries, struct dhcp_lease *out, ab_error *err);

/* Extend LEASE: a REQUEST with our address as ciaddr, unicast to its
 * server (RENEWING) or broadcast (REBINDING, BROADCAST true); wait
 * WAIT_MS for the answer.  0 with *LEASE updated on an ACK; -ECONNREFUSED
 * on a NAK; -ETIMEDOUT when nothing came. */
int dhcp_renew(const struct dhcp_link *l, struct dhcp_lease *lease, bool broadcast, int wait_ms);

/* "A.B.C.D" of A into BUF (INET_ADDRSTRLEN bytes). */
const char *dhcp_ntoa(struct in_addr a, char *buf);
