/* config.json (OCI runtime-spec 1.1) into appbox's spec, through tables
 * (json-c): every field runtime-spec defines for Linux is either taken
 * (into struct spec, or struct spec_oci for what appbox's spec has no
 * field for) or refused with a message naming the field, its value and
 * what is allowed.  Unknown fields are ignored, as the spec says
 * ("runtimes MUST ignore unknown properties"); a field with a wrong JSON
 * type, a value out of range, or one the spec forbids is an error:
 *
 *   config.json: linux.namespaces[3].type: 'foo' is not a namespace
 *   (expected one of pid, network, mount, ipc, uts, user, cgroup, time)
 *
 * Errors are AB_ERR_USAGE. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "spec/oci.h"
#include "spec/spec.h"
#include "util/error.h"
#include "util/strv.h"

struct json_object;

/* The annotation that turns appbox's default seccomp filter off for a
 * config.json without linux.seccomp ("unconfined"; "default": on). */
#define OCI_SECCOMP_ANNOTATION "org.appbox.seccomp"

struct oci_hook {
    char *path;          /* absolute */
    strv args;           /* args[0] included, as given (may be empty: then path) */
    strv env;
    int timeout;         /* seconds; 0: none */
};

enum oci_hook_stage {
    OCI_HOOK_PRESTART = 0,      /* deprecated, run with createRuntime */
    OCI_HOOK_CREATE_RUNTIME,
    OCI_HOOK_CREATE_CONTAINER,
    OCI_HOOK_START_CONTAINER,
    OCI_HOOK_POSTSTART,
    OCI_HOOK_POSTSTOP,
    OCI_HOOK_STAGES,
};

struct oci_hooks {
    struct oci_hook *h[OCI_HOOK_STAGES];
    size_t n[OCI_HOOK_STAGES];
};

struct oci_config {
    struct spec spec;              /* spec.oci points at oci below */
    struct spec_oci oci;
    struct oci_hooks hooks;
    char *oci_version;
    /* the whole document, and parts of it kept as JSON: annotations (an
     * object, for state.json), linux.seccomp (oci/seccomp.c compiles it),
     * the document itself (freed by oci_config_free) */
    struct json_object *doc;
    struct json_object *annotations;   /* borrowed from doc; NULL: none */
    struct json_object *seccomp;       /* borrowed from doc; NULL: none */
};

/* Read BUNDLE/config.json (BUNDLE made absolute; root.path relative to
 * it) for the container ID into CFG.  Ids are taken as the caller gives
 * them for messages; the caller checks ID's syntax. */
int oci_config_load(const char *bundle, const char *id, struct oci_config *cfg, ab_error *err);
/* The same from TEXT (WHAT names it in messages: "config.json"). */
int oci_config_parse(const char *text, const char *what, const char *bundle, const char *id,
                     struct oci_config *cfg, ab_error *err);
/* `exec --process FILE`: a "process" object alone (runtime-spec's
 * process), into CFG's spec.process and the process fields of CFG's oci
 * (caps, rlimits, user, no_new_privs, ...), replacing what was there.
 * TEXT is the file's content; WHAT names it in messages. */
int oci_process_parse(const char *text, const char *what, struct oci_config *cfg, ab_error *err);
void oci_config_free(struct oci_config *cfg);

/* `appbox-oci spec [--rootless]`: a config.json as runc writes it (sh,
 * terminal, the default mounts, masks and read-only paths); ROOTLESS: a
 * user namespace mapping UID and GID to 0, no network namespace, binds for
 * /sys, no cgroup limits, as `runc spec --rootless`.  malloc'd JSON text,
 * indented, ending in a newline; NULL on ENOMEM. */
char *oci_default_config(bool rootless, uid_t uid, gid_t gid);

/* `appbox-oci features`: runtime-spec's features.json for what this
 * build supports (hooks, mount options, namespaces, capabilities, cgroup,
 * seccomp actions/operators/archs from libseccomp, annotations).
 * malloc'd, NULL on ENOMEM. */
char *oci_features_json(void);

/* Capability names ("CAP_SYS_ADMIN") to numbers and back; -1: unknown. */
int oci_cap_from_name(const char *name);
