#include "net/net.h"

#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util/cleanup.h"

static int loopback_up(ab_error *err)
{
    _cleanup_close_ int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        return ab_fail(err, errno, "cannot open a socket to configure lo");
    struct ifreq ifr = { 0 };
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
    if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
        return ab_fail(err, errno, "cannot read the flags of lo");
    ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
    if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
        return ab_fail(err, errno, "cannot bring lo up");
    return 0;
}

/* Every network of the container's own has lo, up; the host's is the host's. */
static int net_before_pivot(struct inside *in, ab_error *err)
{
    return in->spec->container.net == NET_HOST ? 0 : loopback_up(err);
}

const struct module net_module = {
    .name = "network",
    .before_pivot = net_before_pivot,
};

int net_resolve(struct ab_ctx *ctx, struct spec *s, const char *name, ab_error *err)
{
    struct spec_container *c = &s->container;
    bool root = s->process.user.caller_uid == 0;
    int r = 0;
    switch (c->net) {
    case NET_NONE:
    case NET_HOST:
    case NET_PASTA:
        break;
    case NET_NAT:
        r = root ? nat_bridge_resolve(ctx, s, name, err) : nat_user_resolve(ctx, s, name, err);
        break;
    case NET_MACVLAN:
        if (!root)
            return ab_usage(err, "--network macvlan needs root (a link on a host interface is the host's to make); "
                                 "as a user, use --network nat");
        r = macvlan_resolve(ctx, s, name, err);
        break;
    case NET_PROXY:
        r = proxy_resolve(ctx, s, name, err);
        break;
    }
    if (r == 0 && c->net != NET_HOST && (r = ports_resolve(ctx, s, name, err)) < 0)
        net_release(ctx, s);
    return r;
}

void net_release(struct ab_ctx *ctx, const struct spec *s)
{
    if (s->container.net == NET_NAT && s->container.network.backend == NET_BACKEND_BRIDGE)
        nat_bridge_release(ctx, s);
}
