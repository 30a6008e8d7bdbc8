/* The network helper's DNS server (proxyd.h): questions on NET_DNS_ADDR
 * over UDP (forwarded without blocking: a table of queries waiting for the
 * host's resolver) and over TCP (a child per client, proxyd.c forks it).
 * Proxy mode: only the names a rule allows are forwarded (A; AAAA and the
 * rest get an empty answer), the addresses in their answers are learned
 * for the relay; any other name is REFUSED and logged.  Forward mode (nat,
 * macvlan): every name forwarded, except the container's own name and the
 * names of the network's hosts file, answered here. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "net/dns.h"
#include "net/proxyd_int.h"
#include "util/cleanup.h"
#include "util/clock.h"

#define UPSTREAM_TIMEOUT_MS 3000
#define TCP_DNS_IDLE_S 10

/* ---- the hosts file and the container's own name (forward mode) ----------- */

static struct {
    struct stat st;
    bool read;
    char *text;
} hosts;

static void hosts_refresh(void)
{
    struct stat st;
    if (!cfg->hosts || stat(cfg->hosts, &st) < 0)
        return;
    if (hosts.read && st.st_ino == hosts.st.st_ino && st.st_mtim.tv_sec == hosts.st.st_mtim.tv_sec &&
        st.st_mtim.tv_nsec == hosts.st.st_mtim.tv_nsec && st.st_size == hosts.st.st_size)
        return;
    FILE *f = fopen(cfg->hosts, "re");
    if (!f)
        return;
    free(hosts.text);
    hosts.text = calloc(1, 65537);
    if (hosts.text && fread(hosts.text, 1, 65536, f) == 0)
        hosts.text[0] = 0;
    fclose(f);
    hosts.st = st;
    hosts.read = true;
}

/* The address of NAME in the hosts file or as the container's own name. */
static bool local_name(const char *name, struct in_addr *addr)
{
    if (cfg->own_name && *cfg->own_name && strcasecmp(name, cfg->own_name) == 0 && cfg->own_addr.s_addr) {
        *addr = cfg->own_addr;
        return true;
    }
    hosts_refresh();
    if (!hosts.text)
        return false;
    for (char *line = hosts.text; *line;) {
        char *end = strchrnul(line, '\n');
        char buf[512];
        size_t len = (size_t)(end - line) < sizeof(buf) - 1 ? (size_t)(end - line) : sizeof(buf) - 1;
        memcpy(buf, line, len);
        buf[len] = 0;
        line = *end ? end + 1 : end;
        char *hash = strchr(buf, '#');
        if (hash)
            *hash = 0;
        char *save, *ip = strtok_r(buf, " \t", &save);
        struct in_addr a;
        if (!ip || inet_pton(AF_INET, ip, &a) != 1)
            continue;
        for (char *w; (w = strtok_r(NULL, " \t", &save));)
            if (strcasecmp(w, name) == 0) {
                *addr = a;
                return true;
            }
    }
    return false;
}

/* ---- DNS: what to do with a question -------------------------------------- */

/* A reply of our own in OUT (its length), or 0: forward the query. */
static size_t dns_decide(const uint8_t *query, size_t len, struct dns_question *q, bool ok, uint8_t *out,
                         size_t outlen, bool *refused)
{
    *refused = false;
    if (!ok)   /* the header, at least (the caller checked): FORMERR */
        return dns_build_reply(query, q, DNS_RCODE_FORMERR, NULL, 0, 0, out, outlen);
    (void)len;
    if (q->qclass != DNS_CLASS_IN)
        return dns_build_reply(query, q, DNS_RCODE_REFUSED, NULL, 0, 0, out, outlen);
    if (cfg->relay) {
        if (!proxyd_name_allowed(q->name, 0)) {
            *refused = true;
            return dns_build_reply(query, q, DNS_RCODE_REFUSED, NULL, 0, 0, out, outlen);
        }
        /* only A leads anywhere: AAAA and the rest get an empty answer */
        if (q->qtype != DNS_TYPE_A)
            return dns_build_reply(query, q, DNS_RCODE_OK, NULL, 0, 0, out, outlen);
        if (!cfg->n_upstream)
            return dns_build_reply(query, q, DNS_RCODE_SERVFAIL, NULL, 0, 0, out, outlen);
        return 0;
    }
    struct in_addr a;
    if (local_name(q->name, &a))
        return dns_build_reply(query, q, DNS_RCODE_OK, &a, 1, 10, out, outlen);
    if (!cfg->n_upstream)
        return dns_build_reply(query, q, DNS_RCODE_SERVFAIL, NULL, 0, 0, out, outlen);
    return 0;
}

static const char *qtype_name(uint16_t t)
{
    static char buf[16];
    if (t == DNS_TYPE_A)
        return "A";
    if (t == DNS_TYPE_AAAA)
        return "AAAA";
    snprintf(buf, sizeof(buf), "type %u", t);
    return buf;
}

static int upstream_socket(size_t which, int type)
{
    int s = socket(AF_INET, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (s < 0)
        return -1;
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(53), .sin_addr = cfg->upstream[which] };
    if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EINPROGRESS) {
        close(s);
        return -1;
    }
    return s;
}

static uint16_t random_id(void)
{
    uint16_t id = 0;
    if (getrandom(&id, sizeof(id), 0) != sizeof(id))
        id = (uint16_t)(clock_now_ms() * 2654435761u);
    return id;
}

/* ---- DNS over UDP: forwarded without blocking ------------------------------ */

static struct pending {
    int fd;                    /* to the resolver asked; -1: none (yet) */
    struct sockaddr_in client;
    uint16_t client_id;
    struct dns_question q;     /* with the id sent upstream */
    uint8_t msg[DNS_MSG_MAX];
    size_t len;                /* 0: a free place */
    size_t upstream;           /* the resolver asked */
    long deadline;
} pending[MAX_PENDING];

static void pending_send(struct pending *p)
{
    if (p->fd >= 0)
        close(p->fd);
    p->fd = upstream_socket(p->upstream, SOCK_DGRAM);
    if (p->fd >= 0)
        send(p->fd, p->msg, p->len, MSG_NOSIGNAL);
    p->deadline = clock_now_ms() + UPSTREAM_TIMEOUT_MS;
}

static void udp_reply(int udp, const struct sockaddr_in *to, const uint8_t *msg, size_t len)
{
    sendto(udp, msg, len, MSG_NOSIGNAL, (const struct sockaddr *)to, sizeof(*to));
}

void dnsd_udp_query(int udp)
{
    static uint8_t buf[DNS_MSG_MAX + 1], out[DNS_MSG_MAX];
    struct sockaddr_in from;
    socklen_t fl = sizeof(from);
    ssize_t n = recvfrom(udp, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&from, &fl);
    if (n < 12 || n > DNS_MSG_MAX || fl != sizeof(from) || from.sin_family != AF_INET)
        return;   /* no header, or oversize: no reply at all */
    struct dns_question q;
    bool ok = dns_parse_query(buf, (size_t)n, &q) == 0;
    bool refused;
    size_t r = dns_decide(buf, (size_t)n, &q, ok, out, sizeof(out), &refused);
    if (refused) {
        char line[512];
        snprintf(line, sizeof(line), "dns %s %s refused", q.name, qtype_name(q.qtype));
        proxyd_log_line(line, true);
    }
    if (r) {
        udp_reply(udp, &from, out, r);
        return;
    }
    struct pending *p = NULL;
    for (size_t i = 0; i < MAX_PENDING && !p; i++)
        if (pending[i].len == 0)
            p = &pending[i];
    if (!p) {
        if ((r = dns_build_reply(buf, &q, DNS_RCODE_SERVFAIL, NULL, 0, 0, out, sizeof(out))))
            udp_reply(udp, &from, out, r);
        return;
    }
    p->client = from;
    p->client_id = q.id;
    p->q = q;
    p->q.id = random_id();
    memcpy(p->msg, buf, (size_t)n);
    p->len = (size_t)n;
    dns_set_id(p->msg, p->q.id);
    p->upstream = 0;
    pending_send(p);
}

static void pending_answer(int udp, struct pending *p)
{
    static uint8_t buf[DNS_MSG_MAX + 1];
    ssize_t n = recv(p->fd, buf, sizeof(buf), MSG_DONTWAIT);
    if (n <= 0 || n > DNS_MSG_MAX)
        return;
    struct in_addr addrs[MAX_ADDRS];
    int found = dns_answer_addrs(buf, (size_t)n, &p->q, addrs, MAX_ADDRS);
    if (found < 0)
        return;   /* not the answer (spoofed, stray): keep waiting */
    if (cfg->relay)
        proxyd_learn(p->q.name, addrs, (size_t)found);
    dns_set_id(buf, p->client_id);
    udp_reply(udp, &p->client, buf, (size_t)n);
    close(p->fd);
    p->fd = -1;
    p->len = 0;
}

void dnsd_timeouts(int udp)
{
    long now = clock_now_ms();
    for (size_t i = 0; i < MAX_PENDING; i++) {
        struct pending *p = &pending[i];
        if (p->len == 0)   /* free */
            continue;
        if (p->fd >= 0 && now < p->deadline)
            continue;
        if (p->upstream + 1 < cfg->n_upstream) {
            p->upstream++;
            pending_send(p);
            continue;
        }
        uint8_t out[DNS_MSG_MAX];
        struct dns_question q = p->q;
        q.id = p->client_id;
        size_t r = dns_build_reply(p->msg, &q, DNS_RCODE_SERVFAIL, NULL, 0, 0, out, sizeof(out));
        if (r)
            udp_reply(udp, &p->client, out, r);
        if (p->fd >= 0)
            close(p->fd);
        p->fd = -1;
        p->len = 0;
    }
}

/* ---- DNS over TCP: a child per client -------------------------------------- */

static bool read_full(int fd, void *buf, size_t n)
{
    for (size_t got = 0; got < n;) {
        ssize_t r = read(fd, (uint8_t *)buf + got, n - got);
        if (r <= 0)
            return false;
        got += (size_t)r;
    }
    return true;
}

static bool write_msg(int fd, const uint8_t *msg, size_t len)
{
    uint8_t hdr[2] = { (uint8_t)(len >> 8), (uint8_t)len };
    return write(fd, hdr, 2) == 2 && write(fd, msg, len) == (ssize_t)len;
}

/* Ask the host's resolvers Q (QUERY with Q's id) over TCP, blocking: the
 * answer's length in OUT, or 0. */
static size_t ask_upstream_tcp(const uint8_t *query, size_t len, const struct dns_question *q, uint8_t *out,
                               size_t outlen)
{
    for (size_t u = 0; u < cfg->n_upstream; u++) {
        _cleanup_close_ int s = upstream_socket(u, SOCK_STREAM);
        struct pollfd pf = { .fd = s, .events = POLLOUT };
        if (s < 0 || poll(&pf, 1, UPSTREAM_TIMEOUT_MS) != 1)
            continue;
        int fl = fcntl(s, F_GETFL);
        fcntl(s, F_SETFL, fl & ~O_NONBLOCK);
        struct timeval tv = { .tv_sec = UPSTREAM_TIMEOUT_MS / 1000 };
        setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        uint8_t hdr[2];
        if (!write_msg(s, query, len) || !read_full(s, hdr, 2))
            continue;
        size_t n = (size_t)(hdr[0] << 8 | hdr[1]);
        if (n > outlen || !read_full(s, out, n))
            continue;
        struct in_addr addrs[MAX_ADDRS];
        if (dns_answer_addrs(out, n, q, addrs, MAX_ADDRS) >= 0)
            return n;
    }
    return 0;
}

_Noreturn void dnsd_tcp_client(int c)
{
    static uint8_t buf[DNS_MSG_MAX], out[DNS_MSG_MAX];
    struct timeval tv = { .tv_sec = TCP_DNS_IDLE_S };
    setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    for (int round = 0; round < 64; round++) {
        uint8_t hdr[2];
        if (!read_full(c, hdr, 2))
            break;
        size_t n = (size_t)(hdr[0] << 8 | hdr[1]);
        if (n < 12 || n > DNS_MSG_MAX || !read_full(c, buf, n))
            break;   /* oversize or no header: the connection ends */
        struct dns_question q;
        bool ok = dns_parse_query(buf, n, &q) == 0;
        bool refused;
        size_t r = dns_decide(buf, n, &q, ok, out, sizeof(out), &refused);
        if (refused)
            proxyd_child_log(true, "dns %s %s refused", q.name, qtype_name(q.qtype));
        if (!r) {
            uint16_t id = q.id;
            q.id = random_id();
            dns_set_id(buf, q.id);
            r = ask_upstream_tcp(buf, n, &q, out, sizeof(out));
            if (r) {
                struct report rep = { .kind = REP_LEARN };
                int found = dns_answer_addrs(out, r, &q, rep.addrs, MAX_ADDRS);
                if (found > 0 && cfg->relay) {
                    rep.n = (uint32_t)found;
                    snprintf(rep.name, sizeof(rep.name), "%s", q.name);
                    send(report_w, &rep, sizeof(rep), MSG_NOSIGNAL);
                }
                dns_set_id(out, id);
            } else {
                q.id = id;
                dns_set_id(buf, id);
                r = dns_build_reply(buf, &q, DNS_RCODE_SERVFAIL, NULL, 0, 0, out, sizeof(out));
            }
        }
        if (!r || !write_msg(c, out, r))
            break;
    }
    proxyd_child_done();
}

size_t dnsd_poll_fds(struct pollfd *pf, size_t *slot, long *wait)
{
    long now = clock_now_ms();
    size_t n = 0;
    for (size_t i = 0; i < MAX_PENDING; i++) {
        if (pending[i].len == 0)
            continue;
        if (pending[i].fd >= 0) {
            slot[n] = i;
            pf[n++] = (struct pollfd){ .fd = pending[i].fd, .events = POLLIN };
        }
        long left = pending[i].deadline - now;
        if (left < *wait)
            *wait = left > 0 ? left : 0;
    }
    return n;
}

void dnsd_answer(int udp, size_t slot)
{
    pending_answer(udp, &pending[slot]);
}

void dnsd_init(void)
{
    for (size_t i = 0; i < MAX_PENDING; i++)
        pending[i].fd = -1;
}

void dnsd_close_pending(void)
{
    for (size_t i = 0; i < MAX_PENDING; i++)
        if (pending[i].fd >= 0)
            close(pending[i].fd);
}
