/* (being built: issue 12) */
#include "net/net.h"

int nat_bridge_resolve(struct ab_ctx *ctx, struct spec *s, const char *name, ab_error *err)
{
    return ab_usage(err, "--network nat as root: not built yet");
}

void nat_bridge_release(struct ab_ctx *ctx, const struct spec *s)
{
}

const struct module nat_module = {
    .name = "nat",
};
