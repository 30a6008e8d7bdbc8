/* What of the proxy (proxy.c) the rest of appbox sees: where a named
 * container's network log is (`appbox logs NAME --network`). */
#pragma once

#include <stdbool.h>

#include "context.h"

#define PROXY_DIR "network"   /* in NAME's runtime dir: the helper's log */

/* NAME's PROXY_DIR in the runtime dir, opened (O_DIRECTORY), made first
 * when MAKE; *PATH (may be NULL) its path, to free.  -ENOENT without a
 * message when it is not there and not MAKE. */
int proxy_log_dir(struct ab_ctx *ctx, const char *name, bool make, char **path, ab_error *err);
/* Remove NAME's network log and its directory (rm). */
void proxy_log_remove(struct ab_ctx *ctx, const char *name);
