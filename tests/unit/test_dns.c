/* DNS messages (net/dns.c): queries read, replies built, answers checked
 * against their question; hostile bytes (truncated, looping, oversize,
 * random) never read out of bounds or loop (run under ASan/UBSan). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "net/dns.h"
#include "net/netopts.h"
#include "net/proxyd.h"

/* A query for NAME of TYPE (id 0x1234, RD) into BUF: its length. */
static size_t make_query(uint8_t *buf, const char *name, uint16_t type)
{
    size_t n = 0;
    const uint8_t hdr[12] = { 0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0 };
    memcpy(buf, hdr, 12);
    n = 12;
    const char *p = name;
    while (*p) {
        const char *dot = strchr(p, '.');
        size_t l = dot ? (size_t)(dot - p) : strlen(p);
        buf[n++] = (uint8_t)l;
        memcpy(buf + n, p, l);
        n += l;
        p += l + (dot ? 1 : 0);
    }
    buf[n++] = 0;
    buf[n++] = (uint8_t)(type >> 8);
    buf[n++] = (uint8_t)type;
    buf[n++] = 0;
    buf[n++] = 1;
    return n;
}

static void test_parse_query(void **state)
{
    uint8_t buf[512];
    struct dns_question q;
    size_t n = make_query(buf, "Sub.Example.TEST", DNS_TYPE_A);
    assert_int_equal(dns_parse_query(buf, n, &q), 0);
    assert_string_equal(q.name, "sub.example.test");
    assert_int_equal(q.qtype, DNS_TYPE_A);
    assert_int_equal(q.qclass, DNS_CLASS_IN);
    assert_int_equal(q.id, 0x1234);
    assert_int_equal(q.end, n);
    /* every truncation is refused */
    for (size_t i = 0; i < n; i++)
        assert_int_equal(dns_parse_query(buf, i, &q), -EINVAL);
    /* a response, two questions, an answer count, a bad label byte, a pointer */
    uint8_t b2[512];
    memcpy(b2, buf, n);
    b2[2] |= 0x80;
    assert_int_equal(dns_parse_query(b2, n, &q), -EINVAL);
    memcpy(b2, buf, n);
    b2[5] = 2;
    assert_int_equal(dns_parse_query(b2, n, &q), -EINVAL);
    memcpy(b2, buf, n);
    b2[7] = 1;
    assert_int_equal(dns_parse_query(b2, n, &q), -EINVAL);
    memcpy(b2, buf, n);
    b2[14] = ' ';
    assert_int_equal(dns_parse_query(b2, n, &q), -EINVAL);
    memcpy(b2, buf, n);
    b2[12] = 0xc0;
    b2[13] = 12;   /* points at itself */
    assert_int_equal(dns_parse_query(b2, n, &q), -EINVAL);
    /* oversize */
    assert_int_equal(dns_parse_query(buf, DNS_MSG_MAX + 1, &q), -EINVAL);
}

static void test_long_names(void **state)
{
    uint8_t buf[1024];
    struct dns_question q;
    char name[400];
    /* 4 labels of 63: 255 bytes of name on the wire with its final 0 -> 253 text */
    memset(name, 'a', sizeof(name));
    for (int i = 0; i < 3; i++)
        name[63 * (i + 1) + i] = '.';
    name[63 * 4 + 3] = 0;   /* 255 chars: too long */
    size_t n = make_query(buf, name, DNS_TYPE_A);
    assert_int_equal(dns_parse_query(buf, n, &q), -EINVAL);
    name[63 * 4 + 3 - 2] = 0;   /* 253 chars: the longest */
    n = make_query(buf, name, DNS_TYPE_A);
    assert_int_equal(dns_parse_query(buf, n, &q), 0);
    assert_int_equal(strlen(q.name), 253);
    /* a label of 64 */
    memset(name, 'b', 64);
    name[64] = 0;
    n = make_query(buf, name, DNS_TYPE_A);
    assert_int_equal(dns_parse_query(buf, n, &q), -EINVAL);
}

static void test_build_reply(void **state)
{
    uint8_t buf[512], out[512];
    struct dns_question q;
    size_t n = make_query(buf, "web.test", DNS_TYPE_A);
    assert_int_equal(dns_parse_query(buf, n, &q), 0);
    struct in_addr a[2];
    inet_pton(AF_INET, "10.0.0.5", &a[0]);
    inet_pton(AF_INET, "10.0.0.6", &a[1]);
    size_t r = dns_build_reply(buf, &q, DNS_RCODE_OK, a, 2, 10, out, sizeof(out));
    assert_int_equal(r, n + 32);
    /* it is an answer to the question, with both addresses */
    struct in_addr got[4];
    assert_int_equal(dns_answer_addrs(out, r, &q, got, 4), 2);
    assert_int_equal(got[0].s_addr, a[0].s_addr);
    assert_int_equal(got[1].s_addr, a[1].s_addr);
    /* too small a buffer: 0 */
    assert_int_equal(dns_build_reply(buf, &q, DNS_RCODE_OK, a, 2, 10, out, n + 31), 0);
    /* REFUSED: the question, no answer */
    r = dns_build_reply(buf, &q, DNS_RCODE_REFUSED, NULL, 0, 0, out, sizeof(out));
    assert_int_equal(r, n);
    assert_int_equal(out[3] & 0xf, DNS_RCODE_REFUSED);
    assert_true(out[2] & 0x80);
    /* an AAAA question gets no A records */
    n = make_query(buf, "web.test", DNS_TYPE_AAAA);
    assert_int_equal(dns_parse_query(buf, n, &q), 0);
    assert_int_equal(dns_build_reply(buf, &q, DNS_RCODE_OK, a, 2, 10, out, sizeof(out)), n);
    /* FORMERR for a query that could not be read: the header only */
    struct dns_question bad = { .id = 7 };
    assert_int_equal(dns_build_reply(buf, &bad, DNS_RCODE_FORMERR, NULL, 0, 0, out, sizeof(out)), 12);
}

/* An answer: the question, a CNAME to alias.test, an A of alias.test, an A
 * of an unrelated owner (not the name's), an AAAA. */
static size_t make_answer(uint8_t *buf, struct dns_question *q)
{
    size_t n = make_query(buf, "www.test", DNS_TYPE_A);
    assert_int_equal(dns_parse_query(buf, n, q), 0);
    buf[2] |= 0x80;
    buf[7] = 4;
    const uint8_t cname[] = { 0xc0, 12, 0, 5, 0, 1, 0, 0, 0, 60, 0, 12,
                              5, 'a', 'l', 'i', 'a', 's', 4, 't', 'e', 's', 't', 0 };
    memcpy(buf + n, cname, sizeof(cname));
    size_t alias = n + 12;
    n += sizeof(cname);
    const uint8_t a1[] = { 0xc0, (uint8_t)alias, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 7 };
    memcpy(buf + n, a1, sizeof(a1));
    n += sizeof(a1);
    const uint8_t a2[] = { 4, 'e', 'v', 'i', 'l', 0, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 127, 0, 0, 1 };
    memcpy(buf + n, a2, sizeof(a2));
    n += sizeof(a2);
    const uint8_t a3[] = { 0xc0, 12, 0, 28, 0, 1, 0, 0, 0, 60, 0, 16, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 };
    memcpy(buf + n, a3, sizeof(a3));
    n += sizeof(a3);
    return n;
}

static void test_answer_addrs(void **state)
{
    uint8_t buf[512];
    struct dns_question q;
    size_t n = make_answer(buf, &q);
    struct in_addr got[4];
    assert_int_equal(dns_answer_addrs(buf, n, &q, got, 4), 1);
    assert_string_equal(inet_ntoa(got[0]), "192.0.2.7");
    /* another id, another name, a query: not the answer */
    struct dns_question other = q;
    other.id++;
    assert_int_equal(dns_answer_addrs(buf, n, &other, got, 4), -EINVAL);
    other = q;
    strcpy(other.name, "www.tesu");
    assert_int_equal(dns_answer_addrs(buf, n, &other, got, 4), -EINVAL);
    /* every truncation: refused or fewer records, never out of bounds */
    for (size_t i = 0; i < n; i++)
        assert_true(dns_answer_addrs(buf, i, &q, got, 4) <= 1);
}

static uint32_t rng = 12345;
static uint32_t next(void)
{
    rng = rng * 1103515245u + 12345u;
    return rng >> 8;
}

/* Random and mutated bytes: no crash, no read past the end (ASan), no
 * endless loop; whatever is accepted is within bounds. */
static void test_fuzz(void **state)
{
    uint8_t base[512], buf[600], out[DNS_MSG_MAX];
    struct dns_question q, bq;
    size_t bn = make_answer(base, &bq);
    for (int round = 0; round < 200000; round++) {
        size_t n;
        if (round % 2) {
            n = next() % sizeof(buf);
            for (size_t i = 0; i < n; i++)
                buf[i] = (uint8_t)next();
        } else {
            n = bn;
            memcpy(buf, base, bn);
            for (int k = next() % 6; k >= 0; k--)
                buf[next() % bn] = (uint8_t)next();
            n = next() % (bn + 1);
        }
        uint8_t *heap = malloc(n ? n : 1);   /* exact size: ASan sees any overread */
        memcpy(heap, buf, n);
        if (dns_parse_query(heap, n, &q) == 0) {
            assert_true(q.end <= n);
            assert_true(strlen(q.name) < DNS_NAME_MAX);
            size_t r = dns_build_reply(heap, &q, DNS_RCODE_OK, NULL, 0, 0, out, sizeof(out));
            assert_true(r >= 12 && r <= sizeof(out));
        }
        struct in_addr got[8];
        int c = dns_answer_addrs(heap, n, &bq, got, 8);
        assert_true(c >= -EINVAL && c <= 8);
        free(heap);
    }
}

static void test_reachable(void **state)
{
    const char *no[] = { "127.0.0.1", "127.1.2.3", "0.0.0.0", "0.1.2.3", "169.254.169.254", "224.0.0.1",
                         "239.255.255.250", "255.255.255.255", "240.0.0.1" };
    const char *yes[] = { "192.0.2.2", "10.0.0.1", "8.8.8.8", "172.16.0.1", "223.255.255.254" };
    struct in_addr a;
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
        inet_pton(AF_INET, no[i], &a);
        assert_false(proxyd_addr_reachable(a));
    }
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        inet_pton(AF_INET, yes[i], &a);
        assert_true(proxyd_addr_reachable(a));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_query), cmocka_unit_test(test_long_names),
        cmocka_unit_test(test_build_reply), cmocka_unit_test(test_answer_addrs),
        cmocka_unit_test(test_fuzz),        cmocka_unit_test(test_reachable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
