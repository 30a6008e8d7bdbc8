#include "spec/oci.h"

#include <stdlib.h>
#include <string.h>

static void oci_resources_free(struct oci_resources *r)
{
    free(r->cpuset_cpus);
    free(r->cpuset_mems);
    strv_clear(&r->unified);
    strv_clear(&r->hugepage_limits);
}

void spec_oci_free(struct spec_oci *o)
{
    if (!o)
        return;
    free(o->id);
    free(o->bundle);
    for (size_t i = 0; i < OCI_NS_COUNT; i++)
        free(o->ns_path[i]);
    free(o->additional_gids);
    free(o->rlimits);
    free(o->apparmor_profile);
    free(o->selinux_label);
    for (size_t i = 0; i < o->n_mounts; i++) {
        free(o->mounts[i].destination);
        free(o->mounts[i].type);
        free(o->mounts[i].source);
        free(o->mounts[i].data);
    }
    free(o->mounts);
    for (size_t i = 0; i < o->n_devices; i++)
        free(o->devices[i].path);
    free(o->devices);
    free(o->domainname);
    strv_clear(&o->sysctl);
    free(o->cgroups_path);
    strv_clear(&o->cgroups_made);
    free(o->device_rules);
    oci_resources_free(&o->resources);
    free(o->seccomp_filter);
    memset(o, 0, sizeof(*o));
}
