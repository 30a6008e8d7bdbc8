/* A running named container: its supervisor is a small appbox process on
 * the host, the parent of the container's PID 1 (which dies with it), that
 * holds supervisor.lock for as long as the container runs, and tears the
 * container down on `stop` or, for containers started by a session, when
 * the last session has left. */
#pragma once

#include <stdbool.h>

#include "context.h"
#include "runtime/sandbox.h"
#include "spec/spec.h"
#include "util/error.h"

/* Start NAME's container from SPEC (resolved).  The supervisor keeps it as
 * spec.json in the runtime dir for the sessions that join later, and runs
 * the pipeline's teardown when the container is gone.  The caller holds
 * start.lock.  AUTO_STOP: stop when the last session leaves. */
int supervisor_start(struct ab_ctx *ctx, const char *name, const struct spec *spec, bool auto_stop, ab_error *err);

/* NAME is not running but its spec.json is there: its supervisor was
 * killed (SIGKILL) before it could tear down.  Run the pipeline's teardown
 * from that spec, then remove what the supervisor left.  The caller holds
 * start.lock. */
void supervisor_cleanup_stale(struct ab_ctx *ctx, const char *name);

/* Stop NAME's container: TERM to everything inside, KILL after TIMEOUT
 * seconds (negative: the default), then tear down; WHY goes into the log
 * ("stop" when NULL).  The caller holds start.lock.  Returns 1 when it was
 * not running. */
int supervisor_stop(struct ab_ctx *ctx, const char *name, int timeout, const char *why, ab_error *err);

/* Ask NAME's supervisor for the container's namespaces (a session joins
 * with them).  The caller holds start.lock and knows it is running. */
int supervisor_connect(struct ab_ctx *ctx, const char *name, struct ns_fds *ns, ab_error *err);
