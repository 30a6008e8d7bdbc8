/* Where named containers live.
 *   data:    $XDG_DATA_HOME/appbox/NAME/   (root: /var/lib/appbox/NAME/)
 *            appbox.conf, rootfs/ (or home/ for the host view), log,
 *            service.log and service.log.1 (svclog.h)
 *   runtime: $XDG_RUNTIME_DIR/appbox/NAME/ (root: /run/appbox/NAME/)
 *            start.lock, sessions.lock, supervisor.lock, init.pid,
 *            supervisor.pid, spec.conf, stop.timeout, control.sock,
 *            supervisor.log, service.state (service.h) */
#pragma once

#include <stdbool.h>

#include "context.h"
#include "util/error.h"
#include "util/strv.h"

/* Letters, digits, '-', '_', '.'; not starting with '.'; 1-64 chars. */
bool store_name_valid(const char *name);
int store_check_name(const char *name, ab_error *err);

/* malloc'd paths; NULL with *err filled when no home can be found. */
char *store_data_root(struct ab_ctx *ctx, ab_error *err);
char *store_runtime_root(struct ab_ctx *ctx, ab_error *err);
char *store_path(struct ab_ctx *ctx, const char *name, const char *file, ab_error *err);      /* data */
char *store_run_path(struct ab_ctx *ctx, const char *name, const char *file, ab_error *err);  /* runtime */

/* Names of the existing containers, sorted. */
int store_list(struct ab_ctx *ctx, strv *names, ab_error *err);
/* The directories in the store that are no container (STORE_REMAINS: an
 * interrupted create's, or one being made right now), sorted. */
int store_list_remains(struct ab_ctx *ctx, strv *names, ab_error *err);

/* Whether container NAME exists (has an appbox.conf). */
bool store_exists(struct ab_ctx *ctx, const char *name);

/* What NAME is in the data dir (looked at below the data dir fd, never
 * through a link). */
enum store_kind {
    STORE_ABSENT,     /* nothing by that name (or no data dir) */
    STORE_CONTAINER,  /* a directory with an appbox.conf: a container */
    STORE_REMAINS,    /* a directory without one: what an interrupted create left */
    STORE_LINK,       /* a symbolic link: never appbox's, never followed */
    STORE_OTHER,      /* anything else (a file): not appbox's */
};
enum store_kind store_kind(struct ab_ctx *ctx, const char *name);
