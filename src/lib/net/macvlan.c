/* (being built: issue 12) */
#include "net/net.h"

int macvlan_resolve(struct ab_ctx *ctx, struct spec *s, const char *name, ab_error *err)
{
    return ab_usage(err, "--network macvlan: not built yet");
}

const struct module macvlan_module = {
    .name = "macvlan",
};
