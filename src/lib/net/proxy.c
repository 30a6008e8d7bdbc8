/* (being built: issue 12) */
#include "net/net.h"

int proxy_resolve(struct ab_ctx *ctx, struct spec *s, const char *name, ab_error *err)
{
    return ab_usage(err, "--network proxy: not built yet");
}

const struct module proxy_module = {
    .name = "proxy",
};
