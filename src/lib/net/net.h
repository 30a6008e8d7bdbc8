/* Network modules.  Today: none (a network namespace of the container's
 * own with only lo, brought up) and host (the host's namespace: nothing to
 * do).  Next: nat, macvlan, proxy (see README.md). */
#pragma once

#include "runtime/pipeline.h"

extern const struct module net_module;
