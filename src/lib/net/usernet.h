/* A user's named network (`--network nat:NAME` as an ordinary user): each
 * member has its own network namespace and its own pasta, so nothing
 * carries packets between members; names and TCP are carried instead.
 *
 *   membership  a named container whose running spec is a user's nat with
 *               network.name NAME: at host_setup it writes USERNET_FILE in
 *               its runtime directory ("NAME 127.77.X.Y"), at teardown it
 *               removes it; a member is one whose file says NAME and whose
 *               supervisor runs (state_running: a SIGKILLed one is not)
 *   addresses   one per member in USERNET_SUBNET, the same for every peer,
 *               from a hash of its container name (the next free one on a
 *               collision), chosen under USERNET_LOCK in the user's
 *               runtime directory
 *   /etc/hosts  USERNET_HOSTS in the member's runtime directory, bound
 *               read-only; every member's is rewritten in place when one
 *               joins or leaves: localhost, itself, each running peer at
 *               its 127.77 address
 *   TCP         in the member's network namespace, nftables redirects TCP
 *               to USERNET_SUBNET to a listener of its port helper
 *               (ports_helper.c) on its 127.0.0.1; the helper maps the
 *               original destination back to the peer and asks the peer's
 *               net.sock for the port, as --link does
 * Internal to net/. */
#pragma once

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>

#include "context.h"
#include "spec/spec.h"
#include "util/error.h"

#define USERNET_FILE "usernet"
#define USERNET_HOSTS "usernet.hosts"
#define USERNET_LOCK ".usernet.lock" /* not a container name: those never start with '.' */
#define USERNET_SUBNET "127.77.0.0/16"

/* Whether S is a member of a user's named network (NULL: not one). */
const char *usernet_name(const struct spec *s);
/* nat_user_resolve's part for nat:NAME: refuse a sandbox; network.hosts. */
int usernet_resolve(struct ab_ctx *ctx, struct spec *s, const char *name, ab_error *err);
/* The runner's host_setup: NAME's address chosen, its file and hosts file
 * written, every member's hosts file rewritten. */
int usernet_join(struct ab_ctx *ctx, const struct spec *s, const char *name, ab_error *err);
/* Teardown (also of a SIGKILLed supervisor's container): NAME's files
 * removed, the other members' hosts files rewritten without it. */
void usernet_leave(struct ab_ctx *ctx, const struct spec *s, const char *name);
/* The running member of network NET at ADDR, into PEER (N bytes): true
 * when there is one.  Reads CTX's runtime directory (its fd). */
bool usernet_lookup(struct ab_ctx *ctx, const char *net, struct in_addr addr, char *peer, size_t n);

extern const struct module usernet_module;
