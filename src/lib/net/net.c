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

static int net_before_pivot(struct inside *in, ab_error *err)
{
    switch (in->spec->container.net) {
    case NET_NONE:
    case NET_PASTA:
        return loopback_up(err);
    case NET_HOST:
        return 0;
    }
    return 0;
}

const struct module net_module = {
    .name = "network",
    .before_pivot = net_before_pivot,
};
