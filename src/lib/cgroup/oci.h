/* cgroups for appbox-oci: the group config.json's linux.cgroupsPath names
 * (the caller's choice, as runc and crun take it), its linux.resources,
 * its device rules, and what the OCI commands do with a running
 * container's group: freeze (pause/resume), list its processes (ps, kill
 * --all), join it (exec), remove it (delete).
 *
 * cgroupsPath: absolute ("/machine/ctr-1") is below each hierarchy's
 * root; relative ("pods/ctr-1") below the runtime's own group; with
 * --systemd-cgroup, "SLICE:PREFIX:NAME" is SLICE's path
 * ("machine-pods.slice" is machine.slice/machine-pods.slice) then
 * "PREFIX-NAME.scope" (there is no systemd to ask on these machines: the
 * group is made directly, where systemd would have put it); none given:
 * "appbox-oci/ID" below the runtime's own group.  ".." components are
 * refused.  A caller that may not write the hierarchy (rootless without a
 * delegated group) gets no group, and limits it asked for are refused
 * (as crun does), except on cgroup v1 where they are ignored with a
 * warning as runc does for rootless. */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include "cgroup/cgroup.h"
#include "spec/spec.h"
#include "util/error.h"
#include "util/strv.h"

/* Choose S's groups (s->container.cgroups) from s->oci's cgroupsPath (or
 * the default for ID) for every hierarchy this caller may write;
 * SYSTEMD: --systemd-cgroup's path syntax.  Sets s->container.pids_cgroup. */
int cgroup_oci_resolve(struct spec *s, bool systemd, ab_error *err);

/* The group CGROUPS_PATH names (NULL: the default for ID), as *REL
 * (malloc'd, no leading '/') below each hierarchy's root (*ABSOLUTE) or
 * below the caller's own group; bad paths refused naming the field.
 * Pure: what cgroup_oci_resolve() builds on (and the tests check). */
int cgroup_oci_path(const char *cgroups_path, const char *id, bool systemd, char **rel, bool *absolute,
                    ab_error *err);

/* Make the set's groups: mkdir -p below each hierarchy's mount (the
 * parents a caller names, as libpod_parent or a pod's slice, are made as
 * needed and stay), a new v1 cpuset group given its parent's cpus and
 * mems, on pure v2 the controllers enabled down the way.  A group of the
 * set that exists already with processes in it is refused (two
 * containers never share one).  MADE gets every directory made, in the
 * order made (what a failed start removes: never a group that was there
 * before); on failure nothing made is left and MADE is empty. */
int cgroup_oci_create(const strv *set, strv *made, ab_error *err);
/* Remove the directories of MADE, newest first (a group whose last
 * process is still exiting: retried a little), and empty it. */
void cgroup_oci_remove_made(strv *made);

/* Apply s->oci's linux.resources (and the spec_resources the parser
 * filled) to the set, made already (the cgroup module does this in
 * prepare when s->oci is set). */
int cgroup_oci_apply(const struct spec *s, ab_error *err);
/* Its cgroup v2 part: the files written into DIR (pure v2's group; the
 * tests point it at a directory of plain files). */
int cgroup_oci_apply_v2(const struct spec *s, const char *dir, ab_error *err);

/* The device rules of an OCI container, as runc orders them:
 * linux.resources.devices in order (the last rule that matches an access
 * decides), then runc's default allow list (null, zero, full, tty, random,
 * urandom, ptmx, the pts nodes, console, and mknod of any), which a
 * container always may use (podman's list starts with "deny all");
 * linux.devices' nodes are made but only the list grants them, as in
 * runc.  Returned as the equivalent allow list (default deny, as
 * the backends write it): a deny that would punch a hole in an earlier
 * wildcard allow ("c *:* rwm" then deny "c 1:3 w") is refused naming the
 * entry, as runc refuses it on cgroup v1.  malloc'd.  The devices module
 * (desktop/devices.c) writes them into the set's devices group (v1, else
 * the v2 group's device program) when s->oci is set. */
int cgroup_oci_device_rules(const struct spec *s, struct cgroup_device_rule **rules, size_t *n, ab_error *err);

/* pause/resume: freeze or thaw the set (v1 freezer group, v2
 * cgroup.freeze), waiting until the kernel says it is done. */
int cgroup_oci_freeze(const strv *set, bool frozen, ab_error *err);
/* 1 frozen, 0 not (or no freezer), -errno. */
int cgroup_oci_frozen(const strv *set);
/* Every process in the set (its first hierarchy that lists them:
 * cgroup.procs, recursively below it), malloc'd; for ps and kill --all. */
int cgroup_oci_pids(const strv *set, pid_t **pids, size_t *n, ab_error *err);
/* Put PID into every group of the set (exec). */
int cgroup_oci_join(const strv *set, pid_t pid, ab_error *err);
/* Remove the set's groups (empty by now: retried briefly), deepest first;
 * quiet. */
void cgroup_oci_destroy(const strv *set);
