/* Debian and Ubuntu bases: a pristine root file system built once with
 * mmdebstrap (its unshare mode needs no root) and kept as a tarball in the
 * image cache, $DATA/.images/; every container from the same base is
 * unpacked from it, so only the first one waits for a bootstrap. */
#pragma once

#include <stdbool.h>

#include "context.h"
#include "util/error.h"
#include "util/strv.h"

struct bootstrap_opts {
    const char *dist;      /* "debian" or "ubuntu" */
    const char *suite;     /* "bookworm", "noble", ... */
    const char *variant;   /* "minbase" (default), "apt", "required", ... */
    const char *mirror;    /* NULL: the distribution's default */
    bool verbose;          /* show the tool's output */
};

/* Parse "debian:SUITE" / "ubuntu:SUITE"; 0 when BASE is neither. */
bool bootstrap_base_kind(const char *base);
int bootstrap_parse(struct ab_ctx *ctx, const char *base, struct bootstrap_opts *o, ab_error *err);

/* The cache entry's name, e.g. "debian-bookworm-minbase" (plus a short hash
 * of a non-default mirror); malloc'd. */
char *bootstrap_cache_name(const struct bootstrap_opts *o);

/* Make sure the cached tarball exists (building it if not) and return its
 * path.  Concurrent creates of the same base wait for one bootstrap. */
int bootstrap_cached_tar(struct ab_ctx *ctx, const struct bootstrap_opts *o, char **tar, ab_error *err);

/* The cache: list entries into NAMES; remove one. */
int image_cache_list(struct ab_ctx *ctx, strv *names, ab_error *err);
int image_cache_remove(struct ab_ctx *ctx, const char *name, ab_error *err);
char *image_cache_dir(struct ab_ctx *ctx, ab_error *err);
