/* A booted container's console (--boot): what its init and the units
 * write to /dev/console goes into the service log (svclog.h) as lines of
 * the stream "console", so that `appbox logs NAME` shows the boot. */
#pragma once

#include <stdint.h>

#include "context.h"
#include "runtime/pipeline.h"
#include "util/error.h"

/* Read the console's MASTER (taken: closed here, or by the helper) from a
 * helper process of R until the pty is gone, into NAME's service log of
 * LOG_SIZE bytes a file.  The helper is R's: it dies with the runner and
 * is stopped at teardown. */
int console_start(struct runner *r, struct ab_ctx *ctx, const char *name, int master, uint64_t log_size,
                  ab_error *err);
