#include "net/dns.h"

#include <ctype.h>
#include <errno.h>
#include <string.h>

#define HDR 12
#define MAX_HOPS 32   /* compression pointers followed for one name */

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

uint16_t dns_get_id(const uint8_t *msg)
{
    return get16(msg);
}

void dns_set_id(uint8_t *msg, uint16_t id)
{
    put16(msg, id);
}

/* The name at *OFF of MSG into OUT (lower case, dotted, no final dot);
 * *OFF moves past it (past its first pointer when compressed).  STRICT:
 * labels of letters, digits, '-' and '_' only.  0 or -EINVAL. */
static int read_name(const uint8_t *msg, size_t len, size_t *off, char out[DNS_NAME_MAX], bool strict)
{
    size_t pos = *off, used = 0;
    bool jumped = false;
    int hops = 0;
    for (;;) {
        if (pos >= len)
            return -EINVAL;
        uint8_t l = msg[pos];
        if ((l & 0xc0) == 0xc0) {
            if (pos + 1 >= len || ++hops > MAX_HOPS)
                return -EINVAL;
            size_t to = (size_t)((l & 0x3f) << 8 | msg[pos + 1]);
            /* only backwards: a pointer never leads to itself or further on */
            if (to >= pos)
                return -EINVAL;
            if (!jumped)
                *off = pos + 2;
            jumped = true;
            pos = to;
            continue;
        }
        if (l & 0xc0)
            return -EINVAL;
        if (l == 0) {
            if (!jumped)
                *off = pos + 1;
            out[used] = 0;
            return 0;
        }
        if (pos + 1 + l > len || used + l + 1 >= DNS_NAME_MAX)
            return -EINVAL;
        if (used)
            out[used++] = '.';
        for (size_t i = 0; i < l; i++) {
            unsigned char ch = msg[pos + 1 + i];
            if (strict && !(isalnum(ch) || ch == '-' || ch == '_'))
                return -EINVAL;
            if (!strict && (ch == '.' || ch < 0x21 || ch > 0x7e))
                ch = '?';   /* never shown or matched as written */
            out[used++] = (char)tolower(ch);
        }
        pos += 1 + l;
    }
}

int dns_parse_query(const uint8_t *msg, size_t len, struct dns_question *q)
{
    memset(q, 0, sizeof(*q));
    if (len < HDR || len > DNS_MSG_MAX)
        return -EINVAL;
    q->id = get16(msg);
    q->flags = get16(msg + 2);
    /* QR 0 and opcode 0 (QUERY); one question, no answer or authority */
    if ((q->flags & 0x8000) || (q->flags & 0x7800) || get16(msg + 4) != 1 || get16(msg + 6) || get16(msg + 8))
        return -EINVAL;
    size_t off = HDR;
    /* a query's name is never compressed: nothing before it to point at */
    if (read_name(msg, len, &off, q->name, true) < 0 || off + 4 > len)
        return -EINVAL;
    q->qtype = get16(msg + off);
    q->qclass = get16(msg + off + 2);
    q->end = off + 4;
    return 0;
}

size_t dns_build_reply(const uint8_t *query, const struct dns_question *q, int rcode, const struct in_addr *addrs,
                       size_t n, uint32_t ttl, uint8_t *out, size_t outlen)
{
    size_t qlen = q->end > HDR ? q->end - HDR : 0;
    if (q->qtype != DNS_TYPE_A || !qlen)
        n = 0;
    size_t need = HDR + qlen + n * 16;
    if (need > outlen)
        return 0;
    memset(out, 0, HDR);
    put16(out, q->id);
    /* QR, the query's RD, RA */
    put16(out + 2, (uint16_t)(0x8000 | (q->flags & 0x0100) | 0x0080 | (rcode & 0xf)));
    put16(out + 4, qlen ? 1 : 0);
    put16(out + 6, (uint16_t)n);
    if (qlen)
        memcpy(out + HDR, query + HDR, qlen);
    uint8_t *p = out + HDR + qlen;
    for (size_t i = 0; i < n; i++, p += 16) {
        put16(p, 0xc000 | HDR);   /* the question's name */
        put16(p + 2, DNS_TYPE_A);
        put16(p + 4, DNS_CLASS_IN);
        put16(p + 6, (uint16_t)(ttl >> 16));
        put16(p + 8, (uint16_t)ttl);
        put16(p + 10, 4);
        memcpy(p + 12, &addrs[i].s_addr, 4);
    }
    return need;
}

int dns_answer_addrs(const uint8_t *msg, size_t len, const struct dns_question *q, struct in_addr *out,
                     size_t max)
{
    if (len < HDR || len > DNS_MSG_MAX || get16(msg) != q->id)
        return -EINVAL;
    uint16_t flags = get16(msg + 2);
    if (!(flags & 0x8000) || (flags & 0x7800) || get16(msg + 4) != 1)
        return -EINVAL;
    size_t off = HDR;
    char name[DNS_NAME_MAX];
    if (read_name(msg, len, &off, name, false) < 0 || off + 4 > len || strcmp(name, q->name) != 0 ||
        get16(msg + off) != q->qtype || get16(msg + off + 2) != q->qclass)
        return -EINVAL;
    off += 4;
    /* The names that stand for the question: itself, then each CNAME's
     * target in turn (an A record of another owner is not the name's). */
    char chain[8][DNS_NAME_MAX];
    size_t n_chain = 1, found = 0;
    memcpy(chain[0], q->name, DNS_NAME_MAX);
    uint16_t ancount = get16(msg + 6);
    for (uint16_t i = 0; i < ancount; i++) {
        char owner[DNS_NAME_MAX];
        if (read_name(msg, len, &off, owner, false) < 0 || off + 10 > len)
            return -EINVAL;
        uint16_t type = get16(msg + off), class = get16(msg + off + 2), rdlen = get16(msg + off + 8);
        size_t rd = off + 10;
        if (rd + rdlen > len)
            return -EINVAL;
        off = rd + rdlen;
        bool ours = false;
        for (size_t k = 0; k < n_chain && !ours; k++)
            ours = strcmp(owner, chain[k]) == 0;
        if (!ours || class != DNS_CLASS_IN)
            continue;
        if (type == DNS_TYPE_CNAME && n_chain < 8) {
            size_t t = rd;
            if (read_name(msg, rd + rdlen, &t, chain[n_chain], false) < 0)
                return -EINVAL;
            n_chain++;
        } else if (type == DNS_TYPE_A && rdlen == 4 && found < max) {
            memcpy(&out[found++].s_addr, msg + rd, 4);
        }
    }
    return (int)found;
}
