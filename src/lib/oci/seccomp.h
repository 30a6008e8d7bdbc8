/* linux.seccomp of config.json, compiled at run time with libseccomp
 * (profiles come from the caller: podman's default, a Kubernetes
 * seccompProfile): defaultAction, defaultErrnoRet, architectures, flags,
 * syscalls (names, action, errnoRet, args with index/value/valueTwo/op).
 * Actions: SCMP_ACT_KILL, _KILL_PROCESS, _KILL_THREAD, _TRAP, _ERRNO,
 * _TRACE, _ALLOW, _LOG; SCMP_ACT_NOTIFY and listenerPath are refused
 * (no listener). Unknown syscall names are skipped (as runc and crun do:
 * a profile lists syscalls of every kernel); an unknown action, operator,
 * architecture or flag is an error naming the field. */
#pragma once

#include "spec/oci.h"
#include "util/error.h"

struct json_object;

/* Compile SECCOMP (config.json's linux.seccomp object; WHAT names it in
 * messages, "config.json: linux.seccomp") into O->seccomp_filter,
 * seccomp_len and seccomp_flags (a program seccomp(2) loads as it is). */
int oci_seccomp_compile(struct json_object *seccomp, const char *what, struct spec_oci *o, ab_error *err);

/* Loading it is the runtime's: oci_filter_load() (runtime/oci_process.h). */
