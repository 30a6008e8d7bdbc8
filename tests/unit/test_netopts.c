/* The network options' syntax (net/netopts.c): every form each option
 * takes, the canonical text kept in the spec read back the same, the
 * allow-list's name matching, and the errors for bad values. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <string.h>

#include "net/netopts.h"
#include "spec/spec.h"

static void test_modes_and_aliases(void **state)
{
    struct spec s;
    ab_error err = { 0 };
    char buf[64];
    spec_init(&s);
    static const struct { const char *in; int mode; const char *out; } ok[] = {
        { "off", NET_NONE, "none" },          { "on", NET_HOST, "host" },
        { "nat", NET_NAT, "nat" },            { "nat:web-1", NET_NAT, "nat:web-1" },
        { "separate", NET_MACVLAN, "macvlan" }, { "macvlan:eth0", NET_MACVLAN, "macvlan:eth0" },
        { "separate:enp3s0", NET_MACVLAN, "macvlan:enp3s0" }, { "proxy", NET_PROXY, "proxy" },
        { "none", NET_NONE, "none" },
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        assert_int_equal(net_parse_mode(&s, "--network", ok[i].in, &err), 0);
        assert_int_equal(s.container.net, ok[i].mode);
        assert_string_equal(net_format_mode(&s.container, buf, sizeof(buf)), ok[i].out);
    }
    static const char *const bad[] = { "wifi", "nat:", "nat:Web", "nat:-x", "proxy:x", "host:eth0",
                                       "macvlan:a/b", "macvlan:waytoolonginterface", "pasta", "" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_not_equal(net_parse_mode(&s, "--network", bad[i], &err), 0);
        assert_int_equal(err.kind, AB_ERR_USAGE);
        assert_non_null(strstr(err.msg, "--network"));
    }
    spec_free(&s);
}

static void test_publish(void **state)
{
    struct net_port p;
    ab_error err;
    char buf[64];
    assert_int_equal(net_parse_publish("-p", "8080:80", &p, &err), 0);
    assert_int_equal(p.proto, IPPROTO_TCP);
    assert_int_equal(p.host_port, 8080);
    assert_int_equal(p.port, 80);
    assert_int_equal(p.host_ip.s_addr, htonl(INADDR_ANY));
    net_format_publish(&p, buf, sizeof(buf));
    assert_string_equal(buf, "0.0.0.0:8080:80/tcp");
    assert_int_equal(net_parse_publish("-p", "127.0.0.1:53:5353/udp", &p, &err), 0);
    net_format_publish(&p, buf, sizeof(buf));
    assert_string_equal(buf, "127.0.0.1:53:5353/udp");
    /* the canonical form reads back as itself */
    struct net_port q;
    assert_int_equal(net_parse_publish("-p", buf, &q, &err), 0);
    assert_memory_equal(&p, &q, sizeof(p));
    static const char *const bad[] = { "80", "0:80", "80:65536", "a:80", "1.2.3:80:80", "80:80/sctp",
                                       "1:2:3:4", ":80", "80:", "80:80/", "-1:80" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_not_equal(net_parse_publish("--publish", bad[i], &p, &err), 0);
        assert_non_null(strstr(err.msg, bad[i]));
    }
}

static void test_link(void **state)
{
    struct net_link l;
    ab_error err;
    char buf[64];
    assert_int_equal(net_parse_link("--link", "db:5432", &l, &err), 0);
    assert_string_equal(l.other, "db");
    assert_int_equal(l.port, 5432);
    assert_int_equal(l.local_port, 5432);
    assert_int_equal(net_parse_link("--link", "db:5432:15432", &l, &err), 0);
    net_format_link(&l, buf, sizeof(buf));
    assert_string_equal(buf, "db:5432:15432");
    static const char *const bad[] = { "db", "db:", ":80", "db:0", "db:80:x", "db:80:0" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_not_equal(net_parse_link("--link", bad[i], &l, &err), 0);
}

static void test_allow_and_matching(void **state)
{
    struct net_allow a;
    ab_error err;
    char buf[300];
    assert_int_equal(net_parse_allow("--allow", "Example.ORG.:443", &a, &err), 0);
    net_format_allow(&a, buf, sizeof(buf));
    assert_string_equal(buf, "example.org:443");
    assert_true(net_allow_matches_name(&a, "example.org", 443));
    assert_true(net_allow_matches_name(&a, "EXAMPLE.org.", 443));
    assert_true(net_allow_matches_name(&a, "example.org", 0)); /* a DNS question: any port */
    assert_false(net_allow_matches_name(&a, "example.org", 80));
    assert_false(net_allow_matches_name(&a, "www.example.org", 443));
    assert_false(net_allow_matches_name(&a, "badexample.org", 443));

    assert_int_equal(net_parse_allow("--allow", "*.debian.org", &a, &err), 0);
    assert_true(a.wildcard);
    assert_true(net_allow_matches_name(&a, "deb.debian.org", 80));
    assert_true(net_allow_matches_name(&a, "a.b.debian.org", 1));
    assert_false(net_allow_matches_name(&a, "debian.org", 80));
    assert_false(net_allow_matches_name(&a, "xdebian.org", 80));

    assert_int_equal(net_parse_allow("--allow", "192.0.2.2:80", &a, &err), 0);
    assert_true(a.is_addr);
    assert_int_equal(a.port, 80);
    assert_false(net_allow_matches_name(&a, "192.0.2.2", 80)); /* an address rule is no name */

    static const char *const bad[] = { "", ":80", "1.2.3", "999.1.1.1", "a..b", "-a.org", "a b", "*.",
                                       "x.org:0", "x.org:99999", "*.1.2.3.4x:", "a.org/x" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_not_equal(net_parse_allow("--allow", bad[i], &a, &err), 0);
}

static void test_validate_combinations(void **state)
{
    struct spec s;
    ab_error err = { 0 };
    spec_init(&s);
    s.container.net = NET_HOST;
    strv_push(&s.container.network.publish, "0.0.0.0:80:80/tcp");
    assert_int_not_equal(net_validate(&s.container, &err), 0);
    assert_non_null(strstr(err.msg, "--publish"));
    s.container.net = NET_NONE;
    assert_int_equal(net_validate(&s.container, &err), 0);
    strv_push(&s.container.network.publish, "0.0.0.0:80:81/tcp");
    assert_int_not_equal(net_validate(&s.container, &err), 0);
    assert_non_null(strstr(err.msg, "published twice"));
    spec_free(&s);

    spec_init(&s);
    s.container.net = NET_PROXY;
    assert_int_not_equal(net_validate(&s.container, &err), 0); /* proxy without --allow */
    strv_push(&s.container.network.allow, "example.org");
    assert_int_equal(net_validate(&s.container, &err), 0);
    s.container.net = NET_NAT;
    assert_int_not_equal(net_validate(&s.container, &err), 0); /* --allow without proxy */
    spec_free(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_modes_and_aliases),
        cmocka_unit_test(test_publish),
        cmocka_unit_test(test_link),
        cmocka_unit_test(test_allow_and_matching),
        cmocka_unit_test(test_validate_combinations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
