/* The network options' syntax: one parser per option, used by the option
 * table (options.c, which stores the canonical form in the spec) and by the
 * network modules (which parse the canonical form back).  Syntax only: what
 * the settings mean together is net_validate()'s, and whether an interface,
 * a port or another container is there is settled at start. */
#pragma once

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

#include "spec/spec.h"
#include "util/error.h"

/* --network MODE: none|off, host|on, nat[:NAME], macvlan[:IFACE]|separate[:IFACE],
 * proxy.  Sets S's mode, and network.name / network.iface. */
int net_parse_mode(struct spec *s, const char *flag, const char *value, ab_error *err);
/* The mode as --network spells it, with its NAME or IFACE ("nat:web"); BUF of N bytes. */
const char *net_format_mode(const struct spec_container *c, char *buf, size_t n);

/* A network name (nat:NAME) and a container name of --link: 1-32 of
 * [a-z0-9_.-], starting with a letter or digit. */
bool net_name_valid(const char *name);
/* A host interface's name: 1-15 bytes, no '/', ':' or white space. */
bool net_iface_valid(const char *name);

/* "A.B.C.D/N" (N 8-30) or, when PREFIX_OPTIONAL, "A.B.C.D" (*PREFIX then -1). */
int net_parse_cidr(const char *flag, const char *value, bool prefix_optional, struct in_addr *addr, int *prefix,
                   ab_error *err);

/* --publish [IP:]HOSTPORT:PORT[/tcp|udp] */
struct net_port {
    int proto;               /* IPPROTO_TCP or IPPROTO_UDP */
    struct in_addr host_ip;  /* INADDR_ANY: every address of the host */
    uint16_t host_port;
    uint16_t port;           /* the container's */
};
int net_parse_publish(const char *flag, const char *value, struct net_port *out, ab_error *err);
/* "IP:HOSTPORT:PORT/PROTO", which net_parse_publish() reads back. */
void net_format_publish(const struct net_port *p, char *buf, size_t n);

/* --link OTHER:PORT[:LOCALPORT] */
struct net_link {
    char other[33];
    uint16_t port;           /* OTHER's */
    uint16_t local_port;     /* on this container's loopback (default: PORT) */
};
int net_parse_link(const char *flag, const char *value, struct net_link *out, ab_error *err);
void net_format_link(const struct net_link *l, char *buf, size_t n);

/* --allow HOST[:PORT]: HOST a name ("example.org"), a domain's names
 * ("*.example.org": its names below, not itself) or an IPv4 address;
 * PORT 0: any. */
struct net_allow {
    char host[254];          /* lower case, without the "*." of a wildcard */
    bool wildcard;
    bool is_addr;
    struct in_addr addr;     /* is_addr */
    uint16_t port;
};
int net_parse_allow(const char *flag, const char *value, struct net_allow *out, ab_error *err);
void net_format_allow(const struct net_allow *a, char *buf, size_t n);
/* Whether rule A permits NAME (lower or upper case, with or without the
 * final dot) on PORT (0: any port of the rule, as for a DNS question). */
bool net_allow_matches_name(const struct net_allow *a, const char *name, uint16_t port);

/* What the network settings mean together (called by spec_validate()). */
int net_validate(const struct spec_container *c, ab_error *err);
