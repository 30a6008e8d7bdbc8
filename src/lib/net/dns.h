/* DNS messages, as far as appbox's DNS server needs them (proxy.c): read
 * a query's one question, build a reply (an error code, or A records),
 * and check an upstream answer against its question and read its IPv4
 * addresses.  Every function reads hostile bytes (the container writes
 * the queries; the answers come from the network): each length and
 * offset is checked, a compressed name may not loop, and anything else
 * than one plain question is refused. */
#pragma once

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DNS_MSG_MAX 4096      /* the largest message taken or passed on */
#define DNS_NAME_MAX 254      /* a name's text, without the final dot, with its NUL */

enum { DNS_TYPE_A = 1, DNS_TYPE_CNAME = 5, DNS_TYPE_AAAA = 28, DNS_CLASS_IN = 1 };
enum { DNS_RCODE_OK = 0, DNS_RCODE_FORMERR = 1, DNS_RCODE_SERVFAIL = 2, DNS_RCODE_NXDOMAIN = 3,
       DNS_RCODE_REFUSED = 5 };

struct dns_question {
    uint16_t id;
    uint16_t flags;              /* the query's header flags (RD is echoed) */
    char name[DNS_NAME_MAX];     /* lower case, dotted, no final dot ("" for the root) */
    uint16_t qtype, qclass;
    size_t end;                  /* the offset just past the question */
};

/* A standard query (QR 0, opcode 0) with exactly one question and no
 * answers, whose name has only letters, digits, '-' and '_' in its labels:
 * 0 and Q filled; -EINVAL otherwise (when at least the header was there,
 * Q->id and Q->flags are set, for a FORMERR reply). */
int dns_parse_query(const uint8_t *msg, size_t len, struct dns_question *q);

/* The reply to Q (whose query is QUERY) with RCODE and, for a question of
 * type A, ADDRS[0..N) as A records (TTL seconds), into OUT (OUTLEN bytes):
 * its length, or 0 when it does not fit.  Q->end == 0 (a query that
 * could not be read): the header only. */
size_t dns_build_reply(const uint8_t *query, const struct dns_question *q, int rcode, const struct in_addr *addrs,
                       size_t n, uint32_t ttl, uint8_t *out, size_t outlen);

/* Whether MSG (LEN bytes) answers Q: a response with Q's id and the same
 * one question.  Then its A records of class IN (the question's name and
 * the names of its CNAME chain) are stored into OUT (at most MAX) and
 * their number returned; -EINVAL when it is no such answer or malformed. */
int dns_answer_addrs(const uint8_t *msg, size_t len, const struct dns_question *q, struct in_addr *out,
                     size_t max);

/* The 16-bit id of a message, and a new one written into it (LEN >= 2). */
uint16_t dns_get_id(const uint8_t *msg);
void dns_set_id(uint8_t *msg, uint16_t id);
