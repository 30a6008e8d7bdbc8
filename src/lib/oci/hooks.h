/* OCI hooks: each runs as a host program (path, args, env) with the
 * container's state (runtime-spec's state JSON) on its stdin, within its
 * timeout (KILLed after it); a hook that fails or times out fails the
 * operation, except poststart and poststop, whose failures are warnings
 * (runtime-spec, "Lifecycle"). */
#pragma once

#include <stddef.h>

#include "oci/config.h"
#include "util/error.h"

/* Run the N hooks H of STAGE in order, each with STATE_JSON on stdin; the
 * first failure stops and fills ERR ("createRuntime hook /usr/bin/x
 * exited with status 1: <its stderr's last line>"). */
int oci_hooks_run(const struct oci_hook *h, size_t n, enum oci_hook_stage stage, const char *state_json,
                  ab_error *err);

/* "prestart", "createRuntime", ... */
const char *oci_hook_stage_name(enum oci_hook_stage stage);
