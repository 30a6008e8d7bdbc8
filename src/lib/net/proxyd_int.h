/* Inside the network helper (proxyd.c, proxyd_dns.c): what its two parts
 * share.  Not for the rest of appbox: proxyd.h is. */
#pragma once

#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net/dns.h"
#include "net/proxyd.h"

#define MAX_PENDING 64         /* DNS queries waiting for the host's resolver */
#define MAX_ADDRS 32           /* A records taken from one answer */

/* What a child (a relayed connection, a DNS-over-TCP client) reports to
 * the helper, on a datagram socket (report_w). */
enum { REP_LOG = 1, REP_LOG_REFUSED, REP_LEARN };
struct report {
    int kind;
    char name[DNS_NAME_MAX];                   /* REP_LEARN */
    uint32_t n;
    struct in_addr addrs[MAX_ADDRS];
    char line[512];                            /* REP_LOG*: without the time */
};

extern const struct proxyd_config *cfg;
extern int report_w;

/* The log (in the helper): one line with the time; REFUSED: also on
 * stderr for a sandbox.  In a child: the same, through the helper. */
void proxyd_log_line(const char *line, bool refused);
__attribute__((format(printf, 2, 3))) void proxyd_child_log(bool refused, const char *fmt, ...);
_Noreturn void proxyd_child_done(void);
/* NAME resolved to ADDRS (from an answer passed on to the container). */
void proxyd_learn(const char *name, const struct in_addr *addrs, size_t n);
/* Whether a rule allows NAME on PORT (0: any, as for DNS). */
bool proxyd_name_allowed(const char *name, uint16_t port);

/* The DNS server (proxyd_dns.c). */
void dnsd_init(void);
void dnsd_udp_query(int udp);
/* The sockets of queries waiting for an answer, into PF (their places
 * into SLOT); *WAIT lowered to the nearest deadline (ms). */
size_t dnsd_poll_fds(struct pollfd *pf, size_t *slot, long *wait);
void dnsd_answer(int udp, size_t slot);
/* Queries past their deadline: the next resolver, or SERVFAIL. */
void dnsd_timeouts(int udp);
/* A child's: serve one DNS-over-TCP client on C, then end. */
_Noreturn void dnsd_tcp_client(int c);
void dnsd_close_pending(void);
