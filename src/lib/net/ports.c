/* (being built: issue 12) */
#include "net/net.h"

int ports_resolve(struct ab_ctx *ctx, struct spec *s, const char *name, ab_error *err)
{
    if (s->container.network.publish.n || s->container.network.links.n)
        return ab_usage(err, "--publish, --link: not built yet");
    return 0;
}

const struct module ports_module = {
    .name = "ports",
};
