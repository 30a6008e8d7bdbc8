/* Network modules (see README.md): none (a network namespace of the
 * container's own with only lo, brought up), host (the host's namespace:
 * nothing to do), nat (a bridge as root: nat.c; pasta as a user: pasta.c),
 * macvlan (macvlan.c), proxy (proxy.c, with the DNS server), and published
 * ports and links (ports.c) on any network of the container's own. */
#pragma once

#include "context.h"
#include "runtime/pipeline.h"
#include "spec/spec.h"

/* The address the container's /etc/resolv.conf names where appbox serves
 * its DNS (proxy.c), on the container's own loopback (Docker's choice). */
#define NET_DNS_ADDR "127.0.0.11"

/* At start, after spec_resolve(): the network made concrete in S (the
 * backend, addresses, nameserver, hosts file, directory of the helpers),
 * so that spec.json keeps it for sessions, `show` and teardown.  NAME: the
 * named container, or NULL for a sandbox.  What it reserved is given back
 * by the modules' teardown, or by net_release() when the start fails
 * before the pipeline runs. */
int net_resolve(struct ab_ctx *ctx, struct spec *s, const char *name, ab_error *err);
void net_release(struct ab_ctx *ctx, const struct spec *s);

/* Each mode's part of net_resolve(), in its module's file. */
int nat_bridge_resolve(struct ab_ctx *ctx, struct spec *s, const char *name, ab_error *err);   /* nat.c */
void nat_bridge_release(struct ab_ctx *ctx, const struct spec *s);
int nat_user_resolve(struct ab_ctx *ctx, struct spec *s, const char *name, ab_error *err);     /* pasta.c */
int macvlan_resolve(struct ab_ctx *ctx, struct spec *s, const char *name, ab_error *err);      /* macvlan.c */
int proxy_resolve(struct ab_ctx *ctx, struct spec *s, const char *name, ab_error *err);        /* proxy.c */
int ports_resolve(struct ab_ctx *ctx, struct spec *s, const char *name, ab_error *err);        /* ports.c */

extern const struct module net_module;
extern const struct module nat_module;      /* nat.c: root's bridge, veth, nftables */
extern const struct module macvlan_module;  /* macvlan.c */
extern const struct module proxy_module;    /* proxy.c: the allow-list relay and DNS */
extern const struct module ports_module;    /* ports.c: --publish, --link, the link socket */
/* pasta.c: user-mode networking (pasta, or slirp4netns where pasta is
 * missing) for NET_PASTA (internal, for apt runs) and a user's NET_NAT: a
 * network namespace of its own, the host's loopback out of reach (unless
 * --allow-host-loopback). */
extern const struct module pasta_module;

/* The address the container's /etc/resolv.conf names under pasta (apt
 * runs, a user's nat); pasta forwards DNS sent there to the host's first
 * resolver. */
#define NET_PASTA_DNS "169.254.1.1"
