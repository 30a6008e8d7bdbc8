/* Image bases for `appbox create`: a root file system tarball (tar:FILE),
 * an OCI image layout (oci:DIR[:TAG]) or a `docker save` archive
 * (docker-archive:FILE[:TAG]).  The unpacking itself happens in
 * appbox-unpack, inside a sandbox as the container's root. */
#pragma once

#include <stdbool.h>

#include "context.h"
#include "util/error.h"

enum image_kind {
    IMAGE_NONE,
    IMAGE_TAR,
    IMAGE_OCI,
    IMAGE_DOCKER_ARCHIVE,
    IMAGE_BOOTSTRAP_TAR,  /* a cached mmdebstrap root: its /dev nodes are expected */
};

struct image_ref {
    enum image_kind kind;
    char *path;   /* absolute */
    char *tag;    /* or NULL */
};

/* Parse "tar:FILE" etc.; IMAGE_NONE (0) when BASE is not an image kind.
 * Usage errors (missing or unreadable source) name the base. */
int image_parse(const char *base, struct image_ref *ref, ab_error *err);
void image_ref_free(struct image_ref *ref);
bool image_base_kind_known(const char *base);

/* Unpack REF into the directory ROOTFS (created empty by the caller). */
int image_import(struct ab_ctx *ctx, const struct image_ref *ref, const char *rootfs, ab_error *err);
