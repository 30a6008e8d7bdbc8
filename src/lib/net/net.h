/* Network modules.  Today: none (a network namespace of the container's
 * own with only lo, brought up) and host (the host's namespace: nothing to
 * do).  Next: nat, macvlan, proxy (see README.md). */
#pragma once

#include "runtime/pipeline.h"

extern const struct module net_module;
/* NET_PASTA (internal, for apt runs: pasta.c): a network namespace of its
 * own with user-mode networking, the host's loopback out of reach. */
extern const struct module pasta_module;

/* The address the container's /etc/resolv.conf names under NET_PASTA;
 * pasta forwards DNS sent there to the host's first resolver. */
#define NET_PASTA_DNS "169.254.1.1"
