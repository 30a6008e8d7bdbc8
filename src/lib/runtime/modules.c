/* The setup pipeline's modules, in the order their hooks run (see
 * pipeline.h).  A new capability adds its module here. */
#include "cgroup/cgroup.h"
#include "desktop/devices.h"
#include "desktop/sound.h"
#include "desktop/display.h"
#include "net/net.h"
#include "net/usernet.h"
#include "runtime/boot.h"
#include "runtime/idmap.h"
#include "runtime/mounts.h"
#include "runtime/oci_process.h"
#include "runtime/pipeline.h"
#include "runtime/sandbox.h"

const struct module *const runtime_modules[] = {
    &idmap_module,    /* host: the id maps, first: every other step needs them */
    &cgroup_module,   /* host: the container's cgroups and limits (prepare), PID 1 in them before "go" */
    &devices_module,  /* host: the device rules in the container's cgroup */
    &pasta_module,    /* host: pasta on the network namespace (apt runs, nat as a user), after the maps */
    &nat_module,      /* host: root's nat: a veth into the bridge, nftables; the address inside */
    &macvlan_module,  /* host: a macvlan link moved in, its address (DHCP) */
    &proxy_module,    /* host: the proxy and DNS helper (its redirect inside, through its factory) */
    &ports_module,    /* host: published ports, links, the link socket */
    &usernet_module,  /* host: a user's nat:NAME: its address, its and its peers' /etc/hosts (once its port
                       * helper serves: announced only when it can be reached) */
    &display_module,  /* host: the X cookie, Xephyr (before the mounts: they bind what it makes) */
    &net_module,      /* inside: lo up (none, pasta), nothing (host) */
    &sound_module,    /* host: the sound proxy (prepare), its socket removed (teardown) */
    &oci_module,      /* appbox-oci, inside before the mounts: sysctls, oom_score_adj, domain name */
    &mounts_module,   /* host: idmapped trees; inside: the whole tree */
    &uts_module,      /* inside, after the pivot: the host name */
    &boot_module,     /* --boot: the set's v2 group delegated to the container's root, cgroup2,
                       * machine-id, the console (after the mounts: it goes over the tree they made) */
    NULL,
};
