/* The rtnetlink client on real links, in network namespaces of the test's
 * own (root only: skipped otherwise): a bridge, a veth pair whose peer is
 * made in another namespace, a macvlan there, addresses and routes set
 * through a socket of that other namespace. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "net/netlink.h"

static int ns_a = -1, ns_b = -1;

static struct in_addr ip(const char *s)
{
    struct in_addr a;
    inet_pton(AF_INET, s, &a);
    return a;
}

static int setup(void **state)
{
    if (unshare(CLONE_NEWNET) < 0)
        return 0;   /* not root: the tests skip */
    ns_a = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    if (unshare(CLONE_NEWNET) < 0)
        return -1;
    ns_b = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    return setns(ns_a, CLONE_NEWNET);
}

/* A socket of namespace NS (made there, used here). */
static int sock_in(int ns)
{
    setns(ns, CLONE_NEWNET);
    int fd = nl_open();
    setns(ns_a, CLONE_NEWNET);
    return fd;
}

static bool has_prefix(const struct nl_prefix *v, size_t n, const char *addr, int prefix, int ifindex)
{
    for (size_t i = 0; i < n; i++)
        if (v[i].addr.s_addr == ip(addr).s_addr && v[i].prefix == prefix &&
            (ifindex < 0 || v[i].ifindex == ifindex))
            return true;
    return false;
}

static void test_bridge_veth(void **state)
{
    if (ns_a < 0)
        skip();
    int a = nl_open(), b = sock_in(ns_b);
    assert_true(a >= 0 && b >= 0);

    assert_int_equal(nl_link_add_bridge(a, "abtest0"), 0);
    assert_int_equal(nl_link_add_bridge(a, "abtest0"), -EEXIST);
    assert_int_equal(nl_link_add_bridge(a, "a-name-too-long-x"), -EINVAL);
    int br = nl_ifindex(a, "abtest0");
    assert_true(br > 0);
    struct nl_link l;
    assert_int_equal(nl_link_get(a, "abtest0", &l), 0);
    assert_string_equal(l.kind, "bridge");
    assert_int_equal(nl_link_get(a, "nosuch", &l), -ENODEV);

    assert_int_equal(nl_addr_add(a, br, ip("10.77.0.1"), 24), 0);
    assert_int_equal(nl_link_set_up(a, br, true), 0);

    assert_int_equal(nl_link_add_veth(a, "abvtest", "eth0", ns_b), 0);
    int v = nl_ifindex(a, "abvtest");
    assert_true(v > 0);
    assert_int_equal(nl_ifindex(a, "eth0"), -ENODEV);   /* the peer is in B */
    assert_int_equal(nl_link_set_master(a, v, br), 0);
    assert_int_equal(nl_link_set_isolated(a, v, true), 0);
    assert_int_equal(nl_link_set_up(a, v, true), 0);
    assert_int_equal(nl_link_get(a, "abvtest", &l), 0);
    assert_int_equal(l.master, br);
    assert_string_equal(l.kind, "veth");
    assert_true(l.up);

    int e = nl_ifindex(b, "eth0");
    assert_true(e > 0);
    assert_int_equal(nl_addr_add(b, e, ip("10.77.0.5"), 24), 0);
    assert_int_equal(nl_link_set_up(b, e, true), 0);
    assert_int_equal(nl_route_add_default(b, ip("10.77.0.1"), e), 0);
    assert_int_equal(nl_route_add_dev(b, ip("10.78.0.0"), 16, e), 0);

    struct nl_prefix *p;
    size_t n;
    assert_int_equal(nl_addr_list(b, &p, &n), 0);
    assert_true(has_prefix(p, n, "10.77.0.5", 24, e));
    assert_false(has_prefix(p, n, "10.77.0.1", 24, -1));
    free(p);
    assert_int_equal(nl_route_list(b, &p, &n), 0);
    assert_true(has_prefix(p, n, "0.0.0.0", 0, e));
    assert_true(has_prefix(p, n, "10.78.0.0", 16, e));
    assert_true(has_prefix(p, n, "10.77.0.0", 24, e));
    free(p);
    assert_int_equal(nl_addr_list(a, &p, &n), 0);
    assert_true(has_prefix(p, n, "10.77.0.1", 24, br));
    free(p);

    /* deleting one end removes both */
    assert_int_equal(nl_link_del(a, v), 0);
    assert_int_equal(nl_ifindex(b, "eth0"), -ENODEV);
    assert_int_equal(nl_link_del(a, br), 0);
    assert_int_equal(nl_link_del(a, br), -ENODEV);
    close(a);
    close(b);
}

static void test_macvlan(void **state)
{
    if (ns_a < 0)
        skip();
    int a = nl_open(), b = sock_in(ns_b);
    assert_int_equal(nl_link_add_veth(a, "abpar0", "abpar1", -1), 0);
    int parent = nl_ifindex(a, "abpar0");
    assert_int_equal(nl_link_add_macvlan(a, parent, "eth1", ns_b), 0);
    assert_int_equal(nl_ifindex(a, "eth1"), -ENODEV);
    struct nl_link l;
    assert_int_equal(nl_link_get(b, "eth1", &l), 0);
    assert_string_equal(l.kind, "macvlan");
    assert_int_equal(nl_link_del(b, l.ifindex), 0);
    assert_int_equal(nl_link_del(a, parent), 0);
    close(a);
    close(b);
}

static void test_overlap(void **state)
{
    assert_true(nl_prefix_overlap(ip("10.89.0.0"), 24, ip("10.89.0.7"), 32));
    assert_true(nl_prefix_overlap(ip("10.0.0.0"), 8, ip("10.89.3.0"), 24));
    assert_false(nl_prefix_overlap(ip("10.89.0.0"), 24, ip("10.89.1.0"), 24));
    assert_true(nl_prefix_overlap(ip("0.0.0.0"), 0, ip("10.89.1.0"), 24));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bridge_veth),
        cmocka_unit_test(test_macvlan),
        cmocka_unit_test(test_overlap),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
