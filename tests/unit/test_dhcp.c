/* The DHCP client's packets (net/dhcp.c): what a request carries, what a
 * reply must be to be taken, and the IPv4/UDP unwrapping of what the
 * packet socket gives. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "net/dhcp.h"

static const uint8_t MAC[6] = { 0x02, 0x11, 0x22, 0x33, 0x44, 0x55 };

static struct in_addr ip(const char *s)
{
    struct in_addr a;
    assert_int_equal(inet_pton(AF_INET, s, &a), 1);
    return a;
}

/* The option CODE's data in the BOOTP message BUF, or NULL. */
static const uint8_t *find_opt(const uint8_t *buf, size_t n, uint8_t code, size_t *len)
{
    for (size_t i = 240; i < n && buf[i] != 255;) {
        if (buf[i] == 0) {
            i++;
            continue;
        }
        if (buf[i] == code) {
            *len = buf[i + 1];
            return buf + i + 2;
        }
        i += 2 + buf[i + 1];
    }
    return NULL;
}

static void test_build_discover_and_request(void **state)
{
    (void)state;
    uint8_t buf[576];
    struct dhcp_request q = { .xid = 0xdeadbeef, .broadcast = true, .hostname = "web" };
    memcpy(q.mac, MAC, 6);
    size_t n = dhcp_build(buf, sizeof(buf), DHCP_DISCOVER, &q);
    assert_int_equal(n, 300);   /* padded to BOOTP's minimum */
    assert_int_equal(buf[0], 1);
    assert_int_equal(buf[1], 1);
    assert_int_equal(buf[2], 6);
    assert_memory_equal(buf + 4, "\xde\xad\xbe\xef", 4);
    assert_int_equal(buf[10], 0x80);   /* broadcast flag */
    assert_memory_equal(buf + 28, MAC, 6);
    assert_memory_equal(buf + 236, "\x63\x82\x53\x63", 4);
    size_t len;
    const uint8_t *o = find_opt(buf, n, 53, &len);
    assert_non_null(o);
    assert_int_equal(len, 1);
    assert_int_equal(o[0], DHCP_DISCOVER);
    o = find_opt(buf, n, 12, &len);
    assert_non_null(o);
    assert_memory_equal(o, "web", 3);
    assert_null(find_opt(buf, n, 50, &len));
    assert_null(find_opt(buf, n, 54, &len));

    q.requested = ip("192.0.2.60");
    q.server = ip("192.0.2.2");
    n = dhcp_build(buf, sizeof(buf), DHCP_REQUEST, &q);
    o = find_opt(buf, n, 50, &len);
    assert_non_null(o);
    assert_memory_equal(o, &q.requested, 4);
    o = find_opt(buf, n, 54, &len);
    assert_non_null(o);
    assert_memory_equal(o, &q.server, 4);

    /* renewing: ciaddr, no broadcast flag */
    struct dhcp_request r = { .xid = 1, .ciaddr = ip("192.0.2.60") };
    memcpy(r.mac, MAC, 6);
    n = dhcp_build(buf, sizeof(buf), DHCP_REQUEST, &r);
    assert_int_equal(buf[10], 0);
    assert_memory_equal(buf + 12, &r.ciaddr, 4);
    /* too small a buffer */
    assert_int_equal(dhcp_build(buf, 200, DHCP_DISCOVER, &q), 0);
}

/* A server's reply: type T, yiaddr ADDR, then OPTS (LEN bytes). */
static size_t reply(uint8_t *buf, uint32_t xid, const uint8_t *mac, const char *addr, const uint8_t *opts, size_t len)
{
    memset(buf, 0, 576);
    buf[0] = 2;
    buf[1] = 1;
    buf[2] = 6;
    buf[4] = xid >> 24;
    buf[5] = xid >> 16;
    buf[6] = xid >> 8;
    buf[7] = xid;
    struct in_addr a = ip(addr);
    memcpy(buf + 16, &a, 4);
    memcpy(buf + 28, mac, 6);
    memcpy(buf + 236, "\x63\x82\x53\x63", 4);
    memcpy(buf + 240, opts, len);
    return 240 + len;
}

static const uint8_t ACK_OPTS[] = {
    53, 1, 5,                       /* ACK */
    54, 4, 192, 0, 2, 2,            /* server */
    1, 4, 255, 255, 255, 0,         /* /24 */
    3, 8, 192, 0, 2, 2, 192, 0, 2, 3,   /* routers: the first counts */
    6, 4, 192, 0, 2, 53,            /* dns */
    0, 0,                           /* pad */
    51, 4, 0, 0, 0x0e, 0x10,        /* 3600 s */
    255,
};

static void test_parse_ack(void **state)
{
    (void)state;
    uint8_t buf[576];
    size_t n = reply(buf, 42, MAC, "192.0.2.60", ACK_OPTS, sizeof(ACK_OPTS));
    enum dhcp_type t;
    struct dhcp_lease l;
    assert_int_equal(dhcp_parse(buf, n, 42, MAC, &t, &l), 0);
    assert_int_equal(t, DHCP_ACK);
    char s[INET_ADDRSTRLEN];
    assert_string_equal(dhcp_ntoa(l.addr, s), "192.0.2.60");
    assert_int_equal(l.prefix, 24);
    assert_string_equal(dhcp_ntoa(l.router, s), "192.0.2.2");
    assert_string_equal(dhcp_ntoa(l.server, s), "192.0.2.2");
    assert_int_equal(l.n_dns, 1);
    assert_string_equal(dhcp_ntoa(l.dns[0], s), "192.0.2.53");
    assert_int_equal(l.lease_s, 3600);
    assert_int_equal(l.t1_s, 1800);   /* no option 58: half */
    assert_int_equal(l.t2_s, 3150);   /* no option 59: 7/8 */
}

static void test_parse_refuses_what_is_not_ours(void **state)
{
    (void)state;
    uint8_t buf[576];
    enum dhcp_type t;
    struct dhcp_lease l;
    size_t n = reply(buf, 42, MAC, "192.0.2.60", ACK_OPTS, sizeof(ACK_OPTS));
    assert_int_equal(dhcp_parse(buf, n, 43, MAC, &t, &l), -EINVAL);         /* another xid */
    uint8_t other[6] = { 2, 0, 0, 0, 0, 1 };
    assert_int_equal(dhcp_parse(buf, n, 42, other, &t, &l), -EINVAL);       /* another client */
    buf[0] = 1;
    assert_int_equal(dhcp_parse(buf, n, 42, MAC, &t, &l), -EINVAL);         /* a request */
    /* an option running past the end */
    n = reply(buf, 42, MAC, "192.0.2.60", ACK_OPTS, sizeof(ACK_OPTS));
    buf[240 + 4] = 200;
    assert_int_equal(dhcp_parse(buf, n, 42, MAC, &t, &l), -EINVAL);
    /* truncated anywhere: never read past N */
    n = reply(buf, 42, MAC, "192.0.2.60", ACK_OPTS, sizeof(ACK_OPTS));
    for (size_t cut = 0; cut < n; cut++)
        dhcp_parse(buf, cut, 42, MAC, &t, &l);
    /* no server identifier, a multicast or loopback address: not taken */
    static const uint8_t nosrv[] = { 53, 1, 5, 1, 4, 255, 255, 255, 0, 255 };
    n = reply(buf, 42, MAC, "192.0.2.60", nosrv, sizeof(nosrv));
    assert_int_equal(dhcp_parse(buf, n, 42, MAC, &t, &l), -EINVAL);
    n = reply(buf, 42, MAC, "224.0.0.1", ACK_OPTS, sizeof(ACK_OPTS));
    assert_int_equal(dhcp_parse(buf, n, 42, MAC, &t, &l), -EINVAL);
    n = reply(buf, 42, MAC, "127.0.0.1", ACK_OPTS, sizeof(ACK_OPTS));
    assert_int_equal(dhcp_parse(buf, n, 42, MAC, &t, &l), -EINVAL);
    /* a mask with holes */
    uint8_t holes[sizeof(ACK_OPTS)];
    memcpy(holes, ACK_OPTS, sizeof(holes));
    holes[13] = 1;
    n = reply(buf, 42, MAC, "192.0.2.60", holes, sizeof(holes));
    assert_int_equal(dhcp_parse(buf, n, 42, MAC, &t, &l), -EINVAL);
}

static void test_parse_nak_and_defaults(void **state)
{
    (void)state;
    uint8_t buf[576];
    enum dhcp_type t;
    struct dhcp_lease l;
    static const uint8_t nak[] = { 53, 1, 6, 54, 4, 192, 0, 2, 2, 255 };
    size_t n = reply(buf, 7, MAC, "0.0.0.0", nak, sizeof(nak));
    assert_int_equal(dhcp_parse(buf, n, 7, MAC, &t, &l), 0);
    assert_int_equal(t, DHCP_NAK);
    /* no mask: the class; T1/T2 given; an infinite lease */
    static const uint8_t o[] = { 53, 1, 2, 54, 4, 10, 0, 0, 1, 51, 4, 0, 0, 0, 100, 58, 4, 0, 0, 0, 10,
                                 59, 4, 0, 0, 0, 20, 255 };
    n = reply(buf, 7, MAC, "10.1.2.3", o, sizeof(o));
    assert_int_equal(dhcp_parse(buf, n, 7, MAC, &t, &l), 0);
    assert_int_equal(t, DHCP_OFFER);
    assert_int_equal(l.prefix, 8);
    assert_int_equal(l.t1_s, 10);
    assert_int_equal(l.t2_s, 20);
    static const uint8_t inf[] = { 53, 1, 5, 54, 4, 10, 0, 0, 1, 51, 4, 0xff, 0xff, 0xff, 0xff, 255 };
    n = reply(buf, 7, MAC, "10.1.2.3", inf, sizeof(inf));
    assert_int_equal(dhcp_parse(buf, n, 7, MAC, &t, &l), 0);
    assert_int_equal(l.lease_s, UINT32_MAX);
    assert_int_equal(l.t1_s, UINT32_MAX);
}

static void test_udp_payload(void **state)
{
    (void)state;
    uint8_t pkt[64] = { 0x45, 0, 0, 0 };
    size_t total = 20 + 8 + 4;
    pkt[2] = 0;
    pkt[3] = (uint8_t)total;
    pkt[9] = 17;                  /* UDP */
    pkt[20] = 0;
    pkt[21] = 67;                 /* from 67 */
    pkt[22] = 0;
    pkt[23] = 68;                 /* to 68 */
    pkt[24] = 0;
    pkt[25] = 12;                 /* UDP length */
    memcpy(pkt + 28, "abcd", 4);
    size_t len;
    const uint8_t *d = dhcp_udp_payload(pkt, total, 68, &len);
    assert_non_null(d);
    assert_int_equal(len, 4);
    assert_memory_equal(d, "abcd", 4);
    assert_null(dhcp_udp_payload(pkt, total, 67, &len));        /* another port */
    assert_null(dhcp_udp_payload(pkt, total - 1, 68, &len));    /* shorter than it says */
    pkt[25] = 40;
    assert_null(dhcp_udp_payload(pkt, total, 68, &len));        /* UDP longer than IP */
    pkt[25] = 12;
    pkt[6] = 0x20;                                              /* more fragments */
    assert_null(dhcp_udp_payload(pkt, total, 68, &len));
    pkt[6] = 0;
    pkt[9] = 6;                                                 /* TCP */
    assert_null(dhcp_udp_payload(pkt, total, 68, &len));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_build_discover_and_request),
        cmocka_unit_test(test_parse_ack),
        cmocka_unit_test(test_parse_refuses_what_is_not_ours),
        cmocka_unit_test(test_parse_nak_and_defaults),
        cmocka_unit_test(test_udp_payload),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
